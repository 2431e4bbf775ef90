"""
Questions about users: WHO, WHOIS, USERHOST, and AWAY.
"""

from __future__ import annotations

import fnmatch

from irctokens import Line

from tchat.door.irc import numerics as N
from tchat.door.irc.channels import prefixes
from tchat.door.irc.replies import is_error, numeric_for
from tchat.door.irc.session import Answer, IrcSession, Items
from tchat.door.irc.wire import strip_formatting
from tchat.events import Event
from tchat.names import name_key


def cmd_userhost(s: IrcSession, line: Line) -> Items | None:
    """302 of up to 5 nicks, one line once every answer is in: ``nick=+nick@SERVER`` (``-`` if away)."""
    nicks = [n for n in line.params[:5] if n]
    if not nicks:
        s.numeric(N.ERR_NEEDMOREPARAMS, "USERHOST", "Not enough parameters")
        return None
    found: dict[int, str] = {}
    left = [len(nicks)]

    def asked(i: int) -> Answer:
        def answer(e: Event) -> None:
            if not is_error(e) and e.get("online"):
                who = e["user"]
                found[i] = f"{who}={'-' if e.get('away') else '+'}{who}@{s.server}"
            left[0] -= 1
            if not left[0]:
                s.numeric(N.RPL_USERHOST, " ".join(found[k] for k in sorted(found)))

        return answer

    return [s.request("whois", {"user": nick}, asked(i)) for i, nick in enumerate(nicks)] or None


def who_line(s: IrcSession, channel: str, nick: str, marks: str = "", away: bool = False) -> None:
    s.numeric(N.RPL_WHOREPLY, channel, nick, s.server, s.server, nick, ("G" if away else "H") + marks, f"0 {nick}")


def cmd_who(s: IrcSession, line: Line) -> Items | None:
    mask = line.params[0] if line.params else "*"
    if mask.startswith("#"):

        def room(e: Event) -> None:
            if not is_error(e):
                ops = {name_key(n) for n in e.get("ops") or ()}
                voiced = {name_key(n) for n in e.get("voiced") or ()}
                for nick in e.get("users") or ():
                    who_line(s, e["room"], nick, prefixes(s, nick, ops, voiced))
            s.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")

        return [s.request("users", {"room": mask}, room)]
    if "*" in mask or "?" in mask:
        pattern = name_key(mask)

        def everyone(e: Event) -> None:
            for nick in e.get("users") or ():
                if fnmatch.fnmatchcase(name_key(nick), pattern):
                    who_line(s, "*", nick)
            s.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")

        return [s.request("users", {}, everyone)]

    def one(e: Event) -> None:
        if not is_error(e) and e.get("online"):
            who_line(s, "*", e["user"], away=bool(e.get("away")))
        s.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")

    return [s.request("whois", {"user": mask}, one)]


def cmd_whois(s: IrcSession, line: Line) -> Items | None:
    nick = line.params[-1].split(",")[0]

    def answer(e: Event) -> None:
        if is_error(e) or not e.get("online"):
            s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel" if is_error(e) else e.get("text") or "not online")
            s.numeric(N.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
            return
        who = e["user"]
        s.numeric(N.RPL_WHOISUSER, who, who, s.server, "*", who)
        rooms = e.get("rooms") or []
        if rooms:
            s.numeric(N.RPL_WHOISCHANNELS, who, " ".join(rooms))
        s.numeric(N.RPL_WHOISSERVER, who, s.server, "tchat")
        if e.get("away"):
            s.numeric(N.RPL_AWAY, who, e["away"])
        if e.get("registered"):
            s.numeric(N.RPL_WHOISACCOUNT, who, who, "is logged in as")
        if e.get("idle") is not None:
            s.numeric(N.RPL_WHOISIDLE, who, str(int(e["idle"])), str(int(e.get("since") or 0)), "seconds idle, signon time")
        s.numeric(N.RPL_ENDOFWHOIS, who, "End of /WHOIS list")

    return [s.request("whois", {"user": nick}, answer)]


def cmd_away(s: IrcSession, line: Line) -> Items | None:
    text = strip_formatting(line.params[0]) if line.params and line.params[0] else None

    def answer(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "AWAY")
        elif e.get("away"):
            s.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
        else:
            s.numeric(N.RPL_UNAWAY, "You are no longer marked as being away")

    return [s.request("away", {"text": text}, answer)]
