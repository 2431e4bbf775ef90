"""
Where tchat keeps what outlives a connection: accounts, history, offline messages, contacts.

Open one with L{open_store} (``sqlite:PATH``, ``memory`` or ``postgresql://…``);
every call returns a Deferred; see docs/store.rst for the whole story.
"""

from tchat.store.accounts import Account, check_password
from tchat.store.check import check_database
from tchat.store.url import DatabaseURL, parse_url
from tchat.store.errors import (
    DuplicateMessage,
    NameConfusable,
    NameRegistered,
    NoSuchAccount,
    QueueFull,
    SchemaTooNew,
    StoreClosed,
    StoreError,
    StoreUnavailable,
    UnknownMessage,
    WeakPassword,
)
from tchat.store.history import conversation_key
from tchat.store.store import Store, open_store

__all__ = [
    "Account",
    "DatabaseURL",
    "DuplicateMessage",
    "NameConfusable",
    "NameRegistered",
    "NoSuchAccount",
    "QueueFull",
    "SchemaTooNew",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreUnavailable",
    "UnknownMessage",
    "WeakPassword",
    "check_database",
    "check_password",
    "conversation_key",
    "open_store",
    "parse_url",
]
