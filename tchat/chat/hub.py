"""
The hub: where doors hand the chat their connections and requests.

It knows nothing of bytes, sockets or encodings: a door turns each
connection into a L{Session} and calls

- L{Hub.connect} when a connection opens (the hub greets it),
- L{Hub.greet} when a connection switches to JSON mode (greeted again, in JSON),
- L{Hub.handle} with each L{Request} the connection makes,
- L{Hub.disconnect} when the connection is gone.

The hub checks what the command table says of each request (may it come
before login, is it for admins) and hands it to the one rule that handles
its action (see L{tchat.chat.core.handles}); the rules live in one module
per domain beside this one and reach the world only through the state and
delivery seams. Every handler is a coroutine so that it may wait on the
store; one that waits on nothing finishes inside L{Hub.handle}, which is
what lets the hub be tested with a L{twisted.internet.task.Clock} and no
reactor.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable, Coroutine

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from tchat import __version__
from tchat.chat.accounts import AccountRules
from tchat.chat.contacts import ContactRules
from tchat.chat.core import Core, store_error
from tchat.chat.delivery import Delivery, LocalDelivery
from tchat.chat.history import HistoryRules
from tchat.chat.info import InfoRules
from tchat.chat.login import LoginRules
from tchat.chat.messages import MessageRules
from tchat.chat.model import Connection, HubConfig, Session
from tchat.chat.moderation import ModerationRules
from tchat.chat.offline import OfflineRules
from tchat.chat.people import PeopleRules
from tchat.chat.rooms import RoomRules
from tchat.chat.server_admin import ServerAdminRules
from tchat.chat.state import LocalState, State
from tchat.chat.readmarkers import ReadMarkerRules
from tchat.chat.watch import WatchRules
from tchat.commands import BY_ACTION, Request
from tchat.errors import ChatError
from tchat.events import make_event
from tchat.metrics import Metrics
from tchat.store import Store, StoreError

log = Logger()

Handler = Callable[[Connection, Request], Awaitable[None]]


class Hub:
    def __init__(
        self,
        config: HubConfig,
        clock: IReactorTime,
        on_stop: Callable[[], object] | None = None,
        store: Store | None = None,
        metrics: Metrics | None = None,
        state: State | None = None,
        delivery: Delivery | None = None,
        batch: bool = False,
    ) -> None:
        metrics = metrics if metrics is not None else Metrics()
        state = state if state is not None else LocalState()
        state.set_lobby(config.lobby)
        # batch: write each reactor turn's deliveries together at its end (the
        # server); without it every event is handed to its sessions at once.
        delivery = delivery if delivery is not None else LocalDelivery(state, metrics, clock if batch else None)
        self.core = core = Core(config, clock, state, delivery, metrics, store)
        self.config, self.state, self.metrics = config, state, metrics
        self.rooms = RoomRules(core)
        self.contacts = ContactRules(core)
        self.offline = OfflineRules(core)
        self.login = LoginRules(core, self.rooms, self.offline, self.contacts)
        self.messages = MessageRules(core, self.rooms, self.offline, self.contacts)
        self.accounts = AccountRules(core, self.login, self.rooms)
        self.history = HistoryRules(core)
        self.admin = ServerAdminRules(core, self.login, on_stop or (lambda: self.close_all()))
        self.info = InfoRules(core)
        self.moderation = ModerationRules(core, self.rooms, lambda connection, request: self.admin.do_kill(connection, request))
        self.people = PeopleRules(core)
        self.watch = WatchRules(core)
        self.read_markers = ReadMarkerRules(core)
        self.recent_log = self.admin.recent_log
        self.handlers = bind_handlers(
            self.rooms, self.contacts, self.login, self.messages, self.accounts, self.history, self.admin, self.info,
            self.moderation, self.people, self.watch, self.read_markers,
        )

    @property
    def store(self) -> Store | None:
        return self.core.store

    @store.setter
    def store(self, store: Store | None) -> None:
        self.core.store = store

    @property
    def on_stop(self) -> Callable[[], object]:
        return self.admin.on_stop

    @on_stop.setter
    def on_stop(self, on_stop: Callable[[], object]) -> None:
        self.admin.on_stop = on_stop

    async def use_store(self, store: Store) -> None:
        """Keep accounts and history in ``store`` from now on (the service calls this once it is open)."""
        store.db.observe = self.metrics.store_seconds.observe
        await self.login.use_store(store)
        self.core.store = store
        await self.rooms.load_kept()

    # -- the door's side -------------------------------------------------

    def connect(self, session: Session) -> None:
        """A new connection: greet it, or turn it away if the server is stopping."""
        described = session.describe()
        log.info("connect from {address} via {door}", **described)
        if self.core.stopping:
            session.close(self.admin.shutdown_reason)
            return
        self.state.add_connection(Connection(session, since=self.core.now(), door=described.get("door", "?").split("/")[0]))
        self.greet(session)

    def flush(self) -> None:
        """Write what the chat delivered so far now, before a door sends something of its own."""
        self.core.delivery.flush()

    def greet(self, session: Session) -> None:
        """Deliver the ``welcome`` event (again, when a client turns to JSON)."""
        name = self.config.server_name
        connection = self.state.connection(session)
        if connection is None:
            return
        self.core.delivery.to_connection(connection, make_event(
            "welcome", ts=self.core.now(), server=name, version=__version__, motd=self.config.motd,
        ))

    def handle(self, session: Session, request: Request) -> Deferred[None]:
        """
        Carry out ``request``. The Deferred fires when it is done; it never
        fails (errors are delivered to the session as ``error`` events).
        """
        # Most requests wait on nothing (a room message waits for its store
        # write through a callback, not an await): their coroutine ends in
        # its first step, here, and needs none of the machinery of
        # Deferred.fromCoroutine (a Deferred, a canceller, a status and a
        # callback run per request). One that waits goes on in Twisted's.
        coroutine = self._handle(session, request)
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return succeed(None)
        except BaseException:
            return fail()
        return Deferred.fromCoroutine(_go_on(coroutine, waiting))

    async def _handle(self, session: Session, request: Request) -> None:
        connection = self.state.connection(session)
        if connection is None:
            return
        if request.action == "line":
            # A plain line is text mode's: the line door makes it a login or a
            # message (tchat.door.textmode) before it gets here.
            self.core.refuse(connection, request, "bad_request", "a plain line means something only in text mode")
            return
        command = BY_ACTION[request.action]
        failed: str | None = None
        try:
            # An admin connection (the admin page) may run admin commands without a chat name.
            if connection.user is None and not command.before_login and not (command.admin and connection.admin):
                raise ChatError("not_logged_in", "log in first: type a name, or /login NAME")
            if command.admin and not connection.admin:
                raise ChatError("not_allowed", f"/{request.action} is for admins; see /admin")
            await self.handlers[request.action](connection, request)
        except (ChatError, StoreError) as e:
            # A store refusal the rules did not turn into a ChatError themselves.
            error = e if isinstance(e, ChatError) else store_error(e)
            failed = error.code
            self.core.refuse(connection, request, error.code, error.text)
        except Exception:
            failed = "internal_error"
            log.failure("request {action} from {address} failed", action=request.action, address=connection.address)
            self.core.refuse(connection, request, "internal_error", "the server failed to do that; it has been logged")
        if failed == "rate_limited":
            self.metrics.rate_limited.inc()
        if request.action == "login":
            registered = connection.user is not None and connection.user.registered
            self.metrics.logins.labels(failed or ("account" if registered else "guest")).inc()

    def user_of(self, session: Session) -> str | None:
        """The name ``session`` is logged in as, or None."""
        connection = self.state.connection(session)
        return None if connection is None else connection.name

    def signed_in(self, session: Session) -> bool:
        """
        Whether ``session`` proved who it is: logged in to the chat, or proved
        the admin password (the admin page's connection, which has no chat
        name). The doors' login timeout and pending count end there.
        """
        connection = self.state.connection(session)
        return connection is not None and (connection.name is not None or connection.admin)

    def disconnect(self, session: Session, reason: str = "connection lost") -> None:
        """The connection is gone (or is being closed); the others are told if its user left."""
        connection = self.state.remove_connection(session)
        if connection is not None:
            self.login.leave(connection, reason)

    # -- stopping --------------------------------------------------------

    def begin_shutdown(self, reason: str, delay: float = 0) -> None:
        self.admin.begin_shutdown(reason, delay)

    def close_all(self, reason: str | None = None) -> None:
        self.admin.close_all(reason)


def bind_handlers(*rules: object) -> dict[str, Handler]:
    """Every row of the command table bound to the one rule method marked to handle it."""
    handlers: dict[str, Handler] = {}
    for rule in rules:
        for _, method in inspect.getmembers(rule, inspect.ismethod):
            action = getattr(method, "handles", None)
            if action is None:
                continue
            if action not in BY_ACTION:
                raise TypeError(f"{method.__qualname__} handles {action!r}, which is no row of the command table")
            if action in handlers:
                raise TypeError(f"{action!r} has two handlers: {handlers[action].__qualname__} and {method.__qualname__}")
            handlers[action] = method
    missing = [c.action for c in BY_ACTION.values() if c.action not in handlers and c.action != "line"]
    if missing:
        raise TypeError(f"no handler for {', '.join(missing)}")
    return handlers


__all__ = ["Hub", "HubConfig", "Session", "bind_handlers"]


async def _go_on(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    """
    Go on with ``coroutine``, whose first step (taken by L{Hub.handle}) ended
    awaiting ``waiting`` (what a Deferred's __await__ yields: the Deferred):
    each value or exception it awaits is passed back in, as the coroutine
    would have had from Deferred.fromCoroutine.
    """
    while True:
        try:
            result = await waiting
        except BaseException as error:
            try:
                waiting = coroutine.throw(error)
            except StopIteration:
                return
        else:
            try:
                waiting = coroutine.send(result)
            except StopIteration:
                return
