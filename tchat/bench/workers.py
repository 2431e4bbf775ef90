"""
One run over several processes (``tchat-bench --processes P``).

Reading and counting the deliveries is most of the bench's work: a room of
2 000 turns each message into 2 000 reads to cut and search. When one process
cannot keep up, the run spreads its members over P processes. The one started
by the command (the *lead*) holds the senders and its share of the members;
P - 1 *workers* (``python -m tchat.bench.worker``), started and stopped by it,
hold the rest. Client ``i`` (never a sender) is in process ``(i - S) % P``, so
every process holds about as many.

Each worker counts its own members' deliveries and latencies (from the send
time in the marker: ``time.monotonic`` is one clock for every process on the
machine) and tells the lead once all of its members have a message. For the
lead, a worker is one more member of every message: a sender's window opens
when its message reached the lead's members and every worker said ``done``,
so a burst keeps the same number of messages in flight as in one process.
At a phase's end each worker hands over its counts and its latencies (in a
file of raw doubles in a folder the lead made), and the lead reports the run
as one.

The lead and its workers talk over the worker's stdin and stdout, one line
each way per exchange: JSON, but for the ``done`` lines of the hot path
(``done KEY KEY ...``), sent once per reactor turn.
"""

from __future__ import annotations

import array
import json
import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from tchat.bench.config import BenchError

if TYPE_CHECKING:
    from tchat.bench.runner import Bench


def part_of(index: int, senders: int, processes: int) -> int:
    """Which process holds client ``index``: the lead (0) holds every sender."""
    return 0 if index < senders else (index - senders) % processes


def write_latencies(path: str, arrays: list[array.array[float]]) -> list[int]:
    """Write ``arrays`` one after the other as raw doubles; returns their lengths."""
    with open(path, "wb") as f:
        for values in arrays:
            values.tofile(f)
    return [len(values) for values in arrays]


def read_latencies(path: str, counts: list[int]) -> list[array.array[float]]:
    """The arrays L{write_latencies} wrote, given their lengths."""
    out = []
    with open(path, "rb") as f:
        for count in counts:
            values = array.array("d")
            if count:
                values.fromfile(f, count)
            out.append(values)
    return out


class Worker(ProcessProtocol):
    """The lead's end of one worker process."""

    def __init__(self, pool: WorkerPool, number: int) -> None:
        self.pool = pool
        self.number = number
        self._buffer = b""
        self._stderr = b""
        self._waiting: dict[str, Deferred[Any]] = {}
        self.ended: Deferred[None] = Deferred()
        self.gone = False

    def ask(self, command: dict[str, Any], reply: str) -> Deferred[Any]:
        """Send ``command``; fires with the worker's ``reply`` (its value), or fails if the worker ends first."""
        d: Deferred[Any] = Deferred()
        if self.gone:
            d.errback(BenchError(self.why_gone()))
            return d
        self._waiting[reply] = d
        assert self.transport is not None
        self.transport.write(json.dumps(command).encode() + b"\n")
        return d

    def tell(self, command: dict[str, Any]) -> None:
        """Send ``command``, which has no answer."""
        if not self.gone and self.transport is not None:
            self.transport.write(json.dumps(command).encode() + b"\n")

    def why_gone(self) -> str:
        tail = self._stderr.decode("utf-8", "replace").strip()[-600:]
        return f"bench worker {self.number} ended" + (f": {tail}" if tail else "")

    def outReceived(self, data: bytes) -> None:
        data = self._buffer + data
        cut = data.rfind(b"\n") + 1
        self._buffer = data[cut:]
        if not cut:
            return
        for line in data[:cut].split(b"\n"):
            if line.startswith(b"done "):
                self.pool.bench.done_elsewhere(line[5:].split(b" "))
            elif line:
                try:
                    message = json.loads(line)
                    kind, value = next(iter(message.items()))
                except (ValueError, StopIteration, AttributeError):
                    continue
                d = self._waiting.pop(kind, None)
                if d is None:
                    continue
                if isinstance(value, dict) and value.get("error"):
                    d.errback(BenchError(f"bench worker {self.number}: {value['error']}"))
                else:
                    d.callback(value)

    def errReceived(self, data: bytes) -> None:
        self._stderr = (self._stderr + data)[-4000:]

    def processEnded(self, reason: Failure) -> None:
        self.gone = True
        waiting, self._waiting = self._waiting, {}
        for d in waiting.values():
            d.errback(BenchError(self.why_gone()))
        if not self.ended.called:
            self.ended.callback(None)


class WorkerPool:
    """The lead's workers: started together, asked together, stopped together."""

    def __init__(self, bench: Bench, processes: int) -> None:
        self.bench = bench
        self.processes = processes
        self.workers: list[Worker] = []
        self.folder = tempfile.mkdtemp(prefix="tchat-bench-")

    async def start(self) -> None:
        """Start the workers and hand each its part of the config; returns once every one is listening."""
        from dataclasses import asdict

        config = asdict(self.bench.config)
        for number in range(1, self.processes):
            worker = Worker(self, number)
            self.workers.append(worker)
            self.bench.reactor.spawnProcess(
                worker, sys.executable, [sys.executable, "-m", "tchat.bench.worker"], env=dict(os.environ),
                childFDs={0: "w", 1: "r", 2: "r"},
            )
        await self.ask_all(lambda w: {"config": config, "part": [w.number, self.processes], "folder": self.folder}, "hello")

    def ask_all(self, command: Any, reply: str) -> Deferred[list[Any]]:
        """Ask every worker (``command``: a dict, or a function of the worker giving one); fires with their replies."""
        asks = [w.ask(command(w) if callable(command) else command, reply) for w in self.workers]
        d = gatherResults(asks, consumeErrors=True)

        def first_error(f: Failure) -> Failure:
            # gatherResults wraps the first failure; the bench reports the worker's own.
            inner = getattr(f.value, "subFailure", None)
            return inner if inner is not None else f

        d.addErrback(first_error)
        return d

    async def stop(self) -> None:
        """Have every worker drop its connections and exit; kills one that does not within 10 s."""
        running = [w for w in self.workers if not w.gone]
        for worker in running:
            worker.tell({"close": True})
        for worker in running:
            timer = self.bench.reactor.callLater(10, self._kill, worker)
            await worker.ended
            if timer.active():
                timer.cancel()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _kill(self, worker: Worker) -> None:
        if not worker.gone and worker.transport is not None:
            try:
                worker.transport.signalProcess("KILL")
            except Exception:  # noqa: BLE001 - it is ending anyway
                pass
