"""``--config FILE`` (tchat.config) and SIGHUP: the options in a TOML file, the command line over them."""

from __future__ import annotations

import os
import signal
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.python import usage
from twisted.trial.unittest import TestCase

from tchat.tap import REPEATABLE, Options
from tests.helpers import connect_line_client
from tests.test_metrics import _until
from tests.test_twistd import spawn_twistd

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


class ConfigFileTests(TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-config-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name

    def write(self, text: str) -> str:
        path = os.path.join(self.folder, "tchat.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_the_file_gives_the_options_and_the_command_line_overrides_them(self) -> None:
        path = self.write('port = ["4001", "tcp:4002:interface=127.0.0.1"]\nmax-users = 5\nflood-rate = 2\nguests = false\ndb = "memory"\n')
        options = self.parse("--config", path, "--web-port", "off")
        self.assertEqual(options["ports"], ["tcp:4001:backlog=1024", "tcp:4002:interface=127.0.0.1"])
        self.assertEqual((options["max-users"], options["flood-rate"], options["guests"]), (5, 2.0, "no"))
        options = self.parse("--config", path, "--web-port", "off", "--irc-port", "off", "--max-users", "7", "--port", "4009")
        self.assertEqual((options["max-users"], options["ports"]), (7, ["tcp:4009:backlog=1024"]))

    def test_an_unknown_key_or_a_wrong_type_is_an_error_naming_the_key(self) -> None:
        for text, words in [
            ("max-user = 5\n", "unknown key 'max-user'"),
            ('max-users = "many"\n', "max-users must be an integer, not str 'many'"),
            ("flood-rate = true\n", "flood-rate must be a number, not true or false"),
            ("motd = 3\n", "motd must be a string"),
            ("max-users = [1, 2]\n", "max-users takes one value, not a list"),
            ("max-users = \n", "not valid TOML"),
        ]:
            with self.assertRaises(usage.UsageError) as caught:
                self.parse("--config", self.write(text))
            self.assertIn(words, str(caught.exception))
            self.assertIn("tchat.toml", str(caught.exception))
        with self.assertRaises(usage.UsageError) as caught:
            self.parse("--config", os.path.join(self.folder, "missing.toml"))
        self.assertIn("cannot read it", str(caught.exception))

    def test_the_example_in_the_docs_has_every_option_and_parses(self) -> None:
        keys = {row[0] for row in Options.optParameters} - {"config"} | set(REPEATABLE)
        import tomllib

        with open(os.path.join(DOCS, "tchat.toml"), "rb") as f:
            table: dict[str, Any] = tomllib.load(f)
        self.assertEqual(set(table), keys)
        secret = self.write("s3cret\n")
        path = os.path.join(self.folder, "example.toml")
        with open(os.path.join(DOCS, "tchat.toml")) as f, open(path, "w") as out:
            out.write(f.read().replace("/etc/tchat/admin-password", secret))
        options = self.parse("--config", path)
        self.assertEqual((options["ports"], options["motd"], options["admin-password"]), (["tcp:4321:backlog=1024"], "Welcome! Be kind.", "s3cret"))


class ReloadTests(TestCase):
    timeout = 60

    async def test_sighup_reloads_what_can_change_and_names_what_needs_a_restart(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-reload-")
        self.addCleanup(folder.cleanup)
        path = os.path.join(folder.name, "tchat.toml")
        with open(path, "w") as f:
            f.write('port = "tcp:0:interface=127.0.0.1"\nweb-port = "off"\nirc-port = "off"\ndb = "memory"\nmotd = "before"\nregistration = "open"\n')
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--config", path)
        port = await process.port
        first = await connect_line_client(port)
        await first.wait_for("*** before")
        with open(path, "w") as f:
            f.write('port = "tcp:0:interface=127.0.0.1"\nweb-port = "off"\nirc-port = "off"\ndb = "sqlite:other.db"\nmotd = "after"\nregistration = "closed"\n')
        process.transport.signalProcess(signal.SIGHUP)
        await _until(lambda: b"SIGHUP: reloaded" in process.output)
        self.assertIn(b"changed: motd, registration; these need a restart to change: db", process.output)
        second = await connect_line_client(port)
        await second.wait_for("*** after")
        second.send("guest")
        second.send("/register a long passphrase")
        await second.wait_for(lambda line: "(registration_closed)" in line)
        # A broken file changes nothing, and says why; the server goes on.
        with open(path, "w") as f:
            f.write("motd = \n")
        process.transport.signalProcess(signal.SIGHUP)
        await _until(lambda: b"the options were not reloaded" in process.output)
        third = await connect_line_client(port)
        await third.wait_for("*** after")


class JSONLogTests(TestCase):
    timeout = 60

    async def test_log_format_json_writes_one_json_object_per_line(self) -> None:
        import json

        folder = tempfile.TemporaryDirectory(prefix="tchat-jsonlog-")
        self.addCleanup(folder.cleanup)
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--db", "memory", "--log-format", "json")
        process.port.addErrback(lambda _: None)  # it looks for a text line, which JSON logs do not have

        def events() -> list[dict[str, Any]]:
            return [json.loads(line) for line in process.output.decode().splitlines() if line.strip()]

        await _until(lambda: any(e.get("what") == "tchat" and "port" in e for e in events()))
        port = next(e["port"] for e in events() if e.get("what") == "tchat" and "port" in e)
        alice = await connect_line_client(port)
        alice.send("alice")
        await alice.wait_for(lambda line: line.startswith("*** You are alice."))
        await _until(lambda: any(e.get("user") == "alice" and str(e.get("log_namespace", "")).startswith("tchat.chat") for e in events()))
        process.transport.signalProcess("TERM")
        await process.ended
        self.assertTrue(all(isinstance(e, dict) for e in events()))  # every line parsed as JSON


class CertificateRenewalTests(TestCase):
    timeout = 60

    async def test_sighup_puts_a_renewed_certificate_to_use_without_a_restart(self) -> None:
        from twisted.internet import endpoints, ssl

        from tests.helpers import LineClient
        from tests.tls import write_certificate

        folder = tempfile.TemporaryDirectory(prefix="tchat-renew-")
        self.addCleanup(folder.cleanup)
        key, cert = write_certificate(folder.name, "server", addresses=("127.0.0.1",))
        with open(cert, "rb") as f:
            old_authority = f.read()
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
                "--web-port", "off", "--irc-port", "off", "--db", "memory")
        port = await process.port

        async def connect(authority: bytes, port: int) -> LineClient:
            options = ssl.optionsForClientTLS("localhost", trustRoot=ssl.Certificate.loadPEM(authority))
            client = LineClient()
            await endpoints.connectProtocol(endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", port, options), client)
            return client

        before = await connect(old_authority, port)
        before.send("alice")
        await before.wait_for(lambda line: line.startswith("*** You are alice."))

        # The renewal: new files in the same place, then SIGHUP.
        os.unlink(key)
        os.unlink(cert)
        write_certificate(folder.name, "server", addresses=("127.0.0.1",))
        with open(cert, "rb") as f:
            new_authority = f.read()
        process.transport.signalProcess(signal.SIGHUP)
        await _until(lambda: b"with its certificate read anew" in process.output)
        after = await connect(new_authority, port)
        after.send("bob")
        await after.wait_for(lambda line: line.startswith("*** You are bob."))
        # alice's connection, made with the old certificate, is still there.
        before.send("/whoami")
        await before.wait_for(lambda line: line.startswith("*** You are alice, in #lobby"))
        stale = await connect(old_authority, port)
        await stale.lost
        self.assertEqual(stale.lines, [])
        self.flushLoggedErrors()
