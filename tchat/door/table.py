"""A door's open sessions: admitted within the limits, swept for timeouts."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from tchat.chat import Hub
from tchat.door.admission import Admission, Ticket
from tchat.door.limits import Limits
from tchat.events import make_event

if TYPE_CHECKING:
    from tchat.door.session import DoorSession

__all__ = ["SessionTable"]


class SessionTable:
    """
    A door's open sessions: admits them within the connection limits (an
    L{Admission} the doors may share), sweeps them for timeouts, and tells
    the service when all are gone.
    """

    def __init__(self, hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission | None = None) -> None:
        self.hub = hub
        self.limits = limits
        self.clock = clock
        self.admission = admission if admission is not None else Admission(limits)
        self.sessions: set[DoorSession] = set()
        self._all_gone: list[Deferred[None]] = []
        self._tokens = itertools.count(1)
        self._sweeper = LoopingCall(self.sweep)
        self._sweeper.clock = clock

    def start(self) -> None:
        """Start sweeping for timeouts (the service calls this)."""
        if not self._sweeper.running:
            every = min(self.limits.login_timeout, self.limits.idle_timeout, self.limits.ping_timeout) / 4
            self._sweeper.start(max(every, 0.05), now=False)

    def stop(self) -> None:
        if self._sweeper.running:
            self._sweeper.stop()

    def admit(self, session: "DoorSession", ticket: Ticket | None = None, counted_later: bool = False) -> tuple[str, str] | None:
        """
        Add ``session``, with the L{Ticket} its connection was admitted with
        (the web door admits the HTTP connection before the upgrade) or a new
        one; or, over a limit, return the error (code, text) to refuse it with.
        """
        if ticket is None:
            admitted = self.admission.admit(None if counted_later else session.host)
            if not isinstance(admitted, Ticket):
                return admitted
            ticket = admitted
        session.ticket = ticket
        self.sessions.add(session)
        return None

    def remove(self, session: "DoorSession") -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        session.ticket.release()
        if not self.sessions:
            waiting, self._all_gone = self._all_gone, []
            for d in waiting:
                d.callback(None)

    def wait_closed(self) -> Deferred[None]:
        """Fires once every session has disconnected."""
        if not self.sessions:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._all_gone.append(d)
        return d

    def sweep(self) -> None:
        """Close sessions that never logged in; ping the silent; drop the unanswering."""
        now = self.clock.seconds()
        limits = self.limits
        for session in list(self.sessions):
            if session.closing:
                continue
            if (
                now - session.opened_at >= limits.login_timeout
                and not self.hub.signed_in(session)
                # A login in progress (waiting its turn for a password hash,
                # say) is not cut: time queued is not the client's fault.
                and not session.busy
            ):
                session.close_for("login timeout: log in within %d seconds of connecting" % limits.login_timeout, "login timeout")
            elif not session.must_answer_pings():
                # A person (text mode, or not yet decided) is not sent
                # protocol lines: TCP keepalive finds a peer that is gone.
                continue
            elif session.ping_sent_at is not None:
                if now - session.ping_sent_at >= limits.ping_timeout:
                    session.close_for("ping timeout: no answer to the server's ping", "ping timeout")
            elif now - session.last_heard >= limits.idle_timeout:
                session.ping_sent_at = now
                session.tell(make_event("ping", token=str(next(self._tokens))))
