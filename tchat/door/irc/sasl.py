"""
SASL PLAIN (IRCv3 ``sasl``, version 3.1 and 3.2's ``sasl=PLAIN``) against
tchat's accounts.

The exchange::

    C: CAP REQ :sasl                       S: CAP * ACK :sasl
    C: AUTHENTICATE PLAIN                  S: AUTHENTICATE +
    C: AUTHENTICATE <base64 of "authzid\\0authcid\\0password">
                                           S: 900 … :You are now logged in as alice
                                           S: 903 :SASL authentication successful
    C: CAP END                             S: 001 …

The base64 comes in chunks of 400 bytes; a chunk of exactly 400 means more
follow, and ``+`` is an empty last chunk. ``AUTHENTICATE *`` aborts (906).

The password is checked the way every door's login checks it: the decoded
name and password become the hub's ``login`` request, in its turn in the
session's queue, and the hash runs in the store's threads. So an account
authenticated with SASL is logged in to the chat from 903 on; the IRC
registration (the welcome burst) waits for ``CAP END`` with NICK and USER,
and what the chat sends meanwhile (a message in one of the account's rooms,
the messages that waited for it) is held and sent after the burst
(L{IrcSession.held}).
"""

from __future__ import annotations

import binascii
import base64
from dataclasses import dataclass, field

from irctokens import Line

from tchat.door.irc import numerics as N
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import encode
from tchat.events import Event
from tchat.names import name_key

RPL_LOGGEDIN = "900"
RPL_LOGGEDOUT = "901"
ERR_NICKLOCKED = "902"
RPL_SASLSUCCESS = "903"
ERR_SASLFAIL = "904"
ERR_SASLTOOLONG = "905"
ERR_SASLABORTED = "906"
ERR_SASLALREADY = "907"
RPL_SASLMECHS = "908"

MECHANISMS = ("PLAIN",)
CHUNK = 400
# The most base64 an exchange may send: a PLAIN of two names and a password
# of tchat's longest (1024 characters, 4096 bytes) fits.
PAYLOAD_MAX = 20 * CHUNK


@dataclass
class Exchange:
    """A SASL exchange under way: its mechanism and the chunks read so far."""

    mechanism: str
    chunks: list[str] = field(default_factory=list)
    size: int = 0


def cap_value(version: int) -> str:
    """``sasl`` as CAP LS lists it: with its mechanisms for a 302 client."""
    return "sasl=" + ",".join(MECHANISMS) if version >= 302 else "sasl"


def fail(s: IrcSession, why: str = "SASL authentication failed") -> None:
    s.sasl = None
    s.numeric(ERR_SASLFAIL, why)


def abort_if_under_way(s: IrcSession) -> None:
    """Registration ends while an exchange is under way: it is aborted (906), as the spec says."""
    if s.sasl is not None:
        s.sasl = None
        s.numeric(ERR_SASLABORTED, "SASL authentication aborted")


def cmd_authenticate(s: IrcSession, line: Line) -> Items | None:
    param = line.params[0]
    if s.sasl_login is not None or (s.registered and s.account):
        s.numeric(ERR_SASLALREADY, "You have already authenticated using SASL")
        return None
    if s.registered:
        # tchat logs a connection in once (a guest does not become an account
        # midway): 462, as servers answer who may not authenticate after registering.
        s.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister: log in to an account before registration (reconnect with SASL)")
        return None
    if "sasl" not in s.caps:
        fail(s, "SASL authentication failed: request the sasl capability first")
        return None
    if param == "*":
        s.sasl = None
        s.numeric(ERR_SASLABORTED, "SASL authentication aborted")
        return None
    exchange = s.sasl
    if exchange is None:
        mechanism = param.upper()
        if mechanism not in MECHANISMS:
            s.numeric(RPL_SASLMECHS, ",".join(MECHANISMS), "are available SASL mechanisms")
            fail(s)
            return None
        s.sasl = Exchange(mechanism)
        s.send(encode("AUTHENTICATE", ["+"]))
        return None
    if len(param.encode("utf-8")) > CHUNK:
        s.sasl = None
        s.numeric(ERR_SASLTOOLONG, "SASL message too long")
        return None
    if param != "+":
        exchange.chunks.append(param)
        exchange.size += len(param)
        if exchange.size > PAYLOAD_MAX:
            # Each line was a good one (905 is for a line over 400 bytes): the whole fails.
            fail(s, "SASL authentication failed: the credentials were too long")
            return None
        if len(param) == CHUNK:
            return None  # more to come
    s.sasl = None
    credentials = plain(("".join(exchange.chunks)))
    if credentials is None:
        fail(s, "SASL authentication failed: that is not PLAIN's authzid\\0authcid\\0password in base64")
        return None
    authzid, authcid, password = credentials
    if authzid and name_key(authzid) != name_key(authcid):
        fail(s, "SASL authentication failed: you may only log in as yourself (authzid must be empty or the authcid)")
        return None
    if not authcid or not password:
        fail(s, "SASL authentication failed: give an account's name and its password")
        return None
    return [s.request("login", {"user": authcid, "password": password, "lobby": "no"}, lambda e: logged_in(s, e))]


def plain(data: str) -> tuple[str, str, str] | None:
    """PLAIN's message (RFC 4616) from its base64: ``(authzid, authcid, password)``, or None."""
    try:
        raw = base64.b64decode(data, validate=True)
        parts = raw.decode("utf-8").split("\x00")
    except (binascii.Error, ValueError):
        return None
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


def logged_in(s: IrcSession, e: Event) -> None:
    """The hub's answer to the login: 900 and 903, the registration to come at CAP END; or 904."""
    if e.name == "error":
        fail(s, f"SASL authentication failed: {e.get('text') or e.get('code')}")
        return
    account = e["user"]
    s.sasl_login = e
    s.account = account
    s.held = []
    s.numeric(RPL_LOGGEDIN, s.mask(account), account, f"You are now logged in as {account}")
    s.numeric(RPL_SASLSUCCESS, "SASL authentication successful")
