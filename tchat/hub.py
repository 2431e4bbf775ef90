"""
The hub: the chat itself.

The hub holds who is connected, who is logged in under which name, which
rooms exist and who is in them, and who is an admin. It knows nothing of
bytes, sockets or encodings: a door turns each connection into a L{Session}
(anything with ``deliver``, ``close`` and ``describe``) and calls

- L{Hub.connect} when a connection opens (the hub greets it),
- L{Hub.greet} when a connection switches to JSON mode (greeted again, in JSON),
- L{Hub.handle} with each L{Request} the connection makes,
- L{Hub.disconnect} when the connection is gone.

The hub answers by calling ``session.deliver(event)``. An event meant for many
(a room message, a join) is built once and the same L{Event} object is given
to every recipient, so each door encodes it once per encoding.

Every handler is a coroutine so that it may wait on the store; a handler that
waits on nothing finishes inside L{Hub.handle}, which is what lets the hub be
tested with a L{twisted.internet.task.Clock} and no reactor.
"""

from __future__ import annotations

import hmac
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from tchat import __version__
from tchat.commands import BY_ACTION, Request, RequestId, help_entries
from tchat.accounts import AccountRules, unavailable
from tchat.errors import ChatError, in_seconds
from tchat.events import Event, error_event, make_event
from tchat.names import LOBBY, BadName, check_name, check_room, clean_text, is_room, name_key
from tchat.metrics import Metrics
from tchat.store import Store, StoreError
from tchat.throttle import Guess, GuessThrottle, RateLimit

log = Logger()

# What a quit's bye says ("*** Bye: you left the chat" in text mode).
QUIT_BYE = "you left the chat"


class Session(Protocol):
    """One connection, as the hub sees it. Doors implement this."""

    def deliver(self, event: Event) -> None:
        """Send ``event`` to the client; never blocks, never raises."""

    def close(self, reason: str, re: RequestId | None = None) -> None:
        """Send a ``bye`` event with ``reason`` (answering request ``re``, for a quit), then disconnect."""

    def describe(self) -> dict[str, str]:
        """``address`` and ``door`` of this connection, for logs and ``/debug``."""

    def drained(self) -> Deferred[None]:
        """Fires once what was delivered so far has left for the client (its send buffer has room)."""


@dataclass
class HubConfig:
    server_name: str = "tchat"
    motd: str | None = None
    max_users: int = 1000
    max_rooms_per_user: int = 50
    admin_password: str | None = field(default=None, repr=False)
    # "open": anyone may /register; "closed": only admins make accounts.
    registration: str = "open"
    guests: bool = True
    # Most private messages waiting for one offline user.
    offline_limit: int = 1000
    # Of those, most from one sender, and from all guests together.
    offline_per_sender: int = 100
    offline_from_guests: int = 100
    # Most messages of one sender fanned out but not yet stored (their oks wait).
    max_unstored: int = 32
    # What costs a password hash, per address (and /passwd per account too):
    # at once, and then how many an hour.
    register_burst: int = 10
    register_per_hour: float = 10.0
    passwd_burst: int = 3
    passwd_per_hour: float = 60.0


@dataclass(eq=False)
class Room:
    name: str
    members: dict[str, "Member"] = field(default_factory=dict)
    # How many members are on each door: a fan-out counts its deliveries
    # from this, not one by one (see tchat.metrics).
    doors: Counter[str] = field(default_factory=Counter)

    def names(self) -> list[str]:
        return sorted((m.name for m in self.members.values() if m.name is not None), key=name_key)


@dataclass(eq=False)
class Member:
    """A connection's standing in the chat: its name once logged in, its rooms."""

    session: Session
    since: float
    # The door it came in by ("tcp", "web"), for metrics.
    door: str = "?"
    name: str | None = None
    key: str | None = None
    rooms: dict[str, Room] = field(default_factory=dict)
    current: Room | None = None
    admin: bool = False
    registered: bool = False
    # Messages fanned out whose ok waits for the store, and who waits for them all.
    unstored: int = 0
    waiting_for_store: list[Deferred[None]] = field(default_factory=list)
    # Whether this member's offline messages are being delivered, and
    # whether more arrived meanwhile.
    delivering_offline: bool = False
    offline_again: bool = False
    # Keys of this user's contacts, and of those offered as contacts this session.
    contacts: set[str] = field(default_factory=set)
    offered: set[str] = field(default_factory=set)

    def stored_all(self) -> Deferred[None]:
        """Fires when none of this member's messages waits for the store."""
        d: Deferred[None] = Deferred()
        self.waiting_for_store.append(d)
        return d

    @property
    def address(self) -> str:
        return self.session.describe().get("address", "?")


class Hub(AccountRules):
    def __init__(
        self,
        config: HubConfig,
        clock: IReactorTime,
        on_stop: Callable[[], object] | None = None,
        store: Store | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics if metrics is not None else Metrics()
        self.clock = clock
        self.started = clock.seconds()
        # Called when a /shutdown's delay is over; the service makes it stop
        # the reactor, which in turn calls close_all.
        self.on_stop: Callable[[], object] = on_stop or (lambda: self.close_all())
        self.members: dict[Session, Member] = {}
        self.users: dict[str, Member] = {}
        self.rooms: dict[str, Room] = {name_key(LOBBY): Room(LOBBY)}
        self.stopping = False
        # Wrong guesses of the admin password and of accounts' passwords.
        self.admin_guesses = GuessThrottle(clock)
        self.login_guesses = GuessThrottle(clock)
        self.known_accounts: set[str] = set()
        self.registrations = RateLimit(config.register_per_hour / 3600, config.register_burst, clock)
        self.password_changes = RateLimit(config.passwd_per_hour / 3600, config.passwd_burst, clock)
        self._shutdown_reason = "server stopping"
        self._stop_call: IDelayedCall | None = None
        self._msgid_prefix = secrets.token_hex(4)
        self._msgid_seq = 0

    # -- helpers ---------------------------------------------------------

    def now(self) -> float:
        return self.clock.seconds()

    def event(self, name: str, **fields: Any) -> Event:
        return make_event(name, ts=self.now(), **fields)

    def _reply(self, member: Member, request: Request, name: str, **fields: Any) -> None:
        member.session.deliver(make_event(name, ts=self.now(), re=request.id, **fields))
        self.metrics.delivered(member.door)

    def _next_msgid(self) -> str:
        self._msgid_seq += 1
        return f"{self._msgid_prefix}-{self._msgid_seq}"

    def fan_out(self, room: Room, event: Event, skip: Member | None = None) -> None:
        """Give the same ``event`` to every member of ``room`` but ``skip``."""
        # A snapshot: a delivery may drop its member (too slow) mid-loop.
        for member in tuple(room.members.values()):
            if member is not skip:
                member.session.deliver(event)
        self.metrics.fanned_out(room.doors)
        if skip is not None and skip.key in room.members:
            self.metrics.delivered(skip.door, -1)

    def online(self) -> list[str]:
        return sorted((m.name for m in self.users.values() if m.name is not None), key=name_key)

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name_key(name))
        if room is None:
            raise ChatError("no_such_room", f"no such room: {name}")
        return room

    def _room_of(self, member: Member, name: str | None) -> Room:
        """The room ``name`` (or the current room) that ``member`` is in."""
        if name is None:
            if member.current is None:
                raise ChatError("not_in_room", "you are in no room; /join #room first")
            return member.current
        room = self._room(name)
        if room not in member.rooms.values():
            raise ChatError("not_in_room", f"you are not in {room.name}; /join {room.name} first")
        return room

    # -- the door's side -------------------------------------------------

    def connect(self, session: Session) -> None:
        """A new connection: greet it, or turn it away if the server is stopping."""
        described = session.describe()
        self.members[session] = Member(session, since=self.now(), door=described.get("door", "?").split("/")[0])
        log.info("connect from {address} via {door}", **described)
        if self.stopping:
            del self.members[session]
            session.close(self._shutdown_reason)
            return
        self.greet(session)

    def greet(self, session: Session) -> None:
        """Deliver the ``welcome`` event (again, when a client turns to JSON)."""
        session.deliver(
            self.event(
                "welcome",
                server=self.config.server_name,
                version=__version__,
                motd=self.config.motd,
                text=f"Welcome to {self.config.server_name} {__version__}."
                " Type a name to log in (or /help).",
            )
        )

    def handle(self, session: Session, request: Request) -> Deferred[None]:
        """
        Carry out ``request``. The Deferred fires when it is done; it never
        fails (errors are delivered to the session as ``error`` events).
        """
        return Deferred.fromCoroutine(self._handle(session, request))

    async def _handle(self, session: Session, request: Request) -> None:
        member = self.members.get(session)
        if member is None:
            return
        command = BY_ACTION[request.action]
        # A plain line before login is a login too.
        logging_in = request.action == "login" or (request.action == "line" and member.name is None)
        failed: str | None = None
        try:
            if member.name is None and not command.before_login:
                raise ChatError("not_logged_in", "log in first: type a name, or /login NAME")
            if command.admin and not member.admin:
                raise ChatError("not_allowed", f"/{request.action} is for admins; see /admin")
            await getattr(self, "_do_" + request.action)(member, request)
        except ChatError as e:
            failed = e.code
            session.deliver(error_event(e.code, e.text, re=request.id, ts=self.now()))
        except StoreError as e:
            # Whatever the rules did not turn into a ChatError themselves.
            error = unavailable(e) if e.code == "unavailable" else ChatError(e.code, str(e))
            failed = error.code
            session.deliver(error_event(error.code, error.text, re=request.id, ts=self.now()))
        except Exception:
            failed = "internal_error"
            log.failure("request {action} from {address} failed", action=request.action, address=member.address)
            session.deliver(
                error_event("internal_error", "the server failed to do that; it has been logged", re=request.id, ts=self.now())
            )
        if failed == "rate_limited":
            self.metrics.rate_limited.inc()
        if logging_in:
            self.metrics.logins.labels(failed or ("account" if member.registered else "guest")).inc()

    def user_of(self, session: Session) -> str | None:
        """The name ``session`` is logged in as, or None."""
        member = self.members.get(session)
        return None if member is None else member.name

    def disconnect(self, session: Session, reason: str = "connection lost") -> None:
        """The connection is gone (or is being closed); the others are told."""
        member = self.members.pop(session, None)
        if member is not None:
            self._leave_all(member, reason)

    # -- leaving ---------------------------------------------------------

    def _leave_all(self, member: Member, reason: str) -> None:
        if member.name is not None:
            self.users.pop(member.key, None)  # type: ignore[arg-type]
            self.record_seen(member)
            log.info("{user} from {address} left: {reason}", user=member.name, address=member.address, reason=reason)
            for room in list(member.rooms.values()):
                self._part(member, room, reason)
        else:
            log.info("{address} left before logging in: {reason}", address=member.address, reason=reason)

    def _drop(self, member: Member, bye: str, part_reason: str, re: RequestId | None = None) -> None:
        """Remove ``member`` from the chat, then say ``bye`` (answering ``re``) and disconnect it."""
        if part_reason.startswith("kicked") or part_reason in ("server full", "name taken by its account"):
            self.metrics.dropped.labels(part_reason.split(" by ")[0]).inc()
        self.members.pop(member.session, None)
        self._leave_all(member, part_reason)
        member.session.close(bye, re)

    def _part(self, member: Member, room: Room, reason: str | None) -> None:
        del room.members[member.key]  # type: ignore[arg-type]
        room.doors[member.door] -= 1
        del member.rooms[name_key(room.name)]
        if member.current is room:
            member.current = next(reversed(member.rooms.values()), None)
        if not self.stopping:
            self.fan_out(room, self.event("part", room=room.name, user=member.name, reason=reason))
        if not room.members and room.name != LOBBY:
            del self.rooms[name_key(room.name)]

    def _join(self, member: Member, room: Room) -> None:
        room.members[member.key] = member  # type: ignore[index]
        room.doors[member.door] += 1
        member.rooms[name_key(room.name)] = room
        member.current = room
        self.fan_out(room, self.event("join", room=room.name, user=member.name), skip=member)

    # -- requests --------------------------------------------------------

    async def _do_login(self, member: Member, request: Request) -> None:
        if member.name is not None:
            raise ChatError("already_logged_in", f"you are already logged in as {member.name}")
        try:
            name = check_name(request.args["user"].strip())
        except BadName as e:
            raise ChatError("bad_name", f"{e}; choose another name") from None
        key = name_key(name)
        holder = self.users.get(key)
        if holder is not None and holder.registered:
            raise ChatError("name_taken", f"the name {name} is taken; choose another name")
        account = await self.check_account(member, name, key, request.args.get("password"))
        rooms = await self.saved_rooms(account)
        unread = await self.unread_counts(account, rooms)
        # The world may have moved while the store answered.
        if self.members.get(member.session) is not member:
            return
        holder = self.users.get(key)
        if holder is not None:
            if account is None or holder.registered:
                raise ChatError("name_taken", f"the name {name} is taken; choose another name")
            # A guest holds a name that has become an account (an admin made
            # it): the account's owner, who just gave its password, takes it.
            log.info("{user} logged in to the account; the guest using the name is let go", user=account.name)
            holder.session.deliver(self.event(
                "notice", text=f"The name {account.name} is a registered account, and its owner has just logged in; log in again under another name.",
            ))
            self._drop(holder, f"the name {account.name} is taken by its account", "name taken by its account")
        if len(self.users) >= self.config.max_users:
            member.session.deliver(
                error_event("server_full", f"the server is full ({self.config.max_users} users); try again later", re=request.id, ts=self.now())
            )
            self._drop(member, "server full", "server full")
            return
        member.name = account.name if account is not None else name
        member.key = key
        member.registered = account is not None
        self.users[key] = member
        for room_key, room_name in rooms:
            if len(member.rooms) < self.config.max_rooms_per_user:
                room = self.rooms.get(room_key) or self.rooms.setdefault(room_key, Room(room_name))
                self._join(member, room)
        log.info("{user} logged in from {address}", user=member.name, address=member.address)
        self._reply(
            member, request, "logged_in", user=member.name, rooms=[r.name for r in member.rooms.values()],
            users=self.online(), registered=member.registered, unread=unread,
        )
        if account is not None:
            await self.after_login(member, account)

    async def _do_line(self, member: Member, request: Request) -> None:
        text = request.args["text"]
        if member.name is None:
            await self._do_login(member, Request("login", {"user": text}, request.id))
        else:
            await self._do_msg(member, Request("msg", {"text": text}, request.id))

    async def _do_msg(self, member: Member, request: Request) -> None:
        text = clean_text(request.args["text"]).rstrip()
        if not text.strip():
            raise ChatError("empty_message", "empty message: type some text")
        kind = request.args.get("kind")
        if kind not in (None, "public", "private", "action"):
            raise ChatError("bad_request", 'kind must be "action" (for /me) or left out')
        target = request.args.get("to")
        if target is None or is_room(target):
            room = self._room_of(member, target)
            msgid = self._next_msgid()
            event = self.event(
                "message", msgid=msgid, **{"from": member.name}, to=room.name, text=text,
                kind="action" if kind == "action" else "public", registered=member.registered or None,
            )
            self.fan_out(room, event, skip=member)
            self.metrics.messages.labels(event["kind"]).inc()
            await self._ok_when_stored(member, request, self.keep_message(event.fields), msgid=msgid)
            return
        kind = "action" if kind == "action" else "private"
        msgid = self._next_msgid()
        other = self.users.get(name_key(target))
        if other is None:
            fields = {"msgid": msgid, "from": member.name, "to": target, "text": text, "kind": kind, "ts": self.now()}
            if member.registered:
                fields["registered"] = True
            account = await self.queue_offline(member, target, fields)
            self.metrics.messages.labels(kind).inc()
            await self.keep_message(fields)
            self._reply(
                member, request, "ok", msgid=msgid, queued=True,
                text=f"{account.name} is offline; they will get it when they log in",
            )
            # They may have logged in while the message was being queued.
            arrived = self.users.get(account.key)
            if arrived is not None:
                await self.deliver_offline(arrived)
            return
        event = self.event(
            "message", msgid=msgid, **{"from": member.name}, to=other.name, text=text, kind=kind,
            registered=member.registered or None,
        )
        other.session.deliver(event)
        self.metrics.delivered(other.door)
        self.metrics.messages.labels(kind).inc()
        self.offer_contact(member, other)
        await self._ok_when_stored(
            member, request, self.keep_message(event.fields),
            msgid=msgid, text=f"sent to {other.name}" if other is not member else None,
        )

    async def _ok_when_stored(self, member: Member, request: Request, stored: Deferred[None], **fields: Any) -> None:
        """
        Answer ``ok`` once the message is stored, without holding up the
        sender's next request meanwhile: the store commits messages in
        groups, and a sender that waited for each commit before its next
        message was held to one message per commit. At most
        ``max_unstored`` of a sender's messages wait at once; past that, its
        requests wait too. Oks come in the order of the messages.
        """
        member.unstored += 1
        finished: Deferred[None] = Deferred()

        def finish(result: Any) -> None:
            member.unstored -= 1
            if isinstance(result, Failure) and result.check(StoreError) and result.value.code == "unavailable":
                # Delivered all the same: the live chat does not wait for the database.
                log.warn("a message from {user} was delivered but not stored: {why}", user=member.name, why=result.value)
                # Not an ok: what was asked (deliver and keep) was half done.
                # "delivered" tells a program not to send it again.
                member.session.deliver(make_event(
                    "error", ts=self.now(), re=request.id, code="unavailable", msgid=fields.get("msgid"), delivered=True,
                    text=f"your message was delivered, but not kept in the history: {result.value}",
                ))
            elif isinstance(result, Failure):
                log.failure("a message from {user} was delivered but not stored", result, user=member.name)
                member.session.deliver(
                    error_event("internal_error", "your message was delivered but could not be stored", re=request.id, ts=self.now())
                )
            else:
                self._reply(member, request, "ok", **fields)
            # Only now may a waiting quit go on: its bye must follow this ok.
            if not member.unstored:
                waiting, member.waiting_for_store = member.waiting_for_store, []
                for d in waiting:
                    d.callback(None)
            finished.callback(None)

        stored.addBoth(finish)
        if member.unstored > self.config.max_unstored:
            await finished

    async def _do_join(self, member: Member, request: Request) -> None:
        try:
            name = check_room(request.args["room"].strip())
        except BadName as e:
            raise ChatError("bad_name", str(e)) from None
        key = name_key(name)
        room = self.rooms.get(key)
        if room is not None and key in member.rooms:
            member.current = room
            self._reply(member, request, "ok", room=room.name, users=room.names(), text=f"you are in {room.name}; plain lines now go there")
            return
        if len(member.rooms) >= self.config.max_rooms_per_user:
            raise ChatError("too_many_rooms", f"you are in {len(member.rooms)} rooms, the most allowed; /part one first")
        if room is None:
            room = self.rooms[key] = Room(name)
        self._join(member, room)
        await self.remember_join(member, room)
        users = room.names()
        self._reply(member, request, "ok", room=room.name, users=users, text=f"you joined {room.name}; in it: {', '.join(users)}")

    async def _do_part(self, member: Member, request: Request) -> None:
        room = self._room_of(member, request.args.get("room"))
        reason = request.args.get("reason")
        self._part(member, room, clean_text(reason).strip() or None if reason else None)
        await self.remember_part(member, room)
        current = f"; plain lines now go to {member.current.name}" if member.current else "; you are in no room now"
        self._reply(member, request, "ok", room=room.name, text=f"you left {room.name}{current}")

    async def _do_room(self, member: Member, request: Request) -> None:
        room = self._room_of(member, request.args["room"])
        member.current = room
        self._reply(member, request, "ok", room=room.name, text=f"plain lines now go to {room.name}")

    async def _do_users(self, member: Member, request: Request) -> None:
        name = request.args.get("room")
        if name is None:
            self._reply(member, request, "users", users=self.online())
        else:
            room = self._room(name)
            self._reply(member, request, "users", room=room.name, users=room.names())

    async def _do_rooms(self, member: Member, request: Request) -> None:
        rooms = sorted(self.rooms.values(), key=lambda r: name_key(r.name))
        self._reply(member, request, "rooms", rooms=[{"room": r.name, "members": len(r.members)} for r in rooms])

    async def _do_whoami(self, member: Member, request: Request) -> None:
        self._reply(
            member, request, "whoami", user=member.name, rooms=[r.name for r in member.rooms.values()],
            admin=member.admin, current=member.current.name if member.current else None,
            registered=member.registered,
        )

    async def _do_quit(self, member: Member, request: Request) -> None:
        reason = clean_text(request.args.get("reason") or "").strip()
        # The oks of messages sent just before come before the bye.
        while member.unstored:
            await member.stored_all()
        self._drop(member, QUIT_BYE, f"quit: {reason}" if reason else "quit", re=request.id)

    async def _do_help(self, member: Member, request: Request) -> None:
        word = request.args.get("command")
        entries = help_entries(word)
        if not entries:
            raise ChatError("unknown_command", f"no command {word}; /help lists them")
        text = None
        if word is None:
            text = "A plain line goes to your current room; start it with // to send a line beginning with /."
        self._reply(member, request, "help", commands=entries, text=text)

    async def _do_ping(self, member: Member, request: Request) -> None:
        self._reply(member, request, "pong", token=request.args.get("token"))

    async def _do_pong(self, member: Member, request: Request) -> None:
        pass  # the door counts any line as a sign of life; nothing to answer

    async def _do_admin(self, member: Member, request: Request) -> None:
        secret = self.config.admin_password
        if not secret:
            raise ChatError("not_allowed", "admin commands are off: this server has no admin password")
        guess = self.admin_guesses.attempt("admin", self._host(member))
        if not isinstance(guess, Guess):
            raise ChatError("rate_limited", f"too many wrong admin passwords; try again in {in_seconds(guess)}")
        if not hmac.compare_digest(request.args["password"].encode(), secret.encode()):
            guess.failed()
            log.warn("wrong admin password from {user} at {address}", user=member.name, address=member.address)
            raise ChatError("bad_password", "wrong admin password")
        guess.succeeded()
        member.admin = True
        log.info("{user} at {address} is now an admin", user=member.name, address=member.address)
        self._reply(member, request, "ok", text="you are an admin now: /kick, /shutdown, /debug")

    async def _do_kick(self, member: Member, request: Request) -> None:
        target = self.users.get(name_key(request.args["user"]))
        if target is None:
            raise ChatError("no_such_user", f"no such user: {request.args['user']}")
        if target is member:
            raise ChatError("bad_request", "you cannot kick yourself; /quit leaves")
        reason = clean_text(request.args.get("reason") or "").strip()
        why = f"kicked by {member.name}" + (f": {reason}" if reason else "")
        log.info("{admin} kicked {user} ({why})", admin=member.name, user=target.name, why=why)
        target.session.deliver(self.event("notice", text=f"You were {why}"))
        self._reply(member, request, "ok", text=f"kicked {target.name}")
        self._drop(target, "kicked", why)

    async def _do_shutdown(self, member: Member, request: Request) -> None:
        delay = request.args.get("delay", 0)
        if not 0 <= delay <= 3600:
            raise ChatError("bad_request", "delay is a number of seconds from 0 to 3600")
        reason = clean_text(request.args.get("reason") or "").strip() or "the server is shutting down"
        self._reply(member, request, "ok", text=f"shutting down in {delay} s")
        log.info("{user} shuts the server down in {delay} s: {reason}", user=member.name, delay=delay, reason=reason)
        self.begin_shutdown(reason, delay)

    async def _do_debug(self, member: Member, request: Request) -> None:
        connections = []
        for m in self.members.values():
            info = m.session.describe()
            connections.append(
                {
                    "user": m.name,
                    "address": info.get("address", "?"),
                    "door": info.get("door", "?"),
                    "since": m.since,
                    "rooms": [r.name for r in m.rooms.values()],
                    "admin": m.admin,
                }
            )
        rooms = [{"room": r.name, "users": r.names()} for r in sorted(self.rooms.values(), key=lambda r: name_key(r.name))]
        uptime = self.now() - self.started
        log.info(
            "debug by {user}: uptime {uptime:.0f}s, {count} connections: {connections}; rooms: {rooms}",
            user=member.name, uptime=uptime, count=len(connections), connections=connections, rooms=rooms,
        )
        self._reply(
            member, request, "debug", uptime=uptime, users_online=len(self.users), connections=connections, rooms=rooms,
        )

    # -- stopping --------------------------------------------------------

    def begin_shutdown(self, reason: str, delay: float = 0) -> None:
        """Tell everyone the server is going down; after ``delay`` s, stop."""
        if self.stopping:
            return
        self.stopping = True
        self._shutdown_reason = reason
        event = self.event("shutdown", text=reason, delay=delay)
        for member in list(self.members.values()):
            member.session.deliver(event)
        self._stop_call = self.clock.callLater(delay, self.on_stop)

    def close_all(self, reason: str | None = None) -> None:
        """
        Say goodbye to every connection and close it. Those not yet told get a
        ``shutdown`` event first, so a stop by signal looks like ``/shutdown``.
        """
        if not self.stopping:
            self.stopping = True
            self._shutdown_reason = reason or self._shutdown_reason
            event = self.event("shutdown", text=self._shutdown_reason, delay=0)
            for member in list(self.members.values()):
                member.session.deliver(event)
        if self._stop_call is not None and self._stop_call.active():
            self._stop_call.cancel()
        for member in list(self.members.values()):
            self._drop(member, self._shutdown_reason, "server stopping")
