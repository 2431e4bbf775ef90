"""
The terminal UI, driven as a person would drive it: key bytes go into an
insults ServerProtocol running L{ChatUI}; what it writes goes, as escape
sequences, through an insults ClientProtocol into an in-memory terminal
(a L{TerminalBuffer} that also understands UTF-8), whose screen is checked.
"""

from __future__ import annotations

import json
import string
from typing import Any

from twisted.conch.insults import insults
from twisted.conch.insults.helper import TerminalBuffer
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.client.connection import ChatClient
from tchat.client.reconnect import Backoff
from tchat.client.render import Renderer
from tchat.client.editor import ANSWER_WAIT
from tchat.client.terminal import char_width
from tchat.client.ui import ChatUI
from tests.helpers import feed_event, take_json

UP, DOWN, RIGHT, LEFT = b"\x1b[A", b"\x1b[B", b"\x1b[C", b"\x1b[D"
BACKSPACE = b"\x7f"
ENTER = b"\r"
NOW = 1_700_000_000.0


class UnicodeTerminalBuffer(TerminalBuffer):
    """A TerminalBuffer that takes UTF-8 text (the stock one drops non-ASCII bytes)."""

    def write(self, data: bytes) -> None:
        for ch in data.decode("utf-8").replace("\n", "\r\n"):
            self.insertAtCursor(ch.encode("utf-8"))

    def insertAtCursor(self, b: bytes) -> None:
        if b in (b"\r", b"\n") or (len(b) == 1 and b in string.printable.encode()):
            return super().insertAtCursor(b)
        ch = b.decode("utf-8")
        if not ch.isprintable():
            return
        if self.x >= self.width:
            self.nextLine()
        self.lines[self.y][self.x] = (b, self._currentFormattingState())
        self.x += max(char_width(ch), 1)


class Wire:
    """The transport of the ServerProtocol: bytes go to the terminal's parser."""

    def __init__(self, parser: insults.ClientProtocol) -> None:
        self.parser = parser

    def write(self, data: bytes) -> None:
        self.parser.dataReceived(data)

    def loseConnection(self) -> None:
        pass


class ScreenTestCase(TestCase):
    """The UI of a client logged in as alice (in #lobby; bob is online), its screen, and its wire."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.net = StringTransport()
        self.client = ChatClient(Renderer(color=False, now=self.clock.seconds), self.clock, "alice")
        self.client.makeConnection(self.net)

        self.screen = UnicodeTerminalBuffer()
        parser = insults.ClientProtocol(lambda: self.screen)
        parser.makeConnection(StringTransport())
        self.ui = ChatUI(self.client, Renderer(color=False, now=self.clock.seconds))
        self.keyboard = insults.ServerProtocol(lambda: self.ui)
        self.keyboard.makeConnection(Wire(parser))
        self.client.start(self.ui)
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice", "bob"])

    # -- helpers -------------------------------------------------------------

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.net)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, NOW, **fields)

    def press(self, *keys: bytes | str) -> None:
        for key in keys:
            self.keyboard.dataReceived(key.encode("utf-8") if isinstance(key, str) else key)

    def rows(self) -> list[str]:
        """The screen's rows down to the cursor's row, right spaces trimmed."""
        rows = bytes(self.screen).decode("utf-8").split("\n")
        return [row.rstrip() for row in rows[: self.screen.y + 1]]

    def input_row(self) -> str:
        return self.rows()[-1]

    def cursor_column(self) -> int:
        return self.screen.x


class UITests(ScreenTestCase):

    def test_typed_keys_are_shown_after_the_prompt(self) -> None:
        self.press("hello")
        self.assertEqual(self.input_row(), "#lobby> hello")
        self.assertEqual(self.cursor_column(), len("#lobby> hello"))

    def test_enter_sends_the_line_and_clears_the_input(self) -> None:
        self.press("hi bob", ENTER)
        self.assertEqual([(m["action"], m["to"], m["text"]) for m in self.sent()], [("msg", "#lobby", "hi bob")])
        self.assertEqual(self.input_row(), "#lobby>")

    def test_incoming_message_is_drawn_above_a_half_typed_line(self) -> None:
        self.press("half a thou", LEFT, LEFT)
        self.receive("message", msgid="1", to="#lobby", text="are you there?", kind="public", **{"from": "bob"})
        rows = self.rows()
        self.assertIn("[#lobby] <~bob> are you there?", rows[-2])
        self.assertEqual(rows[-1], "#lobby> half a thou")
        # The cursor is still two characters from the end, so typing goes there.
        self.assertEqual(self.cursor_column(), len("#lobby> half a th"))
        self.press("X")
        self.assertEqual(self.input_row(), "#lobby> half a thXou")
        self.press(ENTER)
        self.assertEqual(self.sent()[0]["text"], "half a thXou")

    def test_a_room_joined_or_left_on_another_device_is_joined_or_left_here(self) -> None:
        self.receive("join", room="#ops", user="Alice")
        self.assertIn("You joined #ops (from another session)", self.rows()[-2])
        self.assertEqual(self.client.rooms, ["#lobby", "#ops"])
        self.press("/part", ENTER)  # the current room is still #lobby here
        self.assertEqual(self.sent()[0]["room"], "#lobby")
        self.receive("part", room="#ops", user="alice")
        self.assertEqual(self.client.rooms, ["#lobby"])
        # Someone else's join changes nothing here.
        self.receive("join", room="#dev", user="bob")
        self.assertEqual(self.client.rooms, ["#lobby"])

    def test_several_messages_keep_the_input_at_the_bottom(self) -> None:
        self.press("draft")
        for n in range(30):  # more than a screen: the terminal scrolls
            self.receive("message", msgid=str(n), to="#lobby", text=f"line {n}", kind="public", **{"from": "bob"})
        rows = self.rows()
        self.assertIn("<~bob> line 29", rows[-2])
        self.assertIn("<~bob> line 28", rows[-3])
        self.assertEqual(rows[-1], "#lobby> draft")
        self.assertEqual(sum("draft" in row for row in rows), 1)

    def test_own_message_appears_when_the_server_says_ok(self) -> None:
        self.press("hello", ENTER)
        [msg] = self.sent()
        self.press("next")
        self.receive("ok", re=msg["id"], msgid="x")
        rows = self.rows()
        self.assertIn("[#lobby] <~alice> hello", rows[-2])
        self.assertEqual(rows[-1], "#lobby> next")

    def test_up_arrow_recalls_the_previous_line(self) -> None:
        self.press("first", ENTER, "second", ENTER, "dra")
        self.sent()
        self.press(UP)
        self.assertEqual(self.input_row(), "#lobby> second")
        self.press(UP)
        self.assertEqual(self.input_row(), "#lobby> first")
        self.press(DOWN, DOWN)
        self.assertEqual(self.input_row(), "#lobby> dra")  # the draft comes back
        self.press(UP, UP, ENTER)
        self.assertEqual(self.sent()[0]["text"], "first")

    def test_utf8_characters_are_one_character_each(self) -> None:
        # Typed as their bytes, one byte at a time, as a terminal sends them.
        for byte in "é ж!".encode("utf-8"):
            self.press(bytes([byte]))
        self.assertEqual(self.ui.lineBuffer, ["é".encode(), b" ", "ж".encode(), b"!"])
        self.assertEqual(self.input_row(), "#lobby> é ж!")
        self.press(LEFT, LEFT, "x")  # moves over whole characters
        self.assertEqual(self.input_row(), "#lobby> é xж!")
        self.press(ENTER)
        self.assertEqual(self.sent()[0]["text"], "é xж!")

    def test_backspace_deletes_one_whole_character(self) -> None:
        self.press("aé".encode("utf-8"), "ж".encode("utf-8"), BACKSPACE)
        self.assertEqual(self.input_row(), "#lobby> aé")
        self.press(BACKSPACE)
        self.assertEqual(self.input_row(), "#lobby> a")
        self.press(ENTER)
        self.assertEqual(self.sent()[0]["text"], "a")

    def test_wide_characters_take_two_columns(self) -> None:
        self.press("日本".encode("utf-8"))
        self.assertEqual(self.cursor_column(), len("#lobby> ") + 4)
        self.press(LEFT)
        self.assertEqual(self.cursor_column(), len("#lobby> ") + 2)

    def test_a_long_line_wraps_and_survives_a_message(self) -> None:
        long = "x" * 100 + "yz"
        self.press(long, LEFT)
        self.receive("notice", text="hello")
        rows = self.rows()
        self.assertEqual(rows[-2] + rows[-1], "#lobby> " + long)
        self.assertIn("*** hello", rows[-3])
        self.assertEqual(self.screen.x, (len("#lobby> ") + 101) % 80)

    def test_input_ending_on_the_last_column_does_not_eat_a_message(self) -> None:
        # A terminal keeps the cursor on the last column after the 80th
        # character; the UI must not lose track of which row it is on.
        self.receive("notice", text="earlier")
        self.press("x" * (80 - len("#lobby> ")))
        self.receive("notice", text="later")
        rows = self.rows()
        self.assertIn("*** earlier", rows[-4])
        self.assertIn("*** later", rows[-3])
        self.assertEqual(rows[-2], "#lobby> " + "x" * 72)
        self.press("y")
        self.assertEqual(self.rows()[-1], "y")

    def test_history_recall_of_a_utf8_line(self) -> None:
        self.press("привет".encode("utf-8"), ENTER, UP, BACKSPACE, ENTER)
        self.assertEqual([m["text"] for m in self.sent()], ["привет", "приве"])

    def test_ctrl_d_on_an_empty_line_quits_but_not_on_a_typed_one(self) -> None:
        self.press("ab", LEFT, b"\x04")
        self.assertEqual(self.input_row(), "#lobby> a")
        self.assertEqual(self.sent(), [])
        self.press(BACKSPACE, b"\x04")
        self.assertEqual([m["action"] for m in self.sent()], ["quit"])

    def test_ctrl_c_quits(self) -> None:
        self.press("half", b"\x03")
        self.assertEqual([m["action"] for m in self.sent()], ["quit"])

    def test_room_change_shows_in_the_prompt(self) -> None:
        self.press("/join #dev", ENTER)
        [join] = self.sent()
        self.receive("ok", re=join["id"], room="#dev", users=["alice"], text="you joined #dev")
        self.assertEqual(self.input_row(), "#dev>")

    def test_bad_command_is_shown_locally(self) -> None:
        self.press("/frobnicate", ENTER)
        self.assertEqual(self.sent(), [])
        self.assertIn("!!! unknown command /frobnicate", self.rows()[-2])


TAB = b"\t"


class RoomScreenTestCase(ScreenTestCase):
    """Logged in, then in #dev with bob (an op), bobby and carol; dave is online elsewhere."""

    def setUp(self) -> None:
        super().setUp()
        self.receive("users", users=["alice", "bob", "bobby", "carol", "dave"])
        self.join("#dev", ["alice", "bob", "bobby", "carol"], ["bob"], topic="release on friday")

    def typed(self) -> str:
        """The line being typed (the screen's rows lose their trailing spaces)."""
        return b"".join(self.ui.lineBuffer).decode("utf-8")

    def join(self, room: str, users: list[str], ops: list[str], topic: str | None = None) -> None:
        self.press(f"/join {room}", ENTER)
        [join] = self.sent()
        self.receive("ok", re=join["id"], room=room, users=users, ops=ops, topic=topic, text=f"you joined {room}")


class TopicRowTests(RoomScreenTestCase):
    """The current room's topic stays on a row of its own above the prompt."""

    def test_the_topic_is_above_the_prompt_and_follows_topic_events(self) -> None:
        self.assertEqual(self.rows()[-2:], ["Topic: release on friday", "#dev>"])
        self.assertIn("*** Topic of #dev: release on friday", self.rows()[-3])
        self.press("half typed")
        self.receive("topic", room="#dev", topic="release on monday", by="bob")
        rows = self.rows()
        self.assertIn("*** bob set the topic of #dev: release on monday", rows[-3])
        self.assertEqual(rows[-2:], ["Topic: release on monday", "#dev> half typed"])
        self.assertEqual(bytes(self.screen).decode().count("Topic: release on friday"), 0)  # the old row is gone
        self.assertEqual(self.cursor_column(), len("#dev> half typed"))

    def test_the_row_follows_the_current_room(self) -> None:
        self.press("/room #lobby", ENTER)
        self.assertEqual(self.input_row(), "#lobby>")
        self.assertNotIn("Topic:", self.rows()[-2])
        self.press("/room #dev", ENTER)
        self.assertEqual(self.rows()[-2:], ["Topic: release on friday", "#dev>"])
        self.receive("topic", room="#dev", topic="", by="bob")
        self.assertNotIn("Topic:", self.rows()[-2])
        self.assertEqual(self.input_row(), "#dev>")

    def test_kicked_out_the_row_goes_with_the_room(self) -> None:
        self.receive("kick", room="#dev", user="alice", by="bob", reason="enough")
        self.assertIn("You were put out of #dev by bob (enough)", "".join(self.rows()[-3:-1]))
        self.assertEqual(self.input_row(), "#lobby>")
        self.assertFalse([row for row in self.rows()[-2:] if row.startswith("Topic:")])

    def test_a_topic_cannot_reach_the_terminal_raw_and_is_cut_to_the_width(self) -> None:
        self.receive("topic", room="#dev", topic="a\tb\x1b[2J\x1b]0;owned\x07" + "x" * 200, by="bob")
        row = self.rows()[-2]
        self.assertTrue(row.startswith("Topic: a b"), row)
        self.assertNotIn("owned", row)
        self.assertLessEqual(len(row), self.ui.width - 1)
        self.assertTrue(row.endswith("…"), row)
        self.assertEqual(self.input_row(), "#dev>")


class TabCompletionTests(RoomScreenTestCase):
    """Tab completes names (irssi's way), rooms and commands."""

    def test_a_name_at_the_start_of_the_line_is_someone_spoken_to(self) -> None:
        self.press("ca", TAB)
        self.assertEqual(self.typed(), "carol: ")
        self.assertEqual(self.cursor_column(), len("#dev> carol: "))
        self.press("hi", ENTER)
        self.assertEqual(self.sent()[0]["text"], "carol: hi")

    def test_elsewhere_a_plain_name(self) -> None:
        self.press("ask CA", TAB, "now")
        self.assertEqual(self.input_row(), "#dev> ask carol now")
        self.press(ENTER)
        self.sent()
        self.press("/kick ca", TAB)
        self.assertEqual(b"".join(self.ui.lineBuffer), b"/kick carol ")

    def test_tab_again_goes_round_the_candidates(self) -> None:
        self.press("bo", TAB)
        self.assertEqual(self.typed(), "bob: ")
        self.press(TAB)
        self.assertEqual(self.typed(), "bobby: ")
        self.press(TAB)
        self.assertEqual(self.typed(), "bob: ")
        # Any other key ends the round, even one that changes nothing; Tab
        # then completes the word before the cursor (here: none).
        self.press(LEFT, RIGHT, TAB)
        self.assertEqual(self.typed(), "bob: ")
        self.press("x", TAB)
        self.assertEqual(self.input_row(), "#dev> bob: x")

    def test_in_the_middle_of_a_line_the_rest_stays(self) -> None:
        self.press("tell  hi", LEFT, LEFT, LEFT, "car", TAB)
        self.assertEqual(self.input_row(), "#dev> tell carol  hi")
        self.assertEqual(self.cursor_column(), len("#dev> tell carol "))

    def test_the_latest_to_speak_first_then_everyone_online(self) -> None:
        self.receive("message", msgid="1", to="#dev", text="hi", kind="public", **{"from": "bobby"})
        self.press("b", TAB)
        self.assertEqual(self.typed(), "bobby: ")
        self.press(ENTER)
        self.sent()
        self.press("d", TAB)  # not in #dev, but online
        self.assertEqual(self.typed(), "dave: ")

    def test_rooms_and_commands(self) -> None:
        self.press("/to", TAB)
        self.assertEqual(self.typed(), "/topic ")
        self.press("#d", TAB)
        self.assertEqual(self.typed(), "/topic #dev ")
        self.press(ENTER)
        self.assertEqual(self.sent()[0]["room"], "#dev")
        self.press("/ba", TAB, TAB)
        self.assertEqual(self.typed(), "/bans ")

    def test_nothing_to_complete_changes_nothing(self) -> None:
        self.press("zz", TAB)
        self.assertEqual(self.input_row(), "#dev> zz")
        self.press(" ", TAB)
        self.assertEqual(self.input_row(), "#dev> zz")  # (the row is trimmed: a space and no more)
        self.assertEqual(b"".join(self.ui.lineBuffer), b"zz ")

    def test_no_completion_in_a_password(self) -> None:
        self.press("/login bob b", TAB)
        self.assertEqual(b"".join(self.ui.lineBuffer), b"/login bob b")


class NamePromptTests(TestCase):
    """With no --name, the UI asks for one, and again when it is refused."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.net = StringTransport()
        self.client = ChatClient(Renderer(now=lambda: NOW), self.clock, None)
        self.client.makeConnection(self.net)
        self.screen = UnicodeTerminalBuffer()
        parser = insults.ClientProtocol(lambda: self.screen)
        parser.makeConnection(StringTransport())
        self.ui = ChatUI(self.client, Renderer(now=lambda: NOW))
        self.keyboard = insults.ServerProtocol(lambda: self.ui)
        self.keyboard.makeConnection(Wire(parser))
        self.client.start(self.ui)
        [ping] = self.sent()  # turns the connection to JSON mode
        self.assertEqual(ping["action"], "ping")

    def rows(self) -> list[str]:
        rows = bytes(self.screen).decode("utf-8").split("\n")
        return [row.rstrip() for row in rows[: self.screen.y + 1]]

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.net)

    def test_name_is_asked_and_asked_again_when_taken(self) -> None:
        self.assertEqual(self.rows()[-1], "Name:")
        self.keyboard.dataReceived(b"bob\r")
        [login] = self.sent()
        self.assertEqual((login["action"], login["user"]), ("login", "bob"))
        self.client.dataReceived(
            json.dumps({"event": "error", "re": login["id"], "code": "name_taken", "text": "the name bob is taken"}).encode() + b"\n"
        )
        self.assertIn("!!! the name bob is taken", self.rows()[-2])
        self.assertEqual(self.rows()[-1], "Name:")
        self.keyboard.dataReceived("bøb\r".encode("utf-8"))
        [login] = self.sent()
        self.assertEqual(login["user"], "bøb")
        self.client.dataReceived(
            json.dumps({"event": "logged_in", "re": login["id"], "user": "bøb", "rooms": ["#lobby"], "users": ["bøb"]}).encode() + b"\n"
        )
        self.assertEqual(self.rows()[-1], "#lobby>")

    def test_quit_at_the_name_prompt(self) -> None:
        self.keyboard.dataReceived(b"/quit\r")
        self.assertEqual([m["action"] for m in self.sent()], ["quit"])

    def test_login_with_a_password_at_the_name_prompt_is_masked(self) -> None:
        self.keyboard.dataReceived(b"/login alice correct horse")
        self.assertEqual(self.rows()[-1], "Name: /login alice " + "*" * len("correct horse"))
        self.assertNotIn(b"horse", bytes(self.screen))
        self.keyboard.dataReceived(b"\r")
        [login] = self.sent()
        self.assertEqual((login["action"], login["user"], login["password"]), ("login", "alice", "correct horse"))


SECRET = "correct horse"


class PasswordPromptTests(TestCase):
    """A registered name: the UI asks for its password, and never shows it."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.net = StringTransport()
        self.client = ChatClient(Renderer(now=lambda: NOW), self.clock, "alice")
        self.client.makeConnection(self.net)
        self.screen = UnicodeTerminalBuffer()
        parser = insults.ClientProtocol(lambda: self.screen)
        parser.makeConnection(StringTransport())
        self.ui = ChatUI(self.client, Renderer(now=lambda: NOW))
        self.keyboard = insults.ServerProtocol(lambda: self.ui)
        self.keyboard.makeConnection(Wire(parser))
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)
        self.client.start(self.ui)
        self.login = self.sent()[0]
        self.assertNotIn("password", self.login)

    def rows(self) -> list[str]:
        rows = bytes(self.screen).decode("utf-8").split("\n")
        return [row.rstrip() for row in rows[: self.screen.y + 1]]

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.net)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, NOW, **fields)

    def press(self, *keys: bytes | str) -> None:
        for key in keys:
            self.keyboard.dataReceived(key.encode("utf-8") if isinstance(key, str) else key)

    def refuse(self, code: str, text: str) -> None:
        self.receive("error", re=self.login["id"], code=code, text=text)

    def assert_password_never_on_screen(self) -> None:
        screen = bytes(self.screen).decode("utf-8")
        self.assertNotIn("correct", screen)
        self.assertNotIn("horse", screen)

    def test_the_typed_password_is_not_shown_and_goes_with_the_login(self) -> None:
        self.refuse("password_required", "the name alice is registered; log in with /login alice PASSWORD")
        self.assertIn("alice is registered: type its password", self.rows()[-2])
        self.assertEqual(self.rows()[-1], "Password for alice:")
        self.press(SECRET)
        self.assertEqual(self.rows()[-1], "Password for alice: " + "*" * len(SECRET))
        self.press(LEFT, BACKSPACE, "s")  # editing works, still unseen
        self.assertEqual(self.rows()[-1], "Password for alice: " + "*" * len(SECRET))
        self.assert_password_never_on_screen()
        self.press(ENTER)
        [login] = self.sent()
        self.assertEqual((login["action"], login["user"], login["password"]), ("login", "alice", SECRET))
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby", "#dev"], users=["alice"],
                     registered=True, unread={"#lobby": 0, "#dev": 3})
        self.assertEqual(self.rows()[-1], "#dev>")
        self.assertIn("New since you were last here: 3 in #dev", "\n".join(self.rows()))
        # The password is not in the history either.
        self.press(UP)
        self.assertEqual(self.rows()[-1], "#dev>")
        self.assertEqual(self.ui.historyLines, [])
        self.assert_password_never_on_screen()

    def test_a_wrong_password_is_said_and_asked_again(self) -> None:
        self.refuse("password_required", "the name alice is registered")
        self.press("horse battery")
        self.assert_password_never_on_screen()
        self.press(ENTER)
        [login] = self.sent()
        self.receive("error", re=login["id"], code="bad_password", text="wrong password for alice")
        self.assertIn("!!! wrong password for alice", self.rows()[-2])
        self.assertEqual(self.rows()[-1], "Password for alice:")
        self.press(SECRET)
        self.assert_password_never_on_screen()
        self.press(ENTER)
        [login] = self.sent()
        self.assertEqual(login["password"], SECRET)
        self.assert_password_never_on_screen()

    def test_rate_limited_asks_again_only_after_enter(self) -> None:
        self.refuse("rate_limited", "too many wrong passwords; try again in 8 s")
        rows = self.rows()
        self.assertIn("!!! too many wrong passwords; try again in 8 s", rows[-3])
        self.assertIn("press Enter to try again", rows[-2])
        self.assertEqual(rows[-1], "[Enter: try again]")
        self.press("horse")  # not the time to type it: ignored, not shown
        self.assertEqual(self.rows()[-1], "[Enter: try again]")
        self.press(ENTER)
        self.assertEqual(self.sent(), [])
        self.assertEqual(self.rows()[-1], "Password for alice:")
        self.press(SECRET)
        self.assertEqual(self.rows()[-1], "Password for alice: " + "*" * len(SECRET))
        self.press(ENTER)
        [login] = self.sent()
        self.assertEqual(login["password"], SECRET)
        self.assert_password_never_on_screen()

    def test_enter_alone_goes_back_to_the_name_prompt(self) -> None:
        self.refuse("password_required", "the name alice is registered")
        self.press(ENTER)
        self.assertEqual(self.rows()[-1], "Name:")
        self.assertEqual(self.sent(), [])
        self.press("bob", ENTER)
        [login] = self.sent()
        self.assertEqual((login["user"], "password" in login), ("bob", False))

    def test_ctrl_c_at_the_password_prompt_leaves(self) -> None:
        self.refuse("password_required", "the name alice is registered")
        self.press("half", b"\x03")
        self.assertEqual([m["action"] for m in self.sent()], ["quit"])

    def test_ctrl_d_on_an_empty_password_leaves(self) -> None:
        self.refuse("password_required", "the name alice is registered")
        self.press(b"\x04")
        self.assertEqual([m["action"] for m in self.sent()], ["quit"])
        self.receive("bye", text="bye")
        self.client.connectionLost(None)
        self.assertEqual(self.status, [0])

    def test_a_password_typed_before_the_prompt_is_neither_sent_nor_kept(self) -> None:
        # Typed while the login was on its way, expecting the prompt.
        self.press(SECRET, ENTER)
        self.refuse("password_required", "the name alice is registered")
        self.assertIn("1 line typed before the password was asked for: not sent", "\n".join(self.rows()))
        self.press(SECRET, ENTER)
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])
        self.assertEqual(self.sent(), [])  # no message with it
        self.press(UP)
        self.assertEqual(self.rows()[-1], "#lobby>")  # and not in the history


class PasswordCommandTests(ScreenTestCase):
    """Logged in: lines that hold a password are masked as typed and not kept."""

    def test_password_part_of_a_command_is_masked_as_it_is_typed(self) -> None:
        self.press("/register correct horse")
        self.assertEqual(self.input_row(), "#lobby> /register " + "*" * len("correct horse"))
        self.press(LEFT, LEFT, "x")
        self.assertEqual(self.input_row(), "#lobby> /register " + "*" * len("correct horsxe"))
        self.press(ENTER)
        [register] = self.sent()
        self.assertEqual((register["action"], register["password"]), ("register", "correct horxse"))
        self.assertNotIn(b"horse", bytes(self.screen))
        self.assertNotIn(b"horxse", bytes(self.screen))

    def test_lines_with_passwords_are_not_in_the_history(self) -> None:
        lines = ["first", "/register correct horse", "/passwd old-one new-one", "/password old-one new-one",
                 "/oper admin-pw", "/admin admin-pw", "/account create bob pw-bob", "/account reset bob pw-bob",
                 "/login carol pw-carol", "last"]
        for line in lines:
            self.press(line, ENTER)
        self.assertEqual(len(self.sent()), len(lines))  # every line was still sent
        self.assertEqual(self.ui.historyLines, [b"first", b"last"])
        self.press(UP)
        self.assertEqual(self.input_row(), "#lobby> last")
        self.press(UP)
        self.assertEqual(self.input_row(), "#lobby> first")
        self.press(UP)
        self.assertEqual(self.input_row(), "#lobby> first")
        for secret in (b"horse", b"old-one", b"new-one", b"admin-pw", b"pw-bob", b"pw-carol"):
            self.assertNotIn(secret, bytes(self.screen))


class Dialer:
    """Stands in for connectProtocol: each call is one try, answered by the test."""

    def __init__(self) -> None:
        self.tries: list[Deferred[Any]] = []

    def __call__(self) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.tries.append(d)
        return d


class ComingBackUITests(TestCase):
    """
    The connection is lost and made again under the UI: what is being typed
    stays on screen and in the line, with the countdown above it.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.dialer = Dialer()
        self.client = ChatClient(Renderer(now=self.clock.seconds), self.clock, "alice")
        self.client.reconnect_with(self.dialer, Backoff(random=lambda: 0.5))
        self.connect()
        self.screen = UnicodeTerminalBuffer()
        parser = insults.ClientProtocol(lambda: self.screen)
        parser.makeConnection(StringTransport())
        self.ui = ChatUI(self.client, Renderer(now=self.clock.seconds), self.clock)
        self.keyboard = insults.ServerProtocol(lambda: self.ui)
        self.keyboard.makeConnection(Wire(parser))
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)
        self.client.start(self.ui)
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])

    def connect(self) -> None:
        self.net = StringTransport()
        self.client.makeConnection(self.net)

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.net)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, NOW, **fields)

    def press(self, *keys: bytes | str) -> None:
        for key in keys:
            self.keyboard.dataReceived(key.encode("utf-8") if isinstance(key, str) else key)

    def rows(self) -> list[str]:
        rows = bytes(self.screen).decode("utf-8").split("\n")
        return [row.rstrip() for row in rows[: self.screen.y + 1]]

    def lose(self) -> None:
        self.client.connectionLost(Failure(ConnectionLost("Connection lost")))

    def come_back(self, rooms: list[str] | None = None) -> None:
        """The try being made succeeds and the login works."""
        self.connect()
        self.dialer.tries[-1].callback(self.client)
        [login] = self.sent()
        self.assertEqual(login["user"], "alice")
        self.receive("logged_in", re=login["id"], user="alice", rooms=rooms or ["#lobby"], users=["alice"])

    def test_the_half_typed_line_and_the_history_outlive_a_reconnect(self) -> None:
        self.press("first", ENTER)
        [msg] = self.sent()
        self.receive("ok", re=msg["id"], msgid="1")
        self.press("half typed", LEFT, LEFT)
        self.lose()
        rows = self.rows()
        self.assertIn("*** connection to the server lost", "\n".join(rows))
        self.assertEqual(rows[-2], "*** connection lost; reconnecting in 1 s…")
        self.assertEqual(rows[-1], "#lobby> half typed")
        self.assertEqual(self.screen.x, len("#lobby> half typ"))  # the cursor did not move in the text

        self.clock.advance(1)  # the try is refused: the next one is in 2 s, counted down
        self.dialer.tries[-1].errback(ConnectionRefusedError(111, "Connection refused"))
        self.assertEqual(self.rows()[-2], "*** connection lost; reconnecting in 2 s… (last try: connection refused)")
        self.clock.advance(1)
        self.assertEqual(self.rows()[-2], "*** connection lost; reconnecting in 1 s… (last try: connection refused)")
        self.press("X")  # typing goes on meanwhile
        self.assertEqual(self.rows()[-1], "#lobby> half typXed")

        self.press(ENTER)  # nothing can be sent: the line stays, and Enter tries at once
        self.assertEqual(self.rows()[-1], "#lobby> half typXed")
        self.assertIn("not connected, so not sent: the line stays here", "\n".join(self.rows()))
        self.assertEqual(self.rows()[-2], "*** connection lost; reconnecting…")
        self.assertEqual(len(self.dialer.tries), 2)
        self.assertEqual(self.sent(), [])

        self.come_back()
        rows = self.rows()
        self.assertIn("*** reconnected as alice. Online: alice", rows[-3])
        self.assertIn("*** back in #lobby; plain lines go to #lobby", rows[-2])
        self.assertEqual(rows[-1], "#lobby> half typXed")
        self.assertFalse(any("reconnecting" in row for row in rows[-2:]))  # the status row is gone
        self.press(UP)
        self.assertEqual(self.rows()[-1], "#lobby> first")
        self.press(DOWN)
        self.assertEqual(self.rows()[-1], "#lobby> half typXed")
        self.press(ENTER)
        self.assertEqual([m["text"] for m in self.sent()], ["half typXed"])

    def test_a_name_asked_after_a_reconnect_puts_the_line_aside_until_logged_in(self) -> None:
        self.press("draft words")
        self.lose()
        self.clock.advance(1)
        self.connect()
        self.dialer.tries[-1].callback(self.client)
        [login] = self.sent()
        self.receive("error", re=login["id"], code="name_taken", text="the name alice is taken; choose another name")
        self.assertEqual(self.rows()[-1], "Name:")
        self.press("alice2", ENTER)
        [login] = self.sent()
        self.assertEqual(login["user"], "alice2")
        self.receive("logged_in", re=login["id"], user="alice2", rooms=["#lobby"], users=["alice2"])
        self.assertEqual(self.rows()[-1], "#lobby> draft words")
        self.press(UP)
        self.assertEqual(self.rows()[-1], "#lobby> draft words")  # the name is not in the history

    def test_a_password_asked_after_a_reconnect_keeps_the_history(self) -> None:
        self.press("earlier line", ENTER)
        self.sent()
        self.lose()
        self.clock.advance(1)
        self.connect()
        self.dialer.tries[-1].callback(self.client)
        [login] = self.sent()
        self.receive("error", re=login["id"], code="password_required", text="the name alice is registered")
        self.assertEqual(self.rows()[-1], "Password for alice:")
        self.press("correct horse", ENTER)
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True)
        self.press(UP)
        self.assertEqual(self.rows()[-1], "#lobby> earlier line")
        self.assertNotIn(b"horse", bytes(self.screen))

    def test_quit_while_disconnected_leaves_at_once(self) -> None:
        self.lose()
        self.press("/quit", ENTER)
        self.assertEqual(self.status, [0])
        self.clock.advance(60)
        self.assertEqual(self.dialer.tries, [])

    def test_ctrl_c_while_disconnected_leaves_at_once(self) -> None:
        self.lose()
        self.press(b"\x03")
        self.assertEqual(self.status, [0])


class ResizableScreen(UnicodeTerminalBuffer):
    """
    An in-memory terminal that can change width as real ones do: re-wrapping
    its soft-wrapped rows (tmux, VTE, kitty...) or cutting them (xterm). It
    remembers which rows ran on into the next one, and answers a cursor
    position request when told to.
    """

    def reset(self) -> None:
        super().reset()
        self.soft = [False] * self.height

    def insertAtCursor(self, b: bytes) -> None:
        if b not in (b"\r", b"\n") and self.x >= self.width:
            self.soft[self.y] = True  # this row runs on into the next
        super().insertAtCursor(b)

    def _scrollDown(self) -> None:
        if self.y + 1 >= self.height:
            del self.soft[0]
            self.soft.append(False)
        super()._scrollDown()

    def eraseToDisplayEnd(self) -> None:
        super().eraseToDisplayEnd()
        self.soft[self.y :] = [False] * (self.height - self.y)

    def eraseDisplay(self) -> None:
        super().eraseDisplay()
        self.soft = [False] * self.height

    def text_rows(self) -> list[str]:
        """The rows, without trailing spaces, and with those a row that runs on holds."""
        return [
            "".join(" " if ch is self.void else ch.decode("utf-8") for ch, _ in line)
            if self.soft[y] else "".join(" " if ch is self.void else ch.decode("utf-8") for ch, _ in line).rstrip()
            for y, line in enumerate(self.lines)
        ]

    def resize(self, width: int, rewrap: bool) -> None:
        if not rewrap:
            for line in self.lines:
                del line[width:]
                line.extend(self._emptyLine(width - len(line)))
            self.width, self.x = width, min(self.x, width - 1)
            self.soft = [False] * self.height
            return
        # Each run of soft-wrapped rows is one long line, wrapped again.
        cells_of_lines: list[list[Any]] = []
        cursor: tuple[int, int] | None = None
        current: list[Any] = []
        for y, line in enumerate(self.lines):
            if y == self.y:
                cursor = (len(cells_of_lines), len(current) + self.x)
            if self.soft[y]:
                current += line
                continue
            kept = list(line)
            while kept and kept[-1][0] is self.void:
                kept.pop()
            cells_of_lines.append(current + kept)
            current = []
        assert cursor is not None
        rows: list[list[Any]] = []
        soft: list[bool] = []
        for n, cells in enumerate(cells_of_lines):
            length = max(len(cells), cursor[1] + 1 if n == cursor[0] else 0)
            count = max(1, -(-length // width))
            if n == cursor[0]:
                new_cursor = (len(rows) + cursor[1] // width, cursor[1] % width)
            for i in range(count):
                chunk = cells[i * width : (i + 1) * width]
                rows.append(chunk + self._emptyLine(width - len(chunk)))
                soft.append(i < count - 1)
        # Empty rows below the cursor are no content; rows past the height
        # scroll off the top; missing ones are added below.
        while len(rows) > new_cursor[0] + 1 and all(ch is self.void for ch, _ in rows[-1]):
            rows.pop()
            soft.pop()
        extra = max(0, len(rows) - self.height)
        rows, soft = rows[extra:], soft[extra:]
        rows += [self._emptyLine(width) for _ in range(self.height - len(rows))]
        soft += [False] * (self.height - len(soft))
        self.lines, self.soft, self.width = rows, soft, width
        self.y, self.x = new_cursor[0] - extra, new_cursor[1]


class AskingWire(Wire):
    """A Wire that notes when the UI asks the terminal where its cursor is."""

    asked = False

    def write(self, data: bytes) -> None:
        self.asked = self.asked or b"\x1b[6n" in data
        super().write(data)


class ResizeTests(TestCase):
    """
    Making the terminal narrower or wider while a long line is typed: the
    input area is drawn again once, where it is now, and the messages above
    it stay.
    """

    TEXT = " ".join(f"word{i}" for i in range(30))  # 199 characters: three rows at 80 columns

    def setUp(self) -> None:
        self.clock = Clock()
        self.net = StringTransport()
        self.client = ChatClient(Renderer(now=lambda: NOW), self.clock, "alice")
        self.client.makeConnection(self.net)
        self.screen = ResizableScreen()
        self.parser = insults.ClientProtocol(lambda: self.screen)
        self.parser.makeConnection(StringTransport())
        self.ui = ChatUI(self.client, Renderer(now=lambda: NOW), self.clock)
        self.keyboard = insults.ServerProtocol(lambda: self.ui)
        self.wire = AskingWire(self.parser)
        self.keyboard.makeConnection(self.wire)
        self.client.start(self.ui)
        [login] = take_json(self.net)
        feed_event(self.client, "logged_in", NOW, re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])
        feed_event(self.client, "notice", NOW, text="a message above")

    def press(self, *keys: bytes | str) -> None:
        for key in keys:
            self.keyboard.dataReceived(key.encode("utf-8") if isinstance(key, str) else key)

    def resize(self, width: int, rewrap: bool) -> None:
        """The terminal changes, then tells the UI (as SIGWINCH does), then answers its question if any."""
        self.screen.resize(width, rewrap)
        self.wire.asked = False
        self.ui.terminalSize(width, 24)
        if self.wire.asked:
            # (insults' own ClientProtocol answers with row and column swapped.)
            self.keyboard.dataReceived(b"\x1b[%d;%dR" % (self.screen.y + 1, self.screen.x + 1))

    def assert_drawn_once(self, text: str) -> None:
        rows = [row for row in self.screen.text_rows() if row]
        self.assertEqual(sum("#lobby>" in row for row in rows), 1, rows)
        start = next(i for i, row in enumerate(rows) if "#lobby>" in row)
        self.assertEqual("".join(rows[start:]), "#lobby> " + text, rows)
        # The message above is still there (wrapped again, or cut).
        self.assertIn("*** a message a", "".join(rows[:start]))

    def test_narrower_on_a_terminal_that_rewraps(self) -> None:
        self.press(self.TEXT)
        for width in (60, 41, 23):
            self.resize(width, rewrap=True)
            self.assert_drawn_once(self.TEXT)
        self.press("!")
        self.assert_drawn_once(self.TEXT + "!")

    def test_narrower_on_a_terminal_that_cuts(self) -> None:
        self.press(self.TEXT)
        for width in (60, 41, 23):
            self.resize(width, rewrap=False)
            self.assert_drawn_once(self.TEXT)

    def test_wider_either_way(self) -> None:
        for rewrap in (True, False):
            self.press(b"\x15", self.TEXT)  # Ctrl-U first
            self.resize(50, rewrap)
            self.resize(130, rewrap)
            self.assert_drawn_once(self.TEXT)
            self.resize(80, rewrap)
            self.assert_drawn_once(self.TEXT)

    def test_with_the_cursor_inside_the_line(self) -> None:
        self.press(self.TEXT, *[LEFT] * 90)
        for rewrap, width in ((True, 50), (False, 33), (True, 70)):
            self.resize(width, rewrap)
            self.assert_drawn_once(self.TEXT)
            self.assertEqual(self.ui.lineBufferIndex, len(self.TEXT) - 90)
        self.press("X")
        self.assert_drawn_once(self.TEXT[:-90] + "X" + self.TEXT[-90:])

    def test_with_the_status_row_above_the_prompt(self) -> None:
        self.ui.status("connection lost; reconnecting in 4 s… (last try: connection refused)", False)
        self.press(self.TEXT)
        self.resize(40, rewrap=True)
        rows = [row for row in self.screen.text_rows() if row]
        self.assertEqual(sum("reconnecting" in row for row in rows), 1, rows)
        self.assertEqual(sum("#lobby>" in row for row in rows), 1, rows)
        start = next(i for i, row in enumerate(rows) if "#lobby>" in row)
        # Cut to the width, so that the terminal never wraps it.
        self.assertEqual(rows[start - 1], "*** connection lost; reconnecting in 4…")
        self.assertEqual("".join(rows[start:]), "#lobby> " + self.TEXT)

    def test_with_the_status_row_and_the_topic_row_above_the_prompt(self) -> None:
        feed_event(self.client, "topic", NOW, room="#lobby", topic="welcome to the lobby, " + "be nice " * 8, by="bob")
        self.ui.status("connection lost; reconnecting in 4 s…", False)
        self.press(self.TEXT)
        for width, rewrap in ((40, True), (30, False)):
            self.resize(width, rewrap=rewrap)
            rows = [row for row in self.screen.text_rows() if row]
            self.assertEqual(sum("Topic:" in row for row in rows), 1, rows)
            start = next(i for i, row in enumerate(rows) if "#lobby>" in row)
            self.assertEqual(rows[start - 2][:12], "*** connecti", rows)
            self.assertTrue(rows[start - 1].startswith("Topic: welcome") and rows[start - 1].endswith("…"), rows)
            self.assertLessEqual(len(rows[start - 1]), width - 1)
            self.assertEqual("".join(rows[start:]), "#lobby> " + self.TEXT)

    def test_a_terminal_that_does_not_answer_is_taken_to_rewrap(self) -> None:
        self.press(self.TEXT)
        self.screen.resize(60, rewrap=True)
        self.ui.terminalSize(60, 24)
        # Meanwhile nothing is drawn; what comes waits, typing is kept.
        feed_event(self.client, "notice", NOW, text="while asking")
        self.press("?")
        self.assertNotIn("while asking", "\n".join(self.screen.text_rows()))
        self.clock.advance(ANSWER_WAIT)
        rows = [row for row in self.screen.text_rows() if row]
        self.assertIn("*** while asking", rows[-5])
        self.assertEqual("".join(rows[-4:]), "#lobby> " + self.TEXT + "?")

    def test_ctrl_l_while_asking_draws_everything_from_the_top(self) -> None:
        self.press(self.TEXT)
        self.screen.resize(60, rewrap=True)
        self.ui.terminalSize(60, 24)
        feed_event(self.client, "notice", NOW, text="while asking")
        self.press(b"\x0c")
        rows = [row for row in self.screen.text_rows() if row]
        self.assertIn("*** while asking", rows[0])
        self.assertEqual("".join(rows[1:]), "#lobby> " + self.TEXT)
        self.clock.advance(ANSWER_WAIT)  # the question's time runs out: nothing more happens
        self.assertEqual([row for row in self.screen.text_rows() if row], rows)

    def test_a_late_answer_to_an_earlier_question_is_not_taken(self) -> None:
        self.press(self.TEXT)
        self.screen.resize(60, rewrap=False)
        self.ui.terminalSize(60, 24)
        stale = b"\x1b[%d;%dR" % (self.screen.y + 1, self.screen.x + 1)
        self.screen.resize(45, rewrap=False)
        self.ui.terminalSize(45, 24)
        self.keyboard.dataReceived(stale)  # answers the first question: ignored
        self.keyboard.dataReceived(b"\x1b[%d;%dR" % (self.screen.y + 1, self.screen.x + 1))
        self.assert_drawn_once(self.TEXT)
