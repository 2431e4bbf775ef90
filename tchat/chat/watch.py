"""
Watch lists: being told when a name comes online or leaves the chat
(``watch``; IRC's MONITOR).

Each connection has its own list (at most ``max_watch`` names, kept by the
state with the connection and gone with it). A name on it coming online or
leaving is told to the connection as ``online`` or ``offline``; its user's
away changing, as ``away`` with no rooms, unless the watcher shares a room
with them (it is told as a sharer already). A guest renaming is its old name
leaving and its new one coming online.

The state tells these changes (L{tchat.chat.state.State.observe}) whoever
made them: a login here, or another node's, applied to this node's copy of
the chat. So on several nodes a watcher hears of every node's users with
nothing more on the bus.
"""

from __future__ import annotations

from tchat.chat.core import Core, handles, logged_in
from tchat.chat.model import Connection, User
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import BadName, check_name, name_key


def split_names(text: str) -> list[str]:
    """The names of a ``users`` field: separated by commas or spaces."""
    return [name for name in text.replace(",", " ").split() if name]


class WatchRules:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.state = core.state
        self.delivery = core.delivery
        self.state.observe(self.changed)

    @handles("watch")
    async def do_watch(self, connection: Connection, request: Request) -> None:
        logged_in(connection)
        op = request.args.get("op") or "list"
        names = split_names(request.args.get("users") or "")
        if op in ("add", "remove") and not names:
            raise ChatError("bad_request", f"usage: /watch {op} NAMES (separated by commas or spaces)")
        asked: list[str] = []
        bad: list[str] = []
        if op == "add":
            for name in names:
                try:
                    asked.append(check_name(name))
                except BadName:
                    bad.append(name)
            watching = connection.watching or {}
            new = {name_key(n): n for n in asked if name_key(n) not in watching}
            limit = self.core.config.max_watch
            if len(watching) + len(new) > limit:
                self.core.refuse(
                    connection, request, "watch_full",
                    f"you watch {len(watching)} names and may watch at most {limit}; /watch remove some first",
                    limit=limit, users=list(new.values()),
                )
                return
            self.state.watch(connection, new.values())
        elif op == "remove":
            self.state.unwatch(connection, [name_key(n) for n in names])
        elif op == "clear":
            self.state.unwatch(connection)
        watching = connection.watching or {}
        listed = list(watching.values())
        if op == "list":
            asked = listed
        elif op != "add":
            asked = []
        online = [self._shown(n) for n in asked if self.state.user(name_key(n)) is not None]
        offline = [n for n in asked if self.state.user(name_key(n)) is None]
        self.core.reply(connection, request, "watching", users=listed, online=online, offline=offline, bad=bad or None)

    def _shown(self, name: str) -> str:
        user = self.state.user(name_key(name))
        return user.name if user is not None else name

    def changed(self, change: str, name: str, user: User) -> None:
        """The state says ``name`` came online, left, or its user's away changed: tell its watchers here."""
        watchers = self.state.watchers(name_key(name))
        if not watchers:
            return
        if change == "away":
            event = self.core.event("away", user=user.name, text=user.away, rooms=[])
            for connection in watchers:
                watcher = connection.user
                if watcher is None or watcher is user or _share(watcher, user):
                    continue
                self.delivery.to_connection(connection, event)
            return
        event = self.core.event("online", user=name) if change == "online" else self.core.event("offline", user=name)
        for connection in watchers:
            self.delivery.to_connection(connection, event)


def _share(a: User, b: User) -> bool:
    small, big = (a.rooms, b.rooms) if len(a.rooms) <= len(b.rooms) else (b.rooms, a.rooms)
    return any(key in big for key in small)
