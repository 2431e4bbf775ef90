"""
MONITOR (IRCv3 monitor, and extended-monitor): the hub's watch list
(``watch``, L{tchat.chat.watch}) as IRC's numerics.

``MONITOR + a,b`` is ``watch add`` (730 for those online, 731 for the
others, 432 for what is not a nick, 734 when the list would be too long);
``MONITOR - a`` is ``watch remove`` and ``MONITOR C`` ``watch clear``
(nothing is answered); ``MONITOR L`` lists the names (732, 733) and
``MONITOR S`` says who of them is online (730, 731). The hub's ``online``
and ``offline`` events are 730 and 731 (L{notice}); its ``away`` of a
watched user with whom the client shares no channel is an AWAY only with
extended-monitor (and away-notify); so is a SETNAME of a client of this
door (L{tchat.door.irc.queries.cmd_setname}), with ``setname``.
"""

from __future__ import annotations

from irctokens import Line

from tchat.door.irc import numerics as N
from tchat.door.irc.replies import is_error, numeric_for
from tchat.door.irc.session import IrcSession, Items
from tchat.events import Event
from tchat.names import name_key

# Room for the nicks of one 730-732 line: 512 less the prefix, the numeric and the client's nick.
CHUNK = 400


def chunks(names: list[str]) -> list[str]:
    """``names`` joined by commas, in as many pieces as needed for each to fit a line."""
    out: list[str] = []
    piece = ""
    for name in names:
        if piece and len(piece) + 1 + len(name) > CHUNK:
            out.append(piece)
            piece = ""
        piece = f"{piece},{name}" if piece else name
    if piece:
        out.append(piece)
    return out


def online_offline(s: IrcSession, online: list[str], offline: list[str]) -> None:
    for piece in chunks([s.mask(nick) for nick in online]):
        s.numeric(N.RPL_MONONLINE, piece)
    for piece in chunks(offline):
        s.numeric(N.RPL_MONOFFLINE, piece)


def cmd_monitor(s: IrcSession, line: Line) -> Items | None:
    sub = line.params[0].upper()
    targets = line.params[1] if len(line.params) > 1 else ""
    if sub in ("+", "-") and not targets:
        s.numeric(N.ERR_NEEDMOREPARAMS, "MONITOR", "Not enough parameters")
        return None
    op = {"+": "add", "-": "remove", "C": "clear", "L": "list", "S": "list"}.get(sub)
    if op is None:
        s.numeric(N.ERR_UNKNOWNCOMMAND, "MONITOR", "MONITOR takes +, -, C, L or S")
        return None

    def answer(e: Event) -> None:
        if is_error(e):
            if e.get("code") == "watch_full":
                limit = str(s.hub.config.max_watch)
                s.numeric(N.ERR_MONLISTFULL, limit, targets, "Monitor list is full.")
            else:
                numeric_for(s, e, "MONITOR")
            return
        for bad in e.get("bad") or ():
            s.numeric(N.ERR_ERRONEUSNICKNAME, bad, "Erroneous nickname")
        if sub == "+":
            s.monitoring.update(name_key(nick) for nick in (*(e.get("online") or ()), *(e.get("offline") or ())))
        elif sub == "-":
            s.monitoring.difference_update(name_key(nick) for nick in targets.split(","))
        elif sub == "C":
            s.monitoring.clear()
        if sub == "L":
            for piece in chunks(e.get("users") or []):
                s.numeric(N.RPL_MONLIST, piece)
            s.numeric(N.RPL_ENDOFMONLIST, "End of MONITOR list")
        elif sub in ("+", "S"):
            online_offline(s, e.get("online") or [], e.get("offline") or [])

    return [s.request("watch", {"op": op, "users": targets if op in ("add", "remove") else None}, answer)]


def notice(s: IrcSession, event: Event) -> bytes:
    """730 or 731 for the hub's ``online`` or ``offline`` of a watched name."""
    from tchat.door.irc.wire import encode

    if event.name == "online":
        return encode(N.RPL_MONONLINE, [s.client, s.mask(event["user"])], s.server)
    return encode(N.RPL_MONOFFLINE, [s.client, event["user"]], s.server)


def shows_away(s: IrcSession, event: Event) -> bool:
    """Whether an ``away`` is shown: one of a watched user sharing no channel (no ``rooms``) only with extended-monitor."""
    return bool(event.get("rooms")) or "extended-monitor" in s.caps
