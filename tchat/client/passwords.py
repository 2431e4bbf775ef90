"""
Passwords in tchat-client: which typed lines hold one, and which login
errors ask for one.

A typed ``/login``, ``/register``, ``/passwd``, ``/admin`` or ``/account
create|reset`` carries a password (L{SECRET_ACTIONS}). L{holds_password}
tells a front-end to keep such a line out of its history, and
L{secret_start} where the password in it starts, so the terminal draws that
part as ``*`` (even while it is still being typed). Commands are matched as
L{tchat.commands.parse_text} matches them, in any of their spellings.

L{PASSWORD_CODES} are the login refusals about the password rather than the
name: L{tchat.client.connection.ChatClient} asks its display for a password
on those (L{tchat.client.frontend.Display.ask_password}).
"""

from __future__ import annotations

from tchat.commands import TEXT_WORDS, Command, TextForm

# The login errors that are about the password, not the name: the display is
# asked for a password (again) rather than for another name.
PASSWORD_CODES = frozenset({"password_required", "bad_password", "rate_limited"})

# Typed commands that hold a password, and how many plain words (a NAME)
# come between the command and the password; the password runs to the end
# of the line (for /passwd, OLD and NEW are one word each, or in quotes).
SECRET_ACTIONS = {"login": 1, "register": 0, "admin": 0, "passwd": 0, "account_create": 1, "account_reset": 1}


def _word(line: str, start: int) -> tuple[str, int]:
    """The word in ``line`` from ``start`` on, after spaces, and where it ends."""
    i = start
    while i < len(line) and line[i] == " ":
        i += 1
    end = line.find(" ", i)
    end = len(line) if end < 0 else end
    return line[i:end], end


def _command_at(line: str) -> tuple[Command, TextForm, int] | None:
    """
    The command a typed line names (matched as L{parse_text} matches it),
    its form, and where in ``line`` its arguments start; None for a line
    that is not a known command.
    """
    if not line.startswith("/") or line.startswith("//"):
        return None
    end = line.find(" ", 1)
    end = len(line) if end < 0 else end
    first = line[1:end].strip().lower()
    second, after_second = _word(line, end)
    two = TEXT_WORDS.get(f"{first} {second.lower()}")
    if two is not None:
        return two[0], two[1], after_second
    one = TEXT_WORDS.get(first)
    return (one[0], one[1], end) if one is not None else None


def holds_password(line: str) -> bool:
    """
    Whether a typed line is a command that carries a password (``/login``,
    ``/register``, ``/passwd``, ``/admin``, ``/account create|reset``, in any
    of their spellings): a front-end keeps such lines out of its history.
    """
    found = _command_at(line)
    return found is not None and found[0].action in SECRET_ACTIONS


def secret_start(line: str) -> int | None:
    """
    Where the password in a typed line (maybe still being typed) starts:
    everything from there to the end is secret. None when the line holds
    no password (yet).
    """
    found = _command_at(line)
    if found is None or found[0].action not in SECRET_ACTIONS:
        return None
    i = found[2]
    for _ in range(SECRET_ACTIONS[found[0].action]):
        _, i = _word(line, i)
        if i >= len(line):
            return None  # the name is still being typed
    while i < len(line) and line[i] == " ":
        i += 1
    return i
