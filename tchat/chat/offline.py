"""
Offline messages: a private message to a registered user who is not
online waits in the store, within quotas, and is delivered (marked
``delayed``) when they next log in.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import gatherResults

from tchat.chat.core import Core, store_error
from tchat.chat.model import User
from tchat.errors import ChatError
from tchat.events import make_event
from tchat.names import name_key
from tchat.store import Account, StoreError

# Offline messages delivered at once, before waiting for the connection to take them.
OFFLINE_BATCH = 50


class OfflineRules:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def queue(self, recipient: str, fields: dict[str, Any]) -> Account:
        """Queue a private message for an offline registered user; ChatError if there is none."""
        key = name_key(recipient)
        store = self.core.store
        account = await store.accounts.get(key) if store is not None else None
        if store is None or account is None:
            raise ChatError("no_such_user", f"{recipient} is not online, and is no registered user (messages wait only for those): it was not sent")
        fields["to"] = account.name
        config = self.core.config
        try:
            await store.offline.queue(
                key, fields, limit=config.offline_limit, per_sender=config.offline_per_sender, from_guests=config.offline_from_guests,
            )
        except StoreError as e:
            raise store_error(e) from None
        return account

    async def deliver(self, user: User) -> None:
        """
        Deliver what waited for ``user`` to its connections, a batch at a
        time, each message only once their send buffers have room; each
        batch is taken out of the store only once the connections have taken
        all of it, so a slow link gets everything, however long the queue,
        and a connection lost halfway loses nothing (the rest waits for the
        next login; the batch in flight may come twice, with the same msgids).
        """
        store = self.core.needs_store()
        if user.delivering_offline:
            user.offline_again = True  # the running loop looks once more
            return
        user.delivering_offline = True
        try:
            while True:
                user.offline_again = False
                batch = await store.offline.peek(user.key, OFFLINE_BATCH)
                if not self._online(user):
                    return
                for _, message in batch:
                    # One at a time while a buffer is full, so the backlog
                    # never grows past one message.
                    await self._drained(user)
                    if not self._online(user):
                        return
                    fields = {k: v for k, v in message.items() if k != "ts"}
                    self.core.delivery.to_user(user, make_event("message", ts=message["ts"], **fields, delayed=True))
                if batch:
                    await self._drained(user)
                    if not self._online(user):
                        return
                    await store.offline.remove(user.key, [row for row, _ in batch])
                if len(batch) < OFFLINE_BATCH and not user.offline_again:
                    return
        finally:
            user.delivering_offline = False

    def _online(self, user: User) -> bool:
        return self.core.state.user(user.key) is user and bool(user.connections)

    async def _drained(self, user: User) -> None:
        # What was delivered goes to the sessions first, so their buffers tell.
        self.core.delivery.flush()
        await gatherResults([c.session.drained() for c in tuple(user.connections)])
