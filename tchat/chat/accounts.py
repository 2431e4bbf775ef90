"""
An account of one's own: registering the name one uses, changing its
password. Each costs a password hash, so each is rate-limited per address
(and ``/passwd`` per account too).
"""

from __future__ import annotations

from twisted.logger import Logger

from tchat.chat.core import Core, handles, logged_in, store_error
from tchat.chat.login import LoginRules
from tchat.chat.model import Connection
from tchat.chat.rooms import RoomRules
from tchat.commands import Request
from tchat.errors import ChatError, in_seconds
from tchat.store import StoreError
from tchat.throttle import RateLimit

log = Logger()


class AccountRules:
    def __init__(self, core: Core, login: LoginRules, rooms: RoomRules) -> None:
        self.core = core
        self.login = login
        self.rooms = rooms
        config = core.config
        self.registrations = RateLimit(config.register_per_hour / 3600, config.register_burst, core.clock)
        self.password_changes = RateLimit(config.passwd_per_hour / 3600, config.passwd_burst, core.clock)

    @handles("register")
    async def do_register(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        store = self.core.needs_store()
        if user.registered:
            raise ChatError("already_registered", f"{user.name} is registered already; /passwd changes the password")
        if self.core.config.registration == "closed" and not connection.admin:
            raise ChatError("registration_closed", "this server does not take new accounts; ask an admin")
        if not connection.admin:
            wait = self.registrations.wait(f"address {connection.host}")
            if wait > 0:
                raise ChatError("rate_limited", f"too many new accounts from your address; try again in {in_seconds(wait)}")
        try:
            account = await store.accounts.create(user.name, request.args["password"])
        except StoreError as e:
            raise store_error(e) from None
        self.core.state.set_registered(user, True)
        self.login.known_accounts.add(account.key)
        for room in list(user.rooms.values()):
            await self.rooms.remember_join(user, room)
        await store.accounts.record_login(account.key, self.core.now(), connection.address)
        log.info("{user} registered from {address}", user=user.name, address=connection.address)
        self.core.reply(connection, request, "ok", user=account.name)

    @handles("passwd")
    async def do_passwd(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        store = self.core.needs_account(user)
        wait = self.password_changes.wait(f"account {user.key}", f"address {connection.host}")
        if wait > 0:
            raise ChatError("rate_limited", f"too many password changes; try again in {in_seconds(wait)}")
        account = await store.accounts.get(user.key)
        if account is None:
            raise ChatError("not_registered", "your account was deleted meanwhile")
        if not await self.login.check_password(connection, account, request.args["old"]):
            raise ChatError("bad_password", "the old password is wrong")
        try:
            await store.accounts.change_password(user.key, request.args["new"])
        except StoreError as e:
            raise store_error(e) from None
        log.info("{user} changed their password", user=user.name)
        self.core.reply(connection, request, "ok")
