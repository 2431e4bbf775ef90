"""
What the IRC door does with each command: one table (L{COMMANDS}), each
row with its handler, the parameters it needs and whether it may come
before registration, checked in one place (L{dispatch}), as in Ergo's
command table.

A handler answers by itself (CAP, MOTD, user modes) or returns hub requests
(L{IrcSession.request}), each with the function that turns the hub's answer
into IRC's: a join's ``ok`` into JOIN, the topic and NAMES; an ``error``
into its numeric (L{numerics.ERRORS}). The requests are carried out next,
in order, before any later line.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass
from typing import Any, Callable

from irctokens import Line

from tchat import __version__
from tchat.commands import Request
from tchat.door.irc import numerics as N
from tchat.door.irc.codec import ban_mask, mode_change, quit_reason
from tchat.door.irc.sasl import abort_if_under_way, cap_value, cmd_authenticate
from tchat.door.irc.session import Answer, IrcSession, Items
from tchat.door.irc.wire import LINE_MAX, encode, strip_formatting
from tchat.door.session import LocalStep
from tchat.events import Event
from tchat.names import NAME_MAX, BadName, check_name, name_key

AWAY_LEN = 300
TOPIC_LEN = 390
CHANNEL_LEN = 49
# Capabilities offered; cap-notify is on for every client of CAP LS 302.
CAPS = (
    "account-tag", "away-notify", "batch", "cap-notify", "echo-message", "extended-join", "labeled-response", "message-tags", "multi-prefix",
    "sasl", "server-time", "userhost-in-names",
)
TARGETS_MAX = 4

Handler = Callable[[IrcSession, Line], "Items | None"]


@dataclass(frozen=True)
class Command:
    handler: Handler
    params: int = 0
    before_registration: bool = False


def dispatch(session: IrcSession, line: Line) -> Items | None:
    """Carry out one line in its turn: check it against its row, then run its handler."""
    command = COMMANDS.get(line.command)
    if command is None:
        if not session.registered:
            session.numeric(N.ERR_NOTREGISTERED, "You have not registered")
        else:
            session.numeric(N.ERR_UNKNOWNCOMMAND, line.command, "Unknown command")
        return None
    if not session.registered and not command.before_registration:
        session.numeric(N.ERR_NOTREGISTERED, "You have not registered")
        return None
    if len(line.params) < command.params:
        session.numeric(N.ERR_NEEDMOREPARAMS, line.command, "Not enough parameters")
        return None
    return command.handler(session, line)


# -- answering errors --------------------------------------------------------


def numeric_for(session: IrcSession, event: Event, command: str, channel: str | None = None, nick: str | None = None) -> None:
    """The numeric for the hub's ``error`` (its text kept), naming what it is about."""
    code, text = event.get("code"), event.get("text") or ""
    numeric, about = N.ERRORS.get(code, (N.ERR_UNKNOWNERROR, "command"))
    if code == "not_in_room" and nick is not None and channel is not None and session.in_channel(channel):
        numeric, about = N.ERR_USERNOTINCHANNEL, "nick+channel"
    elif code == "bad_name" and channel is not None:
        numeric, about = N.ERR_NOSUCHCHANNEL, "channel"
    elif code == "bad_name":
        numeric, about = N.ERR_ERRONEUSNICKNAME, "nick"
    elif code == "not_allowed" and channel is not None:
        numeric, about = N.ERR_CHANOPRIVSNEEDED, "channel"
    if about == "channel":
        session.numeric(numeric, channel or "*", text)
    elif about == "nick":
        session.numeric(numeric, nick or session.nick, text)
    elif about == "nick+channel":
        session.numeric(numeric, nick or "*", channel or "*", text)
    elif about == "command":
        session.numeric(numeric, command, text)
    else:
        session.numeric(numeric, text)


def is_error(event: Event) -> bool:
    return event.name == "error"


# -- registration ------------------------------------------------------------


def cmd_pass(s: IrcSession, line: Line) -> Items | None:
    if s.registered or s.registering:
        s.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return None
    s.password = line.params[0]
    return None


def cmd_nick(s: IrcSession, line: Line) -> Items | None:
    if not line.params or not line.params[0]:
        s.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return None
    nick = line.params[0]
    try:
        check_name(nick)
    except BadName as e:
        s.numeric(N.ERR_ERRONEUSNICKNAME, nick, f"Erroneous nickname: {e}")
        return None
    if not s.registered:
        s.nick = nick
        return register(s)

    def answer(e: Event) -> None:
        if is_error(e):
            if e.get("code") == "not_allowed":
                s.numeric(N.ERR_NICKNAMEINUSE, nick, e.get("text") or "")
            else:
                numeric_for(s, e, "NICK", nick=nick)
            return
        old, new = e.get("old") or s.nick, e.get("user") or nick
        if old != new:
            s.line("NICK", new, source=s.mask(old))
            s.nick = new
            for channel in s.channels.values():
                if channel.members.pop(name_key(old), None) is not None:
                    channel.members[name_key(new)] = new

    return [s.request("nick", {"user": nick}, answer)]


def cmd_user(s: IrcSession, line: Line) -> Items | None:
    if s.registered or s.user_given:
        s.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return None
    if not line.params[0] or not line.params[3]:
        # An empty username or realname is a missing one (modern IRC).
        s.numeric(N.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return None
    s.user_given = True
    return register(s)


def register(s: IrcSession) -> Items | None:
    """Log in once NICK and USER are in and capability negotiation is over."""
    if s.registered or s.registering or s.negotiating or not s.user_given or s.nick == "*":
        return None
    if s.sasl_login is not None:
        return registered_by_sasl(s)
    s.registering = True
    nick = s.nick

    def answer(e: Event) -> None:
        s.registering = False
        if is_error(e):
            code = e.get("code")
            numeric_for(s, e, "NICK", nick=nick)
            if code == "password_required":
                s.server_notice(
                    f"{nick} is a registered name. To use it, log in with SASL PLAIN (its name and password), "
                    f"or connect with its password as the server password (PASS, or /connect HOST 6667 PASSWORD "
                    f"in most clients); or choose another nick with /nick."
                )
            elif code in ("no_such_account", "bad_password", "guests_not_allowed"):
                s.server_notice(e.get("text") or "")
            s.nick = "*" if code not in ("name_taken", "password_required", "name_registered") else s.nick
            return
        s.registered = True
        s.nick = e["user"]
        if e.get("registered"):
            s.account = e["user"]
        welcome(s, e)

    return [s.request("login", {"user": nick, "password": s.password}, answer)]


def registered_by_sasl(s: IrcSession) -> Items | None:
    """Registration of a session SASL logged in: the burst of that login, then what was held meanwhile."""
    e, s.sasl_login = s.sasl_login, None
    assert e is not None
    s.registered = True
    s.nick = e["user"]
    welcome(s, e, then=[LocalStep(s.release_held)])
    return None


def isupport(s: IrcSession) -> list[str]:
    config = s.hub.config
    return [
        "AWAYLEN=%d" % AWAY_LEN, "CASEMAPPING=rfc8265", "CHANLIMIT=#:%d" % config.max_rooms_per_user,
        "CHANMODES=b,k,l,imnt", "CHANNELLEN=%d" % CHANNEL_LEN, "CHANTYPES=#", "KICKLEN=390", "MAXLIST=b:500",
        "MODES=4", "NETWORK=" + s.server, "NICKLEN=%d" % NAME_MAX, "PREFIX=(ov)@+", "TOPICLEN=%d" % TOPIC_LEN,
        "TARGMAX=JOIN:,KICK:1,NAMES:1,NOTICE:%d,PART:,PRIVMSG:%d,WHOIS:1" % (TARGETS_MAX, TARGETS_MAX), "UTF8ONLY",
    ]


def welcome(s: IrcSession, e: Event, then: Items | None = None) -> None:
    """The burst after a login: 001-005, LUSERS, the MOTD; then each room the user is in."""
    s.numeric(N.RPL_WELCOME, f"Welcome to {s.server}, {s.nick}: this is tchat's IRC door")
    s.numeric(N.RPL_YOURHOST, f"Your host is {s.server}, running tchat {__version__}")
    s.numeric(N.RPL_CREATED, "This server was started " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s.door.started)))
    s.send(encode(N.RPL_MYINFO, [s.client, s.server, f"tchat-{__version__}", "i", "biklmnotv", "bklov"], s.server))
    tokens = isupport(s)
    for i in range(0, len(tokens), 12):
        s.numeric(N.RPL_ISUPPORT, *tokens[i : i + 12], "are supported by this server")
    lusers(s, len(e.get("users") or ()))
    motd(s)
    topics = e.get("topics") or {}
    follow: Items = []
    for room in e.get("rooms") or ():
        s.joined(room)
        own_join(s, room)
        if topics.get(room):
            s.numeric(N.RPL_TOPIC, room, topics[room])
            follow.append(topic_time_request(s, room))
        follow.append(names_request(s, room))
    s.follow(follow + (then or []))


def motd(s: IrcSession) -> None:
    if not s.motd:
        s.numeric(N.ERR_NOMOTD, "MOTD File is missing")
        return
    s.numeric(N.RPL_MOTDSTART, f"- {s.server} Message of the day - ")
    for text in s.motd.splitlines() or [""]:
        s.numeric(N.RPL_MOTD, "- " + text)
    s.numeric(N.RPL_ENDOFMOTD, "End of /MOTD command.")


def cmd_motd(s: IrcSession, line: Line) -> Items | None:
    motd(s)
    return None


def lusers(s: IrcSession, count: int) -> None:
    """251, 255, 265 and 266: tchat is one server to IRC, so local and global counts are the same."""
    door = s.door
    door.most_users = most = max(door.most_users, count)
    s.numeric(N.RPL_LUSERCLIENT, f"There are {count} users and 0 invisible on 1 servers")
    s.numeric(N.RPL_LUSERME, f"I have {count} clients and 1 servers")
    s.numeric(N.RPL_LOCALUSERS, str(count), str(most), f"Current local users {count}, max {most}")
    s.numeric(N.RPL_GLOBALUSERS, str(count), str(most), f"Current global users {count}, max {most}")


def cmd_lusers(s: IrcSession, line: Line) -> Items | None:
    def users(e: Event) -> None:
        lusers(s, len(e.get("users") or ()) if not is_error(e) else 0)

    return [s.request("users", {}, users)]


def cmd_time(s: IrcSession, line: Line) -> Items | None:
    now = s.clock.seconds()
    s.numeric(N.RPL_TIME, s.server, str(int(now)), time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now)))
    return None


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


def cmd_cap(s: IrcSession, line: Line) -> Items | None:
    sub = line.params[0].upper()
    if sub == "LS":
        if not s.registered:
            s.negotiating = True
        version = line.params[1] if len(line.params) > 1 else ""
        if version.isdigit() and int(version) >= 302:
            s.cap_version = 302
            s.set_caps(s.caps | {"cap-notify"})
        s.send(encode("CAP", [s.client, "LS", " ".join(cap_ls(s))], s.server))
    elif sub == "LIST":
        s.send(encode("CAP", [s.client, "LIST", " ".join(sorted(s.caps))], s.server))
    elif sub == "REQ":
        if not s.registered:
            s.negotiating = True
        asked = line.params[1] if len(line.params) > 1 else ""
        words = asked.split()
        caps = set(s.caps)
        ok = bool(words)
        for word in words:
            off = word.startswith("-")
            cap = word[1:] if off else word
            if cap not in offered(s) or (off and cap == "cap-notify" and s.cap_version >= 302):
                ok = False
                break
            (caps.discard if off else caps.add)(cap)
        if ok:
            s.set_caps(caps)
        s.send(encode("CAP", [s.client, "ACK" if ok else "NAK", asked], s.server))
    elif sub == "END":
        abort_if_under_way(s)
        if not s.registered and s.negotiating:
            s.negotiating = False
            return register(s)
    else:
        s.numeric(N.ERR_INVALIDCAPCMD, line.params[0], "Invalid CAP command")
    return None


def offered(s: IrcSession) -> list[str]:
    """The capabilities this server offers: ``sasl`` only with accounts (a store)."""
    return [cap for cap in CAPS if cap != "sasl" or s.hub.store is not None]


def cap_ls(s: IrcSession) -> list[str]:
    """The capabilities CAP LS lists; for a 302 client with their values."""
    return [cap_value(s.cap_version) if cap == "sasl" else cap for cap in offered(s)]


def cmd_ping(s: IrcSession, line: Line) -> Items | None:
    token = line.params[0]

    def pong(e: Event) -> None:
        line = encode("PONG", [s.server, token], s.server)
        if s.unanswered_messages:
            # The hub answers a message once it is stored, after later requests:
            # the PONG waits for those answers (301, the echo), as clients expect
            # everything a PING follows to come before its PONG.
            s.held_pongs.append(line)
        else:
            s.send(line)

    return [s.request("ping", {"token": token}, pong)]


def cmd_pong(s: IrcSession, line: Line) -> Items | None:
    # Any line is a sign of life (the session's heard()); nothing to answer.
    return None


def cmd_quit(s: IrcSession, line: Line) -> Items | None:
    reason = line.params[0] if line.params else None
    return [s.request("quit", {"reason": strip_formatting(reason) if reason else None}, lambda e: None)]


# -- messages ----------------------------------------------------------------


def cmd_privmsg(s: IrcSession, line: Line) -> Items | None:
    notice = line.command == "NOTICE"
    if not line.params or not line.params[0]:
        if not notice:
            s.numeric(N.ERR_NORECIPIENT, f"No recipient given ({line.command})")
        return None
    if len(line.params) < 2 or not line.params[1]:
        if not notice:
            s.numeric(N.ERR_NOTEXTTOSEND, "No text to send")
        return None
    text, kind = line.params[1], None
    if text.startswith("\x01"):
        inner = text.strip("\x01")
        verb, _, rest = inner.partition(" ")
        if verb.upper() != "ACTION":
            # Other CTCP (VERSION, PING, …) is between IRC clients: nobody here answers it.
            return None
        text, kind = rest, "action"
    text = strip_formatting(text)
    items: Items = []
    for target in line.params[0].split(",")[:TARGETS_MAX]:
        if target:
            items.append(message_request(s, target, text, kind, notice))
    return items


def message_request(s: IrcSession, target: str, text: str, kind: str | None, notice: bool) -> Request:
    command = "NOTICE" if notice else "PRIVMSG"
    s.unanswered_messages += 1

    def answer(e: Event) -> None:
        try:
            answer_message(e)
        finally:
            s.unanswered_messages -= 1
            # Sent by the session once this answer (and its label, if any) is out.
            s.pongs_due = not s.unanswered_messages and bool(s.held_pongs)

    def answer_message(e: Event) -> None:
        if is_error(e):
            if notice:
                return  # NOTICE never gets an error back
            code = e.get("code")
            if target.startswith("#"):
                if code == "not_in_room":
                    s.numeric(N.ERR_CANNOTSENDTOCHAN, target, e.get("text") or "Cannot send to channel")
                elif code in ("no_such_room", "bad_name"):
                    s.numeric(N.ERR_NOSUCHCHANNEL, target, e.get("text") or "No such channel")
                else:
                    numeric_for(s, e, command, channel=target)
            elif code in ("no_such_user", "bad_name"):
                s.numeric(N.ERR_NOSUCHNICK, target, e.get("text") or "No such nick")
            else:
                numeric_for(s, e, command, nick=target)
            return
        if "echo-message" in s.caps:
            echoed = Event("message", {
                "msgid": e.get("msgid"), "ts": e.get("ts"), "from": s.nick, "to": target, "text": text,
                "registered": bool(s.account),
            })
            s.send(s.profile.message_lines(echoed, s.nick, target, text, kind, command))
        if e.get("away") and not notice:
            s.numeric(N.RPL_AWAY, target, e["away"])

    return s.request("msg", {"to": target, "text": text, "kind": kind}, answer)


def cmd_tagmsg(s: IrcSession, line: Line) -> Items | None:
    # Client-only tags (typing, reactions) are not carried to tchat's other doors.
    return None


# -- channels ----------------------------------------------------------------


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
        s.follow([*follow, names_request(s, name)])

    return s.request("join", {"room": room, "key": key}, answer)


def own_join(s: IrcSession, room: str) -> None:
    """The JOIN of this session's user; with extended-join, its account (``*``: a guest) and realname."""
    if "extended-join" in s.caps:
        s.line("JOIN", room, s.account or "*", s.nick)
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


def names_request(s: IrcSession, room: str) -> Request:
    """NAMES of ``room``: 353 lines, then 366."""

    def answer(e: Event) -> None:
        if is_error(e):
            s.numeric(N.RPL_ENDOFNAMES, room, "End of /NAMES list")
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
        head = len(f":{s.server} 353 {s.nick} = {name} :".encode("utf-8")) + 2
        batch: list[str] = []
        size = head
        for entry in shown:
            length = len(entry.encode("utf-8")) + 1
            if batch and size + length > LINE_MAX:
                s.numeric(N.RPL_NAMREPLY, "=", name, " ".join(batch))
                batch, size = [], head
            batch.append(entry)
            size += length
        if batch:
            s.numeric(N.RPL_NAMREPLY, "=", name, " ".join(batch))
        s.numeric(N.RPL_ENDOFNAMES, name, "End of /NAMES list")

    return s.request("users", {"room": room}, answer)


def cmd_names(s: IrcSession, line: Line) -> Items | None:
    if not line.params or not line.params[0]:
        return [names_request(s, c.name) for c in s.channels.values()] or None
    return [names_request(s, room) for room in line.params[0].split(",")[:1] if room]


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


def cmd_list(s: IrcSession, line: Line) -> Items | None:
    wanted = {name_key(r) for r in line.params[0].split(",")} if line.params and line.params[0].startswith("#") else None

    def answer(e: Event) -> None:
        s.numeric(N.RPL_LISTSTART, "Channel", "Users  Name")
        for r in e.get("rooms") or ():
            if wanted is None or name_key(r["room"]) in wanted:
                s.numeric(N.RPL_LIST, r["room"], str(r.get("members", 0)), r.get("topic") or "")
        s.numeric(N.RPL_LISTEND, "End of /LIST")

    return [s.request("rooms", {}, answer)]


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


# -- operators ---------------------------------------------------------------


def cmd_kick(s: IrcSession, line: Line) -> Items | None:
    room = line.params[0]
    reason = strip_formatting(line.params[2]) if len(line.params) > 2 and line.params[2] else None
    items: Items = []
    for nick in line.params[1].split(",")[:TARGETS_MAX]:
        if nick:
            items.append(kick_request(s, room, nick, reason))
    return items


def kick_request(s: IrcSession, room: str, nick: str, reason: str | None) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            numeric_for(s, e, "KICK", channel=room, nick=nick)
            return
        name, who = e.get("room") or room, e.get("user") or nick
        s.line("KICK", name, who, reason or s.nick)
        channel = s.channels.get(name_key(name))
        if channel is not None:
            channel.members.pop(name_key(who), None)

    return s.request("kick", {"room": room, "user": nick, "reason": reason}, answer)


def cmd_invite(s: IrcSession, line: Line) -> Items | None:
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
            s.numeric(N.RPL_CHANNELMODEIS, e["room"], (text or "+") + "n", *params)

        return [s.request("mode", {"room": target}, show)]
    return channel_mode(s, target, line.params[1], line.params[2:])


def user_mode(s: IrcSession, line: Line) -> Items | None:
    target = line.params[0]
    if name_key(target) != name_key(s.nick):
        s.numeric(N.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return None
    if len(line.params) == 1:
        s.numeric(N.RPL_UMODEIS, "+i" if s.invisible else "+")
        return None
    sign, changed = True, ""
    for letter in line.params[1]:
        if letter in "+-":
            sign = letter == "+"
        elif letter == "i":
            if s.invisible != sign:
                s.invisible = sign
                changed += ("+" if sign else "-") + "i"
        else:
            s.numeric(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changed:
        s.line("MODE", s.nick, changed, source=s.nick)
    return None


def parse_ban(mask: str) -> str | None:
    """The nick of a ban mask tchat can keep (``nick``, ``nick!*@*``, ``nick!*``), else None."""
    nick, _, rest = mask.partition("!")
    if any(c in nick for c in "*?@") or not nick:
        return None
    if rest and rest not in ("*", "*@*"):
        return None
    return nick


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
            nick = parse_ban(mask)
            if nick is None:
                s.server_notice(f"tchat bans by name: MODE {room} +b NICK (not {mask})")
                continue
            items.append(ban_request(s, room, nick, sign))
        elif letter in "imt":
            flags[{"i": "invite_only", "m": "moderated", "t": "topic_locked"}[letter]] = sign
        elif letter == "n":
            pass  # always on: only members send to a room
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
            numeric_for(s, e, "MODE", channel=room, nick=nick)
            return
        name, who, said = e.get("room") or room, e.get("user") or nick, e.get("text") or ""
        if said == f"{who} is {'an operator' if 'o' in change else 'voiced'} in {name}" or said.startswith(f"{who} is not "):
            return  # nothing changed, so nothing to show
        s.line("MODE", name, change, who)

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


COMMANDS: dict[str, Command] = {
    "CAP": Command(cmd_cap, 1, True),
    "PASS": Command(cmd_pass, 1, True),
    "NICK": Command(cmd_nick, 0, True),
    "USER": Command(cmd_user, 4, True),
    "PING": Command(cmd_ping, 1, True),
    "PONG": Command(cmd_pong, 0, True),
    "QUIT": Command(cmd_quit, 0, True),
    "MOTD": Command(cmd_motd),
    "LUSERS": Command(cmd_lusers),
    "TIME": Command(cmd_time),
    "USERHOST": Command(cmd_userhost, 1),
    "PRIVMSG": Command(cmd_privmsg),
    "NOTICE": Command(cmd_privmsg),
    "TAGMSG": Command(cmd_tagmsg, 1),
    "JOIN": Command(cmd_join, 1),
    "PART": Command(cmd_part, 1),
    "NAMES": Command(cmd_names),
    "TOPIC": Command(cmd_topic, 1),
    "LIST": Command(cmd_list),
    "WHO": Command(cmd_who),
    "WHOIS": Command(cmd_whois, 1),
    "AWAY": Command(cmd_away),
    "KICK": Command(cmd_kick, 2),
    "INVITE": Command(cmd_invite, 2),
    "MODE": Command(cmd_mode, 1),
    "AUTHENTICATE": Command(cmd_authenticate, 1, True),
}

