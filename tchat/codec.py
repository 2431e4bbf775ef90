"""
The two encodings of the line protocol: JSON lines for programs, text for people.

A codec turns a received line into a L{Request} (``decode``) and an
L{Event} into the bytes of one or more ``\\r\\n``-terminated lines
(``encode``). Codecs hold no per-connection state, so one instance of each
serves every connection, and L{Event.encoded} caches what they produce.

Text-mode lines have fixed shapes (documented in docs/protocol.rst)::

    *** ...            a notice from the server
    !!! ... (code)     an error
    [#room] <bob> hi   a message in a room
    [private] <bob> hi a private message to you
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from tchat.commands import Request, parse_json, parse_text
from tchat.events import Event
from tchat.errors import counted
from tchat.names import clean_text
from tchat.sentences import WORDED, event_text

CRLF = "\r\n"


# One encoder for every event (json.dumps with arguments makes one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _c_encoder() -> Callable[[Any], str] | None:
    """
    The C encoder that ``_ENCODER.encode`` makes anew on every call, made
    once: half the cost of encoding an event. No check for circular
    references (an event holds none; a cycle would end in RecursionError,
    not ValueError), because the check's table would be shared by every
    call. None where json has no C speedups; ``_ENCODER.encode`` then.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    iterencode = make(
        None, _ENCODER.default, json.encoder.encode_basestring, None,
        _ENCODER.key_separator, _ENCODER.item_separator, False, False, True,
    )

    def encode(obj: Any) -> str:
        chunks = iterencode(obj, 0)
        return chunks[0] if len(chunks) == 1 else "".join(chunks)

    return encode


dumps: Callable[[Any], str] = _c_encoder() or _ENCODER.encode

_orjson_dumps: Callable[[Any], bytes] | None
try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # orjson is installed with tchat; without it, json's own C encoder (the same bytes)
    _orjson_dumps = None


def _json_line_stdlib(obj: Any) -> bytes:
    return (dumps(obj) + CRLF).encode("utf-8")


def _json_line_orjson(obj: Any) -> bytes:
    """
    ``obj`` as one JSON line: orjson's bytes (a third of json's time, with
    no str to encode after), or json's where orjson refuses what json takes
    (an integer past 64 bits, a key that is not a string). Both write the
    same text for everything an event holds: UTF-8 unescaped, no spaces,
    the same shortest form of a float.
    """
    try:
        return _orjson_dumps(obj) + b"\r\n"  # type: ignore[misc]
    except TypeError:
        return _json_line_stdlib(obj)


json_line: Callable[[Any], bytes] = _json_line_stdlib if _orjson_dumps is None else _json_line_orjson


class JSONCodec:
    """One JSON object per line; ``\\r`` and ``\\n`` inside strings are escaped."""

    name = "json"
    # A session in JSON mode may be handed any event as these bytes.
    plain = None

    def decode(self, line: str) -> Request | None:
        if not line.strip():
            return None
        return parse_json(line)

    def encode(self, event: Event) -> bytes:
        return json_line(_with_sentence(event) if event.name in WORDED else event.as_dict())


def _with_sentence(event: Event) -> dict[str, Any]:
    """An event as JSON, with the words of its sentence (L{tchat.sentences}) as ``text``, before ``ts``, when the rules gave none."""
    fields = event.fields
    if "text" not in fields:
        text = event_text(event)
        if text is not None:
            shown = {"event": event.name, **fields}
            ts = shown.pop("ts", None)
            shown["text"] = text
            if ts is not None:
                shown["ts"] = ts
            return shown
    return {"event": event.name, **fields}


def _join(names: list[str]) -> str:
    return ", ".join(names) if names else "nobody"


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def sender_shown(e: Event | dict[str, Any]) -> str:
    """The sender of a message as text mode shows it: ``~name`` for a guest, ``name`` for an account."""
    return e["from"] if e.get("registered") else "~" + e["from"]


def _message(e: Event) -> list[str]:
    where = e["to"] if e["to"].startswith("#") else "private"
    delayed = f"(sent {_clock(e['ts'])}) " if e.get("delayed") else ""
    sender = sender_shown(e)
    # A message to a room's ops (or voiced users) only says so.
    only = ONLY_SHOWN.get(e.get("only") or "", "")
    if e.get("kind") == "action":
        return [f"[{where}] * {sender} {delayed}{e['text']}{only}"]
    if e.get("notice"):
        return [f"[{where}] -{sender}- {delayed}{e['text']}{only}"]
    return [f"[{where}] <{sender}> {delayed}{e['text']}{only}"]


ONLY_SHOWN = {"op": " (to ops)", "voice": " (to voiced users and ops)"}


def _welcome(e: Event) -> list[str]:
    lines = [f"*** {event_text(e) or 'Welcome to ' + e['server']}"]
    motd = e.get("motd")
    if motd:
        lines += [f"*** {line}" for line in motd.splitlines()]
    return lines


def _logged_in(e: Event) -> list[str]:
    lines = [
        f"*** You are {e['user']}. Online: {_join(e['users'])}",
        f"*** You are in {_join(e['rooms'])}. Plain lines go to {e['rooms'][-1]}; /help lists the commands."
        if e["rooms"]
        else "*** You are in no room: /join #room to go in one (/rooms lists them); /help lists the commands.",
    ]
    unread = {room: n for room, n in (e.get("unread") or {}).items() if n}
    if unread:
        counts = ", ".join(f"{n} in {room}" for room, n in unread.items())
        lines.append(f"*** Since you were last here: {counts} (/history #room to read them)")
    return lines


def _when(ts: float | None) -> str:
    return _clock(ts) if ts else "never"


def _contacts(e: Event) -> list[str]:
    if not e["contacts"]:
        return ["*** You have no contacts; /contact add NAME"]
    shown = [
        f"{c['user']} (online)" if c["online"] else f"{c['user']} (last seen {_when(c.get('last_seen'))})"
        for c in e["contacts"]
    ]
    return [f"*** Contacts: {', '.join(shown)}"]


def _seen(e: Event) -> list[str]:
    if e.get("online"):
        return [f"*** {e['user']} is online now"]
    line = f"*** {e['user']} was last seen {_when(e.get('last_seen'))}"
    if e.get("last_login"):
        line += f"; last login {_clock(e['last_login'])} from {e.get('last_address') or '?'}"
    return [line]


def _accounts(e: Event) -> list[str]:
    lines = [f"*** {len(e['accounts'])} accounts:"]
    for a in e["accounts"]:
        state = "online" if a.get("online") else f"last seen {_when(a.get('last_seen'))}"
        lines.append(
            f"***   {a['user']}: created {_clock(a['created'])}, last login {_when(a.get('last_login'))}"
            f" from {a.get('last_address') or '-'}, {state}"
        )
    return lines


def _users(e: Event) -> list[str]:
    where = f"In {e['room']}" if e.get("room") else "Online"
    ops, voiced = set(e.get("ops") or ()), set(e.get("voiced") or ())
    # IRC's marks: @ an operator, + voiced.
    names = [("@" if n in ops else "+" if n in voiced else "") + n for n in e["users"]]
    return [f"*** {where}: {_join(names)}"]


def _rooms(e: Event) -> list[str]:
    rooms = [f"{r['room']} ({r['members']})" + (f" {r['topic']}" if r.get("topic") else "") for r in e["rooms"]]
    return [f"*** Rooms: {_join(rooms)}"]


def _until(e: Event) -> str:
    return f" until {_clock(e['until'])}" if e.get("until") else ""


def _by_reason(e: Event) -> str:
    return f" by {e['by']}" + (f" ({e['reason']})" if e.get("reason") else "")


def _mode_event(e: Event) -> list[str]:
    words = []
    for name, value in (e.get("set") or {}).items():
        if isinstance(value, bool):
            words.append(f"{name.replace('_', ' ')} {'on' if value else 'off'}")
        elif value is None:
            words.append(f"no {name}")
        else:
            words.append(f"{name} {value if name != 'key' else 'set'}")
    return [f"*** {e['by']} set {e['room']}: {', '.join(words)}"]


def _said(e: Event) -> list[str]:
    """The event's sentence (L{tchat.sentences}) as one line."""
    text = event_text(e)
    return [f"*** {text}"] if text else []


def _bans(e: Event) -> list[str]:
    lines = [f"*** {e['room']}: {counted(len(e['bans']), 'ban')}, {counted(len(e['mutes']), 'mute')}"]
    for what, entries in (("banned", e["bans"]), ("muted", e["mutes"])):
        lines += [
            f"***   {r['user']} {what} by {r['by']} at {_clock(r['at'])}" + (f" until {_clock(r['until'])}" if r.get("until") else "")
            for r in entries
        ]
    return lines


def _whois(e: Event) -> list[str]:
    lines = _said(e)
    if not e.get("online"):
        return lines
    idle = f", idle {e['idle']:.0f}s" if e.get("idle") is not None else ""
    lines.append(f"***   {counted(e['sessions'], 'session')}{idle}, online since {_clock(e['since'])}" if e.get("since") else f"***   {counted(e['sessions'], 'session')}{idle}")
    return lines


def _whoami(e: Event) -> list[str]:
    admin = " (admin)" if e.get("admin") else ""
    current = f"; current room {e['current']}" if e.get("current") else ""
    rooms = f"in {', '.join(e['rooms'])}" if e["rooms"] else "in no room (/join #room)"
    lines = [f"*** You are {e['user']}{admin}, {rooms}{current}"]
    sessions = e.get("sessions") or []
    if len(sessions) > 1:
        lines += [
            f"***   session via {s['door']} from {s['address']} since {_clock(s['since'])}" + (" (this one)" if s.get("this") else "")
            for s in sessions
        ]
    return lines


def _join_event(e: Event) -> list[str]:
    return [f"*** {e['user']} joined {e['room']}"]


def _part_event(e: Event) -> list[str]:
    reason = f" ({e['reason']})" if e.get("reason") else ""
    return [f"*** {e['user']} left {e['room']}{reason}"]


def _quit_event(e: Event) -> list[str]:
    # One line for all the rooms shared with the one who left.
    reason = f" ({e['reason']})" if e.get("reason") else ""
    return [f"*** {e['user']} left {', '.join(e['rooms'])}{reason}"]


def _help(e: Event) -> list[str]:
    lines = []
    for entry in e["commands"]:
        aliases = f" (also {', '.join(entry['aliases'])})" if entry["aliases"] else ""
        lines.append(f"*** {entry['usage']}{aliases}: {entry['text']}")
    return lines + _said(e)


def _watching(e: Event) -> list[str]:
    lines = [f"*** {bad} is not a name (not watched)" for bad in e.get("bad") or ()]
    if e.get("online") or e.get("offline"):
        online, offline = e.get("online") or [], e.get("offline") or []
        lines.append(f"*** Online: {_join(online)}; not online: {_join(offline)}")
    if not e["users"]:
        lines.append("*** You watch nobody; /watch add NAMES")
    else:
        lines.append(f"*** You watch {len(e['users'])}: {', '.join(e['users'])}")
    return lines


def _debug(e: Event) -> list[str]:
    lines = [
        f"*** uptime {e['uptime']:.0f}s, {len(e['connections'])} connections, "
        f"{e['users_online']} logged in, {len(e['rooms'])} rooms"
    ]
    for c in e["connections"]:
        since = f"{e['ts'] - c['since']:.0f}s"
        lines.append(
            f"***   {c.get('user') or '(not logged in)'} from {c['address']}"
            f" via {c['door']} for {since} in {_join(c['rooms'])}"
        )
    for r in e["rooms"]:
        lines.append(f"***   {r['room']}: {_join(r['users'])}")
    return lines


def _connections(e: Event) -> list[str]:
    lines = [f"*** {len(e['connections'])} connections, {e['users_online']} logged in"]
    for c in e["connections"]:
        lines.append(
            f"***   {c.get('user') or '(not logged in)'} from {c['address']} via {c['door']}"
            f" for {e['ts'] - c['since']:.0f}s{' (admin)' if c.get('admin') else ''}"
        )
    return lines


def _log(e: Event) -> list[str]:
    return [f"*** {_clock(line['ts'])} [{line['level']}] {line['text']}" for line in e["lines"]] or ["*** (nothing logged yet)"]


def _history(e: Event) -> list[str]:
    lines = [f"*** History of {e['target']} ({counted(len(e['messages']), 'message')}):"]
    for m in e["messages"]:
        lines += [f"{_clock(m['ts'])} " + line for line in _message(Event("message", m))]
    if e.get("more"):
        lines.append("*** (older messages exist)")
    return lines


_RENDER: dict[str, Callable[[Event], list[str]]] = {
    "welcome": _welcome,
    "logged_in": _logged_in,
    "contacts": _contacts,
    "seen": _seen,
    "accounts": _accounts,
    "message": _message,
    # Client tags alone (typing, reactions from IRC clients): nothing to show in text.
    "tagmsg": lambda e: [],
    "join": _join_event,
    "part": _part_event,
    "quit": _quit_event,
    "users": _users,
    "rooms": _rooms,
    "whoami": _whoami,
    "ok": _said,
    "error": lambda e: [f"!!! {e['text']} ({e['code']})"],
    "notice": lambda e: [f"*** {e['text']}"],
    "shutdown": lambda e: [f"*** Server going down: {e['text']}"],
    "bye": lambda e: [f"*** Bye: {e['text']}"],
    "ping": lambda e: [f"PING {e['token']}"],
    "pong": lambda e: [f"*** pong{' ' + str(e['token']) if e.get('token') is not None else ''}"],
    "help": _help,
    # The answer to reading a topic or modes names its action; the announcement of a change does not.
    "topic": lambda e: _said(e) if e.get("action") else [f"*** {e['by']} set the topic of {e['room']}: {e['topic'] or '(none)'}"],
    "op": lambda e: [f"*** {e['by']} made {e['user']} an operator of {e['room']}"],
    "deop": lambda e: [f"*** {e['by']} took {e['user']}'s operator rights in {e['room']}"],
    "voice": lambda e: [f"*** {e['by']} gave {e['user']} a voice in {e['room']}"],
    "devoice": lambda e: [f"*** {e['by']} took {e['user']}'s voice in {e['room']}"],
    "kick": lambda e: [f"*** {e['user']} was put out of {e['room']}{_by_reason(e)}"],
    "ban": lambda e: [f"*** {e['user']} was banned from {e['room']} by {e['by']}{_until(e)}"],
    "unban": lambda e: [f"*** {e['by']} lifted {e['user']}'s ban from {e['room']}"],
    "mute": lambda e: [f"*** {e['user']} was muted in {e['room']} by {e['by']}{_until(e)}"],
    "unmute": lambda e: [f"*** {e['by']} let {e['user']} speak in {e['room']} again"],
    "invite": lambda e: [f"*** {e['by']} invites you to {e['room']}: /join {e['room']}"],
    "mode": lambda e: _said(e) if e.get("action") else _mode_event(e),
    "bans": _bans,
    "nick": lambda e: [f"*** {e['old']} is now {e['new']}"],
    # For IRC's away-notify: text mode shows nothing (/whois tells).
    "away": lambda e: [],
    "whois": _whois,
    "watching": _watching,
    "read_marker": lambda e: [f"*** {e['target']} read up to {_clock(e['at']) if e.get('at') is not None else '(never said)'}"],
    "wallops": lambda e: [f"*** wallops from {e['from']}: {e['text']}"],
    "online": lambda e: [f"*** {e['user']} is online (you watch them)"],
    "offline": lambda e: [f"*** {e['user']} left the chat (you watch them)"],
    "debug": _debug,
    "history": _history,
    "connections": _connections,
    "log": _log,
}


def _fallback(e: Event) -> list[str]:
    fields = " ".join(f"{k}={v}" for k, v in e.fields.items() if k != "ts")
    return [f"*** {e.name} {fields}"]


class TextCodec:
    """Lines for a person on ``nc`` or ``telnet``; commands start with ``/``."""

    name = "text"
    plain = None

    def decode(self, line: str) -> Request | None:
        return parse_text(line)

    def encode(self, event: Event) -> bytes:
        return "".join(line + CRLF for line in render_text(event)).encode("utf-8")


JSON = JSONCodec()
TEXT = TextCodec()


def codec_for_first_line(line: str) -> JSONCodec | TextCodec:
    """The first line chooses the encoding: JSON if it starts with ``{``."""
    return JSON if line.lstrip().startswith("{") else TEXT


def render_text(event: Event) -> list[str]:
    """
    The text-mode lines of an event, without line ends. Each line is cleaned
    of control characters once more, so that no field (an error quoting what
    was typed, say) can carry an escape sequence to a terminal.
    """
    return [clean_text(line) for line in _RENDER.get(event.name, _fallback)(event)]
