"""What the chat rules refuse."""

from __future__ import annotations


class ChatError(Exception):
    """A request the chat rules refuse; the hub turns it into an ``error`` event."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
