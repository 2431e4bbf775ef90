"""
People: changing one's name (``/nick``), being away, and asking about
someone (``/whois``).

A guest may rename; a registered user may not: the name *is* the account
(what others know them by, what their contacts, history and bans are about),
so ``/nick`` answers that they would log in under another name instead. A
rename is told once to everyone who shares a room (``nick``, naming the
rooms), and to the user's own other devices.

Away is per user (all its devices): a private message to someone away is
answered ``ok`` with their away text, and ``/whois`` shows it. A change is
told to everyone who shares a room (``away``, naming the rooms): IRC
clients with away-notify show it; the other doors show nothing.
"""

from __future__ import annotations

from tchat.chat.core import Core, confusable, handles, logged_in
from tchat.chat.model import Connection, User
from tchat.chat.state import Unreachable
from tchat.commands import Request
from tchat.errors import ChatError
from tchat.names import BadName, check_name, clean_text, name_key
from tchat.store import StoreError

AWAY_MAX = 300


class PeopleRules:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.state = core.state
        self.delivery = core.delivery

    @handles("nick")
    async def do_nick(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        if user.registered:
            raise ChatError(
                "not_allowed", f"{user.name} is a registered name: it is your account; to chat under another name, log in as it"
            )
        try:
            name = check_name(request.args["user"].strip())
        except BadName as e:
            raise ChatError("bad_name", f"{e}; choose another name") from None
        key = name_key(name)
        old = user.name
        if name == old:
            self.core.reply(connection, request, "ok", user=name, old=old)
            return
        if key != user.key:
            if self.state.user(key) is not None:
                raise ChatError("name_taken", f"the name {name} is taken; choose another name")
            alike = self.state.confusable(name)
            if alike is not None and alike is not user:
                raise confusable(name, alike.name, "who is online")
            store = self.core.store
            if store is not None:
                try:
                    if await store.accounts.get(key) is not None:
                        raise ChatError("name_registered", f"the name {name} is registered; choose another name")
                    account = await store.accounts.confusable(name)
                except StoreError as e:
                    raise ChatError("unavailable", f"the server's database is not answering ({e}), so no name can be checked; try again later") from None
                if account is not None:
                    raise confusable(name, account.name, "a registered name")
                # The world moved while the store answered.
                if self.state.connection(connection.session) is not connection or user.registered:
                    return
        try:
            renamed = await self.state.rename(user, name)
        except Unreachable as e:
            raise ChatError("unavailable", f"the link between this server's nodes is down ({e}); try again in a moment") from None
        if not renamed:
            raise ChatError("name_taken", f"the name {name} is taken; choose another name")
        build = lambda rooms: self.core.event("nick", old=old, new=name, rooms=rooms)  # noqa: E731
        self.delivery.to_sharers(user, build)
        self.delivery.to_user(user, build([r.name for r in user.rooms.values()]), but=connection)
        self.core.reply(connection, request, "ok", user=name, old=old)

    @handles("away")
    async def do_away(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        text = clean_text(request.args.get("text") or "").strip() or None
        if text is not None and len(text) > AWAY_MAX:
            raise ChatError("bad_request", f"an away text is at most {AWAY_MAX} characters")
        changed = user.away != text
        self.state.set_away(user, text)
        if changed:
            # Who shares a room is told (IRC's away-notify; other clients may ignore it).
            self.delivery.to_sharers(user, lambda rooms: self.core.event("away", user=user.name, text=text, rooms=rooms))
        self.core.reply(connection, request, "ok", away=text)

    @handles("whois")
    async def do_whois(self, connection: Connection, request: Request) -> None:
        asker = logged_in(connection)
        name = request.args["user"]
        user = self.state.user(name_key(name))
        if user is None:
            store = self.core.store
            account = None
            if store is not None:
                try:
                    account = await store.accounts.get(name_key(name))
                except StoreError:
                    account = None
            if account is None:
                raise ChatError("no_such_user", f"nobody is called {name}")
            self.core.reply(
                connection, request, "whois", user=account.name, online=False, registered=True,
                seen=account.last_login,
            )
            return
        self.core.reply(connection, request, "whois", **self.about(user, asker, connection.admin))

    def about(self, user: User, asker: User, admin: bool) -> dict[str, object]:
        now = self.core.now()
        shown = [
            r for r in user.rooms.values()
            if admin or r.key in asker.rooms or not (r.settings.invite_only or r.settings.key or r.settings.secret)
        ]
        rooms = [r.name for r in shown]
        since = min((c.since for c in user.connections), default=None)
        idle = None if user.active is None else max(0.0, now - user.active)
        return {
            "user": user.name, "online": True, "registered": user.registered, "away": user.away, "rooms": rooms,
            "idle": idle, "since": since, "sessions": len(user.connections),
            "op_in": [r.name for r in shown if r.settings.is_op(user.key)] or None,
            "voiced_in": [r.name for r in shown if user.key in r.settings.voiced] or None,
        }
