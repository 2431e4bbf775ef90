"""
Accounts in the client's protocol logic, driven through a StringTransport:
what goes with the login, what the display is asked when the server wants a
password, what the piped front-end does about it, how typed commands that
hold a password are read, and where a given password comes from.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.client.connection import ChatClient
from tchat.client.passwords import holds_password, secret_start
from tchat.client.main import PASSWORD_ENV, PasswordFileError, given_password, parse_args
from tchat.client.piped import PipedInput
from tchat.client.render import Renderer
from tchat.commands import BadRequest, Request, parse_text
from tests.helpers import feed_event, take_json

NOW = 1_700_000_000.0
SECRET = "s3cret horse battery"

REQUIRED = "the name alice is registered; log in with /login alice PASSWORD"
WRONG = "wrong password for alice"


class PasswordDisplay:
    """A Display that records everything it is shown and asked."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names_asked: list[tuple[str | None, str | None]] = []
        self.passwords_asked: list[tuple[str, str, str]] = []

    def show(self, lines: list[str]) -> None:
        self.lines.extend(lines)

    def ask_name(self, problem: str | None, code: str | None) -> None:
        self.names_asked.append((problem, code))

    def ask_password(self, name: str, problem: str, code: str) -> None:
        self.passwords_asked.append((name, problem, code))

    def changed(self) -> None:
        pass


class ClientPasswordTests(TestCase):
    """L{ChatClient} with a display that can ask, as the terminal UI does."""

    def make(self, name: str | None = "alice", password: str | None = None) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.transport = StringTransport()
        self.display = PasswordDisplay()
        self.client = ChatClient(Renderer(color=False, now=self.clock.seconds), self.clock, name, password)
        self.client.makeConnection(self.transport)
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)

    def setUp(self) -> None:
        self.make()

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.transport)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, NOW, **fields)

    def login_sent(self) -> dict[str, Any]:
        [login] = self.sent()
        self.assertEqual(login["action"], "login")
        return login

    def assert_never_shown(self, secret: str) -> None:
        shown = "\n".join(self.display.lines) + repr(self.display.passwords_asked) + repr(self.display.names_asked)
        self.assertNotIn(secret, shown)
        self.assertNotIn(secret.split()[0], shown)

    # -- the login ---------------------------------------------------------

    def test_a_given_password_goes_with_the_login(self) -> None:
        self.make(password=SECRET)
        self.client.start(self.display)
        login = self.login_sent()
        self.assertEqual((login["user"], login["password"]), ("alice", SECRET))

    def test_without_a_password_the_login_has_no_password_field(self) -> None:
        self.client.start(self.display)
        self.assertNotIn("password", self.login_sent())

    def test_a_given_password_waits_for_a_name_typed_later(self) -> None:
        self.make(name=None, password=SECRET)
        self.client.start(self.display)
        self.sent()  # the silent ping
        self.client.login("alice")
        self.assertEqual(self.login_sent()["password"], SECRET)

    def test_password_required_asks_the_display_for_the_password(self) -> None:
        self.client.start(self.display)
        login = self.login_sent()
        self.receive("error", re=login["id"], code="password_required", text=REQUIRED)
        self.assertEqual(self.display.passwords_asked, [("alice", REQUIRED, "password_required")])
        self.assertEqual(self.display.names_asked, [])
        self.assertFalse(self.client.logged_in)
        self.client.login("alice", SECRET)
        again = self.login_sent()
        self.assertEqual((again["user"], again["password"]), ("alice", SECRET))
        self.receive("logged_in", re=again["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True, unread={"#lobby": 2})
        self.assertTrue(self.client.logged_in)
        self.assert_never_shown(SECRET)

    def test_a_wrong_password_is_asked_again_each_time(self) -> None:
        self.make(password="xyzzy plugh")
        self.client.start(self.display)
        login = self.login_sent()
        self.receive("error", re=login["id"], code="bad_password", text=WRONG)
        self.assertEqual(self.display.passwords_asked, [("alice", WRONG, "bad_password")])
        self.client.login("alice", "plover frotz")
        login = self.login_sent()
        slowed = WRONG + "; too many tries: the next must wait 2 s"
        self.receive("error", re=login["id"], code="bad_password", text=slowed)
        self.assertEqual(self.display.passwords_asked[-1], ("alice", slowed, "bad_password"))
        self.client.login("alice", SECRET)
        login = self.login_sent()
        self.assertEqual(login["password"], SECRET)
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True)
        self.assertTrue(self.client.logged_in)
        self.assertEqual(self.display.names_asked, [])
        for secret in ("xyzzy plugh", "plover frotz", SECRET):
            self.assert_never_shown(secret)

    def test_a_given_password_is_tried_once_only(self) -> None:
        # Once refused, it is not sent again behind the person's back.
        self.make(password="xyzzy plugh")
        self.client.start(self.display)
        login = self.login_sent()
        self.receive("error", re=login["id"], code="bad_password", text=WRONG)
        self.client.login("alice")
        self.assertNotIn("password", self.login_sent())

    def test_rate_limited_asks_with_the_servers_text(self) -> None:
        self.make(password="wrong")
        self.client.start(self.display)
        login = self.login_sent()
        text = "too many wrong passwords; try again in 4 s"
        self.receive("error", re=login["id"], code="rate_limited", text=text)
        self.assertEqual(self.display.passwords_asked, [("alice", text, "rate_limited")])

    def test_a_password_for_an_unregistered_name_asks_for_a_name(self) -> None:
        self.make(password=SECRET)
        self.client.start(self.display)
        login = self.login_sent()
        text = "no account is registered as alice; log in without a password to chat as a guest"
        self.receive("error", re=login["id"], code="no_such_account", text=text)
        self.assertEqual(self.display.names_asked, [(text, "no_such_account")])
        self.assertEqual(self.display.passwords_asked, [])
        self.client.login("guest")
        self.assertNotIn("password", self.login_sent())

    def test_lines_typed_before_the_password_was_asked_are_not_sent(self) -> None:
        # Someone who types their password before the prompt appears must not
        # say it in #lobby.
        self.client.start(self.display)
        login = self.login_sent()
        self.client.send_typed(SECRET)
        self.receive("error", re=login["id"], code="password_required", text=REQUIRED)
        self.assertIn("1 line typed before the password was asked for: not sent", self.display.lines[-1])
        self.client.login("alice", SECRET)
        login = self.login_sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])
        self.assertEqual(self.sent(), [])
        self.assert_never_shown(SECRET)

    def test_login_typed_with_a_password_after_logging_in_is_refused_by_the_server(self) -> None:
        self.client.start(self.display)
        login = self.login_sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])
        self.client.send_typed(f"/login bob {SECRET}")
        [again] = self.sent()
        self.assertEqual((again["action"], again["user"], again["password"]), ("login", "bob", SECRET))
        self.receive("error", re=again["id"], code="already_logged_in", text="you are already logged in as alice")
        self.assertIn("!!! you are already logged in as alice", self.display.lines[-1])
        self.assertEqual(self.display.passwords_asked, [])
        self.assert_never_shown(SECRET)

    # -- typed commands with passwords ---------------------------------------

    def log_in(self) -> None:
        self.client.start(self.display)
        login = self.login_sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=False)
        self.display.lines.clear()

    def test_register_sends_the_whole_rest_of_the_line_as_the_password(self) -> None:
        self.log_in()
        self.client.send_typed(f"/register {SECRET}")
        [register] = self.sent()
        self.assertEqual((register["action"], register["password"]), ("register", SECRET))
        self.receive("ok", re=register["id"], text="alice is registered; from now on log in with /login alice PASSWORD")
        self.assertIn("alice is registered", self.display.lines[0])
        self.assertIn("tchat-client asks for it at your next login", self.display.lines[1])
        self.assertIn("TCHAT_PASSWORD", self.display.lines[1])
        self.assert_never_shown(SECRET)

    def test_errors_about_password_commands_never_show_the_password(self) -> None:
        self.log_in()
        for line in (f"/register {SECRET}", f"/passwd {SECRET.split()[0]} new-one", f"/oper {SECRET}", f"/account reset bob {SECRET}"):
            self.client.send_typed(line)
            [request] = self.sent()
            self.receive("error", re=request["id"], code="bad_password", text="wrong admin password")
        self.client.send_typed(f"/passwd {SECRET}")  # too many words: refused here
        self.assertEqual(self.sent(), [])
        self.assertIn("too many arguments; usage: /passwd OLD NEW", self.display.lines[-1])
        self.assert_never_shown(SECRET)


    def test_history_without_a_target_asks_for_the_current_room(self) -> None:
        # JSON mode needs the target; the client, not the server, knows the current room.
        self.client.start(self.display)
        login = self.login_sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby", "#dev"], users=["alice"], registered=True)
        for line, expected in (("/history", {"target": "#dev"}), ("/history 20", {"target": "#dev", "limit": 20}),
                               ("/history bob", {"target": "bob"}), ("/history #lobby 5", {"target": "#lobby", "limit": 5})):
            self.client.send_typed(line)
            [request] = self.sent()
            self.assertEqual({k: v for k, v in request.items() if k not in ("action", "id")}, expected, line)


class TypedPasswordTests(TestCase):
    def test_a_password_runs_to_the_end_of_the_line(self) -> None:
        """The client reads typed lines with the server's parse_text: a PASSWORD takes the rest of the line."""
        cases = {
            "/register correct horse": Request("register", {"password": "correct horse"}),
            "/REGISTER   spaced  out  ": Request("register", {"password": "spaced  out"}),
            "/login alice my pass word": Request("login", {"user": "alice", "password": "my pass word"}),
            "/login alice": Request("login", {"user": "alice"}),
            "/oper the admin pw": Request("admin", {"password": "the admin pw"}),
            "/account create bob a b": Request("account_create", {"user": "bob", "password": "a b"}),
            "/account reset bob x": Request("account_reset", {"user": "bob", "password": "x"}),
            "/passwd old new": Request("passwd", {"old": "old", "new": "new"}),
            "/account delete bob": Request("account_delete", {"user": "bob"}),
            "/msg bob hi there": Request("msg", {"to": "bob", "text": "hi there"}),
            "//register x": Request("line", {"text": "/register x"}),
        }
        for line, expected in cases.items():
            self.assertEqual(parse_text(line), expected, line)

    def test_a_missing_password_is_a_usage_error(self) -> None:
        for line in ("/register", "/register   ", "/account create bob", "/login"):
            self.assertRaises(BadRequest, parse_text, line)

    def test_commands_holding_a_password_in_any_spelling(self) -> None:
        for line in ("/login alice", "/LOGIN alice pw", "/register x", "/passwd a b", "/password a b",
                     "/admin x", "/oper x", "/account create bob x", "/Account RESET bob x", "/register"):
            self.assertTrue(holds_password(line), line)
        for line in ("hello", "/msg bob register", "//register x", "/account delete bob", "/regist x", "/join #login"):
            self.assertFalse(holds_password(line), line)

    def test_where_the_secret_starts_as_a_line_is_typed(self) -> None:
        self.assertEqual(secret_start("/register corr"), len("/register "))
        self.assertEqual(secret_start("/login alice pw"), len("/login alice "))
        self.assertIsNone(secret_start("/login ali"))  # still the name
        self.assertEqual(secret_start("/account create bob p"), len("/account create bob "))
        self.assertEqual(secret_start("/passwd old new"), len("/passwd "))
        self.assertIsNone(secret_start("/msg bob hi"))
        self.assertIsNone(secret_start("plain words"))


class PipedPasswordTests(TestCase):
    """Piped, nobody can type a password: a missing or wrong one ends the run."""

    def make(self, name: str | None = "alice", password: str | None = None) -> None:
        self.clock = Clock()
        self.net = StringTransport()
        self.client = ChatClient(Renderer(color=False, now=lambda: NOW), self.clock, name, password)
        self.client.makeConnection(self.net)
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)
        self.errors = io.StringIO()
        self.stdout = StringTransport()
        self.piped = PipedInput(self.client, self.errors)
        self.piped.makeConnection(self.stdout)
        self.client.start(self.piped)

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.net)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, NOW, **fields)

    def refuse_login(self, code: str, text: str) -> None:
        [login] = self.sent()
        self.receive("error", re=login["id"], code=code, text=text)
        self.assertEqual([m["action"] for m in self.sent()], ["quit"])
        self.receive("bye", text="bye")
        self.client.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.status, [1])

    def test_password_required_without_one_exits_1_saying_how_to_give_it(self) -> None:
        self.make()
        self.refuse_login("password_required", REQUIRED)
        said = self.errors.getvalue()
        self.assertIn(f"login refused: {REQUIRED}", said)
        self.assertIn("TCHAT_PASSWORD", said)
        self.assertIn("--password-file", said)

    def test_a_wrong_given_password_exits_1_without_showing_it(self) -> None:
        self.make(password=SECRET)
        self.refuse_login("bad_password", WRONG)
        self.assertIn(WRONG, self.errors.getvalue())
        self.assertIn("TCHAT_PASSWORD", self.errors.getvalue())
        for output in (self.errors.getvalue(), self.stdout.value().decode("utf-8")):
            self.assertNotIn("s3cret", output)

    def test_rate_limited_exits_1_with_the_servers_text(self) -> None:
        self.make(password=SECRET)
        self.refuse_login("rate_limited", "too many wrong passwords; try again in 8 s")
        self.assertIn("try again in 8 s", self.errors.getvalue())

    def test_first_line_login_with_a_password(self) -> None:
        self.make(name=None)
        self.sent()  # the silent ping
        self.piped.dataReceived(f"/login alice {SECRET}\n".encode())
        [login] = self.sent()
        self.assertEqual((login["action"], login["user"], login["password"]), ("login", "alice", SECRET))
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True)
        self.assertIn("You are alice", self.stdout.value().decode("utf-8"))
        self.assertNotIn("s3cret", self.stdout.value().decode("utf-8"))


class GivenPasswordTests(TestCase):
    """Where the password comes from: never the command line."""

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-password-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        self.warnings: list[str] = []

    def file(self, text: str, mode: int = 0o600) -> str:
        path = os.path.join(self.folder, f"pw{len(os.listdir(self.folder))}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_from_the_environment_which_then_forgets_it(self) -> None:
        environ = {PASSWORD_ENV: "correct horse\n", "HOME": "/x"}
        self.assertEqual(given_password(None, environ, self.warnings.append), "correct horse")
        self.assertEqual(environ, {"HOME": "/x"})  # nothing started later inherits it

    def test_none_given(self) -> None:
        self.assertIsNone(given_password(None, {}, self.warnings.append))
        self.assertIsNone(given_password(None, {PASSWORD_ENV: "  "}, self.warnings.append))

    def test_the_first_line_of_the_file_stripped_wins_over_the_environment(self) -> None:
        path = self.file("  correct horse  \nsecond line\n")
        environ = {PASSWORD_ENV: "other"}
        self.assertEqual(given_password(path, environ, self.warnings.append), "correct horse")
        self.assertEqual(environ, {})
        self.assertEqual(self.warnings, [])

    def test_a_file_others_may_read_gets_a_warning(self) -> None:
        path = self.file("correct horse\n", 0o644)
        self.assertEqual(given_password(path, {}, self.warnings.append), "correct horse")
        self.assertIn("chmod 600", self.warnings[0])

    def test_a_missing_file_or_an_empty_first_line_is_an_error(self) -> None:
        with self.assertRaises(PasswordFileError):
            given_password(os.path.join(self.folder, "nope"), {}, self.warnings.append)
        with self.assertRaises(PasswordFileError):
            given_password(self.file("\nsecond\n"), {}, self.warnings.append)

    def test_the_option_takes_a_file_not_a_password(self) -> None:
        options = parse_args(["127.0.0.1", "4321", "--name", "alice", "--password-file", "/some/file"])
        self.assertEqual(options.password_file, "/some/file")
        self.assertFalse(hasattr(options, "password"))
