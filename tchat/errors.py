"""What the chat rules refuse."""

from __future__ import annotations

import math


class ChatError(Exception):
    """A request the chat rules refuse; the hub turns it into an ``error`` event."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def in_seconds(wait: float) -> str:
    """A wait for a sentence: "try again in 3 s" (rounded up, so never "0 s"), or in minutes when long."""
    if wait > 120:
        return f"{math.ceil(wait / 60)} min"
    return f"{max(1, math.ceil(wait))} s"


def counted(n: int, thing: str) -> str:
    """ "1 message", "2 messages". """
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"
