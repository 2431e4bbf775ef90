"""
The limits every door shares, and the small things every door does with a
peer's socket: name its address, see whether a PROXY header is still to
come, set its TCP options.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IAddress

__all__ = ["Limits", "awaits_proxy_header", "format_address", "tune_socket"]


@dataclass
class Limits:
    """What one connection may cost the server; the same for every door."""

    max_line: int = 4096
    # Bytes queued for a client beyond what its transport buffers (64 KiB)
    # before it is dropped as too slow.
    sendq: int = 1 << 20
    # Seconds a closing connection gets to take its last lines before it is cut.
    close_grace: float = 5.0
    flood_rate: float = 5.0
    flood_burst: int = 20
    flood_queue: int = 50
    max_connections: int = 10_000
    max_per_address: int = 20
    # Connections that have not logged in yet, in all (a WebSocket and the
    # HTTP request that carried it count too).
    max_pending: int = 1_000
    login_timeout: float = 60.0
    idle_timeout: float = 180.0
    ping_timeout: float = 60.0


def format_address(address: IAddress) -> tuple[str, str]:
    """``(host, "host:port")`` of a peer, for logs and ``/debug``."""
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None:
        return str(address), str(address)
    return host, (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


def awaits_proxy_header(transport: Any) -> bool:
    """
    Whether ``transport`` comes through Twisted's PROXY-protocol wrapper
    (a ``haproxy:`` endpoint), whose peer is the proxy until the header has
    come. (The wrapper's class is in a private module; its public face is
    the endpoint.)
    """
    try:
        from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper
    except ImportError:  # pragma: no cover
        return False
    for _ in range(3):  # the wrapper may be under TLS
        if isinstance(transport, HAProxyProtocolWrapper):
            return getattr(transport, "_proxyInfo", None) is None
        transport = getattr(transport, "transport", None)
    return False


def tune_socket(transport: Any, idle_timeout: float, ping_timeout: float) -> None:
    """
    Set the TCP options every connection gets, where the socket takes them:
    no Nagle delay (chat lines are small and wanted now; with a client that
    delays its ACKs, Nagle held lines back by tens of milliseconds);
    keepalive probes after ``idle_timeout`` of silence, three of them within
    ``ping_timeout``, so that a quiet peer that is gone (a laptop shut, a
    network lost) is found without sending a person protocol lines; and a
    TCP user timeout, so that a peer that stops acknowledging what it is
    sent is dropped by the kernel after ``ping_timeout``.
    """
    handle = getattr(transport, "getHandle", None)
    sock = handle() if handle else None
    if not isinstance(sock, socket.socket) or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(ping_timeout * 1000))
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(idle_timeout)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, int(ping_timeout / 3)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    except OSError:
        pass  # not every socket takes these; the ping timeout still holds for programs
