"""
Rooms: joining, parting, who is where.

A room's members are users, not connections: when one device of an account
joins a room, the account joins it and all its devices get the room's
messages (each other device is told with the same ``join`` event the room
gets). Leaving the chat is one ``quit`` event to each person who shared a
room with the one leaving, naming the rooms they shared.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.logger import Logger

from tchat.chat.core import Core, confusable, handles, logged_in
from tchat.chat.model import Connection, Room, User
from tchat.chat.roomsettings import RoomSettings
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import BadName, check_room, clean_text, name_key
from tchat.store import StoreError

log = Logger()


def admission(room: Room, user: User, key: str | None, admin: bool, now: float) -> ChatError | None:
    """Why ``user`` may not join ``room`` (giving ``key``), or None."""
    settings = room.settings
    if admin or settings.is_op(user.key):
        return None
    if settings.restriction(settings.bans, user.key, user.registered, user.hosts(), now) is not None:
        return ChatError("banned", f"you are banned from {room.name}")
    invited = user.key in settings.invited
    if settings.invite_only and not invited:
        return ChatError("invite_only", f"{room.name} is invite-only: an op of it must /invite you")
    if settings.key is not None and key != settings.key and not invited:
        what = "wrong key" if key else "it needs a key"
        return ChatError("bad_key", f"{room.name}: {what}; /join {room.name} KEY")
    if settings.limit is not None and len(room.members) >= settings.limit and not invited:
        return ChatError("room_full", f"{room.name} is full ({settings.limit} members at most)")
    return None


def _listed(room: Room, key: str) -> dict[str, Any]:
    """A room as ``rooms`` lists it to the user ``key``: members, topic (and when set), when made, invited."""
    s = room.settings
    listed: dict[str, Any] = {"room": room.name, "members": len(room.members)}
    if s.topic:
        listed["topic"] = s.topic
        if s.topic_at is not None:
            listed["topic_at"] = s.topic_at
    if s.created is not None:
        listed["created"] = s.created
    if s.kept:
        listed["kept"] = True
    if s.secret:
        listed["secret"] = True
    if key in s.invited:
        listed["invited"] = True
    return listed


class RoomKeeper:
    """
    Writes a kept room's settings to the store, one write at a time per room
    and always the latest settings, so two changes in quick succession can
    never be committed in the wrong order.
    """

    def __init__(self, core: Core) -> None:
        self.core = core
        self._writing: set[str] = set()
        self._again: set[str] = set()
        self._soon: set[Deferred[None]] = set()

    def keep_soon(self, room: Room) -> None:
        """L{keep}, from a rule that cannot wait for it; a failure is logged. L{settled} waits for these."""

        def failed(f: Failure) -> None:
            log.warn("the settings of {room} changed but were not kept: {why}", room=room.name, why=f.value)

        d = Deferred.fromCoroutine(self.keep(room))
        d.addErrback(failed)
        self._soon.add(d)
        d.addBoth(lambda _: self._soon.discard(d))

    async def settled(self) -> None:
        """Done once the writes L{keep_soon} started are done."""
        for d in list(self._soon):
            await d

    async def keep(self, room: Room) -> None:
        store = self.core.store
        if store is None or not room.settings.kept:
            return
        if room.key in self._writing:
            self._again.add(room.key)
            return
        self._writing.add(room.key)
        try:
            while True:
                self._again.discard(room.key)
                settings = room.settings
                await store.rooms.save(room.key, room.name, settings.owner, settings.to_dict(), self.core.now())
                if room.key not in self._again:
                    return
        finally:
            self._writing.discard(room.key)
            self._again.discard(room.key)


class RoomRules:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.state = core.state
        self.delivery = core.delivery
        self.keeper = RoomKeeper(core)

    # -- for the other rules ---------------------------------------------

    def room(self, name: str) -> Room:
        room = self.state.room(name_key(name))
        if room is None:
            raise ChatError("no_such_room", f"no such room: {name}")
        return room

    def visible_room(self, connection: Connection, name: str) -> Room:
        """
        The room ``name``, as L{room}, unless it is secret (+s) and the
        connection's user is not in it: then, to them, there is no such room.
        """
        room = self.room(name)
        user = connection.user
        if room.settings.hidden_from(room.key, user.rooms if user is not None else (), connection.admin):
            raise ChatError("no_such_room", f"no such room: {name}")
        return room

    def room_of(self, connection: Connection, name: str | None) -> Room:
        """
        The room ``name`` that the connection's user is in. None: the
        request named no room (text mode names its current room, when it
        has one, before the request gets here).
        """
        user = logged_in(connection)
        if name is None:
            raise ChatError("not_in_room", "you are in no room; /join #room first")
        room = self.room(name)
        if room.key not in user.rooms:
            raise ChatError("not_in_room", f"you are not in {room.name}; /join {room.name} first")
        return room

    def room_to_send_to(self, connection: Connection, name: str | None) -> Room:
        """
        The room ``name`` as L{room_of}; or, for someone not in it, a room
        that takes messages from outside (``members_only`` off, IRC's
        ``-n``) and has not banned them.
        """
        user = logged_in(connection)
        if name is None:
            return self.room_of(connection, name)
        key = name_key(name)
        # A member's room (every message to a room it is in): the room itself, as room_of finds it.
        joined = user.rooms.get(key)
        if joined is not None:
            return joined
        room = self.state.room(key)
        if room is None or room.settings.members_only:
            return self.room_of(connection, name)
        if self.banned(room, user) and not connection.admin:
            raise ChatError("banned", f"you are banned from {room.name}; your message reached nobody")
        return room

    def join(self, user: User, room: Room, by: Connection | None = None, since: float | None = None) -> None:
        """``user`` (all its connections) is in ``room`` now; the room and the user's other devices are told."""
        self.state.add_member(room, user, since if since is not None else self.core.now())
        if room.settings.created is None:
            # Made now (for IRC's 329 and LIST's filters); the lobby, and a room
            # kept before tchat kept the time, take their next join's.
            settings = room.settings.copy()
            settings.created = self.core.now()
            self.state.update_room(room, settings)
            self.keeper.keep_soon(room)
        s = room.settings
        op = s.is_op(user.key) or None
        self.delivery.to_room(room, self.core.event(
            "join", room=room.name, user=user.name, op=op, registered=user.registered or None, away=user.away or None,
        ), but=by)

    def part(self, user: User, room: Room, reason: str | None, by: Connection | None = None) -> None:
        """``user`` leaves ``room``; the room and the user's other devices are told."""
        self.leave_quietly(user, room)
        if not self.core.stopping:
            event = self.core.event("part", room=room.name, user=user.name, reason=reason)
            self.delivery.to_room(room, event)
            self.delivery.to_user(user, event, but=by)

    def leave_quietly(self, user: User, room: Room) -> None:
        """
        ``user`` is out of ``room``, with no event (the caller sends its
        own). A guest's rights in the room end with it: the next guest to
        take the name gets none of them.
        """
        self.state.remove_member(room, user)
        settings = room.settings
        if not user.registered and (user.key in settings.ops or user.key in settings.voiced or settings.owner == user.key):
            changed = settings.copy()
            changed.ops.discard(user.key)
            changed.voiced.discard(user.key)
            if changed.owner == user.key:
                changed.owner = None
            self.state.update_room(room, changed)
            if changed.kept:
                # Not kept for the next guest under the name, after a restart either.
                self.keeper.keep_soon(room)

    def quit(self, user: User, reason: str) -> None:
        """``user``'s last connection is gone: one ``quit`` to each who shared a room, then out of every room."""
        if not self.core.stopping:
            self.delivery.to_sharers(
                user, lambda rooms: self.core.event("quit", user=user.name, rooms=rooms, reason=reason)
            )
        for room in list(user.rooms.values()):
            self.leave_quietly(user, room)

    def shown(self, room: Room, user: User | None = None) -> dict[str, Any]:
        """What a member sees of a room on joining (and on logging in): members, ops, topic, modes."""
        s = room.settings
        return {
            "users": room.names(), "ops": self.ops(room), "voiced": self.voiced(room), "topic": s.topic or None,
            "modes": s.modes(for_op=user is not None and s.is_op(user.key)),
        }

    def voiced(self, room: Room) -> list[str]:
        return sorted((u.name for u in room.members.values() if u.key in room.settings.voiced), key=name_key)

    def banned(self, room: Room, user: User) -> bool:
        s = room.settings
        return not s.is_op(user.key) and s.restriction(s.bans, user.key, user.registered, user.hosts(), self.core.now()) is not None

    def ops(self, room: Room) -> list[str]:
        s = room.settings
        return sorted((u.name for u in room.members.values() if s.is_op(u.key)), key=name_key)

    async def load_kept(self) -> None:
        """The kept rooms as the store has them, in the chat (at start)."""
        store = self.core.store
        if store is None:
            return
        for key, name, raw in await store.rooms.all():
            try:
                settings = RoomSettings.from_dict(raw)
                checked = check_room(name)
            except (ValueError, BadName) as e:
                log.warn("the kept room {name} could not be read back ({why}); left out", name=name, why=e)
                continue
            if name_key(checked) != key:
                log.warn("the kept room {name} is kept under another key; left out", name=name)
                continue
            self.state.load_room(checked, settings)

    async def remember_join(self, user: User, room: Room) -> None:
        store = self.core.store
        if store is not None and user.registered:
            await store.memberships.join(user.key, room.key, room.name, self.core.now())

    async def remember_part(self, user: User, room: Room) -> None:
        store = self.core.store
        if store is not None and user.registered:
            await store.memberships.leave(user.key, room.key)

    # -- requests --------------------------------------------------------

    @handles("join")
    async def do_join(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        try:
            name = check_room(request.args["room"].strip())
        except BadName as e:
            raise ChatError("bad_name", str(e)) from None
        room = self.state.room(name_key(name))
        if room is not None and room.key in user.rooms:
            self.core.reply(connection, request, "ok", room=room.name, **self.shown(room, user), again=True)
            return
        if len(user.rooms) >= self.core.config.max_rooms_per_user:
            raise ChatError("too_many_rooms", f"you are in {len(user.rooms)} rooms, the most allowed; /part one first")
        if room is not None:
            refusal = admission(room, user, request.args.get("key"), connection.admin, self.core.now())
            if refusal is not None:
                raise refusal
            changed = user.key in room.settings.invited
            if changed:
                settings = room.settings.copy()
                settings.invited.discard(user.key)
                self.state.update_room(room, settings)
        else:
            if (alike := self.state.confusable_room(name)) is not None:
                raise confusable(name, alike.name, "a room that exists")
            room = self.state.open_room(name)
            changed = False
        new = not room.members and not room.settings.kept and room.key != self.core.config.lobby_key
        self.join(user, room, by=connection)
        if new:
            changed = True
            # A new room: its creator is its op. A registered creator's room is
            # kept, and they own it: no other op can deop, kick or ban them (a
            # registered channel's founder). A guest's room, which lasts only
            # while people are in it, has no owner: its ops are equals, as on IRC.
            settings = room.settings.copy()
            settings.owner, settings.kept = (user.key if user.registered else None), user.registered
            settings.ops = {user.key}
            self.state.update_room(room, settings)
        await self.remember_join(user, room)
        if changed:
            # Only a new room, or an invitation used up, changes what is kept.
            try:
                await self.keeper.keep(room)
            except StoreError as e:
                log.warn("the room {room} was made but is not kept: {why}", room=room.name, why=e)
        self.core.reply(connection, request, "ok", room=room.name, **self.shown(room, user))

    @handles("part")
    async def do_part(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        room = self.room_of(connection, request.args.get("room"))
        reason = request.args.get("reason")
        self.part(user, room, clean_text(reason).strip() or None if reason else None, by=connection)
        await self.remember_part(user, room)
        self.core.reply(connection, request, "ok", room=room.name)

    @handles("room")
    async def do_room(self, connection: Connection, request: Request) -> None:
        # Only checked here: the current room is text mode's (tchat.door.textmode), which the ok makes it.
        room = self.room_of(connection, request.args["room"])
        self.core.reply(connection, request, "ok", room=room.name)

    @handles("users")
    async def do_users(self, connection: Connection, request: Request) -> None:
        name = request.args.get("room")
        if name is None:
            self.core.reply(connection, request, "users", users=self.state.online())
        else:
            room = self.visible_room(connection, name)
            members = sorted(room.members.values(), key=lambda u: name_key(u.name))
            self.core.reply(
                connection, request, "users", room=room.name, users=room.names(), ops=self.ops(room), voiced=self.voiced(room),
                away={u.name: u.away for u in members if u.away} or None,
                registered=[u.name for u in members if u.registered] or None, secret=room.settings.secret or None,
            )

    @handles("rooms")
    async def do_rooms(self, connection: Connection, request: Request) -> None:
        user = connection.user
        key, mine = (user.key, user.rooms) if user is not None else ("", {})
        # A secret room is listed to its members (and admins, and whom it invited) only.
        rooms = [
            _listed(r, key) for r in self.state.rooms()
            if not r.settings.hidden_from(r.key, mine, connection.admin) or key in r.settings.invited
        ]
        self.core.reply(connection, request, "rooms", rooms=rooms)
