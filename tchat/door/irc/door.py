"""
The IRC door's factory (L{IrcDoor}) and its entry in the registry (L{IRC_DOOR}).
"""

from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import ServerFactory

from tchat.chat import Hub
from tchat.door.base import BaseDoor, DoorKind
from tchat.door.irc.codec import PROFILE_CAPS, IrcCodec
from tchat.door.irc.idents import Idents
from tchat.door.irc.session import IrcSession
from tchat.door.admission import Admission
from tchat.door.limits import Limits
from tchat.names import clean_text


def server_name(name: str) -> str:
    """The server's name as IRC lines carry it: one word, no ``:``, ``!`` or ``@``."""
    word = "".join(c if c.isprintable() and c not in " :!@,*?" else "-" for c in name).strip("-")
    return word or "tchat"


class IrcDoor(BaseDoor, ServerFactory):
    """The factory of the IRC door: the hub, the limits, the open sessions and one codec per profile."""

    name = IrcSession.door_name
    noisy = False

    def __init__(self, hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission | None = None) -> None:
        super().__init__(hub, limits, clock, admission)
        self.server = server_name(hub.config.server_name)
        self.started = clock.seconds()
        # The most users LUSERS has counted since the door started (265/266 show it).
        self.most_users = 0
        self._codecs: dict[tuple[bool, ...], IrcCodec] = {}
        self.idents = Idents()

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission
    ) -> "IrcDoor":
        return cls(hub, limits, clock, admission)

    def codec(self, caps: set[str]) -> IrcCodec:
        """The codec of the profile ``caps`` make: the same one for every session that shares it."""
        profile = tuple(cap in caps for cap in PROFILE_CAPS)
        codec = self._codecs.get(profile)
        if codec is None:
            codec = self._codecs[profile] = IrcCodec(self.server, *profile)
            codec.realname = lambda nick: self.idents.of(nick)[1]
            codec.is_bot = self.idents.bot
        return codec

    @property
    def server_info(self) -> str:
        """What LINKS and WHOIS's 312 say this server is (--server-info, which SIGHUP reloads): one line."""
        return " ".join(clean_text(self.hub.config.server_info).split()) or "tchat"

    @property
    def factory(self) -> "IrcDoor":
        return self

    def buildProtocol(self, addr: IAddress | None) -> IrcSession:
        return IrcSession(self)

    def startFactory(self) -> None:
        self.table.start()

    def stopFactory(self) -> None:
        self.table.stop()


IRC_DOOR = DoorKind(
    name=IrcDoor.name,
    option="irc-port",
    default="6667",
    help=(
        "Listen for IRC clients on PORT: a number, or an endpoint string such as "
        "ssl:6697:privateKey=key.pem:certKey=cert.pem; off for none. Repeat to listen on several (default: 6667)."
    ),
    build=IrcDoor.from_options,
    can_be_off=True,
    log_as="tchat irc",
)
