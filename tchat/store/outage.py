"""
Which driver errors mean "the database cannot be used just now", and how to say so.

A store call that fails because of the database itself (it did not answer in
time, the connection dropped, the file is locked, read-only or on a full
disk) fails with L{StoreUnavailable}, whose message names the cause in plain
words for the person who sent the message or tried to log in::

    sqlite3.OperationalError("database is locked")
        -> "the database file /var/lib/tchat/tchat.db is locked by another program"
    psycopg.OperationalError("connection failed: … Connection refused …")
        -> "cannot reach PostgreSQL at db.example:5432: connection refused"
    psycopg.errors.QueryCanceled (statement_timeout)
        -> "the database did not answer within 10 s"

Every other error (a unique violation the store turns into
L{tchat.store.errors.NameRegistered}, a bug in a query) is left alone. No
sentence ever holds SQL or a password: SQLite's are built from its result
code, PostgreSQL's from its SQLSTATE or from the first line of libpq's
message about the connection (host, port, user and database names at most).

L{sqlite_problem} may look at the file system to tell "the folder does not
exist" from "the folder is read-only"; call it in a pool thread, never in
the reactor thread.
"""

from __future__ import annotations

import math
import os
import sqlite3
import sys
import tempfile

from tchat.store.errors import StoreUnavailable

# SQLite primary result codes (extended codes carry them in the low byte).
_BUSY, _LOCKED, _NOMEM, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _PROTOCOL, _NOTADB = (
    5, 6, 7, 8, 10, 11, 13, 14, 15, 26,
)


def seconds(value: float) -> str:
    """``10`` -> ``"10 s"``, ``0.25`` -> ``"0.25 s"``."""
    return f"{value:g} s"


def timed_out(timeout: float) -> StoreUnavailable:
    """The error of a call that was not answered within ``timeout`` seconds."""
    return StoreUnavailable(f"the database did not answer within {seconds(timeout)}")


# -- SQLite ------------------------------------------------------------------------


def sqlite_problem(error: BaseException, path: str) -> str | None:
    """
    What is wrong with the SQLite database at ``path``, as the end of a
    sentence whose subject is the file (``"is read-only"``), or None if
    ``error`` is not about the database being unusable.
    """
    if not isinstance(error, sqlite3.Error):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in (_BUSY, _LOCKED, _PROTOCOL):
        return "is locked by another program"
    if primary == _READONLY:
        return "is read-only"
    if primary == _IOERR:
        return "cannot be read or written (disk I/O error)"
    if primary == _FULL:
        return "cannot grow: the disk is full"
    if primary in (_CORRUPT, _NOTADB):
        return "is damaged, or is not a SQLite database"
    if primary == _CANTOPEN:
        return _why_not_opened(path)
    if primary == _NOMEM:
        return "cannot be used: out of memory"
    return None


def _why_not_opened(path: str) -> str:
    # SQLite only says "unable to open database file"; the usual causes are
    # a missing folder and a folder where it cannot create the -wal and
    # -shm files of WAL mode. (As root, os.access says yes to everything, so
    # try for real.)
    if path == ":memory:":
        return "cannot be opened"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"cannot be opened: the folder {folder} does not exist"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return f"cannot be opened: its folder {folder} is read-only (SQLite creates its -wal and -shm files there)"
    return "cannot be opened"


def sqlite_unavailable(error: BaseException, path: str) -> StoreUnavailable | None:
    """L{StoreUnavailable} for a driver error that means the file cannot be used now, else None."""
    problem = sqlite_problem(error, path)
    if problem is None:
        return None
    what = "the in-memory database" if path == ":memory:" else f"the database file {path}"
    if problem == "is read-only":
        problem += " (tchat must be able to write it, and to create files in its folder)"
    return StoreUnavailable(f"{what} {problem}")


# -- PostgreSQL -------------------------------------------------------------------


def postgresql_unavailable(error: BaseException, where: str, timeout: float) -> StoreUnavailable | None:
    """
    L{StoreUnavailable} for a psycopg error that means PostgreSQL (at
    ``where``, ``host:port``) cannot be used now, else None.
    """
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(error, psycopg.Error):
        return None
    sentence = _by_sqlstate(error.sqlstate or "", where, timeout)
    if sentence is None and isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        sentence = connection_problem(_first_line(error), where, timeout)
    return None if sentence is None else StoreUnavailable(sentence)


def _by_sqlstate(state: str, where: str, timeout: float) -> str | None:
    if state == "57014":  # query_canceled: statement_timeout
        return timed_out(timeout).reason
    if state in ("57P01", "57P02"):  # admin_shutdown, crash_shutdown
        return f"PostgreSQL at {where} is shutting down"
    if state == "57P03":  # cannot_connect_now
        return f"PostgreSQL at {where} is starting up or shutting down"
    if state == "53300":
        return f"PostgreSQL at {where} has too many connections"
    if state == "53100":
        return f"PostgreSQL at {where} is out of disk space"
    if state == "53200":
        return f"PostgreSQL at {where} is out of memory"
    if state == "25006":  # read_only_sql_transaction: a standby
        return f"PostgreSQL at {where} only allows reading (is it a standby?)"
    if state.startswith("08"):
        return f"lost the connection to PostgreSQL at {where}"
    if state.startswith("58"):
        return f"PostgreSQL at {where} failed (a system error on its side)"
    return None


_LOST = (
    "connection is lost", "connection is closed", "server closed the connection", "consuming input failed",
    "terminating connection", "eof detected", "ssl syscall error", "connection reset", "broken pipe",
    "sending query failed", "could not receive data", "could not send data",
)


def connection_problem(message: str, where: str, timeout: float) -> str:
    """A sentence for libpq's message about a connection that failed or was lost."""
    lowered = message.lower()
    if "connection refused" in lowered:
        return f"cannot reach PostgreSQL at {where}: connection refused"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"cannot reach PostgreSQL at {where}: no answer within {seconds(timeout)}"
    if "resolve host" in lowered or "translate host name" in lowered:
        return f"cannot reach PostgreSQL at {where}: unknown host name"
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return f"cannot reach PostgreSQL at {where}: no route to that host"
    if any(words in lowered for words in _LOST):
        return f"lost the connection to PostgreSQL at {where}"
    if "fatal:" in lowered:
        # The server refused us: 'database "x" does not exist', 'password
        # authentication failed for user "tchat"', …
        said = message[lowered.index("fatal:") + len("fatal:"):].strip()
        return f"PostgreSQL at {where} refused the connection: {said}"
    return f"PostgreSQL at {where} cannot be used just now: {message}"


def _first_line(error: BaseException) -> str:
    # Only the first line: later ones may quote a statement ("LINE 1: …").
    text = str(error).strip().splitlines()
    line = " ".join(text[0].split()) if text else type(error).__name__
    if line.startswith("connection failed: "):
        line = line[len("connection failed: "):]
    return line[:300]


def connect_timeout(timeout: float) -> int:
    """libpq's ``connect_timeout`` for a store timeout: whole seconds, at least 2 (libpq's least)."""
    return max(2, math.ceil(timeout))
