"""
Channel commands: JOIN, PART, NAMES, TOPIC, LIST (with ELIST's filters),
KICK and INVITE (and the list of one's invitations).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from irctokens import Line

from tchat.commands import Request
from tchat.door.irc import numerics as N
from tchat.door.irc.replies import about_someone, TARGETS_MAX, is_error, numeric_for
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import LINE_MAX, strip_formatting
from tchat.events import Event
from tchat.names import name_key


def cmd_join(s: IrcSession, line: Line) -> Items | None:
    if line.params[0] == "0":
        return [part_request(s, channel.name, None) for channel in list(s.channels.values())]
    rooms = line.params[0].split(",")
    keys = line.params[1].split(",") if len(line.params) > 1 else []
    items: Items = []
    for i, room in enumerate(rooms):
        if room:
            items.append(join_request(s, room, keys[i] if i < len(keys) and keys[i] else None))
    return items


def join_request(s: IrcSession, room: str, key: str | None) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "JOIN", channel=room)
            return
        name = e.get("room") or room
        if s.in_channel(name):
            return  # in it already: IRC answers nothing
        s.joined(name)
        own_join(s, name)
        follow: Items = []
        if e.get("topic"):
            s.numeric(N.RPL_TOPIC, name, e["topic"])
            follow.append(topic_time_request(s, name))
        from tchat.door.irc.markread import after_join

        s.follow([*follow, *after_join(s, name), names_request(s, name)])

    return s.request("join", {"room": room, "key": key}, answer)


def own_join(s: IrcSession, room: str) -> None:
    """The JOIN of this session's user; with extended-join, its account (``*``: a guest) and realname."""
    if "extended-join" in s.caps:
        s.line("JOIN", room, s.account or "*", s.realname or s.nick)
    else:
        s.line("JOIN", room)


def topic_time_request(s: IrcSession, room: str) -> Request:
    """333 after the 332 of a JOIN: who set the topic and when (the join's answer does not say)."""

    def answer(e: Event) -> None:
        if not is_error(e) and e.get("topic") and e.get("by"):
            s.numeric(N.RPL_TOPICWHOTIME, e.get("room") or room, e["by"], str(int(e.get("at") or 0)))

    return s.request("topic", {"room": room}, answer)


def cmd_part(s: IrcSession, line: Line) -> Items | None:
    reason = strip_formatting(line.params[1]) if len(line.params) > 1 else None
    return [part_request(s, room, reason) for room in line.params[0].split(",") if room]


def part_request(s: IrcSession, room: str, reason: str | None) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "PART", channel=room)
            return
        name = e.get("room") or room
        s.channels.pop(name_key(name), None)
        if reason:
            s.line("PART", name, reason)
        else:
            s.line("PART", name)

    return s.request("part", {"room": room, "reason": reason}, answer)


def prefixes(s: IrcSession, nick: str, ops: set[str], voiced: set[str]) -> str:
    key = name_key(nick)
    marks = ("@" if key in ops else "") + ("+" if key in voiced else "")
    return marks if "multi-prefix" in s.caps else marks[:1]


def names_request(s: IrcSession, room: str, end: str | None = "") -> Request:
    """
    NAMES of ``room``: 353 lines, then 366 for ``room`` (``end`` ``""``),
    for ``end`` (the last of several: ``#a,#b``), or none (``end`` None).
    """
    end = room if end == "" else end

    def answer(e: Event) -> None:
        if is_error(e):
            if end is not None:
                s.numeric(N.RPL_ENDOFNAMES, end, "End of /NAMES list")
            return
        name = e.get("room") or room
        ops = {name_key(n) for n in e.get("ops") or ()}
        voiced = {name_key(n) for n in e.get("voiced") or ()}
        users = e.get("users") or []
        channel = s.channels.get(name_key(name))
        if channel is not None:
            channel.members = {name_key(u): u for u in users}
        full = "userhost-in-names" in s.caps
        shown = [prefixes(s, u, ops, voiced) + (s.mask(u) if full else u) for u in users]
        # RFC 2812: "@" for a secret channel, "=" for a public one.
        symbol = "@" if e.get("secret") else "="
        head = len(f":{s.server} 353 {s.nick} {symbol} {name} :".encode("utf-8")) + 2
        batch: list[str] = []
        size = head
        for entry in shown:
            length = len(entry.encode("utf-8")) + 1
            if batch and size + length > LINE_MAX:
                s.numeric(N.RPL_NAMREPLY, symbol, name, " ".join(batch))
                batch, size = [], head
            batch.append(entry)
            size += length
        if batch:
            s.numeric(N.RPL_NAMREPLY, symbol, name, " ".join(batch))
        if end is not None:
            s.numeric(N.RPL_ENDOFNAMES, name if end == room else end, "End of /NAMES list")

    return s.request("users", {"room": room}, answer)


def cmd_names(s: IrcSession, line: Line) -> Items | None:
    if not line.params or not line.params[0]:
        return [names_request(s, c.name) for c in s.channels.values()] or None
    rooms = [room for room in line.params[0].split(",") if room][:TARGETS_MAX]
    if len(rooms) <= 1:
        return [names_request(s, room) for room in rooms]
    # Several (TARGMAX NAMES): each one's 353s, then one 366 naming them all.
    items: Items = [names_request(s, room, None) for room in rooms[:-1]]
    return items + [names_request(s, rooms[-1], ",".join(rooms))]


def cmd_topic(s: IrcSession, line: Line) -> Items | None:
    room = line.params[0]
    if len(line.params) == 1:

        def read(e: Event) -> None:
            if is_error(e):
                numeric_for(s, e, "TOPIC", channel=room)
            elif e.get("topic"):
                s.numeric(N.RPL_TOPIC, e["room"], e["topic"])
                if e.get("by"):
                    s.numeric(N.RPL_TOPICWHOTIME, e["room"], e["by"], str(int(e.get("at") or 0)))
            else:
                s.numeric(N.RPL_NOTOPIC, e["room"], "No topic is set")

        return [s.request("topic", {"room": room}, read)]
    topic = strip_formatting(line.params[1])

    def set_(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "TOPIC", channel=room)
            return
        s.line("TOPIC", e.get("room") or room, e.get("topic") or "")

    return [s.request("topic", {"room": room, "topic": topic}, set_)]


Listed = dict[str, Any]


def _glob(mask: str) -> re.Pattern[str]:
    """A LIST mask (``*`` any run, ``?`` one character) as a pattern on folded names."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in name_key(mask)), re.DOTALL)


def _since(field: str, sign: str, minutes: int) -> Callable[[Listed, float], bool]:
    """``C<n``/``T<n``: made (topic set) less than n minutes ago; ``>``: more than n minutes ago."""

    def test(r: Listed, now: float) -> bool:
        at = r.get(field)
        if at is None:
            return False
        ago = now - at
        return ago < minutes * 60 if sign == "<" else ago > minutes * 60

    return test


def _members(sign: str, n: int) -> Callable[[Listed, float], bool]:
    """``>n``: more members than n; ``<n``: fewer."""

    def test(r: Listed, now: float) -> bool:
        members = int(r.get("members", 0))
        return members > n if sign == ">" else members < n

    return test


def list_filter(param: str) -> Callable[[Listed, float], bool]:
    """
    What ``LIST <param>`` keeps (ELIST=CMNTU): channel names and masks
    (``#ch*``, ``*an1``; any of them), ``!mask`` (none of them), ``>n`` and
    ``<n`` (more, fewer members than n), ``C>n``/``C<n`` (made more, less than
    n minutes ago), ``T>n``/``T<n`` (its topic set more, less than n
    minutes ago). All the conditions hold.
    """
    wanted: list[re.Pattern[str]] = []
    unwanted: list[re.Pattern[str]] = []
    tests: list[Callable[[Listed, float], bool]] = []
    for token in param.split(","):
        token = token.strip()
        if not token:
            continue
        counted = re.fullmatch(r"([CT]?)([<>])([0-9]{1,9})", token)
        if counted:
            kind, sign, n = counted.group(1), counted.group(2), int(counted.group(3))
            if kind:
                tests.append(_since("created" if kind == "C" else "topic_at", sign, n))
            else:
                tests.append(_members(sign, n))
        elif token.startswith("!"):
            unwanted.append(_glob(token[1:]))
        else:
            wanted.append(_glob(token))

    def keep(r: Listed, now: float) -> bool:
        key = name_key(r["room"])
        if wanted and not any(p.fullmatch(key) for p in wanted):
            return False
        if any(p.fullmatch(key) for p in unwanted):
            return False
        return all(test(r, now) for test in tests)

    return keep


def cmd_list(s: IrcSession, line: Line) -> Items | None:
    keep = list_filter(line.params[0]) if line.params and line.params[0] else None

    def answer(e: Event) -> None:
        now = s.clock.seconds()
        s.numeric(N.RPL_LISTSTART, "Channel", "Users  Name")
        for r in e.get("rooms") or ():
            if keep is None or keep(r, now):
                s.numeric(N.RPL_LIST, r["room"], str(r.get("members", 0)), r.get("topic") or "")
        s.numeric(N.RPL_LISTEND, "End of /LIST")

    return [s.request("rooms", {}, answer)]


def cmd_kick(s: IrcSession, line: Line) -> Items | None:
    """KICK #c a,b: both out of #c; KICK #c,#d a,b (RFC 2812): a out of #c and b out of #d."""
    rooms = line.params[0].split(",")
    nicks = line.params[1].split(",")[:TARGETS_MAX]
    reason = strip_formatting(line.params[2]) if len(line.params) > 2 and line.params[2] else None
    if len(rooms) > 1 and len(rooms) != len(nicks):
        s.numeric(N.ERR_NEEDMOREPARAMS, "KICK", "Give one channel, or one channel for each nick")
        return None
    pairs = zip(rooms if len(rooms) > 1 else rooms * len(nicks), nicks)
    return [kick_request(s, room, nick, reason) for room, nick in pairs if room and nick]


def kick_request(s: IrcSession, room: str, nick: str, reason: str | None) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            about_someone(s, e, "KICK", room, nick)
            return
        name, who = e.get("room") or room, e.get("user") or nick
        s.line("KICK", name, who, reason or s.nick)
        channel = s.channels.get(name_key(name))
        if channel is not None:
            channel.members.pop(name_key(who), None)

    return s.request("kick", {"room": room, "user": nick, "reason": reason}, answer)


def cmd_invite(s: IrcSession, line: Line) -> Items | None:
    if not line.params:
        return [invitations_request(s)]
    if len(line.params) < 2:
        s.numeric(N.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return None
    nick, room = line.params[0], line.params[1]

    def answer(e: Event) -> None:
        if is_error(e):
            if e.get("code") == "bad_request" and "already" in (e.get("text") or ""):
                s.numeric(N.ERR_USERONCHANNEL, nick, room, "is already on channel")
            else:
                numeric_for(s, e, "INVITE", channel=room, nick=nick)
            return
        s.numeric(N.RPL_INVITING, e.get("user") or nick, e.get("room") or room)

    return [s.request("invite", {"user": nick, "room": room}, answer)]


def invitations_request(s: IrcSession) -> Request:
    """INVITE with no parameters: 336 for each room one is invited to and not yet in, then 337."""

    def answer(e: Event) -> None:
        for r in e.get("rooms") or ():
            if r.get("invited"):
                s.numeric(N.RPL_INVITELIST, r["room"])
        s.numeric(N.RPL_ENDOFINVITELIST, "End of /INVITE list")

    return s.request("rooms", {}, answer)
