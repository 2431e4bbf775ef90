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
from tchat.door.irc.history import cmd_chathistory
from tchat.door.irc.messages import cmd_privmsg, cmd_tagmsg
from tchat.door.irc.markread import cmd_markread
from tchat.door.irc.modes import cmd_mode
from tchat.door.irc.monitor import cmd_monitor
from tchat.door.irc.operators import cmd_info, cmd_kill, cmd_oper, cmd_wallops
from tchat.door.irc.queries import (
    cmd_away,
    cmd_ison,
    cmd_setname,
    cmd_userhost,
    cmd_who,
    cmd_whois,
    cmd_whowas,
)
from tchat.door.irc.registration import (
    cmd_cap,
    cmd_links,
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
    # What HELP says of it: its usage, then what it does.
    help: str = ""


def dispatch(session: IrcSession, line: Line) -> Items | None:
    """Carry out one line in its turn: check it against its row, then run its handler."""
    if session.registering:
        # A line sent right behind NICK and USER (JOIN, say): the login's
        # answer, waiting in this turn's deliveries, is delivered first, so
        # that the line finds the client registered.
        session.hub.flush()
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


def cmd_help(s: IrcSession, line: Line) -> Items | None:
    """704, 705…, 706: the commands (no subject), or one command's usage; 524 for anything else."""
    subject = line.params[0].upper() if line.params and line.params[0] else ""
    if not subject:
        names = sorted(COMMANDS)
        s.numeric(N.RPL_HELPSTART, "*", "The commands of tchat's IRC door (HELP <command> for one):")
        for i in range(0, len(names), 10):
            s.numeric(N.RPL_HELPTXT, "*", " ".join(names[i : i + 10]))
        s.numeric(N.RPL_ENDOFHELP, "*", "End of /HELP")
        return None
    command = COMMANDS.get(subject)
    if command is None:
        s.numeric(N.ERR_HELPNOTFOUND, line.params[0], "No help for that: HELP lists the commands")
        return None
    s.numeric(N.RPL_HELPSTART, subject, command.help)
    s.numeric(N.RPL_ENDOFHELP, subject, "End of /HELP")
    return None


COMMANDS: dict[str, Command] = {
    "CAP": Command(cmd_cap, 1, True, help="CAP LS [302] | REQ :<caps> | LIST | END: negotiate IRCv3 capabilities"),
    "PASS": Command(cmd_pass, 1, True, help="PASS <password>: a registered name's password, before NICK and USER"),
    "NICK": Command(cmd_nick, 0, True, help="NICK <nick>: choose your nick (a guest may change it; an account's is its name)"),
    "USER": Command(cmd_user, 4, True, help="USER <username> 0 * :<realname>: your username and realname, shown by WHO and WHOIS"),
    "PING": Command(cmd_ping, 1, True, help="PING <token>: the server answers PONG <token>"),
    "PONG": Command(cmd_pong, 0, True, help="PONG <token>: the answer to the server's PING"),
    "QUIT": Command(cmd_quit, 0, True, help="QUIT [:<reason>]: leave the chat"),
    "MOTD": Command(cmd_motd, help="MOTD: the message of the day"),
    "LUSERS": Command(cmd_lusers, help="LUSERS: how many users are online"),
    "LINKS": Command(cmd_links, help="LINKS: the servers (tchat is one server to IRC)"),
    "TIME": Command(cmd_time, help="TIME: the server's time"),
    "INFO": Command(cmd_info, help="INFO: about this server"),
    "HELP": Command(cmd_help, help="HELP [<command>]: the commands, or how to use one (HELPOP is the same)"),
    "HELPOP": Command(cmd_help, help="HELPOP [<command>]: the same as HELP"),
    "USERHOST": Command(cmd_userhost, 1, help="USERHOST <nick>{ <nick>}: up to 5 nicks as nick=+user@host (- if away)"),
    "ISON": Command(cmd_ison, 1, help="ISON <nick>{ <nick>}: which of those nicks are online"),
    "PRIVMSG": Command(cmd_privmsg, help="PRIVMSG <target>{,<target>} :<text>: a message to channels or nicks (up to 4)"),
    "NOTICE": Command(cmd_privmsg, help="NOTICE <target>{,<target>} :<text>: a notice: nothing answers it automatically"),
    "TAGMSG": Command(cmd_tagmsg, 1, help="TAGMSG <target>{,<target>}: client tags alone (typing, reactions), to clients with message-tags"),
    "CHATHISTORY": Command(
        cmd_chathistory, 1,
        help="CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <msgid=…|timestamp=…|*> <limit>"
        " | BETWEEN <target> <ref> <ref> <limit>: history of a channel you are in, or of your conversation with a nick",
    ),
    "JOIN": Command(cmd_join, 1, help="JOIN <channel>{,<channel>} [<key>{,<key>}]: go in channels (JOIN 0 leaves them all)"),
    "PART": Command(cmd_part, 1, help="PART <channel>{,<channel>} [:<reason>]: leave channels"),
    "NAMES": Command(cmd_names, help="NAMES [<channel>{,<channel>}]: who is in channels (up to 4)"),
    "TOPIC": Command(cmd_topic, 1, help="TOPIC <channel> [:<topic>]: show or set a channel's topic"),
    "LIST": Command(cmd_list, help="LIST [<filter>{,<filter>}]: the channels, with their users and topics; filters: names, masks (#ch*), !mask, >n and <n users, C<n and C>n (made less, more than n minutes ago), T<n and T>n (topic)"),
    "WHO": Command(cmd_who, help="WHO <mask|channel> [%<fields>[,<token>]]: who matches (WHOX fields tcuihsnfdlaor)"),
    "WHOIS": Command(cmd_whois, 1, help="WHOIS <nick>: about someone online"),
    "WHOWAS": Command(cmd_whowas, help="WHOWAS <nick> [<count>]: IRC clients that left under that nick, newest first"),
    "AWAY": Command(cmd_away, help="AWAY [:<text>]: mark yourself away (with a text), or back (without)"),
    "SETNAME": Command(cmd_setname, 1, help="SETNAME :<realname>: change your realname (IRCv3 setname), shown by WHO and WHOIS"),
    "KICK": Command(cmd_kick, 2, help="KICK <channel> <nick>{,<nick>} [:<reason>]: put someone out of a channel (ops)"),
    "INVITE": Command(cmd_invite, help="INVITE <nick> <channel>: let someone into an invite-only channel; INVITE alone: the channels you are invited to"),
    "MODE": Command(cmd_mode, 1, help="MODE <channel> [<modes> [<args>]]: channel modes o v b i k l m t (n is always on); MODE <nick> [+i]"),
    "OPER": Command(cmd_oper, 2, help="OPER <name> <password>: become an IRC operator with the server's admin password"),
    "KILL": Command(cmd_kill, 1, help="KILL <nick> [:<reason>]: put someone out of the chat (operators)"),
    "MONITOR": Command(cmd_monitor, 1, help="MONITOR + <nick>{,<nick>} | - <nick>{,<nick>} | C | L | S: be told when nicks come online or leave"),
    "WALLOPS": Command(cmd_wallops, 1, help="WALLOPS :<text>: a message to every operator (operators)"),
    "MARKREAD": Command(cmd_markread, help="MARKREAD <target> [timestamp=<time>]: up to when you have read a channel or a conversation (draft/read-marker)"),
    "AUTHENTICATE": Command(cmd_authenticate, 1, True, help="AUTHENTICATE PLAIN: SASL login (CAP REQ sasl first)"),
}
