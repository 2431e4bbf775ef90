"""The IRC door on a StringTransport: registration, caps, every command and numeric it answers, limits, formatting."""

from __future__ import annotations

import os
import tempfile

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.door.irc import IrcDoor, IrcSession
from tchat.door.irc.wire import BadLine, encode, encode_text, parse, split_text, strip_formatting
from tchat.store import open_store
from tests.helpers import RecordingSession, generous_limits, logged_in, make_hub, request


class Irc:
    """One IRC connection to the door: lines in, lines out."""

    def __init__(self, door: IrcDoor, port: int) -> None:
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        self.session: IrcSession = door.buildProtocol(None)
        self.session.makeConnection(self.transport)

    def send(self, *lines: str | bytes) -> None:
        self.session.dataReceived(b"".join((line.encode() if isinstance(line, str) else line) + b"\r\n" for line in lines))

    def take(self) -> list[str]:
        data = self.transport.value()
        self.transport.clear()
        assert data.count(b"\n") == data.count(b"\r\n"), data
        for raw in data.split(b"\r\n")[:-1]:
            tagless = raw.split(b" ", 1)[1] if raw.startswith(b"@") else raw
            # A relayed message may pass 512 by its sender's prefix (see wire.encode_text).
            prefix, rest = tagless.split(b" ", 1) if tagless.startswith(b":") else (b"", tagless)
            relayed = rest.startswith((b"PRIVMSG ", b"NOTICE "))
            assert len(rest if relayed else tagless) + 2 <= 512, raw
        return data.decode("utf-8").split("\r\n")[:-1]

    def numerics(self) -> list[str]:
        untagged = [line.split(" ", 1)[1] if line.startswith("@") else line for line in self.take()]
        return [line.split(" ")[1] for line in untagged if line.startswith(":tchat ")]


class IrcTestCase(TestCase):
    limits = generous_limits(sendq=10_000, close_grace=5.0)

    def setUp(self) -> None:
        self.hub, self.clock = make_hub(motd="Be kind.")
        self.door = IrcDoor(self.hub, self.limits, self.clock)
        self.ports = iter(range(40000, 50000))

    def irc(self) -> Irc:
        return Irc(self.door, next(self.ports))

    def user(self, nick: str, *caps: str, join: str | None = "#lobby") -> Irc:
        """A registered IRC client; in ``join`` too (IRC clients start in no room), its JOIN burst taken."""
        client = self.irc()
        if caps:
            client.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :Real", "CAP REQ :" + " ".join(caps), "CAP END")
        else:
            client.send(f"NICK {nick}", "USER u 0 * :Real")
        lines = client.take()
        self.assertTrue(any(f" 001 {nick} " in line for line in lines), lines)
        if join is not None:
            client.send(f"JOIN {join}")
            self.assertTrue(any(f" 366 {nick} " in line for line in client.take()))
        return client


class RegistrationTests(IrcTestCase):
    def test_nick_and_user_log_in_and_get_the_welcome_burst_and_motd_in_no_channel(self) -> None:
        client = self.irc()
        client.send("NICK alice", "USER alice 0 * :Alice A")
        lines = client.take()
        numerics = [line.split(" ")[1] for line in lines if line.startswith(":tchat ")]
        self.assertEqual(numerics[:5], ["001", "002", "003", "004", "005"])
        for token in ("CHANTYPES=#", "CASEMAPPING=rfc8265", "PREFIX=(ov)@+", "CHANMODES=b,k,l,imnst", "NICKLEN=32",
                      "CHANNELLEN=49", "TOPICLEN=390", "AWAYLEN=300", "MODES=4", "TARGMAX="):
            self.assertTrue(any(token in line for line in lines if " 005 " in line), token)
        self.assertIn("251", numerics)
        self.assertIn("255", numerics)
        self.assertIn(":tchat 372 alice :- Be kind.", lines)
        self.assertIn("376", numerics)
        # An IRC client joins its own channels: the server's lobby is not forced on it.
        self.assertFalse([line for line in lines if " JOIN " in line or " 353 " in line], lines)
        self.assertEqual(self.hub.user_of(client.session), "alice")
        self.assertEqual(self.hub.state.user("alice").rooms, {})
        # A JSON session of the same chat still starts in the lobby.
        logged_in(self.hub, "bob")
        self.assertEqual(list(self.hub.state.user("bob").rooms), ["#lobby"])

    def test_no_motd_is_422(self) -> None:
        self.hub.config.motd = None
        client = self.irc()
        client.send("NICK alice", "USER alice 0 * :Alice")
        self.assertIn("422", [line.split(" ")[1] for line in client.take() if line.startswith(":tchat")])

    def test_cap_ls_and_req_hold_registration_until_cap_end(self) -> None:
        client = self.irc()
        client.send("CAP LS 302", "NICK alice", "USER a 0 * :A")
        lines = client.take()
        self.assertEqual(lines, [":tchat CAP * LS :account-tag away-notify batch cap-notify draft/read-marker echo-message extended-join extended-monitor labeled-response message-tags multi-prefix server-time setname userhost-in-names"])
        client.send("CAP REQ :server-time multi-prefix", "CAP LIST")
        self.assertEqual(client.take(), [
            ":tchat CAP * ACK :server-time multi-prefix",
            ":tchat CAP * LIST :cap-notify multi-prefix server-time",
        ])
        client.send("CAP REQ :sasl")
        self.assertEqual(client.take(), [":tchat CAP * NAK :sasl"])
        self.assertIsNone(self.hub.user_of(client.session))
        client.send("CAP END")
        self.assertIn(" 001 alice ", " ".join(client.take()))
        client.send("CAP FROB")
        self.assertEqual(client.numerics(), ["410"])

    def test_a_bad_nick_is_432_and_a_taken_one_433_and_the_client_may_try_again(self) -> None:
        self.user("alice")
        client = self.irc()
        client.send("NICK a[b]", "NICK 123", "NICK", "NICK alice", "USER u 0 * :U")
        self.assertEqual(client.numerics(), ["432", "432", "431", "433"])
        client.send("NICK alice2")
        self.assertIn(" 001 alice2 ", " ".join(client.take()))

    def test_a_unicode_name_with_a_dot_is_a_nick(self) -> None:
        client = self.user("zoë.k")
        client.send("WHOIS ZOË.K")
        self.assertIn(":tchat 311 zoë.k zoë.k u tchat * :Real", client.take())

    def test_commands_before_registration_are_451_and_user_twice_462(self) -> None:
        client = self.irc()
        client.send("JOIN #dev", "FROB")
        self.assertEqual(client.numerics(), ["451", "451"])
        client.send("USER u 0 *")
        self.assertEqual(client.numerics(), ["461"])
        client.send("NICK alice", "USER u 0 * :U")
        client.take()
        client.send("USER u 0 * :U", "PASS x")
        self.assertEqual(client.numerics(), ["462", "462"])

    def test_ping_both_ways_and_the_ping_timeout(self) -> None:
        client = self.user("alice")
        client.send("PING :abc")
        self.assertEqual(client.take(), [":tchat PONG tchat :abc"])
        self.door.table.start()
        self.addCleanup(self.door.table.stop)
        self.clock.advance(self.limits.idle_timeout + 1)
        lines = client.take()
        self.assertTrue(lines and lines[-1].startswith("PING "), lines)
        client.send("PONG " + lines[-1].split(" ", 1)[1])
        self.clock.advance(self.limits.ping_timeout + 1)
        self.assertFalse(client.transport.disconnecting)
        self.clock.advance(self.limits.idle_timeout + 1)
        self.clock.advance(self.limits.ping_timeout + 1)
        self.assertIn("ERROR :Closing Link: 127.0.0.1 (ping timeout", "\n".join(client.take()))
        self.assertTrue(client.transport.disconnecting)

    def test_login_timeout_closes_a_client_that_never_registers(self) -> None:
        client = self.irc()
        client.send("CAP LS 302")
        self.door.table.start()
        self.addCleanup(self.door.table.stop)
        self.clock.advance(self.limits.login_timeout + 1)
        self.assertIn("ERROR :Closing Link", client.take()[-1])
        self.assertTrue(client.transport.disconnecting)

    def test_quit_tells_the_channel_and_ends_with_error(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.take()
        bob.send("QUIT :see you")
        self.assertEqual(bob.take()[-1], "ERROR :Closing Link: 127.0.0.1 (you left the chat)")
        self.assertEqual(alice.take(), [":bob!bob@tchat QUIT :Quit: see you"])


class MessageTests(IrcTestCase):
    def test_privmsg_to_a_channel_and_a_nick_both_ways_with_a_json_session(self) -> None:
        alice = self.user("alice")
        bob = logged_in(self.hub, "bob")
        alice.take()
        alice.send("PRIVMSG #lobby :hello all", "PRIVMSG bob :psst")
        self.assertEqual([(e.name, e["to"], e["text"]) for e in bob.of("message")], [("message", "#lobby", "hello all"), ("message", "bob", "psst")])
        self.hub.handle(bob, request("msg", to="alice", text="hi back"))
        self.hub.handle(bob, request("msg", to="#lobby", text="and all"))
        self.hub.handle(bob, request("msg", to="#lobby", text="waves", kind="action"))
        self.assertEqual(alice.take(), [
            ":bob!bob@tchat PRIVMSG alice :hi back",
            ":bob!bob@tchat PRIVMSG #lobby :and all",
            ":bob!bob@tchat PRIVMSG #lobby :\x01ACTION waves\x01",
        ])

    def test_ctcp_action_is_an_action_and_other_ctcp_goes_nowhere(self) -> None:
        alice, bob = self.user("alice"), logged_in(self.hub, "bob")
        alice.send("PRIVMSG #lobby :\x01ACTION waves\x01", "PRIVMSG bob :\x01VERSION\x01")
        self.assertEqual([(e["text"], e["kind"]) for e in bob.of("message")], [("waves", "action")])

    def test_formatting_codes_are_stripped_colour_numbers_included(self) -> None:
        alice, bob = self.user("alice"), logged_in(self.hub, "bob")
        alice.send("PRIVMSG #lobby :\x02bold\x02 \x0304,01red\x03 \x1ditalic\x1d \x1fu\x0f \x1b[31mesc")
        self.assertEqual(bob.of("message")[0]["text"], "bold red italic u esc")

    def test_notice_never_gets_an_error_and_privmsg_gets_its_numeric(self) -> None:
        alice = self.user("alice")
        alice.send("NOTICE nobody :x", "NOTICE #nowhere :x", "NOTICE", "NOTICE bob")
        self.assertEqual(alice.take(), [])
        alice.send("PRIVMSG nobody :x", "PRIVMSG #nowhere :x", "PRIVMSG", "PRIVMSG bob", "PRIVMSG #lobby :\x03")
        self.assertEqual(alice.numerics(), ["401", "403", "411", "412", "412"])

    def test_a_message_to_a_channel_one_is_not_in_is_404(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        bob.send("JOIN #dev")
        alice.send("PRIVMSG #dev :hi")
        self.assertEqual(alice.numerics(), ["404"])

    def test_echo_message_server_time_and_msgid(self) -> None:
        alice = self.user("alice", "echo-message", "server-time", "message-tags")
        bob = self.user("bob", "server-time", "message-tags")
        alice.take()
        alice.send("PRIVMSG #lobby :hi")
        echoed = alice.take()
        self.assertEqual(len(echoed), 1)
        self.assertRegex(echoed[0], r"^@msgid=[^; ]+;time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z :alice!alice@tchat PRIVMSG #lobby :hi$")
        self.assertEqual(bob.take(), echoed)

    def test_a_long_message_is_split_into_lines_of_512_bytes(self) -> None:
        alice, bob = self.user("alice"), logged_in(self.hub, "bob")
        alice.take()
        self.hub.handle(bob, request("msg", to="#lobby", text="é" * 1000))
        lines = alice.take()
        self.assertGreater(len(lines), 2)
        self.assertEqual("".join(line.rsplit(":", 1)[1] for line in lines), "é" * 1000)

    def test_away_gives_306_305_and_301_to_who_writes(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.take()
        bob.send("AWAY :lunch")
        self.assertEqual(bob.numerics(), ["306"])
        alice.send("PRIVMSG bob :there?")
        self.assertEqual(alice.take(), [":tchat 301 alice bob :lunch"])
        bob.take()
        bob.send("AWAY")
        self.assertEqual(bob.numerics(), ["305"])


class ChannelTests(IrcTestCase):
    def test_join_several_with_keys_names_topic_and_part(self) -> None:
        alice, bob = self.user("alice"), self.user("bob", "multi-prefix")
        alice.send("JOIN #a,#b", "MODE #b +k sesame", "TOPIC #a :the topic")
        alice.take()
        bob.send("JOIN #a,#b,#c ,sesame")
        lines = bob.take()
        self.assertIn(":bob!bob@tchat JOIN #a", lines)
        self.assertIn(":tchat 332 bob #a :the topic", lines)
        self.assertIn(":tchat 353 bob = #a :@alice bob", lines)
        self.assertIn(":bob!bob@tchat JOIN #b", lines)
        self.assertIn(":bob!bob@tchat JOIN #c", lines)
        self.assertEqual(alice.take(), [":bob!bob@tchat JOIN #a", ":bob!bob@tchat JOIN #b"])
        bob.send("PART #a :later", "PART #nowhere")
        self.assertEqual(bob.take(), [":bob!bob@tchat PART #a :later", ":tchat 403 bob #nowhere :no such room: #nowhere"])
        self.assertEqual(alice.take(), [":bob!bob@tchat PART #a :later"])
        bob.send("JOIN 0")
        self.assertEqual(sorted(bob.take()), [":bob!bob@tchat PART #b", ":bob!bob@tchat PART #c", ":bob!bob@tchat PART #lobby"])

    def test_join_errors_are_their_numerics(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.send("JOIN #k,#i,#l,#ban", "MODE #k +k pw", "MODE #i +i", "MODE #l +l 1", "MODE #ban +b bob")
        bob.send("JOIN #k", "JOIN #k wrong", "JOIN #i", "JOIN #l", "JOIN #ban", "JOIN bad", "JOIN #no!such")
        self.assertEqual(bob.numerics(), ["475", "475", "473", "471", "474", "403", "403"])

    def test_topic_read_set_and_none(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.send("JOIN #dev")
        bob.send("JOIN #dev")
        alice.take(), bob.take()
        bob.send("TOPIC #dev")
        self.assertEqual(bob.numerics(), ["331"])
        bob.send("TOPIC #dev :mine")
        self.assertEqual(bob.numerics(), ["482"])
        alice.send("TOPIC #dev :ours")
        self.assertEqual(alice.take(), [":alice!alice@tchat TOPIC #dev :ours"])
        self.assertEqual(bob.take(), [":alice!alice@tchat TOPIC #dev :ours"])
        bob.send("TOPIC #dev")
        self.assertEqual(bob.take(), [":tchat 332 bob #dev :ours", f":tchat 333 bob #dev alice :{int(self.clock.seconds())}"])

    def test_list_who_whois_names(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.send("JOIN #dev", "TOPIC #dev :about things")
        bob.send("JOIN #dev")
        alice.take(), bob.take()
        bob.send("LIST")
        self.assertEqual(bob.take(), [
            ":tchat 321 bob Channel :Users  Name", ":tchat 322 bob #dev 2 :about things", ":tchat 322 bob #lobby 2 :", ":tchat 323 bob :End of /LIST",
        ])
        bob.send("WHO #dev")
        self.assertEqual(bob.take(), [
            ":tchat 352 bob #dev u tchat tchat alice H@ :0 Real", ":tchat 352 bob #dev u tchat tchat bob H :0 Real",
            ":tchat 315 bob #dev :End of WHO list",
        ])
        bob.send("WHO alice", "WHO a*")
        self.assertEqual(bob.numerics(), ["352", "315", "352", "315"])
        alice.send("AWAY :out")
        bob.send("WHOIS alice", "WHOIS nobody")
        self.assertEqual(bob.numerics(), ["311", "319", "312", "301", "318", "401", "318"])
        bob.send("NAMES #dev", "NAMES #nowhere")
        self.assertEqual(bob.take(), [":tchat 353 bob = #dev :@alice bob", ":tchat 366 bob #dev :End of /NAMES list", ":tchat 366 bob #nowhere :End of /NAMES list"])

    def test_motd_and_lusers_on_request_and_unknown_commands_421(self) -> None:
        alice = self.user("alice")
        alice.send("MOTD", "LUSERS", "FROB x")
        self.assertEqual(alice.numerics(), ["375", "372", "376", "251", "255", "265", "266", "421"])


class OperatorTests(IrcTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.alice, self.bob = self.user("alice"), self.user("bob")
        self.alice.send("JOIN #dev")
        self.bob.send("JOIN #dev")
        self.alice.take(), self.bob.take()

    def test_op_voice_and_their_removal_are_mode_lines_to_everyone(self) -> None:
        self.alice.send("MODE #dev +ov bob bob", "MODE #dev -v bob")
        expected = [":alice!alice@tchat MODE #dev +o bob", ":alice!alice@tchat MODE #dev +v bob", ":alice!alice@tchat MODE #dev -v bob"]
        self.assertEqual(self.alice.take(), expected)
        self.assertEqual(self.bob.take(), expected)
        self.alice.send("MODE #dev +o bob")
        self.assertEqual(self.alice.take(), [])

    def test_channel_flags_key_and_limit_and_reading_them_324(self) -> None:
        self.alice.send("MODE #dev +mik-t sesame", "MODE #dev +l 10")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat MODE #dev +mik-t sesame", ":alice!alice@tchat MODE #dev +l 10"])
        self.assertEqual(self.bob.take(), [":alice!alice@tchat MODE #dev +mik-t *", ":alice!alice@tchat MODE #dev +l 10"])
        self.alice.send("MODE #dev")
        self.assertEqual(self.alice.take(), [":tchat 324 alice #dev +mikln sesame 10", ":tchat 329 alice #dev :1000000"])
        self.alice.send("MODE #dev +n", "MODE #dev +z", "MODE #dev +k", "MODE #dev +l")
        self.assertEqual(self.alice.numerics(), ["472", "461", "461"])

    def test_minus_n_lets_one_outside_the_channel_send_to_it(self) -> None:
        self.bob.send("PART #dev")
        self.alice.take()
        self.bob.take()
        self.bob.send("PRIVMSG #dev :knock knock")
        self.assertEqual(self.bob.numerics(), ["404"])
        self.assertEqual(self.alice.take(), [])
        self.alice.send("MODE #dev -n")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat MODE #dev -n"])
        self.bob.send("PRIVMSG #dev :from outside")
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.alice.take(), [":bob!bob@tchat PRIVMSG #dev :from outside"])
        self.alice.send("MODE #dev")
        self.assertEqual(self.alice.take()[0], ":tchat 324 alice #dev +t")

    def test_the_creator_may_step_down_and_then_gets_482(self) -> None:
        # A guest's channel has no owner (docs/protocol.rst): its creator deops like any op.
        self.alice.send("MODE #dev -o alice")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat MODE #dev -o alice"])
        self.alice.send("TOPIC #dev :mine", "MODE #dev +o alice")
        self.assertEqual(self.alice.numerics(), ["482", "482"])

    def test_who_is_not_op_gets_482(self) -> None:
        self.bob.send("MODE #dev +m", "MODE #dev +o bob", "KICK #dev alice")
        self.assertEqual(self.bob.numerics(), ["482", "482", "482"])

    def test_kick_with_reason_and_the_kicked_one_is_out(self) -> None:
        self.alice.send("KICK #dev bob :behave")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat KICK #dev bob :behave"])
        self.assertEqual(self.bob.take(), [":alice!alice@tchat KICK #dev bob :behave"])
        self.bob.send("PRIVMSG #dev :back?")
        self.assertEqual(self.bob.numerics(), ["404"])
        self.alice.send("KICK #dev bob", "KICK #nowhere bob")
        self.assertEqual(self.alice.numerics(), ["441", "403"])

    def test_ban_puts_out_lists_367_368_and_unban(self) -> None:
        self.alice.send("MODE #dev +b bob!*@*")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat MODE #dev +b bob!*@*", ":alice!alice@tchat KICK #dev bob :banned"])
        self.assertEqual(self.bob.take(), [":alice!alice@tchat MODE #dev +b bob!*@*", ":alice!alice@tchat KICK #dev bob :banned"])
        self.alice.send("MODE #dev b")
        self.assertEqual(self.alice.take(), [
            f":tchat 367 alice #dev bob!*@* alice :{int(self.clock.seconds())}", ":tchat 368 alice #dev :End of channel ban list",
        ])
        self.bob.send("JOIN #dev")
        self.assertEqual(self.bob.numerics(), ["474"])
        self.alice.send("MODE #dev +b *!*@10.0.0.1")
        self.assertIn("tchat bans by name", self.alice.take()[0])
        self.alice.send("MODE #dev -b bob")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat MODE #dev -b bob!*@*"])

    def test_invite_to_an_invite_only_channel(self) -> None:
        carol = self.user("carol")
        self.alice.send("MODE #dev +i")
        self.alice.take()
        self.alice.send("INVITE carol #dev", "INVITE bob #dev", "INVITE nobody #dev")
        self.assertEqual(self.alice.numerics(), ["341", "443", "401"])
        self.assertEqual(carol.take(), [":alice!alice@tchat INVITE carol #dev"])
        carol.send("JOIN #dev")
        self.assertIn(":carol!carol@tchat JOIN #dev", carol.take())

    def test_nick_change_is_seen_by_everyone_who_shares_a_channel(self) -> None:
        self.bob.send("NICK robert", "NICK alice")
        self.assertEqual(self.bob.take()[0], ":bob!bob@tchat NICK robert")
        self.assertEqual(self.alice.take(), [":bob!bob@tchat NICK robert"])
        self.bob.send("PRIVMSG #dev :still here")
        self.assertEqual(self.alice.take(), [":robert!robert@tchat PRIVMSG #dev :still here"])

    def test_user_mode_i_is_accepted_and_others_refused(self) -> None:
        self.alice.send("MODE alice +i", "MODE alice", "MODE alice +x", "MODE bob +i")
        self.assertEqual(self.alice.take(), [
            ":alice MODE alice +i", ":tchat 221 alice :+i", ":tchat 501 alice :Unknown MODE flag", ":tchat 502 alice :Cant change mode for other users",
        ])


class LimitTests(IrcTestCase):
    limits = generous_limits(sendq=2_000, close_grace=5.0, flood_burst=5, flood_rate=1.0, flood_queue=50)

    def user(self, nick: str, *caps: str, join: str | None = "#lobby") -> Irc:
        client = self.irc()
        client.send(f"NICK {nick}", "USER u 0 * :Real", *([f"JOIN {join}"] if join else []))
        # Registration pays the flood limit too: let the bucket fill again.
        self.clock.advance(100)
        self.assertIn(f" 001 {nick} ", " ".join(client.take()))
        return client

    def test_bad_utf8_gets_fail_invalid_utf8_and_the_connection_stays(self) -> None:
        alice = self.user("alice")
        alice.send(b"PRIVMSG #lobby :caf\xe9", "PING :still")
        self.assertEqual(alice.take(), [":tchat FAIL PRIVMSG INVALID_UTF8 :That line was not UTF-8 (bad byte at 19); it was ignored", ":tchat PONG tchat :still"])

    def test_a_character_split_across_reads_is_one_character(self) -> None:
        alice, bob = self.user("alice"), logged_in(self.hub, "bob")
        data = "PRIVMSG #lobby :é\r\n".encode()
        alice.session.dataReceived(data[:-3])
        alice.session.dataReceived(data[-3:])
        self.assertEqual(bob.of("message")[0]["text"], "é")

    def test_overlong_lines_are_417_and_reading_goes_on(self) -> None:
        alice = self.user("alice")
        alice.send("PRIVMSG #lobby :" + "x" * 600, b"@" + b"a" * 5000 + b" PING :x", "PING :after")
        self.assertEqual(alice.take(), [":tchat 417 alice :Input line was too long", ":tchat 417 alice :Input line was too long", ":tchat PONG tchat :after"])

    def test_tags_from_a_client_are_read_and_a_tagged_line_is_carried_out(self) -> None:
        alice, bob = self.user("alice"), logged_in(self.hub, "bob")
        alice.send("@+draft/reply=1;+typing=active PRIVMSG #lobby :tagged")
        self.assertEqual(bob.of("message")[0]["text"], "tagged")

    def test_flooding_is_slowed_down_not_dropped(self) -> None:
        alice = self.user("alice")
        self.clock.advance(100)
        alice.send(*[f"PING :{i}" for i in range(10)])
        self.assertEqual(len(alice.take()), 5)
        self.clock.advance(5)
        self.assertEqual(len(alice.take()), 5)

    def test_a_reader_that_does_not_read_is_told_sendq_exceeded(self) -> None:
        alice, bob = self.user("alice"), logged_in(self.hub, "bob")
        alice.take()
        alice.session.sendq.pauseProducing()
        for i in range(100):
            self.hub.handle(bob, request("msg", to="#lobby", text="x" * 100))
        self.assertEqual(alice.take()[-1], "ERROR :Closing Link: 127.0.0.1 (SendQ exceeded)")
        self.assertTrue(alice.transport.disconnecting)

    def test_blank_lines_are_ignored(self) -> None:
        alice = self.user("alice")
        alice.send("", "   ", "PING :x")
        self.assertEqual(alice.take(), [":tchat PONG tchat :x"])


class ConformanceTests(IrcTestCase):
    """What irctest (the IRC server conformance suite) found missing or wrong."""

    def test_an_empty_username_or_realname_is_461(self) -> None:
        client = self.irc()
        client.send("NICK alice", "USER u 0 * :", "USER  0 * :Real")
        self.assertEqual(client.take(), [
            ":tchat 461 * USER :Not enough parameters", ":tchat 461 * USER :Not enough parameters",
        ])
        client.send("USER u 0 * :Real")
        self.assertIn(" 001 alice ", " ".join(client.take()))

    def test_lusers_gives_265_and_266_with_the_most_users_seen(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        bob.send("QUIT")
        alice.take()
        alice.send("LUSERS")
        self.assertEqual(alice.take(), [
            ":tchat 251 alice :There are 1 users and 0 invisible on 1 servers",
            ":tchat 255 alice :I have 1 clients and 1 servers",
            ":tchat 265 alice 1 2 :Current local users 1, max 2",
            ":tchat 266 alice 1 2 :Current global users 1, max 2",
        ])

    def test_a_key_or_limit_tchat_refuses_is_696_and_nothing_changes(self) -> None:
        alice = self.user("alice")
        alice.send("JOIN #dev")
        alice.take()
        for mode in ("+k :two words", "+k :", "+k " + "x" * 65):
            alice.send(f"MODE #dev {mode}")
            lines = alice.take()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith(":tchat 696 alice #dev k * :a key is one word"), lines)
        for value in ("0", "-1", "abc"):
            alice.send(f"MODE #dev +l {value}")
            lines = alice.take()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith(f":tchat 696 alice #dev l {value} :"), lines)
        alice.send("MODE #dev +l :")
        self.assertEqual(alice.numerics(), ["696"])
        alice.send("MODE #dev")
        self.assertEqual(alice.take(), [":tchat 324 alice #dev +tn", ":tchat 329 alice #dev :1000000"])

    def test_userhost_in_names_shows_each_member_as_a_full_mask(self) -> None:
        alice = self.user("alice", "userhost-in-names", "multi-prefix")
        bob = self.user("bob")
        alice.send("JOIN #dev")
        bob.send("JOIN #dev")
        alice.take(), bob.take()
        alice.send("NAMES #dev")
        self.assertEqual(alice.take()[0], ":tchat 353 alice = #dev :@alice!alice@tchat bob!bob@tchat")
        bob.send("NAMES #dev")
        self.assertEqual(bob.take()[0], ":tchat 353 bob = #dev :@alice bob")

    def test_a_pong_waits_for_the_answers_of_the_messages_before_it(self) -> None:
        alice, bob = self.user("alice", "echo-message"), self.user("bob")
        bob.send("AWAY :out")
        alice.take(), bob.take()
        stored: Deferred[None] = Deferred()
        self.hub.messages.keep_then = lambda fields, done: stored.addCallback(done)  # type: ignore[method-assign]
        alice.send("PRIVMSG bob :hi", "PING :sync")
        self.assertEqual(alice.take(), [])
        stored.callback(None)
        self.assertEqual(alice.take(), [
            ":alice!alice@tchat PRIVMSG bob :hi", ":tchat 301 alice bob :out", ":tchat PONG tchat :sync",
        ])
        alice.send("PING :again")
        self.assertEqual(alice.take(), [":tchat PONG tchat :again"])

    def test_a_line_that_is_not_utf8_is_fail_with_its_command_even_before_registration(self) -> None:
        client = self.irc()
        client.send("NICK alice", b"USER u 0 * :caf\xe9")
        self.assertEqual(client.take(), [":tchat FAIL USER INVALID_UTF8 :That line was not UTF-8 (bad byte at 15); it was ignored"])

    def test_time_is_391_and_userhost_302_with_away_marks(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.take()
        alice.send("TIME")
        self.assertEqual(alice.take(), [f":tchat 391 alice tchat {int(self.clock.seconds())} :Monday January 12 1970 -- 13:46:40 +00:00"])
        bob.send("AWAY :out")
        bob.take()
        alice.send("USERHOST bob nobody alice", "USERHOST :")
        self.assertEqual(alice.take(), [
            ":tchat 302 alice :bob=-bob@tchat alice=+alice@tchat", ":tchat 461 alice USERHOST :Not enough parameters",
        ])

    def test_a_join_to_a_channel_with_a_topic_gives_332_and_333(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        alice.send("JOIN #dev", "TOPIC #dev :the plan")
        alice.take()
        bob.send("JOIN #dev")
        self.assertEqual(bob.take()[:3], [
            ":bob!bob@tchat JOIN #dev", ":tchat 332 bob #dev :the plan",
            f":tchat 333 bob #dev alice :{int(self.clock.seconds())}",
        ])


class WireTests(TestCase):
    def test_parse_reads_tags_source_command_and_params(self) -> None:
        line = parse(b"@a=b\\sc;d :nick!u@h privmsg #x :hi there\r")
        self.assertEqual((line.tags, line.source, line.command, line.params), ({"a": "b c", "d": ""}, "nick!u@h", "PRIVMSG", ["#x", "hi there"]))
        with self.assertRaises(UnicodeDecodeError):
            parse(b"PRIVMSG #x :\xff")
        with self.assertRaises(BadLine):
            parse(b":source")

    def test_encoding_keeps_lines_within_512_bytes(self) -> None:
        data = encode("332", ["alice", "#x", "y" * 600], "tchat")
        self.assertEqual(len(data), 512)
        many = encode_text("PRIVMSG", "#x", "word " * 300, "alice!alice@tchat")
        self.assertTrue(all(len(line) + 2 <= 512 for line in many.split(b"\r\n")[:-1]))
        self.assertEqual(split_text("ab", 100), ["ab"])

    def test_a_text_a_client_could_send_in_one_line_is_relayed_in_one_line(self) -> None:
        # "PRIVMSG #x :" and CRLF leave 498 bytes of text in a client's line:
        # relayed with its sender's prefix it passes 512, and stays whole.
        source = "alice!alice@" + "h" * 60
        whole = encode_text("PRIVMSG", "#x", "é" * 249, source, tags={"msgid": "1"})
        self.assertEqual(whole.count(b"\r\n"), 1)
        self.assertEqual(whole[:-2].rsplit(b" :", 1)[1].decode(), "é" * 249)
        self.assertEqual(len(whole.split(b" ", 1)[1]), 512 + len(source) + 2)
        # A word without a space may come without its colon: a byte more.
        word = encode_text("PRIVMSG", "#x", "a" * 499, source)
        self.assertEqual(word.count(b"\r\n"), 1)
        self.assertEqual(word[:-2].rsplit(b" :", 1)[1].decode(), "a" * 499)
        self.assertGreater(encode_text("PRIVMSG", "#x", "a" * 500, source).count(b"\r\n"), 1)
        # One byte more could not have come from an IRC client (a longer
        # message from another door): split into lines that each fit 512.
        pieces = encode_text("PRIVMSG", "#x", "é" * 249 + " e", source).split(b"\r\n")[:-1]
        self.assertGreater(len(pieces), 1)
        self.assertTrue(all(len(line) + 2 <= 512 for line in pieces), pieces)
        self.assertEqual("".join(line.rsplit(b" :", 1)[1].decode() for line in pieces), "é" * 249 + " e")

    def test_strip_formatting(self) -> None:
        self.assertEqual(strip_formatting("\x0312,4blue\x03 \x04ff00ffhex\x16rev\x1estrike\x11mono"), "blue hexrevstrikemono")


class PasswordTests(TestCase):
    """PASS is the password of a registered name; without it, 433 and a notice."""

    async def start(self) -> None:
        from argon2 import PasswordHasher

        folder = tempfile.TemporaryDirectory(prefix="tchat-irc-")
        self.addCleanup(folder.cleanup)
        self.store = await open_store(f"sqlite:{os.path.join(folder.name, 't.db')}", reactor, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        self.addCleanup(lambda: self.store.close())
        self.hub = Hub(HubConfig(), reactor, store=self.store)
        await self.hub.use_store(self.store)
        self.door = IrcDoor(self.hub, generous_limits(), reactor)
        session = RecordingSession("127.0.0.1:5000")
        self.hub.connect(session)
        await self.hub.handle(session, request("login", user="alice"))
        await self.hub.handle(session, request("register", password="correct horse"))
        self.assertEqual(session.last().name, "ok", session.events)
        self.hub.disconnect(session)

    async def registration(self, *lines: str) -> list[str]:
        client = Irc(self.door, 1)
        self.addCleanup(client.session.connectionLost, None)
        client.send(*lines)
        for _ in range(200):
            taken = client.transport.value()
            if b" 001 " in taken or b" 433 " in taken or b" 464 " in taken:
                break
            d: Deferred[None] = Deferred()
            reactor.callLater(0.01, d.callback, None)  # the hash runs in a thread
            await d
        return client.take()

    def test_a_registered_name_needs_pass(self) -> Deferred[None]:
        async def run() -> None:
            await self.start()
            lines = await self.registration("NICK alice", "USER a 0 * :A")
            self.assertTrue(lines[0].startswith(":tchat 433 * alice :"), lines)
            self.assertIn("PASS", lines[1])
            lines = await self.registration("PASS wrong", "NICK alice", "USER a 0 * :A")
            self.assertTrue(lines[0].startswith(":tchat 464 "), lines)
            lines = await self.registration("PASS :correct horse", "NICK alice", "USER a 0 * :A")
            self.assertTrue(lines[0].startswith(":tchat 001 alice "), lines)

        return Deferred.fromCoroutine(run())
