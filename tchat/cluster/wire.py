"""
What nodes say to each other on the bus: small typed messages, JSON.

Every message is one JSON object ``{"t": TYPE, "n": NODE, "e": EPOCH, "s":
SEQ, ...}``: its type, the node that sent it, which life of that node (a
new one each start), and that node's running number in this life (a
receiver that sees a number skipped knows it missed something). The types
and their fields are in L{TYPES}; L{decode} checks a message against them
and raises L{BadMessage} for anything else: the bus is as untrusted as a
socket, so a message that is not valid JSON, too big, of an unknown type,
with a field missing or of the wrong type, or carrying an event the
protocol does not have, is logged and dropped by the receiver, never
applied and never passed on. Every string of an event that reaches a
client is cleaned of control characters again on arrival.

The types:

- state: ``attach``/``detach`` (a connection of a user opens or closes),
  ``release`` (the user left the chat), ``registered`` (a name became an
  account, or stopped being one), ``join``/``part`` (room
  membership), ``room`` (a room's settings, whole: ops, topic, modes,
  bans…), ``rename`` (a guest's ``/nick``), ``away``: every node keeps a
  copy of who is where, changed only by these;
- delivery: ``to_conn``, ``to_user``, ``to_room``, ``to_ranks`` (a room's
  ops, or its voiced users and ops), ``to_sharers`` carry
  one event to the receiver's own connections; ``drop``
  asks the node of a connection to close it;
- limits: ``guess`` (a wrong password tried here: every node counts it, so
  that N nodes do not mean N times the guesses);
- nodes: ``hello`` (a heartbeat, and a node starting: send your
  ``snapshot``), ``snapshot`` (every user of the sender with its
  connections and rooms, and the settings of the rooms they are in), ``bye`` (a node stopping).
"""

from __future__ import annotations

import json
from typing import Any

from tchat.events import Event
from tchat.names import clean_text
from tchat.vocabulary import EVENTS

# Most bytes in one message; a snapshot of a big node is the largest.
MAX_MESSAGE = 16 * 1024 * 1024
MAX_EVENT = 256 * 1024


class BadMessage(ValueError):
    """A bus message that is not one tchat sends; dropped."""


_STR = (str,)
_OPT_STR = (str, type(None))
_NUM = (int, float)

# type -> {field: allowed types}
TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "attach": {"user": (dict,), "conn": (dict,)},
    "detach": {"user": _STR, "conn": _STR, "reason": _STR, "left": (bool,)},
    "release": {"user": _STR},
    "registered": {"user": _STR, "registered": (bool,)},
    "join": {"room": _STR, "user": _STR, "since": (int, float, type(None))},
    "part": {"room": _STR, "user": _STR},
    "to_conn": {"conn": _STR, "event": (dict,)},
    "to_user": {"user": _STR, "but": _OPT_STR, "event": (dict,)},
    "to_room": {"room": _STR, "but": _OPT_STR, "event": (dict,)},
    "to_ranks": {"room": _STR, "only": _STR, "but": _OPT_STR, "event": (dict,)},
    "to_sharers": {"user": _STR, "event": (dict,)},
    "drop": {"conn": _STR, "bye": _STR, "reason": _STR},
    "guess": {"throttle": _STR, "secret": _STR, "host": _STR},
    "hello": {"want_snapshot": (bool,)},
    "room": {"room": _STR, "settings": (dict,)},
    "rename": {"user": _STR, "name": _STR},
    "away": {"user": _STR, "text": _OPT_STR},
    "snapshot": {"users": (list,), "rooms": (list,)},
    "bye": {"reason": _STR},
}

USER_FIELDS: dict[str, tuple[type, ...]] = {"key": _STR, "name": _STR, "registered": (bool,)}
CONN_FIELDS: dict[str, tuple[type, ...]] = {
    "id": _STR, "door": _STR, "address": _STR, "host": _STR, "since": _NUM,
}


def encode(kind: str, node: str, epoch: str, seq: int, **fields: Any) -> bytes:
    return json.dumps({"t": kind, "n": node, "e": epoch, "s": seq, **fields}, separators=(",", ":"), ensure_ascii=False).encode()


def _check(what: str, obj: Any, fields: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BadMessage(f"{what} is not an object")
    for name, types in fields.items():
        if name not in obj:
            raise BadMessage(f"{what} has no {name!r}")
        value = obj[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise BadMessage(f"{what}'s {name!r} is a {type(value).__name__}")
    return obj


def decode(data: bytes) -> dict[str, Any]:
    """The message in ``data``, checked; L{BadMessage} if it is not one."""
    if len(data) > MAX_MESSAGE:
        raise BadMessage(f"{len(data)} bytes, over {MAX_MESSAGE}")
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadMessage(f"not JSON: {e}") from None
    _check("the message", message, {"t": _STR, "n": _STR, "e": _STR, "s": (int,)})
    fields = TYPES.get(message["t"])
    if fields is None:
        raise BadMessage(f"unknown type {message['t']!r}")
    _check(message["t"], message, fields)
    if "user" in fields and fields["user"] == (dict,):
        _check("its user", message["user"], USER_FIELDS)
    if "conn" in fields and fields["conn"] == (dict,):
        _check("its connection", message["conn"], CONN_FIELDS)
    if "event" in fields:
        # The message's own size bounds its event's: nothing is encoded again to find out.
        if len(data) > MAX_EVENT:
            raise BadMessage(f"{len(data)} bytes, over {MAX_EVENT} for a message carrying an event")
        event = message["event"]
        if not isinstance(event.get("name"), str) or event["name"] not in EVENTS:
            raise BadMessage(f"event {str(event.get('name'))[:40]!r} is not one of the protocol's")
        if not isinstance(event.get("fields"), dict):
            raise BadMessage("its event has no fields")
    if message["t"] == "snapshot":
        for entry in message["users"]:
            _check("a snapshot's user", entry, {"user": (dict,), "conns": (list,), "rooms": (list,)})
            _check("a snapshot's user", entry["user"], USER_FIELDS)
            for conn in entry["conns"]:
                _check("a snapshot's connection", conn, CONN_FIELDS)
            if not all(isinstance(r, str) for r in entry["rooms"]):
                raise BadMessage("a snapshot's room is not a string")
        for entry in message["rooms"]:
            _check("a snapshot's room", entry, {"room": _STR, "settings": (dict,)})
    return message


def event_fields(event: Event) -> dict[str, Any]:
    return {"name": event.name, "fields": event.fields}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    return value


def event_of(body: dict[str, Any]) -> Event:
    """The event a message carries, its strings cleaned again (nothing raw reaches a client)."""
    return Event(body["name"], _clean(body["fields"]))
