"""
Registration and the connection: NICK, USER, PASS, CAP, the welcome burst
(001-005, LUSERS, the MOTD, the rooms the user is in), PING, PONG, QUIT,
MOTD, LUSERS, LINKS and TIME.
"""

from __future__ import annotations

import time

from irctokens import Line

from tchat import __version__
from tchat.door.irc import numerics as N
from tchat.door.irc.channels import names_request, own_join, topic_time_request
from tchat.door.irc.history import CAP as CHATHISTORY_CAP
from tchat.door.irc.history import isupport as chathistory_isupport
from tchat.door.irc.idents import REAL_LEN, realname_of, username_of
from tchat.door.irc.replies import (
    AWAY_LEN,
    CHANNEL_LEN,
    TARGETS_MAX,
    TOPIC_LEN,
    is_error,
    numeric_for,
)
from tchat.door.irc.sasl import abort_if_under_way, cap_value
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import encode, strip_formatting
from tchat.door.session import LocalStep
from tchat.events import Event
from tchat.names import NAME_MAX, BadName, check_name, name_key

# Capabilities offered; cap-notify is on for every client of CAP LS 302.
CAPS = (
    "account-tag", "away-notify", "batch", "cap-notify", "draft/chathistory", "draft/read-marker", "echo-message", "extended-join",
    "extended-monitor", "labeled-response", "message-tags", "multi-prefix", "sasl", "server-time", "setname", "userhost-in-names",
)
# Offered only with a store (accounts, history).
STORE_CAPS = frozenset({"sasl", CHATHISTORY_CAP})


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
            s.door.idents.renamed(s, old)
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
    s.username, s.realname = username_of(line.params[0]), realname_of(line.params[3])
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

    return [s.request("login", {"user": nick, "password": s.password, "lobby": "no"}, answer)]


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
        "AWAYLEN=%d" % AWAY_LEN, "BOT=B", "CASEMAPPING=rfc8265", "CHANLIMIT=#:%d" % config.max_rooms_per_user,
        "CHANMODES=b,k,l,imnst", "CHANNELLEN=%d" % CHANNEL_LEN, "CHANTYPES=#", *chathistory_isupport(s), "ELIST=CMNTU", "KICKLEN=390",
        "MAXLIST=b:500", "MODES=4", "MONITOR=%d" % config.max_watch, "NAMELEN=%d" % REAL_LEN, "NETWORK=" + s.server, "NICKLEN=%d" % NAME_MAX, "PREFIX=(ov)@+",
        "STATUSMSG=@+", "TOPICLEN=%d" % TOPIC_LEN,
        "TARGMAX=JOIN:,KICK:%d,NAMES:%d,NOTICE:%d,PART:,PRIVMSG:%d,WHOIS:1" % (TARGETS_MAX, TARGETS_MAX, TARGETS_MAX, TARGETS_MAX),
        "UTF8ONLY", "WHOX",
    ]


def welcome(s: IrcSession, e: Event, then: Items | None = None) -> None:
    """The burst after a login: 001-005, LUSERS, the MOTD; then each room the user is in."""
    s.door.idents.add(s)
    s.numeric(N.RPL_WELCOME, f"Welcome to {s.server}, {s.nick}: this is tchat's IRC door")
    s.numeric(N.RPL_YOURHOST, f"Your host is {s.server}, running tchat {__version__}")
    s.numeric(N.RPL_CREATED, "This server was started " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s.door.started)))
    s.send(encode(N.RPL_MYINFO, [s.client, s.server, f"tchat-{__version__}", "Bio", "biklmnostv", "bklov"], s.server))
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


def cmd_links(s: IrcSession, line: Line) -> Items | None:
    """364 and 365: tchat is one server to IRC, whatever the mask (its nodes are one server)."""
    # The server info (--server-info), as WHOIS's 312 gives it.
    s.numeric(N.RPL_LINKS, s.server, s.server, "0 " + s.door.server_info)
    s.numeric(N.RPL_ENDOFLINKS, "*", "End of /LINKS list")
    return None


def cmd_lusers(s: IrcSession, line: Line) -> Items | None:
    def users(e: Event) -> None:
        lusers(s, len(e.get("users") or ()) if not is_error(e) else 0)

    return [s.request("users", {}, users)]


def cmd_time(s: IrcSession, line: Line) -> Items | None:
    now = s.clock.seconds()
    s.numeric(N.RPL_TIME, s.server, str(int(now)), time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now)))
    return None


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
    """The capabilities this server offers: ``sasl`` and ``draft/chathistory`` only with a store."""
    return [cap for cap in CAPS if cap not in STORE_CAPS or s.hub.store is not None]


def cap_ls(s: IrcSession) -> list[str]:
    """The capabilities CAP LS lists; for a 302 client with their values."""
    return [cap_value(s.cap_version) if cap == "sasl" else cap for cap in offered(s)]


def cmd_ping(s: IrcSession, line: Line) -> Items | None:
    token = line.params[0]

    def pong(e: Event) -> None:
        line = encode("PONG", [s.server, token], s.server)
        place = s.answering_place()
        if s.unanswered_messages or s.answers_before(place):
            # The hub answers a message once it is stored, after later requests,
            # and a server's fan-out may deliver answers in the turn's batch,
            # after requests that answers make (a WHO's whois of each user): the
            # PONG waits for every answer to what came before its PING (301,
            # the echo, the 352s), as clients expect them before its PONG.
            s.held_pongs.append((place, line))
        else:
            s.send(line)

    return [s.request("ping", {"token": token}, pong)]


def cmd_pong(s: IrcSession, line: Line) -> Items | None:
    # Any line is a sign of life (the session's heard()); nothing to answer.
    return None


def cmd_quit(s: IrcSession, line: Line) -> Items | None:
    reason = line.params[0] if line.params else None
    return [s.request("quit", {"reason": strip_formatting(reason) if reason else None}, lambda e: None)]
