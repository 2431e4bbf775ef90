"""
The IRC door: IRC clients (irssi, WeeChat, HexChat, bots) in the same chat.

- L{tchat.door.irc.wire}: reading lines with irctokens, writing them within
  IRC's limits, IRC's formatting codes;
- L{tchat.door.irc.numerics}: the numerics, and the one for each hub error;
- L{tchat.door.irc.codec}: the events every recipient reads alike, made once
  per profile (with or without server-time and msgid tags);
- L{tchat.door.irc.session}: one connection (framing, order, answers,
  registration), a L{tchat.door.session.DoorSession} like every door's;
- L{tchat.door.irc.commands}: the command table; what each command asks of
  the hub is in L{tchat.door.irc.registration}, L{tchat.door.irc.messages},
  L{tchat.door.irc.channels}, L{tchat.door.irc.queries} and
  L{tchat.door.irc.modes}, with L{tchat.door.irc.replies} shared by them;
- L{tchat.door.irc.door}: the factory and its registry entry, L{IRC_DOOR}.

docs/irc.rst says what clients can rely on.
"""

from tchat.door.irc.door import IRC_DOOR, IrcDoor
from tchat.door.irc.session import IrcSession

__all__ = ["IRC_DOOR", "IrcDoor", "IrcSession"]
