"""One transaction as the store's work functions see it, with ``?`` placeholders on both engines."""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

from tchat.store.url import Engine

__all__ = ["Txn", "placeholders", "to_format_style"]


@functools.lru_cache(maxsize=2048)
def to_format_style(sql: str) -> str:
    """
    Translate a ``?``-placeholder query into psycopg's ``%s`` style.

    A literal ``%`` (``LIKE 'a%'``) becomes ``%%``. Queries must not hold ``?``
    inside string literals; none of tchat's do. Cached, so each distinct query
    is translated once.
    """
    return sql.replace("%", "%%").replace("?", "%s")


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (…)`` list or a VALUES row of ``count`` items."""
    return ", ".join("?" * count)


class Txn:
    """
    One transaction, as the work functions see it (in a pool thread).

    A thin layer over the adbapi cursor that takes ``?`` queries on both
    engines. Work functions must not commit or roll back: L{Database.run}
    does, by whether they return or raise.
    """

    def __init__(self, cursor: Any, engine: Engine) -> None:
        self._cursor = cursor
        self.engine = engine
        self._translate: Callable[[str], str] = to_format_style if engine == "postgresql" else _same

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        # Params are always passed, even empty, so psycopg always reads %% as %.
        self._cursor.execute(self._translate(sql), tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.execute(sql, params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return [tuple(row) for row in self._cursor.fetchall()]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


def _same(sql: str) -> str:
    return sql
