"""
What IRC clients say of themselves and the chat does not keep: the username
and realname of ``USER``, per nick, for WHO, WHOX, WHOIS and extended-join;
and, once they leave, WHOWAS.

tchat's users have a name and nothing else, so this is the door's own
memory of its own clients: a user of another door (or of this door on
another node) is shown with their name as username and realname, and WHOWAS
knows the IRC clients that left through this door only (the most recent
L{Idents.KEEP}, newest first).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tchat.door.irc.wire import strip_formatting
from tchat.names import clean_text, name_key

if TYPE_CHECKING:
    from tchat.door.irc.session import IrcSession

USER_LEN = 10
REAL_LEN = 100
# Characters a username cannot hold: they would break a nick!user@host mask.
_NOT_IN_USERNAME = set(" !@*?:,#")


def username_of(given: str) -> str:
    """USER's username as shown: printable, no mask characters, at most L{USER_LEN} characters ("" if none is left)."""
    return "".join(c for c in given if c.isprintable() and c not in _NOT_IN_USERNAME)[:USER_LEN]


def realname_of(given: str) -> str:
    """USER's realname as shown: formatting and control characters removed, at most L{REAL_LEN} characters."""
    return clean_text(strip_formatting(given)).strip()[:REAL_LEN]


@dataclass(frozen=True)
class Was:
    """One IRC client that left: for WHOWAS."""

    nick: str
    username: str
    realname: str
    left: float


class Idents:
    """The door's registered IRC clients by nick, with what USER said, and the ones that left."""

    KEEP = 200

    def __init__(self) -> None:
        # The newest session of a name last: it is the one shown.
        self._by_key: dict[str, list[IrcSession]] = {}
        self._gone: deque[Was] = deque(maxlen=self.KEEP)

    def add(self, session: IrcSession) -> None:
        self._by_key.setdefault(name_key(session.nick), []).append(session)

    def _drop(self, key: str, session: IrcSession) -> bool:
        sessions = self._by_key.get(key) or []
        if session not in sessions:
            return False
        sessions.remove(session)
        if not sessions:
            del self._by_key[key]
        return True

    def renamed(self, session: IrcSession, old: str) -> None:
        if self._drop(name_key(old), session):
            self.add(session)

    def remove(self, session: IrcSession, when: float) -> None:
        key = name_key(session.nick)
        if self._drop(key, session) and key not in self._by_key:
            self._gone.appendleft(Was(session.nick, *self.of(session.nick, session), when))

    def of(self, nick: str, session: IrcSession | None = None) -> tuple[str, str]:
        """``(username, realname)`` of ``nick``; its name for both when no client of this door gave them."""
        if session is None:
            sessions = self._by_key.get(name_key(nick))
            session = sessions[-1] if sessions else None
        if session is None:
            return nick, nick
        return session.username or nick, session.realname or nick

    def oper(self, nick: str) -> bool:
        """Whether a client of this door made ``nick`` an operator (OPER): an admin of another door is not known here."""
        return any(session.oper for session in self._by_key.get(name_key(nick)) or ())

    def bot(self, nick: str) -> bool:
        """Whether a client of this door under ``nick`` marked itself a bot (user mode B)."""
        return any(session.bot for session in self._by_key.get(name_key(nick)) or ())

    def invisible(self, nick: str) -> bool:
        """Whether a client of this door under ``nick`` set user mode i (WHO of a mask does not show it)."""
        return any(session.invisible for session in self._by_key.get(name_key(nick)) or ())

    def was(self, nick: str) -> list[Was]:
        key = name_key(nick)
        return [w for w in self._gone if name_key(w.nick) == key]
