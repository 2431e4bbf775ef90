"""
Messages: to a room, privately to a user, or waiting for an offline account.

A message goes to every connection of every recipient, and to the sender's
other connections (devices) too: the same event, whose ``from`` is the
sender's own name, which is how a client tells its own messages sent
elsewhere. Every message is stored before its sender's ``ok``; the live chat
does not wait for the database.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from twisted.logger import Logger

from tchat.chat.contacts import ContactRules
from tchat.chat.core import Core, handles, logged_in
from tchat.chat.delivery import ranked
from tchat.chat.model import Connection, Room, User
from tchat.chat.offline import OfflineRules
from tchat.chat.rooms import RoomRules
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.events import Event, event_from, make_event
from tchat.names import clean_text, is_room, name_key
from tchat.store import StoreError

log = Logger()


class MessageRules:
    def __init__(self, core: Core, rooms: RoomRules, offline: OfflineRules, contacts: ContactRules) -> None:
        self.core = core
        self.rooms = rooms
        self.offline = offline
        self.contacts = contacts

    def keep(self, fields: dict[str, Any]) -> Deferred[None]:
        """Store a message; the Deferred fires once it is committed."""
        if self.core.store is None:
            return succeed(None)
        return self.core.store.history.add(fields)

    def keep_then(self, fields: dict[str, Any], done: Callable[[Failure | None], None]) -> None:
        """
        Store a message once the turn's writes are out (the recipients do
        not wait for the store, only its sender's ``ok`` does); ``done`` is
        told once it is committed (None) or refused (the Failure).
        """
        store = self.core.store
        if store is None:
            done(None)
            return
        self.core.delivery.after_writes(lambda: store.history.add_then(fields, done))

    @handles("msg")
    async def do_msg(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        text = clean_text(request.args["text"]).rstrip()
        if not text.strip():
            raise ChatError("empty_message", "empty message: type some text")
        kind = request.args.get("kind")
        # A notice: a message that nothing answers automatically (no away
        # reply); it is otherwise a message like any (IRC's NOTICE).
        notice = True if kind == "notice" else None
        # Client tags (IRCv3: a reply, a reaction) go with the live message; they are not stored.
        tags = request.args.get("tags")
        target = request.args.get("to")
        core = self.core
        user.active = core.now()
        only = request.args.get("only")
        if only is not None:
            if target is None or not is_room(target):
                raise ChatError("bad_request", "only goes with a message to a room: to its operators, or its voiced users")
            await self._to_ranks(connection, request, target, text, kind, notice, tags, only)
            return
        if target is None or is_room(target):
            room = self.room_to_speak_in(connection, target)
            msgid = core.next_msgid()
            # event_from, not core.event: no keyword arguments packed again, once per message.
            event = event_from("message", {
                "msgid": msgid, "from": user.name, "to": room.name, "text": text,
                "kind": "action" if kind == "action" else "public", "registered": user.registered or None,
                "notice": notice, "tags": tags,
            }, core.now())
            message = event.fields
            self._to_room(room, user, event, connection)
            core.metrics.message(message["kind"])
            await self._ok_when_stored(connection, request, message, msgid=msgid, ts=message["ts"])
            return
        kind = "action" if kind == "action" else "private"
        msgid = core.next_msgid()
        other = core.state.user(name_key(target))
        if other is None:
            fields = {"msgid": msgid, "from": user.name, "to": target, "text": text, "kind": kind, "ts": core.now()}
            if user.registered:
                fields["registered"] = True
            if notice:
                fields["notice"] = True
            account = await self.offline.queue(target, fields)
            core.metrics.message(kind)
            await self.keep(fields)
            # The sender's other devices see what was sent, as if live.
            core.delivery.to_user(user, make_event("message", **fields), but=connection)
            core.reply(
                connection, request, "ok", msgid=msgid, to=account.name, queued=True, ts=fields["ts"],
            )
            # They may have logged in while the message was being queued.
            arrived = core.state.user(account.key)
            if arrived is not None:
                await self.offline.deliver(arrived)
            return
        event = core.event(
            "message", msgid=msgid, **{"from": user.name}, to=other.name, text=text, kind=kind,
            registered=user.registered or None, notice=notice, tags=tags,
        )
        core.delivery.to_user(other, event)
        if other is not user:
            core.delivery.to_user(user, event, but=connection)
        core.metrics.message(kind)
        self.contacts.offer(user, other)
        away = other.away if other is not user and not notice else None
        # Its words (sent to them, away or not) are tchat.sentences'; to oneself, none.
        to = other.name if other is not user else None
        await self._ok_when_stored(connection, request, event.fields, msgid=msgid, to=to, away=away, ts=event["ts"])

    async def _to_ranks(
        self, connection: Connection, request: Request, target: str, text: str, kind: str | None, notice: bool | None,
        tags: Any, only: str,
    ) -> None:
        """
        A message to a room's operators (``only`` ``op``), or to its voiced
        users and operators (``voice``): IRC's STATUSMSG (``@#room``,
        ``+#room``). Any member who may speak sends one; it is not stored, as
        a room's history is every member's to read.
        """
        user = logged_in(connection)
        core = self.core
        room = self.room_to_speak_in(connection, target)
        msgid = core.next_msgid()
        event = core.event(
            "message", msgid=msgid, **{"from": user.name}, to=room.name, text=text,
            kind="action" if kind == "action" else "public", only=only, registered=user.registered or None,
            notice=notice, tags=tags,
        )
        core.delivery.to_ranks(room, event, only, but=connection)
        if user not in ranked(room, only):
            # The sender's other devices see what was sent.
            core.delivery.to_user(user, event, but=connection)
        core.metrics.message(event["kind"])
        who = "operators" if only == "op" else "voiced users and operators"
        core.reply(connection, request, "ok", msgid=msgid, text=f"sent to the {who} of {room.name}", ts=event["ts"])

    def _to_room(self, room: Room, user: User, event: Event, connection: Connection) -> None:
        """To the room but the sending connection; sent from outside it (-n), to the sender's other devices too."""
        self.core.delivery.to_room(room, event, but=connection)
        if room.key not in user.rooms:
            self.core.delivery.to_user(user, event, but=connection)

    def room_to_speak_in(self, connection: Connection, target: str | None) -> Room:
        """The room ``target`` (or the current one), if the connection's user may speak there; else ChatError."""
        user = logged_in(connection)
        room = self.rooms.room_to_send_to(connection, target)
        s = room.settings
        # Most rooms are neither moderated nor have anyone muted: nothing to look up per message then.
        if (s.moderated or s.mutes) and not s.may_speak(user.key, user.registered, user.hosts(), self.core.now()) and not connection.admin:
            why = "is moderated: only its ops and voiced users speak" if s.moderated and user.key not in s.voiced else "has you muted"
            raise ChatError("muted", f"{room.name} {why}; your message reached nobody")
        return room

    @handles("tagmsg")
    async def do_tagmsg(self, connection: Connection, request: Request) -> None:
        """Client tags alone (IRCv3 TAGMSG: typing, reactions): live only, never stored or kept for later."""
        user = logged_in(connection)
        core = self.core
        target, tags = request.args["to"], request.args["tags"]
        msgid = core.next_msgid()
        if is_room(target):
            room = self.room_to_speak_in(connection, target)
            event = core.event("tagmsg", msgid=msgid, **{"from": user.name}, to=room.name, tags=tags, registered=user.registered or None)
            self._to_room(room, user, event, connection)
        else:
            other = core.state.user(name_key(target))
            if other is None:
                raise ChatError("no_such_user", f"{target} is not online")
            event = core.event("tagmsg", msgid=msgid, **{"from": user.name}, to=other.name, tags=tags, registered=user.registered or None)
            core.delivery.to_user(other, event)
            if other is not user:
                core.delivery.to_user(user, event, but=connection)
        core.reply(connection, request, "ok", msgid=msgid, ts=event["ts"])

    async def _ok_when_stored(self, connection: Connection, request: Request, message: dict[str, Any], **fields: Any) -> None:
        """
        Store ``message`` and answer ``ok`` once it is stored, without holding up the
        sender's next request meanwhile: the store commits messages in
        groups, and a sender that waited for each commit before its next
        message was held to one message per commit. At most
        ``max_unstored`` of a connection's messages wait at once; past that,
        its requests wait too. Oks come in the order of the messages.
        """
        core = self.core
        connection.unstored += 1
        # Made only for a sender past max_unstored, which waits on it.
        finished: Deferred[None] | None = None
        done = False

        def finish(result: Any) -> None:
            nonlocal done
            done = True
            connection.unstored -= 1
            if isinstance(result, Failure) and result.check(StoreError) and result.value.code == "unavailable":
                # Delivered all the same: the live chat does not wait for the database.
                log.warn("a message from {user} was delivered but not stored: {why}", user=connection.name, why=result.value)
                # Not an ok: what was asked (deliver and keep) was half done.
                # "delivered" tells a program not to send it again.
                core.refuse(
                    connection, request, "unavailable",
                    f"your message was delivered, but not kept in the history: {result.value}",
                    msgid=fields.get("msgid"), delivered=True,
                )
            elif isinstance(result, Failure):
                log.failure("a message from {user} was delivered but not stored", result, user=connection.name)
                core.refuse(connection, request, "internal_error", "your message was delivered but could not be stored")
            else:
                core.reply(connection, request, "ok", **fields)
            # Only now may a waiting quit go on: its bye must follow this ok.
            if not connection.unstored:
                waiting, connection.waiting_for_store = connection.waiting_for_store or [], None
                for d in waiting:
                    d.callback(None)
            if finished is not None:
                finished.callback(None)

        self.keep_then(message, finish)
        if connection.unstored > core.config.max_unstored and not done:
            finished = Deferred()
            await finished
