"""
IRCv3 ``draft/chathistory``: ``CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN``
read from the store through the hub's ``history`` request, so an IRC client
reads exactly what ``/history`` shows (a room's members; a private
conversation by its registered parties: L{tchat.chat.history}).

Each subcommand is one ``history`` request::

    LATEST  #room *          {}                           the newest N
    LATEST  #room REF        {"after": REF}               the newest N after REF
    BEFORE  #room REF        {"before": REF}              the newest N before REF
    AFTER   #room REF        {"after": REF, "end": "oldest"}   the oldest N after REF
    AROUND  #room REF        {"around": REF}              N // 2 before, the rest from REF on
    BETWEEN #room A B        {"after": A, "before": B, "end": "oldest"}
                             (the store reads A later than B the other way round: from A back)

A reference is ``msgid=…`` (a msgid, looked up in that conversation) or
``timestamp=…`` (server-time's form, a Unix time to the hub, compared to the
millisecond). The answer is a ``chathistory`` batch (lines without one for
a client without ``batch``) of PRIVMSGs with the sender's prefix and the
tags the client's profile has (``time``, ``msgid``, ``account``), as stored;
a client without ``server-time`` sees when each was sent in its text.
Errors are standard replies: ``FAIL CHATHISTORY INVALID_PARAMS`` (the line),
``INVALID_TARGET`` (no such room, not a member, not a registered pair),
``MESSAGE_ERROR`` (an unknown msgid, the store not answering).

``TARGETS`` is not offered: the store keeps private messages under the pair
of names, with no index that lists one user's conversations, so it would
read every one of them.
"""

from __future__ import annotations

import calendar
import itertools
import re
from datetime import datetime
from typing import Any

from irctokens import Line

from tchat.door.irc import numerics as N
from tchat.door.irc.labels import add_tags
from tchat.door.irc.replies import is_error
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import encode
from tchat.events import Event

CAP = "draft/chathistory"
# At most this many messages a command (ISUPPORT CHATHISTORY): the hub's page.
CHATHISTORY_MAX = 200
SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN")
# The hub's codes that mean "not yours to read" (or nothing there).
_NOT_YOURS = frozenset({"not_allowed", "not_in_room", "not_registered", "no_such_user", "no_such_room", "bad_name"})

_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z", re.ASCII)
_batch_ids = itertools.count(1)

Ref = str | float


class _Refused(Exception):
    """A line to answer with ``FAIL CHATHISTORY INVALID_PARAMS``: its parameters and description."""

    def __init__(self, *params: str) -> None:
        super().__init__(params[-1])
        self.params = params


def isupport(s: IrcSession) -> list[str]:
    """The ISUPPORT tokens of chathistory, when there is a store to read."""
    if s.hub.store is None:
        return []
    return [f"CHATHISTORY={CHATHISTORY_MAX}", "MSGREFTYPES=msgid,timestamp"]


def parse_timestamp(text: str) -> float:
    """``2019-01-04T14:33:26.123Z`` as a Unix time; C{ValueError} if it is not one."""
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    # datetime checks the ranges (no 31 February, no hour 24).
    moment = datetime(year, month, day, hour, minute, second)
    fraction = found.group(7) or ""
    # One division of whole numbers: the float nearest the time written, the
    # very float a page's bound in the store is (see L{millisecond}).
    scale = 10 ** len(fraction)
    return (calendar.timegm(moment.timetuple()) * scale + int(fraction or 0)) / scale


def parse_ref(sub: str, text: str) -> Ref:
    """A message reference: ``msgid=…`` (a string) or ``timestamp=…`` (a Unix time)."""
    kind, eq, value = text.partition("=")
    if eq and kind == "msgid" and value:
        return value
    if eq and kind == "timestamp":
        try:
            return parse_timestamp(value)
        except ValueError:
            raise _Refused(sub, text, "Invalid timestamp: timestamp=YYYY-MM-DDThh:mm:ss.sssZ") from None
    raise _Refused(sub, text, "Invalid message reference: msgid=<msgid> or timestamp=YYYY-MM-DDThh:mm:ss.sssZ")


def _parse(line: Line) -> tuple[str, str, dict[str, Any]]:
    """The subcommand, the target and the hub's ``history`` arguments of a CHATHISTORY line."""
    params = line.params
    sub = params[0].upper()
    if sub == "TARGETS":
        raise _Refused(sub, "CHATHISTORY TARGETS is not supported by this server")
    if sub not in SUBCOMMANDS:
        raise _Refused(params[0], "Unknown command")
    wanted = 5 if sub == "BETWEEN" else 4
    if len(params) < wanted:
        raise _Refused(sub, "Insufficient parameters")
    if len(params) > wanted:
        raise _Refused(sub, "Too many parameters")
    target, limit_text = params[1], params[-1]
    if not target:
        raise _Refused(sub, "Insufficient parameters")
    if not (limit_text.isascii() and limit_text.isdigit()) or int(limit_text) < 1:
        raise _Refused(sub, limit_text, "Invalid limit: a number of messages, at least 1")
    args: dict[str, Any] = {"target": target, "limit": min(int(limit_text), CHATHISTORY_MAX)}
    if sub == "LATEST":
        if params[2] != "*":
            args["after"] = parse_ref(sub, params[2])
    elif sub == "BEFORE":
        args["before"] = parse_ref(sub, params[2])
    elif sub == "AFTER":
        args.update(after=parse_ref(sub, params[2]), end="oldest")
    elif sub == "AROUND":
        args["around"] = parse_ref(sub, params[2])
    else:
        args.update(after=parse_ref(sub, params[2]), before=parse_ref(sub, params[3]), end="oldest")
    return sub, target, args


def fail(s: IrcSession, code: str, *params: str) -> None:
    s.send(encode("FAIL", ["CHATHISTORY", code, *params], s.server))


def cmd_chathistory(s: IrcSession, line: Line) -> Items | None:
    if s.hub.store is None:
        # Not offered (no cap, no ISUPPORT): as any command this server lacks.
        s.numeric(N.ERR_UNKNOWNCOMMAND, line.command, "Unknown command: this server keeps no history")
        return None
    try:
        sub, target, args = _parse(line)
    except _Refused as e:
        fail(s, "INVALID_PARAMS", *e.params)
        return None

    def answer(e: Event) -> None:
        if is_error(e):
            code, text = e.get("code"), e.get("text") or "Messages could not be retrieved"
            if code in _NOT_YOURS:
                fail(s, "INVALID_TARGET", sub, target, text)
            elif code == "no_such_message":
                fail(s, "MESSAGE_ERROR", sub, target, text)
            elif code == "bad_request":
                fail(s, "INVALID_PARAMS", sub, text)
            else:
                fail(s, "MESSAGE_ERROR", sub, target, text)
            return
        # A channel by its name as the hub writes it; a nick as asked for (the
        # client's query window, and what irctest expects of a nick in other case).
        named = (e.get("target") or target) if target.startswith("#") else target
        send_batch(s, named, e.get("messages") or [])

    return [s.request("history", args, answer)]


def send_batch(s: IrcSession, target: str, messages: list[dict[str, Any]]) -> None:
    """The messages as a ``chathistory`` batch (as plain lines without ``batch``), oldest first."""
    batch = "batch" in s.caps
    ref = f"H{next(_batch_ids)}"
    if batch:
        s.send(encode("BATCH", ["+" + ref, "chathistory", target], s.server))
    for message in messages:
        fields = dict(message)
        if not s.profile.with_time:
            # Without server-time the text says when (as for a delayed message).
            fields["delayed"] = True
        event = Event("message", fields)
        kind = "action" if message.get("kind") == "action" else None
        data = s.profile.message_lines(event, message["from"], message["to"], message["text"], kind)
        s.send(add_tags(data, {"batch": ref}) if batch else data)
    if batch:
        s.send(encode("BATCH", ["-" + ref], s.server))
