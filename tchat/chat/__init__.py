"""
The chat rules, one module per domain, and the seams they reach the world by.

- ``hub``: what doors call (connect, handle, disconnect) and the dispatch;
- ``model``: ``Connection`` (a device), ``User`` (a name), ``Room``, ``HubConfig``;
- ``state`` and ``delivery``: the two seams (``State``, ``Delivery``) and
  their in-process implementations;
- ``core``: what every rule is built with;
- rules: ``login`` (and leaving), ``messages``, ``offline``, ``rooms``,
  ``accounts``, ``history``, ``contacts``, ``server_admin``, ``info``.
"""

from tchat.chat.hub import Hub
from tchat.chat.model import Connection, HubConfig, Room, Session, User

__all__ = ["Connection", "Hub", "HubConfig", "Room", "Session", "User"]
