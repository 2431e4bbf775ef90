"""
The client's side of the JSON-mode protocol, with no terminal in it.

L{ChatClient} is the protocol on the connection to the server (and, when
it comes back after a lost connection, on each new one). A front-end
(the terminal UI, or piped stdin) gives it what the person typed and shows
what it is told to show, through the small L{Display} interface; everything
else lives here, where a test can drive it with a C{StringTransport}:

- the login, sent first (the server switches to JSON mode on it), or a
  silent ping first when the person has not typed a name yet;
- the password: a given one (C{TCHAT_PASSWORD}, C{--password-file}) goes
  with the first login; when the server wants one, or refuses it, the
  display is asked (L{Display.ask_password}): a terminal asks the person, a
  pipe gives up. A password is never shown, and typed commands that hold one
  are recognised (L{holds_password}, L{secret_start}) so a front-end can keep
  them out of its history and off the screen;
- request ids, and the requests still waiting for their reply;
- the current room: the last room of ``logged_in``, then each room joined,
  ``/room`` changes it locally, and leaving it falls back to the most recently
  joined room still left;
- own messages: the server does not echo a public message to its sender, so
  the client shows what was sent when the ``ok`` for it arrives, marked as
  the server marks it for everyone else (``~name`` unless the user is
  logged in to an account: L{ChatClient.registered});
- answering the server's ``ping``;
- coming back after a lost connection, when asked to
  (L{ChatClient.reconnect_with}): the same name, password and rooms, with
  the waits and tries of L{tchat.client.reconnect.Redial};
- leaving: ``quit``, a short wait for ``bye``, and an exit status.

Lines that are not JSON objects (the server's text greeting) are ignored.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from tchat.client.reconnect import Backoff, Redial, goes_away, kicked_notice
from tchat.client.render import Renderer
from tchat.commands import TEXT_WORDS, BadRequest, Command, Request, TextForm, parse_text
from tchat.names import name_key

# How long a quit waits for the server's bye before the client hangs up itself.
QUIT_WAIT = 3.0

# The login errors that are about the password, not the name: the display is
# asked for a password (again) rather than for another name.
PASSWORD_CODES = frozenset({"password_required", "bad_password", "rate_limited"})

# Typed commands that hold a password, and how many plain words (a NAME)
# come between the command and the password; the password runs to the end
# of the line (for /passwd, OLD and NEW are one word each, or in quotes).
SECRET_ACTIONS = {"login": 1, "register": 0, "admin": 0, "passwd": 0, "account_create": 1, "account_reset": 1}


def _word(line: str, start: int) -> tuple[str, int]:
    """The word in ``line`` from ``start`` on, after spaces, and where it ends."""
    i = start
    while i < len(line) and line[i] == " ":
        i += 1
    end = line.find(" ", i)
    end = len(line) if end < 0 else end
    return line[i:end], end


def _command_at(line: str) -> tuple[Command, TextForm, int] | None:
    """
    The command a typed line names (matched as L{parse_text} matches it),
    its form, and where in ``line`` its arguments start; None for a line
    that is not a known command.
    """
    if not line.startswith("/") or line.startswith("//"):
        return None
    end = line.find(" ", 1)
    end = len(line) if end < 0 else end
    first = line[1:end].strip().lower()
    second, after_second = _word(line, end)
    two = TEXT_WORDS.get(f"{first} {second.lower()}")
    if two is not None:
        return two[0], two[1], after_second
    one = TEXT_WORDS.get(first)
    return (one[0], one[1], end) if one is not None else None


def holds_password(line: str) -> bool:
    """
    Whether a typed line is a command that carries a password (``/login``,
    ``/register``, ``/passwd``, ``/admin``, ``/account create|reset``, in any
    of their spellings): a front-end keeps such lines out of its history.
    """
    found = _command_at(line)
    return found is not None and found[0].action in SECRET_ACTIONS


def secret_start(line: str) -> int | None:
    """
    Where the password in a typed line (maybe still being typed) starts:
    everything from there to the end is secret. None when the line holds
    no password (yet).
    """
    found = _command_at(line)
    if found is None or found[0].action not in SECRET_ACTIONS:
        return None
    i = found[2]
    for _ in range(SECRET_ACTIONS[found[0].action]):
        _, i = _word(line, i)
        if i >= len(line):
            return None  # the name is still being typed
    while i < len(line) and line[i] == " ":
        i += 1
    return i


class Display(Protocol):
    """What L{ChatClient} needs from a front-end."""

    def show(self, lines: list[str]) -> None:
        """Show these lines (already rendered, maybe coloured), in order."""

    def ask_name(self, problem: str | None, code: str | None) -> None:
        """
        The client needs a name: answer with L{ChatClient.login} (or
        L{ChatClient.quit}). ``problem`` says why the last one was refused
        (``code`` is the server's error code), or is None for the first ask.
        """

    def ask_password(self, name: str, problem: str, code: str) -> None:
        """
        The name is registered and the server wants its password: answer
        with L{ChatClient.login} (``name`` and the password), ask for another
        name, or L{ChatClient.quit}. ``code`` is the server's reason:
        ``password_required`` (none was given), ``bad_password`` (a wrong
        one was) or ``rate_limited`` (too many wrong ones: ``problem`` says
        how long to wait). ``problem`` is the server's sentence; it never
        holds the password.
        """

    def changed(self) -> None:
        """The user's name or current room changed (a prompt may show them)."""

    def status(self, text: str | None, update: bool) -> None:
        """
        Only after L{ChatClient.reconnect_with}: the connection is down and
        being made again, and ``text`` (plain, one line) says how that goes:
        ``connection lost; reconnecting in 4 s…``. ``update`` is True when
        only the count changed since the last call (a pipe need not print
        it). None: the client is back (logged in again, rooms rejoined), or
        waits for the person (a name or password is asked).
        """


def _why(reason: Failure | None) -> str:
    """A short reason for a lost connection, to add to the message; empty if clean."""
    if reason is None or reason.check(ConnectionDone):
        return ""
    from OpenSSL.SSL import Error as TLSError  # twisted[tls] brings pyOpenSSL

    if reason.check(TLSError):
        # pyOpenSSL gives a list of (library, function, reason) triples.
        details = "; ".join(str(e[-1]) for e in reason.value.args[0] if isinstance(e, tuple)) if reason.value.args else ""
        return f": TLS failed ({details or reason.getErrorMessage()}); see --ca and --insecure"
    return f" ({reason.getErrorMessage()})"


class ChatClient(LineReceiver):
    """
    A conversation with a tchat server in JSON mode: over one connection, or,
    after L{reconnect_with}, over one connection after another (this same
    object is the protocol of each).

    It may be started before its connection is made (the person can type a
    name while it connects) or after.

    Callers may rely on: nothing is sent before L{start}; the first line sent
    on a connection is the login, or, while no name is known yet, a ping
    whose reply is not shown (it turns the connection to JSON mode, so that
    the welcome and a possible bye are readable);
    L{finished} fires exactly once, with the exit status (0 after a quit we
    asked for, 1 when the server went away or closed the connection on its
    own): when the conversation is over, or at once if the person leaves
    while there is no connection. The status is also kept in L{status}.

    Coming back (only after L{reconnect_with}, and only once a login has
    worked): a lost connection does not end the conversation unless the
    person was leaving, the server's C{bye} said to go away (a kick: see
    L{tchat.client.reconnect.goes_away}) or the server's certificate was
    refused (``stops_retrying``). Otherwise the client says so, tries again
    and again (L{Display.status} shows the countdown), logs in again under
    the same name (with the password that worked, for an account), rejoins
    the rooms it was in and makes the same room current, then says so. A
    message that got no answer is said to be maybe not sent (it is not sent
    twice); lines typed but not sent yet wait for the new connection.

    ``explain_loss``, if given, is asked about a connection lost before the
    server said anything (a failed TLS handshake, say): a sentence it
    returns is kept in L{problem}, for the caller to print where it belongs
    (stderr, once the terminal is back to normal), and the conversation
    ends; while coming back it is shown instead, and the client tries again,
    unless ``stops_retrying`` says the failure is one that trying again
    cannot mend (a refused certificate). None lets the client show its usual
    line.
    """

    # A TCP (or TLS) transport: abortConnection too.
    transport: Any
    delimiter = b"\n"
    MAX_LENGTH = 1 << 22

    def __init__(
        self, renderer: Renderer, clock: IReactorTime, name: str | None = None, password: str | None = None,
        explain_loss: Callable[[Failure], str | None] | None = None,
        stops_retrying: Callable[[Failure], bool] | None = None,
    ) -> None:
        self.renderer = renderer
        self.explain_loss = explain_loss
        self.stops_retrying = stops_retrying
        # Why the connection failed before any answer, as one sentence, when
        # explain_loss could say (see the class docstring).
        self.problem: str | None = None
        self.clock = clock
        self.name = name
        # The password given at the start (environment, file): it goes with
        # the first login only; should that be refused, the display asks.
        self._given_password = password or None
        # The password of the login on its way, if any.
        self._password: str | None = None
        # The name (its key) and password of the account logged in to, kept
        # in memory to log in again after a lost connection.
        self._account: tuple[str, str] | None = None
        self.display: Display | None = None
        self.redial: Redial | None = None
        self.logged_in = False
        self._ever_logged_in = False
        # Whether this login is to a registered account (logged_in says so;
        # a /register makes it so): own lines are shown as others see them.
        self.registered = False
        self.rooms: list[str] = []
        self.current_room: str | None = None
        self.finished: Deferred[int] = Deferred()
        self.status: int | None = None
        self._next_id = 1
        # From login() until the server's answer: the login may still be
        # waiting for the connection (then _login_id is None).
        self._logging_in = False
        # The display was asked for a name or a password and has not answered.
        self._asked = False
        self._early: list[bytes] = []
        # Typed lines not sent yet, in order; None stands for the quit at the
        # end of piped input. They wait for the login, for joins and parts,
        # and for the rooms to be rejoined after a reconnect.
        self._backlog: list[str | None] = []
        self.quitting = False
        self._quit_status = 0
        self._quit_timer: IDelayedCall | None = None
        # While coming back: the rooms to be in and the current room, as they
        # were when the connection was lost.
        self._coming_back: tuple[list[str], str | None] | None = None
        self._up = False
        self._forget_connection()

    def _forget_connection(self) -> None:
        """Start afresh what belongs to one connection: replies waited for, what was heard."""
        self._pending: dict[int, tuple[Request, float]] = {}
        self._login_id: int | None = None
        # The id of a join or part on its way: typed lines wait for its reply.
        self._hold: int | None = None
        # The ids of the joins and parts that put the rooms back after a
        # reconnect, and the room each is about.
        self._rejoining: dict[int, str] = {}
        self._got_bye = False
        self._final_bye = False
        self._kicked = False
        self._shutdown_said = False
        self._heard = False  # any JSON event at all from the other side
        self._last_text = ""  # the last line that was not JSON, for diagnosis
        self._quiet: set[int] = set()  # ids of requests whose replies are not shown
        self.clearLineBuffer()

    # -- what a front-end calls ----------------------------------------------

    def start(self, display: Display) -> None:
        """
        Begin, showing everything on ``display``: log in with the name given
        at construction, or ask the display for one.
        """
        self.display = display
        if self.name is not None:
            self.login(self.name)
        else:
            self._asked = True
            display.ask_name(None, None)
            if self._up:
                self._hello()
        early, self._early = self._early, []
        for line in early:
            self.lineReceived(line)

    def reconnect_with(self, connect: Callable[[], Deferred[Any]], backoff: Backoff | None = None) -> None:
        """
        Come back after a lost connection (see the class docstring):
        ``connect()`` makes one try to connect this same protocol again and
        returns a Deferred, as L{twisted.internet.endpoints.connectProtocol}
        does. Without this, a lost connection ends the conversation.
        """
        self.redial = Redial(self.clock, connect, self._report, backoff)

    @property
    def reconnecting(self) -> bool:
        """Whether the connection was lost and the client is coming back (not back yet)."""
        return self._coming_back is not None and self.status is None

    def retry_now(self) -> bool:
        """While waiting to reconnect: try now. False when there is no wait to cut short."""
        return self.redial is not None and self.status is None and self.redial.now()

    def login(self, name: str, password: str | None = None) -> None:
        """
        Log in as ``name`` (now, or as soon as the connection is made), with
        ``password``, or else with the password given at the start if it has
        not been tried yet, or else, for the account this client was logged
        in to, with the password that worked. On refusal the display is
        asked for another name, or for the password (L{Display.ask_password}).
        """
        self.name = name.strip()
        self._password = password or self._given_password or self._account_password(self.name)
        self._given_password = None  # tried once: if it is wrong, asking beats retrying
        self._logging_in = True
        self._asked = False
        if self._up:
            self._login_id = self._send(self._login_request())

    def _login_request(self) -> Request:
        args = {"user": self.name}
        if self._password:
            args["password"] = self._password
        return Request("login", args)

    def send_typed(self, line: str) -> None:
        """
        Carry out one line typed by the person: a ``/command`` as on the
        server, or a plain line for the current room. A line that is not a
        well-formed command is shown as an error and nothing is sent.

        Lines wait their turn while the login, a join or a part is on its
        way (their replies decide the current room), so a script's
        ``/join #dev`` then ``hi`` says hi in #dev; after a lost connection
        they wait until the client is back in its rooms.
        """
        if self.quitting or self.status is not None:
            return
        self._backlog.append(line)
        self._drain()

    def quit(self, reason: str | None = None, status: int = 0) -> None:
        """
        Leave now: send ``quit`` (typed lines not sent yet are dropped), then
        hang up if no ``bye`` comes within L{QUIT_WAIT} seconds; L{finished}
        then fires with ``status``. Without a connection (not made yet, or
        lost and being made again), L{finished} fires at once and no more
        tries are made.
        """
        if self.quitting or self.status is not None:
            return
        if not self._up:
            self.quitting = True
            self._finish(status)
            return
        self._begin_quit(reason, status)

    def end_of_input(self) -> None:
        """
        No more lines will be typed: quit once the ones given so far are
        sent (after the login, if it is still to come).
        """
        if self.quitting or self.status is not None:
            return
        if not self._logging_in and not self.logged_in and not self.reconnecting:
            self.quit()  # no name was ever given: nothing to wait for
            return
        self._backlog.append(None)
        self._drain()

    def prompt(self) -> str:
        """What an input prompt should say: the current room, or the name."""
        return f"{self.current_room or self.name or ''}> "

    # -- typed lines, in order ---------------------------------------------

    def _drain(self) -> None:
        """Carry out waiting lines until one must wait for a reply again."""
        while (
            self._backlog and self.logged_in and self._hold is None and not self._rejoining
            and not self.quitting and self.status is None
        ):
            line = self._backlog.pop(0)
            if line is None:
                self._begin_quit(None, 0)
            else:
                self._carry_out(line)

    def _carry_out(self, line: str) -> None:
        try:
            request = parse_text(line)
        except BadRequest as e:
            self._show(self.renderer.error(e.text))
            return
        if request is None:
            return
        handler = getattr(self, "_typed_" + request.action, None)
        if handler is not None:
            handler(request)
        else:
            self._send(request)

    # -- the wire ----------------------------------------------------------

    def connectionMade(self) -> None:
        self._forget_connection()
        self._up = True
        if self.quitting or self.status is not None:
            # The person left while this connection was being made.
            self.transport.loseConnection()
            return
        if self._logging_in and self.name is not None:
            self._login_id = self._send(self._login_request())
        elif self.reconnecting and not self._asked and self.name is not None:
            self._report(f"connected; logging in again as {self.name}…", False)
            self.login(self.name)
        elif self.display is not None:
            self._hello()

    def _hello(self) -> None:
        """
        Turn the connection to JSON mode while the person types a name: a
        ping is allowed before login, so the welcome (and a bye, should the
        server tire of waiting) arrives as JSON, not as ignored text.
        """
        self._quiet.add(self._send(Request("ping", {})))

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._up = False
        # Twisted's flag, which it never clears: this protocol may be
        # connected again.
        self.connected = 0
        if self._quit_timer is not None and self._quit_timer.active():
            self._quit_timer.cancel()
        if self.quitting:
            self._finish(self._quit_status)
            return
        if self._final_bye:
            self._show(self.renderer.notice("the server closed the connection"))
            self._finish(1)
            return
        comes_back = self._may_come_back(reason)
        sentence = None if self._heard else self._explained(reason)
        if sentence is not None and not comes_back:
            self.problem = sentence
            self._finish(1)
            return
        if sentence is not None:
            self._show(self.renderer.error(sentence))
            why = "TLS failed"
        elif self._got_bye:
            self._show(self.renderer.notice("the server closed the connection"))
            why = "the server went down" if self._shutdown_said else "disconnected by the server"
        elif not self._heard:
            said = f"; it said: {self._last_text}" if self._last_text.strip() else ""
            self._show(self.renderer.notice(
                f"the connection closed before the server answered{_why(reason)}{said}; is it a tchat server?"
            ))
            why = "the server did not answer"
        else:
            self._show(self.renderer.notice(f"connection to the server lost{_why(reason)}"))
            why = "connection lost"
        if comes_back:
            self._come_back_later(why)
        else:
            self._finish(1)

    def _may_come_back(self, reason: Failure | None) -> bool:
        """Whether to try again after losing the connection for ``reason``."""
        if self.redial is None or self.redial.stopped or not self._ever_logged_in:
            # Before the first login there is nothing to come back to, and a
            # wrong address or port is best said at once.
            return False
        return reason is None or self.stops_retrying is None or not self.stops_retrying(reason)

    def _come_back_later(self, why: str) -> None:
        assert self.redial is not None
        if self._coming_back is None:
            self._coming_back = (list(self.rooms), self.current_room)
        self._account_unanswered()
        self.logged_in = False
        self._logging_in = False
        self._password = None
        self._changed()
        self.redial.lost(why)

    def _account_unanswered(self) -> None:
        """
        Say what the lost connection leaves in doubt. A message with no
        answer may or may not have reached its room: it is said, not sent
        again. A typed join or part with no answer is done again on the way
        back (its answer decides where the lines after it go). Lines not
        sent at all stay in the backlog.
        """
        assert self._coming_back is not None
        rooms, current = self._coming_back
        for rid, (request, _) in sorted(self._pending.items()):
            if rid in self._quiet or rid in self._rejoining or request.action in ("login", "quit", "pong"):
                continue
            if request.action == "msg":
                self._show(self.renderer.error(
                    f"no answer came before the connection was lost, so this may not have reached"
                    f" {request.args['to']}: {request.args['text']}"
                ))
            elif request.action == "join":
                room = request.args["room"]
                rooms = [r for r in rooms if name_key(r) != name_key(room)] + [room]
                current = room
            elif request.action == "part":
                room = request.args["room"]
                rooms = [r for r in rooms if name_key(r) != name_key(room)]
                if current is not None and name_key(current) == name_key(room):
                    current = rooms[-1] if rooms else None
            else:
                self._show(self.renderer.error(
                    f"no answer came for {request.action} before the connection was lost; it may or may not have been done"
                ))
        self._coming_back = (rooms, current)
        self._pending = {}

    def _account_password(self, name: str) -> str | None:
        """The password that logged in to the account ``name`` last, if any."""
        if self._account is not None and self._account[0] == name_key(name):
            return self._account[1]
        return None

    def _explained(self, reason: Failure | None) -> str | None:
        if self.explain_loss is None or reason is None:
            return None
        return self.explain_loss(reason)

    def _finish(self, status: int) -> None:
        if self.status is None:
            self.status = status
            if self.redial is not None:
                self.redial.stop()
            self.finished.callback(status)

    def _report(self, text: str | None, update: bool) -> None:
        """Tell the display how coming back goes (None: it is over, or the person's turn)."""
        if self.display is not None and self.status is None:
            self.display.status(text, update)

    def lineReceived(self, raw: bytes) -> None:
        if self.display is None:
            self._early.append(raw)
            return
        text = raw.decode("utf-8", errors="replace")
        try:
            event = json.loads(text)
        except ValueError:
            if not self._heard:
                self._last_text = text.strip()[:200]
            return
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            return
        self._heard = True
        handler = getattr(self, "_on_" + event["event"], None)
        try:
            if handler is not None:
                handler(event)
            else:
                self._show_event(event)
        except (KeyError, TypeError, ValueError, AttributeError):
            # A malformed event (a field of the wrong type) from a buggy or
            # newer server: show what came, keep the connection.
            self._show_event({"event": event["event"] + " (unreadable)", **{k: v for k, v in event.items() if k != "event"}})
        self._drain()

    def lineLengthExceeded(self, line: bytes) -> None:
        # A huge line from the server is dropped, not a reason to hang up.
        self._show(self.renderer.error("the server sent a line too long to show; it was skipped"))

    def _send(self, request: Request) -> int:
        """Send ``request`` with a fresh id; remember it until its reply."""
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = (request, self.clock.seconds())
        self._write({"action": request.action, **request.args, "id": rid})
        return rid

    def _write(self, obj: dict[str, Any]) -> None:
        if self.transport is not None and self._up:
            self.transport.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")

    def _begin_quit(self, reason: str | None, status: int) -> None:
        self.quitting = True
        self._quit_status = status
        self._backlog = []
        self._send(Request("quit", {"reason": reason} if reason else {}))
        self._quit_timer = self.clock.callLater(QUIT_WAIT, self._hang_up)

    def _hang_up(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()

    def _show(self, lines: list[str]) -> None:
        if lines and self.display is not None:
            self.display.show(lines)

    def _show_event(self, event: dict[str, Any]) -> None:
        self._show(self.renderer.event(event, self.name))

    def _reply_to(self, event: dict[str, Any]) -> tuple[Request, float] | None:
        """The request ``event`` answers (forgotten from now on), if ours."""
        rid = event.get("re")
        if isinstance(rid, int) and not isinstance(rid, bool):
            if rid == self._hold:
                self._hold = None
            return self._pending.pop(rid, None)
        return None

    # -- typed commands the client completes or keeps to itself -----------

    def _typed_line(self, request: Request) -> None:
        self._typed_msg(Request("msg", {"text": request.args["text"]}))

    def _in_current_room(self, request: Request, field: str, problem: str) -> Request | None:
        """
        ``request`` with ``field`` set to the current room if it was left
        out, or None (and ``problem`` shown) when there is no current room.
        The client, not the server, knows which room is current: it always
        names the room, so the two can never disagree.
        """
        if field in request.args:
            return request
        if self.current_room is None:
            self._show(self.renderer.error(problem))
            return None
        return Request(request.action, {**request.args, field: self.current_room})

    def _typed_msg(self, request: Request) -> None:
        filled = self._in_current_room(request, "to", "you are in no room; /join #room first")
        if filled is not None:
            self._send(filled)

    def _typed_part(self, request: Request) -> None:
        filled = self._in_current_room(request, "room", "you are in no room")
        if filled is not None:
            self._hold = self._send(filled)

    def _typed_history(self, request: Request) -> None:
        filled = self._in_current_room(request, "target", "you are in no room; name one: /history #room or /history NAME")
        if filled is not None:
            self._send(filled)

    def _typed_room(self, request: Request) -> None:
        # Where plain lines go is the client's business: no round trip.
        wanted = request.args["room"]
        for room in self.rooms:
            if name_key(room) == name_key(wanted):
                self.current_room = room
                self._show(self.renderer.notice(f"plain lines now go to {room}"))
                self._changed()
                return
        self._show(self.renderer.error(f"you are not in {wanted}; /join {wanted} first"))

    def _typed_join(self, request: Request) -> None:
        self._hold = self._send(request)

    def _typed_quit(self, request: Request) -> None:
        self._begin_quit(request.args.get("reason"), 0)

    # -- events ------------------------------------------------------------

    def _on_ping(self, event: dict[str, Any]) -> None:
        self._write({"action": "pong", "token": event.get("token")})

    def _on_welcome(self, event: dict[str, Any]) -> None:
        # Once is enough: coming back, "reconnected" says it.
        if not self._ever_logged_in:
            self._show_event(event)

    def _on_logged_in(self, event: dict[str, Any]) -> None:
        self._reply_to(event)
        self.logged_in = True
        self._logging_in = False
        self._login_id = None
        if isinstance(event.get("user"), str):
            self.name = event["user"]
        self.registered = event.get("registered") is True
        if self.registered and self._password and self.name:
            self._account = (name_key(self.name), self._password)
        elif not self.registered:
            self._account = None  # a guest now: no password to keep
        self._password = None
        rooms = [r for r in event.get("rooms") or [] if isinstance(r, str)]
        if self._coming_back is not None:
            self._logged_in_again(event, rooms)
        else:
            self.rooms = rooms
            self.current_room = self.rooms[-1] if self.rooms else None
            self._show_event(event)
        self._ever_logged_in = True
        self._changed()

    # -- coming back ---------------------------------------------------------

    def _logged_in_again(self, event: dict[str, Any], rooms: list[str]) -> None:
        """Logged in after a reconnect: rejoin (or leave) rooms until they are as they were."""
        assert self._coming_back is not None
        if self.redial is not None:
            self.redial.logged_in()
        self._show(self.renderer.reconnected(event))
        wanted, _ = self._coming_back
        self.rooms = rooms
        have = {name_key(r) for r in rooms}
        want = {name_key(r) for r in wanted}
        for room in wanted:
            if name_key(room) not in have:
                self._rejoining[self._send(Request("join", {"room": room}))] = room
        for room in rooms:
            if name_key(room) not in want:
                self._rejoining[self._send(Request("part", {"room": room}))] = room
        if not self._rejoining:
            self._back()

    def _rejoined(self, rid: int, request: Request, event: dict[str, Any]) -> None:
        """The answer to one of the joins or parts that put the rooms back."""
        room = self._rejoining.pop(rid)
        if event["event"] == "ok":
            named = event["room"] if isinstance(event.get("room"), str) else room
            self.rooms = [r for r in self.rooms if name_key(r) != name_key(named)]
            if request.action == "join":
                self.rooms.append(named)
        elif request.action == "join":
            self._show(self.renderer.error(f"could not rejoin {room}: {event.get('text') or event.get('code')}"))
        if not self._rejoining:
            self._back()

    def _back(self) -> None:
        """The rooms are as they were (but for those that refused us): say so."""
        assert self._coming_back is not None
        wanted, current = self._coming_back
        self._coming_back = None
        spelled = {name_key(r): r for r in self.rooms}
        # The order they were joined in, which decides where plain lines go
        # when a room is left, is the order from before.
        order = [spelled.pop(name_key(r)) for r in wanted if name_key(r) in spelled]
        self.rooms = order + list(spelled.values())
        by_key = {name_key(r): r for r in self.rooms}
        if current is not None and name_key(current) in by_key:
            self.current_room = by_key[name_key(current)]
        else:
            self.current_room = self.rooms[-1] if self.rooms else None
        where = f"plain lines go to {self.current_room}" if self.current_room else "you are in no room (/join #room)"
        self._show(self.renderer.notice(f"back in {', '.join(self.rooms) or 'no room'}; {where}"))
        self._report(None, False)
        self._changed()

    def _on_join(self, event: dict[str, Any]) -> None:
        # Another session of this account joined a room: so is this one.
        if self._is_me(event.get("user")) and isinstance(event.get("room"), str):
            room = event["room"]
            if name_key(room) not in {name_key(r) for r in self.rooms}:
                self.rooms.append(room)
                if self.current_room is None:
                    self.current_room = room
                self._changed()
        self._show_event(event)

    def _on_part(self, event: dict[str, Any]) -> None:
        # Another session of this account left a room: so has this one.
        if self._is_me(event.get("user")) and isinstance(event.get("room"), str):
            gone = name_key(event["room"])
            self.rooms = [r for r in self.rooms if name_key(r) != gone]
            if self.current_room is not None and name_key(self.current_room) == gone:
                self.current_room = self.rooms[-1] if self.rooms else None
            self._changed()
        self._show_event(event)

    def _is_me(self, user: Any) -> bool:
        return isinstance(user, str) and self.name is not None and name_key(user) == name_key(self.name)

    def _on_error(self, event: dict[str, Any]) -> None:
        rid = event.get("re")
        answered = self._reply_to(event)
        if answered is not None and isinstance(rid, int) and rid in self._rejoining:
            self._rejoined(rid, answered[0], event)
            return
        if answered is not None and answered[0].action == "login" and not self.logged_in:
            self._login_id = None
            self._logging_in = False
            self._password = None
            code = event.get("code")
            if self._coming_back is not None:
                # The person's turn: no countdown while they choose.
                self._report(None, False)
            self._asked = True
            if code in PASSWORD_CODES and self.display is not None and self.name:
                if self._account is not None and self._account[0] == name_key(self.name):
                    self._account = None  # it no longer works
                text = event.get("text") or "the password is wrong or missing"
                self.display.ask_password(self.name, str(text), str(code))
                if not self.quitting and self._coming_back is None:
                    # (Coming back, the lines waiting were typed before the
                    # loss, long before any password prompt.)
                    self._drop_typed_ahead()
                return
            text = event.get("text") or "that name was refused"
            if self.display is not None:
                self.display.ask_name(str(text), code)
            if self._coming_back is not None and code == "name_taken" and not self.quitting:
                self._show(self.renderer.notice(
                    "if it was yours a moment ago, the server may not have noticed yet that your old connection is gone:"
                    " type it again in a minute, or choose another"
                ))
            return
        self._show_event(event)

    def _drop_typed_ahead(self) -> None:
        """
        Forget the lines typed while the login was on its way: the person
        did not know a password would be asked, and one of them may be it.
        They must not go to the room as messages.
        """
        typed = [line for line in self._backlog if line is not None]
        if typed:
            self._backlog = [line for line in self._backlog if line is None]
            some = "1 line" if len(typed) == 1 else f"{len(typed)} lines"
            self._show(self.renderer.notice(f"{some} typed before the password was asked for: not sent"))

    def _on_ok(self, event: dict[str, Any]) -> None:
        rid = event.get("re")
        answered = self._reply_to(event)
        if answered is None:
            self._show_event(event)
            return
        request, _ = answered
        if isinstance(rid, int) and rid in self._rejoining:
            self._rejoined(rid, request, event)
            return
        handler = getattr(self, "_ok_" + request.action, None)
        if handler is not None:
            handler(request, event)
        else:
            self._show_event(event)

    def _ok_msg(self, request: Request, event: dict[str, Any]) -> None:
        self._show(
            self.renderer.own_message(
                self.name or "?", request.args["to"], request.args["text"], request.args.get("kind"),
                ts=event.get("ts"), queued=bool(event.get("queued")), registered=self.registered,
            )
        )

    def _ok_register(self, request: Request, event: dict[str, Any]) -> None:
        # The server counts this session as the account's from now on.
        self.registered = True
        if self.name:
            self._account = (name_key(self.name), request.args["password"])
        self._show_event(event)
        self._show(self.renderer.notice(
            "tchat-client asks for it at your next login (scripts: TCHAT_PASSWORD or --password-file)",
            ts=event.get("ts"),
        ))

    def _ok_passwd(self, request: Request, event: dict[str, Any]) -> None:
        if self.registered and self.name:
            self._account = (name_key(self.name), request.args["new"])
        self._show_event(event)

    def _ok_join(self, request: Request, event: dict[str, Any]) -> None:
        room: str = event["room"] if isinstance(event.get("room"), str) else request.args["room"]
        self.rooms = [r for r in self.rooms if name_key(r) != name_key(room)] + [room]
        self.current_room = room
        self._show_event(event)
        self._changed()

    def _ok_part(self, request: Request, event: dict[str, Any]) -> None:
        room: str = event["room"] if isinstance(event.get("room"), str) else request.args["room"]
        self.rooms = [r for r in self.rooms if name_key(r) != name_key(room)]
        if self.current_room is None or name_key(self.current_room) == name_key(room):
            self.current_room = self.rooms[-1] if self.rooms else None
        # The server's text names its idea of the current room; say ours.
        where = f"plain lines now go to {self.current_room}" if self.current_room else "you are in no room now"
        self._show(self.renderer.notice(f"you left {room}; {where}", ts=event.get("ts")))
        self._changed()

    def _on_pong(self, event: dict[str, Any]) -> None:
        rid = event.get("re")
        answered = self._reply_to(event)
        if answered is None:
            self._show_event(event)
            return
        if rid in self._quiet:
            self._quiet.discard(rid)
            return
        took = (self.clock.seconds() - answered[1]) * 1000
        self._show(self.renderer.notice(f"pong from the server in {took:.0f} ms", ts=event.get("ts")))

    def _on_notice(self, event: dict[str, Any]) -> None:
        if kicked_notice(str(event.get("text", ""))):
            self._kicked = True
        self._show_event(event)

    def _on_shutdown(self, event: dict[str, Any]) -> None:
        # The bye that follows means "down for now", whatever its words.
        self._shutdown_said = True
        self._show_event(event)

    def _on_bye(self, event: dict[str, Any]) -> None:
        self._got_bye = True
        if self.quitting:
            # Our own quit: the bye is expected, hang up now rather than wait.
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._final_bye = self._kicked or (not self._shutdown_said and goes_away(event))
        self._show_event(event)

    def _changed(self) -> None:
        if self.display is not None:
            self.display.changed()
