"""
HTTP connections to the web door, within their limits: L{HTTPLimits} (the
numbers), L{WebChannel} (one connection: admitted in the shared
L{Admission}, a deadline for each request's headers, no request body ever
read, pipelined requests answered only while the send buffer has room, a cap
of requests per connection), L{WebRequest}, and L{WebSite}, whose access log
is held to a rate (L{LogBudget}).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.http import Request as HTTPRequest
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tchat.door.admission import Ticket
from tchat.door.limits import awaits_proxy_header, tune_socket
from tchat.throttle import TokenBucket
from tchat.door.web.files import SECURITY_HEADERS, SERVER_HEADER

if TYPE_CHECKING:
    from tchat.door.web.door import WebDoor

# The web door's one log namespace, whichever of its modules writes.
log = Logger(namespace="tchat.door.web")


@dataclass(frozen=True)
class HTTPLimits:
    """
    What one HTTP connection to the web door may cost, on top of the shared
    L{Limits} (which count HTTP connections too, from the moment they open).
    """

    # Seconds for a request line and all its headers to arrive, counted from
    # the connection's opening or the end of the previous response; unlike
    # twisted.web's idle timeout, no byte that arrives puts it off.
    header_timeout: float = 10.0
    # Requests answered on one connection; the last says Connection: close.
    max_requests: int = 100
    # twisted.web's own timeout: a connection that sends nothing for this
    # long is closed (a WebSocket is not affected: it leaves the channel).
    idle_timeout: float = 60.0
    # Lines of the access log (and notes on refused or timed-out
    # connections), over all connections together: at once, then a second.
    log_burst: int = 100
    log_rate: float = 10.0


_REASONS = {
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    503: b"Service Unavailable",
}


def plain_response(code: int, text: str, headers: dict[bytes, bytes] | None = None) -> bytes:
    """A whole HTTP/1.1 response with a one-line text body, the security headers and ``Connection: close``."""
    body = text.encode("utf-8") + b"\n"
    fields = {
        b"content-type": b"text/plain; charset=utf-8",
        b"content-length": b"%d" % len(body),
        b"connection": b"close",
        b"server": SERVER_HEADER,
        **SECURITY_HEADERS,
        **(headers or {}),
    }
    head = b"HTTP/1.1 %d %s\r\n" % (code, _REASONS[code])
    return head + b"".join(name + b": " + value + b"\r\n" for name, value in fields.items()) + b"\r\n" + body


class LogBudget:
    """
    The lines the web door may log: ``burst`` at once, then ``rate`` a second,
    for all connections together, so that no client can fill the disk or
    take the reactor's time with log lines. Lines left out are counted; the
    count is logged before the next line that is let through, and at stop.
    """

    def __init__(self, rate: float, burst: int, clock: IReactorTime) -> None:
        self.rate = rate
        self.bucket = TokenBucket(rate, burst, clock)
        self.skipped = 0

    def allow(self) -> bool:
        """Whether one more line may be written now (if not, it is counted)."""
        if self.bucket.take() > 0:
            self.skipped += 1
            return False
        self.flush()
        return True

    def note(self, format: str, **fields: Any) -> None:
        """Log ``format`` at info level, if the budget allows."""
        if self.allow():
            log.info(format, **fields)

    def flush(self) -> None:
        """Log how many lines were left out since the last time, if any."""
        if self.skipped:
            count, self.skipped = self.skipped, 0
            log.warn("{count} lines of the web log were left out (at most {rate:g} a second)", count=count, rate=self.rate)


class WebRequest(Request):
    """A request of the web door: it never has a body (L{WebChannel} refuses those unread)."""

    def gotLength(self, length: int | None) -> None:
        # twisted.web spools a body of unknown or large length to a temporary
        # file; here a request with a body is refused before it gets this far,
        # and no request's content is ever anything but empty.
        self.content = BytesIO()  # type: ignore[assignment]  # typed None in twisted.web


class WebChannel(HTTPChannel):
    """
    One HTTP connection to the web door, within the door's limits:

    - it is counted in the shared L{Admission} from the moment it opens; one
      over a limit is answered 503 (too many from that address, server full,
      server busy) and closed. Its L{Ticket} passes to the L{WebSession} if
      it turns into a WebSocket, and is otherwise released when it closes;
    - each request's line and headers must arrive within
      ``header_timeout`` of the connection opening or of the previous
      response (then 408, and closed), however slowly they trickle in;
    - a request that announces a body is refused (405 or 413) as soon as its
      headers are in, and closed without its body being read;
    - while the transport's send buffer is full, no further request already
      read is parsed, and nothing more is read, until it drains;
    - after ``max_requests`` requests it answers with ``Connection: close``;
    - every close that waits for the client to read is cut after the
      door's ``close_grace``.
    """

    # A TCP (or TLS) transport, None once a WebSocket has taken it.
    transport: Any
    site: "WebSite"
    ticket: Ticket | None = None
    address = "?"
    _deadline: IDelayedCall | None = None
    _cut: IDelayedCall | None = None
    # Answered for the last time (or handed to a WebSocket): whatever else
    # arrives is dropped and no timer may fire.
    _done = False
    # The transport's send buffer is full.
    _buffer_full = False
    # Some line of a request has arrived and its headers are not all in.
    _in_request = False
    _served = 0
    _peer_checked = False
    via_trusted_proxy = False

    # -- Twisted calls these ---------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        door = self.site.door
        # Twisted's own idle close is cut after this long, as every door's is.
        self.abortTimeout = door.limits.close_grace  # type: ignore[assignment]
        tune_socket(self.transport, door.limits.idle_timeout, door.limits.ping_timeout)
        host, self.address = door.peer(self.transport)
        # A trusted proxy's connection carries many clients' requests: a
        # WebSocket on it is counted under the client the proxy names, at
        # the upgrade; behind a PROXY-protocol proxy, the client is counted
        # once the header names it.
        self.via_trusted_proxy = door.trusted.holds(host)
        later = self.via_trusted_proxy or awaits_proxy_header(self.transport)
        admitted = door.table.admission.admit(None if later else host)
        if not isinstance(admitted, Ticket):
            _, text = admitted
            door.log_budget.note("refused {address}: {text}", address=self.address, text=text)
            self._answer_and_close(503, text)
            return
        self.ticket = admitted
        self._start_deadline()

    def dataReceived(self, data: bytes) -> None:
        if self._done:
            return
        super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if not self._peer_checked and not self.via_trusted_proxy:
            # Behind a proxy speaking the PROXY protocol, the real client is
            # known only once bytes have come: count it there.
            self._peer_checked = True
            host, address = self.site.door.peer(self.transport)
            if self.ticket is not None and (host != self.ticket.host or self.ticket.host is None):
                self.address = address
                refused = self.site.door.table.admission.rehome(self.ticket, host)
                if refused is not None:
                    self.ticket = None
                    self._answer_and_close(503, refused[1])
                    return
        self._in_request = True
        super().lineReceived(line)

    def allHeadersReceived(self) -> None:
        self._in_request = False
        self._stop_deadline()
        request = self.requests[-1]
        # Refused before twisted.web reads the body (or spools it to a file,
        # or answers Expect: 100-continue): nothing here takes one.
        if self.length != 0 or request.requestHeaders.hasHeader(b"transfer-encoding"):
            if self._command in (b"GET", b"HEAD"):
                self._answer_and_close(413, "this server takes no request bodies")
            else:
                self._answer_and_close(405, "method not allowed", {b"allow": b"GET, HEAD"})
            return
        super().allHeadersReceived()
        self._served += 1
        if self._served >= self.site.door.http.max_requests:
            self.persistent = False
            request.responseHeaders.setRawHeaders(b"connection", [b"close"])

    def allContentReceived(self) -> None:
        if self._done:
            return  # refused in allHeadersReceived: not to be served
        super().allContentReceived()

    def requestDone(self, request: Request) -> None:
        # The next request's headers are due within header_timeout of the
        # end of this response (unless the client is not reading it yet).
        if self.persistent and not self._done and not self._buffer_full:
            self._start_deadline()
        super().requestDone(request)

    def pauseProducing(self) -> None:
        # The transport's send buffer is full. twisted.web would go on
        # answering every request it has already read (LineReceiver's
        # `paused` is not set by HTTPChannel), and go on reading while a
        # request is being answered: one pipelining client that never read
        # grew the server by gigabytes. Stop parsing between requests, stop
        # reading, and do not count the wait against the client's headers.
        if self._done:
            # Closing: nothing more is parsed anyway, and TLS says "full"
            # while it holds a refusal written before its handshake, which
            # could not finish if reading stopped.
            return
        self._buffer_full = True
        self.paused = True
        self._stop_deadline()
        super().pauseProducing()
        self._networkProducer.pauseProducing()

    def resumeProducing(self) -> None:
        self._buffer_full = False
        self.paused = False
        super().resumeProducing()
        if self._done or self._handlingRequest:
            return
        self._start_deadline()
        if self._buffer:
            self.dataReceived(b"")  # the requests already read, in turn

    def loseConnection(self) -> None:
        self._done = True
        self._stop_deadline()
        super().loseConnection()
        # A client that does not read would otherwise keep the connection,
        # and its place in the counts, for as long as it likes.
        if self._cut is None:
            self._cut = self.callLater(self.site.door.limits.close_grace, self._abort)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._done = True
        self._stop_deadline()
        if self._cut is not None and self._cut.active():
            self._cut.cancel()
        super().connectionLost(reason)
        if self.ticket is not None:
            self.ticket.release()

    # -- the WebSocket resource calls this -------------------------------

    def became_websocket(self) -> None:
        """
        A WebSocket took this connection's transport (and its ticket): this
        channel will not hear of the connection again, so none of its timers
        may fire.
        """
        self._done = True
        self._stop_deadline()
        self.setTimeout(None)
        self._savedTimeOut = None
        if self._cut is not None and self._cut.active():
            self._cut.cancel()

    # -- inside ----------------------------------------------------------

    def _start_deadline(self) -> None:
        timeout = self.site.door.http.header_timeout
        if self._deadline is not None and self._deadline.active():
            self._deadline.reset(timeout)
        else:
            self._deadline = self.callLater(timeout, self._deadline_passed)

    def _stop_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._done:
            return
        if self._in_request or self._buffer:
            timeout = self.site.door.http.header_timeout
            self.site.door.log_budget.note("{address} did not send a request's headers in time", address=self.address)
            self._answer_and_close(408, f"a request's line and headers must arrive within {timeout:g} seconds")
        else:
            # Idle between requests: nothing to answer, and a 408 could cross
            # a request the client is sending just now.
            self.loseConnection()

    def _answer_and_close(self, code: int, text: str, headers: dict[bytes, bytes] | None = None) -> None:
        self._done = True
        self.transport.write(plain_response(code, text, headers))
        self.loseConnection()

    def _abort(self) -> None:
        self._cut = None
        if self.transport is not None:
            self.transport.abortConnection()


class WebSite(Site):
    """The twisted.web site of a L{WebDoor}: its connections are L{WebChannel}s."""

    protocol = WebChannel  # type: ignore[assignment]

    def __init__(self, door: "WebDoor", root: Resource) -> None:
        super().__init__(root, requestFactory=WebRequest, timeout=door.http.idle_timeout, reactor=door.clock)
        self.door = door
        self.displayTracebacks = False
        self.noisy = False

    def log(self, request: HTTPRequest) -> None:
        # One line per request, within the door's log budget: a pipelining
        # client wrote 90 MB of access log in 45 s.
        if self.door.log_budget.allow():
            super().log(request)

    def startFactory(self) -> None:
        super().startFactory()
        self.door.table.start()

    def stopFactory(self) -> None:
        self.door.table.stop()
        self.door.log_budget.flush()
        super().stopFactory()
