"""
MODE: user mode i, and the channel modes tchat's rooms have (o, v, b, i,
k, l, m, t; n always on).
"""

from __future__ import annotations

import re
from typing import Any

from irctokens import Line

from tchat.commands import Request
from tchat.door.irc import numerics as N
from tchat.door.irc.codec import FLAG_LETTERS, ban_mask, mode_change
from tchat.door.irc.replies import about_someone, is_error, numeric_for
from tchat.door.irc.session import IrcSession, Items
from tchat.door.session import LocalStep
from tchat.events import Event
from tchat.names import name_key

# IRC's flag letters and the mode fields they set (i, m, n, s, t).
FLAG_FIELDS = {letter: field for field, letter in FLAG_LETTERS.items()}


def cmd_mode(s: IrcSession, line: Line) -> Items | None:
    target = line.params[0]
    if not target.startswith("#"):
        return user_mode(s, line)
    if len(line.params) == 1:

        def show(e: Event) -> None:
            if is_error(e):
                numeric_for(s, e, "MODE", channel=target)
                return
            modes = dict(e.get("modes") or {})
            text, params = mode_change({k: v for k, v in modes.items() if v not in (None, False)})
            s.numeric(N.RPL_CHANNELMODEIS, e["room"], text or "+", *params)
            if e.get("created") is not None:
                s.numeric(N.RPL_CREATIONTIME, e["room"], str(int(e["created"])))

        return [s.request("mode", {"room": target}, show)]
    return channel_mode(s, target, line.params[1], line.params[2:])


def user_mode(s: IrcSession, line: Line) -> Items | None:
    target = line.params[0]
    if name_key(target) != name_key(s.nick):
        s.numeric(N.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return None
    if len(line.params) == 1:
        s.numeric(N.RPL_UMODEIS, "+" + ("B" if s.bot else "") + ("i" if s.invisible else "") + ("o" if s.oper else ""))
        return None
    sign, changed = True, ""
    for letter in line.params[1]:
        if letter in "+-":
            sign = letter == "+"
        elif letter == "B":
            if s.bot != sign:
                s.bot = sign
                changed += ("+" if sign else "-") + "B"
        elif letter == "o":
            pass  # only OPER gives it; an admin stays one until it disconnects
        elif letter == "i":
            if s.invisible != sign:
                s.invisible = sign
                changed += ("+" if sign else "-") + "i"
        else:
            s.numeric(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changed:
        s.line("MODE", s.nick, changed, source=s.nick)
    return None


def parse_ban(mask: str, server: str) -> str | None:
    """
    The name a ban mask bans, since tchat bans by name, else None.

    ``nick``, ``nick!*`` and ``nick!*@*`` name it. So do the masks IRC
    clients make for ``/ban`` from a user's ``nick!nick@SERVER``, since
    the username of every mask the door shows is the nick: ``*!nick@SERVER``
    (WeeChat), ``*!*nick@SERVER`` (irssi; ``*`` or ``~`` before the
    username stands for an ident mark), ``nick!nick@*``: the nick part
    ``*`` or the name, the username part ``*`` or the name (the same name
    when both give one), the host a pattern that matches SERVER. A mask of
    no name (``*!*@host``) or a pattern inside a name is refused.
    """
    nick, _, rest = mask.partition("!")
    user, _, host = rest.partition("@")
    if user[:1] in ("*", "~") and len(user) > 1:
        user = user[1:]
    given = [part for part in (nick, user) if part not in ("", "*")]
    if not given or len({name_key(part) for part in given}) != 1 or any(c in given[0] for c in "*?@!"):
        return None
    if host and not _glob_matches(host, server):
        return None
    return given[0]


def _glob_matches(pattern: str, text: str) -> bool:
    """IRC's ``*`` and ``?`` wildcards, without case."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


def channel_mode(s: IrcSession, room: str, modes: str, args: list[str]) -> Items | None:
    """MODE #room +o-v… : one request per o, v and b, and one ``mode`` for the flags, k and l, in their order."""
    items: Items = []
    flags: dict[str, Any] = {}
    args = list(args)
    sign = True
    for letter in modes:
        if letter in "+-":
            sign = letter == "+"
        elif letter in "ov":
            if not args:
                s.numeric(N.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            action = ("op" if letter == "o" else "voice") if sign else ("deop" if letter == "o" else "devoice")
            items.append(rank_request(s, room, action, args.pop(0), ("+" if sign else "-") + letter))
        elif letter == "b":
            if not args:
                items.append(bans_request(s, room))
                continue
            mask = args.pop(0)
            nick = parse_ban(mask, s.server)
            if nick is None:
                s.server_notice(f"tchat bans by name: MODE {room} +b NICK (not {mask})")
                continue
            items.append(ban_request(s, room, nick, sign))
        elif letter in FLAG_FIELDS:
            flags[FLAG_FIELDS[letter]] = sign
        elif letter == "k":
            if sign and not args:
                s.numeric(N.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            key = args.pop(0) if args else None
            if sign:
                why = bad_mode_value("key", key)
                if why:
                    # A key is never shown back, even a refused one.
                    s.numeric(N.ERR_INVALIDMODEPARAM, room, "k", "*", why)
                    continue
            flags["key"] = key if sign else None
        elif letter == "l":
            if not sign:
                flags["limit"] = None
                continue
            if not args:
                s.numeric(N.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            value = args.pop(0)
            why = bad_mode_value("limit", int(value) if value.isascii() and value.isdigit() else value)
            if why:
                s.numeric(N.ERR_INVALIDMODEPARAM, room, "l", value or "*", why)
                continue
            flags["limit"] = int(value)
        else:
            s.numeric(N.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
    if flags:
        items.append(flags_request(s, room, flags))
    return items


def bad_mode_value(name: str, value: Any) -> str | None:
    """Why tchat refuses ``value`` for the mode ``name`` (``key``, ``limit``), else None."""
    from tchat.commands.values import parse_modes

    if value == "" or value is None:
        value = "\x00"  # empty is no value: refused, never taken for a removal
    try:
        parse_modes({name: value})
    except ValueError as e:
        return str(e)
    return None


def flags_request(s: IrcSession, room: str, flags: dict[str, Any]) -> Request | LocalStep:
    from tchat.commands.values import parse_modes

    try:
        checked = parse_modes(flags)
    except ValueError as e:
        why = str(e)
        return LocalStep(lambda: s.numeric(N.ERR_UNKNOWNERROR, "MODE", why))

    def answer(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "MODE", channel=room)
            return
        text, params = mode_change(checked)
        if text:
            s.line("MODE", e.get("room") or room, text, *params)

    return s.request("mode", {"room": room, "set": checked}, answer)


def rank_request(s: IrcSession, room: str, action: str, nick: str, change: str) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            about_someone(s, e, "MODE", room, nick)
            return
        if e.get("already"):
            return  # nothing changed, so nothing to show
        s.line("MODE", e.get("room") or room, change, e.get("user") or nick)

    return s.request(action, {"room": room, "user": nick}, answer)


def ban_request(s: IrcSession, room: str, nick: str, on: bool) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "MODE", channel=room, nick=nick)
            return
        name, who = e.get("room") or room, e.get("user") or nick
        s.line("MODE", name, "+b" if on else "-b", ban_mask(who))
        channel = s.channels.get(name_key(name))
        if on and channel is not None and channel.members.pop(name_key(who), None) is not None:
            # The ban put them out; the room heard the kick, this client did not.
            s.line("KICK", name, who, "banned")

    return s.request("ban" if on else "unban", {"room": room, "user": nick}, answer)


def bans_request(s: IrcSession, room: str) -> Request:
    def answer(e: Event) -> None:
        if not is_error(e):
            for ban in e.get("bans") or ():
                s.numeric(N.RPL_BANLIST, e["room"], ban_mask(ban["user"]), ban.get("by") or s.server, str(int(ban.get("at") or 0)))
        # Only ops may see tchat's bans: to others the list is empty.
        s.numeric(N.RPL_ENDOFBANLIST, room, "End of channel ban list")

    return s.request("bans", {"room": room}, answer)
