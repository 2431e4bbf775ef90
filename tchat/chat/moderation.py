"""
Moderation: what a room's operators do (topic, op and voice, kick, ban,
mute, invite, modes), who may do it, and keeping a kept room's settings.

The registered creator of a (kept) room is its owner, an op no other op
can remove; a guest's room has no owner, only ops, who are equals. Ops may
op and deop, set the topic, kick, ban, mute, invite and change modes; a
server admin may do all of it in any room. Every change is a new
L{RoomSettings} handed to the state seam (so it travels to the other nodes
and is the same everywhere), kept in the store when the room is kept, and
announced to the room with an event naming who did it.

What the rules elsewhere ask of a room's settings (may this user join, may
they speak) are L{tchat.chat.rooms.admission} and methods of
L{RoomSettings}, so the room and message rules need nothing from here.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from twisted.logger import Logger

from tchat.chat.core import Core, handles, logged_in, store_error
from tchat.chat.model import Connection, Room, User
from tchat.chat.roomsettings import MAX_BANS, TOPIC_MAX, Restriction, RoomSettings
from tchat.chat.rooms import RoomRules
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import clean_text, name_key
from tchat.store import StoreError

log = Logger()

Kill = Callable[[Connection, Request], Awaitable[None]]


class ModerationRules:
    def __init__(self, core: Core, rooms: RoomRules, kill: Kill) -> None:
        self.core = core
        self.state = core.state
        self.delivery = core.delivery
        self.rooms = rooms
        self.kill = kill
        self.keeper = rooms.keeper

    # -- helpers -----------------------------------------------------------

    def _room(self, connection: Connection, request: Request) -> Room:
        """The room the request is about; its user must be in it, unless an admin."""
        name = request.args.get("room")
        if connection.admin and name is not None:
            return self.rooms.room(name)
        return self.rooms.room_of(connection, name)

    def _need_op(self, connection: Connection, room: Room) -> None:
        if connection.admin or room.settings.is_op(logged_in(connection).key):
            return
        raise ChatError("not_op", f"only the operators of {room.name} may do that")

    def _member(self, room: Room, name: str) -> User:
        user = room.members.get(name_key(name))
        if user is None:
            raise ChatError("not_in_room", f"{name} is not in {room.name}")
        return user

    async def change(self, connection: Connection, room: Room, settings: RoomSettings) -> str | None:
        """Make ``settings`` the room's, everywhere; keep them if the room is kept. A warning if they could not be kept."""
        settings.expire(self.core.now())
        self.state.update_room(room, settings)
        try:
            await self.keeper.keep(room)
        except StoreError as e:
            log.warn("the settings of {room} changed but were not kept: {why}", room=room.name, why=e)
            return f"done, but not kept across restarts: {store_error(e).text}"
        return None

    def announce(self, room: Room, connection: Connection, name: str, **fields: Any) -> None:
        """The event to the room: every member, the one who asked too (on their other devices; they get an ok)."""
        by = connection.name or "an admin"
        self.delivery.to_room(room, self.core.event(name, room=room.name, by=by, **self._by_registered(connection), **fields), but=connection)

    @staticmethod
    def _by_registered(connection: Connection) -> dict[str, Any]:
        """``by_registered``: the one who did it is an account (IRC's account-tag on the line they are the source of)."""
        user = connection.user
        return {"by_registered": True} if user is not None and user.registered else {}

    # -- topic -------------------------------------------------------------

    @handles("topic")
    async def do_topic(self, connection: Connection, request: Request) -> None:
        name = request.args.get("room")
        text = request.args.get("topic")
        if text is None:
            # Reading: members, and anyone for a room open to all.
            room = self.rooms.visible_room(connection, name) if name is not None else self.rooms.room_of(connection, None)
            user = logged_in(connection)
            s = room.settings
            if room.key not in user.rooms and (s.invite_only or s.key) and not connection.admin:
                raise ChatError("not_in_room", f"only members of {room.name} may read its topic")
            self.core.reply(
                connection, request, "topic", room=room.name, topic=s.topic, by=s.topic_by, at=s.topic_at,
            )
            return
        room = self._room(connection, request)
        if room.settings.topic_locked:
            self._need_op(connection, room)
        topic = clean_text(text).strip()
        if len(topic) > TOPIC_MAX:
            raise ChatError("bad_request", f"a topic is at most {TOPIC_MAX} characters")
        settings = room.settings.copy()
        by = connection.name or "an admin"
        settings.topic, settings.topic_by, settings.topic_at = topic, by, self.core.now()
        warning = await self.change(connection, room, settings)
        self.announce(room, connection, "topic", topic=topic)
        self.core.reply(connection, request, "ok", room=room.name, topic=topic, text=warning)

    # -- ops and voice -------------------------------------------------------

    async def _set_rank(self, connection: Connection, request: Request, rank: str, on: bool) -> tuple[Room, User, str | None] | None:
        """Give or take op or voice; None (answered already) when nothing changes."""
        room = self._room(connection, request)
        self._need_op(connection, room)
        target = self._member(room, request.args["user"])
        settings = room.settings.copy()
        keys = settings.ops if rank == "op" else settings.voiced
        if rank == "op" and not on and target.key == settings.owner:
            raise ChatError("not_allowed", f"{target.name} owns {room.name} and stays an operator")
        if (target.key in keys) == on:
            self.core.reply(connection, request, "ok", room=room.name, user=target.name, already=True)
            return None
        (keys.add if on else keys.discard)(target.key)
        return room, target, await self.change(connection, room, settings)

    def _rank_done(self, connection: Connection, request: Request, room: Room, target: User, warning: str | None) -> None:
        self.core.reply(connection, request, "ok", room=room.name, user=target.name, text=warning)

    @handles("op")
    async def do_op(self, connection: Connection, request: Request) -> None:
        done = await self._set_rank(connection, request, "op", True)
        if done is not None:
            self.announce(done[0], connection, "op", user=done[1].name)
            self._rank_done(connection, request, *done)

    @handles("deop")
    async def do_deop(self, connection: Connection, request: Request) -> None:
        done = await self._set_rank(connection, request, "op", False)
        if done is not None:
            self.announce(done[0], connection, "deop", user=done[1].name)
            self._rank_done(connection, request, *done)

    @handles("voice")
    async def do_voice(self, connection: Connection, request: Request) -> None:
        done = await self._set_rank(connection, request, "voice", True)
        if done is not None:
            self.announce(done[0], connection, "voice", user=done[1].name)
            self._rank_done(connection, request, *done)

    @handles("devoice")
    async def do_devoice(self, connection: Connection, request: Request) -> None:
        done = await self._set_rank(connection, request, "voice", False)
        if done is not None:
            self.announce(done[0], connection, "devoice", user=done[1].name)
            self._rank_done(connection, request, *done)

    # -- kick, ban, mute -------------------------------------------------------

    @handles("kick")
    async def do_kick(self, connection: Connection, request: Request) -> None:
        if request.args.get("room") is None and connection.admin:
            # An admin's /kick NAME: the disconnect from the server, under its old name.
            await self.kill(connection, request)
            return
        room = self._room(connection, request)
        self._need_op(connection, room)
        target = self._member(room, request.args["user"])
        if target.key == room.settings.owner and not connection.admin:
            raise ChatError("not_allowed", f"{target.name} owns {room.name}")
        reason = clean_text(request.args.get("reason") or "").strip() or None
        await self.put_out(room, target, connection, reason)
        self.core.reply(connection, request, "ok", room=room.name, user=target.name)

    async def put_out(self, room: Room, target: User, connection: Connection, reason: str | None) -> None:
        """``target`` out of ``room``: a ``kick`` to the room, the one put out included."""
        self.delivery.to_room(
            room, self.core.event(
                "kick", room=room.name, user=target.name, by=connection.name or "an admin", reason=reason,
                **self._by_registered(connection),
            ),
            but=connection,
        )
        self.rooms.leave_quietly(target, room)
        await self.rooms.remember_part(target, room)

    async def _target(self, name: str) -> tuple[str, str, bool, User | None]:
        """Who a ban or mute is about: key, name as shown, registered, and the user if online."""
        key = name_key(name)
        user = self.state.user(key)
        if user is not None:
            return user.key, user.name, user.registered, user
        store = self.core.store
        if store is not None:
            try:
                account = await store.accounts.get(key)
            except StoreError as e:
                raise store_error(e) from None
            if account is not None:
                return account.key, account.name, True, None
        return key, name, False, None

    async def _restrict(self, connection: Connection, request: Request, table: str) -> tuple[Room, Restriction, User | None, str | None]:
        room = self._room(connection, request)
        self._need_op(connection, room)
        key, name, registered, user = await self._target(request.args["user"])
        me = logged_in(connection) if connection.user is not None else None
        if me is not None and key == me.key:
            raise ChatError("bad_request", f"you cannot {table[:-1]} yourself")
        if key == room.settings.owner and not connection.admin:
            raise ChatError("not_allowed", f"{name} owns {room.name}")
        settings = room.settings.copy()
        entries = settings.bans if table == "bans" else settings.mutes
        now = self.core.now()
        settings.expire(now)
        if key not in entries and len(entries) >= MAX_BANS:
            raise ChatError("too_many_bans", f"{room.name} has {MAX_BANS} {table}, the most a room keeps; lift some first")
        duration = request.args.get("duration")
        host = user.connections[0].host if user is not None and not registered and user.connections else None
        entry = Restriction(
            key=key, name=name, account=registered, host=host, by=connection.name or "an admin", at=now,
            until=now + duration if duration is not None else None,
        )
        entries[key] = entry
        warning = await self.change(connection, room, settings)
        return room, entry, user, warning

    async def _lift(self, connection: Connection, request: Request, table: str) -> tuple[Room, Restriction, str | None]:
        room = self._room(connection, request)
        self._need_op(connection, room)
        key = name_key(request.args["user"])
        settings = room.settings.copy()
        entries = settings.bans if table == "bans" else settings.mutes
        entry = entries.pop(key, None)
        if entry is None or not entry.active(self.core.now()):
            what = "banned from" if table == "bans" else "muted in"
            raise ChatError("bad_request", f"{request.args['user']} is not {what} {room.name}")
        return room, entry, await self.change(connection, room, settings)

    @handles("ban")
    async def do_ban(self, connection: Connection, request: Request) -> None:
        room, entry, user, warning = await self._restrict(connection, request, "bans")
        self.announce(room, connection, "ban", user=entry.name, until=entry.until)
        if user is not None and room.key in user.rooms:
            await self.put_out(room, user, connection, "banned")
        self.core.reply(
            connection, request, "ok", room=room.name, user=entry.name, until=entry.until,
            text=warning,
        )

    @handles("unban")
    async def do_unban(self, connection: Connection, request: Request) -> None:
        room, entry, warning = await self._lift(connection, request, "bans")
        self.announce(room, connection, "unban", user=entry.name)
        self.core.reply(connection, request, "ok", room=room.name, user=entry.name, text=warning)

    @handles("mute")
    async def do_mute(self, connection: Connection, request: Request) -> None:
        room, entry, user, warning = await self._restrict(connection, request, "mutes")
        self.announce(room, connection, "mute", user=entry.name, until=entry.until)
        self.core.reply(
            connection, request, "ok", room=room.name, user=entry.name, until=entry.until,
            text=warning,
        )

    @handles("unmute")
    async def do_unmute(self, connection: Connection, request: Request) -> None:
        room, entry, warning = await self._lift(connection, request, "mutes")
        self.announce(room, connection, "unmute", user=entry.name)
        self.core.reply(connection, request, "ok", room=room.name, user=entry.name, text=warning)

    @handles("bans")
    async def do_bans(self, connection: Connection, request: Request) -> None:
        room = self._room(connection, request)
        self._need_op(connection, room)
        now = self.core.now()
        s = room.settings
        self.core.reply(
            connection, request, "bans", room=room.name,
            bans=[r.shown(now) for r in s.bans.values() if r.active(now)],
            mutes=[r.shown(now) for r in s.mutes.values() if r.active(now)],
        )

    # -- invite and modes ------------------------------------------------------

    @handles("invite")
    async def do_invite(self, connection: Connection, request: Request) -> None:
        room = self._room(connection, request)
        if room.settings.invite_only:
            self._need_op(connection, room)
        target = self.state.user(name_key(request.args["user"]))
        if target is None:
            raise ChatError("no_such_user", f"{request.args['user']} is not online")
        if room.key in target.rooms:
            raise ChatError("bad_request", f"{target.name} is in {room.name} already")
        settings = room.settings.copy()
        if target.key not in settings.invited:
            if len(settings.invited) >= MAX_BANS:
                raise ChatError("too_many_bans", f"{room.name} has {MAX_BANS} invitations waiting, the most a room keeps")
            settings.invited.add(target.key)
            warning = await self.change(connection, room, settings)
        else:
            warning = None
        self.delivery.to_user(target, self.core.event(
            "invite", room=room.name, user=target.name, by=connection.name or "an admin", **self._by_registered(connection),
        ))
        self.core.reply(connection, request, "ok", room=room.name, user=target.name, text=warning)

    @handles("mode")
    async def do_mode(self, connection: Connection, request: Request) -> None:
        changes = request.args.get("set")
        if changes is None:
            name = request.args.get("room")
            room = self.rooms.visible_room(connection, name) if name is not None else self.rooms.room_of(connection, None)
            s = room.settings
            self.core.reply(
                connection, request, "mode", room=room.name, modes=s.modes(for_op=connection.admin or s.is_op(logged_in(connection).key)),
                letters=s.mode_letters(), created=s.created,
            )
            return
        room = self._room(connection, request)
        self._need_op(connection, room)
        settings = room.settings.copy()
        for field, value in changes.items():
            setattr(settings, field, value)
        warning = await self.change(connection, room, settings)
        modes, public = settings.modes(for_op=True), settings.modes()
        self.announce(room, connection, "mode", set={k: public[k] for k in changes}, modes=public)
        self.core.reply(
            connection, request, "ok", room=room.name, modes=modes, letters=settings.mode_letters(), text=warning,
        )
