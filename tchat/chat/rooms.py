"""
Rooms: joining, parting, the current room of text mode, who is where.

A room's members are users, not connections: when one device of an account
joins a room, the account joins it and all its devices get the room's
messages (each other device is told with the same ``join`` event the room
gets). Leaving the chat is one ``quit`` event to each person who shared a
room with the one leaving, naming the rooms they shared.
"""

from __future__ import annotations

from twisted.logger import Logger

from tchat.chat.core import Core, confusable, handles, logged_in
from tchat.chat.model import Connection, Room, User
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import BadName, check_room, clean_text, name_key

log = Logger()


class RoomRules:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.state = core.state
        self.delivery = core.delivery

    # -- for the other rules ---------------------------------------------

    def room(self, name: str) -> Room:
        room = self.state.room(name_key(name))
        if room is None:
            raise ChatError("no_such_room", f"no such room: {name}")
        return room

    def room_of(self, connection: Connection, name: str | None) -> Room:
        """The room ``name`` (or the connection's current room) that its user is in."""
        user = logged_in(connection)
        if name is None:
            if connection.current is None:
                raise ChatError("not_in_room", "you are in no room; /join #room first")
            return connection.current
        room = self.room(name)
        if room.key not in user.rooms:
            raise ChatError("not_in_room", f"you are not in {room.name}; /join {room.name} first")
        return room

    def join(self, user: User, room: Room, by: Connection | None = None) -> None:
        """``user`` (all its connections) is in ``room`` now; the room and the user's other devices are told."""
        self.state.add_member(room, user)
        for connection in user.connections:
            if connection is by or connection.current is None:
                connection.current = room
        self.delivery.to_room(room, self.core.event("join", room=room.name, user=user.name), but=by)

    def part(self, user: User, room: Room, reason: str | None, by: Connection | None = None) -> None:
        """``user`` leaves ``room``; the room and the user's other devices are told."""
        self.state.remove_member(room, user)
        if not self.core.stopping:
            event = self.core.event("part", room=room.name, user=user.name, reason=reason)
            self.delivery.to_room(room, event)
            self.delivery.to_user(user, event, but=by)

    def quit(self, user: User, reason: str) -> None:
        """``user``'s last connection is gone: one ``quit`` to each who shared a room, then out of every room."""
        if not self.core.stopping:
            self.delivery.to_sharers(
                user, lambda rooms: self.core.event("quit", user=user.name, rooms=rooms, reason=reason)
            )
        for room in list(user.rooms.values()):
            self.state.remove_member(room, user)

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
            connection.current = room
            self.core.reply(
                connection, request, "ok", room=room.name, users=room.names(), text=f"you are in {room.name}; plain lines now go there"
            )
            return
        if len(user.rooms) >= self.core.config.max_rooms_per_user:
            raise ChatError("too_many_rooms", f"you are in {len(user.rooms)} rooms, the most allowed; /part one first")
        if room is None and (alike := self.state.confusable_room(name)) is not None:
            raise confusable(name, alike.name, "a room that exists")
        room = self.state.open_room(name)
        self.join(user, room, by=connection)
        await self.remember_join(user, room)
        users = room.names()
        self.core.reply(connection, request, "ok", room=room.name, users=users, text=f"you joined {room.name}; in it: {', '.join(users)}")

    @handles("part")
    async def do_part(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        room = self.room_of(connection, request.args.get("room"))
        reason = request.args.get("reason")
        self.part(user, room, clean_text(reason).strip() or None if reason else None, by=connection)
        await self.remember_part(user, room)
        current = f"; plain lines now go to {connection.current.name}" if connection.current else "; you are in no room now"
        self.core.reply(connection, request, "ok", room=room.name, text=f"you left {room.name}{current}")

    @handles("room")
    async def do_room(self, connection: Connection, request: Request) -> None:
        room = self.room_of(connection, request.args["room"])
        connection.current = room
        self.core.reply(connection, request, "ok", room=room.name, text=f"plain lines now go to {room.name}")

    @handles("users")
    async def do_users(self, connection: Connection, request: Request) -> None:
        name = request.args.get("room")
        if name is None:
            self.core.reply(connection, request, "users", users=self.state.online())
        else:
            room = self.room(name)
            self.core.reply(connection, request, "users", room=room.name, users=room.names())

    @handles("rooms")
    async def do_rooms(self, connection: Connection, request: Request) -> None:
        rooms = [{"room": r.name, "members": len(r.members)} for r in self.state.rooms()]
        self.core.reply(connection, request, "rooms", rooms=rooms)
