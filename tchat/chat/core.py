"""
What every rule is built with: the config, the clock, the two seams (state
and delivery), the store (None for a server that keeps nothing) and the
metrics, plus the few helpers every rule uses to answer.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable, TypeVar

from twisted.internet.interfaces import IReactorTime

from tchat.chat.delivery import Delivery
from tchat.chat.model import Connection, HubConfig, User
from tchat.chat.state import State
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.events import Event, error_event, event_from, make_event
from tchat.metrics import Metrics
from tchat.store import Store, StoreError

F = TypeVar("F", bound=Callable[..., Any])


def handles(action: str) -> Callable[[F], F]:
    """
    Mark a rule's method as the handler of ``action`` (a row of
    L{tchat.commands.COMMANDS}). The hub binds every row to exactly one
    handler when it is built, so a missing or doubled one fails at start.
    """

    def mark(method: F) -> F:
        method.handles = action  # type: ignore[attr-defined]
        return method

    return mark


def unavailable(e: Exception) -> ChatError:
    """The error a person gets when the database does not answer: what, and that live chat goes on."""
    return ChatError(
        "unavailable",
        f"the server's database is not answering ({e}): accounts, history and offline messages wait until it is back;"
        " chatting as a guest and live messages go on",
    )


def confusable(name: str, alike: str, which: str) -> ChatError:
    """The refusal of a new ``name`` that looks like ``alike`` (``which``: "who is online", "a room that exists", …)."""
    return ChatError("confusable_name", f"the name {name} looks like {alike}, {which}; choose another")


def store_error(e: StoreError) -> ChatError:
    """A store refusal as the error a client gets."""
    return unavailable(e) if e.code == "unavailable" else ChatError(e.code, str(e))


class Core:
    """The dependencies rules share; each rule takes what it uses from here."""

    def __init__(
        self, config: HubConfig, clock: IReactorTime, state: State, delivery: Delivery, metrics: Metrics,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.state = state
        self.delivery = delivery
        self.metrics = metrics
        # Set by Hub.use_store once the store is open; None keeps nothing.
        self.store = store
        self.started = clock.seconds()
        self.stopping = False
        self._msgid_prefix = secrets.token_hex(4)
        self._msgid_seq = 0

    def now(self) -> float:
        return self.clock.seconds()

    def event(self, name: str, **fields: Any) -> Event:
        return make_event(name, ts=self.now(), **fields)

    def reply(self, connection: Connection, request: Request, name: str, **fields: Any) -> None:
        """
        Answer ``request``: the event carries the request's id (``re``) and
        the ``action`` it answers; its ``ts`` is now, unless given (a
        message's ``ok`` carries the message's own).
        """
        ts = fields.pop("ts", None)
        self.delivery.to_connection(
            connection, event_from(name, {"action": request.action, **fields}, self.now() if ts is None else ts, request.id)
        )

    def refuse(self, connection: Connection, request: Request, code: str, text: str, **fields: Any) -> None:
        """Answer ``request`` with an ``error`` (its ``re`` and ``action`` too)."""
        self.delivery.to_connection(
            connection, error_event(code, text, re=request.id, ts=self.now(), action=request.action, **fields)
        )

    def next_msgid(self) -> str:
        self._msgid_seq += 1
        return f"{self._msgid_prefix}-{self._msgid_seq}"

    def needs_store(self) -> Store:
        if self.store is None:
            raise ChatError("not_allowed", "this server keeps no accounts or history")
        return self.store

    def needs_account(self, user: User) -> Store:
        store = self.needs_store()
        if not user.registered:
            raise ChatError("not_registered", "only registered users have that; /register PASSWORD first")
        return store


def logged_in(connection: Connection) -> User:
    """The user of ``connection``, which the hub has checked is logged in."""
    assert connection.user is not None
    return connection.user
