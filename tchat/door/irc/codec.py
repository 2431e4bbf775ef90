"""
The hub's events as IRC lines, for the events that read the same to every
recipient: a message, a join, a part, a quit, a kick, a nick change, a
topic, a mode change, an invitation.

A L{IrcCodec} is one *profile*: with or without the ``time`` tag
(server-time) and the ``msgid`` tag (message-tags). L{Event.encoded}
caches by the codec's name, so a message fanned out to a thousand IRC
clients is made once per profile, as for the other doors' codecs. What
depends on who receives it (numerics name their recipient; the answers to
a session's own requests) is not made here but by the session
(L{tchat.door.irc.session}).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from tchat.events import Event
from tchat.door.irc.wire import encode, encode_text, server_time
from tchat.names import is_room

# The events L{IrcCodec} makes (when they answer no request).
SHARED = frozenset({
    "message", "join", "part", "quit", "kick", "nick", "topic", "mode", "op", "deop", "voice", "devoice",
    "ban", "unban", "mute", "unmute", "invite", "away", "tagmsg",
})

# The shared events a registered session may be handed as its profile's
# bytes (L{IrcCodec.plain}): those it does nothing else with. A join, part,
# kick, quit or nick change also updates the channels it shows, and an away
# is shown only to some; those, and every answer, go through its deliver().
PLAIN = SHARED - {"join", "part", "kick", "quit", "nick", "away"}

# The capabilities that change the bytes of a shared event: a profile is
# which of them a session has (see L{tchat.door.irc.door.IrcDoor.codec}).
PROFILE_CAPS = ("server-time", "message-tags", "account-tag", "extended-join", "away-notify")

# tchat's mode fields and IRC's letters (+H, "new members read only from
# their join", has no IRC letter and is not shown on IRC).
FLAG_LETTERS = {"moderated": "m", "invite_only": "i", "topic_locked": "t", "secret": "s", "members_only": "n"}

ADMIN = "an admin"

# STATUSMSG=@+: a message's "only" as the prefix of its channel, and back.
STATUS_PREFIX = {"op": "@", "voice": "+"}


def hostmask(nick: str, host: str) -> str:
    """How the door names a user to IRC: ``nick!nick@host``, the host being the server's name."""
    return f"{nick}!{nick}@{host}"


def ban_mask(nick: str) -> str:
    """tchat bans by name; on IRC a ban on ``nick`` reads ``nick!*@*``."""
    return f"{nick}!*@*"


def mode_change(changes: dict[str, Any]) -> tuple[str, list[str]]:
    """
    A tchat mode change (``set``: flags, ``key``, ``limit``) as IRC's mode
    string and its parameters: ``("+mk-l", ["secret"])``. A key shown as
    ``True`` (hidden from non-ops) is ``*``, and so is a key's removal
    (``-k *``). ``("", [])`` if nothing in it
    has an IRC letter.
    """
    parts: list[tuple[bool, str]] = []
    params: list[str] = []
    for field, value in changes.items():
        if field in FLAG_LETTERS:
            parts.append((bool(value), FLAG_LETTERS[field]))
        elif field == "key":
            # k takes a parameter both ways (CHANMODES type B): ``-k *``.
            parts.append((value is not None, "k"))
            params.append("*" if value is True or value is None else str(value))
        elif field == "limit":
            parts.append((value is not None, "l"))
            if value is not None:
                params.append(str(value))
    text = ""
    sign: bool | None = None
    for on, letter in parts:
        if on is not sign:
            text += "+" if on else "-"
            sign = on
        text += letter
    return text, params


def quit_reason(reason: str) -> str:
    """tchat's ``quit: bye`` reads ``Quit: bye`` on IRC, as IRC servers write it."""
    if reason == "quit":
        return "Quit"
    if reason.startswith("quit: "):
        return "Quit: " + reason[len("quit: "):]
    return reason


class IrcCodec:
    """One profile's IRC lines for the shared events (see the module's docstring)."""

    def __init__(
        self, server: str, with_time: bool, with_msgid: bool, with_account: bool = False,
        extended_join: bool = False, away_notify: bool = False,
    ) -> None:
        self.server = server
        # The realname of a nick as its IRC client gave it (the door sets it: L{tchat.door.irc.idents}).
        self.realname: Callable[[str], str] = lambda nick: nick
        # Whether a nick is a bot of the door's (user mode B): its messages carry a bot tag.
        self.is_bot: Callable[[str], bool] = lambda nick: False
        self.with_time = with_time
        self.with_msgid = with_msgid
        self.with_account = with_account
        self.extended_join = extended_join
        self.away_notify = away_notify
        self.name = "irc" + "".join(
            "+" + word for word, on in (
                ("time", with_time), ("msgid", with_msgid), ("account", with_account),
                ("extended-join", extended_join), ("away-notify", away_notify),
            ) if on
        )
        self._make: dict[str, Callable[[Event], bytes]] = {
            name: getattr(self, "_" + name) for name in SHARED
        }

    def source(self, nick: str | None) -> str:
        """The line's source: the user's hostmask, or the server for an admin without a chat name."""
        if not nick or nick == ADMIN:
            return self.server
        return hostmask(nick, self.server)

    def tags(self, event: Event, msgid: bool = False) -> dict[str, str] | None:
        tags: dict[str, str] = {}
        if self.with_time:
            tags["time"] = server_time(event.get("ts") or time.time())
        if msgid and self.with_msgid and event.get("msgid"):
            tags["msgid"] = str(event["msgid"])
        if self.with_account and event.get("by_registered") and event.get("by"):
            # account-tag: the account of whoever did it (a kick, a mode, an invite).
            tags["account"] = str(event["by"])
        elif self.with_account and event.get("registered") and "by" not in event.fields:
            # account-tag: the sender's account (a registered tchat name is its account).
            tags["account"] = str(event.get("from") or event.get("user"))
        if msgid and self.with_msgid and event.get("from") and self.is_bot(event["from"]):
            tags["bot"] = ""
        if msgid and self.with_msgid and event.get("tags"):
            # message-tags: the sender's client tags, only to clients that have it.
            tags.update(event["tags"])
        return tags or None

    def plain(self, event: Event) -> bool:
        """Whether a session may be handed ``event`` as these bytes (see L{tchat.chat.model.OutCodec})."""
        return event.name in PLAIN and "re" not in event.fields

    def encode(self, event: Event) -> bytes:
        make = self._make.get(event.name)
        return make(event) if make is not None else b""

    def line(self, event: Event, source: str | None, command: str, *params: str) -> bytes:
        return encode(command, params, self.source(source), self.tags(event))

    # -- the events ------------------------------------------------------

    def message_lines(self, event: Event, sender: str, target: str, text: str, kind: str | None, command: str = "PRIVMSG") -> bytes:
        if event.get("delayed") and not self.with_time:
            # Without server-time the client cannot tell it waited.
            text = time.strftime("[sent %Y-%m-%d %H:%M UTC] ", time.gmtime(event["ts"])) + text
        wrap = ("\x01ACTION ", "\x01") if kind == "action" else ("", "")
        return encode_text(command, target, text, self.source(sender), self.tags(event, msgid=True), wrap)

    def _message(self, e: Event) -> bytes:
        # To a room's ops (or voiced users) only: STATUSMSG's @#room (+#room).
        target = STATUS_PREFIX.get(e.get("only") or "", "") + e["to"]
        return self.message_lines(e, e["from"], target, e["text"], e.get("kind"), "NOTICE" if e.get("notice") else "PRIVMSG")

    def _tagmsg(self, e: Event) -> bytes:
        # Client tags alone: only a client with message-tags can read them.
        if not self.with_msgid:
            return b""
        return encode("TAGMSG", [e["to"]], self.source(e["from"]), self.tags(e, msgid=True))

    def _join(self, e: Event) -> bytes:
        if self.extended_join:
            # extended-join: the account ("*" for a guest) and the realname (the name, for a user of another door).
            account = e["user"] if e.get("registered") else "*"
            joined = self.line(e, e["user"], "JOIN", e["room"], account, self.realname(e["user"]))
        else:
            joined = self.line(e, e["user"], "JOIN", e["room"])
        if self.away_notify and e.get("away"):
            # Someone already away joins: away-notify says so right after the JOIN.
            joined += self.line(e, e["user"], "AWAY", e["away"])
        return joined

    def _away(self, e: Event) -> bytes:
        # away-notify; without it, nothing.
        if not self.away_notify:
            return b""
        if e.get("text"):
            return self.line(e, e["user"], "AWAY", e["text"])
        return self.line(e, e["user"], "AWAY")

    def _part(self, e: Event) -> bytes:
        if e.get("reason"):
            return self.line(e, e["user"], "PART", e["room"], e["reason"])
        return self.line(e, e["user"], "PART", e["room"])

    def _quit(self, e: Event) -> bytes:
        return self.line(e, e["user"], "QUIT", quit_reason(e.get("reason") or "quit"))

    def _kick(self, e: Event) -> bytes:
        return self.line(e, e["by"], "KICK", e["room"], e["user"], e.get("reason") or e["by"])

    def _nick(self, e: Event) -> bytes:
        return self.line(e, e["old"], "NICK", e["new"])

    def _topic(self, e: Event) -> bytes:
        return self.line(e, e.get("by"), "TOPIC", e["room"], e.get("topic") or "")

    def _mode(self, e: Event) -> bytes:
        text, params = mode_change(e.get("set") or {})
        if not text:
            return b""
        return self.line(e, e.get("by"), "MODE", e["room"], text, *params)

    def _rank(self, e: Event, change: str) -> bytes:
        return self.line(e, e.get("by"), "MODE", e["room"], change, e["user"])

    def _op(self, e: Event) -> bytes:
        return self._rank(e, "+o")

    def _deop(self, e: Event) -> bytes:
        return self._rank(e, "-o")

    def _voice(self, e: Event) -> bytes:
        return self._rank(e, "+v")

    def _devoice(self, e: Event) -> bytes:
        return self._rank(e, "-v")

    def _ban(self, e: Event) -> bytes:
        return self.line(e, e.get("by"), "MODE", e["room"], "+b", ban_mask(e["user"]))

    def _unban(self, e: Event) -> bytes:
        return self.line(e, e.get("by"), "MODE", e["room"], "-b", ban_mask(e["user"]))

    def _mute(self, e: Event) -> bytes:
        # IRC has no mute: a notice to the channel says it.
        until = time.strftime(" until %Y-%m-%d %H:%M UTC", time.gmtime(e["until"])) if e.get("until") else ""
        return self.line(e, None, "NOTICE", e["room"], f"{e['by']} muted {e['user']} in {e['room']}{until}")

    def _unmute(self, e: Event) -> bytes:
        return self.line(e, None, "NOTICE", e["room"], f"{e['by']} lifted the mute of {e['user']} in {e['room']}")

    def _invite(self, e: Event) -> bytes:
        return self.line(e, e.get("by"), "INVITE", e["user"], e["room"])


def is_channel(target: str) -> bool:
    return is_room(target)
