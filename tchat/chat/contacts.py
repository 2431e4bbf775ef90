"""
Contacts and last seen. Contacts are registered users; someone registered
who writes to you privately is offered as a contact once while you are
online, never added unasked.
"""

from __future__ import annotations

from typing import Any

from tchat.chat.core import Core, handles, logged_in
from tchat.chat.model import Connection, User
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import name_key
from tchat.store import NoSuchAccount


class ContactRules:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.state = core.state

    def offer(self, sender: User, recipient: User) -> None:
        """Offer ``sender`` as a contact to ``recipient``, once while they are online."""
        if not (sender.registered and recipient.registered) or sender is recipient:
            return
        if sender.key in recipient.contacts or sender.key in recipient.offered:
            return
        recipient.offered = recipient.offered | {sender.key}
        self.core.delivery.to_user(recipient, self.core.event(
            "notice", text=f"{sender.name} is not in your contacts; /contact add {sender.name} to add them", offer=sender.name
        ))

    @handles("contacts")
    async def do_contacts(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        store = self.core.needs_account(user)
        now = self.core.now()
        contacts = []
        for account in await store.contacts.accounts(user.key):
            online = self.state.user(account.key) is not None
            contacts.append({"user": account.name, "online": online, "last_seen": now if online else account.last_seen})
        self.core.reply(connection, request, "contacts", contacts=contacts)

    @handles("contact_add")
    async def do_contact_add(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        store = self.core.needs_account(user)
        key = name_key(request.args["user"])
        if key == user.key:
            raise ChatError("bad_request", "you cannot be your own contact")
        try:
            await store.contacts.add(user.key, key)
        except NoSuchAccount:
            raise ChatError("no_such_user", f"{request.args['user']} is not a registered user") from None
        user.contacts = user.contacts | {key}
        self.core.reply(connection, request, "ok", user=request.args["user"])

    @handles("contact_del")
    async def do_contact_del(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        store = self.core.needs_account(user)
        key = name_key(request.args["user"])
        if not await store.contacts.remove(user.key, key):
            raise ChatError("not_a_contact", f"{request.args['user']} is not in your contacts")
        user.contacts = user.contacts - {key}
        self.core.reply(connection, request, "ok", user=request.args["user"])

    @handles("seen")
    async def do_seen(self, connection: Connection, request: Request) -> None:
        key = name_key(request.args["user"])
        online = self.state.user(key)
        if online is not None:
            self.core.reply(connection, request, "seen", user=online.name, online=True, last_seen=self.core.now())
            return
        store = self.core.store
        account = await store.accounts.get(key) if store is not None else None
        if account is None:
            raise ChatError("no_such_user", f"{request.args['user']} is not online and not registered")
        extra: dict[str, Any] = {}
        if connection.admin:
            extra = {"last_login": account.last_login, "last_address": account.last_address}
        self.core.reply(connection, request, "seen", user=account.name, online=False, last_seen=account.last_seen, **extra)
