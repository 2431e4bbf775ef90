"""
The door registry (tchat.door.DOORS): every door gets its option from its
entry, is built by the service in the registry's order on one shared count
of connections, and is listened for on each endpoint its option names,
through the one L{tchat.door.Door} shape.
"""

from __future__ import annotations

import os
import tempfile

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.door import DOORS, BaseDoor
from tchat.tap import DEFAULT_ENDPOINTS, ChatService, ListeningService, Options, apply_options, makeService


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(["--db", "memory", *args])
    return options


def listening(chat: ChatService) -> list[ListeningService]:
    return [child for child in chat if isinstance(child, ListeningService)]


class RegistryTests(TestCase):
    def test_every_door_has_its_option_with_its_help_and_its_default(self) -> None:
        options = parse()
        for kind in DOORS:
            self.assertEqual(options.docs[kind.option], kind.help)
            self.assertEqual(options[kind.key], [DEFAULT_ENDPOINTS[kind.option]])
        self.assertEqual(options.synonyms["p"], "port")

    def test_every_door_is_built_in_the_registrys_order_on_one_count(self) -> None:
        chat = makeService(parse("--port", "tcp:0", "--web-port", "tcp:0", "--irc-port", "tcp:0"))
        self.assertEqual([door.name for door in chat.doors], [kind.name for kind in DOORS])
        self.assertEqual([door.name for door in chat.doors], ["tcp", "web", "irc"])
        admissions = set()
        for door in chat.doors:
            self.assertIsInstance(door, BaseDoor)
            assert isinstance(door, BaseDoor)
            admissions.add(id(door.table.admission))
            self.assertEqual(door.sessions, set())
            fired: list[None] = []
            door.wait_closed().addCallback(fired.append)
            self.assertEqual(fired, [None])
        self.assertEqual(len(admissions), 1)

    def test_each_door_listens_on_each_endpoint_of_its_option_with_its_factory(self) -> None:
        chat = makeService(parse("-p", "tcp:0", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "8080", "--irc-port", "6668"))
        line, web, irc = chat.doors
        self.assertEqual(
            [(s.description, s.factory, s.what) for s in listening(chat)],
            [
                ("tcp:0", line.factory, "tchat"),
                ("tcp:0:interface=127.0.0.1", line.factory, "tchat"),
                ("tcp:8080:backlog=1024", web.factory, "tchat web"),
                ("tcp:6668:backlog=1024", irc.factory, "tchat irc"),
            ],
        )

    def test_a_door_listening_nowhere_is_built_all_the_same(self) -> None:
        chat = makeService(parse("--port", "tcp:0", "--web-port", "off", "--irc-port", "off"))
        self.assertEqual([door.name for door in chat.doors], ["tcp", "web", "irc"])
        self.assertEqual([s.what for s in listening(chat)], ["tchat"])

    def test_every_doors_option_is_a_config_key_taking_one_value_or_a_list(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-doors-")
        self.addCleanup(folder.cleanup)
        path = os.path.join(folder.name, "tchat.toml")
        with open(path, "w") as f:
            f.write('port = 4001\nweb-port = ["4002", "tcp:4003:interface=127.0.0.1"]\n')
        options = parse("--config", path)
        self.assertEqual(options["ports"], ["tcp:4001:backlog=1024"])
        self.assertEqual(options["web-ports"], ["tcp:4002:backlog=1024", "tcp:4003:interface=127.0.0.1"])
        # -p on the command line replaces the file's list, as --port does.
        self.assertEqual(parse("--config", path, "-p", "4009")["ports"], ["tcp:4009:backlog=1024"])

    def test_sighup_hands_each_door_its_own_options(self) -> None:
        chat = makeService(parse("--port", "tcp:0", "--web-port", "tcp:0"))
        web = chat.doors[1]
        self.assertFalse(web.origins.allows("https://chat.example.org", "127.0.0.1:5000"))
        fresh = parse("--web-origin", "https://chat.example.org", "--trusted-proxy", "10.0.0.0/8")
        assert chat.limits is not None
        apply_options(fresh, chat.hub.config, chat.limits, chat.doors)
        self.assertTrue(web.origins.allows("https://chat.example.org", "127.0.0.1:5000"))
        self.assertTrue(web.trusted.holds("10.1.2.3"))

    def test_a_doors_peer_is_host_and_address(self) -> None:
        door = makeService(parse("--port", "tcp:0", "--web-port", "off")).doors[0]
        assert isinstance(door, BaseDoor)
        self.assertEqual(door.peer(StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.1", 5))), ("10.0.0.1", "10.0.0.1:5"))
        self.assertEqual(door.peer(StringTransport(peerAddress=IPv6Address("TCP", "::1", 5))), ("::1", "[::1]:5"))
