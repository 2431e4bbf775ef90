"""
IRCv3 ``labeled-response`` (with ``batch``), and tags added to a session's
own lines (``server-time`` on every line).

A client line with a ``label`` tag is a *labelled command*: what the door
writes while it handles it (its handler's numerics, the answers to the hub
requests it made, and to those those answers made in turn, such as the
NAMES after a JOIN) is held back until the last of them is answered, then
sent with the label: one line carries the tag itself, several go in a
``labeled-response`` batch (``BATCH +id labeled-response`` … ``BATCH -id``),
none is an ``ACK``. Events that answer nothing (someone else's message)
are never held or labelled. A request's answer is tied to its label by the
request's id, so an answer that comes later (a message's ``ok`` once the
store has it) is still labelled.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from irctokens import Line

from tchat.door.session import LocalStep, QueueItem

if TYPE_CHECKING:
    from tchat.door.irc.session import IrcSession

# Longer labels are not answered with a label (the spec's limit).
LABEL_MAX = 64

_batch_ids = itertools.count(1)


@dataclass(eq=False)
class Label:
    """One labelled command under way: its label, what it still waits for, what it wrote."""

    label: str
    waiting: set[Any] = field(default_factory=set)
    out: list[bytes] = field(default_factory=list)
    done: bool = False


def tag_bytes(tags: dict[str, str]) -> bytes:
    """``tags`` as a line's tag part, escaped, without ``@`` and the space."""
    formatted = Line(tags, None, "X", []).format()
    return formatted[1 : formatted.rindex(" ")].encode("utf-8")


def add_tags(data: bytes, tags: dict[str, str], keep: bool = True) -> bytes:
    """
    Each of ``data``'s lines with ``tags`` added: in front of the tags it
    has, or as its tags. With ``keep``, a tag the line has already (a
    shared event's ``time``) is left as it is.
    """
    if not tags or not data:
        return data
    out: list[bytes] = []
    for line in data.split(b"\r\n")[:-1]:
        if line.startswith(b"@"):
            head, _, rest = line.partition(b" ")
            have = {part.split(b"=", 1)[0] for part in head[1:].split(b";")}
            extra = {k: v for k, v in tags.items() if not (keep and k.encode() in have)}
            line = (b"@" + tag_bytes(extra) + b";" + head[1:] + b" " + rest) if extra else line
        else:
            line = b"@" + tag_bytes(tags) + b" " + line
        out.append(line + b"\r\n")
    return b"".join(out)


def label_of(s: "IrcSession", line: Line) -> str | None:
    """The label of a client line, if the session may be answered with one."""
    if "labeled-response" not in s.caps or not line.tags:
        return None
    label = line.tags.get("label")
    if not label or len(label.encode("utf-8")) > LABEL_MAX:
        return None
    return label


def run_line(s: "IrcSession", line: Line) -> Iterable[QueueItem] | None:
    """Carry out one client line in its turn; a labelled one's output is held for its label."""
    from tchat.door.irc.commands import dispatch

    label = label_of(s, line)
    if label is None:
        return dispatch(s, line)
    current = Label(label)
    with s.labelling(current):
        items = list(dispatch(s, line) or ())
    items = [_labelled_step(s, current, item) if isinstance(item, LocalStep) else item for item in items]
    finish_if_done(s, current)
    return items


def _labelled_step(s: "IrcSession", label: Label, step: LocalStep) -> LocalStep:
    """A step a labelled command left for later (a refusal in its turn): its lines are the label's too."""
    token = object()
    label.waiting.add(token)

    def run() -> Iterable[QueueItem] | None:
        with s.labelling(label):
            result = step.run()
        label.waiting.discard(token)
        finish_if_done(s, label)
        return result

    return LocalStep(run)


def finish_if_done(s: "IrcSession", label: Label) -> None:
    """Once a labelled command waits for nothing more, send what it wrote, labelled."""
    if label.done or label.waiting:
        return
    label.done = True
    with s.labelling(None):
        _send(s, label)


def _send(s: "IrcSession", label: Label) -> None:
    data = b"".join(label.out)
    lines = data.count(b"\r\n")
    if lines == 0:
        s.send(add_tags(_server_line(s, "ACK"), {"label": label.label}))
    elif lines == 1 or "batch" not in s.caps:
        s.send(add_tags(data, {"label": label.label}))
    else:
        ref = f"L{next(_batch_ids)}"
        s.send(add_tags(_server_line(s, "BATCH", "+" + ref, "labeled-response"), {"label": label.label}))
        s.send(add_tags(data, {"batch": ref}))
        s.send(_server_line(s, "BATCH", "-" + ref))


def _server_line(s: "IrcSession", command: str, *params: str) -> bytes:
    # Words, not a text: no ":" before the last (BATCH +id labeled-response).
    return (Line(None, s.server, command, list(params)).format() + "\r\n").encode("utf-8")
