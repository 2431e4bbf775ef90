"""
The server's last log lines, kept in memory for the admins (``/log`` and
the admin page): a bounded ring, so a chatty server never grows it.
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any

from twisted.logger import ILogObserver, LogLevel, formatEvent
from zope.interface import implementer


# twisted.web's access log ("127.0.0.1" - - [date] "GET /app.js …"): in the
# log file, but not what an admin looks here for; it would push out the rest.
_ACCESS_LINE = re.compile(r'^"[^"]*" - \S+ \[')


@implementer(ILogObserver)
class RecentLog:
    """A log observer keeping the last ``size`` events as ``{"ts", "level", "source", "text"}``."""

    def __init__(self, size: int = 500) -> None:
        self.lines: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def __call__(self, event: dict[str, Any]) -> None:
        try:
            text = formatEvent(event)
        except Exception:  # a log line must never break logging
            text = "(a log line that could not be formatted)"
        if event.get("log_namespace") == "twisted.python.log" and _ACCESS_LINE.match(text):
            return
        failure = event.get("log_failure")
        if failure is not None:
            text += f": {failure.getErrorMessage()}"
        level = event.get("log_level")
        self.lines.append({
            "ts": event.get("log_time", time.time()),
            "level": level.name if isinstance(level, type(LogLevel.info)) else "info",
            "source": str(event.get("log_namespace", "?")),
            "text": text,
        })

    def last(self, count: int) -> list[dict[str, Any]]:
        return list(self.lines)[-count:]
