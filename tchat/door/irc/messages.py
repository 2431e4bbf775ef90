"""
PRIVMSG, NOTICE and TAGMSG, with the client tags (IRCv3 message-tags) the
hub can carry: ``+name`` tags, to clients with message-tags only.
"""

from __future__ import annotations

from irctokens import Line

from tchat.commands import Request
from tchat.commands.values import parse_tags
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
    tags = client_tags(s, line)
    items: Items = []
    for target in line.params[0].split(",")[:TARGETS_MAX]:
        if target:
            items.append(message_request(s, target, text, kind, notice, tags))
    return items


def client_tags(s: IrcSession, line: Line) -> dict[str, str] | None:
    """The client-only tags (``+name``) of a line from a client with message-tags, if tchat can carry them; else None."""
    if "message-tags" not in s.caps or not line.tags:
        return None
    wanted = {name: value or "" for name, value in line.tags.items() if name.startswith("+")}
    if not wanted:
        return None
    try:
        return parse_tags(wanted)
    except ValueError:
        return None  # tags a server cannot carry are dropped, the message goes


def message_error(s: IrcSession, e: Event, target: str, command: str) -> None:
    """The numeric for a message the hub refused."""
    code = e.get("code")
    if target.startswith("#"):
        if code in ("not_in_room", "banned"):
            s.numeric(N.ERR_CANNOTSENDTOCHAN, target, e.get("text") or "Cannot send to channel")
        elif code in ("no_such_room", "bad_name"):
            s.numeric(N.ERR_NOSUCHCHANNEL, target, e.get("text") or "No such channel")
        else:
            numeric_for(s, e, command, channel=target)
    elif code in ("no_such_user", "bad_name"):
        s.numeric(N.ERR_NOSUCHNICK, target, e.get("text") or "No such nick")
    else:
        numeric_for(s, e, command, nick=target)


def status_target(target: str) -> tuple[str, str | None]:
    """
    A STATUSMSG target (``@#room``: its ops; ``+#room``: its voiced users and
    ops) as the room and the hub's ``only``; any other target as it is, None.
    """
    prefix = target[: len(target) - len(target.lstrip("@+"))]
    if not prefix or not target[len(prefix):].startswith("#"):
        return target, None
    # The lowest rank named is who gets it (+@#room: the voiced too).
    return target[len(prefix):], "voice" if "+" in prefix else "op"


def message_request(
    s: IrcSession, target: str, text: str, kind: str | None, notice: bool, tags: dict[str, str] | None = None
) -> Request:
    command = "NOTICE" if notice else "PRIVMSG"
    room, only = status_target(target)
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
            if not notice:  # NOTICE never gets an error back
                message_error(s, e, room, command)
            return
        if "echo-message" in s.caps:
            echoed = Event("message", {
                "msgid": e.get("msgid"), "ts": e.get("ts"), "from": s.nick, "to": target, "text": text,
                "registered": bool(s.account), "tags": tags,
            })
            s.send(s.profile.message_lines(echoed, s.nick, target, text, kind, command))
        if e.get("away") and not notice:
            s.numeric(N.RPL_AWAY, target, e["away"])

    kind = "notice" if notice and kind is None else kind
    return s.request("msg", {"to": room, "text": text, "kind": kind, "tags": tags, "only": only}, answer)


def cmd_tagmsg(s: IrcSession, line: Line) -> Items | None:
    """Client tags alone (typing, reactions): to IRC clients with message-tags; other doors show nothing of them."""
    tags = client_tags(s, line)
    if tags is None:
        return None  # nothing tchat can carry
    items: Items = []
    for target in line.params[0].split(",")[:TARGETS_MAX]:
        if target:
            items.append(tagmsg_request(s, target, tags))
    return items


def tagmsg_request(s: IrcSession, target: str, tags: dict[str, str]) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            message_error(s, e, target, "TAGMSG")
        elif "echo-message" in s.caps:
            echoed = Event("tagmsg", {
                "msgid": e.get("msgid"), "ts": e.get("ts"), "from": s.nick, "to": target, "tags": tags,
                "registered": bool(s.account),
            })
            s.send(s.profile.encode(echoed))

    return s.request("tagmsg", {"to": target, "tags": tags}, answer)
