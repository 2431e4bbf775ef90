"""
Reading requests: a line a person typed (L{parse_text}) or a JSON-mode
object (L{parse_json}), checked against the table's fields, each
field's constraints included, into a L{Request}, or a L{BadRequest}.
"""

from __future__ import annotations

import json
import json.scanner
import math
import re
from typing import Any, Callable

from tchat.commands.values import parse_duration, parse_modes, parse_tags
from tchat.commands.table import JSON_ACTIONS, TEXT_WORDS, Arg, BadRequest, Command, Field, Request, TextForm


def _convert(value: str, spec: Field | None, form: TextForm) -> Any:
    converted: Any = value
    if spec is not None and spec.kind in CONVERTERS:
        try:
            converted = CONVERTERS[spec.kind](value)
        except ValueError as e:
            raise BadRequest("bad_request", f"{e}; usage: {form.usage}") from None
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


# Kinds whose value is read (from text and JSON alike) by a function that
# raises ValueError with what is wrong.
CONVERTERS = {"duration": parse_duration, "modes": parse_modes, "tags": parse_tags}


# What each kind of field takes, by type (a bool is no number, so none takes one).
_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "duration": (int, str), "modes": (dict, str), "tags": (dict,), "str": (str,), "int": (int,), "id": (str, int, float),
}


def _kind_ok(value: Any, kind: str) -> bool:
    return type(value) is not bool and isinstance(value, _KIND_TYPES.get(kind, _KIND_TYPES["id"]))


_KIND_WORDS = {
    "str": "a string", "int": "an integer", "id": "a string or a number",
    "duration": "a number of seconds or a string like 10m, 2h, 7d", "modes": "an object of modes",
    "tags": "an object of client tags",
}


# One decoder for every line (json.loads with arguments makes one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite)


def _plan(command: Command) -> tuple[tuple[str, bool, tuple[type, ...], Any, Field | None, Field], ...]:
    """
    How L{parse_json} reads ``command``'s fields, worked out once: per field,
    its name, whether it is required, the types it takes, its converter, and
    the field itself where it has constraints to check (else None).
    """
    return tuple(
        (f.name, f.required, _KIND_TYPES.get(f.kind, _KIND_TYPES["id"]), CONVERTERS.get(f.kind),
         f if (f.choices is not None or f.minimum is not None or f.maximum is not None) else None, f)
        for f in command.fields
    )


_PLANS = {action: (command, _plan(command)) for action, command in JSON_ACTIONS.items()}
# The decoder's own scanner (what its decode calls after skipping whitespace).
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]


def _decode(line: str) -> Any:
    """
    The JSON value of ``line``. A line that is one object with nothing
    around it (what clients send) is scanned at once; anything else goes
    through the decoder's own checks, which also word its errors.
    """
    if line[:1] == "{" and line[-1:] == "}":
        try:
            obj, end = _scan(line, 0)
        except StopIteration:
            pass
        else:
            if end == len(line):
                return obj
    return _DECODER.decode(line)


def parse_json(line: str) -> Request:
    """
    Turn one JSON-mode line into a L{Request}, or raise L{BadRequest}.

    Unknown fields are ignored; ``null`` counts as absent.
    """
    try:
        obj = _decode(line)
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
    if type(obj) is not dict:
        raise BadRequest("bad_request", "each line must be one JSON object, like {\"action\": \"ping\"}")
    rid = obj.get("id")
    if rid is not None and not _kind_ok(rid, "id"):
        raise BadRequest("bad_request", "id must be a string or a number")
    action = obj.get("action")
    if type(action) is not str:
        raise BadRequest("bad_request", 'a request needs "action" (a string); try {"action": "help"}', rid)
    planned = _PLANS.get(action)
    if planned is None:
        raise BadRequest("unknown_command", f"unknown action {action!r}; send {{\"action\": \"help\"}} for the list", rid)
    command, plan = planned
    args: dict[str, Any] = {}
    for name, required, types, convert, constrained, f in plan:
        value = obj.get(name)
        if value is None:
            if required:
                raise BadRequest("bad_request", f"{action} needs {name!r}; usage: {command.json_usage()}", rid)
            continue
        if type(value) is bool or not isinstance(value, types):
            raise BadRequest("bad_request", f"{name!r} must be {_KIND_WORDS[f.kind]}; usage: {command.json_usage()}", rid)
        if convert is not None:
            try:
                value = convert(value)
            except ValueError as e:
                raise BadRequest("bad_request", f"{name!r}: {e}; usage: {command.json_usage()}", rid) from None
        if constrained is not None:
            why = constrained.refuses(value)
            if why is not None:
                raise BadRequest("bad_request", why, rid)
        args[name] = value
    return Request(command.action, args, rid)
