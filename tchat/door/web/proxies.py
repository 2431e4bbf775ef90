"""
Whom the web door believes: which browser pages may open the WebSocket
(L{OriginPolicy}, the ``Origin`` check), and which proxies may name the
client they forward for (L{TrustedProxies}, L{forwarded_client}: the
``X-Forwarded-For`` of a ``--trusted-proxy``).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable
from urllib.parse import urlsplit

from twisted.web.server import Request


DEFAULT_PORTS = {"http": 80, "https": 443}


# -- origins -----------------------------------------------------------------


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin such as ``https://chat.example.org``; None if it is not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _parse_host(value: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit("//" + value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port


class OriginPolicy:
    """
    Which browser pages may open the WebSocket.

    With no allow-list, only a page from the same host and port as the
    WebSocket request's ``Host`` (that is, a page this server served, or one
    served through a proxy that keeps ``Host``). With an allow-list, exactly
    the origins listed (``*`` allows any).
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        allowed = list(allowed)
        self.any = "*" in allowed
        self.allowed: set[tuple[str, str, int]] = set()
        for value in allowed:
            if value == "*":
                continue
            origin = parse_origin(value)
            if origin is None:
                raise ValueError(f"{value!r} is not an origin: give scheme://host[:port], like https://chat.example.org, or *")
            self.allowed.add(origin)

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True  # not a browser: the Origin check protects browsers only
        if self.any:
            return True
        parsed = parse_origin(origin)
        if parsed is None:
            return False  # "null" (sandboxed frames, file: pages) and garbage
        if self.allowed:
            return parsed in self.allowed
        if host is None:
            return False
        request_host = _parse_host(host)
        if request_host is None:
            return False
        name, port = request_host
        scheme, origin_name, origin_port = parsed
        return name == origin_name and (port or DEFAULT_PORTS[scheme]) == origin_port


# -- trusted proxies ---------------------------------------------------------


class TrustedProxies:
    """The addresses (or networks) whose ``X-Forwarded-For`` is believed; none by default."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.networks = [ipaddress.ip_network(value.strip(), strict=False) for value in values]

    def holds(self, host: str | None) -> bool:
        if not self.networks or host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def forwarded_client(request: Request, trusted: TrustedProxies, proxy: str) -> str:
    """
    The client a trusted proxy (at address ``proxy``) forwarded ``request``
    for: the right-most address of ``X-Forwarded-For`` that is not itself a
    trusted proxy (everything left of it the client could have written);
    ``proxy`` if the header is missing or holds nothing usable.
    """
    hops = []
    for value in request.requestHeaders.getRawHeaders(b"x-forwarded-for", []):
        hops += [hop.strip() for hop in value.decode("latin-1").split(",")]
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return proxy  # garbage in the chain: believe nothing left of it
        if not trusted.holds(address):
            return address
    return proxy
