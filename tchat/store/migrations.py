"""
Schema versions: bringing a database made by an older tchat up to date.

Each engine has a folder of numbered upgrades, ``schema/<engine>/NNN_name.sql``
(``sqlite`` and ``postgresql``), numbered 1, 2, 3… with no gaps. The
``schema_version`` table records each upgrade applied (version, name, when).
At start-up L{upgrade}:

1. creates ``schema_version`` if it is missing (a new, empty database);
2. reads the highest version applied; if it is higher than any this code
   knows, refuses with L{SchemaTooNew} rather than touch a newer schema;
3. applies each missing upgrade in order, each in its own transaction
   together with its ``schema_version`` row, so an upgrade is either wholly
   there or not at all, and a failed one leaves the database at the version
   before it.

Two processes starting at once on the same database (the server and
``tchat-admin``) do not both apply an upgrade: each upgrade transaction first
takes a lock (SQLite's write lock via ``BEGIN IMMEDIATE``; a PostgreSQL
advisory lock) and then reads the version again.

An upgrade file is plain SQL; each statement ends with ``;`` at the end of a
line, and ``--`` comments are allowed. Data already in the database is kept:
an upgrade adds tables, columns and indexes, and moves data when it must.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

from twisted.logger import Logger

from tchat.store.db import Database
from tchat.store.txn import Txn
from tchat.store.url import Engine
from tchat.store.errors import SchemaTooNew

log = Logger()

_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Any constant will do; it only has to be the same in every tchat process.
_PG_UPGRADE_LOCK = 0x7463686174  # "tchat"

_VERSION_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)",
}


@dataclass(frozen=True)
class Upgrade:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """The statements of an upgrade file: ``--`` comments removed, split at a ``;`` ending a line."""
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    statements, current = [], []
    for line in lines:
        if not line.strip():
            continue
        current.append(line)
        if line.endswith(";"):
            statements.append("\n".join(current)[:-1].strip())
            current = []
    if current:
        statements.append("\n".join(current).strip())
    return tuple(s for s in statements if s)


def upgrades(engine: Engine) -> list[Upgrade]:
    """Every upgrade shipped for ``engine``, in order. Raises if the numbering has a gap."""
    folder = resources.files("tchat.store") / "schema" / engine
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Upgrade(int(match.group(1)), match.group(2), split_statements(entry.read_text("utf-8"))))
    found.sort(key=lambda u: u.version)
    numbers = [u.version for u in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"the {engine} upgrades are not numbered 1, 2, 3…: {numbers}")
    return found


def latest_version(engine: Engine) -> int:
    """The schema version this code brings a database to."""
    return len(upgrades(engine))


def _lock(txn: Txn) -> None:
    if txn.engine == "postgresql":
        # Held to the end of the transaction; SQLite's BEGIN IMMEDIATE already
        # holds the database's write lock.
        txn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_UPGRADE_LOCK,))


def _current(txn: Txn) -> int:
    return int(txn.value("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


def _prepare(txn: Txn) -> int:
    _lock(txn)
    txn.execute(_VERSION_TABLE[txn.engine])
    return _current(txn)


def _apply(txn: Txn, upgrade: Upgrade, applied: float) -> bool:
    if txn.engine == "postgresql":
        # An upgrade may build an index over a big table: the chat's
        # statement_timeout is not meant for it (Database.run_upgrade bounds it).
        txn.execute("SET LOCAL statement_timeout = 0")
    _lock(txn)
    if _current(txn) >= upgrade.version:
        return False  # another process got there first
    for statement in upgrade.statements:
        txn.execute(statement)
    txn.execute(
        "INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)",
        (upgrade.version, upgrade.name, applied),
    )
    return True


async def current_version(db: Database) -> int:
    """The highest schema version applied to ``db`` (0 for an empty database)."""
    return await db.run_write(_prepare)


async def upgrade(db: Database, up_to: int | None = None) -> int:
    """
    Apply the missing upgrades (all of them, or those up to ``up_to``) and
    return the version the database is at.
    """
    shipped = upgrades(db.engine)
    known = len(shipped)
    version = await db.run_write(_prepare)
    if version > known:
        raise SchemaTooNew(version, known)
    target = known if up_to is None else min(up_to, known)
    for step in shipped[version:target]:
        if await db.run_upgrade(_apply, step, time.time()):
            log.info(
                "upgraded the database {url} to schema version {version} ({name})",
                url=db.url.shown, version=step.version, name=step.name,
            )
        version = step.version
    return version
