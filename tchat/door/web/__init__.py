"""
The web door: the browser page and its WebSocket, on one port.

A L{WebDoor} is a twisted.web L{Site} that serves two things:

- ``/ws``: a WebSocket (autobahn) speaking tchat's JSON mode, one JSON
  object per text frame. Each connection is a L{WebSession}, which mixes in
  L{DoorSession} exactly as the line door's ``LineSession`` does, so a
  browser gets the same limits as anyone on TCP: connection counts, order,
  flood control, the send queue, login and ping timeouts, closing.
- everything else: the page's files, read once at start from
  ``tchat/web/static`` (see L{StaticFiles}), and ``/protocol.json``, the
  command table the page reads typed lines with, made once at start from
  L{tchat.commands.protocol_table}. A request names a file by its exact
  path or gets a 404; no request path ever reaches the file system, so
  ``..``, encoded slashes and absolute paths cannot leave that folder.

What is the web door's own:

- **framing**: a text frame is one request. A binary frame gets
  ``bad_request``; a frame that is not UTF-8 gets ``bad_encoding``; a message
  longer than ``max_line`` bytes gets ``line_too_long`` and is thrown away
  as it arrives (never buffered). In each case the connection stays open,
  as on the line door.
- **origin**: a browser's WebSocket is refused (HTTP 403) unless its
  ``Origin`` is the page's own (same host and port as the request's
  ``Host``), or one of the ``--web-origin`` allow-list. Clients that send
  no ``Origin`` (programs, not browsers) are let in: the check protects
  people's browsers from other sites' pages, not the server from programs.
- **WebSocket pings**: autobahn sends a WebSocket ping every
  ``idle_timeout`` and drops a peer whose pong does not come within
  ``ping_timeout`` (browsers answer these by themselves). This is on top of
  the shared JSON ``ping`` event, which the page answers like any JSON
  client; a WebSocket pong does not count as an answer to it.
- **closing**: ``bye``, then a WebSocket close with code 1000.
- **send queue**: every frame written counts against it, not only events
  (autobahn answers pings with pongs on its own), see L{WebSession.sendData}.
- **HTTP connections** (L{WebChannel}, numbers in L{HTTPLimits}): counted
  in the shared L{Admission} from the moment they open (503 over a limit),
  each request's headers due within a deadline (408), no request body ever
  read (405/413), pipelined requests answered only while the send buffer
  has room, a cap of requests per connection, and an access log held to a
  rate (L{LogBudget}).

Every event is sent as the bytes the JSON codec made for it once (shared
with JSON clients of the line door), trailing ``\\r\\n`` included: JSON
allows whitespace after the value, so ``JSON.parse`` reads it as is.

The modules, each one part of the door:

- L{tchat.door.web.files}: the page's files and ``/protocol.json``, and the
  headers every response carries (L{SECURITY_HEADERS});
- L{tchat.door.web.http}: HTTP connections within their limits
  (L{HTTPLimits}, L{WebChannel}, L{WebSite}, the access log's L{LogBudget});
- L{tchat.door.web.proxies}: which origins may open the WebSocket
  (L{OriginPolicy}), and which proxies' ``X-Forwarded-For`` is believed
  (L{TrustedProxies}, L{forwarded_client});
- L{tchat.door.web.health}: ``/health`` (L{HealthCheck});
- L{tchat.door.web.websocket}: the WebSocket (L{WebSession}) and the
  resource and factory that hand an HTTP connection over to it;
- L{tchat.door.web.door}: L{WebDoor}, which puts these together, and its
  registry entry L{WEB_DOOR}.
"""

from tchat.door.web.door import WEB_DOOR, WebDoor
from tchat.door.web.files import (
    PROTOCOL_PATH,
    SECURITY_HEADERS,
    SERVER_HEADER,
    StaticFile,
    StaticFiles,
    load_static,
    protocol_file,
    static_file,
    static_folder,
)
from tchat.door.web.health import HEALTH_PATH, HealthCheck, health_of
from tchat.door.web.http import HTTPLimits, LogBudget, WebChannel, WebRequest, WebSite, plain_response
from tchat.door.web.proxies import DEFAULT_PORTS, OriginPolicy, TrustedProxies, forwarded_client, parse_origin
from tchat.door.web.websocket import WS_PATH, WebSession

__all__ = [
    "DEFAULT_PORTS",
    "HEALTH_PATH",
    "HTTPLimits",
    "HealthCheck",
    "LogBudget",
    "OriginPolicy",
    "PROTOCOL_PATH",
    "SECURITY_HEADERS",
    "SERVER_HEADER",
    "StaticFile",
    "StaticFiles",
    "TrustedProxies",
    "WEB_DOOR",
    "WS_PATH",
    "WebChannel",
    "WebDoor",
    "WebRequest",
    "WebSession",
    "WebSite",
    "forwarded_client",
    "health_of",
    "load_static",
    "parse_origin",
    "plain_response",
    "protocol_file",
    "static_file",
    "static_folder",
]
