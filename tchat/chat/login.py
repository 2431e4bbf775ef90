"""
Logging in and leaving.

A name is a guest's until someone registers it; from then on logging in
under it needs the password. A guest has one connection; an account may
log in from several devices at once (``max_sessions``): each login with the
password opens one more session of the same user, in the same rooms, and
the user leaves the chat (one ``quit`` to the others) only when its last
session closes. Wrong passwords are slowed down (L{tchat.throttle}).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from tchat.chat.contacts import ContactRules
from tchat.chat.core import Core, confusable, handles, store_error
from tchat.chat.model import Connection, User
from tchat.chat.offline import OfflineRules
from tchat.chat.rooms import RoomRules
from tchat.chat.state import Unreachable
from tchat.commands import Request, RequestId
from tchat.errors import ChatError, counted, in_seconds
from tchat.names import BadName, check_name, clean_text, name_key
from tchat.store import Account, Store, StoreError, StoreUnavailable
from tchat.throttle import Guess, GuessThrottle

log = Logger()

# What a quit's bye says ("*** Bye: you left the chat" in text mode).
QUIT_BYE = "you left the chat"
# Why someone was dropped, counted in tchat_dropped_total.
COUNTED_DROPS = ("server full", "name taken by its account")


class LoginRules:
    def __init__(self, core: Core, rooms: RoomRules, offline: OfflineRules, contacts: ContactRules) -> None:
        self.core = core
        self.state = core.state
        self.rooms = rooms
        self.offline = offline
        self.contacts = contacts
        # Wrong guesses of accounts' passwords.
        self.guesses = GuessThrottle(core.clock)
        # Keys of the accounts this server knows of (loaded at start, kept up
        # to date): who may still log in as a guest while the database is down.
        self.known_accounts: set[str] = set()

    async def use_store(self, store: Store) -> None:
        self.known_accounts = {account.key for account in await store.accounts.list()}

    # -- the login -------------------------------------------------------

    @handles("login")
    async def do_login(self, connection: Connection, request: Request) -> None:
        if connection.user is not None:
            raise ChatError("already_logged_in", f"you are already logged in as {connection.user.name}")
        try:
            name = check_name(request.args["user"].strip())
        except BadName as e:
            raise ChatError("bad_name", f"{e}; choose another name") from None
        key = name_key(name)
        password = request.args.get("password")
        account = await self.check_account(connection, name, key, password)
        if account is None:
            await self.check_not_like_an_account(name)
        rooms: list[tuple[str, str]] | None = None
        unread: dict[str, int] | None = None
        claims = 0
        # Each await lets the world move: look again after it.
        while True:
            if self.state.connection(connection.session) is not connection:
                return
            holder = self.state.user(key)
            if holder is not None:
                if account is None:
                    raise ChatError("name_taken", f"the name {name} is taken; choose another name")
                if holder.registered:
                    await self.add_session(connection, holder, account, request)
                    return
                # A guest holds a name that has become an account (an admin
                # made it): the account's owner, who just gave its password, takes it.
                log.info("{user} logged in to the account; the guest using the name is let go", user=account.name)
                self.core.delivery.to_user(holder, self.core.event(
                    "notice", text=f"The name {account.name} is a registered account, and its owner has just logged in; log in again under another name.",
                ))
                elsewhere = any(c.node is not None for c in holder.connections)
                self.drop_user(holder, f"the name {account.name} is taken by its account", "name taken by its account")
                if elsewhere:
                    # Its own node lets the guest go; the name is free once it has.
                    raise ChatError("name_taken", f"a guest was using the name {account.name}; it is being freed: log in again in a moment")
                continue
            if rooms is None:
                rooms = await self.saved_rooms(account, request.args.get("lobby") != "no")
                unread = await self.unread_counts(account, rooms)
                continue
            if account is None and (alike := self.state.confusable(name)) is not None:
                raise confusable(name, alike.name, "who is online")
            if self.state.online_count() >= self.core.config.max_users:
                self.core.refuse(
                    connection, request, "server_full", f"the server is full ({self.core.config.max_users} users); try again later"
                )
                self.drop(connection, "server full", "server full")
                return
            user = User(key, account.name if account is not None else name, registered=account is not None)
            try:
                claimed = await self.state.claim(user)
            except Unreachable as e:
                raise ChatError(
                    "unavailable", f"the link between this server's nodes is down ({e}); log in again in a moment"
                ) from None
            if claimed:
                break
            # Taken on another node meanwhile (on one node nobody can be
            # quicker); an account's other session may just have arrived.
            if account is None or claims >= 3:
                raise ChatError("name_taken", f"the name {name} is taken; choose another name")
            claims += 1
        if self.state.connection(connection.session) is not connection:
            # Gone while the name was being claimed.
            self.state.release(user)
            return
        self.state.attach(user, connection)
        for room_key, room_name in rooms:
            if len(user.rooms) < self.core.config.max_rooms_per_user:
                room = self.state.open_room(room_name)
                if self.rooms.banned(room, user):
                    # Banned while away: not back in (nor, then, kept there).
                    if not room.members and self.state.room(room.key) is room:
                        self.state.update_room(room, room.settings)
                    continue
                self.rooms.join(user, room, by=connection)
        log.info("{user} logged in from {address}", user=user.name, address=connection.address)
        self.core.reply(
            connection, request, "logged_in", user=user.name, rooms=[r.name for r in user.rooms.values()],
            users=self.state.online(), registered=user.registered, unread=unread, sessions=1,
            topics={r.name: r.settings.topic for r in user.rooms.values() if r.settings.topic} or None,
        )
        if account is not None:
            await self.after_login(user, connection, account)

    async def add_session(self, connection: Connection, user: User, account: Account, request: Request) -> None:
        """One more device of an account that is online: same user, same rooms, nobody else told."""
        if len(user.connections) >= self.core.config.max_sessions:
            raise ChatError(
                "too_many_sessions",
                f"{user.name} is logged in {counted(len(user.connections), 'time')} already, the most allowed; log out elsewhere first",
            )
        self.state.attach(user, connection)
        sessions = len(user.connections)
        log.info("{user} logged in from {address} (session {n})", user=user.name, address=connection.address, n=sessions)
        door = connection.session.describe().get("door", "?")
        self.core.delivery.to_user(user, self.core.event(
            "notice", text=f"{user.name} is now also logged in via {door} from {connection.address} ({sessions} sessions)",
            sessions=sessions,
        ), but=connection)
        self.core.reply(
            connection, request, "logged_in", user=user.name, rooms=[r.name for r in user.rooms.values()],
            users=self.state.online(), registered=True, sessions=sessions,
            topics={r.name: r.settings.topic for r in user.rooms.values() if r.settings.topic} or None,
        )
        await self.after_login(user, connection, account)

    async def check_account(self, connection: Connection, name: str, key: str, password: str | None) -> Account | None:
        """
        The account ``name`` logs in to (None for a guest), or a ChatError:
        a registered name needs its password; a guest may not give one.
        """
        account = await self.lookup_account(key, name, password) if self.core.store is not None else None
        if account is None:
            if password:
                raise ChatError(
                    "no_such_account", f"no account is registered as {name}; log in without a password to chat as a guest"
                )
            if not self.core.config.guests:
                raise ChatError("guests_not_allowed", "this server is for registered users only; ask an admin for an account")
            return None
        if not password:
            raise ChatError("password_required", f"the name {account.name} is registered; log in with /login {account.name} PASSWORD")
        if not await self.check_password(connection, account, password):
            wait = self.guesses.wait(key, connection.host)
            slowed = f"; too many tries: the next must wait {in_seconds(wait)}" if wait > 0 else ""
            raise ChatError("bad_password", f"wrong password for {account.name}{slowed}")
        return account

    async def check_not_like_an_account(self, name: str) -> None:
        """
        ChatError ``confusable_name`` if the guest name ``name`` looks like a
        registered one. While the database does not answer, the guest gets in
        (live chat goes on); the names online are still compared.
        """
        if self.core.store is None:
            return
        try:
            alike = await self.core.store.accounts.confusable(name)
        except StoreError as e:
            if e.code != "unavailable":
                raise store_error(e) from None
            log.warn("{name} logs in as a guest unchecked against the accounts: the database is not answering", name=name)
            return
        if alike is not None:
            raise confusable(name, alike.name, "a registered name")

    async def lookup_account(self, key: str, name: str, password: str | None) -> Account | None:
        """
        The account ``key``, or None. While the database does not answer, a
        name not known as an account may still be a guest's (live chat goes
        on); a known account, or a login with a password, gets ``unavailable``.
        """
        store = self.core.needs_store()
        try:
            account = await store.accounts.get(key)
        except StoreError as e:
            if e.code != "unavailable" or password or key in self.known_accounts:
                raise store_error(e) from None
            log.warn("{name} logs in as a guest while the database is not answering", name=name)
            return None
        if account is None:
            self.known_accounts.discard(key)
        else:
            self.known_accounts.add(key)
        return account

    async def check_password(self, connection: Connection, account: Account, password: str) -> bool:
        """
        Whether ``password`` is ``account``'s, with the guess counted before
        the check (see L{tchat.throttle.GuessThrottle}); ChatError
        ``rate_limited`` if this address must wait first.
        """
        store = self.core.needs_store()
        guess = self.guesses.attempt(account.key, connection.host)
        if not isinstance(guess, Guess):
            raise ChatError("rate_limited", f"too many wrong passwords for {account.name} from your address; try again in {in_seconds(guess)}")
        try:
            right = await store.accounts.verify(account.key, password)
        except BaseException:
            guess.abandoned()
            raise
        if right:
            guess.succeeded()
        else:
            guess.failed()
            log.warn("wrong password for {user} from {address}", user=account.name, address=connection.address)
        return right

    async def saved_rooms(self, account: Account | None, lobby: bool = True) -> list[tuple[str, str]]:
        """
        ``[(room_key, room_name)]`` to put someone in at login: an account's
        rooms; a guest, or an account that never chose any, starts in the
        lobby, unless the server has none or the login asked for none.
        """
        name = self.core.config.lobby if lobby else None
        start = [(name_key(name), name)] if name is not None else []
        if account is None or self.core.store is None:
            return start
        rooms = await self.core.store.memberships.rooms(account.key)
        return start if rooms is None else rooms

    async def unread_counts(self, account: Account | None, rooms: list[tuple[str, str]]) -> dict[str, int] | None:
        if account is None or self.core.store is None or not rooms:
            return None
        since = account.last_seen or account.created
        counts = await self.core.store.history.count_since([key for key, _ in rooms], since)
        return {name: counts.get(key, 0) for key, name in rooms}

    async def after_login(self, user: User, connection: Connection, account: Account) -> None:
        """A registered user is in: note it, load contacts, deliver what waited."""
        store = self.core.needs_store()
        await store.accounts.record_login(account.key, self.core.now(), connection.address)
        user.contacts = frozenset(name_key(n) for n in await store.contacts.list(account.key))
        await self.offline.deliver(user)

    # -- leaving ---------------------------------------------------------

    def leave(self, connection: Connection, reason: str) -> None:
        """``connection`` is gone (already out of the state); its user leaves if it was the last."""
        user = connection.user
        if user is None:
            log.info("{address} left before logging in: {reason}", address=connection.address, reason=reason)
            return
        self.state.detach(user, connection, reason)
        if user.connections:
            log.info(
                "{user} from {address} closed one session ({left} open): {reason}",
                user=user.name, address=connection.address, left=len(user.connections), reason=reason,
            )
            return
        log.info("{user} from {address} left: {reason}", user=user.name, address=connection.address, reason=reason)
        self.left(user, reason)

    def left(self, user: User, reason: str) -> None:
        """``user``'s last connection anywhere has closed: the name is free, and who shared a room is told."""
        self.state.release(user)
        self.record_seen(user)
        self.rooms.quit(user, reason)

    def drop(self, connection: Connection, bye: str, reason: str, re: RequestId | None = None) -> None:
        """Take ``connection`` out of the chat, then say ``bye`` (answering ``re``) and disconnect it."""
        if reason.startswith("kicked") or reason in COUNTED_DROPS:
            self.core.metrics.dropped.labels(reason.split(" by ")[0]).inc()
        self.state.remove_connection(connection.session)
        self.leave(connection, reason)
        self.core.delivery.drop(connection, bye, re, reason)

    def drop_user(self, user: User, bye: str, reason: str) -> None:
        """Every session of ``user``: the last one's leaving is announced once."""
        for connection in list(user.connections):
            self.drop(connection, bye, reason)

    def record_seen(self, user: User) -> None:
        """Fire and forget: the disconnect that calls it cannot wait."""
        store = self.core.store
        if store is None or not user.registered:
            return
        d = store.accounts.record_seen(user.key, self.core.now())

        def failed(failure: Any) -> None:
            if failure.check(StoreUnavailable):
                log.warn("cannot record when {user} was last seen: {why}", user=user.name, why=failure.value)
            else:
                log.failure("cannot record when {user} was last seen", failure, user=user.name)

        d.addErrback(failed)

    @handles("quit")
    async def do_quit(self, connection: Connection, request: Request) -> None:
        reason = clean_text(request.args.get("reason") or "").strip()
        # The oks of messages sent just before come before the bye.
        while connection.unstored:
            await connection.stored_all()
        self.drop(connection, QUIT_BYE, f"quit: {reason}" if reason else "quit", re=request.id)

