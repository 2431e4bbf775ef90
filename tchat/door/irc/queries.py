"""
Questions about users: WHO (and IRCv3 WHOX), WHOIS, WHOWAS, USERHOST, ISON;
and what one says of oneself: AWAY, SETNAME (IRCv3 setname).
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass
from typing import Callable

from irctokens import Line

from tchat.door.irc import numerics as N
from tchat.door.irc.channels import prefixes
from tchat.door.irc.idents import REAL_LEN
from tchat.door.irc.replies import is_error, numeric_for
from tchat.door.irc.session import Answer, IrcSession, Items
from tchat.door.irc.wire import encode, strip_formatting
from tchat.events import Event
from tchat.names import clean_text, name_key
from tchat.sentences import event_text


def _online_of(s: IrcSession, nicks: list[str], shown: Callable[[Event], str], numeric: str) -> Items:
    """Ask the hub about each nick; once every answer is in, one ``numeric`` of the online ones, in the order asked."""
    found: dict[int, str] = {}
    left = [len(nicks)]

    def asked(i: int) -> Answer:
        def answer(e: Event) -> None:
            if not is_error(e) and e.get("online"):
                found[i] = shown(e)
            left[0] -= 1
            if not left[0]:
                s.numeric(numeric, " ".join(found[k] for k in sorted(found)))

        return answer

    return [s.request("whois", {"user": nick}, asked(i)) for i, nick in enumerate(nicks)]


def cmd_userhost(s: IrcSession, line: Line) -> Items | None:
    """302 of up to 5 nicks, one line once every answer is in: ``nick=+nick@SERVER`` (``-`` if away)."""
    nicks = [n for n in line.params[:5] if n]
    if not nicks:
        s.numeric(N.ERR_NEEDMOREPARAMS, "USERHOST", "Not enough parameters")
        return None
    return _online_of(
        s, nicks, lambda e: f"{e['user']}={'-' if e.get('away') else '+'}{e['user']}@{s.server}", N.RPL_USERHOST
    ) or None


def cmd_ison(s: IrcSession, line: Line) -> Items | None:
    """303: which of the nicks asked (up to 20) are online, as the hub names them, once every answer is in."""
    nicks = [n for param in line.params for n in param.split(" ") if n][:20]
    if not nicks:
        s.numeric(N.ERR_NEEDMOREPARAMS, "ISON", "Not enough parameters")
        return None
    return _online_of(s, nicks, lambda e: str(e["user"]), N.RPL_ISON)


# WHOX's fields, in the order of its reply whatever the order asked (IRCv3 WHOX).
WHOX_FIELDS = "tcuihsnfdlaor"
# Most users a WHO of a mask answers with (each one is a question to the hub).
WHO_MAX = 100


@dataclass
class Whom:
    """One line of a WHO answer: who, in which channel, and what the hub said of them."""

    nick: str
    channel: str = "*"
    marks: str = ""
    away: bool = False
    account: str | None = None
    idle: int = 0


def who_reply(s: IrcSession, whom: Whom, whox: tuple[str, str] | None) -> None:
    """352, or with WHOX (``(fields, token)``) 354 with the fields asked for."""
    username, realname = s.door.idents.of(whom.nick)
    idents = s.door.idents
    flags = ("G" if whom.away else "H") + ("*" if idents.oper(whom.nick) else "") + ("B" if idents.bot(whom.nick) else "") + whom.marks
    if whox is None:
        s.numeric(N.RPL_WHOREPLY, whom.channel, username, s.server, s.server, whom.nick, flags, f"0 {realname}")
        return
    fields, token = whox
    values = {
        "t": token, "c": whom.channel, "u": username, "i": "255.255.255.255", "h": s.server, "s": s.server,
        "n": whom.nick, "f": flags, "d": "0", "l": str(whom.idle), "a": whom.account or "0", "o": "n/a", "r": realname,
    }
    s.numeric(N.RPL_WHOSPCRPL, *(values[f] for f in WHOX_FIELDS if f in fields))


def whox_of(line: Line) -> tuple[str, str] | None:
    """WHO's second parameter as WHOX asks: ``%fields[,token]`` (the token only with ``t``)."""
    if len(line.params) < 2 or not line.params[1].startswith("%"):
        return None
    fields, _, token = line.params[1][1:].partition(",")
    return fields, token[:3] if "t" in fields else ""


def whom_of(e: Event, channel: str = "*") -> Whom:
    """A WHO line of the hub's ``whois`` answer."""
    return Whom(
        e["user"], channel, away=bool(e.get("away")), account=e["user"] if e.get("registered") else None,
        idle=int(e.get("idle") or 0),
    )


def hidden(s: IrcSession, nick: str) -> bool:
    """
    Whether a WHO of a mask leaves ``nick`` out: an IRC client of this door
    with user mode ``i`` (invisible), unless it is the asker or shares a
    channel with them. A WHO of the nick itself, or of a channel, shows it.
    """
    key = name_key(nick)
    if key == name_key(s.nick) or not s.door.idents.invisible(nick):
        return False
    return not any(key in channel.members for channel in s.channels.values())


def cmd_who(s: IrcSession, line: Line) -> Items | None:
    mask = line.params[0] if line.params and line.params[0] else "*"
    whox = whox_of(line)

    def end() -> None:
        s.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")

    if mask.startswith("#"):

        def room(e: Event) -> None:
            if not is_error(e):
                ops = {name_key(n) for n in e.get("ops") or ()}
                voiced = {name_key(n) for n in e.get("voiced") or ()}
                away = {name_key(n) for n in e.get("away") or ()}
                registered = {name_key(n) for n in e.get("registered") or ()}
                for nick in e.get("users") or ():
                    key = name_key(nick)
                    whom = Whom(nick, e["room"], prefixes(s, nick, ops, voiced), key in away, nick if key in registered else None)
                    who_reply(s, whom, whox)
            end()

        return [s.request("users", {"room": mask}, room)]

    def one(e: Event) -> None:
        if not is_error(e) and e.get("online"):
            who_reply(s, whom_of(e), whox)

    if "*" in mask or "?" in mask:
        pattern = name_key(mask)

        def everyone(e: Event) -> None:
            found = [
                nick for nick in e.get("users") or () if fnmatch.fnmatchcase(name_key(nick), pattern) and not hidden(s, nick)
            ][:WHO_MAX]
            if not found:
                end()
                return
            left = [len(found)]

            def each(w: Event) -> None:
                # The 315 once every answer is in (answers may come in a later turn than their step).
                one(w)
                left[0] -= 1
                if not left[0]:
                    end()

            s.follow([s.request("whois", {"user": nick}, each) for nick in found])

        return [s.request("users", {}, everyone)]

    def only(e: Event) -> None:
        one(e)
        end()

    return [s.request("whois", {"user": mask}, only)]


def cmd_whois(s: IrcSession, line: Line) -> Items | None:
    nick = line.params[-1].split(",")[0]

    def answer(e: Event) -> None:
        if is_error(e) or not e.get("online"):
            s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel" if is_error(e) else event_text(e) or "not online")
            s.numeric(N.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
            return
        who = e["user"]
        username, realname = s.door.idents.of(who)
        s.numeric(N.RPL_WHOISUSER, who, username, s.server, "*", realname)
        rooms = e.get("rooms") or []
        if rooms:
            ops = {name_key(r) for r in e.get("op_in") or ()}
            voiced = {name_key(r) for r in e.get("voiced_in") or ()}
            marked = [prefixes(s, r, ops, voiced) + r for r in rooms]
            s.numeric(N.RPL_WHOISCHANNELS, who, " ".join(marked))
        s.numeric(N.RPL_WHOISSERVER, who, s.server, s.door.server_info)
        if s.door.idents.oper(who):
            s.numeric(N.RPL_WHOISOPERATOR, who, "is an IRC operator (a tchat admin)")
        if s.door.idents.bot(who):
            s.numeric(N.RPL_WHOISBOT, who, "is a bot")
        if e.get("away"):
            s.numeric(N.RPL_AWAY, who, e["away"])
        if e.get("registered"):
            s.numeric(N.RPL_WHOISACCOUNT, who, who, "is logged in as")
        if e.get("idle") is not None:
            s.numeric(N.RPL_WHOISIDLE, who, str(int(e["idle"])), str(int(e.get("since") or 0)), "seconds idle, signon time")
        s.numeric(N.RPL_ENDOFWHOIS, who, "End of /WHOIS list")

    return [s.request("whois", {"user": nick}, answer)]


def cmd_whowas(s: IrcSession, line: Line) -> Items | None:
    """314 and 312 of each time ``nick`` left (IRC clients of this door: L{tchat.door.irc.idents}), newest first; 369."""
    if not line.params or not line.params[0]:
        s.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return None
    nick = line.params[0].split(",")[0]
    count = line.params[1] if len(line.params) > 1 else ""
    most = int(count) if count.isdigit() and int(count) > 0 else None
    entries = s.door.idents.was(nick)[:most]
    if not entries:
        s.numeric(N.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    for was in entries:
        s.numeric(N.RPL_WHOWASUSER, was.nick, was.username, s.server, "*", was.realname)
        s.numeric(N.RPL_WHOISSERVER, was.nick, s.server, time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(was.left)))
    s.numeric(N.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")
    return None


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


def cmd_setname(s: IrcSession, line: Line) -> Items | None:
    """
    SETNAME :<realname> (IRCv3 setname): a new realname, the door's own
    memory as USER's (L{tchat.door.irc.idents}). ``SETNAME`` goes to the
    sender and to this door's clients with the ``setname`` capability that
    share a channel with it, or monitor it with ``extended-monitor``; ``FAIL SETNAME INVALID_REALNAME`` for an empty
    one or one over L{REAL_LEN} characters.
    """
    realname = clean_text(strip_formatting(line.params[0])).strip()
    if not realname or len(realname) > REAL_LEN:
        why = "A realname cannot be empty" if not realname else f"A realname is at most {REAL_LEN} characters"
        s.send(encode("FAIL", ["SETNAME", "INVALID_REALNAME", why], s.server))
        return None
    s.realname = realname
    me = name_key(s.nick)
    source = s.mask(s.nick)
    # After what the chat delivered so far, as every line a door sends of its own.
    s.hub.flush()
    for other in list(s.door.sessions):
        if not isinstance(other, IrcSession) or not other.registered or "setname" not in other.caps or other.closing:
            continue
        if (
            other is s or name_key(other.nick) == me or any(me in c.members for c in other.channels.values())
            or ("extended-monitor" in other.caps and me in other.monitoring)
        ):
            other.line("SETNAME", realname, source=source)
    return None
