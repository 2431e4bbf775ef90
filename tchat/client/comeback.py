"""
The way back after a lost connection, once the client comes back at all
(L{tchat.client.conversation.Conversation.reconnect_with}).

L{ComingBack} lasts from the loss of a connection until the client is in
its rooms again: it remembers the rooms to be in and the current room as
they were, says what the loss leaves in doubt (a message with no answer),
and once the login on a new connection has worked it rejoins (or leaves)
rooms until they are as they were, then says the client is back. The
waits and tries before that login are L{tchat.client.reconnect.Redial}'s;
whether to come back at all is the conversation's decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tchat.commands import Request
from tchat.names import name_key

if TYPE_CHECKING:
    from tchat.client.conversation import Conversation


class ComingBack:
    """
    One way back, for ``client``: it is the client's C{_coming_back} while
    it lasts (C{None} otherwise), and it sends, shows and sets the rooms
    through the client.

    Callers may rely on: L{rejoining} is empty but while the joins and
    parts sent by L{logged_in_again} wait for their answers on the current
    connection (the client empties it when a new connection is made); once
    they are all answered, the client's rooms and current room are set, it
    is said, and the client's C{_coming_back} is None again.
    """

    def __init__(self, client: Conversation) -> None:
        self.client = client
        # The rooms to be in and the current room, as they were when the
        # connection was lost.
        self.wanted: list[str] = list(client.rooms)
        self.current: str | None = client.current_room
        # The ids of the joins and parts that put the rooms back after a
        # reconnect, and the room each is about.
        self.rejoining: dict[int, str] = {}

    def unanswered(self, pending: dict[int, tuple[Request, float]], quiet: set[int]) -> None:
        """
        Say what the lost connection leaves in doubt, of the requests still
        ``pending`` (but the ``quiet`` ones). A message with no answer may
        or may not have reached its room: it is said, not sent again. A
        typed join or part with no answer is done again on the way back (its
        answer decides where the lines after it go). Lines not sent at all
        stay in the client's backlog.
        """
        client = self.client
        rooms, current = self.wanted, self.current
        for rid, (request, _) in sorted(pending.items()):
            if rid in quiet or rid in self.rejoining or request.action in ("login", "quit", "pong"):
                continue
            if request.action == "msg":
                client._show(client.renderer.error(
                    f"no answer came before the connection was lost, so this may not have reached"
                    f" {request.args['to']}: {request.args['text']}"
                ))
            elif request.action == "join":
                room = request.args["room"]
                rooms = [r for r in rooms if name_key(r) != name_key(room)] + [room]
                current = room
            elif request.action == "part":
                room = request.args["room"]
                rooms = [r for r in rooms if name_key(r) != name_key(room)]
                if current is not None and name_key(current) == name_key(room):
                    current = rooms[-1] if rooms else None
            else:
                client._show(client.renderer.error(
                    f"no answer came for {request.action} before the connection was lost; it may or may not have been done"
                ))
        self.wanted, self.current = rooms, current

    def logged_in_again(self, event: dict[str, Any], rooms: list[str]) -> None:
        """Logged in after a reconnect: rejoin (or leave) rooms until they are as they were."""
        client = self.client
        if client.redial is not None:
            client.redial.logged_in()
        client._show(client.renderer.reconnected(event))
        wanted = self.wanted
        client.rooms = rooms
        have = {name_key(r) for r in rooms}
        want = {name_key(r) for r in wanted}
        for room in wanted:
            if name_key(room) not in have:
                self.rejoining[client._send(Request("join", {"room": room}))] = room
        for room in rooms:
            if name_key(room) not in want:
                self.rejoining[client._send(Request("part", {"room": room}))] = room
        if not self.rejoining:
            self._back()

    def rejoined(self, rid: int, request: Request, event: dict[str, Any]) -> None:
        """The answer to one of the joins or parts that put the rooms back."""
        client = self.client
        room = self.rejoining.pop(rid)
        if event["event"] == "ok":
            named = event["room"] if isinstance(event.get("room"), str) else room
            client.rooms = [r for r in client.rooms if name_key(r) != name_key(named)]
            if request.action == "join":
                client.rooms.append(named)
                client.roster.joined({**event, "room": named})
            else:
                client.roster.left(named)
        elif request.action == "join":
            client._show(client.renderer.error(f"could not rejoin {room}: {event.get('text') or event.get('code')}"))
        if not self.rejoining:
            self._back()

    def _back(self) -> None:
        """The rooms are as they were (but for those that refused us): say so."""
        client = self.client
        wanted, current = self.wanted, self.current
        client._coming_back = None
        spelled = {name_key(r): r for r in client.rooms}
        # The order they were joined in, which decides where plain lines go
        # when a room is left, is the order from before.
        order = [spelled.pop(name_key(r)) for r in wanted if name_key(r) in spelled]
        client.rooms = order + list(spelled.values())
        by_key = {name_key(r): r for r in client.rooms}
        if current is not None and name_key(current) in by_key:
            client.current_room = by_key[name_key(current)]
        else:
            client.current_room = client.rooms[-1] if client.rooms else None
        where = f"plain lines go to {client.current_room}" if client.current_room else "you are in no room (/join #room)"
        client._show(client.renderer.notice(f"back in {', '.join(client.rooms) or 'no room'}; {where}"))
        client._report(None, False)
        client._changed()
