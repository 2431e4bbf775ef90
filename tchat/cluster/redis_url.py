"""The bus's URL: ``redis://`` or ``rediss://`` (TLS), read and checked (L{parse_bus_url})."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_PORT", "hostport", "parse_bus_url"]

DEFAULT_PORT = 6379


def parse_bus_url(url: str) -> tuple[str, int, int, str | None, str | None, bool]:
    """
    ``redis://[[user]:password@]host[:port][/db]`` (or ``rediss://`` for
    TLS) as ``(host, port, db, password, username, tls)``; user and password
    are percent-decoded. Raises C{ValueError} saying what is wrong (never
    quoting the password) for anything else.
    """
    if not isinstance(url, str):
        raise ValueError(f"the bus URL must be text, not {type(url).__name__}")
    scheme, _, rest = url.partition("://")
    if not _ or scheme.lower() not in ("redis", "rediss"):
        raise ValueError("the bus URL must start with redis:// or rediss:// (TLS), as in redis://127.0.0.1:6379/0")
    tls = scheme.lower() == "rediss"
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ValueError(f"the bus URL cannot be read: {e}") from None
    if parts.query or parts.fragment or "?" in rest or "#" in rest:
        raise ValueError("the bus URL takes no ?query or #fragment (percent-encode such characters in a password)")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not hostport:
        raise ValueError("the bus URL names no host: redis://host[:port][/db]")
    username: str | None = None
    password: str | None = None
    if at:
        user, colon, secret = userinfo.partition(":")
        if not colon:
            raise ValueError("the bus URL has a user but no password: write redis://user:password@host or redis://:password@host")
        if not secret:
            raise ValueError("the bus URL has an empty password")
        username, password = (unquote(user) or None), unquote(secret)
    host = parts.hostname
    if not host:
        raise ValueError("the bus URL names no host: redis://host[:port][/db]")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the port of the bus URL is not a number from 1 to 65535 (in {hostport!r})") from None
    if port is None:
        if hostport.endswith(":"):
            raise ValueError("the bus URL has an empty port")
        port = DEFAULT_PORT
    if port == 0:
        raise ValueError("the port of the bus URL is not a number from 1 to 65535 (it is 0)")
    path = parts.path
    if path in ("", "/"):
        db = 0
    elif path[1:].isascii() and path[1:].isdigit():
        db = int(path[1:])
    else:
        raise ValueError(f"the database of the bus URL must be a number, as in redis://host:6379/0 (not {path!r})")
    return host, port, db, password, username, tls


def hostport(host: str, port: int) -> str:
    """``host:port`` (``[host]:port`` for IPv6), what messages show of the URL: never its user or password."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
