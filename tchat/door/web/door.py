"""
L{WebDoor}: the web door as a whole (the hub, the limits, the open
sessions, the page, the origin policy and trusted proxies, and the
twisted.web site that serves them), and its registry entry L{WEB_DOOR}.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource
from twisted.web.resource import Resource
from twisted.web.server import Request

from tchat.chat import Hub
from tchat.door.base import BaseDoor, DoorKind
from tchat.door.admission import Admission
from tchat.door.limits import Limits
from tchat.door.web.files import PROTOCOL_PATH, StaticFile, StaticFiles, load_static, protocol_file
from tchat.door.web.health import HEALTH_PATH, HealthCheck
from tchat.door.web.http import HTTPLimits, LogBudget, WebSite
from tchat.door.web.proxies import OriginPolicy, TrustedProxies
from tchat.door.web.websocket import WS_PATH, WebSession, _Socket, _SocketFactory


class _Root(Resource):
    def __init__(self, socket: IResource, files: IResource, health: IResource) -> None:
        super().__init__()
        self.socket = socket
        self.files = files
        self.health = health

    def getChildWithDefault(self, path: bytes, request: Request) -> IResource:
        if path == WS_PATH and not request.postpath:
            return self.socket
        if path == HEALTH_PATH and not request.postpath:
            return self.health
        return self.files

    def render(self, request: Request) -> bytes:
        return self.files.render(request)


class WebDoor(BaseDoor):
    """
    The web door: the hub, the limits, the open sessions, the page. Listen
    with its L{site} (a twisted.web L{Site}); one door may listen on several
    ports.
    """

    name = WebSession.door_name

    def __init__(
        self,
        hub: Hub,
        limits: Limits,
        clock: IReactorTime,
        origins: Iterable[str] = (),
        files: dict[str, StaticFile] | None = None,
        admission: Admission | None = None,
        http: HTTPLimits | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        super().__init__(hub, limits, clock, admission)
        self.http = http if http is not None else HTTPLimits()
        self.log_budget = LogBudget(self.http.log_rate, self.http.log_burst, clock)
        self.origins = OriginPolicy(origins)
        self.trusted = TrustedProxies(trusted_proxies)
        # The page's files and, made from the command table, /protocol.json
        # (never a file of that name: there is one table).
        self.files = {**(load_static() if files is None else files), PROTOCOL_PATH: protocol_file()}
        self.socket_factory = _SocketFactory(self)
        self.site = WebSite(self, _Root(_Socket(self.socket_factory), StaticFiles(self.files), HealthCheck(hub)))

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission
    ) -> "WebDoor":
        return cls(
            hub, limits, clock, origins=options["web-origins"], admission=admission, trusted_proxies=options["trusted-proxies"]
        )

    @property
    def factory(self) -> WebSite:
        return self.site

    def reload(self, options: Mapping[str, Any]) -> None:
        """``--web-origin`` and ``--trusted-proxy`` change on SIGHUP."""
        self.origins = OriginPolicy(options["web-origins"])
        self.trusted = TrustedProxies(options["trusted-proxies"])


WEB_DOOR = DoorKind(
    name=WebDoor.name,
    option="web-port",
    default="5000",
    help=(
        "Serve the browser page, and its WebSocket at /ws, on WEB_PORT: a number or an endpoint string "
        '(ssl:... for https and wss). Repeat to serve on several; "off" for none (default: 5000).'
    ),
    build=WebDoor.from_options,
    can_be_off=True,
)
