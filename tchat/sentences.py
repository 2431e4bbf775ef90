"""
What an answer says in words, made from its typed fields.

The rules answer with what happened (``ok`` with ``action``, ``room``,
``user`` …); the sentence for a person is made here, once per event, by the
codecs: text mode shows it as ``*** …`` (L{tchat.codec.TextCodec}) and JSON
mode sends it as the ``text`` field the protocol documents
(L{tchat.codec.JSONCodec}), so both say the same words. A ``text`` the rules
give themselves (a warning that a change was made but not kept, say) stands
instead of the sentence.

Not every ``ok`` is here yet: the IRC door reads the ``text`` of some
answers itself (of ``op``, ``voice`` and their undoing), and those, with
``mode`` (its letters are the room settings'), are still worded by the
rules.
"""

from __future__ import annotations

from typing import Callable

from tchat.errors import counted
from tchat.events import Event

__all__ = ["OK_SENTENCES", "ok_text"]


def _join(e: Event) -> str:
    if e.get("again"):
        return f"you are in {e['room']}"
    topic = f"; topic: {e['topic']}" if e.get("topic") else ""
    return f"you joined {e['room']}; in it: {', '.join(e.get('users') or ())}{topic}"


def _for_now(e: Event) -> str:
    return " for now" if e.get("until") else ""


def _kick(e: Event) -> str:
    # Without a room: an admin's /kick NAME, the server-wide kill.
    return f"{e['user']} is out of {e['room']}" if e.get("room") else f"kicked {e['user']}"


OK_SENTENCES: dict[str, Callable[[Event], str]] = {
    "join": _join,
    "part": lambda e: f"you left {e['room']}",
    "topic": lambda e: f"topic of {e['room']} set",
    "kick": _kick,
    "kill": lambda e: f"kicked {e['user']}",
    "ban": lambda e: f"{e['user']} is banned from {e['room']}{_for_now(e)}",
    "unban": lambda e: f"{e['user']} may join {e['room']} again",
    "mute": lambda e: f"{e['user']} is muted in {e['room']}{_for_now(e)}",
    "unmute": lambda e: f"{e['user']} may speak in {e['room']} again",
    "invite": lambda e: f"invited {e['user']} to {e['room']}",
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


def ok_text(e: Event) -> str | None:
    """The words of an ``ok``: the rules' own ``text`` if it has one, else its action's sentence, else None."""
    text = e.get("text")
    if text:
        return str(text)
    sentence = OK_SENTENCES.get(e.get("action") or "")
    if sentence is None:
        return None
    try:
        return sentence(e)
    except (KeyError, TypeError):
        # An answer without the fields its sentence needs says nothing rather than break its delivery.
        return None
