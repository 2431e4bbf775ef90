"""
What the store refuses, as exceptions the hub can turn into ``error`` events.

Every error has a ``code``: a stable snake_case word, the same as the protocol's
error codes where one exists (``name_registered``, ``weak_password``,
``no_such_user``), so the hub can answer with::

    except StoreError as e:
        raise ChatError(e.code, str(e)) from None

Messages are sentences for a person. None of them ever holds a password or a
password hash.
"""

from __future__ import annotations

from typing import Literal


class StoreError(Exception):
    """Base of every error the store raises on purpose."""

    code = "store_error"


class NameRegistered(StoreError):
    """An account with this name (compared case-insensitively) exists already."""

    code = "name_registered"

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name} is registered already")
        self.name = name


class NameConfusable(StoreError):
    """
    The name looks like a registered one (one L{tchat.names.skeleton}, another
    key): ``alike`` is that account's name.
    """

    code = "confusable_name"

    def __init__(self, name: str, alike: str) -> None:
        super().__init__(f"the name {name} looks like {alike}, a registered name; choose another")
        self.name = name
        self.alike = alike


class NoSuchAccount(StoreError):
    """No account is registered under this key."""

    code = "no_such_user"

    def __init__(self, key: str) -> None:
        super().__init__(f"no registered user {key}")
        self.key = key


class WeakPassword(StoreError, ValueError):
    """The proposed password breaks the policy; the message says which rule."""

    code = "weak_password"


class UnknownMessage(StoreError):
    """A ``before`` msgid names no stored message."""

    code = "no_such_message"

    def __init__(self, msgid: str) -> None:
        super().__init__(f"no stored message has the msgid {msgid}")
        self.msgid = msgid


class DuplicateMessage(StoreError):
    """A message with this msgid is stored already; msgids are unique."""

    code = "duplicate_message"

    def __init__(self, msgid: str) -> None:
        super().__init__(f"a message with msgid {msgid} is stored already")
        self.msgid = msgid


QueueLimit = Literal["total", "sender", "guests"]


class QueueFull(StoreError):
    """
    Queueing this offline message would pass one of the recipient's limits.

    ``reason`` says which: ``"total"`` (the recipient has ``limit`` messages
    waiting), ``"sender"`` (this sender has ``limit`` waiting for them) or
    ``"guests"`` (guests together have ``limit`` waiting for them). The
    message is a sentence for the sender.
    """

    code = "queue_full"

    def __init__(
        self, recipient_key: str, limit: int, reason: QueueLimit = "total", recipient: str | None = None
    ) -> None:
        name = recipient or recipient_key
        if reason == "sender":
            sentence = f"you have {limit} messages waiting for {name} already; wait until they have read some"
        elif reason == "guests":
            sentence = (
                f"{name} has as many messages from guests waiting as allowed ({limit});"
                " try later, or log in to a registered name"
            )
        else:
            sentence = f"{name} has {limit} messages waiting already; try later"
        super().__init__(sentence)
        self.recipient_key = recipient_key
        self.limit = limit
        self.reason: QueueLimit = reason


class StoreClosed(StoreError):
    """The store is closing or closed; no new call is accepted."""

    code = "store_closed"

    def __init__(self) -> None:
        super().__init__("the store is closed")


class StoreUnavailable(StoreError):
    """
    The database cannot be used just now: it did not answer in time, the
    connection to it is lost, its file is locked, read-only or on a full
    disk, or it failed a moment ago and is not being tried again yet.

    ``str()`` is a sentence for a person saying why, in plain words (never
    SQL, never a password). ``retry_after`` is, when known, how many seconds
    from now the store tries the database again (see L{tchat.store.breaker}).
    A write refused with this error may still have been carried out if it
    reached the database before the answer was given up on (see
    docs/store.rst, "When the database is down").
    """

    code = "unavailable"

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SchemaTooNew(StoreError):
    """The database was upgraded by a newer tchat than this one."""

    code = "schema_too_new"

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"the database schema is version {found}, newer than this tchat knows"
            f" ({known}); run the tchat that upgraded it, or a newer one"
        )
        self.found = found
        self.known = known
