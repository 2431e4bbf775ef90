"""
``/health``: whether this server can serve people fully, for load balancers
and people (L{HealthCheck}).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from tchat.chat import Hub
from tchat.door.web.files import _security_headers


HEALTH_PATH = b"health"


def health_of(hub: Hub) -> tuple[bool, dict[str, Any]]:
    """
    Whether this server can serve people fully, and what a load balancer
    or a person is shown: ``status`` "ok", "starting" (the store is not open
    yet) or "unavailable" (the store does not answer, or, on a node of
    several, its bus is down: it logs nobody in, so a load balancer should
    send people to the other nodes), and the store's state (and the bus's).
    """
    store = hub.store
    if store is None:
        return False, {"status": "starting", "store": None}
    state = {"engine": store.engine, "url": store.url.shown, "available": store.available}
    nodes = hub.state.nodes()
    if nodes and nodes[0].get("bus") != "up":
        return False, {
            "status": "unavailable", "store": state, "bus": "down", "node": nodes[0]["node"],
            "text": "this node's link to the other nodes is down: it logs nobody in until it is back",
        }
    if store.available:
        return True, {"status": "ok", "store": state, **({"bus": "up", "node": nodes[0]["node"]} if nodes else {})}
    # Nobody may be using the store just now: ask it something cheap, so
    # that the next check sees it back once it is (the store's breaker
    # lets at most one such call through at a time).
    store.schema_version().addErrback(lambda _: None)
    return False, {"status": "unavailable", "store": state, "text": "the database is not answering; live chat goes on"}


class HealthCheck(Resource):
    """``/health``: 200 with ``{"status": "ok", …}`` while the server is whole, 503 naming what failed."""

    isLeaf = True

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub

    def render(self, request: Request) -> bytes:
        _security_headers(request)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"allow", b"GET, HEAD")
            return b'{"status": "method not allowed"}\n'
        healthy, body = health_of(self.hub)
        request.setResponseCode(200 if healthy else 503)
        return json.dumps(body).encode() + b"\n"
