"""
Values of request fields that are more than a string or a number, read the
same from a typed line and from JSON: durations (of bans and mutes), mode
changes (of rooms) and client tags (of messages). Each reader raises ValueError saying what is wrong; the
parser turns that into a ``bad_request``, so no rule checks them again.
"""

from __future__ import annotations

import re
from typing import Any

KEY_MAX = 64
LIMIT_MAX = 100_000
# A ban or a mute lasts at most this long (or for ever, if no duration is given).
DURATION_MAX = 366 * 24 * 3600
HISTORY_CHOICES = ("all", "since_join")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> int:
    """Seconds from ``90``, ``"90"``, ``"10m"``, ``"2h"``, ``"7d"``, ``"1w"``; at least 1 s and at most 366 days."""
    # The page reads typed lines the same way (tchat/web/static/commands.js): keep the two alike.
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds, or like 10m, 2h, 7d")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        unit = _UNITS.get(text[-1].lower())
        number = text[:-1] if unit is not None else text
        if not number or not number.isascii() or not number.isdigit() or len(number) > 9:
            raise ValueError(f"{value!r} is not a duration: give seconds, or like 10m, 2h, 7d")
        seconds = int(number) * (unit or 1)
    else:
        raise ValueError("a duration is a number of seconds, or like 10m, 2h, 7d")
    if not 1 <= seconds <= DURATION_MAX:
        raise ValueError("a duration is from 1 second to 366 days")
    return seconds


# What a mode change may set, and the IRC letter of each.
MODE_FIELDS = ("moderated", "invite_only", "key", "limit", "topic_locked", "history", "secret", "members_only")
_FLAG_LETTERS = {"m": "moderated", "i": "invite_only", "t": "topic_locked", "s": "secret", "n": "members_only"}


def parse_modes(value: Any) -> dict[str, Any]:
    """
    A mode change, from text (``+m -i +k KEY +l 10 -t +H``, IRC's letters;
    letters may be run together as in ``+mi-t``, their arguments following in
    order) or from JSON (``{"moderated": true, "key": "pw", "limit": null}``).
    The result holds only what changes: flags as booleans, ``key`` and
    ``limit`` as a value or None (removed), ``history`` as a choice.
    """
    if isinstance(value, dict):
        return _check_mode_set(value)
    if not isinstance(value, str):
        raise ValueError("modes are like +m -i +k KEY +l 10, or an object")
    changes: dict[str, Any] = {}
    # Words are split on spaces only, as the page splits them too.
    tokens = [t for t in value.split(" ") if t]
    i = 0
    if not tokens:
        raise ValueError("no modes given: like +m -i +k KEY +l 10 +t +H")
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token[0] not in "+-" or len(token) < 2:
            raise ValueError(f"{token!r} is not a mode: modes are like +m -i +k KEY +l 10")
        sign = True
        for letter in token:
            if letter in "+-":
                sign = letter == "+"
            elif letter in _FLAG_LETTERS:
                changes[_FLAG_LETTERS[letter]] = sign
            elif letter == "H":
                changes["history"] = "since_join" if sign else "all"
            elif letter == "k":
                if sign:
                    if i >= len(tokens):
                        raise ValueError("+k needs the key: +k KEY")
                    changes["key"] = tokens[i]
                    i += 1
                else:
                    changes["key"] = None
            elif letter == "l":
                if sign:
                    if i >= len(tokens) or not tokens[i].isascii() or not tokens[i].isdigit():
                        raise ValueError("+l needs the most members, a number: +l 50")
                    changes["limit"] = int(tokens[i])
                    i += 1
                else:
                    changes["limit"] = None
            else:
                raise ValueError(f"unknown mode {letter!r}: tchat has +m +i +k +l +t +s +n +H")
    return _check_mode_set(changes)


def _check_mode_set(d: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in d if k not in MODE_FIELDS]
    if unknown:
        raise ValueError(f"unknown mode {unknown[0]!r}: one of {', '.join(MODE_FIELDS)}")
    if not d:
        raise ValueError(f"no modes given: one of {', '.join(MODE_FIELDS)}")
    out: dict[str, Any] = {}
    for name, value in d.items():
        if name in _FLAG_LETTERS.values():
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
        elif name == "key":
            if value == "":
                value = None
            if value is not None and (not isinstance(value, str) or len(value) > KEY_MAX or not value.isprintable() or " " in value or "," in value):
                raise ValueError(f"a key is one word of at most {KEY_MAX} characters, without commas")
        elif name == "limit":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMIT_MAX):
                raise ValueError(f"limit is the most members, from 1 to {LIMIT_MAX}, or null to remove it")
        elif name == "history" and value not in HISTORY_CHOICES:
            raise ValueError('history is "all" or "since_join"')
        out[name] = value
    return out


# Client tags (IRCv3 message-tags): "+name" (a vendor prefix allowed) to a
# text, at most TAGS_MAX bytes as IRC writes them, as IRCv3 allows a client.
TAGS_MAX = 4094
_TAG_NAME = re.compile(r"\+[A-Za-z0-9][A-Za-z0-9./-]{0,99}")


def parse_tags(value: Any) -> dict[str, str]:
    """
    Client tags: an object of ``"+name": "value"`` (``""`` for a tag without
    a value), such as ``{"+typing": "active"}`` or ``{"+draft/reply": MSGID}``;
    values are text without control characters.
    """
    if not isinstance(value, dict) or not value:
        raise ValueError('client tags are an object like {"+typing": "active"}')
    size = 0
    for name, text in value.items():
        if not isinstance(name, str) or _TAG_NAME.fullmatch(name) is None:
            raise ValueError(f"{name!r} is not a client tag name: + then letters, digits, '.', '/', '-'")
        if not isinstance(text, str) or any(not c.isprintable() for c in text):
            raise ValueError(f"the value of {name} is text without control characters")
        escaped = text.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
        size += len(name) + (1 + len(escaped.encode("utf-8")) if text else 0) + 1
    if size - 1 > TAGS_MAX:
        raise ValueError(f"client tags are at most {TAGS_MAX} bytes")
    return dict(value)
