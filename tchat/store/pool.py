"""
The database threads: adbapi's ConnectionPool, made safe for a database that stops answering.

adbapi gives each pool thread its own connection and starts and stops the
threads with the reactor. L{Pool} keeps that and changes what was seen to
hang tchat when the database hung:

- **Daemon threads.** A thread stuck in a call that never returns (a frozen
  network, a hung disk) must not keep the process from exiting.
- **Closing never joins a stuck thread.** ``ThreadPool.stop`` joins every
  thread; adbapi calls it from ``close`` and from its own "during shutdown"
  trigger (``finalClose``), so one stuck call hung a SIGTERM'd tchat for
  good. L{Pool.finalClose} joins the threads only when none is inside a
  call; otherwise it leaves them (and their connections) to die with the
  process.
- **Calls go through L{Pool.submit}**, not ``runInteraction``, which:

  * skips a call whose caller stopped waiting before it began (a call that
    timed out while queued behind a stuck one is never carried out late);
  * logs nothing: adbapi logs a traceback for every failed rollback, which a
    dropped connection causes on every call;
  * turns a driver error that means "the database cannot be used now" into
    L{tchat.store.errors.StoreUnavailable}, with ``unavailable`` (see
    L{tchat.store.outage}), in the thread, where it may look at the disk;
  * drops a broken connection (the next call on that thread opens a new
    one) and, since a server restart breaks every connection of the pool at
    once, has each other thread check its connection once (``SELECT 1``)
    before its next call, instead of failing one call each.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from tchat.store.errors import StoreUnavailable

T = TypeVar("T")


class _DaemonThread(threading.Thread):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["daemon"] = True
        super().__init__(*args, **kwargs)


class _DaemonThreadPool(ThreadPool):
    threadFactory = _DaemonThread


class Call:
    """
    One call handed to the pool. ``given_up`` is set (in the reactor thread)
    once its caller has had an answer, so a pool thread that only reaches it
    afterwards skips it.
    """

    __slots__ = ("given_up",)

    def __init__(self) -> None:
        self.given_up = False


class Pool(adbapi.ConnectionPool):
    """
    An adbapi pool with daemon threads, bounded closing and quiet calls.

    Takes adbapi's arguments plus ``unavailable``: a function from a driver
    exception to the L{StoreUnavailable} to raise instead, or None to let it
    through.
    """

    def __init__(
        self,
        dbapi_name: str,
        *connargs: Any,
        unavailable: Callable[[BaseException], StoreUnavailable | None],
        **connkw: Any,
    ) -> None:
        super().__init__(dbapi_name, *connargs, **connkw)
        adbapis = self.threadpool
        self.threadpool = _DaemonThreadPool(self.min, self.max, "tchat-store")
        if self.running:
            # The reactor runs already, so adbapi started its own thread
            # pool inside __init__: swap it for ours before any call.
            adbapis.stop()
            self.threadpool.start()
        self._unavailable = unavailable
        self._lock = threading.Lock()
        self._unfinished = 0
        self._busy: set[int] = set()
        # Set by finalClose under the lock: from then on no thread starts a
        # call (its connection may be closed under it).
        self._closed = False
        # How many broken connections were seen; a thread whose connection
        # was last known good at a smaller number checks it first.
        self._breakages = 0
        self._checked_at: dict[int, int] = {}

    @property
    def unfinished(self) -> int:
        """Calls handed to the threads that have not come back (running, stuck, or waiting for a thread)."""
        with self._lock:
            return self._unfinished

    def submit(self, call: Call, interaction: Callable[..., T], *args: Any) -> Deferred[T]:
        """
        Run ``interaction(cursor, *args)`` in one transaction in a pool
        thread: committed if it returns, rolled back if it raises. The
        Deferred has no canceller; cancel it to stop waiting (a late result
        is then dropped).
        """
        with self._lock:
            self._unfinished += 1
        return deferToThreadPool(self._reactor, self.threadpool, self._in_thread, call, interaction, *args)

    # -- in a pool thread --------------------------------------------------------

    def _in_thread(self, call: Call, interaction: Callable[..., T], *args: Any) -> T:
        try:
            if call.given_up:
                # Its Deferred has fired already; this result goes nowhere.
                return None  # type: ignore[return-value]
            thread = self.threadID()
            with self._lock:
                if self._closed:
                    # A call queued before the close, reached after it.
                    raise StoreUnavailable("the store is closed")
                self._busy.add(thread)
            try:
                return self._transaction(interaction, *args)
            except BaseException as error:
                unavailable = self._unavailable(error)
                if unavailable is None:
                    raise
                # Not chained: the driver's text may quote SQL.
                raise unavailable from None
            finally:
                with self._lock:
                    self._busy.discard(thread)
        finally:
            with self._lock:
                self._unfinished -= 1

    def _transaction(self, interaction: Callable[..., T], *args: Any) -> T:
        connection = self._connection()
        try:
            cursor = connection.cursor()
            result = interaction(cursor, *args)
            cursor.close()
            connection.commit()
            return result
        except BaseException:
            self._roll_back(connection)
            raise

    def _connection(self) -> Any:
        thread = self.threadID()
        fresh = thread not in self.connections
        connection = self.connect()
        breakages = self._breakages
        if fresh:
            self._checked_at[thread] = breakages
        elif self._checked_at.get(thread, 0) < breakages:
            self._checked_at[thread] = breakages
            if not self._answers(connection):
                self._drop(connection)
                connection = self.connect()
        return connection

    def _answers(self, connection: Any) -> bool:
        try:
            cursor = connection.cursor()
            cursor.execute(self.good_sql)
            cursor.close()
            connection.rollback()
            return True
        except Exception:
            return False

    def _roll_back(self, connection: Any) -> None:
        try:
            connection.rollback()
        except Exception:
            self._drop(connection)
            return
        if getattr(connection, "broken", False):
            self._drop(connection)

    def _drop(self, connection: Any) -> None:
        with self._lock:
            self._breakages += 1
        try:
            self.disconnect(connection)
        except Exception:
            pass  # already gone from the pool; nothing else to do with a dead connection

    # -- closing ------------------------------------------------------------------

    def finalClose(self) -> None:
        """
        Stop the threads and close the connections, without waiting for a
        call that is stuck: its thread and connection are left alone (a
        daemon thread does not keep the process alive, and PostgreSQL rolls
        back the transaction of a connection that drops).
        """
        self.shutdownID = None
        self.running = False
        with self._lock:
            # No call starts after this: a thread idle now never touches its
            # connection again, so closing it cannot pull it from under one.
            self._closed = True
            unfinished = self._unfinished
            busy = set(self._busy)
        if unfinished == 0:
            self.threadpool.stop()  # every thread is idle: this joins at once
        else:
            threading.Thread(target=self.threadpool.stop, name="tchat-store-stop", daemon=True).start()
        for thread, connection in list(self.connections.items()):
            if thread not in busy:
                self._close(connection)
                del self.connections[thread]
