"""
PRIVMSG, NOTICE and TAGMSG.
"""

from __future__ import annotations

from irctokens import Line

from tchat.commands import Request
from tchat.door.irc import numerics as N
from tchat.door.irc.replies import TARGETS_MAX, is_error, numeric_for
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import strip_formatting
from tchat.events import Event


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

    return s.request("msg", {"to": target, "text": text, "kind": "notice" if notice and kind is None else kind}, answer)


def cmd_tagmsg(s: IrcSession, line: Line) -> Items | None:
    # Client-only tags (typing, reactions) are not carried to tchat's other doors.
    return None
