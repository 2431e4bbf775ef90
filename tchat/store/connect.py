"""
Opening each engine: the pool for a database URL, with the settings every
SQLite or PostgreSQL connection gets (see L{tchat.store.db} for why).
"""

from __future__ import annotations

import functools
import math
import sqlite3
from typing import Any, Callable

from tchat.store.errors import StoreUnavailable
from tchat.store.outage import connect_timeout, postgresql_unavailable, sqlite_unavailable
from tchat.store.pool import Pool
from tchat.store.txn import Txn
from tchat.store.url import URL_HELP, DatabaseURL

__all__ = [
    "DEFAULT_TIMEOUT", "SQLITE_MINIMUM", "make_pool", "postgresql_settings", "prepare_sqlite", "probe_write",
    "sqlite_busy_timeout", "unavailable_for",
]

# RETURNING (3.35) is used for group commit.
SQLITE_MINIMUM = (3, 35, 0)

DEFAULT_TIMEOUT = 10.0


def prepare_sqlite(synchronous: str, connection: sqlite3.Connection) -> None:
    # Run once per connection, outside any transaction (PRAGMAs that change
    # the journal or foreign keys are ignored inside one).
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
    connection.execute("PRAGMA foreign_keys=ON")


def _prepare_postgresql(timeout_ms: int, connection: Any) -> None:
    # Server-side bounds, once per connection: a statement that runs (or
    # waits for a lock) longer than the store waits for it is cancelled,
    # and a transaction left open by a client that vanished mid-way (frozen
    # network) is ended, releasing its locks for the other tchat nodes.
    # set_config, because SET takes no parameters.
    connection.execute(
        "SELECT set_config('statement_timeout', %s, false),"
        " set_config('idle_in_transaction_session_timeout', %s, false)",
        (str(timeout_ms), str(timeout_ms)),
    )
    connection.commit()


def probe_write(txn: Txn) -> None:
    """
    Really write to a SQLite database, changing nothing: ``BEGIN IMMEDIATE``
    succeeds on a read-only file, a write does not.
    """
    version = int(txn.value("PRAGMA user_version"))
    txn.execute(f"PRAGMA user_version = {version}")


def sqlite_busy_timeout(timeout: float) -> float:
    """
    How long a SQLite write waits for another program's lock: a little under
    the store timeout, so the caller hears "locked by another program" rather
    than the vaguer "did not answer", and the one connection is free again.
    """
    return timeout * 0.9


def postgresql_settings(url: DatabaseURL, timeout: float) -> dict[str, Any]:
    """
    The libpq parameters that bound how long a connection can hang, for a
    store timeout; any the URL sets itself are left to the URL.
    """
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = conninfo_to_dict(url.target)
    except psycopg.Error:
        # libpq's message may quote the URL, password and all.
        raise ValueError(f"bad PostgreSQL URL {url.shown!r}: libpq cannot read it; {URL_HELP}") from None
    wanted: dict[str, Any] = {
        "connect_timeout": connect_timeout(timeout),
        # A dead peer on an idle connection is noticed after about
        # idle + interval * count seconds.
        "keepalives": 1,
        "keepalives_idle": max(1, math.ceil(timeout)),
        "keepalives_interval": max(1, math.ceil(timeout / 3)),
        "keepalives_count": 3,
        # Data sent and not acknowledged for this long: the connection is dead.
        "tcp_user_timeout": max(1, math.ceil(timeout * 1000)),
    }
    return {name: value for name, value in wanted.items() if name not in given}


def unavailable_for(url: DatabaseURL, timeout: float) -> Callable[[BaseException], StoreUnavailable | None]:
    """The function that tells which driver errors of ``url``'s engine mean "unavailable"."""
    if url.engine == "sqlite":
        return functools.partial(sqlite_unavailable, path=url.place)
    return functools.partial(postgresql_unavailable, where=url.place, timeout=timeout)


def make_pool(url: DatabaseURL, reactor: Any, pool_size: int = 4, timeout: float = DEFAULT_TIMEOUT) -> Pool:
    """
    A L{Pool} for ``url``. It connects lazily, in its own thread, once the
    reactor runs.
    """
    unavailable = unavailable_for(url, timeout)
    if url.engine == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise RuntimeError(
                f"tchat needs SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or newer;"
                f" this Python has {sqlite3.sqlite_version}"
            )
        return Pool(
            "sqlite3",
            url.target,
            unavailable=unavailable,
            # The pool opens the connection in its thread but closes it
            # from the reactor thread (Pool.finalClose), which sqlite3's
            # same-thread check would refuse. It is only ever used by one
            # thread at a time.
            check_same_thread=False,
            isolation_level=None,
            timeout=sqlite_busy_timeout(timeout),
            cp_min=1,
            cp_max=1,
            cp_noisy=False,
            cp_openfun=functools.partial(prepare_sqlite, url.synchronous),
            cp_reactor=reactor,
        )
    return Pool(
        "psycopg",
        url.target,
        unavailable=unavailable,
        **postgresql_settings(url, timeout),
        cp_min=1,
        cp_max=pool_size,
        cp_noisy=False,
        cp_openfun=functools.partial(_prepare_postgresql, max(1, math.ceil(timeout * 1000))),
        cp_reactor=reactor,
    )
