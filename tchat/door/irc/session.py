"""
One IRC connection: L{IrcSession}, a L{LineReceiver} that mixes in
L{DoorSession} as the line door's session does.

The flow:

- **framing**: lines end in ``\\n`` (a ``\\r`` before it is dropped); each
  whole line is decoded as UTF-8 (never a TCP chunk at a time) and read with
  irctokens (L{tchat.door.irc.wire.parse}). A line that is not UTF-8 gets a
  ``FAIL <command> INVALID_UTF8`` (IRCv3 utf8-only), one too long a 417,
  one with no command a NOTICE; each is dropped and the connection goes on.
- **order**: every line becomes a L{LocalStep} in the session's one queue,
  so it waits its turn and pays the flood limit like a request of any door.
  At its turn the step reads the line (L{tchat.door.irc.commands}) and may
  answer it itself (CAP, MOTD, a missing parameter) or turn it into hub
  requests, carried out next, before any later line.
- **answers**: each request gets an id; the hub's answer carries it as
  ``re``, and the session turns it into the IRC lines that answer that
  command (``pending``). Events that answer nothing and read the same to
  everyone (a message, a join, …) are the profile's
  L{tchat.door.irc.codec.IrcCodec} bytes, made once per profile; the rest
  (notices, pings, the last ERROR) are made for this session.
- **registration**: NICK and USER (PASS is the password of a registered
  name), held open by CAP LS/REQ until CAP END, become the hub's ``login``;
  its ``logged_in`` is the welcome burst (001-005, LUSERS, MOTD or 422) and
  a JOIN, topic and NAMES for each room the user is in.
- **limits** are the shared ones (L{tchat.door.session}): connection counts,
  flood control, the send queue (``ERROR :SendQ exceeded``), the login
  timeout, and the ping (``PING``) and ping timeout for every IRC client.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from twisted.logger import Logger
from twisted.python.failure import Failure

from tchat.commands import Request
from tchat.door.irc import numerics as N
from tchat.door.irc.codec import SHARED, IrcCodec, hostmask
from tchat.door.irc.labels import Label, add_tags, finish_if_done, run_line
from tchat.door.irc.wire import READ_MAX, BadLine, encode, encode_text, parse
from tchat.door.linestream import LineStream
from tchat.door.session import DoorSession, LocalStep, QueueItem
from tchat.events import Event
from tchat.names import name_key

if TYPE_CHECKING:
    from tchat.door.irc.door import IrcDoor

log = Logger()

Answer = Callable[[Event], None]
Items = list[QueueItem]


@dataclass
class Channel:
    """A channel as this session's client sees it: its name and members (key: name as shown)."""

    name: str
    members: dict[str, str] = field(default_factory=dict)


class _Mode:
    """What L{DoorSession.describe} names this session's encoding."""

    name = "irc"


class _Private:
    """Makes this session's own lines of a fresh event (the last ERROR, a refusal); see L{DoorSession.close}."""

    name = "irc:session"

    def __init__(self, session: "IrcSession") -> None:
        self.session = session

    def encode(self, event: Event) -> bytes:
        return self.session.render_private(event)


class IrcSession(LineStream, DoorSession):
    transport: Any
    delimiter = b"\n"
    door_name = "irc"
    MAX_LENGTH = READ_MAX
    # Events held between a SASL login and the welcome burst, at most.
    HELD_MAX = 1000

    def __init__(self, door: "IrcDoor") -> None:
        self.door = door
        self.server = door.server
        self.codec = _Mode()
        self.private = _Private(self)
        # What numerics address: "*" until a nick is given.
        self.nick = "*"
        self.user_given = False
        # What USER said (L{tchat.door.irc.idents}): "" until then.
        self.username = ""
        self.realname = ""
        self.password: str | None = None
        self.negotiating = False
        self.cap_version = 0
        self.caps: set[str] = set()
        self.profile: IrcCodec = door.codec(set())
        self.registered = False
        self.registering = False
        # SASL (L{tchat.door.irc.sasl}): the exchange under way, the hub's
        # logged_in of an account logged in by it (until registration), the
        # account's name once logged in to one, and the events the chat sent
        # between the SASL login and the welcome burst.
        self.sasl: Any = None
        self.sasl_login: Event | None = None
        self.account: str | None = None
        self.held: list[Event] | None = None
        # labeled-response (L{tchat.door.irc.labels}): the labelled command
        # whose lines are being written, and the label of each request made for one.
        self._label: Label | None = None
        self._labels: dict[int, Label] = {}
        self.invisible = False
        # Made an admin by OPER (user mode o), for as long as it is connected.
        self.oper = False
        # Marked itself a bot (user mode B, IRCv3 bot mode): a bot tag on its messages to this door's clients.
        self.bot = False
        self.motd: str | None = None
        self.channels: dict[str, Channel] = {}
        # The name keys on its MONITOR list, as the hub accepted them: who
        # of this door's clients hears of a SETNAME with extended-monitor
        # (a realname is the door's own, L{tchat.door.irc.idents}).
        self.monitoring: set[str] = set()
        self.pending: dict[int, Answer] = {}
        # Messages sent whose answer has not come yet, and PONGs held until it has.
        self.unanswered_messages = 0
        # PONGs held, each with its ping's place in line, until what came before is answered.
        self.held_pongs: list[tuple[int, bytes]] = []
        # Each pending request's place in line: its id, or for a request an
        # answer makes (the names after a join) the place of what it answers.
        self._places: dict[int, int] = {}
        self._answering: int | None = None
        self.pongs_due = False
        self._ids = itertools.count(1)

    # -- DoorSession hooks -----------------------------------------------

    def _codec(self) -> Any:
        return self.private

    def describe(self) -> dict[str, str]:
        return {"address": self.address, "host": self.host, "door": "irc"}

    def close_for(self, bye: str, part_reason: str) -> None:
        # What IRC servers say to a reader too slow for its send queue.
        super().close_for("SendQ exceeded" if part_reason == "too slow" else bye, part_reason)

    # -- Twisted calls these ---------------------------------------------

    def connectionMade(self) -> None:
        host, address = self.door.peer(self.transport)
        self.open_session(self.door.table, host, address, self.transport)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.registered:
            self.door.idents.remove(self, self.clock.seconds())
        self.session_closed()

    def line_too_long(self) -> None:
        self.submit(LocalStep(lambda: self.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")))

    def lineReceived(self, raw: bytes) -> None:
        self.heard()
        try:
            line = parse(raw)
        except UnicodeDecodeError as e:
            # IRCv3 utf8-only (the door says UTF8ONLY): a standard reply naming the command.
            bad = f"That line was not UTF-8 (bad byte at {e.start}); it was ignored"
            command = _command_of(raw)
            self.submit(LocalStep(lambda: self.send(encode("FAIL", [command, "INVALID_UTF8", bad], self.server))))
            return
        except BadLine as e:
            if e.too_long:
                self.submit(LocalStep(lambda: self.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")))
            elif str(e):
                why = f"{e}; it was ignored"
                self.submit(LocalStep(lambda: self.server_notice(why)))
            return
        self.submit(LocalStep(lambda: run_line(self, line)))

    # -- writing -----------------------------------------------------------

    def send(self, data: bytes, shared: bool = False) -> None:
        """
        Write ``data`` within the send queue's limit. This session's own lines
        (not ``shared``: those are made once per profile, tags and all) get
        the ``time`` tag with server-time, and are held for the label of the
        labelled command being answered, if one is.
        """
        if self.closing or not data:
            return
        if not shared and self.profile.with_time and self.registered:
            data = add_tags(data, {"time": _now_tag(self)})
        if not shared and self._label is not None:
            self._label.out.append(data)
            return
        if self.sendq.full and not self.count_unsent(len(data)):
            return
        self.write(data)

    @property
    def client(self) -> str:
        """Whom numerics and CAP replies address: the nick once registered, ``*`` before."""
        return self.nick if self.registered else "*"

    def numeric(self, code: str, *params: str) -> None:
        """``:server CODE client params…``."""
        self.send(encode(code, [self.client, *params], self.server))

    def line(self, command: str, *params: str, source: str | None = None) -> None:
        """A line from this session's user (or ``source``), with this profile's tags."""
        tags = {"time": _now_tag(self)} if self.profile.with_time else {}
        if source is None and self.account and self.profile.with_account:
            tags["account"] = self.account
        self.send(encode(command, params, source or self.mask(self.nick), tags or None))

    def server_notice(self, text: str) -> None:
        self.send(encode_text("NOTICE", self.client, text, self.server))

    def mask(self, nick: str) -> str:
        return hostmask(nick, self.server)

    # -- requests and their answers --------------------------------------

    def answering_place(self) -> int:
        """The place in line of the request whose answer is being delivered (0 if none)."""
        return self._answering or 0

    def place(self, rid: int) -> int:
        """The place in line of the request ``rid``."""
        return self._places.get(rid, rid)

    def answers_before(self, place: int) -> bool:
        """Whether a request before ``place`` in line (or one its answer made) still waits for its answer."""
        return any(self.place(key) < place for key in self.pending)

    def request(self, action: str, args: dict[str, Any], answer: Answer) -> Request:
        """A hub request whose answer (the event carrying its id as ``re``) goes to ``answer``."""
        rid = next(self._ids)
        self.pending[rid] = answer
        if self._answering is not None:
            self._places[rid] = self._answering
        if self._label is not None:
            self._label.waiting.add(rid)
            self._labels[rid] = self._label
        return Request(action, {k: v for k, v in args.items() if v is not None}, rid)

    def follow(self, items: Iterable[QueueItem]) -> None:
        """Carry out ``items`` next (from inside an answer: right after the request being answered)."""
        self.submit_next(items)

    @contextmanager
    def labelling(self, label: Label | None) -> Iterator[None]:
        """What is written meanwhile answers ``label``'s command (None: no labelled command)."""
        before, self._label = self._label, label
        try:
            yield
        finally:
            self._label = before

    def deliver(self, event: Event) -> None:
        if self.closing:
            return
        with self.labelling(None):
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        try:
            re = event.get("re")
            answer = self.pending.pop(re, None) if isinstance(re, int) else None
            if answer is not None:
                label = self._labels.pop(re, None) if isinstance(re, int) else None
                before, self._answering = self._answering, self._places.pop(re, re)
                try:
                    with self.labelling(label):
                        answer(event)
                finally:
                    self._answering = before
                if label is not None:
                    label.waiting.discard(re)
                    finish_if_done(self, label)
                if self.held_pongs and (self.pongs_due or not self.unanswered_messages):
                    # PONGs that waited for this answer: after it, never inside its label.
                    self.pongs_due = False
                    while self.held_pongs and not self.unanswered_messages and not self.answers_before(self.held_pongs[0][0]):
                        self.send(self.held_pongs.pop(0)[1])
                return
            if self.held is not None and re is None:
                # Logged in by SASL, not registered yet: after the welcome burst.
                self.held.append(event)
                if len(self.held) > self.HELD_MAX:
                    # A client that never ends its registration holds no more than a send queue's worth.
                    self.close_for("SendQ exceeded", "too slow")
                return
            if event.name in SHARED and re is None:
                if event.name == "away" and not shows_away(self, event):
                    return
                self.track(event)
                self.send(event.encoded(self.profile), shared=True)
                return
            self.send(self.render_private(event))
        except Exception:
            # One event to one connection must never break a fan-out.
            log.failure("cannot deliver {event} to {address}", event=event.name, address=self.address)

    def render_private(self, event: Event) -> bytes:
        """This session's own lines of an event that answers none of its requests."""
        name = event.name
        if name == "welcome":
            self.motd = event.get("motd")
            return b""
        if name == "bye":
            return encode("ERROR", [f"Closing Link: {self.host} ({event.get('text') or 'bye'})"])
        if name == "ping":
            return encode("PING", [str(event.get("token") or self.server)])
        if name == "wallops":
            return wallops_lines(self, event)
        if name in ("online", "offline"):
            return monitor_notice(self, event)
        if name == "read_marker":
            from tchat.door.irc.markread import CAP, markread_line

            return markread_line(self, event) if CAP in self.caps else b""
        if name in ("notice", "shutdown", "error"):
            text = event.get("text") or ""
            if name == "error":
                text = f"{text} ({event.get('code')})"
            return encode_text("NOTICE", self.client, text, self.server)
        return b""

    # -- what the client sees of its channels ------------------------------

    def track(self, event: Event) -> None:
        """Keep L{channels} as the client sees them, from the events it is sent."""
        name = event.name
        me = name_key(self.nick)
        if name in ("join", "part", "kick"):
            room_key, user = name_key(event["room"]), event["user"]
            if name_key(user) == me:
                if name == "join":
                    self.channels[room_key] = Channel(event["room"])
                    # Another session of the account joined: this client needs the names.
                    from tchat.door.irc.channels import names_request

                    room = event["room"]
                    self.clock.callLater(0, lambda: self.follow([names_request(self, room)]))
                else:
                    self.channels.pop(room_key, None)
            elif room_key in self.channels:
                members = self.channels[room_key].members
                if name == "join":
                    members[name_key(user)] = user
                else:
                    members.pop(name_key(user), None)
        elif name == "quit":
            for room in event.get("rooms") or ():
                channel = self.channels.get(name_key(room))
                if channel is not None:
                    channel.members.pop(name_key(event["user"]), None)
        elif name == "nick":
            old, new = event["old"], event["new"]
            if name_key(old) == me:
                self.nick = new
            for channel in self.channels.values():
                if channel.members.pop(name_key(old), None) is not None:
                    channel.members[name_key(new)] = new

    def joined(self, room: str) -> Channel:
        channel = self.channels.get(name_key(room))
        if channel is None:
            channel = self.channels[name_key(room)] = Channel(room)
        return channel

    def release_held(self) -> None:
        """Deliver what the chat sent between a SASL login and the welcome burst."""
        held, self.held = self.held or [], None
        for event in held:
            self.deliver(event)

    def in_channel(self, room: str) -> bool:
        return name_key(room) in self.channels

    # -- capabilities --------------------------------------------------------

    @property
    def out_codec(self) -> IrcCodec | None:
        """
        Once registered (and not holding events for its welcome burst), the
        profile: the delivery hands this session its turn's messages, topics
        and mode changes as the profile's bytes in one write (the events
        L{IrcCodec.plain} names), and the rest through L{deliver}.
        """
        return self.profile if self.registered and self.held is None else None

    def set_caps(self, caps: set[str]) -> None:
        self.caps = caps
        self.profile = self.door.codec(caps)


def wallops_lines(session: IrcSession, event: Event) -> bytes:
    """The hub's ``wallops``, as several lines if one would pass 512 bytes."""
    from tchat.door.irc.wire import LINE_MAX, split_text

    source = session.mask(str(event.get("from")))
    room = LINE_MAX - len(f":{source} WALLOPS :".encode("utf-8")) - 2
    return b"".join(encode("WALLOPS", [piece], source) for piece in split_text(str(event.get("text") or ""), room))


def shows_away(session: IrcSession, event: Event) -> bool:
    from tchat.door.irc.monitor import shows_away

    return shows_away(session, event)


def monitor_notice(session: IrcSession, event: Event) -> bytes:
    from tchat.door.irc.monitor import notice

    return notice(session, event)


def _command_of(raw: bytes) -> str:
    """The command of a line that is not UTF-8, for its FAIL: ``*`` if it cannot be read."""
    try:
        line = parse(raw.decode("utf-8", "replace").encode("utf-8"))
    except (BadLine, UnicodeDecodeError):
        return "*"
    command = line.command
    return command if command.isascii() and command.isalnum() else "*"


def _now_tag(session: IrcSession) -> str:
    from tchat.door.irc.wire import server_time

    return server_time(session.clock.seconds())
