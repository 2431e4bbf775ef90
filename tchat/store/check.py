"""
Checking, before the reactor starts, that the database can be used at all.

::

    twistd tchat --db URL
      └─ check_database(URL, timeout)      blocking, once, before the reactor runs
           ├─ fine: go on and start (open_store then upgrades the schema)
           └─ StoreUnavailable("cannot reach PostgreSQL at db:5432: connection refused")
                 -> shown on the terminal; twistd exits with a non-zero status

A database the server cannot use should stop it at the start, where the
person who ran it sees why, rather than let it start and fail every message
(a read-only SQLite file opens fine and only refuses the first write). In
daemon mode twistd shows only about the first 100 bytes of the reason, so
the sentence is short and the cause comes before a long path.

- SQLite: the file can be opened, in WAL mode, and written (it is created
  if missing; its folder must exist). ``memory`` needs no check.
- PostgreSQL: a connection opens and answers ``SELECT 1``.

Either way it gives up after ``timeout`` seconds.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Callable

from tchat.store.connect import DEFAULT_TIMEOUT, postgresql_settings, prepare_sqlite, probe_write
from tchat.store.txn import Txn
from tchat.store.url import MEMORY, DatabaseURL, parse_url
from tchat.store.errors import StoreUnavailable
from tchat.store.outage import postgresql_unavailable, seconds, sqlite_problem

# twistd shows about this much of the reason in daemon mode.
SHOWN = 100


def check_database(url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """
    Return if the database at ``url`` can be used; raise otherwise.

    Raises C{ValueError} for a URL that does not parse, and
    L{StoreUnavailable} for a database that cannot be used now; either's
    ``str()`` is one short sentence for the person starting tchat, with no
    password. Blocks for at most about ``timeout`` seconds; call it before
    the reactor runs, never in it.
    """
    parsed = parse_url(url)
    if parsed.engine == "sqlite":
        if parsed.target != MEMORY:
            _within(timeout, parsed, _check_sqlite, parsed, timeout)
        return
    _within(timeout, parsed, _check_postgresql, parsed, timeout)


def _within(timeout: float, url: DatabaseURL, check: Callable[..., None], *args: Any) -> None:
    # In a thread of its own, so that a hung disk or a network that drops
    # every packet cannot hold the start for longer than the timeout.
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            check(*args)
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=run, name="tchat-check-database", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        if url.engine == "postgresql":
            raise StoreUnavailable(f"cannot reach PostgreSQL at {url.place}: no answer within {seconds(timeout)}")
        raise _cannot_open(url, f"no answer within {seconds(timeout)} (a hung disk?)")
    if outcome[0] is not None:
        raise outcome[0]


def _cannot_open(url: DatabaseURL, reason: str) -> StoreUnavailable:
    sentence = f"cannot open the database {url.shown}: {reason}"
    if len(sentence) > SHOWN:
        sentence = f"cannot open the database: {reason}; it is {url.shown}"
    return StoreUnavailable(sentence)


def _check_sqlite(url: DatabaseURL, timeout: float) -> None:
    try:
        # Half the time for another program's lock, the other half for the
        # answer to come back before _within gives up on it.
        connection = sqlite3.connect(url.target, timeout=timeout / 2, isolation_level=None)
        try:
            prepare_sqlite(url.synchronous, connection)
            connection.execute("BEGIN IMMEDIATE")
            probe_write(Txn(connection.cursor(), "sqlite"))
            connection.execute("COMMIT")
        finally:
            connection.close()
    except sqlite3.Error as e:
        problem = sqlite_problem(e, url.target)
        if problem is None:
            raise _cannot_open(url, _first_line(e)) from None
        if problem.startswith("cannot be opened: "):
            reason = problem[len("cannot be opened: "):]
        else:
            reason = f"it {problem}"
        raise _cannot_open(url, reason) from None


def _check_postgresql(url: DatabaseURL, timeout: float) -> None:
    import psycopg

    try:
        with psycopg.connect(url.target, autocommit=True, **postgresql_settings(url, timeout)) as connection:
            connection.execute("SELECT set_config('statement_timeout', %s, false)", (str(int(timeout * 1000)),))
            connection.execute("SELECT 1").fetchone()
    except psycopg.Error as e:
        unavailable = postgresql_unavailable(e, url.place, timeout)
        if unavailable is not None:
            raise unavailable from None
        raise StoreUnavailable(f"cannot use PostgreSQL at {url.place}: {_first_line(e)}") from None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(error).__name__
