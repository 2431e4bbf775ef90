"""
The one command table.

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

import json
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

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
    One field of a request. ``kind`` is "str", "int" or "id". A field may
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
            kind = {"str": "string", "int": "integer", "id": "string or number"}[f.kind]
            parts.append(f'"{f.name}": {kind}' + ("" if f.required else " (optional)"))
        return "{" + ", ".join(parts) + "}"


NAME = Arg("user", "NAME")
TEXT = Arg("text", "TEXT", rest=True)
REASON = Arg("reason", "REASON", optional=True, rest=True)
# The rest of the line, so that a passphrase may hold spaces.
PASSWORD = Arg("password", "PASSWORD", rest=True)

COMMANDS: tuple[Command, ...] = (
    Command(
        "login",
        "log in as NAME (with PASSWORD for a registered name)",
        (Field("user"), Field("password", required=False)),
        (TextForm(("login",), (NAME, Arg("password", "PASSWORD", optional=True, rest=True))),),
        before_login=True,
    ),
    Command(
        "msg",
        "send a message to a room or, privately, to a user",
        (
            Field("to"),
            Field("text"),
            Field("kind", required=False, choices=("public", "private", "action"), error='kind must be "action" (for /me) or left out'),
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
        ),
    ),
    Command(
        "join",
        "join a room (it is made if it does not exist) and make it current",
        (Field("room"),),
        (TextForm(("join", "j"), (Arg("room", "#ROOM"),)),),
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
        (TextForm(("kill", "kick"), (NAME, REASON)),),
        admin=True,
        # The admin's disconnect was called kick; a room's kick will be another command.
        json_aliases=("kick",),
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
            Field("before", required=False),
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


def _convert(value: str, spec: Field | None, form: TextForm) -> Any:
    converted: Any = value
    if spec is not None and spec.kind == "int":
        try:
            converted = int(value)
        except ValueError:
            raise BadRequest("bad_request", f"{value!r} is not a number; usage: {form.usage}")
    why = spec.refuses(converted) if spec is not None else None
    if why is not None:
        raise BadRequest("bad_request", why)
    return converted


def parse_text(line: str) -> Request | None:
    """
    Turn one text-mode line into a L{Request}; None for a blank line.

    ``/word ...`` is a command (matched on the whole first word, any case);
    ``//...`` sends a line that starts with ``/``; anything else is a
    ``line`` request (the name before login, a message after).
    """
    if not line.strip():
        return None
    if not line.startswith("/") or line.startswith("//"):
        return Request("line", {"text": line[1:] if line.startswith("//") else line})
    head, _, rest = line[1:].partition(" ")
    word = head.strip().lower()
    second, _, after_second = rest.lstrip(" ").partition(" ")
    if f"{word} {second.lower()}" in TEXT_WORDS:
        # Two-word commands: /contact add NAME
        word, rest = f"{word} {second.lower()}", after_second
    try:
        command, form = TEXT_WORDS[word]
    except KeyError:
        # "/contact" alone, or "/account frob": the first word of two-word
        # commands: say how they go.
        forms = [f for w, (_, f) in TEXT_WORDS.items() if w.startswith(word + " ") and w == f.words[0]]
        if forms:
            raise BadRequest("bad_request", "usage: " + ", ".join(f.usage for f in forms)) from None
        raise BadRequest(
            "unknown_command", f"unknown command /{head}; /help lists the commands"
        ) from None
    args: dict[str, Any] = dict(form.fixed)
    specs = {f.name: f for f in command.fields}
    kinds = {f.name: f.kind for f in command.fields}
    skipped: tuple[Arg, str] | None = None
    for arg in form.args:
        rest = rest.lstrip(" ")
        if arg.rest:
            value, rest = rest.rstrip(), ""
        else:
            value, remaining = _word(rest, form)
            if value and arg.optional and arg.accepts is not None and not arg.accepts(value):
                skipped = (arg, value)
                continue
            rest = remaining
        if not value:
            if arg.optional:
                continue
            raise BadRequest("bad_request", f"missing {arg.meta}; usage: {form.usage}")
        args[arg.field] = _convert(value, specs.get(arg.field), form)
    if rest.strip():
        if skipped is not None and rest.strip().startswith(skipped[1]):
            arg, value = skipped
            what = "a number" if kinds.get(arg.field) == "int" else f"a {arg.meta}"
            raise BadRequest("bad_request", f"{arg.meta} must be {what}, not {value!r}; usage: {form.usage}")
        raise BadRequest("bad_request", f"too many arguments; usage: {form.usage}")
    return Request(command.action, args)


def _word(text: str, form: TextForm) -> tuple[str, str]:
    """
    The next word of ``text`` and what follows it. A word in double quotes
    may hold spaces (``/passwd "old pass phrase" "new pass phrase"``);
    inside quotes, ``\\"`` is a quote and ``\\\\`` a backslash.
    """
    if not text.startswith('"'):
        value, _, remaining = text.partition(" ")
        return value, remaining
    chars: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            chars.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            if i + 1 < len(text) and text[i + 1] != " ":
                break
            return "".join(chars), text[i + 1 :]
        chars.append(ch)
        i += 1
    raise BadRequest("bad_request", f"a quote is not closed; usage: {form.usage}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    # 1e999 parses as infinity, which no JSON can carry back (the reply's
    # "re" would be Infinity).
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


# A \uD800-\uDFFF escape: the only way a JSON line that is valid UTF-8 can
# hold a lone surrogate, which no UTF-8 writer can then send on.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _kind_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int)
    return isinstance(value, (str, int, float))


_KIND_WORDS = {"str": "a string", "int": "an integer", "id": "a string or a number"}


def parse_json(line: str) -> Request:
    """
    Turn one JSON-mode line into a L{Request}, or raise L{BadRequest}.

    Unknown fields are ignored; ``null`` counts as absent.
    """
    try:
        obj = json.loads(line, parse_constant=_reject_constant, parse_float=_finite)
    except _NotFinite:
        raise BadRequest("bad_request", "numbers must be finite: JSON has no infinity; send one JSON object per line") from None
    except (ValueError, RecursionError) as e:
        raise BadRequest("bad_request", f"not valid JSON ({e.__class__.__name__}); send one JSON object per line") from None
    if _SURROGATE_ESCAPE.search(line) is not None and _has_lone_surrogate(obj):
        # Valid JSON, but text no one can be sent: refused here, before it
        # can reach a name, a room, a log line or another user.
        rid = obj.get("id") if isinstance(obj, dict) else None
        raise BadRequest(
            "bad_encoding",
            "that line holds a lone surrogate escape (\\ud800-\\udfff without its pair), which is not text; it was ignored",
            rid if _kind_ok(rid, "id") and not _has_lone_surrogate(rid) else None,
        )
    if not isinstance(obj, dict):
        raise BadRequest("bad_request", "each line must be one JSON object, like {\"action\": \"ping\"}")
    rid = obj.get("id")
    if rid is not None and not _kind_ok(rid, "id"):
        raise BadRequest("bad_request", "id must be a string or a number")
    action = obj.get("action")
    if not isinstance(action, str):
        raise BadRequest("bad_request", 'a request needs "action" (a string); try {"action": "help"}', rid)
    command = JSON_ACTIONS.get(action)
    if command is None:
        raise BadRequest("unknown_command", f"unknown action {action!r}; send {{\"action\": \"help\"}} for the list", rid)
    args: dict[str, Any] = {}
    for f in command.fields:
        value = obj.get(f.name)
        if value is None:
            if f.required:
                raise BadRequest("bad_request", f"{action} needs {f.name!r}; usage: {command.json_usage()}", rid)
            continue
        if not _kind_ok(value, f.kind):
            raise BadRequest("bad_request", f"{f.name!r} must be {_KIND_WORDS[f.kind]}; usage: {command.json_usage()}", rid)
        why = f.refuses(value)
        if why is not None:
            raise BadRequest("bad_request", why, rid)
        args[f.name] = value
    return Request(command.action, args, rid)


def help_entries(word: str | None = None) -> list[dict[str, Any]]:
    """
    The help for every listed command form, or for the one ``word`` names
    (with or without its slash, an alias or a JSON action). Empty if unknown.
    """
    if word is not None:
        word = word.lstrip("/").lower()
    entries = []
    for command in COMMANDS:
        if not command.listed:
            continue
        for form in command.forms:
            if word is not None and word not in form.words and word != command.action:
                continue
            entries.append(
                {
                    "command": "/" + form.words[0],
                    "usage": form.usage,
                    "aliases": ["/" + w for w in form.words[1:]],
                    "action": command.action,
                    "json": command.json_usage(),
                    "text": form.summary or command.summary,
                    "admin": command.admin,
                }
            )
    return entries


def rst_table(commands: Iterable[Command] = COMMANDS) -> str:
    """The command reference of docs/protocol.rst, as a reStructuredText list table."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 25 20 35 20",
        "",
        "   * - text mode",
        "     - aliases",
        "     - JSON mode",
        "     - what it does",
    ]
    for command in commands:
        if not command.listed:
            continue
        for form in command.forms:
            aliases = ", ".join(f"``/{w}``" for w in form.words[1:]) or "-"
            what = form.summary or command.summary
            if command.admin and "admins" not in what:
                what += " (admins only)"
            lines += [
                f"   * - ``{form.usage}``",
                f"     - {aliases}",
                f"     - ``{command.json_usage()}``",
                f"     - {what}",
            ]
    return "\n".join(lines) + "\n"


BEGIN_MARK = ".. commands-table-begin (made by: python -m tchat.commands docs/protocol.rst)\n"
END_MARK = ".. commands-table-end\n"


def main(argv: list[str] | None = None, out: Callable[[str], Any] = sys.stdout.write) -> None:
    """Print the table, or with a path, rewrite the table between its marks in that file."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        out(rst_table())
        return
    with open(args[0], encoding="utf-8") as f:
        page = f.read()
    head, _, rest = page.partition(BEGIN_MARK)
    _, _, tail = rest.partition(END_MARK)
    with open(args[0], "w", encoding="utf-8") as f:
        f.write(head + BEGIN_MARK + "\n" + rst_table() + "\n" + END_MARK + tail)


def protocol_table() -> dict[str, Any]:
    """
    The whole table as plain JSON data, for a client that reads typed lines
    itself: the web door serves it as ``/protocol.json``, and the page
    parses a line with it exactly as L{parse_text} does. For each command:
    its action, summary and flags (``admin``, ``before_login``, ``json``,
    ``listed``), its JSON ``fields`` (name, kind, required), and its text
    ``forms``: ``words`` (the first is the name, the others aliases; two
    words for ``/contact add``), ``usage``, the form's own ``summary`` (empty
    when the command's applies), ``fixed`` fields, and ``args`` in order
    (``field``, ``meta``, ``optional``, ``rest``, and ``accepts``: None, or
    ``"room"`` (a word starting with ``#``), ``"number"`` (``str.isdigit``),
    ``"not_number"``; another test is named after its function).

    It reads only the attributes it knows, each with a default, so rows may
    grow new ones without breaking it (or showing up in it).
    """
    known_tests: dict[Callable[[str], bool], str] = {
        _is_room: "room",
        _is_number: "number",
        _is_not_number: "not_number",
    }

    def accepts(arg: Any) -> str | None:
        test = getattr(arg, "accepts", None)
        if test is None:
            return None
        return known_tests.get(test) or str(getattr(test, "__name__", "unknown")).lstrip("_")

    def text_form(command: Any, form: Any) -> dict[str, Any]:
        args = tuple(getattr(form, "args", ()))
        return {
            "words": list(form.words),
            "usage": str(form.usage),
            "summary": str(getattr(form, "summary", "") or ""),
            "fixed": dict(getattr(form, "fixed", ())),
            "args": [
                {
                    "field": a.field,
                    "meta": a.meta,
                    "optional": bool(getattr(a, "optional", False)),
                    "rest": bool(getattr(a, "rest", False)),
                    "accepts": accepts(a),
                }
                for a in args
            ],
        }

    return {
        "commands": [
            {
                "action": command.action,
                "summary": str(getattr(command, "summary", "") or ""),
                "admin": bool(getattr(command, "admin", False)),
                "before_login": bool(getattr(command, "before_login", False)),
                "json": bool(getattr(command, "json", True)),
                "listed": bool(getattr(command, "listed", True)),
                "fields": [
                    {
                        "name": f.name,
                        "kind": str(getattr(f, "kind", "str")),
                        "required": bool(getattr(f, "required", True)),
                    }
                    for f in getattr(command, "fields", ())
                ],
                "forms": [text_form(command, form) for form in getattr(command, "forms", ())],
            }
            for command in COMMANDS
        ]
    }


if __name__ == "__main__":
    main()
