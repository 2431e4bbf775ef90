"""
The conversation with a tchat server, under the handlers of
L{tchat.client.connection.ChatClient}: its state, what a front-end calls,
typed lines in order, the wire, and the connection's coming and going.
There is no terminal in it: a test drives it with a C{StringTransport}.

L{Conversation} is the protocol on the connection to the server (and, when
it comes back after a lost connection, on each new one). A front-end (the
terminal UI, or piped stdin) gives it what the person typed and shows what
it is told to show, through L{tchat.client.frontend.Display}. Here are:

- the login, sent first (the server switches to JSON mode on it), or a
  silent ping first when the person has not typed a name yet; the password
  given at the start (C{TCHAT_PASSWORD}, C{--password-file}) goes with the
  first login, and the one that logged in to an account is kept for
  logging in again;
- typed lines: they wait their turn (for the login, a join or a part, the
  rooms put back after a reconnect), then go to the handler of their
  command (C{_typed_<action>}, in ChatClient) or straight to the server;
- request ids, and the requests still waiting for their reply; each event
  received goes to its handler (C{_on_<event>}, in ChatClient); lines that
  are not JSON objects (the server's text greeting) are ignored;
- the connection lost: what to say, and whether to come back (when asked
  to, L{Conversation.reconnect_with}: the waits and tries of
  L{tchat.client.reconnect.Redial}, the way back of
  L{tchat.client.comeback.ComingBack});
- leaving: ``quit``, a short wait for ``bye``, and an exit status.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from tchat.client.comeback import ComingBack
from tchat.client.frontend import Display
from tchat.client.reconnect import Backoff, Redial
from tchat.client.render import Renderer
from tchat.client.roster import Roster
from tchat.commands import BadRequest, Request, parse_text
from tchat.names import name_key

# How long a quit waits for the server's bye before the client hangs up itself.
QUIT_WAIT = 3.0

# The events that answer a request (with its id in ``re``) besides ok, error,
# pong and logged_in, whose handlers take the request they answer.
ANSWERS = frozenset({
    "users", "rooms", "whoami", "help", "history", "contacts", "seen", "accounts", "debug", "connections", "log",
    "topic", "mode", "bans", "whois",
})


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


class Conversation(LineReceiver):
    """
    The conversation under L{tchat.client.connection.ChatClient}, whose
    docstring says what callers may rely on. It holds the state (name,
    rooms, passwords, requests waiting, the way back), the methods a
    front-end calls, and the connection's coming and going; it hands each
    typed command to C{_typed_<action>} and each event to C{_on_<event>}
    when the subclass has one.
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
        # Who is in the rooms, who is an operator, the topics (L{Roster}).
        self.roster = Roster()
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
        # While coming back: the way back (see ComingBack), from the lost
        # connection until the rooms are as they were.
        self._coming_back: ComingBack | None = None
        self._up = False
        self._forget_connection()

    def _forget_connection(self) -> None:
        """Start afresh what belongs to one connection: replies waited for, what was heard."""
        self._pending: dict[int, tuple[Request, float]] = {}
        self._login_id: int | None = None
        # The id of a join or part on its way: typed lines wait for its reply.
        self._hold: int | None = None
        if self._coming_back is not None:
            # The joins and parts that put the rooms back went with the old one.
            self._coming_back.rejoining.clear()
        self._got_bye = False
        self._final_bye = False
        self._kicked = False
        # Whether this connection proved the admin password (/admin): the
        # rights go with the connection, and are not given back on a new one.
        self.admin = False
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

    def topic(self) -> str | None:
        """The topic of the current room, if it has one (as the server sent it: clean it to show it)."""
        return self.roster.topic(self.current_room)

    def names(self) -> list[str]:
        """
        The names to complete a word with, in order: the current room's
        members (the latest to speak first), then everyone else online; one's
        own name last.
        """
        return self.roster.completions(self.current_room, self.name)

    def room_names(self) -> list[str]:
        """The rooms the client is in, to complete a ``#`` word with."""
        return sorted(self.rooms, key=name_key)

    # -- typed lines, in order ---------------------------------------------

    def _drain(self) -> None:
        """Carry out waiting lines until one must wait for a reply again."""
        while (
            self._backlog and self.logged_in and self._hold is None and not self._putting_rooms_back()
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
            self._coming_back = ComingBack(self)
        self._coming_back.unanswered(self._pending, self._quiet)
        self._pending = {}
        self.logged_in = False
        self._logging_in = False
        self._password = None
        self._changed()
        self.redial.lost(why)

    def _putting_rooms_back(self) -> bool:
        """Whether the joins and parts that put the rooms back after a reconnect still wait for answers."""
        return self._coming_back is not None and bool(self._coming_back.rejoining)

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
        if event["event"] in ANSWERS:
            # It answers a request: no longer waited for, so a lost
            # connection does not say it may not have been done.
            self._reply_to(event)
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
        self._show(self.renderer.event(event, self.name, self.roster.mark))

    def _reply_to(self, event: dict[str, Any]) -> tuple[Request, float] | None:
        """The request ``event`` answers (forgotten from now on), if ours."""
        rid = event.get("re")
        if isinstance(rid, int) and not isinstance(rid, bool):
            if rid == self._hold:
                self._hold = None
            return self._pending.pop(rid, None)
        return None

    def _changed(self) -> None:
        if self.display is not None:
            self.display.changed()
