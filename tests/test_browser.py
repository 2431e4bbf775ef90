"""
The page in a real browser: headless Chromium (Debian's, with its matching
chromedriver) driven by selenium, against the installed ``twistd tchat`` in a
subprocess, with a person on a plain TCP line in the same rooms.

Selenium blocks, so these tests are synchronous: the server runs in its own
process and the line user reads its socket in a thread. Conditions are
awaited with WebDriverWait (and a Condition for the line user), never with
sleeps.

Without chromium or chromedriver these tests are skipped, except in CI
(``$CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any, Callable

from twisted.trial.unittest import SkipTest, TestCase

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
LINE_PORT = re.compile(r"tchat listening on \S+ \(port (\d+)\)")
WEB_PORT = re.compile(r"tchat web listening on \S+ \(port (\d+)\)")
WAIT = 20  # seconds any one condition may take


def _find(path: str, name: str) -> str | None:
    if os.access(path, os.X_OK):
        return path
    return shutil.which(name)


def require_browser(case: TestCase) -> tuple[str, str]:
    chromium, driver = _find(CHROMIUM, "chromium"), _find(CHROMEDRIVER, "chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if p is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        why = f"the browser tests need {' and '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            case.fail(why)
        raise SkipTest(why)
    return chromium, driver  # type: ignore[return-value]


class Server:
    """``twistd -n tchat`` in a subprocess; knows its line and web ports."""

    def __init__(self, case: TestCase, line_port: int = 0, web_port: int = 0, *options: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="tchat-browser-")
        case.addCleanup(shutil.rmtree, self.folder, True)
        case.addCleanup(self.kill)
        self.output: list[str] = []
        self.ready = threading.Condition()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TCHAT_ADMIN_PASSWORD"] = "admin-pw"
        self.process = subprocess.Popen(
            [TWISTD, "-n", "--pidfile=", "tchat",
             "--port", f"tcp:{line_port}:interface=127.0.0.1",
             "--web-port", f"tcp:{web_port}:interface=127.0.0.1", "--irc-port", "off", *options],
            cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, daemon=True).start()
        with self.ready:
            found = self.ready.wait_for(lambda: self._ports() is not None or self.process.poll() is not None, WAIT)
        ports = self._ports()
        if not found or ports is None:
            self.kill()
            raise AssertionError("twistd did not start:\n" + "".join(self.output))
        self.line_port, self.web_port = ports
        self.url = f"http://127.0.0.1:{self.web_port}/"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self.ready:
                self.output.append(raw.decode("utf-8", "replace"))
                self.ready.notify_all()
        with self.ready:
            self.ready.notify_all()

    def _ports(self) -> tuple[int, int] | None:
        text = "".join(self.output)
        line, web = LINE_PORT.search(text), WEB_PORT.search(text)
        return (int(line.group(1)), int(web.group(1))) if line and web else None

    def stop(self) -> None:
        """SIGTERM, as a supervisor stops it: everyone is told, then it exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(WAIT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT)

    def log(self) -> str:
        return "".join(self.output)


class LineUser:
    """A person on ``nc``: text mode over a plain socket, read by a thread."""

    def __init__(self, case: TestCase, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sock.settimeout(None)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()
        case.addCleanup(self.close)

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self.changed:
                    self.closed = True
                    self.changed.notify_all()
                return
            buffer += data
            *lines, buffer = buffer.split(b"\r\n")
            with self.changed:
                self.lines.extend(line.decode("utf-8", "replace") for line in lines)
                self.changed.notify_all()

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\n")

    def wait_for(self, wanted: str | Callable[[str], bool]) -> str:
        """The first line (so far or to come) equal to ``wanted``, or for which it holds."""
        match = wanted if callable(wanted) else (lambda line: line == wanted)

        def found() -> str | None:
            return next((line for line in self.lines if match(line)), None)

        with self.changed:
            self.changed.wait_for(lambda: found() is not None or self.closed, WAIT)
            line = found()
        if line is None:
            raise AssertionError(f"no line {wanted!r} among:\n" + "\n".join(self.lines))
        return line

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Page:
    """One browser tab with the page open, and the few things a person does there."""

    def __init__(self, case: TestCase, url: str, width: int = 1100, height: int = 800) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver = require_browser(case)
        profile = tempfile.mkdtemp(prefix="tchat-chromium-")
        case.addCleanup(shutil.rmtree, profile, True)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                    "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        case.addCleanup(self.driver.quit)
        self.driver.get(url)

    def by_id(self, id: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, id)

    def css(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def until(self, condition: Callable[[Any], Any], what: str) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # The page redraws its lists as events arrive: an element found a
        # moment ago may be gone; look again.
        wait = WebDriverWait(self.driver, WAIT, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))
        return wait.until(condition, message=f"waiting for {what}")

    def login(self, name: str, password: str | None = None) -> None:
        self.until(lambda d: self.by_id("login-name").is_displayed(), "the login form")
        field = self.by_id("login-name")
        field.clear()
        field.send_keys(name)
        if password is not None:
            self.by_id("login-password").send_keys(password)
        self.by_id("login-button").click()
        self.until(lambda d: self.by_id("chat").is_displayed(), f"{name} to be logged in")

    def say(self, text: str) -> None:
        box = self.by_id("input")
        box.send_keys(text)
        self.by_id("send-form").submit()

    def messages(self) -> str:
        """The text of the conversation on screen."""
        return self.by_id("logs").text

    def wait_message(self, text: str) -> None:
        self.until(lambda d: text in self.messages(), f"{text!r} on screen")

    def open(self, name: str) -> None:
        """Open the conversation called ``name`` from the list (rooms and private)."""
        self.until(lambda d: self._button("button.conv", "data-key", name.lower()), f"{name} in the conversation list")
        self.show_panel("toggle-rooms")
        self.until(lambda d: self._click("button.conv", "data-key", name.lower()), f"a click on {name}")

    def talk_with(self, name: str) -> None:
        """Open a private conversation with ``name`` from the People list."""
        self.show_panel("toggle-people")
        self.until(lambda d: self._click("button.member-button", "data-name", name), f"a click on {name} under People")
        self.until(lambda d: self.by_id("conv-title").text == name, f"the conversation with {name}")

    def _button(self, selector: str, attribute: str, value: str) -> Any:
        return next((b for b in self.css(selector) if b.get_attribute(attribute) == value), None)

    def _click(self, selector: str, attribute: str, value: str) -> bool:
        # The page redraws its lists whenever someone comes or goes (or the
        # server answers who is online), so a button found may be replaced
        # before the click reaches it: then find it again.
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            button = self._button(selector, attribute, value)
            if button is None:
                return False
            button.click()
            return True
        except StaleElementReferenceException:
            return False

    def show_panel(self, toggle: str) -> None:
        button = self.by_id(toggle)
        if button.is_displayed() and button.get_attribute("aria-expanded") != "true":
            button.click()

    def errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


class BrowserTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        require_browser(self)

    def test_two_browsers_and_a_terminal_chat_in_public_and_in_private(self) -> None:
        server = Server(self)
        alice = Page(self, server.url)
        bob = Page(self, server.url)
        alice.login("alice")
        bob.login("bob")
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.wait_for(lambda line: line.startswith("*** You are carol."))
        alice.until(lambda d: "carol" in alice.by_id("member-list").text, "carol among alice's people")

        # public, every way
        alice.say("hello from alice")
        alice.until(lambda d: any("hello from alice" in li.text for li in alice.css("li.msg.own")), "alice's own message")
        bob.wait_message("hello from alice")
        carol.wait_for("[#lobby] <~alice> hello from alice")
        bob.say("hello from bob")
        alice.wait_message("hello from bob")
        carol.wait_for("[#lobby] <~bob> hello from bob")
        carol.send("hello from carol")
        alice.wait_message("hello from carol")
        bob.wait_message("hello from carol")
        alice.say("/me waves")
        bob.wait_message("* ~alice waves")
        carol.wait_for("[#lobby] * ~alice waves")

        # private: alice opens bob from the people list
        alice.talk_with("bob")
        alice.say("psst bob")
        alice.wait_message("psst bob")
        bob.until(lambda d: "1" in "".join(b.text for b in bob.css("#private-list .badge")), "an unread mark for alice's message")
        bob.open("alice")
        bob.wait_message("psst bob")
        bob.say("psst alice")
        alice.wait_message("psst alice")
        # browser -> terminal and terminal -> browser, privately
        bob.say("/msg carol hi carol")
        carol.wait_for("[private] <~bob> hi carol")
        bob.until(lambda d: bob.by_id("conv-title").text == "carol", "bob's conversation with carol")
        carol.send("/msg alice hi alice, from the terminal")
        alice.open("carol")
        alice.wait_message("hi alice, from the terminal")
        # nobody else saw the private lines
        self.assertFalse([line for line in carol.lines if "psst" in line])
        bob.open("#lobby")
        self.assertNotIn("hi alice", bob.messages())
        self.assertEqual(alice.errors() + bob.errors(), [])

    def test_no_message_can_reverse_its_line_or_the_next(self) -> None:
        server = Server(self)
        dave = LineUser(self, server.line_port)
        dave.send("dave")
        dave.wait_for(lambda line: line.startswith("*** You are dave."))
        alice = Page(self, server.url)
        alice.login("alice")
        # An override that would flip what follows, and Hebrew with its mark.
        dave.send("see \u202egnp.exe and \u05e9\u05dc\u05d5\u05dd\u200f 12")
        dave.send("next line")
        alice.wait_message("~dave next line")
        item = [li for li in alice.css("li.msg") if "gnp.exe" in li.text][0]
        text = item.find_element("css selector", ".text")
        content = alice.driver.execute_script("return arguments[0].textContent", text)
        self.assertNotIn("\u202e", content)
        self.assertIn("\u05e9\u05dc\u05d5\u05dd\u200f 12", content)
        # The text and the name are each isolated, in their own direction.
        for part in (text, item.find_element("css selector", ".from")):
            self.assertEqual(part.get_dom_attribute("dir"), "auto")
            self.assertEqual(alice.driver.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", part), "isolate")

    def test_the_page_marks_a_guests_name_with_a_tilde_and_shows_an_accounts_bare(self) -> None:
        server = Server(self)
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.send("/register carols-long-password")
        carol.wait_for(lambda line: line.startswith("*** carol is registered"))
        dave = LineUser(self, server.line_port)
        dave.send("dave")
        dave.wait_for(lambda line: line.startswith("*** You are dave."))
        alice = Page(self, server.url)
        alice.login("alice")

        carol.send("from the account carol")
        carol.send("/me waves as an account")
        dave.send("from the guest dave")
        dave.send("/me waves as a guest")
        carol.send("/msg alice privately from the account")
        alice.wait_message("* ~dave waves as a guest")
        alice.wait_message("* carol waves as an account")
        alice.wait_message("~dave from the guest dave")
        senders = {
            li.find_element("css selector", ".text").text: li.find_element("css selector", ".from")
            for li in alice.css("li.msg")
        }
        account, guest = senders["from the account carol"], senders["from the guest dave"]
        self.assertEqual(account.text, "carol")
        self.assertEqual(account.find_elements("css selector", ".guest-mark"), [])
        self.assertIsNone(account.get_dom_attribute("title"))
        self.assertEqual(guest.text, "~dave")
        self.assertEqual(guest.find_element("css selector", ".guest-mark").text, "~")
        self.assertEqual(guest.get_dom_attribute("title"), "guest: anyone may use this name")
        self.assertEqual(senders["waves as an account"].text, "carol")
        self.assertEqual(senders["waves as a guest"].text, "~dave")
        # The ~ is styled as a mark: lighter than the name beside it.
        weights = alice.driver.execute_script(
            "const f = arguments[0]; return [getComputedStyle(f).fontWeight,"
            " getComputedStyle(f.querySelector('.guest-mark')).fontWeight];", guest)
        self.assertGreater(int(weights[0]), int(weights[1]))

        # Private, from an account: bare too.
        alice.open("carol")
        alice.wait_message("privately from the account")
        (private,) = [li for li in alice.css("li.msg") if "privately from the account" in li.text]
        self.assertEqual(private.find_element("css selector", ".from").text, "carol")

        # Alice's own lines, as everyone else sees them: ~ while a guest, bare once registered.
        alice.open("#lobby")
        alice.say("said as a guest")
        dave.wait_for("[#lobby] <~alice> said as a guest")
        alice.say("/register alices-long-password")
        alice.wait_message("alice is registered")
        alice.say("said as an account")
        dave.wait_for("[#lobby] <alice> said as an account")
        alice.until(lambda d: any("said as an account" in li.text for li in alice.css("li.msg.own")), "alice's line as an account")
        own = {li.find_element("css selector", ".text").text: li.find_element("css selector", ".from").text
               for li in alice.css("li.msg.own")}
        self.assertEqual(own, {"said as a guest": "~alice", "said as an account": "alice"})
        self.assertEqual(alice.errors(), [])

    def test_markup_in_messages_is_shown_as_text_and_runs_nothing(self) -> None:
        server = Server(self)
        alice = Page(self, server.url)
        # Anything that runs would say so here.
        alice.driver.execute_script("window.__ran = []; window.alert = (m) => window.__ran.push(String(m));")
        alice.by_id("login-name").send_keys("<b>mallory</b>")
        alice.by_id("login-button").click()
        alice.until(lambda d: alice.by_id("login-name-error").text, "the bad name's error")
        self.assertIn("name may only hold letters", alice.by_id("login-name-error").text)
        alice.login("alice")

        carol = LineUser(self, server.line_port)
        carol.send("carol")
        nasty = [
            "<img src=x onerror=alert(1)>",
            "<script>alert(2)</script>",
            '<a href="javascript:alert(3)">click</a> <b>bold</b> &amp; &lt;',
            "<svg onload=alert(4)>",
        ]
        for line in nasty:
            carol.send(line)
        for line in nasty:
            alice.wait_message(line)
        alice.say("<img src=y onerror=alert(5)> from the page")
        carol.wait_for("[#lobby] <~alice> <img src=y onerror=alert(5)> from the page")
        alice.wait_message("<img src=y onerror=alert(5)> from the page")
        self.assertEqual(alice.css("#logs img, #logs script, #logs svg, #logs b, #logs a[href^='javascript']"), [])
        self.assertEqual(alice.driver.execute_script("return window.__ran"), [])
        # The policy itself: an inline script put in the page does not run.
        ran = alice.driver.execute_script(
            "const s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
            " document.body.append(s); return window.__inline === 1;"
        )
        self.assertFalse(ran)

    def test_the_page_comes_back_after_a_server_restart(self) -> None:
        server = Server(self)
        alice = Page(self, server.url)
        alice.login("alice")
        alice.by_id("join-room").send_keys("#dev")
        alice.by_id("join-form").submit()
        alice.until(lambda d: alice.by_id("conv-title").text == "#dev", "alice in #dev")

        server.stop()
        alice.until(lambda d: "Reconnecting in" in alice.by_id("status").text, "the reconnect message")
        self.assertIn("The server is going down", alice.messages())
        again = Server(self, line_port=server.line_port, web_port=server.web_port)
        alice.until(lambda d: "Reconnected" in alice.by_id("status").text, "the reconnected message")

        carol = LineUser(self, again.line_port)
        carol.send("carol")
        carol.send("/join #dev")
        carol.wait_for(lambda line: line.startswith("*** you joined #dev"))
        alice.say("back again")
        carol.wait_for("[#dev] <~alice> back again")
        carol.send("welcome back")
        alice.wait_message("welcome back")
        self.assertIn("alice logged in", again.log())

    def test_a_newcomer_reads_what_was_said_before_a_page_at_a_time(self) -> None:
        server = Server(self, 0, 0, "--flood-rate", "1000", "--flood-burst", "1000")
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        for i in range(1, 71):
            carol.send(f"earlier {i}")
        carol.send("/ping")
        carol.wait_for("*** pong")
        alice = Page(self, server.url)
        alice.login("alice")
        alice.wait_message("earlier 70")
        self.assertIn("earlier 21", alice.messages())
        self.assertNotIn("earlier 20\n", alice.messages())
        alice.until(lambda d: alice.by_id("older").is_displayed(), "the button for older messages")
        alice.driver.execute_script(
            "const m = document.getElementById('messages'); m.scrollTop = 0; m.dispatchEvent(new Event('scroll'));"
        )
        alice.wait_message("earlier 1\n")
        alice.until(lambda d: not alice.by_id("older").is_displayed(), "no more older messages")
        texts = re.findall(r"carol (earlier \d+)", alice.messages())
        self.assertEqual(texts, [f"earlier {i}" for i in range(1, 71)])

    def test_a_registered_name_needs_its_password_and_finds_what_waited(self) -> None:
        server = Server(self)
        alice = LineUser(self, server.line_port)
        alice.send("alice")
        alice.send("/register correct-horse-battery")
        alice.wait_for(lambda line: line.startswith("*** alice is registered"))
        alice.send("/quit")
        alice.wait_for(lambda line: line.startswith("*** Bye"))
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.send("/msg alice sent while you were out")
        carol.wait_for(lambda line: line.startswith("*** alice is offline"))

        page = Page(self, server.url)
        page.until(lambda d: page.by_id("login-name").is_displayed(), "the login form")
        page.by_id("login-name").send_keys("alice")
        page.by_id("login-button").click()
        page.until(lambda d: page.by_id("login-password-error").text, "the password error")
        self.assertEqual(page.by_id("login-password").get_attribute("aria-invalid"), "true")
        page.by_id("login-password").send_keys("wrong-password")
        page.by_id("login-button").click()
        first = page.by_id("login-password-error").text
        page.until(lambda d: page.by_id("login-password-error").text not in ("", first), "the bad password error")
        page.by_id("login-password").clear()
        page.by_id("login-password").send_keys("correct-horse-battery")
        page.by_id("login-button").click()
        page.until(lambda d: page.by_id("chat").is_displayed(), "alice logged in")
        page.until(lambda d: page.css("#private-list .badge"), "the waiting message's unread mark")
        page.open("carol")
        page.wait_message("sent while you were out")
        (item,) = page.css("li.msg.delayed")
        self.assertIn("delayed", item.text)

    def test_what_the_account_does_on_another_device_shows_on_the_page_as_its_own(self) -> None:
        server = Server(self)
        laptop = LineUser(self, server.line_port)
        laptop.send("alice")
        laptop.send("/register correct-horse-battery")
        laptop.wait_for(lambda line: line.startswith("*** alice is registered"))
        page = Page(self, server.url)
        page.login("alice", "correct-horse-battery")
        laptop.wait_for(lambda line: "alice is now also logged in via web" in line)
        # Joined on the terminal: the page is in the room too, and shows what
        # was typed there as its own.
        laptop.send("/join #ops")
        page.open("#ops")
        laptop.send("typed on the laptop")
        page.wait_message("typed on the laptop")
        (own,) = [m for m in page.css("li.msg") if "typed on the laptop" in m.text]
        self.assertIn("own", own.get_attribute("class"))
        # And what the page sends reaches the terminal as alice's.
        page.say("typed in the browser")
        laptop.wait_for("[#ops] <alice> typed in the browser")
        if os.environ.get("TCHAT_SCREENSHOTS"):
            page.driver.save_screenshot(os.path.join(os.environ["TCHAT_SCREENSHOTS"], "two-sessions.png"))
        # Left on the terminal: gone from the page.
        laptop.send("/part #ops")
        page.until(lambda d: not page._button("button.conv", "data-key", "#ops"), "#ops gone from the list")

    def test_on_a_phone_the_lists_fold_away_behind_buttons(self) -> None:
        server = Server(self)
        phone = Page(self, server.url, width=360, height=740)
        phone.login("pat")
        self.assertFalse(phone.by_id("rooms-panel").is_displayed())
        self.assertFalse(phone.by_id("people-panel").is_displayed())
        self.assertTrue(phone.by_id("input").is_displayed())
        width = phone.driver.execute_script("return document.documentElement.scrollWidth")
        self.assertLessEqual(width, phone.driver.execute_script("return window.innerWidth"))
        phone.by_id("toggle-people").click()
        phone.until(lambda d: phone.by_id("people-panel").is_displayed(), "the people panel")
        # The list is drawn when the room's member list arrives, which can be
        # after the panel shows (it read "(online)" alone once in CI).
        phone.until(lambda d: "pat" in phone.by_id("member-list").text, "pat in the people list")
        self.assertIn("pat", phone.by_id("member-list").text)
        phone.by_id("toggle-rooms").click()
        phone.until(lambda d: phone.by_id("rooms-panel").is_displayed(), "the rooms panel")
        phone.until(lambda d: not phone.by_id("people-panel").is_displayed(), "the people panel to fold")
        phone.open("#lobby")
        phone.until(lambda d: not phone.by_id("rooms-panel").is_displayed(), "the rooms panel to fold")


# Lines typed in the page's message box, and what each must become with
# #lobby open (commands.js parseInput, reading with the server's table).
TYPED: list[tuple[str, dict[str, Any]]] = [
    ("hello there", {"send": {"action": "msg", "to": "#lobby", "text": "hello there"}}),
    ("//shrug", {"send": {"action": "msg", "to": "#lobby", "text": "/shrug"}}),
    ("/msg bob hi there", {"send": {"action": "msg", "to": "bob", "text": "hi there"}, "open": "bob"}),
    ("/para bob oi", {"send": {"action": "msg", "to": "bob", "text": "oi"}, "open": "bob"}),
    ("/to bob yo", {"send": {"action": "msg", "to": "bob", "text": "yo"}, "open": "bob"}),
    ("/W bob hey", {"send": {"action": "msg", "to": "bob", "text": "hey"}, "open": "bob"}),
    ("/me waves", {"send": {"action": "msg", "to": "#lobby", "text": "waves", "kind": "action"}}),
    ("/join #dev", {"send": {"action": "join", "room": "#dev"}}),
    ("/join dev", {"send": {"action": "join", "room": "#dev"}}),
    ("/part", {"send": {"action": "part", "room": "#lobby"}}),
    ("/part see you", {"send": {"action": "part", "room": "#lobby", "reason": "see you"}}),
    ("/leave #dev later", {"send": {"action": "part", "room": "#dev", "reason": "later"}}),
    ("/room #dev", {"local": "room", "room": "#dev"}),
    ("/users", {"send": {"action": "users"}}),
    ("/who #dev", {"send": {"action": "users", "room": "#dev"}}),
    ("/online", {"send": {"action": "users"}}),
    ("/rooms", {"send": {"action": "rooms"}}),
    ("/list", {"send": {"action": "rooms"}}),
    ("/whoami", {"send": {"action": "whoami"}}),
    ("/quit", {"send": {"action": "quit"}}),
    ("/sair tchau", {"send": {"action": "quit", "reason": "tchau"}}),
    ("/exit", {"send": {"action": "quit"}}),
    ("/logout", {"send": {"action": "quit"}}),
    ("/help", {"send": {"action": "help"}}),
    ("/help join", {"send": {"action": "help", "command": "join"}}),
    ("/ping", {"send": {"action": "ping"}}),
    ("/admin s3cret", {"send": {"action": "admin", "password": "s3cret"}}),
    ("/oper s3cret", {"send": {"action": "admin", "password": "s3cret"}}),
    # A room's commands name the open room when they name none, as a terminal's name its current one
    # (there the hub makes a kick without a room an admin's kill; the page's admin types /kill).
    ("/kick bob flooding the room", {"send": {"action": "kick", "room": "#lobby", "user": "bob", "reason": "flooding the room"}}),
    ("/kick #dev bob", {"send": {"action": "kick", "room": "#dev", "user": "bob"}}),
    ("/kill bob flooding", {"send": {"action": "kill", "user": "bob", "reason": "flooding"}}),
    ("/topic", {"send": {"action": "topic", "room": "#lobby"}}),
    ("/topic Release on Friday", {"send": {"action": "topic", "room": "#lobby", "topic": "Release on Friday"}}),
    ("/topic #dev שלום עולם", {"send": {"action": "topic", "room": "#dev", "topic": "שלום עולם"}}),
    ("/op bob", {"send": {"action": "op", "room": "#lobby", "user": "bob"}}),
    ("/deop #dev bob", {"send": {"action": "deop", "room": "#dev", "user": "bob"}}),
    ("/voice bob", {"send": {"action": "voice", "room": "#lobby", "user": "bob"}}),
    ("/devoice bob", {"send": {"action": "devoice", "room": "#lobby", "user": "bob"}}),
    ("/ban bob 2h", {"send": {"action": "ban", "room": "#lobby", "user": "bob", "duration": 7200}}),
    ("/unban bob", {"send": {"action": "unban", "room": "#lobby", "user": "bob"}}),
    ("/bans", {"send": {"action": "bans", "room": "#lobby"}}),
    ("/mute bob", {"send": {"action": "mute", "room": "#lobby", "user": "bob"}}),
    ("/unmute #dev bob", {"send": {"action": "unmute", "room": "#dev", "user": "bob"}}),
    ("/invite bob", {"send": {"action": "invite", "room": "#lobby", "user": "bob"}}),
    ("/invite bob #dev", {"send": {"action": "invite", "room": "#dev", "user": "bob"}}),
    ("/mode", {"send": {"action": "mode", "room": "#lobby"}}),
    ("/mode +mi", {"send": {"action": "mode", "room": "#lobby", "set": {"moderated": True, "invite_only": True}}}),
    ("/nick robert", {"send": {"action": "nick", "user": "robert"}}),
    ("/whois bob", {"send": {"action": "whois", "user": "bob"}}),
    ("/away lunch", {"send": {"action": "away", "text": "lunch"}}),
    ("/shutdown back in 5", {"send": {"action": "shutdown", "reason": "back in 5"}}),
    ("/debug", {"send": {"action": "debug"}}),
    ("/history", {"send": {"action": "history", "target": "#lobby", "limit": 50}, "open": "#lobby"}),
    ("/history #dev 20", {"send": {"action": "history", "target": "#dev", "limit": 20}, "open": "#dev"}),
    ("/history bob", {"send": {"action": "history", "target": "bob", "limit": 50}, "open": "bob"}),
    ("/history 10", {"send": {"action": "history", "target": "#lobby", "limit": 10}, "open": "#lobby"}),
    ("/register hunter22", {"send": {"action": "register", "password": "hunter22"}}),
    ("/passwd old1 new2", {"send": {"action": "passwd", "old": "old1", "new": "new2"}}),
    ('/passwd "old one" "new two"', {"send": {"action": "passwd", "old": "old one", "new": "new two"}}),
    ("/register correct horse", {"send": {"action": "register", "password": "correct horse"}}),
    ("/contacts", {"send": {"action": "contacts"}}),
    ("/contact add bob", {"send": {"action": "contact_add", "user": "bob"}}),
    ("/contact del bob", {"send": {"action": "contact_del", "user": "bob"}}),
    ("/seen bob", {"send": {"action": "seen", "user": "bob"}}),
    ("/password old1 new2", {"send": {"action": "passwd", "old": "old1", "new": "new2"}}),
    ("/contact remove bob", {"send": {"action": "contact_del", "user": "bob"}}),
    ("/accounts", {"send": {"action": "accounts"}}),
    ("/account create dave pw123456", {"send": {"action": "account_create", "user": "dave", "password": "pw123456"}}),
    ("/account delete dave", {"send": {"action": "account_delete", "user": "dave"}}),
    ("/account reset dave pw654321", {"send": {"action": "account_reset", "user": "dave", "password": "pw654321"}}),
    ("/account reset dave", {"error": "missing PASSWORD; usage: /account reset NAME PASSWORD"}),
    ("/clear", {"local": "clear"}),
    ("/clear now", {"error": "too many arguments; usage: /clear"}),
    ("/bogus", {"error": "unknown command /bogus; /help lists the commands"}),
    ("/msg bob", {"error": "missing TEXT; usage: /msg NAME TEXT"}),
    ("/whoami now", {"error": "too many arguments; usage: /whoami"}),
    ("   ", None),
]


# Lines typed on the page that the page reads with the server's table exactly
# as parse_text reads them on a terminal: every word of every form of the
# table, in three spellings, each with each of these tails; and lines of
# their own.
TAILS = [
    "", " ", "   ", " bob", " bob ", "  bob  ", " #dev", " #dev later on", " 12", " \u0663", " \u0663\u0664",
    " \u00b2", " 1_0", " +5", " bob 12", " #dev 5", " #dev 5 extra", " 5 5", " x y", " a b c d", ' "a b"',
    ' "a b" "c d"', ' "a b"c', ' "unclosed', ' "with \\"esc\\" \\\\ back"', ' ""', ' "" x', ' bob ""',
    " \tx", " x\t", " x\x1c", " bob 'it's'", ' bob it\'s "so"', " bob \x01ctl", " bob 12 extra words",
]
OWN_LINES = [
    "", "   ", "\t", "hello", " hello", "//x", "//", "/", "/ ", "/ x", "/bogus", "/bogus x", "/contact",
    "/contact frob", "/contact frob bob", "/account", "/account x y", "/\u212aick bob", "/ping\x1c", "/ping\ufeff",
    "/ping\xa0x", "/join\t#dev", "/msg  bob  hi  there  ", "/history \u00b2 5", "/history bob \u00b2",
    "/history #dev \u0663", "/contact  add  bob", "/CONTACT DEL bob", '/passwd "a b" "c d"',
    "/register correct horse", "/login bob pass with spaces", "/admin x y", "/account create bob pw words",
    "/account reset bob pw words",
    # Durations and mode changes, which the page reads as the server does too.
    "/ban #dev bob 10m", "/ban bob 2H", "/mute bob 0", "/mute bob 400d", "/ban bob 9999999999", "/ban bob \u0663",
    "/ban bob 10\u017f", "/ban bob m", "/mode #dev +mi-t+kl key 20", "/mode +k", "/mode #dev +l many", "/mode +x",
    "/mode +k a,b", "/mode +l 0", "/mode +-", "/mode m", "/mode -k+l 5 extra", "/mode +k \x01", "/mode +H-H",
    "/mode +l 100001", "/mode +k 12345678901234567890123456789012345678901234567890123456789012345",
]


def typed_lines() -> list[str]:
    from tchat.commands import COMMANDS

    lines = list(OWN_LINES)
    for command in COMMANDS:
        for form in command.forms:
            for word in form.words:
                for spelt in sorted({word, word.upper(), word.title()}):
                    lines += [f"/{spelt}{tail}" for tail in TAILS]
    return lines


def server_reads(line: str) -> Any:
    """What parse_text makes of a line, in the shape of the page's parseCommand."""
    from tchat.commands import BadRequest, parse_text

    try:
        request = parse_text(line)
    except BadRequest as e:
        return {"error": {"code": e.code, "text": e.text}}
    return None if request is None else {"action": request.action, "args": request.args}


class TypedCommandTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        require_browser(self)

    def run_in_page(self, page: Page, call: str, lines: list[str]) -> list[Any]:
        """``call`` (of commands.js as ``m``) on each line, once the server's table is in use."""
        return page.driver.execute_async_script(  # type: ignore[no-any-return]
            "const [lines, done] = arguments;"
            f"import('/commands.js').then((m) => m.ready.then(() => done(lines.map((l) => {call}))));",
            lines,
        )

    def test_typed_commands_become_the_requests_a_terminal_would_send(self) -> None:
        server = Server(self)
        page = Page(self, server.url)
        results = self.run_in_page(page, "m.parseInput(l, { current: '#lobby' })", [line for line, _ in TYPED])
        for (line, expected), got in zip(TYPED, results):
            self.assertEqual(got, expected, line)

    def test_the_page_reads_every_typed_line_as_the_server_does(self) -> None:
        """The page has no table of its own: for every form in the server's, it reads what the server reads."""
        server = Server(self)
        page = Page(self, server.url)
        lines = typed_lines()
        results = self.run_in_page(page, "m.parseCommand(l)", lines)
        self.assertEqual(len(results), len(lines))
        differ = [(line, server_reads(line), got) for line, got in zip(lines, results) if got != server_reads(line)]
        if differ:
            self.fail(f"{len(differ)} of {len(lines)} lines read differently, such as:\n" + "\n".join(
                f"{line!r}\n  server: {server!r}\n  page:   {page!r}" for line, server, page in differ[:10]
            ))

    def test_without_the_servers_table_commands_wait_and_messages_go(self) -> None:
        """
        /protocol.json cannot be fetched: a typed /command says so and sends
        nothing, a plain message is sent, and once the table can be fetched
        the page gets it by itself and commands work.
        """
        server = Server(self)
        page = Page(self, "about:blank")
        page.driver.execute_cdp_cmd("Network.enable", {})
        page.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/protocol.json"]})
        page.driver.get(server.url)
        page.login("tester")
        page.say("/whoami")
        page.wait_message("the page has not got the list of commands from the server yet, so it cannot read /whoami")
        page.say("plain words still go")
        page.wait_message("plain words still go")
        self.assertNotIn("You are tester", page.messages())
        self.assertFalse(page.driver.execute_script("return import('/commands.js').then((m) => m.isLoaded())"))
        page.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        # The page tries again within 5 s: wait for it to have the table.
        page.driver.execute_async_script("const done = arguments[0]; import('/commands.js').then((m) => m.ready.then(done));")
        page.say("/whoami")
        page.wait_message("You are tester")

# A stand-in for the server inside the page, for what the real server may not
# do yet: history. It answers login and users, and serves 120 messages of
# #lobby a page at a time; or, with window.__noHistory, says history is an
# unknown command, as a server without it does.
FAKE_SERVER = r"""
(() => {
  const all = [];
  for (let i = 1; i <= 120; i++) {
    // zed is an account, the tester a guest
    all.push({event: "message", msgid: "m" + i, from: i % 2 ? "zed" : "tester", to: "#lobby",
              text: "old message " + i, kind: "public", ts: 1700000000 + i * 60, ...(i % 2 ? {registered: true} : {})});
  }
  window.__requests = [];
  class FakeSocket extends EventTarget {
    constructor(url) {
      super();
      this.readyState = 0;
      setTimeout(() => { this.readyState = 1; this.dispatchEvent(new Event("open")); }, 0);
    }
    reply(obj) {
      const e = new MessageEvent("message", {data: JSON.stringify({ts: Date.now() / 1000, ...obj}) + "\r\n"});
      setTimeout(() => this.dispatchEvent(e), 0);
    }
    send(text) {
      const req = JSON.parse(text);
      window.__requests.push(req);
      const re = req.id;
      if (req.action === "login") {
        this.reply({event: "welcome", server: "fake", version: "0"});
        this.reply({event: "logged_in", re, user: req.user, rooms: ["#lobby"], users: [req.user, "zed"]});
        this.reply({event: "message", msgid: "d1", from: "zed", to: req.user, text: "sent while you were out",
                    kind: "private", ts: 1700000000, delayed: true, registered: true});
      } else if (req.action === "users") {
        this.reply({event: "users", re, room: req.room, users: [this.user || "tester", "zed"]});
      } else if (req.action === "join") {
        this.reply({event: "ok", re, room: req.room, users: ["tester"]});
      } else if (req.action === "msg") {
        if (req.text === "unkept") {
          this.reply({event: "error", re, code: "unavailable", delivered: true, msgid: "u1",
                      text: "your message was delivered, but not kept in the history: the database did not answer within 10 s"});
        } else {
          this.reply({event: "ok", re, msgid: "k" + re});
        }
      } else if (req.action === "history") {
        if (window.__noHistory) {
          this.reply({event: "error", re, code: "unknown_command", text: "unknown action 'history'"});
          return;
        }
        const end = req.before ? all.findIndex((m) => m.msgid === req.before) : all.length;
        const start = Math.max(0, end - req.limit);
        this.reply({event: "history", re, target: req.target, messages: all.slice(start, end), more: start > 0});
      }
    }
    close() { this.readyState = 3; }
  }
  FakeSocket.OPEN = 1;
  window.WebSocket = FakeSocket;
})();
"""


class HistoryTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        require_browser(self)

    def page_with_fake_server(self, no_history: bool = False) -> Page:
        server = Server(self)
        page = Page(self, "about:blank")
        source = FAKE_SERVER + ("window.__noHistory = true;" if no_history else "")
        page.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
        page.driver.get(server.url)
        page.login("tester")
        return page

    def history_requests(self, page: Page) -> list[dict[str, Any]]:
        return [r for r in page.driver.execute_script("return window.__requests") if r["action"] == "history"]

    def test_a_message_delivered_but_not_kept_shows_as_sent_with_why(self) -> None:
        page = self.page_with_fake_server()
        page.wait_message("old message 120")
        page.say("unkept")
        page.wait_message("not kept in the history")
        self.assertTrue(page.css("li.msg.own[data-msgid='u1']"))
        self.assertNotIn("Not sent", page.messages())
        self.assertEqual(page.by_id("input").get_attribute("value"), "")

    def test_history_loads_when_a_room_opens_and_older_pages_on_scrolling_up(self) -> None:
        page = self.page_with_fake_server()
        page.wait_message("old message 120")
        self.assertIn("old message 71", page.messages())
        self.assertNotIn("old message 70\n", page.messages() + "\n")
        first = self.history_requests(page)
        self.assertEqual([(r["target"], r["limit"], r.get("before")) for r in first], [("#lobby", 50, None)])
        # the person's own messages from before are marked as theirs
        self.assertTrue(page.css("li.msg.own[data-msgid='m120']"))
        # history marks guests as live messages do: the account zed bare, the guest tester with ~
        self.assertEqual(page.css("li[data-msgid='m119'] .from")[0].text, "zed")
        self.assertEqual(page.css("li[data-msgid='m120'] .from")[0].text, "~tester")

        scroll_up = "const m = document.getElementById('messages'); m.scrollTop = 0; m.dispatchEvent(new Event('scroll'));"
        page.driver.execute_script(scroll_up)
        page.until(lambda d: "old message 21" in page.messages(), "the second page")
        self.assertEqual(self.history_requests(page)[-1].get("before"), "m71")
        page.driver.execute_script(scroll_up)
        page.until(lambda d: "old message 1\n" in page.messages() + "\n", "the last page")
        self.assertEqual(self.history_requests(page)[-1].get("before"), "m21")
        ids = page.driver.execute_script(
            "return [...document.querySelectorAll('#logs ol:not([hidden]) li[data-msgid]')].map((li) => li.dataset.msgid)"
        )
        self.assertEqual(ids, [f"m{i}" for i in range(1, 121)])  # in order, none twice
        page.until(lambda d: not page.by_id("older").is_displayed(), "no more older messages")
        asked = len(self.history_requests(page))
        page.driver.execute_script(scroll_up)
        self.assertEqual(len(self.history_requests(page)), asked)

    def test_a_delayed_message_shows_its_own_time_and_a_mark(self) -> None:
        page = self.page_with_fake_server()
        page.open("zed")
        page.wait_message("sent while you were out")
        (item,) = page.css("li.msg.delayed")
        self.assertIn("delayed", item.text)
        self.assertEqual(item.find_element("css selector", ".from").text, "zed")  # from an account: bare
        time = item.find_element("css selector", "time")
        self.assertEqual(time.get_attribute("datetime"), "2023-11-14T22:13:20.000Z")
        self.assertEqual(time.text, page.driver.execute_script(
            "const d = new Date(1700000000 * 1000);"
            "return d.toLocaleDateString(undefined, {day: 'numeric', month: 'short'}) + ' '"
            " + String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');"
        ))

    def test_without_history_on_the_server_the_page_asks_once(self) -> None:
        page = self.page_with_fake_server(no_history=True)
        page.until(lambda d: page.by_id("history-note").is_displayed(), "the note that there is no history")
        page.by_id("join-room").send_keys("#other")
        page.by_id("join-form").submit()
        page.until(lambda d: page.by_id("conv-title").text == "#other", "#other open")
        page.say("/room #lobby")
        page.until(lambda d: page.by_id("conv-title").text == "#lobby", "#lobby open again")
        self.assertEqual(len(self.history_requests(page)), 1)


# What each dot says (on, off or unknown), by the name beside it, read in one
# go: the page redraws its lists whenever someone comes or goes.
DOTS = """
const found = {};
for (const item of document.querySelectorAll(arguments[0])) {
  const dot = item.querySelector(".dot");
  const look = dot ? ["on", "off", "unknown"].find((c) => dot.classList.contains(c)) || "none" : "none";
  found[item.querySelector(".name").textContent] = look;
}
return found;
"""


def private_dots(page: Page) -> dict[str, str]:
    """Each private conversation in the list, and what its dot says."""
    return page.driver.execute_script(DOTS, "#private-list button.conv")


def member_dots(page: Page) -> dict[str, str]:
    """Each name under People, and what its dot says."""
    return page.driver.execute_script(DOTS, "#member-list li.member")


class PresenceTests(TestCase):
    """Who the page says is online: only what the server's lists and events say."""

    timeout = 120

    def setUp(self) -> None:
        require_browser(self)

    def away_account(self, server: Server, name: str, password: str) -> None:
        """An account that logs in once on a terminal and leaves."""
        user = LineUser(self, server.line_port)
        user.send(name)
        user.send(f"/register {password}")
        user.wait_for(lambda line: line.startswith(f"*** {name} is registered"))
        user.send("/quit")
        user.wait_for(lambda line: line.startswith("*** Bye"))

    def writes_and_leaves(self, server: Server, name: str, to: str, text: str, password: str | None = None) -> None:
        """``name`` writes to ``to``, who is away, and leaves (a guest, or an account with ``password``)."""
        user = LineUser(self, server.line_port)
        user.send(name)
        if password:
            user.send(f"/register {password}")
            user.wait_for(lambda line: line.startswith(f"*** {name} is registered"))
        user.send(f"/msg {to} {text}")
        user.wait_for(lambda line: line.startswith(f"*** {to} is offline"))
        user.send("/quit")
        user.wait_for(lambda line: line.startswith("*** Bye"))

    def test_a_guest_who_wrote_while_you_were_away_is_offline_and_a_reply_is_not_sent(self) -> None:
        server = Server(self)
        self.away_account(server, "alice", "correct-horse-battery")
        self.writes_and_leaves(server, "gus", "alice", "are you there?")
        page = Page(self, server.url)
        page.login("alice", "correct-horse-battery")
        page.open("gus")
        page.wait_message("are you there?")
        page.until(lambda d: "gus is offline" in page.by_id("conv-note").text, "the note that gus is offline")
        self.assertTrue(page.by_id("conv-note").is_displayed())
        self.assertEqual(private_dots(page), {"gus": "off"})
        self.assertEqual(page.by_id("conv-subtitle").text, "offline")
        page.show_panel("toggle-people")
        self.assertEqual(member_dots(page)["gus"], "off")

        page.say("still there?")
        page.wait_message("gus is not online, and is no registered user (messages wait only for those): it was not sent")
        (mine,) = [li for li in page.css("li.msg.own") if "still there?" in li.text]
        self.assertIn("unsent", mine.get_attribute("class").split())
        self.assertEqual(mine.find_element("css selector", ".mark").text, "not sent")
        self.assertEqual(private_dots(page), {"gus": "off"})
        self.assertEqual(page.errors(), [])

    def test_a_reply_to_an_account_who_is_away_is_marked_as_waiting(self) -> None:
        server = Server(self)
        self.away_account(server, "alice", "correct-horse-battery")
        self.writes_and_leaves(server, "hal", "alice", "call me back", password="hals-long-password")
        page = Page(self, server.url)
        page.login("alice", "correct-horse-battery")
        page.open("hal")
        page.wait_message("call me back")
        page.until(lambda d: "hal is offline" in page.by_id("conv-note").text, "the note that hal is offline")
        self.assertIn("wait", page.by_id("conv-note").text)  # what is sent to an account waits for it
        self.assertEqual(private_dots(page), {"hal": "off"})

        page.say("will do, tomorrow")
        page.wait_message("hal is offline; they will get it when they log in")
        (mine,) = [li for li in page.css("li.msg.own") if "will do, tomorrow" in li.text]
        self.assertEqual(mine.find_element("css selector", ".mark").text, "waiting")
        self.assertNotIn("unsent", mine.get_attribute("class").split())

        # hal comes back: the message reaches him, and the page sees him arrive.
        hal = LineUser(self, server.line_port)
        hal.send("/login hal hals-long-password")
        hal.wait_for(lambda line: "will do, tomorrow" in line)
        page.until(lambda d: private_dots(page) == {"hal": "on"}, "hal online again")
        page.until(lambda d: not page.by_id("conv-note").is_displayed(), "the offline note gone")
        self.assertEqual(page.by_id("conv-subtitle").text, "online")

    def test_someone_who_quits_is_shown_offline_in_your_conversation_with_them(self) -> None:
        server = Server(self)
        page = Page(self, server.url)
        page.login("alice")
        gus = LineUser(self, server.line_port)
        gus.send("gus")
        gus.wait_for(lambda line: line.startswith("*** You are gus."))
        page.talk_with("gus")
        page.until(lambda d: private_dots(page) == {"gus": "on"}, "gus online")
        self.assertFalse(page.by_id("conv-note").is_displayed())
        gus.send("/quit gone fishing")
        page.until(lambda d: private_dots(page) == {"gus": "off"}, "gus offline")
        page.until(lambda d: "gus is offline" in page.by_id("conv-note").text, "the note that gus is offline")


# For the name on the left, whether the text mentions it: whole names only,
# in any case and any script, as the server compares names.
MENTIONS: list[tuple[str, str, bool]] = [
    ("ice", "what a nice price", False),
    ("ice", "dice and mice", False),
    ("ice", "ice: are you there?", True),
    ("ice", "thanks, ice.", True),
    ("ice", "ice... hello?", True),
    ("ice", "ask @ice", True),
    ("ice", "(ice)", True),
    ("ice", "ice's turn", True),
    ("ice", "ICE, look", True),
    ("ice", "ice_cream for all", False),
    ("ice", "ice.cream is someone else", False),
    ("ice", "so is ice-cream", False),
    ("ice", "and ice2", False),
    ("ice", "ic\u00e9 is not ice either", True),  # the second word is
    ("ice", "ic\u00e9 alone", False),
    ("ice", "ice\u0301 with a combining accent", False),
    ("ice", "", False),
    ("a.b", "hi a.b.", True),
    ("a.b", "hi a.bc", False),
    ("\u0416\u0430\u043d\u043d\u0430", "\u0436\u0430\u043d\u043d\u0430, \u043f\u0440\u0438\u0432\u0435\u0442", True),
    ("\u0416\u0430\u043d\u043d\u0430", "\u0416\u0410\u041d\u041d\u0410!", True),
    ("\u0416\u0430\u043d\u043d\u0430", "\u0416\u0430\u043d\u043d\u0430\u044b \u043f\u0440\u0438\u0448\u043b\u0430", False),
    ("\u0416\u0430\u043d\u043d\u0430", "\u0416\u0430\u043d\u043d\u04302 \u0442\u043e\u0436\u0435", False),
    ("Zo\u00eb", "zoe\u0308 is here", True),  # the same name, decomposed
    ("Zo\u00eb", "Zo\u00eblle", False),
    ("stra\u00dfe", "STRASSE here", True),  # the server folds \u00df to ss
    ("\u0928\u0947\u0939\u093e", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0928\u0947\u0939\u093e", True),
]


class MentionTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        require_browser(self)

    def test_a_mention_is_the_whole_name_in_any_case_and_any_script(self) -> None:
        server = Server(self)
        page = Page(self, server.url)
        results = page.driver.execute_async_script(
            "const [cases, done] = arguments;"
            "import('/view.js').then((m) => done(cases.map(([me, text]) => m.mentions(text, me))))"
            ".catch((e) => done(String(e)));",
            [[me, text] for me, text, _ in MENTIONS],
        )
        self.assertEqual(
            [(me, text, got) for (me, text, _), got in zip(MENTIONS, results)],
            MENTIONS,
        )

        # And on screen, from the real server.
        page.login("ice")
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.send("what a nice price")
        carol.send("ice: lunch?")
        page.wait_message("ice: lunch?")
        marked = {li.find_element("css selector", ".text").text: "mention" in li.get_attribute("class").split()
                  for li in page.css("li.msg")}
        self.assertEqual(marked, {"what a nice price": False, "ice: lunch?": True})


class BeforeAndAfterLoginTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        require_browser(self)

    def test_the_login_screen_shows_the_server_name_and_the_message_of_the_day(self) -> None:
        server = Server(self, 0, 0, "--server-name", "Acme chat", "--motd", "Be kind. Maintenance at 22:00.")
        page = Page(self, server.url)
        page.until(lambda d: page.by_id("login-motd").text == "Be kind. Maintenance at 22:00.", "the MOTD on the login screen")
        self.assertTrue(page.by_id("login-motd").is_displayed())
        page.until(lambda d: page.driver.title == "Acme chat", "the server's name as the title")
        self.assertIn("Acme chat", page.by_id("login-server").text)
        page.login("alice")
        page.until(lambda d: page.driver.title == "alice – Acme chat", "the title after login")
        page.wait_message("Be kind. Maintenance at 22:00.")
        # Looking did not hold a connection open: only the logged-in one is left.
        page.until(lambda d: "left before logging in" in server.log(), "the first look's connection closed")

    def test_while_disconnected_the_people_list_says_who_is_here_is_not_known(self) -> None:
        server = Server(self)
        page = Page(self, server.url)
        page.login("alice")
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        page.until(lambda d: member_dots(page) == {"alice": "on", "carol": "on"}, "carol under People")
        page.say("/msg carol hi")
        carol.wait_for("[private] <~alice> hi")
        page.until(lambda d: private_dots(page) == {"carol": "on"}, "carol online in the private list")
        page.open("#lobby")

        server.stop()
        page.until(lambda d: "Reconnecting in" in page.by_id("status").text, "the reconnect message")
        self.assertEqual(member_dots(page), {})
        self.assertIn("not known", page.by_id("people-note").text)
        self.assertTrue(page.by_id("people-note").is_displayed())
        self.assertEqual(private_dots(page), {"carol": "unknown"})
        self.assertEqual(page.by_id("conv-subtitle").text, "not connected")

        Server(self, line_port=server.line_port, web_port=server.web_port)
        page.until(lambda d: "Reconnected" in page.by_id("status").text, "the reconnected message")
        page.until(lambda d: member_dots(page) == {"alice": "on"}, "the people list back (carol did not come back)")
        self.assertFalse(page.by_id("people-note").is_displayed())
        page.until(lambda d: private_dots(page) == {"carol": "off"}, "carol offline")

    def test_losing_and_getting_back_the_connection_each_look_their_own(self) -> None:
        server = Server(self)
        page = Page(self, server.url)
        page.login("alice")
        look = ("const s = getComputedStyle(arguments[0]);"
                " return [s.backgroundColor, s.color, s.borderLeftColor];")

        server.stop()
        page.until(lambda d: "Reconnecting in" in page.by_id("status").text, "the reconnect message")
        lost = page.driver.execute_script(look, page.by_id("status"))
        self.assertIn("Reconnecting in", page.by_id("announcer").get_attribute("textContent"))
        (down,) = [li for li in page.css("li.line") if "Disconnected" in li.text]
        down_look = page.driver.execute_script(look, down)

        Server(self, line_port=server.line_port, web_port=server.web_port)
        page.until(lambda d: "Reconnected" in page.by_id("status").text, "the reconnected message")
        back = page.driver.execute_script(look, page.by_id("status"))
        self.assertEqual(page.by_id("announcer").get_attribute("textContent"), "Reconnected")
        self.assertNotEqual(lost, back)
        (up,) = [li for li in page.css("li.line") if "Reconnected." in li.text]
        self.assertNotEqual(down_look, page.driver.execute_script(look, up))

    def test_the_page_retries_within_five_seconds_and_at_once_when_the_browser_is_back(self) -> None:
        server = Server(self)
        page = Page(self, server.url)
        delays = page.driver.execute_async_script(
            "const done = arguments[0];"
            "import('/connection.js').then((m) => { const b = new m.Backoff();"
            " done(Array.from({length: 12}, () => b.next())); }).catch((e) => done(String(e)));"
        )
        self.assertLessEqual(max(delays), 5)
        self.assertGreaterEqual(min(delays[5:]), 4)  # the cap, give or take the jitter

        page.login("alice")
        server.stop()
        # While it waits, the browser says the tab is visible again, or that
        # the network is back: either way the page tries at once (and, the
        # server still down, waits again).
        retry_on = (
            "const [fire] = arguments; const text = () => document.getElementById('status-text').textContent;"
            " const before = text(); if (!before.startsWith('Connection lost')) return null;"
            " fire === 'online' ? window.dispatchEvent(new Event('online'))"
            " : document.dispatchEvent(new Event('visibilitychange'));"
            " return [before, text()];"
        )
        before, after = page.until(lambda d: page.driver.execute_script(retry_on, "visibilitychange"), "a wait to cut short")
        self.assertIn("Reconnecting in", before)
        self.assertEqual(after, "Reconnecting…")
        before, after = page.until(lambda d: page.driver.execute_script(retry_on, "online"), "a wait to cut short")
        self.assertIn("Reconnecting in", before)
        self.assertEqual(after, "Reconnecting…")
        Server(self, line_port=server.line_port, web_port=server.web_port)
        page.until(lambda d: "Reconnected" in page.by_id("status").text, "the reconnected message")


# Each name under People and its mark ("op", "voiced" or "none"), and the
# actions its menu offers, read in one go (the list is redrawn as events come).
MEMBERS = """
const found = {};
for (const item of document.querySelectorAll("#member-list li.member")) {
  const actions = [...item.querySelectorAll("button.menu-item")].map((b) => b.dataset.action);
  found[item.querySelector(".name").textContent] = {rank: item.dataset.rank || "none", actions};
}
return found;
"""


def members(page: Page) -> dict[str, dict[str, Any]]:
    return page.driver.execute_script(MEMBERS)  # type: ignore[no-any-return]


def ranks(page: Page) -> dict[str, str]:
    return {name: m["rank"] for name, m in members(page).items()}


def choose(page: Page, name: str, action: str) -> None:
    """Open ``name``'s menu under People and click ``action`` in it, as a person does."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    page.show_panel("toggle-people")

    def click() -> bool:
        try:
            menu = next((m for m in page.css("details.member-menu") if m.get_attribute("data-name") == name), None)
            if menu is None:
                return False
            if menu.get_attribute("open") is None:
                menu.find_element(By.CSS_SELECTOR, "summary").click()
            item = next((b for b in menu.find_elements(By.CSS_SELECTOR, "button.menu-item")
                         if b.get_attribute("data-action") == action), None)
            if item is None or not item.is_displayed():
                return False
            item.click()
            return True
        except StaleElementReferenceException:
            return False

    page.until(lambda d: click(), f"{action} in {name}'s menu")


class ModerationTests(TestCase):
    """Rooms run by their operators, on the page: topics, op marks, the person's menu, kicks, invites."""

    timeout = 120

    def setUp(self) -> None:
        require_browser(self)

    def test_an_op_sets_the_topic_and_everyone_sees_it_above_the_room(self) -> None:
        server = Server(self)
        alice = Page(self, server.url)
        alice.login("alice")
        alice.say("/join #dev")
        alice.until(lambda d: alice.by_id("conv-title").text == "#dev", "alice in #dev")
        # alice made #dev: she is its op, and her page marks her so.
        alice.until(lambda d: ranks(alice) == {"alice": "op"}, "alice marked as #dev's operator")
        self.assertFalse(alice.by_id("topic").is_displayed())
        bob = Page(self, server.url)
        bob.login("bob")
        bob.say("/join #dev")
        bob.until(lambda d: ranks(bob) == {"alice": "op", "bob": "none"}, "bob's people: alice marked op")
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.send("/join #dev")
        carol.wait_for(lambda line: line.startswith("*** you joined #dev"))
        alice.until(lambda d: "carol" in ranks(alice), "carol under alice's People")

        # Typed in the page, without naming the room: the open room's topic.
        topic = "Release on Friday: https://example.org/plan שלום <b>bold?</b>"
        alice.say(f"/topic {topic}")
        for page in (alice, bob):
            page.until(lambda d, page=page: page.by_id("topic").is_displayed(), "the topic above the room")
            page.until(lambda d, page=page: page.by_id("topic-text").text == topic, "the topic's text")
            # As text, of its own direction, its address a link; no markup made of it.
            self.assertEqual(page.css("#topic-text [dir='auto']")[0].get_attribute("dir"), "auto")
            self.assertEqual(page.css("#topic-text a")[0].get_attribute("href"), "https://example.org/plan")
            self.assertEqual(page.css("#topic b"), [])
        bob.wait_message(f"alice set the topic: {topic}")
        carol.wait_for(f"*** alice set the topic of #dev: {topic}")

        # bob is no op and #dev is +t: the server refuses, and his page says why.
        bob.say("/topic mine now")
        bob.wait_message("(not_op)")
        self.assertEqual(bob.by_id("topic-text").text, topic)

        # One who joins later finds the topic in the answer to the join.
        dave = Page(self, server.url)
        dave.login("dave")
        dave.by_id("join-room").send_keys("dev")
        dave.by_id("join-form").submit()
        dave.until(lambda d: dave.by_id("conv-title").text == "#dev", "dave in #dev")
        dave.until(lambda d: dave.by_id("topic-text").text == topic, "the topic for dave")
        # And #lobby, which has none, shows no topic.
        dave.open("#lobby")
        dave.until(lambda d: not dave.by_id("topic").is_displayed(), "no topic above #lobby")

        # Set from a terminal, it changes on the pages at once.
        alice.say("/op carol")
        carol.wait_for("*** alice made carol an operator of #dev")
        bob.until(lambda d: ranks(bob).get("carol") == "op", "carol marked op on bob's page")
        carol.send("/topic #dev مرحبا from the terminal")
        for page in (alice, bob):
            page.until(lambda d, page=page: page.by_id("topic-text").text == "مرحبا from the terminal",
                       "the terminal's topic")
        self.assertEqual(alice.errors() + bob.errors() + dave.errors(), [])

    def test_an_op_kicks_someone_from_their_menu_and_they_are_out_of_the_room(self) -> None:
        server = Server(self)
        alice = Page(self, server.url)
        alice.login("alice")
        alice.say("/join #dev")
        alice.until(lambda d: alice.by_id("conv-title").text == "#dev", "alice in #dev")
        bob = Page(self, server.url)
        bob.login("bob")
        bob.say("/join #dev")
        bob.until(lambda d: bob.by_id("conv-title").text == "#dev", "bob in #dev")
        alice.until(lambda d: "bob" in ranks(alice), "bob under alice's People")

        # Only an op is offered op, kick, ban and mute; everyone may ask who someone is.
        self.assertEqual(members(alice)["bob"]["actions"], ["whois", "op", "kick", "ban", "mute"])
        bob.until(lambda d: ranks(bob) == {"alice": "op", "bob": "none"}, "alice marked op for bob")
        self.assertEqual(members(bob)["alice"]["actions"], ["whois"])
        # Typed all the same, the server refuses, and the page says so.
        bob.say("/kick alice")
        bob.wait_message("(not_op)")
        choose(bob, "alice", "whois")
        bob.wait_message("alice: guest, in #lobby, #dev")

        choose(alice, "bob", "kick")
        # bob's page: out of #dev, which stays listed and marked, with why.
        bob.wait_message("alice put you out of #dev")
        bob.until(lambda d: "out" in bob._button("button.conv", "data-key", "#dev").get_attribute("class"), "#dev marked out")
        self.assertEqual(bob.by_id("conv-subtitle").text, "not joined")
        self.assertEqual(ranks(bob), {})
        self.assertTrue(bob.by_id("rejoin").is_displayed())
        # alice's: bob is gone from #dev's people.
        alice.until(lambda d: "bob" not in ranks(alice), "bob gone from alice's People")
        alice.wait_message("bob is out of #dev")

        # bob joins again with the button; alice makes him an op from his menu.
        bob.by_id("rejoin").click()
        bob.until(lambda d: ranks(bob) == {"alice": "op", "bob": "none"}, "bob back in #dev")
        self.assertNotIn("out", bob._button("button.conv", "data-key", "#dev").get_attribute("class"))
        alice.until(lambda d: "bob" in ranks(alice), "bob back under alice's People")
        choose(alice, "bob", "op")
        alice.until(lambda d: ranks(alice) == {"alice": "op", "bob": "op"}, "bob marked op on alice's page")
        bob.until(lambda d: ranks(bob) == {"alice": "op", "bob": "op"}, "bob marked op on his own page")
        bob.wait_message("alice made you an operator of #dev")
        # Now bob is offered what ops do; a guest's room has no owner, so he
        # may put out alice, who made it, as any op.
        bob.until(lambda d: members(bob)["alice"]["actions"] == ["whois", "deop", "kick", "ban", "mute"], "bob's menu for alice")
        choose(bob, "alice", "kick")
        alice.wait_message("bob put you out of #dev")
        bob.until(lambda d: "alice" not in ranks(bob), "alice gone from bob's People")
        if os.environ.get("TCHAT_SCREENSHOTS"):
            alice.driver.save_screenshot(os.path.join(os.environ["TCHAT_SCREENSHOTS"], "moderation.png"))
        self.assertEqual(alice.errors() + bob.errors(), [])

    def test_invites_renames_bans_and_mutes_read_on_the_page(self) -> None:
        server = Server(self)
        bob = Page(self, server.url)
        bob.login("bob")
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.send("/join #secret")
        carol.send("/mode #secret +i")
        carol.wait_for(lambda line: "modes of #secret" in line)
        carol.send("/invite bob #secret")
        # An invitation: a prompt with a button that joins.
        bob.until(lambda d: bob.by_id("invites").is_displayed(), "the invitation")
        self.assertIn("carol invites you to #secret", bob.by_id("invites").text)
        bob.css("#invites button.invite-join")[0].click()
        bob.until(lambda d: bob.by_id("conv-title").text == "#secret", "bob in #secret")
        bob.until(lambda d: not bob.by_id("invites").is_displayed(), "the invitation gone once taken up")
        bob.until(lambda d: ranks(bob) == {"carol": "op", "bob": "none"}, "#secret's people")
        bob.until(lambda d: bob.by_id("modes").text == "+int", "#secret's modes")

        carol.send("/mute #secret bob 10m")
        bob.wait_message("carol muted you in #secret, until")
        carol.send("/unmute #secret bob")
        bob.wait_message("carol let you speak in #secret again")
        carol.send("/mode #secret +m")
        bob.wait_message("carol set +m on #secret")
        bob.until(lambda d: bob.by_id("modes").text == "+imnt", "#secret moderated")
        carol.send("/voice #secret bob")
        bob.until(lambda d: ranks(bob)["bob"] == "voiced", "bob marked voiced")

        # A guest renames: the page's own name, and the name under People.
        bob.say("/nick robert")
        bob.until(lambda d: bob.by_id("me").text == "robert", "bob called robert")
        bob.until(lambda d: ranks(bob) == {"carol": "op", "robert": "voiced"}, "robert under People, still voiced")
        carol.wait_for("*** bob is now robert")
        carol.send("/nick caroline")
        bob.wait_message("carol is now known as caroline")
        bob.until(lambda d: ranks(bob) == {"caroline": "op", "robert": "voiced"}, "caroline under People, still op")

        # A ban puts robert out; the invitation he took is spent.
        carol.send("/ban #secret robert")
        bob.wait_message("caroline banned you from #secret, for good")
        bob.wait_message("caroline put you out of #secret (banned)")
        bob.by_id("rejoin").click()
        bob.wait_message("(banned)")
        self.assertEqual(bob.errors(), [])


class AdminPage(Page):
    """The admin page (``/admin``) in one tab."""

    def __init__(self, case: TestCase, server: Server, width: int = 1100, height: int = 800) -> None:
        super().__init__(case, server.url + "admin", width, height)

    def log_in(self, password: str = "admin-pw") -> None:
        self.until(lambda d: self.by_id("login-password").is_displayed(), "the admin password form")
        field = self.by_id("login-password")
        field.clear()
        field.send_keys(password)
        self.by_id("login-button").click()

    def rows(self, body: str) -> list[str]:
        """The text of each row of a table (``connection-rows``, ``account-rows``)."""
        return [row.text for row in self.css(f"#{body} tr")]

    def row_with(self, body: str, name: str) -> Any:
        return next((row for row in self.css(f"#{body} tr") if row.text.split("\n")[0].split(" ")[0] == name), None)

    def press(self, body: str, name: str, act: str) -> bool:
        from selenium.common.exceptions import StaleElementReferenceException

        # The tables are redrawn every few seconds: find the button again if it went.
        try:
            found = [b for b in self.css(f"#{body} button[data-act='{act}']") if b.get_attribute("data-user") == name]
            if not found:
                return False
            found[0].click()
            return True
        except StaleElementReferenceException:
            return False


class AdminPageTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        require_browser(self)

    def test_a_wrong_password_is_refused_and_the_right_one_shows_who_is_connected(self) -> None:
        server = Server(self)
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.wait_for(lambda line: line.startswith("*** You are carol."))
        page = AdminPage(self, server)
        page.log_in("not-the-password")
        page.until(lambda d: page.by_id("login-error").text, "the wrong password's error")
        self.assertIn("wrong admin password", page.by_id("login-error").text)
        self.assertEqual(page.by_id("login-password").get_attribute("aria-invalid"), "true")
        self.assertFalse(page.by_id("dashboard").is_displayed())

        page.log_in()
        page.until(lambda d: page.by_id("dashboard").is_displayed(), "the dashboard")
        page.until(lambda d: page.row_with("connection-rows", "carol"), "carol among the connections")
        row = page.row_with("connection-rows", "carol").text
        for part in ("guest", "tcp", "127.0.0.1:", "#lobby", "Disconnect"):
            self.assertIn(part, row)
        # The page's own connection: no chat name, an admin, nothing to disconnect.
        page.until(lambda d: any("(not logged in)" in r and "admin" in r for r in page.rows("connection-rows")), "the page's own row")
        self.assertEqual(page.css("#connection-rows tr.anonymous button"), [])
        self.assertEqual(page.by_id("users-online").text, "1")
        self.assertRegex(page.by_id("uptime").text, r"^\d+ (s|min)")
        # The log pane: the server's own line about carol's login, with its level.
        page.until(lambda d: "carol logged in from 127.0.0.1" in page.by_id("log").text, "carol's login in the log")
        (line,) = [li for li in page.css("#log li") if "carol logged in" in li.text]
        self.assertIn("level-info", line.get_attribute("class"))
        self.assertIn("info", line.text.lower())
        # The table is live: someone who comes shows up without a click, and goes.
        dave = LineUser(self, server.line_port)
        dave.send("dave")
        page.until(lambda d: page.row_with("connection-rows", "dave"), "dave among the connections")
        page.until(lambda d: page.by_id("users-online").text == "2", "two users online")
        dave.send("/quit")
        page.until(lambda d: page.row_with("connection-rows", "dave") is None, "dave gone from the connections")
        # The password is in no storage, nor in the address, nor in the field.
        stored = page.driver.execute_script(
            "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), location.href])"
        )
        self.assertNotIn("admin-pw", stored)
        self.assertEqual(page.by_id("login-password").get_attribute("value"), "")
        self.assertEqual(page.errors(), [])

    def test_accounts_are_created_reset_and_deleted(self) -> None:
        server = Server(self)
        page = AdminPage(self, server)
        page.log_in()
        page.until(lambda d: page.by_id("dashboard").is_displayed(), "the dashboard")
        page.until(lambda d: page.by_id("accounts-empty").is_displayed(), "no accounts yet")

        # A refusal shows beside the form that caused it.
        page.by_id("create-name").send_keys("dora")
        page.by_id("create-password").send_keys("short")
        page.by_id("create-button").click()
        page.until(lambda d: page.by_id("create-error").text, "the weak password's error")
        self.assertEqual(page.by_id("create-password").get_attribute("aria-invalid"), "true")
        page.by_id("create-password").clear()
        page.by_id("create-password").send_keys("doras-first-password")
        page.by_id("create-button").click()
        page.until(lambda d: page.row_with("account-rows", "dora"), "dora among the accounts")
        self.assertIn("account dora created", page.by_id("accounts-result").text)
        self.assertEqual(page.by_id("create-error").text, "")
        self.assertIn("never", page.row_with("account-rows", "dora").text)  # never logged in

        dora = LineUser(self, server.line_port)
        dora.send("/login dora doras-first-password")
        dora.wait_for(lambda line: line.startswith("*** You are dora."))
        page.until(lambda d: "online now" in page.row_with("account-rows", "dora").text, "dora online in the accounts")
        page.until(lambda d: "account" in page.row_with("connection-rows", "dora").text, "dora marked as an account")

        # A new password: the old one stops working, the new one works.
        page.until(lambda d: page.press("account-rows", "dora", "reset"), "a click on dora\'s reset")
        page.until(lambda d: page.by_id("reset-dialog").is_displayed(), "the new password dialog")
        self.assertEqual(page.by_id("reset-user").text, "dora")
        page.by_id("reset-button").click()
        page.until(lambda d: page.by_id("reset-error").text, "the empty password's error")
        page.by_id("reset-password").send_keys("doras-second-password")
        page.by_id("reset-button").click()
        page.until(lambda d: not page.by_id("reset-dialog").is_displayed(), "the dialog to close")
        self.assertIn("new password set for dora", page.by_id("accounts-result").text)
        old = LineUser(self, server.line_port)
        old.send("/login dora doras-first-password")
        old.wait_for(lambda line: "wrong password" in line)
        new = LineUser(self, server.line_port)
        new.send("/login dora doras-second-password")
        new.wait_for(lambda line: line.startswith("*** You are dora."))

        # Deleting asks first; Cancel keeps the account.
        page.until(lambda d: page.press("account-rows", "dora", "delete"), "a click on dora\'s delete")
        page.until(lambda d: page.by_id("delete-dialog").is_displayed(), "the delete dialog")
        self.assertEqual(page.by_id("delete-user").text, "dora")
        page.css("#delete-dialog .cancel")[0].click()
        page.until(lambda d: not page.by_id("delete-dialog").is_displayed(), "the dialog to close")
        self.assertIsNotNone(page.row_with("account-rows", "dora"))
        page.until(lambda d: page.press("account-rows", "dora", "delete"), "a click on dora\'s delete")
        page.until(lambda d: page.by_id("delete-dialog").is_displayed(), "the delete dialog")
        page.by_id("delete-button").click()
        page.until(lambda d: page.row_with("account-rows", "dora") is None, "dora gone from the accounts")
        self.assertIn("account dora deleted", page.by_id("accounts-result").text)
        dora.send("/quit")
        new.send("/quit")
        page.until(lambda d: page.row_with("connection-rows", "dora") is None, "dora's sessions gone")
        guest = LineUser(self, server.line_port)
        guest.send("dora")  # the name is free again: no password asked
        guest.wait_for(lambda line: line.startswith("*** You are dora."))
        self.assertEqual(page.errors(), [])

    def test_disconnecting_a_user_closes_them_and_they_are_told_why(self) -> None:
        server = Server(self)
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.send("/join #dev")
        carol.wait_for(lambda line: line.startswith("*** you joined #dev"))
        watcher = LineUser(self, server.line_port)
        watcher.send("watcher")
        watcher.wait_for(lambda line: line.startswith("*** You are watcher."))
        page = AdminPage(self, server)
        page.log_in()
        page.until(lambda d: page.row_with("connection-rows", "carol"), "carol among the connections")
        self.assertIn("#dev", page.row_with("connection-rows", "carol").text)
        page.until(lambda d: page.press("connection-rows", "carol", "kill"), "a click on carol's Disconnect")
        page.until(lambda d: page.by_id("kill-dialog").is_displayed(), "the disconnect dialog")
        self.assertEqual(page.by_id("kill-user").text, "carol")
        page.by_id("kill-reason").send_keys("spamming the lobby")
        page.by_id("kill-button").click()
        carol.wait_for("*** You were kicked by an admin: spamming the lobby")
        with carol.changed:
            carol.changed.wait_for(lambda: carol.closed, WAIT)
        self.assertTrue(carol.closed)
        watcher.wait_for(lambda line: "carol" in line and "kicked by an admin: spamming the lobby" in line)
        page.until(lambda d: not page.by_id("kill-dialog").is_displayed(), "the dialog to close")
        self.assertIn("kicked carol", page.by_id("kill-result").text)
        page.until(lambda d: page.row_with("connection-rows", "carol") is None, "carol gone from the connections")
        page.until(lambda d: "kicked carol (kicked by an admin: spamming the lobby)" in page.by_id("log").text, "the kick in the log")
        self.assertEqual(page.errors(), [])

    def test_markup_in_names_reasons_and_the_log_is_shown_as_text(self) -> None:
        server = Server(self)
        page = AdminPage(self, server)
        page.driver.execute_script("window.__ran = []; window.alert = (m) => window.__ran.push(String(m));")
        page.log_in()
        page.until(lambda d: page.by_id("dashboard").is_displayed(), "the dashboard")
        # A name made of markup is refused, and the refusal is text.
        page.by_id("create-name").send_keys("<img src=x onerror=alert(1)>")
        page.by_id("create-password").send_keys("a-long-enough-password")
        page.by_id("create-button").click()
        page.until(lambda d: page.by_id("create-error").text, "the bad name's error")
        # A reason, a quit message and so the log hold markup.
        mallory = LineUser(self, server.line_port)
        mallory.send("mallory")
        mallory.wait_for(lambda line: line.startswith("*** You are mallory."))
        quitter = LineUser(self, server.line_port)
        quitter.send("quitter")
        quitter.wait_for(lambda line: line.startswith("*** You are quitter."))
        quitter.send("/quit <script>alert(2)</script>")
        page.until(lambda d: page.press("connection-rows", "mallory", "kill"), "a click on mallory's Disconnect")
        page.until(lambda d: page.by_id("kill-dialog").is_displayed(), "the disconnect dialog")
        page.by_id("kill-reason").send_keys('<img src=y onerror=alert(3)><b>bold</b>')
        page.by_id("kill-button").click()
        mallory.wait_for("*** You were kicked by an admin: <img src=y onerror=alert(3)><b>bold</b>")
        page.until(lambda d: "<img src=y onerror=alert(3)><b>bold</b>" in page.by_id("log").text, "the reason in the log, as text")
        page.until(lambda d: "quit: <script>alert(2)</script>" in page.by_id("log").text, "the quit message in the log, as text")
        self.assertEqual(page.css("#dashboard img:not(.title img), #dashboard script, #dashboard b"), [])
        self.assertEqual(page.css("#log img, #log b, #log script"), [])
        self.assertEqual(page.driver.execute_script("return window.__ran"), [])

    def test_the_page_proves_the_password_again_after_a_server_restart(self) -> None:
        server = Server(self)
        page = AdminPage(self, server)
        page.log_in()
        page.until(lambda d: page.by_id("dashboard").is_displayed(), "the dashboard")
        server.stop()
        page.until(lambda d: "Reconnecting in" in page.by_id("status").text, "the reconnect message")
        self.assertIn("not connected", page.by_id("updated").text)
        again = Server(self, line_port=server.line_port, web_port=server.web_port)
        page.until(lambda d: "Reconnected" in page.by_id("status").text, "the reconnected message")
        carol = LineUser(self, again.line_port)
        carol.send("carol")
        page.until(lambda d: page.row_with("connection-rows", "carol"), "carol among the connections")
        self.assertTrue(page.by_id("dashboard").is_displayed())
        # Log out forgets the password: the form again, and the tables emptied.
        page.by_id("logout").click()
        page.until(lambda d: page.by_id("login-password").is_displayed(), "the password form")
        self.assertEqual(page.css("#connection-rows tr"), [])

    def test_on_a_phone_each_row_is_a_card_and_nothing_is_wider_than_the_screen(self) -> None:
        server = Server(self)
        carol = LineUser(self, server.line_port)
        carol.send("carol")
        carol.wait_for(lambda line: line.startswith("*** You are carol."))
        page = AdminPage(self, server, width=390, height=844)
        page.log_in()
        page.until(lambda d: page.row_with("connection-rows", "carol"), "carol among the connections")
        self.assertLessEqual(page.css("#connections thead")[0].size["height"], 1)  # the headings: for screen readers only
        wide = page.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        self.assertLessEqual(wide, 0)
        labels = page.driver.execute_script(
            "return [...document.querySelectorAll('#connection-rows td')].map("
            "td => getComputedStyle(td, '::before').content)"
        )
        self.assertIn('"User"', labels)
        page.until(lambda d: page.press("connection-rows", "carol", "kill"), "a click on carol's Disconnect")
        page.until(lambda d: page.by_id("kill-dialog").is_displayed(), "the disconnect dialog")
        inner = page.driver.execute_script("return window.innerWidth")
        self.assertLess(inner, 768)  # the phone layout's width
        self.assertLessEqual(page.by_id("kill-dialog").size["width"], inner)
