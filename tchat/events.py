"""
Events: what the server tells a client.

An L{Event} is built once by the hub and handed, as the same object, to every
session that should see it. Each door asks it for its bytes in the door's
encoding with L{Event.encoded}; the first ask encodes and caches, so a message
fanned out to a thousand members is serialised once per encoding, not once per
member. Events are never mutated after they are built.
"""

from __future__ import annotations

import math
import time
from typing import Any, Protocol


def millisecond(ts: float) -> int:
    """
    The millisecond a Unix time falls in: the ``k`` with ``k / 1000 <= ts <
    (k + 1) / 1000`` exactly as floats compare. IRC's server-time shows it,
    and history pages bounded by a time compare by it (in SQL, ``ts >= k /
    1000``), so a time read back from a ``time`` tag names that message's
    millisecond. (``int(ts * 1000)`` alone is off by one for about half of
    the times that are whole milliseconds: 0.123 * 1000 is 122.99999….)
    """
    ms = math.floor(ts * 1000)
    if (ms + 1) / 1000 <= ts:
        ms += 1
    elif ms / 1000 > ts:
        ms -= 1
    return ms


class Codec(Protocol):
    """Turns events into wire bytes for one encoding (see L{tchat.codec})."""

    name: str

    def encode(self, event: "Event") -> bytes: ...


class Event:
    """
    One server-to-client event: a name and its fields, plus ``ts``.

    ``fields`` keeps insertion order, which is the order fields appear on the
    wire in JSON mode.
    """

    __slots__ = ("name", "fields", "_encoded")

    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        self.name = name
        self.fields = fields
        self._encoded: dict[str, bytes] = {}

    def __getitem__(self, field: str) -> Any:
        return self.fields[field]

    def get(self, field: str, default: Any = None) -> Any:
        return self.fields.get(field, default)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-mode object: ``{"event": name, ...fields}``."""
        return {"event": self.name, **self.fields}

    def encoded(self, codec: Codec) -> bytes:
        """The bytes of this event in ``codec``'s encoding, encoded once."""
        data = self._encoded.get(codec.name)
        if data is None:
            data = self._encoded[codec.name] = codec.encode(self)
        return data

    def __repr__(self) -> str:
        return f"<Event {self.name} {self.fields!r}>"


def make_event(
    name: str,
    ts: float | None = None,
    re: str | int | float | None = None,
    **fields: Any,
) -> Event:
    """
    Build an event. ``re`` (the request id it answers) is included only when
    the request had one; fields whose value is None are left out.
    """
    return event_from(name, fields, ts, re)


def event_from(
    name: str, fields: dict[str, Any], ts: float | None = None, re: str | int | float | None = None,
) -> Event:
    """
    L{make_event} from a dict of fields, as they are (no keyword arguments
    packed again): ``re`` first when given, the fields in their order, None
    left out, ``ts`` last (now, unless given). The rules make every room
    message and its ``ok`` so.
    """
    body: dict[str, Any] = {} if re is None else {"re": re}
    for key, value in fields.items():
        if value is not None:
            body[key] = value
    body["ts"] = time.time() if ts is None else ts
    return Event(name, body)


def error_event(
    code: str, text: str, re: str | int | float | None = None, ts: float | None = None, action: str | None = None,
    **fields: Any,
) -> Event:
    """
    An ``error`` event with a stable ``code`` and a sentence for a person;
    answering a request, its id (``re``) and the ``action`` it answers.
    """
    return make_event("error", ts=ts, re=re, action=action, code=code, text=text, **fields)

