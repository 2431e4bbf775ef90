"""
What the IRC door's commands share: the limits it announces in ISUPPORT and
the numeric for each of the hub's errors.
"""

from __future__ import annotations

from tchat.door.irc import numerics as N
from tchat.door.irc.session import IrcSession
from tchat.events import Event

AWAY_LEN = 300
TOPIC_LEN = 390
CHANNEL_LEN = 49
TARGETS_MAX = 4


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


def about_someone(session: IrcSession, event: Event, command: str, channel: str, nick: str) -> None:
    """
    The numeric for an error of a command about ``nick`` in ``channel``: as
    L{numeric_for}, except that the hub's ``not_in_room`` for someone who is
    not online at all is 401 (no such nick), not 441, once a whois says so.
    """
    if event.get("code") != "not_in_room" or not session.in_channel(channel):
        numeric_for(session, event, command, channel=channel, nick=nick)
        return

    def online(e: Event) -> None:
        if e.name == "whois" and e.get("online"):
            numeric_for(session, event, command, channel=channel, nick=nick)
        else:
            session.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")

    session.follow([session.request("whois", {"user": nick}, online)])
