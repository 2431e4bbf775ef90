"""
The chat rules that need the store: accounts, history, offline delivery,
contacts and last seen.

L{AccountRules} is mixed into L{tchat.hub.Hub}; its ``_do_…`` handlers are
found by the hub's dispatch like the others. Everything here waits on the
store (a Deferred per call); the reactor never waits on the disk.

The rules, in short:

- A name is a guest's until someone registers it (``/register PASSWORD``);
  from then on logging in under it needs the password (``password_required``,
  ``bad_password``). Wrong passwords are counted per address and per account
  and, past three, each next try must wait twice as long (``rate_limited``).
- A registered user keeps their rooms across logins and is told, per room,
  how many messages arrived since they were last seen (``unread`` in
  ``logged_in``).
- Every message is stored before its sender's ``ok``. Room history is read by
  the room's members. A private conversation is read by its two parties when
  both are registered, and only from the moment both accounts existed: a
  guest's name can be someone else's account tomorrow, and must not come
  with yesterday's conversation.
- A private message to a registered user who is offline is queued and
  delivered, marked ``delayed``, when they next log in; the sender's ``ok``
  says ``queued``.
- Contacts are registered users; someone registered who writes to you
  privately is offered as a contact once per session, never added unasked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from tchat.commands import Request
from tchat.errors import ChatError, in_seconds
from tchat.metrics import Metrics
from tchat.events import make_event
from tchat.names import BadName, LOBBY, check_name, is_room, name_key
from tchat.store import Account, NoSuchAccount, Store, StoreError, StoreUnavailable, UnknownMessage
from tchat.throttle import Guess, GuessThrottle, RateLimit

if TYPE_CHECKING:
    from tchat.hub import HubConfig, Member, Room

log = Logger()

HISTORY_DEFAULT = 50
# Offline messages delivered at once, before waiting for the connection to take them.
OFFLINE_BATCH = 50
HISTORY_MAX = 200


def _store_error(e: StoreError) -> ChatError:
    return unavailable(e) if e.code == "unavailable" else ChatError(e.code, str(e))


def unavailable(e: Exception) -> ChatError:
    """The error a person gets when the database does not answer: what, and that live chat goes on."""
    return ChatError(
        "unavailable",
        f"the server's database is not answering ({e}): accounts, history and offline messages wait until it is back;"
        " chatting as a guest and live messages go on",
    )


class AccountRules:
    # Provided by the hub.
    store: Store | None
    config: "HubConfig"
    users: dict[str, "Member"]
    rooms: dict[str, "Room"]
    login_guesses: GuessThrottle
    # Keys of the accounts this server knows of (loaded at start, kept up to
    # date): who may still log in as a guest while the database is down.
    known_accounts: set[str]
    members: dict[Any, "Member"]
    metrics: Metrics
    registrations: RateLimit
    password_changes: RateLimit

    def now(self) -> float:  # pragma: no cover
        raise NotImplementedError
    def _reply(self, member: "Member", request: Request, name: str, **fields: Any) -> None: ...  # pragma: no cover

    async def use_store(self, store: Store) -> None:
        """Keep accounts and history in ``store`` from now on (the service calls this once it is open)."""
        store.db.observe = self.metrics.observe_store
        self.known_accounts = {account.key for account in await store.accounts.list()}
        self.store = store

    # -- helpers for the hub ---------------------------------------------

    def _needs_store(self) -> Store:
        if self.store is None:
            raise ChatError("not_allowed", "this server keeps no accounts or history")
        return self.store

    def _needs_account(self, member: "Member") -> Store:
        store = self._needs_store()
        if not member.registered:
            raise ChatError("not_registered", "only registered users have that; /register PASSWORD first")
        return store

    def _host(self, member: "Member") -> str:
        return member.session.describe().get("host", member.address)

    async def check_account(self, member: "Member", name: str, key: str, password: str | None) -> Account | None:
        """
        The account ``name`` logs in to (None for a guest), or a ChatError:
        a registered name needs its password; a guest may not give one.
        """
        account = await self.lookup_account(key, name, password) if self.store is not None else None
        if account is None:
            if password:
                raise ChatError(
                    "no_such_account", f"no account is registered as {name}; log in without a password to chat as a guest"
                )
            if not self.config.guests:
                raise ChatError("guests_not_allowed", "this server is for registered users only; ask an admin for an account")
            return None
        if not password:
            raise ChatError("password_required", f"the name {account.name} is registered; log in with /login {account.name} PASSWORD")
        assert self.store is not None
        if not await self.check_password(member, account, password):
            wait = self.login_guesses.wait(key, self._host(member))
            slowed = f"; too many tries: the next must wait {in_seconds(wait)}" if wait > 0 else ""
            raise ChatError("bad_password", f"wrong password for {account.name}{slowed}")
        return account

    async def lookup_account(self, key: str, name: str, password: str | None) -> Account | None:
        """
        The account ``key``, or None. While the database does not answer, a
        name not known as an account may still be a guest's (live chat goes
        on); a known account, or a login with a password, gets ``unavailable``.
        """
        assert self.store is not None
        try:
            account = await self.store.accounts.get(key)
        except StoreError as e:
            if e.code != "unavailable" or password or key in self.known_accounts:
                raise _store_error(e) from None
            log.warn("{name} logs in as a guest while the database is not answering", name=name)
            return None
        if account is None:
            self.known_accounts.discard(key)
        else:
            self.known_accounts.add(key)
        return account

    async def check_password(self, member: "Member", account: Account, password: str) -> bool:
        """
        Whether ``password`` is ``account``'s, with the guess counted before
        the check (see L{tchat.throttle.GuessThrottle}); ChatError
        ``rate_limited`` if this address must wait first.
        """
        store = self._needs_store()
        guess = self.login_guesses.attempt(account.key, self._host(member))
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
            log.warn("wrong password for {user} from {address}", user=account.name, address=member.address)
        return right

    async def saved_rooms(self, account: Account | None) -> list[tuple[str, str]]:
        """``[(room_key, room_name)]`` to put someone in at login."""
        if account is None or self.store is None:
            return [(name_key(LOBBY), LOBBY)]
        rooms = await self.store.memberships.rooms(account.key)
        return [(name_key(LOBBY), LOBBY)] if rooms is None else rooms

    async def unread_counts(self, account: Account | None, rooms: list[tuple[str, str]]) -> dict[str, int] | None:
        if account is None or self.store is None or not rooms:
            return None
        since = account.last_seen or account.created
        counts = await self.store.history.count_since([key for key, _ in rooms], since)
        return {name: counts.get(key, 0) for key, name in rooms}

    async def after_login(self, member: "Member", account: Account) -> None:
        """A registered user is in: note it, load contacts, deliver what waited."""
        store = self._needs_store()
        await store.accounts.record_login(account.key, self.now(), member.address)
        member.contacts = {name_key(n) for n in await store.contacts.list(account.key)}
        await self.deliver_offline(member)

    async def deliver_offline(self, member: "Member") -> None:
        """
        Deliver what waited for ``member``, a batch at a time, each message
        only once the connection's send buffer has room; each batch is taken
        out of the store only once the connection has taken all of it, so a
        slow link gets everything, however
        long the queue, and a connection lost halfway loses nothing (the
        rest waits for the next login; the batch in flight may come twice,
        with the same msgids).
        """
        store = self._needs_store()
        assert member.key is not None
        if member.delivering_offline:
            member.offline_again = True  # the running loop looks once more
            return
        member.delivering_offline = True
        try:
            while True:
                member.offline_again = False
                batch = await store.offline.peek(member.key, OFFLINE_BATCH)
                if self.members.get(member.session) is not member:
                    return
                for _, message in batch:
                    # One at a time while the connection's buffer is full, so
                    # the backlog never grows past one message.
                    await member.session.drained()
                    if self.members.get(member.session) is not member:
                        return
                    fields = {k: v for k, v in message.items() if k != "ts"}
                    member.session.deliver(make_event("message", ts=message["ts"], **fields, delayed=True))
                if batch:
                    await member.session.drained()
                    if self.members.get(member.session) is not member:
                        return
                    await store.offline.remove(member.key, [row for row, _ in batch])
                if len(batch) < OFFLINE_BATCH and not member.offline_again:
                    return
        finally:
            member.delivering_offline = False

    def record_seen(self, member: "Member") -> None:
        """Fire and forget: the disconnect that calls it cannot wait."""
        if self.store is None or not member.registered or member.key is None:
            return
        d = self.store.accounts.record_seen(member.key, self.now())

        def failed(failure: Any) -> None:
            if failure.check(StoreUnavailable):
                log.warn("cannot record when {user} was last seen: {why}", user=member.name, why=failure.value)
            else:
                log.failure("cannot record when {user} was last seen", failure, user=member.name)

        d.addErrback(failed)

    async def remember_join(self, member: "Member", room: "Room") -> None:
        if self.store is not None and member.registered and member.key is not None:
            await self.store.memberships.join(member.key, name_key(room.name), room.name, self.now())

    async def remember_part(self, member: "Member", room: "Room") -> None:
        if self.store is not None and member.registered and member.key is not None:
            await self.store.memberships.leave(member.key, name_key(room.name))

    def keep_message(self, fields: dict[str, Any]) -> Deferred[None]:
        """Store a message; the Deferred fires once it is committed."""
        if self.store is None:
            return succeed(None)
        return self.store.history.add(fields)

    async def queue_offline(self, member: "Member", recipient: str, fields: dict[str, Any]) -> Account:
        """Queue a private message for an offline registered user; ChatError if there is none."""
        key = name_key(recipient)
        account = await self.store.accounts.get(key) if self.store is not None else None
        if account is None:
            raise ChatError("no_such_user", f"{recipient} is not online, and is no registered user (messages wait only for those): it was not sent")
        fields["to"] = account.name
        try:
            await self.store.offline.queue(  # type: ignore[union-attr]
                key, fields, limit=self.config.offline_limit,
                per_sender=self.config.offline_per_sender, from_guests=self.config.offline_from_guests,
            )
        except StoreError as e:
            raise _store_error(e) from None
        return account

    def offer_contact(self, sender: "Member", recipient: "Member") -> None:
        """Offer ``sender`` as a contact to ``recipient``, once a session."""
        if not (sender.registered and recipient.registered) or sender is recipient:
            return
        if sender.key in recipient.contacts or sender.key in recipient.offered:
            return
        recipient.offered.add(sender.key)  # type: ignore[arg-type]
        recipient.session.deliver(
            self.event(  # type: ignore[attr-defined]
                "notice", text=f"{sender.name} is not in your contacts; /contact add {sender.name} to add them", offer=sender.name
            )
        )

    # -- requests --------------------------------------------------------

    async def _do_register(self, member: "Member", request: Request) -> None:
        store = self._needs_store()
        if member.registered:
            raise ChatError("already_registered", f"{member.name} is registered already; /passwd changes the password")
        if self.config.registration == "closed" and not member.admin:
            raise ChatError("registration_closed", "this server does not take new accounts; ask an admin")
        if not member.admin:
            wait = self.registrations.wait(f"address {self._host(member)}")
            if wait > 0:
                raise ChatError("rate_limited", f"too many new accounts from your address; try again in {in_seconds(wait)}")
        try:
            account = await store.accounts.create(member.name, request.args["password"])  # type: ignore[arg-type]
        except StoreError as e:
            raise _store_error(e) from None
        member.registered = True
        self.known_accounts.add(account.key)
        for room in list(member.rooms.values()):
            await self.remember_join(member, room)
        await store.accounts.record_login(account.key, self.now(), member.address)
        log.info("{user} registered from {address}", user=member.name, address=member.address)
        self._reply(member, request, "ok", text=f"{account.name} is registered; from now on log in with /login {account.name} PASSWORD")

    async def _do_passwd(self, member: "Member", request: Request) -> None:
        store = self._needs_account(member)
        assert member.key is not None
        wait = self.password_changes.wait(f"account {member.key}", f"address {self._host(member)}")
        if wait > 0:
            raise ChatError("rate_limited", f"too many password changes; try again in {in_seconds(wait)}")
        account = await store.accounts.get(member.key)
        if account is None:
            raise ChatError("not_registered", "your account was deleted meanwhile")
        if not await self.check_password(member, account, request.args["old"]):
            raise ChatError("bad_password", "the old password is wrong")
        try:
            await store.accounts.change_password(member.key, request.args["new"])
        except StoreError as e:
            raise _store_error(e) from None
        log.info("{user} changed their password", user=member.name)
        self._reply(member, request, "ok", text="your password is changed")

    async def _do_history(self, member: "Member", request: Request) -> None:
        store = self._needs_store()
        target = request.args.get("target")
        if target is None:
            if member.current is None:
                raise ChatError("not_in_room", "you are in no room; name one: /history #room")
            target = member.current.name
        limit = request.args.get("limit", HISTORY_DEFAULT)
        if limit < 1:
            raise ChatError("bad_request", "limit is a number of messages, at least 1")
        limit = min(limit, HISTORY_MAX)
        before = request.args.get("before")
        try:
            if is_room(target):
                room = member.rooms.get(name_key(target))
                if room is None:
                    raise ChatError("not_allowed", f"only members of {target} may read its history; /join {target}")
                target = room.name
                messages, more = await store.history.room_history(name_key(room.name), limit, before)
            else:
                if not member.registered:
                    raise ChatError("not_registered", "private conversations can be read back only by registered users")
                mine = await store.accounts.get(member.key)  # type: ignore[arg-type]
                theirs = await store.accounts.get(name_key(target))
                if mine is None or theirs is None:
                    messages, more = [], False
                else:
                    since = max(mine.created, theirs.created)
                    messages, more = await store.history.private_history(mine.key, theirs.key, limit, before, since=since)
        except UnknownMessage as e:
            raise _store_error(e) from None
        self._reply(member, request, "history", target=target, messages=messages, more=more)

    async def _do_contacts(self, member: "Member", request: Request) -> None:
        store = self._needs_account(member)
        contacts = [
            {"user": a.name, "online": a.key in self.users, "last_seen": self.now() if a.key in self.users else a.last_seen}
            for a in await store.contacts.accounts(member.key)  # type: ignore[arg-type]
        ]
        self._reply(member, request, "contacts", contacts=contacts)

    async def _do_contact_add(self, member: "Member", request: Request) -> None:
        store = self._needs_account(member)
        key = name_key(request.args["user"])
        if key == member.key:
            raise ChatError("bad_request", "you cannot be your own contact")
        try:
            await store.contacts.add(member.key, key)  # type: ignore[arg-type]
        except NoSuchAccount:
            raise ChatError("no_such_user", f"{request.args['user']} is not a registered user") from None
        member.contacts.add(key)
        self._reply(member, request, "ok", text=f"{request.args['user']} is in your contacts")

    async def _do_contact_del(self, member: "Member", request: Request) -> None:
        store = self._needs_account(member)
        key = name_key(request.args["user"])
        if not await store.contacts.remove(member.key, key):  # type: ignore[arg-type]
            raise ChatError("not_a_contact", f"{request.args['user']} is not in your contacts")
        member.contacts.discard(key)
        self._reply(member, request, "ok", text=f"{request.args['user']} is no longer in your contacts")

    async def _do_seen(self, member: "Member", request: Request) -> None:
        key = name_key(request.args["user"])
        online = self.users.get(key)
        if online is not None:
            self._reply(member, request, "seen", user=online.name, online=True, last_seen=self.now())
            return
        account = await self.store.accounts.get(key) if self.store is not None else None
        if account is None:
            raise ChatError("no_such_user", f"{request.args['user']} is not online and not registered")
        extra: dict[str, Any] = {}
        if member.admin:
            extra = {"last_login": account.last_login, "last_address": account.last_address}
        self._reply(member, request, "seen", user=account.name, online=False, last_seen=account.last_seen, **extra)

    # -- admin -----------------------------------------------------------

    async def _existing_account(self, name: str) -> tuple[Store, Account]:
        store = self._needs_store()
        account = await store.accounts.get(name_key(name))
        if account is None:
            raise ChatError("no_such_user", f"no account {name}")
        return store, account

    async def _do_accounts(self, member: "Member", request: Request) -> None:
        store = self._needs_store()
        accounts = [
            {
                "user": a.name, "created": a.created, "last_login": a.last_login,
                "last_address": a.last_address, "last_seen": a.last_seen, "online": a.key in self.users,
            }
            for a in await store.accounts.list()
        ]
        log.info("{admin} listed the accounts", admin=member.name)
        self._reply(member, request, "accounts", accounts=accounts)

    async def _do_account_create(self, member: "Member", request: Request) -> None:
        store = self._needs_store()
        try:
            name = check_name(request.args["user"].strip())
        except BadName as e:
            raise ChatError("bad_name", str(e)) from None
        try:
            await store.accounts.create(name, request.args["password"])
        except StoreError as e:
            raise _store_error(e) from None
        self.known_accounts.add(name_key(name))
        online = self.users.get(name_key(name))
        if online is not None and online is not member:
            # The guest using the name does not become the account: only
            # whoever has its password does. They are told.
            online.session.deliver(self.event(  # type: ignore[attr-defined]
                "notice",
                text=f"An admin has made {name} a registered account. You are still a guest; when its owner logs in, you will have to choose another name.",
            ))
        log.info("{admin} created the account {user}", admin=member.name, user=name)
        self._reply(member, request, "ok", text=f"account {name} created")

    async def _do_account_delete(self, member: "Member", request: Request) -> None:
        store, account = await self._existing_account(request.args["user"])
        key = account.key
        await store.accounts.delete(key)
        self.known_accounts.discard(key)
        online = self.users.get(key)
        if online is not None:
            online.registered = False
        log.info("{admin} deleted the account {user}", admin=member.name, user=account.name)
        self._reply(member, request, "ok", text=f"account {account.name} deleted")

    async def _do_account_reset(self, member: "Member", request: Request) -> None:
        store, account = await self._existing_account(request.args["user"])
        key = account.key
        try:
            await store.accounts.change_password(key, request.args["password"])
        except StoreError as e:
            raise _store_error(e) from None
        self.login_guesses.clear(key)
        log.info("{admin} reset the password of {user}", admin=member.name, user=account.name)
        self._reply(member, request, "ok", text=f"new password set for {account.name}")
