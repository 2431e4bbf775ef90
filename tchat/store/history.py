"""
History: every message, public and private, and the pages of it people ask for.

A message is the dict of a tchat ``message`` event's fields::

    {"msgid": "9f3a-17", "from": "Alice", "to": "#lobby", "text": "hi",
     "kind": "public", "ts": 1700000000.25, "registered": True}

``registered`` is there, True, when the sender was logged in to a registered
account, and absent for a guest: the store keeps it and gives it back the
same way, so history shows the mark as live messages do.

It is stored under a *conversation key*: the room key (``name_key("#Lobby")``
is ``#lobby``) for a room, or for a private message the two user keys sorted
and joined by a space (L{conversation_key}), so both parties read the same
conversation. Pages run by the insertion order (an integer primary key)
and come back oldest first. A page is bounded by ``before`` and ``after``
(or centred on ``around``), each a msgid, whose row id bounds it, or a time
(IRC's CHATHISTORY asks by either); it is the newest N of its range, or the
oldest. A msgid is looked up in the conversation asked about only. The index
``(conversation, id)`` answers "the last N of this conversation before id X"
(or the first N after it) by reading just those N rows; ``(conversation,
ts)`` the same by time.

Writing, under load, uses group commit::

    add(m1) ──► batch [m1] ──► one transaction ──► m1's Deferred fires
    add(m2) ┐   (while that runs, calls wait)
    add(m3) ┼─► batch [m2, m3, m4] ─► one transaction ─► three Deferreds fire
    add(m4) ┘

A commit is the expensive part of a write (the WAL write, or PostgreSQL's WAL
flush), so a hundred messages arriving together cost about one commit, not a
hundred; and with no load a message is written at once, with no timer. Every
caller's Deferred fires only once its own row is committed. One bad message
(a msgid already stored) fails only its own caller; a failing transaction
fails every caller of that batch, none of whose rows were kept.

One batch is in flight at a time, on PostgreSQL too, so the id order of the
history is the order in which the hub called ``add``. (Up to three batches at
once on PostgreSQL measured 10-50 % faster under load, since it flushes
concurrent commits together, but let two batches take ids in either order.)
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from tchat.events import millisecond
from tchat.names import is_room, name_key
from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn, placeholders
from tchat.store.errors import DuplicateMessage, UnknownMessage

log = Logger()

KINDS = ("public", "private", "action")
# Rows per INSERT: 8 parameters each stays far under SQLite's 32766.
MAX_BATCH = 500

Message = dict[str, Any]
# msgid, sender, target, text, kind, ts, registered
Fields = tuple[str, str, str, str, str, float, bool]
# msgid, conversation, sender, target, text, kind, ts, registered
Row = tuple[str, str, str, str, str, str, float, bool]
T = TypeVar("T")


def conversation_key(user_key_a: str, user_key_b: str) -> str:
    """The conversation key of the private messages between two user keys (either order)."""
    return " ".join(sorted((user_key_a, user_key_b)))


def conversation_of(message: Mapping[str, Any]) -> str:
    """Where ``message`` belongs: its room's key, or its two users' conversation key."""
    target = message["to"]
    if is_room(target):
        return name_key(target)
    return conversation_key(name_key(message["from"]), name_key(target))


def message_fields(message: Mapping[str, Any]) -> Fields:
    """
    The stored fields of a message dict, checked: ``msgid``, ``from``, ``to``,
    ``text``, ``kind``, ``ts``, and ``registered`` (True, or False when it is
    absent, None or False). Other keys (``delayed``, say) are ignored.
    Raises C{ValueError} if one is missing or of the wrong kind.
    """
    try:
        fields = (message["msgid"], message["from"], message["to"], message["text"], message["kind"], message["ts"])
    except KeyError as e:
        raise ValueError(f"a message needs the field {e.args[0]!r}") from None
    msgid, sender, target, text, kind, ts = fields
    # (Plain isinstance calls, not all() over a generator: this runs once per message sent.)
    if not (isinstance(msgid, str) and isinstance(sender, str) and isinstance(target, str)
            and isinstance(text, str) and isinstance(kind, str)):
        raise ValueError("msgid, from, to, text and kind of a message are strings")
    if kind not in KINDS:
        raise ValueError(f"a message's kind is one of {', '.join(KINDS)}")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        raise ValueError("a message's ts is a number (Unix time)")
    registered = message.get("registered")
    if registered is not None and not isinstance(registered, bool):
        raise ValueError("a message's registered is true, false or absent")
    return (msgid, sender, target, text, kind, float(ts), registered is True)


def message_dict(row: Sequence[Any]) -> Message:
    """A stored (msgid, sender, target, text, kind, ts, registered) back as a message dict."""
    msgid, sender, target, text, kind, ts, registered = row
    message: Message = {"msgid": msgid, "from": sender, "to": target, "text": text, "kind": kind, "ts": float(ts)}
    if registered:  # 1 on SQLite, True on PostgreSQL
        message["registered"] = True
    return message


# -- work functions (run in a pool thread) ------------------------------------

_PAGE = "SELECT id, msgid, sender, target, text, kind, ts, registered FROM messages WHERE conversation = ?"


def page_sql(conditions: Sequence[str] = (), newest: bool = True) -> str:
    """A page of one conversation within ``conditions``: its newest rows (or its oldest), ``limit`` + 1 of them."""
    where = "".join(f" AND {condition}" for condition in conditions)
    return f"{_PAGE}{where} ORDER BY id {'DESC' if newest else 'ASC'} LIMIT ?"


# The history queries, public so that tests and the benchmark can EXPLAIN
# exactly what the store runs (every page is a page_sql).
LAST_PAGE_SQL = page_sql()
PAGE_BEFORE_SQL = page_sql(["id < ?"])
# The same, for messages no older than a time (private history starts when
# both accounts existed).
LAST_PAGE_SINCE_SQL = page_sql(["ts >= ?"])
PAGE_BEFORE_SINCE_SQL = page_sql(["ts >= ?", "id < ?"])
# The first page after a message (IRC's CHATHISTORY AFTER, BETWEEN).
PAGE_AFTER_SQL = page_sql(["id > ?"], newest=False)

# Where a page starts or ends: a msgid, or a Unix time (compared to the
# millisecond, as IRC's server-time shows it: "after 12:00:00.250" is from
# 12:00:00.251 on, whatever the microseconds).
Ref = str | float


def _find(txn: Txn, conversation: str, msgid: str) -> tuple[int, float]:
    """The row id and time of ``msgid`` in this conversation: a msgid of another is as unknown as one never sent."""
    rows = txn.all("SELECT id, ts FROM messages WHERE msgid = ? AND conversation = ?", (msgid, conversation))
    if not rows:
        raise UnknownMessage(msgid)
    row_id, ts = rows[0]
    return int(row_id), float(ts)


def _bound(txn: Txn, conversation: str, ref: Ref, after: bool, inclusive: bool = False) -> tuple[str, Any]:
    """The condition (and its parameter) for the messages after ``ref`` (or before it), or also at it."""
    if isinstance(ref, str):
        row_id, _ = _find(txn, conversation, ref)
        return ("id >= ?" if inclusive else "id > ?") if after else "id < ?", row_id
    ms = millisecond(ref)
    if after:
        return "ts >= ?", (ms if inclusive else ms + 1) / 1000
    return "ts < ?", ms / 1000


def _position(txn: Txn, conversation: str, ref: Ref) -> tuple[int, int | None]:
    """Where ``ref`` is, to compare two: its millisecond, and its row id for a msgid."""
    if not isinstance(ref, str):
        return millisecond(ref), None
    row_id, ts = _find(txn, conversation, ref)
    return millisecond(ts), row_id


def _later(txn: Txn, conversation: str, a: Ref, b: Ref) -> bool:
    """Whether ``a`` is later than ``b`` (two msgids by insertion order, else by time)."""
    (ms_a, id_a), (ms_b, id_b) = _position(txn, conversation, a), _position(txn, conversation, b)
    if id_a is not None and id_b is not None:
        return id_a > id_b
    return ms_a > ms_b


def _rows(
    txn: Txn, conversation: str, conditions: list[tuple[str, Any]], limit: int, newest: bool
) -> tuple[list[Message], bool]:
    """Up to ``limit`` messages (newest or oldest of those within ``conditions``), oldest first; and whether more exist."""
    rows = txn.all(page_sql([c for c, _ in conditions], newest), (conversation, *(p for _, p in conditions), limit + 1))
    more = len(rows) > limit
    page = [message_dict(row[1:]) for row in rows[:limit]]
    if newest:
        page.reverse()
    return page, more


def _page(
    txn: Txn,
    conversation: str,
    limit: int,
    before: Ref | None = None,
    since: float | None = None,
    after: Ref | None = None,
    around: Ref | None = None,
    oldest: bool = False,
) -> tuple[list[Message], bool]:
    """
    One page of a conversation, oldest first, and whether the range holds
    more: see L{History.room_history}.
    """
    visible: list[tuple[str, Any]] = [] if since is None else [("ts >= ?", since)]
    if around is not None:
        # Half before it (none for a page of one), the rest from it on.
        earlier, more_earlier = _rows(txn, conversation, [*visible, _bound(txn, conversation, around, False)], limit // 2, True)
        later, more_later = _rows(
            txn, conversation, [*visible, _bound(txn, conversation, around, True, inclusive=True)], limit - len(earlier), False
        )
        return earlier + later, more_earlier or more_later
    if before is not None and after is not None and _later(txn, conversation, after, before):
        # A range given the other way round: the same range, counted from the same bound.
        before, after, oldest = after, before, not oldest
    conditions = list(visible)
    if after is not None:
        conditions.append(_bound(txn, conversation, after, True))
    if before is not None:
        conditions.append(_bound(txn, conversation, before, False))
    return _rows(txn, conversation, conditions, limit, not oldest)


def _insert_sql(rows: int) -> str:
    values = ", ".join([f"({placeholders(8)})"] * rows)
    return (
        "INSERT INTO messages (msgid, conversation, sender, target, text, kind, ts, registered)"
        f" VALUES {values} ON CONFLICT (msgid) DO NOTHING RETURNING msgid"
    )


def _insert_messages(txn: Txn, rows: Sequence[Row]) -> list[Exception | None]:
    """Insert ``rows``; return, per row, None or the error that refused it alone."""
    outcome: list[Exception | None] = [None] * len(rows)
    fresh: list[int] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if row[0] in seen:
            outcome[index] = DuplicateMessage(row[0])
        else:
            seen.add(row[0])
            fresh.append(index)
    inserted: set[str] = set()
    for start in range(0, len(fresh), MAX_BATCH):
        chunk = [rows[i] for i in fresh[start:start + MAX_BATCH]]
        params = [value for row in chunk for value in row]
        inserted.update(msgid for (msgid,) in txn.all(_insert_sql(len(chunk)), params))
    for index in fresh:
        if rows[index][0] not in inserted:
            outcome[index] = DuplicateMessage(rows[index][0])
    return outcome


def _count_since(txn: Txn, conversations: Sequence[str], ts: float) -> dict[str, int]:
    counts = dict.fromkeys(conversations, 0)
    for start in range(0, len(conversations), MAX_BATCH):
        chunk = conversations[start:start + MAX_BATCH]
        rows = txn.all(
            f"SELECT conversation, COUNT(*) FROM messages WHERE conversation IN ({placeholders(len(chunk))})"
            " AND ts > ? GROUP BY conversation",
            (*chunk, ts),
        )
        counts.update((conversation, int(count)) for conversation, count in rows)
    return counts


# -- group commit --------------------------------------------------------------


# Told how a write ended: None (stored) or the Failure that refused it.
Done = Callable[[Failure | None], None]


def fire(d: Deferred[None]) -> Done:
    """A L{Done} that fires ``d`` with the outcome."""

    def done(outcome: Failure | None) -> None:
        if outcome is None:
            d.callback(None)
        else:
            d.errback(outcome)

    return done


def settle(d: Deferred[Any], done: Done) -> None:
    """Tell ``done`` how ``d`` ended: None if it succeeded, else its Failure (which ``done`` then owns)."""
    d.addBoth(lambda outcome: done(outcome if isinstance(outcome, Failure) else None))


def tell(done: Done, outcome: Failure | None) -> None:
    """Call ``done``; what it raises is logged, so that the items after it in a batch are told all the same."""
    try:
        done(outcome)
    except Exception:
        log.failure("a caller of the store failed on its outcome")


class GroupCommit(Generic[T]):
    """
    One write transaction at a time; items submitted while one runs go,
    together, into the next.

    ``write(items)`` stores a batch in one transaction and returns a Deferred
    of one outcome per item: None (stored) or the exception refusing that
    item alone. If the Deferred fails, every item of the batch fails with it.
    """

    def __init__(self, write: Callable[[list[T]], Deferred[list[Exception | None]]], max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self.max_batch = max_batch
        self._waiting: list[tuple[T, Done]] = []
        self._busy = False
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> Deferred[None]:
        """Write ``item``; the Deferred fires once it is committed."""
        d: Deferred[None] = Deferred()
        self.submit_then(item, fire(d))
        return d

    def submit_then(self, item: T, done: Done) -> None:
        """
        Write ``item``; ``done`` is called with its outcome once it is
        committed or refused. No Deferred: this runs once per message sent.
        """
        self._waiting.append((item, done))
        if not self._busy:
            self._next()

    def _next(self) -> None:
        batch = self._waiting[: self.max_batch]
        del self._waiting[: self.max_batch]
        self._busy = True
        self.batches += 1
        self.items += len(batch)
        maybeDeferred(self._write, [item for item, _ in batch]).addBoth(self._written, batch)

    def _written(self, outcome: list[Exception | None] | Failure, batch: list[tuple[T, Done]]) -> None:
        self._busy = False
        # Start the next batch before telling callers, so what they add in
        # their callbacks queues behind it rather than racing it.
        if self._waiting:
            self._next()
        if isinstance(outcome, Failure):
            for _, done in batch:
                tell(done, outcome)
            return
        for (_, done), error in zip(batch, outcome):
            tell(done, None if error is None else Failure(error))


def _only_outcome(outcome: list[Exception | None]) -> None:
    (error,) = outcome
    if error is not None:
        raise error


# -- the domain class ------------------------------------------------------------


class History(UsesDatabase):
    """
    Every message, and pages of it. Every method returns a Deferred. No
    permission checks: the hub decides who may read what.
    """

    def __init__(self, db: Database, group_commit: bool = True) -> None:
        self.db = db
        self.group_commit = group_commit
        self.writer: GroupCommit[Row] = GroupCommit(lambda rows: self.db.run_write(_insert_messages, rows))

    def add(self, message: Mapping[str, Any]) -> Deferred[None]:
        """
        Store a message. Fires once it is committed. Fails with
        C{ValueError} for a malformed message, L{DuplicateMessage} for a
        msgid already stored.
        """
        d: Deferred[None] = Deferred()
        self.add_then(message, fire(d))
        return d

    def add_then(self, message: Mapping[str, Any], done: Done) -> None:
        """
        L{add}, telling ``done`` the outcome (None, or the Failure) instead
        of firing a Deferred: the chat stores every message sent this way.

        A public call like those made with L{operation} (refused once
        closing has begun, waited for by closing), but with no coroutine or
        Deferred of its own: it runs once per message sent.
        """
        self.db.guard_then(partial(self._add, message), done, "history.add")

    def _add(self, message: Mapping[str, Any], done: Done) -> None:
        try:
            msgid, sender, target, text, kind, ts, registered = message_fields(message)
            row: Row = (msgid, conversation_of(message), sender, target, text, kind, ts, registered)
        except ValueError:
            done(Failure())
            return
        if self.group_commit:
            self.writer.submit_then(row, done)
            return
        settle(self.db.run_write(_insert_messages, [row]).addCallback(_only_outcome), done)

    @operation
    async def room_history(
        self,
        room_key: str,
        limit: int = 50,
        before: Ref | None = None,
        since: float | None = None,
        *,
        after: Ref | None = None,
        around: Ref | None = None,
        oldest: bool = False,
    ) -> tuple[list[Message], bool]:
        """
        A page of the room ``room_key``, oldest first, and whether the range
        holds more than the page. The range: every message, or those
        ``before`` a message and/or ``after`` one (each a msgid, or a Unix
        time compared to the millisecond, see L{Ref}); with ``since``, only
        those sent at or after it. The page is the last ``limit`` of the
        range (the first, with ``oldest``); ``before`` and ``after`` given
        the other way round (``after`` later) mean the range between them,
        counted from the same one. With ``around`` instead, up to ``limit``
        // 2 before it and the rest from it on (that message included).
        Raises L{UnknownMessage} for a msgid not in this conversation.
        """
        _check_limit(limit)
        _check_refs(before, after, around)
        return await self.db.run(_page, room_key, limit, before, since, after, around, oldest)

    @operation
    async def private_history(
        self,
        user_key_a: str,
        user_key_b: str,
        limit: int = 50,
        before: Ref | None = None,
        since: float | None = None,
        *,
        after: Ref | None = None,
        around: Ref | None = None,
        oldest: bool = False,
    ) -> tuple[list[Message], bool]:
        """
        Like L{room_history}, for the private messages between two users
        (either order); with ``since``, only messages sent at or after it.
        """
        _check_limit(limit)
        _check_refs(before, after, around)
        conversation = conversation_key(user_key_a, user_key_b)
        return await self.db.run(_page, conversation, limit, before, since, after, around, oldest)

    @operation
    async def count_since(self, room_keys: Sequence[str], ts: float) -> dict[str, int]:
        """
        How many messages each room (or conversation key) got after ``ts``:
        a dict with every key asked for, 0 for none.
        """
        keys = list(dict.fromkeys(room_keys))
        if not keys:
            return {}
        return await self.db.run(_count_since, keys, ts)


def _check_refs(before: Ref | None, after: Ref | None, around: Ref | None) -> None:
    for ref in (before, after, around):
        if ref is None or isinstance(ref, str):
            continue
        if isinstance(ref, bool) or not isinstance(ref, (int, float)) or not math.isfinite(ref):
            raise ValueError("a page starts or ends at a msgid (a string) or a time (a number)")
    if around is not None and (before is not None or after is not None):
        raise ValueError("around is a page of its own: not with before or after")


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ValueError("limit is a whole number of messages, at least 1")
