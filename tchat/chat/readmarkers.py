"""
Read markers (``markread``; IRCv3 draft/read-marker): up to when a user has
read a room or a conversation, so that its other devices, and the next
JOIN, know.

A marker is the user's (every device of an account shares it) and only
ever goes forward: setting an older time answers the newer one kept. A set
that moves it is told to the user's other connections too. Markers are
kept while the user is online, in the state (at most 1 000 a user, the
oldest set going first): not in the store, so an account's are gone when
its last device leaves; on several nodes each node keeps those set through
it.
"""

from __future__ import annotations

import math

from tchat.chat.core import Core, handles, logged_in
from tchat.chat.model import Connection
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import BadName, check_name, check_room, is_room, name_key


class ReadMarkerRules:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.state = core.state
        self.delivery = core.delivery

    @handles("markread")
    async def do_markread(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        raw = request.args["target"]
        try:
            target = check_room(raw) if is_room(raw) else check_name(raw)
        except BadName as e:
            raise ChatError("bad_name", f"{e}: not a room or a name") from None
        key = name_key(target)
        given = request.args.get("at")
        if given is None:
            self.core.reply(connection, request, "read_marker", target=target, at=self.state.read_marker(user, key))
            return
        try:
            ts = float(given)
        except (TypeError, ValueError):
            ts = math.nan
        if not math.isfinite(ts) or ts < 0:
            raise ChatError("bad_request", "at is a time: seconds since 1970 (Unix time)")
        kept = self.state.read_marker(user, key)
        if kept is None or ts > kept:
            self.state.mark_read(user, key, ts)
            kept = ts
            self.delivery.to_user(user, self.core.event("read_marker", target=target, at=ts), but=connection)
        self.core.reply(connection, request, "read_marker", target=target, at=kept)
