"""
The one command table: its rows and the types they are made of.

Every request a client can make is a L{Command} below: its JSON action and
fields, its text-mode forms with their aliases and arguments, and its help
line. Everything else is derived from this table, so none of it can drift:

- L{parse_text} turns a line typed by a person into a L{Request};
- L{parse_json} checks a JSON-mode object and turns it into a L{Request};
- L{help_entries} is what ``/help`` answers;
- ``python -m tchat.commands`` prints the reStructuredText table that
  ``docs/protocol.rst`` includes (a test checks they match).

A L{Request} only says what was asked, with fields of the right types. Whether
it makes sense (does the user exist, may this person kick) is the hub's call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

RequestId = str | int | float


@dataclass(frozen=True)
class Request:
    """What a client asked for: an action and its checked fields."""

    action: str
    args: dict[str, Any] = field(default_factory=dict)
    id: RequestId | None = None


class BadRequest(Exception):
    """A line that is not a well-formed request; carries the error to send."""

    def __init__(self, code: str, text: str, id: RequestId | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.id = id


@dataclass(frozen=True)
class Field:
    """
    One field of a request. ``kind`` is "str", "int", "id", "duration"
    (seconds, or ``10m``, ``2h``, ``7d``), "tags" (client tags, an object:
    L{tchat.commands.values.parse_tags}) or "modes" (a mode change: IRC's
    letters in text, an object in JSON; see L{tchat.chat.roomsettings}). A field may
    be constrained (``choices``, ``minimum``, ``maximum``); a value outside
    is refused at parse time with ``error``, so no rule checks it again.
    """

    name: str
    kind: str = "str"
    required: bool = True
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    error: str = ""

    def refuses(self, value: Any) -> str | None:
        """Why ``value`` (of the right kind) is refused, or None."""
        if self.choices is not None and value not in self.choices:
            return self.error or f"{self.name} must be one of {', '.join(self.choices)}"
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            return self.error or f"{self.name} is out of range"
        return None


def _is_room(token: str) -> bool:
    return token.startswith("#")


def _is_number(token: str) -> bool:
    return token.isdigit()


def _is_not_number(token: str) -> bool:
    return not token.isdigit()


@dataclass(frozen=True)
class Arg:
    """
    One argument of a text-mode form, in order; ``rest`` takes the rest of
    the line. An optional argument with ``accepts`` takes the next word only
    if ``accepts(word)``; otherwise it is left out and the word goes on to the
    next argument (``/part bye`` is a reason, ``/part #dev`` a room).
    """

    field: str
    meta: str
    optional: bool = False
    rest: bool = False
    accepts: Callable[[str], bool] | None = None

    @property
    def usage(self) -> str:
        return f"[{self.meta}]" if self.optional else self.meta


@dataclass(frozen=True)
class TextForm:
    """
    One way to type a command: ``/word ARGS``. ``words[0]`` is the name shown
    in help, the others are aliases. ``fixed`` are fields the form sets itself
    (``/me`` sets ``kind``).
    """

    words: tuple[str, ...]
    args: tuple[Arg, ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    summary: str = ""

    @property
    def usage(self) -> str:
        return " ".join(["/" + self.words[0], *(a.usage for a in self.args)])


@dataclass(frozen=True)
class Command:
    action: str
    summary: str
    fields: tuple[Field, ...] = ()
    forms: tuple[TextForm, ...] = ()
    before_login: bool = False
    admin: bool = False
    json: bool = True
    listed: bool = True
    # Other JSON actions that mean this one (an old name kept working).
    json_aliases: tuple[str, ...] = ()

    def json_usage(self) -> str:
        parts = [f'"action": "{self.action}"']
        for f in self.fields:
            kind = {
                "str": "string", "int": "integer", "id": "string or number",
                "duration": "seconds or string like 10m", "modes": "object of modes", "tags": "object of client tags",
            }[f.kind]
            parts.append(f'"{f.name}": {kind}' + ("" if f.required else " (optional)"))
        return "{" + ", ".join(parts) + "}"


NAME = Arg("user", "NAME")
TEXT = Arg("text", "TEXT", rest=True)
REASON = Arg("reason", "REASON", optional=True, rest=True)
# The room a command is about: in text mode, the current one if none is named.
ROOM_OPT = Arg("room", "#ROOM", optional=True, accepts=_is_room)
DURATION = Arg("duration", "DURATION", optional=True)
# The rest of the line, so that a passphrase may hold spaces.
PASSWORD = Arg("password", "PASSWORD", rest=True)

COMMANDS: tuple[Command, ...] = (
    Command(
        "login",
        "log in as NAME (with PASSWORD for a registered name)",
        (
            Field("user"),
            Field("password", required=False),
            Field(
                "lobby", required=False, choices=("yes", "no"),
                error='lobby is "yes" (the default: someone in no room yet starts in the lobby) or "no"',
            ),
        ),
        (TextForm(("login",), (NAME, Arg("password", "PASSWORD", optional=True, rest=True))),),
        before_login=True,
    ),
    Command(
        "msg",
        "send a message to a room or, privately, to a user",
        (
            Field("to"),
            Field("text"),
            Field(
                "kind", required=False, choices=("public", "private", "action", "notice"),
                error='kind must be "action" (for /me), "notice" (a message nothing answers automatically) or left out',
            ),
            Field("tags", "tags", required=False),
            Field(
                "only", required=False, choices=("op", "voice"),
                error='only is "op" (to a room\'s operators) or "voice" (its voiced users and operators)',
            ),
        ),
        (
            TextForm(
                ("msg", "para", "to", "w"),
                (Arg("to", "NAME"), TEXT),
                summary="send TEXT privately to NAME, or to a #room you are in",
            ),
            TextForm(
                ("msgall", "all"),
                (TEXT,),
                summary="send TEXT to your current room (the same as a plain line)",
            ),
            TextForm(
                ("me",),
                (TEXT,),
                fixed=(("kind", "action"),),
                summary="describe an action in your current room: /me waves",
            ),
            TextForm(
                ("opmsg", "ops"),
                (Arg("to", "#ROOM"), TEXT),
                fixed=(("only", "op"),),
                summary="send TEXT to the operators of #ROOM only (IRC's PRIVMSG @#room)",
            ),
        ),
    ),
    Command(
        "tagmsg",
        "send client tags alone (typing, a reaction) to a room you are in or to a user online",
        (Field("to"), Field("tags", "tags")),
        (),
    ),
    Command(
        "join",
        "join a room (it is made if it does not exist, and you are its op) and make it current; KEY for a room with one",
        (Field("room"), Field("key", required=False)),
        (TextForm(("join", "j"), (Arg("room", "#ROOM"), Arg("key", "KEY", optional=True))),),
    ),
    Command(
        "part",
        "leave a room (the current one if none is named)",
        (Field("room"), Field("reason", required=False)),
        (TextForm(("part", "leave"), (Arg("room", "#ROOM", optional=True, accepts=_is_room), REASON)),),
    ),
    Command(
        "room",
        "choose the room your plain lines go to",
        (Field("room"),),
        (TextForm(("room",), (Arg("room", "#ROOM"),)),),
    ),
    Command(
        "users",
        "who is online, or who is in #ROOM",
        (Field("room", required=False),),
        (
            TextForm(
                ("users", "online", "userlist", "who", "names"),
                (Arg("room", "#ROOM", optional=True, accepts=_is_room),),
            ),
        ),
    ),
    Command(
        "rooms",
        "the rooms and how many are in each",
        (),
        (TextForm(("rooms", "list")),),
    ),
    Command(
        "topic",
        "read the topic of a room, or set it (ops only while the room is +t, the default)",
        (Field("room"), Field("topic", required=False)),
        (TextForm(("topic",), (ROOM_OPT, Arg("topic", "TEXT", optional=True, rest=True))),),
    ),
    Command(
        "op",
        "make NAME an operator of a room (ops only)",
        (Field("room"), Field("user")),
        (TextForm(("op",), (ROOM_OPT, NAME)),),
    ),
    Command(
        "deop",
        "take a room's operator rights from NAME (ops only; not from a kept room's owner)",
        (Field("room"), Field("user")),
        (TextForm(("deop",), (ROOM_OPT, NAME)),),
    ),
    Command(
        "voice",
        "let NAME speak in a moderated room (ops only)",
        (Field("room"), Field("user")),
        (TextForm(("voice",), (ROOM_OPT, NAME)),),
    ),
    Command(
        "devoice",
        "take NAME's voice in a room (ops only)",
        (Field("room"), Field("user")),
        (TextForm(("devoice",), (ROOM_OPT, NAME)),),
    ),
    Command(
        "kick",
        "put NAME out of a room (ops only); without a room, admins disconnect NAME from the server (/kill)",
        (Field("room", required=False), Field("user"), Field("reason", required=False)),
        (TextForm(("kick",), (ROOM_OPT, NAME, REASON)),),
    ),
    Command(
        "ban",
        "put NAME out of a room and keep them out, for DURATION (10m, 2h, 7d) or for good (ops only)",
        (Field("room"), Field("user"), Field("duration", "duration", required=False)),
        (TextForm(("ban",), (ROOM_OPT, NAME, DURATION)),),
    ),
    Command(
        "unban",
        "let NAME into a room again (ops only)",
        (Field("room"), Field("user")),
        (TextForm(("unban",), (ROOM_OPT, NAME)),),
    ),
    Command(
        "bans",
        "who is banned from a room, and who is muted in it (ops only)",
        (Field("room"),),
        (TextForm(("bans",), (ROOM_OPT,)),),
    ),
    Command(
        "mute",
        "keep NAME's messages out of a room, for DURATION (10m, 2h, 7d) or for good (ops only)",
        (Field("room"), Field("user"), Field("duration", "duration", required=False)),
        (TextForm(("mute",), (ROOM_OPT, NAME, DURATION)),),
    ),
    Command(
        "unmute",
        "let NAME speak in a room again (ops only)",
        (Field("room"), Field("user")),
        (TextForm(("unmute",), (ROOM_OPT, NAME)),),
    ),
    Command(
        "invite",
        "invite NAME to a room (to an invite-only room: ops only)",
        (Field("user"), Field("room")),
        (TextForm(("invite",), (NAME, ROOM_OPT)),),
    ),
    Command(
        "mode",
        "a room's modes, or change them (ops only): +m moderated, +i invite-only, +k KEY, +l N most members,"
        " +t only ops set the topic, +s secret (shown to members only), +H new members read only from their join; - to remove",
        (Field("room"), Field("set", "modes", required=False)),
        (TextForm(("mode",), (ROOM_OPT, Arg("set", "MODES", optional=True, rest=True))),),
    ),
    Command(
        "nick",
        "change your name (guests; a registered name is its account)",
        (Field("user"),),
        (TextForm(("nick", "name"), (NAME,)),),
    ),
    Command(
        "away",
        "say you are away, with TEXT given to whoever writes to you; /away alone: back",
        (Field("text", required=False),),
        (TextForm(("away",), (Arg("text", "TEXT", optional=True, rest=True),)),),
    ),
    Command(
        "whois",
        "about NAME: online, registered, away, rooms, idle time, sessions",
        (Field("user"),),
        (TextForm(("whois",), (NAME,)),),
    ),
    Command(
        "watch",
        "watch names: be told when they come online or leave the chat",
        (
            Field(
                "op", required=False, choices=("add", "remove", "clear", "list"),
                error='op is "add", "remove", "clear" or "list" (the default)',
            ),
            Field("users", required=False),
        ),
        (
            TextForm(("watch",), fixed=(("op", "list"),), summary="the names you watch, and which of them are online"),
            TextForm(
                ("watch add",), (Arg("users", "NAMES", rest=True),), fixed=(("op", "add"),),
                summary="be told when NAMES (commas or spaces between) come online or leave the chat",
            ),
            TextForm(
                ("watch remove", "watch del"), (Arg("users", "NAMES", rest=True),), fixed=(("op", "remove"),),
                summary="stop watching NAMES",
            ),
            TextForm(("watch clear",), fixed=(("op", "clear"),), summary="watch nobody"),
        ),
    ),
    Command(
        "markread",
        "up to when you have read a room or a conversation; with TIME (Unix time), say you have read it up to then",
        (Field("target"), Field("at", "id", required=False)),
        (TextForm(("markread",), (Arg("target", "#ROOM|NAME"), Arg("at", "TIME", optional=True))),),
    ),
    Command(
        "whoami",
        "your name, your rooms and whether you are an admin",
        (),
        (TextForm(("whoami",)),),
    ),
    Command(
        "quit",
        "leave the chat",
        (Field("reason", required=False),),
        (TextForm(("quit", "sair", "logout", "exit"), (REASON,)),),
        before_login=True,
    ),
    Command(
        "help",
        "list the commands, or explain one",
        (Field("command", required=False),),
        (TextForm(("help",), (Arg("command", "COMMAND", optional=True),)),),
        before_login=True,
    ),
    Command(
        "ping",
        "check that the server answers (it replies pong)",
        (Field("token", "id", required=False),),
        (TextForm(("ping",), (Arg("token", "TOKEN", optional=True),)),),
        before_login=True,
    ),
    Command(
        "pong",
        "answer to the server's ping (clients send it themselves)",
        (Field("token", "id"),),
        (TextForm(("pong",), (Arg("token", "TOKEN"),)),),
        before_login=True,
        listed=False,
    ),
    Command(
        "admin",
        "become an admin with the server's admin password (before logging in too, as the admin page does)",
        (Field("password"),),
        (TextForm(("admin", "oper"), (PASSWORD,)),),
        before_login=True,
    ),
    Command(
        "kill",
        "disconnect a user from the server, every session of theirs (admins only)",
        (Field("user"), Field("reason", required=False)),
        (TextForm(("kill",), (NAME, REASON)),),
        admin=True,
    ),
    Command(
        "wallops",
        "a message to every admin connected to this server (admins only; IRC's WALLOPS)",
        (Field("text"),),
        (TextForm(("wallops",), (TEXT,)),),
        admin=True,
    ),
    Command(
        "shutdown",
        "tell everyone, then stop the server (admins only)",
        (
            Field("reason", required=False),
            Field("delay", "int", required=False, minimum=0, maximum=3600, error="delay is a number of seconds from 0 to 3600"),
        ),
        (TextForm(("shutdown", "down"), (REASON,)),),
        admin=True,
    ),
    Command(
        "connections",
        "every connection: who, by which door, from where, since when (admins only; not logged)",
        (),
        (TextForm(("connections",)),),
        admin=True,
    ),
    Command(
        "log",
        "the server's last N log lines (50) (admins only)",
        (Field("lines", "int", required=False, minimum=1, maximum=500, error="lines is a number from 1 to 500"),),
        (TextForm(("log",), (Arg("lines", "N", optional=True, accepts=_is_number),)),),
        admin=True,
    ),
    Command(
        "debug",
        "connections, addresses, rooms and uptime (admins only)",
        (),
        (TextForm(("debug",)),),
        admin=True,
    ),
    Command(
        "register",
        "register the name you are using, with PASSWORD, so nobody else can take it",
        (Field("password"),),
        (TextForm(("register",), (PASSWORD,)),),
    ),
    Command(
        "passwd",
        "change your password",
        (Field("old"), Field("new")),
        (
            TextForm(
                ("passwd", "password"),
                (Arg("old", "OLD"), Arg("new", "NEW")),
                summary='change your password; put a password with spaces in quotes: /passwd "old words" "new words"',
            ),
        ),
    ),
    Command(
        "history",
        "the last N messages (50) of a room you are in, or of your conversation with NAME",
        (
            Field("target"),
            Field("limit", "int", required=False, minimum=1, error="limit is a number of messages, at least 1"),
            Field("before", "id", required=False),
            Field("after", "id", required=False),
            Field("around", "id", required=False),
            Field("end", required=False, choices=("newest", "oldest"), error="end is newest or oldest"),
        ),
        (
            TextForm(
                ("history",),
                (
                    Arg("target", "#ROOM|NAME", optional=True, accepts=_is_not_number),
                    Arg("limit", "N", optional=True, accepts=_is_number),
                ),
            ),
        ),
    ),
    Command(
        "contacts",
        "your contacts, and whether each is online",
        (),
        (TextForm(("contacts",)),),
    ),
    Command(
        "contact_add",
        "add a registered user to your contacts",
        (Field("user"),),
        (TextForm(("contact add",), (NAME,)),),
    ),
    Command(
        "contact_del",
        "remove someone from your contacts",
        (Field("user"),),
        (TextForm(("contact del", "contact remove"), (NAME,)),),
    ),
    Command(
        "seen",
        "when NAME was last online",
        (Field("user"),),
        (TextForm(("seen",), (NAME,)),),
    ),
    Command(
        "account_create",
        "create an account (admins only; for closed registration)",
        (Field("user"), Field("password")),
        (TextForm(("account create",), (NAME, PASSWORD)),),
        admin=True,
    ),
    Command(
        "account_delete",
        "delete an account (admins only)",
        (Field("user"),),
        (TextForm(("account delete",), (NAME,)),),
        admin=True,
    ),
    Command(
        "account_reset",
        "set a new password for an account (admins only)",
        (Field("user"), Field("password")),
        (TextForm(("account reset",), (NAME, PASSWORD)),),
        admin=True,
    ),
    Command(
        "accounts",
        "the accounts, with their last login time and address (admins only)",
        (),
        (TextForm(("accounts",)),),
        admin=True,
    ),
    # A text-mode line that is not a command: the name before login, a
    # message to the current room after.
    Command("line", "", (Field("text"),), (), before_login=True, json=False, listed=False),
)

BY_ACTION: dict[str, Command] = {c.action: c for c in COMMANDS}
JSON_ACTIONS: dict[str, Command] = {
    action: c for c in COMMANDS if c.json for action in (c.action, *c.json_aliases)
}
TEXT_WORDS: dict[str, tuple[Command, TextForm]] = {
    word: (command, form)
    for command in COMMANDS
    for form in command.forms
    for word in form.words
}
