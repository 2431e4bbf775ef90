"""
Connection counts shared by the doors: in all, per address, and not yet
logged in (L{Admission}); one connection's place in them (L{Ticket}).
"""

from __future__ import annotations

from tchat.door.limits import Limits

__all__ = ["Admission", "Ticket"]


class Ticket:
    """
    One admitted connection's place in the L{Admission} counts. It is
    ``pending`` until the connection logs in; L{release} gives the place
    back (once, however often it is called).
    """

    __slots__ = ("admission", "host", "pending", "released")

    def __init__(self, admission: "Admission", host: str | None) -> None:
        self.admission = admission
        self.host = host
        self.pending = True
        self.released = False

    def logged_in(self) -> None:
        """The connection logged in: it no longer counts against ``max_pending``."""
        if self.pending and not self.released:
            self.pending = False
            self.admission.pending -= 1

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.admission._release(self)


class Admission:
    """
    Connections counted in all, per address, and not yet logged in, across
    every door that shares this object: one address may hold
    ``max_per_address`` connections whether they come in over TCP, TLS,
    HTTP or WebSocket.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.pending = 0
        self.per_host: dict[str, int] = {}

    def admit(self, host: str | None) -> Ticket | tuple[str, str]:
        """
        Count one more from ``host``: its L{Ticket}; or, over a limit, the
        error (code, text) to refuse it with. ``host`` None: not known yet
        (behind a PROXY-protocol proxy, until its header comes); counted in
        all now, and per address at L{rehome}.
        """
        if self.total >= self.limits.max_connections:
            return "server_full", f"the server has {self.limits.max_connections} connections, its most; try again later"
        count = self.per_host.get(host, 0) if host is not None else 0
        if count >= self.limits.max_per_address:
            return "too_many_connections", f"{host} has {count} connections open, the most allowed"
        if self.pending >= self.limits.max_pending:
            return "server_busy", "too many connections are logging in at the moment; try again in a few seconds"
        self.total += 1
        self.pending += 1
        if host is not None:
            self.per_host[host] = count + 1
        return Ticket(self, host)

    def rehome(self, ticket: Ticket, host: str) -> tuple[str, str] | None:
        """
        The connection turned out to come from ``host`` (a proxy's PROXY
        header named the real client): count it there. Returns the refusal
        (code, text) if ``host`` already has as many connections as it may;
        the ticket is then released.
        """
        if ticket.released or host == ticket.host:
            return None
        if ticket.host is not None:
            left = self.per_host[ticket.host] - 1
            if left:
                self.per_host[ticket.host] = left
            else:
                del self.per_host[ticket.host]
        ticket.host = host
        count = self.per_host.get(host, 0)
        self.per_host[host] = count + 1
        if count >= self.limits.max_per_address:
            ticket.release()
            return "too_many_connections", f"{host} has {count} connections open, the most allowed"
        return None

    def _release(self, ticket: Ticket) -> None:
        self.total -= 1
        if ticket.pending:
            self.pending -= 1
        if ticket.host is None:
            return
        left = self.per_host[ticket.host] - 1
        if left:
            self.per_host[ticket.host] = left
        else:
            del self.per_host[ticket.host]
