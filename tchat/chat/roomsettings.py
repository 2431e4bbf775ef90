"""
What a room's operators decide: its owner and ops, voiced users, topic,
modes, bans, mutes and invitations (L{RoomSettings}).

A room's settings are replaced whole, never changed in place: a rule takes
a L{RoomSettings.copy}, changes the copy and hands it to the state seam
(``State.update_room``), which is what lets a node publish the change and
another apply it, and the store keep a kept room's. L{RoomSettings.to_dict}
and L{RoomSettings.from_dict} are the one way in and out, for the bus and
the database alike; ``from_dict`` checks every field, since both are as
untrusted as a socket.

Who a ban or a mute is about (L{Restriction}): a registered user by account
(the key of the account, whatever device or address); a guest by name
*and* by address, so that a guest who renames, or comes back under another
name, from the same address is still refused. An address ban binds guests
only: a registered user behind the same address (a school's, a house's)
answers for themselves.

Timed bans and mutes end by themselves: every check reads the clock
(L{Restriction.active}); an expired one is ignored and left out of lists,
and is dropped at the next change of the room's settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

from tchat.commands.values import HISTORY_CHOICES, KEY_MAX, LIMIT_MAX

# The most bans (and, apart, mutes) one room keeps.
MAX_BANS = 500
TOPIC_MAX = 390


@dataclass
class Restriction:
    """A ban or a mute of one person in one room."""

    key: str
    name: str
    account: bool
    host: str | None = None
    by: str = ""
    at: float = 0.0
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or self.until > now

    def applies(self, key: str, registered: bool, hosts: Iterable[str]) -> bool:
        """Whether this is about the user with ``key`` (coming from ``hosts``)."""
        if self.account:
            return registered and key == self.key
        if registered:
            return False
        return key == self.key or (self.host is not None and self.host in hosts)

    def shown(self, now: float) -> dict[str, Any]:
        """As a client sees it (an address is never shown)."""
        return {"user": self.name, "account": self.account, "by": self.by, "at": self.at, "until": self.until}

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "account": self.account, "host": self.host, "by": self.by, "at": self.at, "until": self.until}

    @classmethod
    def from_dict(cls, d: Any) -> "Restriction":
        if not isinstance(d, dict):
            raise ValueError("a ban or mute must be an object")
        return cls(
            key=_str(d, "key", 64), name=_str(d, "name", 64), account=_bool(d, "account"),
            host=_opt_str(d, "host", 256), by=_str(d, "by", 64), at=_num(d, "at"), until=_opt_num(d, "until"),
        )


@dataclass
class RoomSettings:
    # The owner: an account key (a kept room) or the creating guest's name key.
    owner: str | None = None
    # A kept room outlives restarts and empty periods (made by a registered user).
    kept: bool = False
    ops: set[str] = field(default_factory=set)
    voiced: set[str] = field(default_factory=set)
    topic: str = ""
    topic_by: str | None = None
    topic_at: float | None = None
    moderated: bool = False
    invite_only: bool = False
    key: str | None = None
    limit: int | None = None
    topic_locked: bool = True
    # A secret room (+s) is shown only to its members: rooms, users, whois and topic.
    secret: bool = False
    # Only members send to the room (+n, on by default); off, anyone logged
    # in who is not banned from it may send to it without joining.
    members_only: bool = True
    # Whether new members read what was said before they joined.
    history: str = "all"
    bans: dict[str, Restriction] = field(default_factory=dict)
    mutes: dict[str, Restriction] = field(default_factory=dict)
    # Users (keys) invited and not yet in.
    invited: set[str] = field(default_factory=set)
    # When the room was made (seconds since the epoch); None for a room kept
    # before tchat kept it, until its next join (IRC's 329, LIST's C filter).
    created: float | None = None

    def copy(self) -> "RoomSettings":
        return copy.deepcopy(self)

    # -- who may do what -------------------------------------------------

    def is_op(self, key: str) -> bool:
        return key in self.ops or key == self.owner

    def may_speak(self, key: str, registered: bool, hosts: Iterable[str], now: float) -> bool:
        """Whether a member's message to the room goes out (not muted; in a moderated room, op or voiced)."""
        if self.is_op(key):
            return True
        if self.moderated and key not in self.voiced:
            return False
        return self.restriction(self.mutes, key, registered, hosts, now) is None

    @staticmethod
    def restriction(table: dict[str, Restriction], key: str, registered: bool, hosts: Iterable[str], now: float) -> Restriction | None:
        hosts = tuple(hosts)
        for entry in table.values():
            if entry.active(now) and entry.applies(key, registered, hosts):
                return entry
        return None

    def expire(self, now: float) -> None:
        """Drop bans and mutes that ran out (on a copy about to be stored)."""
        for table in (self.bans, self.mutes):
            for k in [k for k, r in table.items() if not r.active(now)]:
                del table[k]

    def hidden_from(self, room_key: str, user_rooms: Any, admin: bool = False) -> bool:
        """Whether a secret room is hidden from someone in ``user_rooms`` (not a member, not an admin)."""
        return self.secret and not admin and room_key not in user_rooms

    def modes(self, for_op: bool = False) -> dict[str, Any]:
        """The modes as clients see them; the key itself only to ops."""
        return {
            "moderated": self.moderated, "invite_only": self.invite_only,
            "key": (self.key if for_op else True) if self.key else None,
            "limit": self.limit, "topic_locked": self.topic_locked, "history": self.history, "secret": self.secret,
            "members_only": self.members_only,
        }

    def mode_letters(self) -> str:
        """IRC-style: ``+imtk``-like summary, for text mode."""
        letters = "".join(
            letter for letter, on in (("i", self.invite_only), ("m", self.moderated), ("n", self.members_only), ("t", self.topic_locked),
                                      ("s", self.secret), ("k", bool(self.key)), ("l", self.limit is not None),
                                      ("H", self.history == "since_join")) if on
        )
        return "+" + letters if letters else "none"

    # -- in and out --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner, "kept": self.kept, "ops": sorted(self.ops), "voiced": sorted(self.voiced),
            "topic": self.topic, "topic_by": self.topic_by, "topic_at": self.topic_at,
            "moderated": self.moderated, "invite_only": self.invite_only, "key": self.key, "limit": self.limit,
            "topic_locked": self.topic_locked, "history": self.history, "secret": self.secret,
            "members_only": self.members_only,
            "bans": [r.to_dict() for r in self.bans.values()], "mutes": [r.to_dict() for r in self.mutes.values()],
            "invited": sorted(self.invited), "created": self.created,
        }

    @classmethod
    def from_dict(cls, d: Any) -> "RoomSettings":
        """Settings from the bus or the database; ValueError for anything tchat would not have written."""
        if not isinstance(d, dict):
            raise ValueError("room settings must be an object")
        history = d.get("history", "all")
        if history not in HISTORY_CHOICES:
            raise ValueError(f"history must be one of {', '.join(HISTORY_CHOICES)}")
        limit = d.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= LIMIT_MAX):
            raise ValueError("limit must be a whole number from 1")
        bans = _restrictions(d.get("bans", []))
        mutes = _restrictions(d.get("mutes", []))
        return cls(
            owner=_opt_str(d, "owner", 64), kept=_bool(d, "kept"), ops=_keys(d, "ops"), voiced=_keys(d, "voiced"),
            topic=_str(d, "topic", TOPIC_MAX, default=""), topic_by=_opt_str(d, "topic_by", 64), topic_at=_opt_num(d, "topic_at"),
            moderated=_bool(d, "moderated"), invite_only=_bool(d, "invite_only"), key=_opt_str(d, "key", KEY_MAX),
            limit=limit, topic_locked=_bool(d, "topic_locked", True), history=history, secret=_bool(d, "secret"),
            members_only=_bool(d, "members_only", True),
            bans=bans, mutes=mutes, invited=_keys(d, "invited"), created=_opt_num(d, "created"),
        )


def _restrictions(value: Any) -> dict[str, Restriction]:
    if not isinstance(value, list) or len(value) > MAX_BANS:
        raise ValueError(f"bans and mutes are lists of at most {MAX_BANS}")
    entries = [Restriction.from_dict(v) for v in value]
    return {r.key: r for r in entries}


def _str(d: dict[str, Any], name: str, limit: int, default: str | None = None) -> str:
    value = d.get(name, default)
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a string of at most {limit} characters")
    return value


def _opt_str(d: dict[str, Any], name: str, limit: int) -> str | None:
    return None if d.get(name) is None else _str(d, name, limit)


def _bool(d: dict[str, Any], name: str, default: bool = False) -> bool:
    value = d.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _num(d: dict[str, Any], name: str) -> float:
    value = d.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _opt_num(d: dict[str, Any], name: str) -> float | None:
    return None if d.get(name) is None else _num(d, name)


def _keys(d: dict[str, Any], name: str) -> set[str]:
    value = d.get(name, [])
    if not isinstance(value, list) or len(value) > MAX_BANS or not all(isinstance(v, str) and len(v) <= 64 for v in value):
        raise ValueError(f"{name} must be a list of names")
    return set(value)
