"""
What a server admin may do: prove the admin password (per connection),
disconnect a user from the server (``kill``; ``/kick NAME`` still works),
shut the server down, see every connection (``/debug``), and manage
accounts.
"""

from __future__ import annotations

import hmac
from typing import Any, Callable

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from tchat.chat.core import Core, confusable, handles, store_error
from tchat.chat.login import LoginRules
from tchat.chat.model import Connection
from tchat.commands import Request
from tchat.errors import ChatError, in_seconds
from tchat.names import BadName, check_name, clean_text, name_key
from tchat.recent_log import RecentLog
from tchat.store import Account, Store, StoreError
from tchat.throttle import Guess, GuessThrottle

log = Logger()

WALLOPS_MAX = 400
# The sender of a wallops from an admin connection with no chat name (the admin page).
ADMIN = "an admin"


class ServerAdminRules:
    def __init__(self, core: Core, login: LoginRules, on_stop: Callable[[], object]) -> None:
        self.core = core
        # What /log reads; the service attaches it to the log.
        self.recent_log = RecentLog()
        self.state = core.state
        self.login = login
        # Called when a /shutdown's delay is over; the service makes it stop
        # the reactor, which in turn calls close_all.
        self.on_stop = on_stop
        self.guesses = GuessThrottle(core.clock)
        self._shutdown_reason = "server stopping"
        self._stop_call: IDelayedCall | None = None

    @property
    def shutdown_reason(self) -> str:
        return self._shutdown_reason

    @handles("admin")
    async def do_admin(self, connection: Connection, request: Request) -> None:
        secret = self.core.config.admin_password
        if not secret:
            raise ChatError("not_allowed", "admin commands are off: this server has no admin password")
        guess = self.guesses.attempt("admin", connection.host)
        if not isinstance(guess, Guess):
            raise ChatError("rate_limited", f"too many wrong admin passwords; try again in {in_seconds(guess)}")
        if not hmac.compare_digest(request.args["password"].encode(), secret.encode()):
            guess.failed()
            log.warn("wrong admin password from {user} at {address}", user=_who(connection), address=connection.address)
            raise ChatError("bad_password", "wrong admin password")
        guess.succeeded()
        connection.admin = True
        log.info("{user} at {address} is now an admin", user=_who(connection), address=connection.address)
        self.core.reply(connection, request, "ok")

    @handles("kill")
    async def do_kill(self, connection: Connection, request: Request) -> None:
        target = self.state.user(name_key(request.args["user"]))
        if target is None:
            raise ChatError("no_such_user", f"no such user: {request.args['user']}")
        if target is connection.user:
            raise ChatError("bad_request", "you cannot kick yourself; /quit leaves")
        reason = clean_text(request.args.get("reason") or "").strip()
        # An admin not logged in to the chat (the admin page) is "an admin".
        why = f"kicked by {connection.name or 'an admin'}" + (f": {reason}" if reason else "")
        log.info("{admin} kicked {user} ({why})", admin=_who(connection), user=target.name, why=why)
        self.core.delivery.to_user(target, self.core.event("notice", text=f"You were {why}"))
        self.core.reply(connection, request, "ok", user=target.name)
        self.login.drop_user(target, "kicked", why)

    @handles("wallops")
    async def do_wallops(self, connection: Connection, request: Request) -> None:
        text = clean_text(request.args["text"]).strip()
        if not text:
            raise ChatError("empty_message", "empty message: type some text")
        if len(text) > WALLOPS_MAX:
            raise ChatError("bad_request", f"a wallops is at most {WALLOPS_MAX} characters")
        sender = connection.user.name if connection.user is not None else ADMIN
        event = self.core.event("wallops", text=text, **{"from": sender})
        # This node's admins (another node's connection is not known here to be one).
        admins = [c for c in self.state.connections() if c.admin]
        for admin in admins:
            self.core.delivery.to_connection(admin, event)
        self.core.reply(connection, request, "ok", sent=len(admins))

    @handles("shutdown")
    async def do_shutdown(self, connection: Connection, request: Request) -> None:
        delay = request.args.get("delay", 0)
        reason = clean_text(request.args.get("reason") or "").strip() or "the server is shutting down"
        self.core.reply(connection, request, "ok", delay=delay)
        log.info("{user} shuts the server down in {delay} s: {reason}", user=_who(connection), delay=delay, reason=reason)
        self.begin_shutdown(reason, delay)

    def _connections(self) -> list[dict[str, Any]]:
        connections = []
        for c in (*self.state.connections(), *self.state.remote_connections()):
            user = c.user
            connections.append({
                "user": c.name, **c.describe(self.state.node),
                "rooms": [r.name for r in user.rooms.values()] if user is not None else [], "admin": c.admin,
                "registered": user.registered if user is not None else None,
            })
        return connections

    @handles("connections")
    async def do_connections(self, connection: Connection, request: Request) -> None:
        # What /debug says, without its log line: the admin page asks often.
        self.core.reply(
            connection, request, "connections", connections=self._connections(),
            users_online=self.state.online_count(), uptime=self.core.now() - self.core.started,
        )

    @handles("log")
    async def do_log(self, connection: Connection, request: Request) -> None:
        self.core.reply(connection, request, "log", lines=self.recent_log.last(request.args.get("lines", 50)))

    @handles("debug")
    async def do_debug(self, connection: Connection, request: Request) -> None:
        connections = self._connections()
        rooms = [{"room": r.name, "users": r.names()} for r in self.state.rooms()]
        uptime = self.core.now() - self.core.started
        log.info(
            "debug by {user}: uptime {uptime:.0f}s, {count} connections: {connections}; rooms: {rooms}",
            user=_who(connection), uptime=uptime, count=len(connections), connections=connections, rooms=rooms,
        )
        self.core.reply(
            connection, request, "debug", uptime=uptime, users_online=self.state.online_count(),
            connections=connections, rooms=rooms, nodes=self.state.nodes() or None,
        )

    # -- accounts --------------------------------------------------------

    async def _existing_account(self, name: str) -> tuple[Store, Account]:
        store = self.core.needs_store()
        account = await store.accounts.get(name_key(name))
        if account is None:
            raise ChatError("no_such_user", f"no account {name}")
        return store, account

    @handles("accounts")
    async def do_accounts(self, connection: Connection, request: Request) -> None:
        store = self.core.needs_store()
        accounts = [
            {
                "user": a.name, "created": a.created, "last_login": a.last_login,
                "last_address": a.last_address, "last_seen": a.last_seen, "online": self.state.user(a.key) is not None,
            }
            for a in await store.accounts.list()
        ]
        log.info("{admin} listed the accounts", admin=_who(connection))
        self.core.reply(connection, request, "accounts", accounts=accounts)

    @handles("account_create")
    async def do_account_create(self, connection: Connection, request: Request) -> None:
        store = self.core.needs_store()
        try:
            name = check_name(request.args["user"].strip())
        except BadName as e:
            raise ChatError("bad_name", str(e)) from None
        alike = self.state.confusable(name)
        if alike is not None:
            raise confusable(name, alike.name, "who is online")
        try:
            await store.accounts.create(name, request.args["password"])
        except StoreError as e:
            raise store_error(e) from None
        self.login.known_accounts.add(name_key(name))
        online = self.state.user(name_key(name))
        if online is not None and online is not connection.user:
            # The guest using the name does not become the account: only
            # whoever has its password does. They are told.
            self.core.delivery.to_user(online, self.core.event(
                "notice",
                text=f"An admin has made {name} a registered account. You are still a guest; when its owner logs in, you will have to choose another name.",
            ))
        log.info("{admin} created the account {user}", admin=_who(connection), user=name)
        self.core.reply(connection, request, "ok", user=name)

    @handles("account_delete")
    async def do_account_delete(self, connection: Connection, request: Request) -> None:
        store, account = await self._existing_account(request.args["user"])
        await store.accounts.delete(account.key)
        self.login.known_accounts.discard(account.key)
        online = self.state.user(account.key)
        if online is not None:
            self.state.set_registered(online, False)
        log.info("{admin} deleted the account {user}", admin=_who(connection), user=account.name)
        self.core.reply(connection, request, "ok", user=account.name)

    @handles("account_reset")
    async def do_account_reset(self, connection: Connection, request: Request) -> None:
        store, account = await self._existing_account(request.args["user"])
        try:
            await store.accounts.change_password(account.key, request.args["password"])
        except StoreError as e:
            raise store_error(e) from None
        self.login.guesses.clear(account.key)
        log.info("{admin} reset the password of {user}", admin=_who(connection), user=account.name)
        self.core.reply(connection, request, "ok", user=account.name)

    # -- stopping --------------------------------------------------------

    def begin_shutdown(self, reason: str, delay: float = 0) -> None:
        """Tell everyone the server is going down; after ``delay`` s, stop."""
        if self.core.stopping:
            return
        self.core.stopping = True
        self._shutdown_reason = reason
        self.core.delivery.to_everyone(self.core.event("shutdown", text=self._elsewhere(reason), delay=delay))
        self._stop_call = self.core.clock.callLater(delay, self.on_stop)

    def _elsewhere(self, reason: str) -> str:
        """On one node of several, the others go on: say so, so that people connect again."""
        if not self.state.nodes():
            return reason
        return f"{reason}; the chat goes on on its other servers: connect again"

    def close_all(self, reason: str | None = None) -> None:
        """
        Say goodbye to every connection and close it. Those not yet told get a
        ``shutdown`` event first, so a stop by signal looks like ``/shutdown``.
        """
        if not self.core.stopping:
            self.core.stopping = True
            self._shutdown_reason = reason or self._shutdown_reason
            self.core.delivery.to_everyone(self.core.event("shutdown", text=self._elsewhere(self._shutdown_reason), delay=0))
        if self._stop_call is not None and self._stop_call.active():
            self._stop_call.cancel()
        for connection in list(self.state.connections()):
            self.login.drop(connection, self._shutdown_reason, "server stopping")


def _who(connection: Connection) -> str:
    """An admin's name for the log; the admin page's connection has none."""
    return connection.name or f"an admin not logged in ({connection.door})"

