"""
History: room history is read by the room's members (in a room whose
history is "since_join", ``+H``, only from when they joined; its ops read
it all); a private
conversation by each registered party, from the moment its account (and
the other's, if registered) existed: a guest's name can be someone else's
account tomorrow, and must not come with yesterday's conversation. A
guest reads no private history; an account reads what it said with a
guest (with whoever had that guest name, since the account exists).
"""

from __future__ import annotations

from typing import Any

from tchat.chat.core import Core, handles, logged_in, store_error
from tchat.chat.model import Connection
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import is_room, name_key
from tchat.store import UnknownMessage

HISTORY_DEFAULT = 50
HISTORY_MAX = 200


class HistoryRules:
    def __init__(self, core: Core) -> None:
        self.core = core

    @handles("history")
    async def do_history(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        store = self.core.needs_store()
        target = request.args.get("target")
        if target is None:
            # Text mode names its current room, when it has one, before the request gets here.
            raise ChatError("not_in_room", "you are in no room; name one: /history #room")
        limit = min(request.args.get("limit", HISTORY_DEFAULT), HISTORY_MAX)
        page = _page_of(request)
        try:
            if is_room(target):
                room = user.rooms.get(name_key(target))
                if room is None:
                    raise ChatError("not_allowed", f"only members of {target} may read its history; /join {target}")
                target = room.name
                since = None
                if room.settings.history == "since_join" and not room.settings.is_op(user.key) and not connection.admin:
                    # Only what was said since they joined (a registered user's first join, kept in the store).
                    since = await store.memberships.joined(user.key, room.key) if user.registered else None
                    if since is None:
                        since = room.joined.get(user.key, self.core.now())
                messages, more = await store.history.room_history(room.key, limit, since=since, **page)
            else:
                if not user.registered:
                    raise ChatError("not_registered", "private conversations can be read back only by registered users")
                mine = await store.accounts.get(user.key)
                theirs = await store.accounts.get(name_key(target))
                if mine is None:
                    messages, more = [], False
                elif theirs is None:
                    # A guest (or nobody, now): the account reads what it said with
                    # whoever had the name, since the account exists.
                    messages, more = await store.history.private_history(mine.key, name_key(target), limit, since=mine.created, **page)
                else:
                    target = theirs.name
                    since = max(mine.created, theirs.created)
                    messages, more = await store.history.private_history(mine.key, theirs.key, limit, since=since, **page)
        except UnknownMessage as e:
            raise store_error(e) from None
        self.core.reply(connection, request, "history", target=target, messages=messages, more=more)


def _page_of(request: Request) -> dict[str, Any]:
    """
    Which page is asked for: ``before`` and ``after`` (a msgid, or a Unix
    time), ``around`` (the same) instead of them, and with ``end`` which end
    of the range: ``newest`` (the default) or ``oldest``.
    """
    args = request.args
    page: dict[str, Any] = {}
    for name in ("before", "after", "around"):
        value = args.get(name)
        if value is not None:
            page[name] = value if isinstance(value, str) else float(value)
    if "around" in page and ("before" in page or "after" in page):
        raise ChatError("bad_request", "around is a page of its own: give it without before or after")
    if args.get("end") == "oldest":
        if "around" in page:
            raise ChatError("bad_request", "a page around a message has no end to choose")
        page["oldest"] = True
    return page
