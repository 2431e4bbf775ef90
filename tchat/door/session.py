"""
What every door does the same way, whatever its framing.

A door's connection class mixes in L{DoorSession} and supplies five small
hooks (``write``, ``pause_reading``, ``resume_reading``, ``lose``, ``abort``);
the door holds a L{SessionTable} (every L{tchat.door.base.BaseDoor} does). In
return every door gets the same limits, so none can be used to get around
another's:

- **connections**: at most ``max_connections`` in all, ``max_per_address``
  from one host, and ``max_pending`` that have not logged in yet (so
  connections that never log in cannot take the room of those that do); one
  more is told ``server_full`` / ``too_many_connections`` / ``server_busy``,
  then ``bye``, and closed before the hub ever sees it. A door counts a
  connection from its first byte (the web door from the HTTP request, before
  any WebSocket upgrade) with an L{Admission} L{Ticket};
- **order**: requests are carried out one at a time, in order; while the hub
  waits (on the store, say) the session stops reading. Errors about what was
  sent (a malformed request, an overlong line, bad UTF-8) take their turn in
  the same queue, so every answer comes in the order of what it answers;
- **flood control**: a token bucket per session (``flood_burst`` at once, then
  ``flood_rate`` a second) that every request pays, ``pong`` and malformed
  ones included. A request over the rate waits its turn (the client is slowed
  down, nobody else is); once ``flood_queue`` requests wait, the session stops
  reading until half of them are done, so the kernel slows the sender down.
  A request that arrives anyway (what the door had already read) is refused
  with ``rate_limited``;
- **send queue**: the session registers a L{SendQueue} producer with its
  transport and learns when the transport's buffer is full; what it writes
  after that is counted (every byte a door writes, its protocol's own frames
  included: a door whose framing writes more than the events it is given,
  as the web door answers pings with pongs and sends its own pings and close
  frames, counts each write itself with L{DoorSession.count_unsent}), and
  past ``sendq`` bytes the client is told ``bye`` ("too slow"), the hub is
  told at once, and the connection is closed.
  L{DoorSession.drained} lets the hub wait until the buffer has room (to
  deliver a long backlog without overrunning it). (Reading does not stop
  while the buffer is full: TLS reports "full" while it buffers writes
  during its handshake, and a session that stopped reading then would never
  finish the handshake. The flood limit bounds what a client can ask for.);
- **timeouts**: a connection that has not logged in after ``login_timeout``
  is closed; one silent for ``idle_timeout`` is sent a ``ping``, and a JSON
  client that then stays silent for ``ping_timeout`` is dropped ("ping
  timeout") and its rooms see it part. A person in text mode is never sent
  a ping: TCP keepalive and the TCP user timeout (L{tune_socket}) find a
  peer that is gone.
- **closing**: ``bye`` then a graceful close; after ``close_grace`` seconds a
  connection that has not gone is cut.

The parts live beside this module: L{tchat.door.limits} (L{Limits}, and
``format_address``, ``awaits_proxy_header``, ``tune_socket``),
L{tchat.door.sendq} (L{SendQueue}), L{tchat.door.admission} (L{Admission},
L{Ticket}), L{tchat.door.table} (L{SessionTable}), L{tchat.door.linestream}
(L{LineStream}, for the doors that read lines off TCP).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from tchat.codec import TEXT
from tchat.commands import BadRequest, Request
from tchat.door.admission import Ticket
from tchat.door.limits import awaits_proxy_header, format_address, tune_socket
from tchat.door.sendq import SendQueue
from tchat.door.table import SessionTable
from tchat.events import Event, error_event, make_event
from tchat.throttle import refill, wait_for_token

__all__ = ["DoorSession", "LocalStep", "QueueItem"]

log = Logger()


class LocalStep:
    """
    A door's own answer to something a client sent (the IRC door's ``CAP``,
    ``MOTD``, a missing parameter), carried out in its turn in the session's
    queue and paying the flood limit like a request. ``run`` may return
    requests (or more steps) to carry out next, before anything read after it:
    an IRC line that became several requests (``JOIN #a,#b``) is answered in
    order. The first of them was paid for by the step; each further one pays.
    """

    __slots__ = ("run",)
    # What the queue's overflow answer names (it answers no request).
    id = None

    def __init__(self, run: Callable[[], "Iterable[Request | BadRequest | LocalStep] | None"]) -> None:
        self.run = run


QueueItem = Request | BadRequest | LocalStep


_NO_HOLDS: frozenset[str] = frozenset()

# What a session waits to carry out while nothing waits: one empty tuple for
# every session rather than an empty list each (56 bytes a connection, and
# most connections are idle). A list replaces it once something waits.
_NOTHING_WAITS: tuple[()] = ()


class DoorSession:
    """
    The part of a connection that is the same in every door. Subclasses call
    L{open_session} when connected, L{heard} for every line or frame that
    arrives, L{submit_text} (or L{submit}) for every request and
    L{submit_error} for what could not be read, L{session_closed} when
    disconnected; and provide the hooks below.
    """

    table: SessionTable
    ticket: Ticket
    codec: Any = None
    host = "?"
    address = "?"
    door_name = "?"
    closing = False
    ping_sent_at: float | None = None
    # True if the door's own lowest write counts every byte against the send
    # queue (L{count_unsent}), so that L{deliver} must not count it again.
    counts_own_writes = False
    # What stops it reading ("busy", "flood"), replaced whole: most sessions
    # hold nothing and share the empty frozenset.
    _holds: frozenset[str] = _NO_HOLDS
    _carrying = False
    # Items at the head of the queue already paid for (a step's first request).
    _prepaid = 0
    busy = False
    _wake: IDelayedCall | None = None
    _cut: IDelayedCall | None = None
    # The encoding the delivery may hand this session's events in, already
    # encoded and a reactor turn's worth at a time, to L{write_out}; a door
    # whose events are plain bytes in its codec sets it (None: one by one
    # through L{deliver}).
    out_codec: Any = None

    # -- hooks for the door ----------------------------------------------

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def write_now(self, data: bytes) -> None:
        """Write bytes a delivery hands over at the end of a reactor turn (a door may send them on the spot)."""
        self.write(data)

    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    def lose(self) -> None:
        """Close gracefully, after what is queued has been sent."""
        raise NotImplementedError

    def abort(self) -> None:
        """Close now, dropping what is queued."""
        raise NotImplementedError

    def must_answer_pings(self) -> bool:
        """Whether silence after a ping drops this client (programs must answer)."""
        return True

    def complete(self, request: Request) -> Request:
        """
        ``request`` as the hub is to see it, in its turn (after the answers
        to those before it): text mode fills in its current room here
        (L{tchat.door.textmode}). As it is, by default.
        """
        return request

    # -- the door calls these --------------------------------------------

    def open_session(self, table: SessionTable, host: str, address: str, transport: Any, ticket: Ticket | None = None) -> None:
        """
        Start: admit the connection (with the L{Ticket} the door already
        admitted it with, if any), tune its socket, register the send queue
        with ``transport``, and hand it to the hub.
        """
        self.table = table
        self.hub = table.hub
        self.limits = table.limits
        self.clock = table.clock
        self.host, self.address = host, address
        self.opened_at = self.last_heard = self.clock.seconds()
        self.sendq = SendQueue()
        # The flood bucket, in two attributes of the session rather than an
        # object of its own (L{tchat.throttle.TokenBucket}: 72 bytes more a
        # connection); its rate and burst are the shared limits'.
        self._tokens = float(self.limits.flood_burst)
        self._stamp = self.opened_at
        # (A list once something waits: a queue is short, at most flood_queue,
        # and an empty list is a tenth of an empty deque; until then the shared
        # empty tuple. The other state starts as the class's.)
        self._queue: list[QueueItem] | tuple[()] = _NOTHING_WAITS
        tune_socket(transport, self.limits.idle_timeout, self.limits.ping_timeout)
        transport.registerProducer(self.sendq, True)
        refused = table.admit(self, ticket, counted_later=awaits_proxy_header(transport))
        if refused is not None:
            log.info("refused {address}: {text}", address=address, text=refused[1])
            self.write(error_event(*refused).encoded(self._codec()))
            reason = {"server_full": "server full", "server_busy": "server busy"}.get(refused[0], "too many connections")
            self.close(reason)
            return
        self.hub.connect(self)

    def check_peer(self, transport: Any) -> bool:
        """
        Once the first bytes are in, ask the transport again who the peer is:
        behind a proxy speaking the PROXY protocol (``haproxy:`` endpoints)
        the real client is known only now. Counts the connection under the
        real address; False if that address is over its limit (the
        connection is then refused and closed).
        """
        host, address = format_address(transport.getPeer())
        if host == self.host and self.ticket.host is not None:
            return True
        log.info("{address} is {real}, through a proxy", address=self.address, real=address)
        self.host, self.address = host, address
        refused = self.table.admission.rehome(self.ticket, host)
        if refused is None:
            return True
        self.hub.disconnect(self, "too many connections")
        self.write(error_event(*refused).encoded(self._codec()))
        self.close("too many connections")
        return False

    def heard(self) -> None:
        """Something arrived from the client: it is alive."""
        self.last_heard = self.clock.seconds()
        if self.ping_sent_at is not None:
            # Set, not deleted: a deleted attribute makes the instance's
            # dict a dict of its own, twice the size of one sharing its keys.
            self.ping_sent_at = None

    def submit(self, request: QueueItem) -> None:
        """
        Carry out ``request`` in order, within the flood limits; a
        L{BadRequest} is answered with its error when its turn comes.
        """
        if self.closing:
            return
        if len(self._queue) >= self.limits.flood_queue:
            # The door had read this before it could stop reading.
            self.hub.metrics.rate_limited.inc()
            self.tell(error_event(
                "rate_limited", "too many commands at once; this one was dropped, slow down", re=request.id,
                action=request.action if isinstance(request, Request) else None,
            ))
            return
        self._waiting().append(request)
        if len(self._queue) >= self.limits.flood_queue:
            self._hold("flood")
        self._pump()

    def submit_next(self, items: Iterable[QueueItem]) -> None:
        """
        Carry out ``items`` before anything else waiting (a door's follow-up
        to the answer it is delivering: the IRC door asks for a room's names
        right after its join). They pay the flood limit too.
        """
        if self.closing:
            return
        self._waiting()[0:0] = list(items)
        self._pump()

    def submit_text(self, codec: Any, text: str) -> None:
        """Decode one line or frame with ``codec`` and submit it; a malformed one gets its error in turn."""
        try:
            request = codec.decode(text)
        except BadRequest as e:
            self.submit(e)
            return
        if request is not None:
            self.submit(request)

    def submit_error(self, code: str, text: str) -> None:
        """What arrived could not be read (too long, not UTF-8): answer ``code`` in turn."""
        self.submit(BadRequest(code, text))

    def count_unsent(self, size: int) -> bool:
        """
        Count ``size`` bytes about to be written while the transport's buffer
        is full. True: write them. False: they would take the backlog past
        ``sendq``, so the client has been dropped as too slow (told ``bye``,
        the hub told at once, the connection closing) and they must not be
        written. Nothing is counted while the buffer has room or once the
        session is closing (its ``bye`` and close must still go out).
        """
        sendq = self.sendq
        if not sendq.full or self.closing:
            return True
        sendq.backlog += size
        if sendq.backlog <= self.limits.sendq:
            return True
        sendq.backlog -= size  # never written: what waits stays within the limit
        log.warn("{address} is too slow to read; dropped", address=self.address)
        self.close_for("too slow: your connection did not read its messages", "too slow")
        return False

    def drained(self) -> Deferred[None]:
        """Fires once this connection's outgoing buffer has room (at once if it has, or if it is closing)."""
        if self.closing:
            return succeed(None)
        return self.sendq.drained()

    def session_closed(self) -> None:
        for call in (self._wake, self._cut):
            if call is not None and call.active():
                call.cancel()
        self.closing = True
        self._queue = _NOTHING_WAITS
        self.sendq.stopProducing()
        self.table.remove(self)
        self.hub.disconnect(self, "connection lost")

    # -- the hub calls these ---------------------------------------------

    def deliver(self, event: Event) -> None:
        if self.closing:
            return
        try:
            # The fan-out's inner loop: kept to attribute reads and one call
            # (a try costs nothing until something raises).
            data = event.encoded(self.codec or TEXT)
            if self.sendq.full and not self.counts_own_writes and not self.count_unsent(len(data)):
                return
            self.write(data)
        except Exception:
            # Delivering one event to one connection must never break the
            # caller's loop (a fan-out, a shutdown): log it and go on.
            log.failure("cannot deliver {event} to {address}", event=event.name, address=self.address)

    def tell(self, event: Event) -> None:
        """
        Send an event of the door's own (an error it answers itself, a ping)
        after everything the chat delivered to anyone so far, so that it never
        overtakes the answers to earlier requests.
        """
        self.hub.flush()
        self.deliver(event)

    def write_out(self, data: bytes) -> None:
        # A reactor turn's events, encoded with out_codec by the delivery
        # (nothing, if none of them reads as anything in that encoding).
        if self.closing or not data:
            return
        try:
            if self.sendq.full and not self.counts_own_writes and not self.count_unsent(len(data)):
                return
            self.write_now(data)
        except Exception:
            log.failure("cannot write to {address}", address=self.address)

    def close(self, reason: str, re: Any = None) -> None:
        if self.closing:
            return
        # What the chat delivered before goes out before the bye.
        self.hub.flush()
        # Closing from here on, so that the bye below is written even by a
        # door that counts its writes (count_unsent), and cannot close twice.
        self.closing = True
        self.write(make_event("bye", re=re, text=reason).encoded(self._codec()))
        self._queue = _NOTHING_WAITS
        self.lose()
        self._cut = self.clock.callLater(self.limits.close_grace, self.abort)

    def close_for(self, bye: str, part_reason: str) -> None:
        """Drop this client on the door's own account: the rooms hear ``part_reason``."""
        self.hub.metrics.dropped.labels(part_reason).inc()
        self.hub.disconnect(self, part_reason)
        self.close(bye)

    def describe(self) -> dict[str, str]:
        mode = "undecided" if self.codec is None else self.codec.name
        return {"address": self.address, "host": self.host, "door": f"{self.door_name}/{mode}"}

    # -- inside ----------------------------------------------------------

    def _codec(self) -> Any:
        return self.codec or TEXT

    def _hold(self, why: str) -> None:
        """Stop reading for ``why`` ("busy", "flood"), until L{_release}d."""
        if why not in self._holds:
            self._holds = self._holds | {why}
            if len(self._holds) == 1:
                self.pause_reading()

    def _release(self, why: str) -> None:
        if why in self._holds:
            held = self._holds - {why}
            # The one empty frozenset, not a new one per session (216 bytes each).
            self._holds = held if held else _NO_HOLDS
            if not self._holds and not self.closing:
                self.resume_reading()

    def _waiting(self) -> list[QueueItem]:
        """The queue, as a list that may grow (made on the first request to wait)."""
        queue = self._queue
        if isinstance(queue, tuple):
            queue = self._queue = []
        return queue

    def _take_token(self) -> float:
        """Take a flood token and return 0; or, if there is none, the seconds until there is."""
        now = self.clock.seconds()
        limits = self.limits
        tokens = refill(self._tokens, self._stamp, now, limits.flood_rate, limits.flood_burst)
        self._stamp = now
        if tokens >= 1:
            self._tokens = tokens - 1
            return 0.0
        self._tokens = tokens
        return wait_for_token(tokens, limits.flood_rate)

    def _pump(self) -> None:
        if self._carrying:
            # Submitted while delivering an answer (from inside hub.handle):
            # the loop below, already running, takes it in its turn.
            return
        self._carrying = True
        try:
            self._carry_out()
        finally:
            self._carrying = False  # (not del: see heard)
            if not self._queue:
                self._queue = _NOTHING_WAITS
        # Only now may reading go on: lines read meanwhile would otherwise be
        # carried out before those already waiting.
        if "flood" in self._holds and len(self._queue) <= self.limits.flood_queue // 2:
            self._release("flood")

    def _carry_out(self) -> None:
        while self._queue and not self.busy and not self.closing:
            if self._prepaid:
                self._prepaid -= 1
                wait = 0.0
            else:
                wait = self._take_token()
            if wait > 0:
                if self._wake is None or not self._wake.active():
                    self._wake = self.clock.callLater(wait, self._pump)
                return
            # (The loop's test made sure the queue holds something: a list.)
            item = self._queue.pop(0)
            if isinstance(item, LocalStep):
                follow = list(item.run() or ())
                if follow:
                    self._waiting()[0:0] = follow
                    self._prepaid = 1
                continue
            if isinstance(item, BadRequest):
                self.tell(error_event(item.code, item.text, re=item.id))
                continue
            done = self.hub.handle(self, self.complete(item))
            if not done.called:
                self.busy = True
                self._hold("busy")
                done.addBoth(self._request_done)
            elif self.ticket.pending:
                self._logged_in_yet()

    def _request_done(self, _: Any) -> None:
        self.busy = False
        self._logged_in_yet()
        if not self.closing:
            self._release("busy")
            self._pump()

    def _logged_in_yet(self) -> None:
        if self.ticket.pending and self.hub.signed_in(self):
            self.ticket.logged_in()
