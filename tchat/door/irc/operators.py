"""
IRC operators are tchat's admins: OPER proves the admin password (the
hub's ``admin``), KILL is the hub's ``kill``, WALLOPS the hub's ``wallops``
(to every admin connected to this node: operators only, whatever user mode
``w``); and INFO.

tchat has one admin password and no operator names, so OPER's name is not
checked: any name with the admin password makes the connection an admin
(user mode ``o``); a wrong password is 464, a server without an admin
password 491.
"""

from __future__ import annotations

from irctokens import Line

from tchat import __version__
from tchat.door.irc import numerics as N
from tchat.door.irc.replies import is_error, numeric_for
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import strip_formatting
from tchat.events import Event


def cmd_oper(s: IrcSession, line: Line) -> Items | None:
    password = line.params[1]

    def answer(e: Event) -> None:
        if is_error(e):
            code = e.get("code")
            if code == "bad_password":
                s.numeric(N.ERR_PASSWDMISMATCH, e.get("text") or "Password incorrect")
            elif code == "not_allowed":
                s.numeric(N.ERR_NOOPERHOST, e.get("text") or "No O-lines for your host")
            else:
                numeric_for(s, e, "OPER")
            return
        s.numeric(N.RPL_YOUREOPER, "You are now an IRC operator (a tchat admin)")
        if not s.oper:
            s.oper = True
            s.line("MODE", s.nick, "+o", source=s.nick)

    return [s.request("admin", {"password": password}, answer)]


def cmd_kill(s: IrcSession, line: Line) -> Items | None:
    nick = line.params[0]
    reason = strip_formatting(line.params[1]) if len(line.params) > 1 and line.params[1] else None

    def answer(e: Event) -> None:
        if is_error(e):
            if e.get("code") == "not_allowed":
                s.numeric(N.ERR_NOPRIVILEGES, e.get("text") or "Permission Denied- You're not an IRC operator")
            elif e.get("code") == "no_such_user":
                s.numeric(N.ERR_NOSUCHNICK, nick, e.get("text") or "No such nick")
            else:
                numeric_for(s, e, "KILL", nick=nick)

    return [s.request("kill", {"user": nick, "reason": reason}, answer)]


def cmd_wallops(s: IrcSession, line: Line) -> Items | None:
    text = strip_formatting(line.params[0])

    def answer(e: Event) -> None:
        if is_error(e):
            if e.get("code") == "not_allowed":
                s.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
            else:
                numeric_for(s, e, "WALLOPS")

    return [s.request("wallops", {"text": text}, answer)]


def cmd_info(s: IrcSession, line: Line) -> Items | None:
    for text in (
        f"tchat {__version__}: a chat server for terminals, browsers, JSON programs and IRC clients",
        "This is its IRC door; docs/irc.rst says what it supports.",
    ):
        s.numeric(N.RPL_INFO, text)
    s.numeric(N.RPL_ENDOFINFO, "End of INFO list")
    return None
