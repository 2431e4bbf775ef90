"""Asking the server: help, ping, and who one is (with every session of one's account)."""

from __future__ import annotations

from tchat.chat.core import Core, handles, logged_in
from tchat.chat.model import Connection
from tchat.commands import Request, help_entries
from tchat.errors import ChatError


class InfoRules:
    def __init__(self, core: Core) -> None:
        self.core = core

    @handles("help")
    async def do_help(self, connection: Connection, request: Request) -> None:
        word = request.args.get("command")
        entries = help_entries(word)
        if not entries:
            raise ChatError("unknown_command", f"no command {word}; /help lists them")
        # The words (how plain lines work, after the whole list) are tchat.sentences'.
        self.core.reply(connection, request, "help", command=word, commands=entries)

    @handles("ping")
    async def do_ping(self, connection: Connection, request: Request) -> None:
        self.core.reply(connection, request, "pong", token=request.args.get("token"))

    @handles("pong")
    async def do_pong(self, connection: Connection, request: Request) -> None:
        pass  # the door counts any line as a sign of life; nothing to answer

    @handles("whoami")
    async def do_whoami(self, connection: Connection, request: Request) -> None:
        user = logged_in(connection)
        sessions = [{**c.describe(self.core.state.node), "this": c is connection} for c in user.connections]
        self.core.reply(
            connection, request, "whoami", user=user.name, rooms=[r.name for r in user.rooms.values()],
            admin=connection.admin, registered=user.registered, sessions=sessions,
        )
