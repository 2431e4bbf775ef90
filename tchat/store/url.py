"""
Database URLs (the ``--db`` option): which engine, where, and the form that
may be shown (with any password hidden).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

__all__ = ["DEFAULT_SQLITE_PATH", "MEMORY", "URL_HELP", "DatabaseURL", "Engine", "parse_url"]

Engine = Literal["sqlite", "postgresql"]

DEFAULT_SQLITE_PATH = "tchat.db"
MEMORY = ":memory:"
_SYNCHRONOUS = ("normal", "full")

URL_HELP = (
    "use sqlite:PATH (default sqlite:tchat.db), memory,"
    " or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"
)


@dataclass(frozen=True)
class DatabaseURL:
    """
    A parsed ``--db`` URL.

    ``target`` is the SQLite path (or ``:memory:``) or the libpq conninfo URI.
    ``shown`` is the URL with any password replaced by ``***``: the only form
    that may appear in a log line or an error message. ``place`` says where
    the data is, for sentences: the SQLite path, or PostgreSQL's
    ``host:port``.
    """

    engine: Engine
    target: str = field(repr=False)
    shown: str
    synchronous: str = "normal"
    place: str = ""

    def __str__(self) -> str:
        return self.shown


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_url(url: str) -> DatabaseURL:
    """
    Parse a database URL, or raise C{ValueError} with a sentence saying why.

    - ``sqlite:PATH``: a file (relative to the working directory; default
      ``tchat.db``); ``sqlite:///abs/path`` also works. ``?synchronous=full``
      makes commits survive power loss too, at a cost per commit.
    - ``memory``: a throwaway SQLite database that lives as long as the store.
    - ``postgresql://…`` or ``postgres://…``: a libpq URI, passed to psycopg.

    Safe to call from an options parser: it opens nothing.
    """
    url = url.strip()
    if url in ("memory", "sqlite::memory:"):
        return DatabaseURL("sqlite", MEMORY, "memory", place=MEMORY)
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:"):]
        synchronous = "normal"
        if "?" in rest:
            rest, query = rest.split("?", 1)
            options = parse_qs(query, keep_blank_values=True)
            unknown = set(options) - {"synchronous"}
            if unknown:
                raise ValueError(
                    f"unknown option {sorted(unknown)[0]!r} in database URL {url!r}:"
                    " the only SQLite option is synchronous=normal|full"
                )
            synchronous = options["synchronous"][-1].lower()
            if synchronous not in _SYNCHRONOUS:
                raise ValueError(f"synchronous must be normal or full in database URL {url!r}")
        if rest.startswith("//"):
            rest = rest[2:]
        path = rest or DEFAULT_SQLITE_PATH
        return DatabaseURL("sqlite", path, f"sqlite:{path}", synchronous, place=path)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(url)
            parts.port  # raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"bad PostgreSQL URL {_redact_loose(url)!r}; {URL_HELP}") from None
        return DatabaseURL("postgresql", url, _redact(url), place=_host_and_port(parts))
    raise ValueError(f"unknown database URL {_redact_loose(url)!r}; {URL_HELP}")


def _host_and_port(parts: Any) -> str:
    query = parse_qs(parts.query)
    host = parts.hostname or query.get("host", [""])[-1] or "localhost"
    if host.startswith("/"):
        return host  # a Unix socket folder
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or query.get("port", ["5432"])[-1]
    return f"{host}:{port}"


def _redact_loose(url: str) -> str:
    """Hide what may be a password in a URL too broken to parse."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url
