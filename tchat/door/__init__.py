"""
Doors: the ways into the hub. Each owns framing, decoding, limits and its send queue.

L{DOORS} is the registry: every door ``twistd tchat`` builds, in the order
its options are listed and its ports are opened. Each door module gives its
L{DoorKind} (see L{tchat.door.base}); adding a door is its module and its
entry here.
"""

from tchat.door.base import BaseDoor, Door, DoorKind
from tchat.door.irc import IRC_DOOR
from tchat.door.line import LINE_DOOR
from tchat.door.web import WEB_DOOR

__all__ = ["DOORS", "BaseDoor", "Door", "DoorKind"]

DOORS: tuple[DoorKind, ...] = (LINE_DOOR, WEB_DOOR, IRC_DOOR)
