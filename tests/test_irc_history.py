"""
IRCv3 draft/chathistory on a StringTransport, over a real SQLite store:
the cap and ISUPPORT, each subcommand by msgid and by timestamp, the batch
(labelled or not, or none), the standard replies, and private history read
only by its two parties.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tchat.chat.history import HISTORY_MAX
from tchat.door.irc.history import CHATHISTORY_MAX, parse_timestamp
from tchat.door.irc.wire import server_time
from tchat.events import millisecond
from tests.test_irc_door import Irc, IrcTestCase
from tests.test_irc_v3 import AccountsTestCase, plain, run
from tests.test_store import message

CAPS = ("draft/chathistory", "batch", "server-time", "message-tags", "labeled-response", "account-tag")


class ChathistoryTestCase(AccountsTestCase):
    async def start_with_history(self) -> None:
        await self.start()
        for name in ("bob", "carol"):
            await self.register(name, self.password)
        # Ten messages to #lobby a second apart, with microseconds; between
        # them a private conversation of alice's and bob's, and one of bob's and carol's.
        self.base = float(int(reactor.seconds()) + 10)
        self.times = [self.base + i + 0.1234567 for i in range(10)]
        for i, ts in enumerate(self.times):
            sender = "alice" if i % 2 == 0 else "bob"
            await self.store.history.add({**message(f"m{i}", sender, "#lobby", ts=ts), "registered": True})
            other = "bob" if sender == "alice" else "alice"
            await self.store.history.add({**message(f"p{i}", sender, other, ts=ts), "registered": True})
            await self.store.history.add(message(f"c{i}", "bob", "carol", ts=ts))

    def time(self, i: int) -> str:
        return server_time(self.times[i])

    async def account(self, name: str, *caps: str) -> Irc:
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :" + " ".join(("sasl",) + (caps or CAPS)), f"NICK {name}", "USER a 0 * :A",
                    "AUTHENTICATE PLAIN")
        client.send("AUTHENTICATE " + plain(name, self.password))
        await self.until(client, b" 903 ")
        client.send("CAP END")
        await self.until(client, b" 366 ")
        return client

    async def guest(self, nick: str, *caps: str) -> Irc:
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :" + " ".join(caps), f"NICK {nick}", "USER u 0 * :U", "CAP END")
        await self.until(client, b" 422 ", b" 376 ")
        return client

    async def ask(self, client: Irc, line: str, *marks: bytes) -> list[str]:
        client.take()
        client.send(line)
        return await self.until(client, *(marks or (b"BATCH -", b"FAIL")))

    async def msgids(self, client: Irc, line: str, target: str = "#lobby") -> list[str]:
        """The msgids of the chathistory batch answering ``line``, checking the batch's frame."""
        lines = await self.ask(client, line)
        opening, *inner, closing = [untimed(x) for x in lines]
        self.assertRegex(opening, r"^:tchat BATCH \+(\S+) chathistory " + target + "$")
        ref = opening.split()[2][1:]
        self.assertEqual(closing, f":tchat BATCH -{ref}")
        found = []
        for x in inner:
            tags = dict(part.partition("=")[::2] for part in x[1:].split(" ", 1)[0].split(";"))
            self.assertEqual(tags["batch"], ref, x)
            found.append(tags["msgid"])
        return found


def untimed(line: str) -> str:
    """A line without its ``time`` tag (the door's own lines carry the time they were written)."""
    if not line.startswith("@"):
        return line
    head, rest = line.split(" ", 1)
    tags = [t for t in head[1:].split(";") if not t.startswith("time=")]
    return ("@" + ";".join(tags) + " " + rest) if tags else rest


def m(*numbers: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{i}" for i in numbers]


class ChathistoryTests(ChathistoryTestCase):
    @run
    async def test_the_cap_and_isupport_say_it_with_a_store(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS 302")
        self.assertIn("draft/chathistory", client.take()[0].split(":", 2)[2].split())
        client.send("NICK guest", "USER u 0 * :U", "CAP END")
        tokens = " ".join(line for line in await self.until(client, b" 005 ") if " 005 " in line).split()
        self.assertIn(f"CHATHISTORY={CHATHISTORY_MAX}", tokens)
        self.assertIn("MSGREFTYPES=msgid,timestamp", tokens)
        self.assertEqual(CHATHISTORY_MAX, HISTORY_MAX, "the door promises what the hub gives")

    @run
    async def test_latest_is_a_chathistory_batch_of_the_messages_as_stored(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        lines = await self.ask(alice, "CHATHISTORY LATEST #lobby * 2")
        ref = untimed(lines[0]).split()[2][1:]
        self.maxDiff = None
        self.assertEqual([untimed(lines[0]), *lines[1:3], untimed(lines[3])], [
            f":tchat BATCH +{ref} chathistory #lobby",
            f"@batch={ref};account=alice;msgid=m8;time={self.time(8)} :alice!alice@tchat PRIVMSG #lobby :text of m8",
            f"@batch={ref};account=bob;msgid=m9;time={self.time(9)} :bob!bob@tchat PRIVMSG #lobby :text of m9",
            f":tchat BATCH -{ref}",
        ])

    @run
    async def test_each_subcommand_by_msgid_and_by_timestamp(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        t = self.time
        cases: list[tuple[str, list[str]]] = [
            ("LATEST #lobby * 20", m(*range(10))),
            ("LATEST #lobby * 5", m(5, 6, 7, 8, 9)),
            ("LATEST #lobby * 1", m(9)),
            ("LATEST #lobby msgid=m4 20", m(5, 6, 7, 8, 9)),
            (f"LATEST #lobby timestamp={t(4)} 20", m(5, 6, 7, 8, 9)),
            (f"LATEST #lobby timestamp={t(4)} 2", m(8, 9)),
            ("BEFORE #lobby msgid=m6 20", m(0, 1, 2, 3, 4, 5)),
            (f"BEFORE #lobby timestamp={t(6)} 20", m(0, 1, 2, 3, 4, 5)),
            (f"BEFORE #lobby timestamp={t(6)} 2", m(4, 5)),
            ("AFTER #lobby msgid=m3 20", m(4, 5, 6, 7, 8, 9)),
            (f"AFTER #lobby timestamp={t(3)} 20", m(4, 5, 6, 7, 8, 9)),
            (f"AFTER #lobby timestamp={t(3)} 3", m(4, 5, 6)),
            ("BETWEEN #lobby msgid=m0 msgid=m9 20", m(*range(1, 9))),
            ("BETWEEN #lobby msgid=m9 msgid=m0 20", m(*range(1, 9))),
            ("BETWEEN #lobby msgid=m0 msgid=m9 3", m(1, 2, 3)),
            ("BETWEEN #lobby msgid=m9 msgid=m0 3", m(6, 7, 8)),
            (f"BETWEEN #lobby timestamp={t(0)} timestamp={t(9)} 20", m(*range(1, 9))),
            (f"BETWEEN #lobby timestamp={t(9)} timestamp={t(0)} 3", m(6, 7, 8)),
            (f"BETWEEN #lobby msgid=m2 timestamp={t(6)} 20", m(3, 4, 5)),
            ("AROUND #lobby msgid=m7 1", m(7)),
            ("AROUND #lobby msgid=m7 3", m(6, 7, 8)),
            (f"AROUND #lobby timestamp={t(7)} 3", m(6, 7, 8)),
        ]
        for line, expected in cases:
            self.assertEqual(await self.msgids(alice, "CHATHISTORY " + line), expected, line)
        # Case does not matter in the subcommand or the channel (the batch names it as the room is
        # written); more than the maximum is the maximum.
        self.assertEqual(await self.msgids(alice, "CHATHISTORY latest #LOBBY * 100000"), m(*range(10)))

    @run
    async def test_a_labelled_command_gets_its_batch_inside_the_labelled_one(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        lines = [untimed(x) for x in await self.ask(alice, "@label=abc CHATHISTORY LATEST #lobby * 1", b"BATCH -L")]
        outer = lines[0].split()[3][1:]
        inner = lines[1].split()[3][1:]
        self.assertEqual(lines, [
            f"@label=abc :tchat BATCH +{outer} labeled-response",
            f"@batch={outer} :tchat BATCH +{inner} chathistory #lobby",
            f"@batch={inner};account=bob;msgid=m9 :bob!bob@tchat PRIVMSG #lobby :text of m9",
            f"@batch={outer} :tchat BATCH -{inner}",
            f":tchat BATCH -{outer}",
        ])

    @run
    async def test_without_batch_or_server_time_plain_lines_that_say_when(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice", "draft/chathistory")
        alice.take()
        alice.send("CHATHISTORY LATEST #lobby * 2")
        lines = await self.until(alice, b"m9")
        when = [self.times[8], self.times[9]]
        import time as clock

        self.assertEqual(lines, [
            f":alice!alice@tchat PRIVMSG #lobby :{clock.strftime('[sent %Y-%m-%d %H:%M UTC]', clock.gmtime(when[0]))} text of m8",
            f":bob!bob@tchat PRIVMSG #lobby :{clock.strftime('[sent %Y-%m-%d %H:%M UTC]', clock.gmtime(when[1]))} text of m9",
        ])

    @run
    async def test_an_empty_history_is_an_empty_batch(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        alice.send("JOIN #quiet")
        await self.until(alice, b" 366 ")
        self.assertEqual(await self.msgids(alice, "CHATHISTORY LATEST #quiet * 10", "#quiet"), [])
        self.assertEqual(await self.msgids(alice, "CHATHISTORY AFTER #lobby msgid=m9 10"), [])

    @run
    async def test_a_bad_command_is_invalid_params_and_the_connection_goes_on(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        refused = {
            "CHATHISTORY SIDEWAYS #lobby * 10": ["SIDEWAYS", "Unknown command"],
            "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z timestamp=2030-01-01T00:00:00.000Z 10":
                ["TARGETS", "CHATHISTORY TARGETS is not supported by this server"],
            "CHATHISTORY LATEST #lobby *": ["LATEST", "Insufficient parameters"],
            "CHATHISTORY BETWEEN #lobby msgid=m1 10": ["BETWEEN", "Insufficient parameters"],
            "CHATHISTORY BEFORE #lobby msgid=m1 10 extra": ["BEFORE", "Too many parameters"],
            "CHATHISTORY LATEST #lobby * 0": ["LATEST", "0", "Invalid limit: a number of messages, at least 1"],
            "CHATHISTORY LATEST #lobby * ten": ["LATEST", "ten", "Invalid limit: a number of messages, at least 1"],
            "CHATHISTORY BEFORE #lobby * 10": ["BEFORE", "*", "Invalid message reference: msgid=<msgid> or timestamp=YYYY-MM-DDThh:mm:ss.sssZ"],
            "CHATHISTORY AFTER #lobby m1 10": ["AFTER", "m1", "Invalid message reference: msgid=<msgid> or timestamp=YYYY-MM-DDThh:mm:ss.sssZ"],
            "CHATHISTORY AFTER #lobby msgid= 10": ["AFTER", "msgid=", "Invalid message reference: msgid=<msgid> or timestamp=YYYY-MM-DDThh:mm:ss.sssZ"],
            "CHATHISTORY AROUND #lobby timestamp=2020-02-30T00:00:00.000Z 10":
                ["AROUND", "timestamp=2020-02-30T00:00:00.000Z", "Invalid timestamp: timestamp=YYYY-MM-DDThh:mm:ss.sssZ"],
            "CHATHISTORY AROUND #lobby timestamp=yesterday 10":
                ["AROUND", "timestamp=yesterday", "Invalid timestamp: timestamp=YYYY-MM-DDThh:mm:ss.sssZ"],
        }
        for line, params in refused.items():
            lines = await self.ask(alice, line)
            self.assertEqual([untimed(x) for x in lines], [":tchat FAIL CHATHISTORY INVALID_PARAMS " + _last(params)], line)
        self.assertEqual(untimed((await self.ask(alice, "CHATHISTORY", b" 461 "))[0]),
                         ":tchat 461 alice CHATHISTORY :Not enough parameters")
        self.assertEqual(await self.msgids(alice, "CHATHISTORY LATEST #lobby * 1"), m(9))

    @run
    async def test_what_one_may_not_read_is_invalid_target_an_unknown_msgid_a_message_error(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        bob = await self.account("bob")
        bob.send("JOIN #bobs")
        await self.until(bob, b" 366 ")
        cases = {
            "CHATHISTORY LATEST #nowhere * 10": "INVALID_TARGET LATEST #nowhere",
            "CHATHISTORY LATEST #bobs * 10": "INVALID_TARGET LATEST #bobs",
            "CHATHISTORY BEFORE #lobby msgid=nope 10": "MESSAGE_ERROR BEFORE #lobby",
            # A msgid of a conversation one is not in is as unknown as one never sent.
            "CHATHISTORY AROUND #lobby msgid=c3 10": "MESSAGE_ERROR AROUND #lobby",
            "CHATHISTORY AROUND carol msgid=c3 10": "MESSAGE_ERROR AROUND carol",
        }
        for line, expected in cases.items():
            (fail,) = await self.ask(alice, line)
            self.assertTrue(untimed(fail).startswith(":tchat FAIL CHATHISTORY " + expected + " :"), (line, fail))
        guest = await self.guest("dave", "draft/chathistory")
        (fail,) = await self.ask(guest, "CHATHISTORY LATEST alice * 10")
        self.assertEqual(fail, ":tchat FAIL CHATHISTORY INVALID_TARGET LATEST alice "
                               ":private conversations can be read back only by registered users")

    @run
    async def test_private_history_is_read_by_its_two_parties_only(self) -> None:
        await self.start_with_history()
        alice = await self.account("alice")
        bob = await self.account("bob")
        carol = await self.account("carol")
        self.assertEqual(await self.msgids(alice, "CHATHISTORY LATEST bob * 3", "bob"), m(7, 8, 9, prefix="p"))
        self.assertEqual(await self.msgids(bob, "CHATHISTORY LATEST ALICE * 3", "ALICE"), m(7, 8, 9, prefix="p"))
        self.assertEqual(await self.msgids(bob, "CHATHISTORY BEFORE alice msgid=p2 5", "alice"), m(0, 1, prefix="p"))
        lines = await self.ask(bob, "CHATHISTORY LATEST alice * 2")
        self.assertEqual([x.split(" ", 1)[1] for x in lines[1:3]], [
            ":alice!alice@tchat PRIVMSG bob :text of p8",
            ":bob!bob@tchat PRIVMSG alice :text of p9",
        ])
        # carol has her own conversation with bob, none with alice: nothing of alice's and bob's.
        self.assertEqual(await self.msgids(carol, "CHATHISTORY LATEST alice * 50", "alice"), [])
        self.assertEqual(await self.msgids(carol, "CHATHISTORY LATEST bob * 50", "bob"), m(*range(10), prefix="c"))
        (fail,) = await self.ask(carol, "CHATHISTORY AROUND bob msgid=p3 5")
        self.assertIn("MESSAGE_ERROR AROUND bob", fail)


class WithoutStoreTests(IrcTestCase):
    def test_no_store_no_cap_no_isupport_and_the_command_is_unknown(self) -> None:
        client = self.irc()
        client.send("CAP LS 302")
        self.assertNotIn("draft/chathistory", client.take()[0])
        client.send("CAP REQ draft/chathistory")
        self.assertEqual(client.take(), [":tchat CAP * NAK :draft/chathistory"])
        client.send("NICK bob", "USER u 0 * :U", "CAP END")
        burst = " ".join(client.take())
        self.assertNotIn("CHATHISTORY", burst)
        self.assertNotIn("MSGREFTYPES", burst)
        client.send("CHATHISTORY LATEST #lobby * 10")
        self.assertEqual(client.take(), [":tchat 421 bob CHATHISTORY :Unknown command: this server keeps no history"])


class TimestampTests(TestCase):
    def test_server_time_reads_back_as_the_same_millisecond(self) -> None:
        self.assertEqual(parse_timestamp("2019-01-04T14:33:26.123Z"), 1546612406.123)
        self.assertEqual(parse_timestamp("2019-01-04T14:33:26Z"), 1546612406.0)
        self.assertEqual(parse_timestamp("2019-01-04T14:33:26.1234Z"), 1546612406.1234)
        # Whole milliseconds show as themselves (0.123 * 1000 is 122.99999…), and read back as the same one.
        for ts in (1546612406.123, 1700000000.999, 1700000000.9994, 1700000000.0009, 0.0):
            shown = server_time(ts)
            self.assertEqual(shown[-5:], f".{millisecond(ts) % 1000:03d}Z")
            self.assertEqual(millisecond(parse_timestamp(shown)), millisecond(ts))
        self.assertEqual(server_time(1546612406.123), "2019-01-04T14:33:26.123Z")
        self.assertEqual([millisecond(t) for t in (0.0009999, 0.001, -0.0005)], [0, 1, -1])
        for bad in ("2019-01-04 14:33:26.123Z", "2019-01-04T14:33:26.123", "2019-13-04T14:33:26.123Z",
                    "2019-01-04T24:00:00.000Z", "٢٠١٩-01-04T14:33:26.123Z", ""):
            with self.assertRaises(ValueError, msg=bad):
                parse_timestamp(bad)


def _last(params: list[str]) -> str:
    """Standard-reply parameters as written: the description after ``:``."""
    return " ".join(params[:-1]) + " :" + params[-1]

