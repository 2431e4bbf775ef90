"""tchat: a chat server on Twisted, for terminals, browsers and programs."""

__version__ = "0.1.0"
