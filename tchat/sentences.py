"""
What an event says in words, made from its typed fields.

The rules say what happened (``ok`` with ``action``, ``room``, ``user`` …;
``whois`` with ``online``, ``rooms`` …); the sentence for a person is made
here, once per event, by the codecs: text mode shows it as ``*** …``
(L{tchat.codec.TextCodec}) and JSON mode sends it as the ``text`` field the
protocol documents (L{tchat.codec.JSONCodec}), so both say the same words,
and a door that needs a sentence (the IRC door's 401 for someone offline)
asks L{event_text} rather than the rules. A door that needs to know what
happened reads the typed fields (``already`` of an ``op``'s ``ok``), never
the words.

Worded here: the ``ok`` of every action in L{OK_SENTENCES}, and the events
in L{EVENT_SENTENCES} (``welcome``; the answers to reading a ``topic`` or a
room's ``mode``, to ``whois`` and to ``help``). A ``topic`` or ``mode`` that
announces a change to a room is no answer (it has no ``action``) and has no
sentence: text mode words it from its fields (L{tchat.codec}).

Still worded by the rules, and given as ``text``: a warning that a change
was made but not kept across restarts (it stands instead of the sentence),
the ``notice``, ``shutdown`` and ``bye`` texts, and the ``text`` of every
error (L{tchat.errors.ChatError}): its ``code`` is the typed part a program
reads, and the text says what was wrong with this very request (the name,
the limit, the usage), which only the place that raises it knows.
"""

from __future__ import annotations

from typing import Callable

from tchat.errors import counted
from tchat.events import Event

__all__ = ["EVENT_SENTENCES", "OK_SENTENCES", "WORDED", "event_text", "ok_text"]


def _join(e: Event) -> str:
    if e.get("again"):
        return f"you are in {e['room']}"
    topic = f"; topic: {e['topic']}" if e.get("topic") else ""
    return f"you joined {e['room']}; in it: {', '.join(e.get('users') or ())}{topic}"


def _for_now(e: Event) -> str:
    return " for now" if e.get("until") else ""


def _msg(e: Event) -> str | None:
    # Only a private message has its ``to`` in the ok (not one to oneself); a room's says nothing.
    to = e.get("to")
    if not to:
        return None
    if e.get("queued"):
        return f"{to} is offline; they will get it when they log in"
    return f"sent to {to}" + (f"; they are away: {e['away']}" if e.get("away") else "")


def _kick(e: Event) -> str:
    # Without a room: an admin's /kick NAME, the server-wide kill.
    return f"{e['user']} is out of {e['room']}" if e.get("room") else f"kicked {e['user']}"


def _rank(now: str, already: str) -> Callable[[Event], str]:
    """The ``ok`` of op, deop, voice or devoice: the change made now, or ``already: true`` when there was none to make."""
    return lambda e: (already if e.get("already") else now).format(user=e["user"], room=e["room"])


def _modes(e: Event) -> str:
    return f"modes of {e['room']}: {e['letters']}"


OK_SENTENCES: dict[str, Callable[[Event], str | None]] = {
    "join": _join,
    "msg": _msg,
    "part": lambda e: f"you left {e['room']}",
    "topic": lambda e: f"topic of {e['room']} set",
    "kick": _kick,
    "kill": lambda e: f"kicked {e['user']}",
    "ban": lambda e: f"{e['user']} is banned from {e['room']}{_for_now(e)}",
    "unban": lambda e: f"{e['user']} may join {e['room']} again",
    "mute": lambda e: f"{e['user']} is muted in {e['room']}{_for_now(e)}",
    "unmute": lambda e: f"{e['user']} may speak in {e['room']} again",
    "invite": lambda e: f"invited {e['user']} to {e['room']}",
    "op": _rank("{user} is an operator of {room} now", "{user} is an operator in {room}"),
    "deop": _rank("{user} is no operator of {room} now", "{user} is not an operator in {room}"),
    "voice": _rank("{user} may speak in {room} now", "{user} is voiced in {room}"),
    "devoice": _rank("{user} has no voice in {room} now", "{user} is not voiced in {room}"),
    "mode": _modes,
    "nick": lambda e: f"you are {e['user']} {'already' if e.get('old') == e['user'] else 'now'}",
    "contact_add": lambda e: f"{e['user']} is in your contacts",
    "contact_del": lambda e: f"{e['user']} is no longer in your contacts",
    "away": lambda e: f"you are away: {e['away']}" if e.get("away") else "you are back",
    "register": lambda e: f"{e['user']} is registered; from now on log in with /login {e['user']} PASSWORD",
    "passwd": lambda e: "your password is changed",
    "admin": lambda e: "you are an admin now: /kill, /shutdown, /debug",
    "wallops": lambda e: f"sent to {counted(e.get('sent', 0), 'admin connection')}",
    "shutdown": lambda e: f"shutting down in {e.get('delay', 0)} s",
    "account_create": lambda e: f"account {e['user']} created",
    "account_delete": lambda e: f"account {e['user']} deleted",
    "account_reset": lambda e: f"new password set for {e['user']}",
}


def _welcome(e: Event) -> str:
    return f"Welcome to {e['server']} {e['version']}. Type a name to log in (or /help)."


def _topic(e: Event) -> str | None:
    # Only the answer to reading it; the announcement of a new topic is worded by text mode alone.
    if not e.get("action"):
        return None
    return f"topic of {e['room']}: {e['topic']}" if e.get("topic") else f"{e['room']} has no topic"


def _mode(e: Event) -> str | None:
    return _modes(e) if e.get("action") else None


def _whois(e: Event) -> str:
    if not e.get("online"):
        return f"{e['user']} is registered and not online"
    text = f"{e['user']}: {'registered' if e.get('registered') else 'guest'}, in {', '.join(e.get('rooms') or ()) or 'no room'}"
    return text + f"; away: {e['away']}" if e.get("away") else text


def _help(e: Event) -> str | None:
    # The whole list ends with how plain lines work; help about one ``command`` says only that command's.
    return None if e.get("command") else "A plain line goes to your current room; start it with // to send a line beginning with /."


EVENT_SENTENCES: dict[str, Callable[[Event], str | None]] = {
    "welcome": _welcome,
    "topic": _topic,
    "mode": _mode,
    "whois": _whois,
    "help": _help,
}

# The events whose words may be made here (the codecs add nothing to the others).
WORDED = frozenset({"ok", *EVENT_SENTENCES})


def event_text(e: Event) -> str | None:
    """
    The words of any event: the ``text`` it carries (the rules' own: a
    warning, a notice, an error's; or the data of a ``message`` or ``away``)
    if it has one, else the sentence made from its fields, else None.
    """
    if e.name == "ok":
        return ok_text(e)
    return _said(e, EVENT_SENTENCES.get(e.name))


def ok_text(e: Event) -> str | None:
    """The words of an ``ok``: the rules' own ``text`` if it has one, else its action's sentence, else None."""
    return _said(e, OK_SENTENCES.get(e.get("action") or ""))


def _said(e: Event, sentence: Callable[[Event], str | None] | None) -> str | None:
    text = e.get("text")
    if text:
        return str(text)
    if sentence is None:
        return None
    try:
        return sentence(e)
    except (KeyError, TypeError):
        # An event without the fields its sentence needs says nothing rather than break its delivery.
        return None
