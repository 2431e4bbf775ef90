"""
What the IRC door does with each command: one table (L{COMMANDS}), each
row with its handler, the parameters it needs and whether it may come
before registration, checked in one place (L{dispatch}), as in Ergo's
command table. The handlers live by kind: registration, messages,
channels, queries, modes.

A handler answers by itself (CAP, MOTD, user modes) or returns hub requests
(L{IrcSession.request}), each with the function that turns the hub's answer
into IRC's: a join's ``ok`` into JOIN, the topic and NAMES; an ``error``
into its numeric (L{numerics.ERRORS}). The requests are carried out next,
in order, before any later line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from irctokens import Line

from tchat.door.irc import numerics as N
from tchat.door.irc.channels import (
    cmd_invite,
    cmd_join,
    cmd_kick,
    cmd_list,
    cmd_names,
    cmd_part,
    cmd_topic,
)
from tchat.door.irc.messages import cmd_privmsg, cmd_tagmsg
from tchat.door.irc.modes import cmd_mode
from tchat.door.irc.operators import cmd_info, cmd_kill, cmd_oper
from tchat.door.irc.queries import cmd_away, cmd_userhost, cmd_who, cmd_whois, cmd_whowas
from tchat.door.irc.registration import (
    cmd_cap,
    cmd_lusers,
    cmd_motd,
    cmd_nick,
    cmd_pass,
    cmd_ping,
    cmd_pong,
    cmd_quit,
    cmd_time,
    cmd_user,
)
from tchat.door.irc.sasl import cmd_authenticate
from tchat.door.irc.session import IrcSession, Items

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
    "WHOWAS": Command(cmd_whowas),
    "AWAY": Command(cmd_away),
    "KICK": Command(cmd_kick, 2),
    "INVITE": Command(cmd_invite, 2),
    "MODE": Command(cmd_mode, 1),
    "OPER": Command(cmd_oper, 2),
    "KILL": Command(cmd_kill, 1),
    "INFO": Command(cmd_info),
    "AUTHENTICATE": Command(cmd_authenticate, 1, True),
}
