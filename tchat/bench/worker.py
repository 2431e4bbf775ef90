"""
``python -m tchat.bench.worker``: one worker process of a ``tchat-bench
--processes P`` run (see L{tchat.bench.workers}). It is started by the lead,
reads the lead's commands on stdin, answers on stdout, and exits when told
to or when its stdin closes (the lead is gone).
"""

from __future__ import annotations

import array
import gc
import json
import os
import re
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from tchat.bench.clients import LoadClient
from tchat.bench.config import BenchConfig, BenchError, Phase
from tchat.bench.runner import Bench
from tchat.bench.stats import own_cpu
from tchat.bench.workers import write_latencies

# The marker with its send time: a worker did not send the message, so it
# reads when it left from the text (once per message, not per delivery).
MARK_SENT = re.compile(rb"~(\d+:\d+):([\d.]+)~")


class WorkerBench(Bench):
    """A worker's share of the members: it counts their deliveries and says when all of them have a message."""

    def __init__(self, config: BenchConfig, reactor: Any, part: int, folder: str, say: Any) -> None:
        super().__init__(config, reactor, part=part)
        self.folder = folder
        self.say = say
        self.deadline = self.now() + config.timeout
        self.done_keys: list[bytes] = []
        self._done_call: Any = None
        self.finished: set[bytes] = set()
        self.phase_number = 0
        self.lost_reported = 0
        self._cpu0 = (0.0, 0.0)
        self._gc_was_on = True

    def count(self, data: bytes, receiver: LoadClient) -> int:
        found = MARK_SENT.findall(data)
        if not found:
            return 0
        receiver.received += len(found)
        now = self.now()
        pending = self.pending
        add = self.latencies.append
        nodes = len(self.config.ports)
        members = len(self.clients)
        for key, sent in found:
            entry = pending.get(key)
            if entry is None:
                if key in self.finished:
                    self.unexpected += 1
                    continue
                entry = pending[key] = [members, float(sent)]
            add(now - entry[1])
            if nodes:
                same = int(key[: key.index(b":")]) % nodes == receiver.index % nodes
                (self.same_node if same else self.cross_node).append(now - entry[1])
            if entry[0] > 1:
                entry[0] -= 1
            else:
                del pending[key]
                self.finished.add(key)
                self.done_keys.append(key)
                if self._done_call is None:
                    self._done_call = self.reactor.callLater(0, self._say_done)
        self.delivered += len(found)
        self.last_delivery = now
        return len(found)

    def _say_done(self) -> None:
        self._done_call = None
        keys, self.done_keys = self.done_keys, []
        if keys:
            self.say(b"done " + b" ".join(keys) + b"\n")

    def lost_since_report(self) -> int:
        lost = self.lost_members - self.lost_reported
        self.lost_reported = self.lost_members
        return lost

    def start_count(self) -> None:
        self.phase_number += 1
        self.pending = {}
        self.finished = set()
        self.latencies = array.array("d")
        self.same_node = array.array("d")
        self.cross_node = array.array("d")
        self.delivered = self.unexpected = 0
        self.last_delivery = 0.0
        for client in self.clients:
            client.received = 0
        gc.collect()
        self._gc_was_on = gc.isenabled()
        gc.disable()
        self._cpu0 = own_cpu()
        self.counting = True

    def end_count(self, sent_total: int) -> dict[str, Any]:
        self.counting = False
        if self._done_call is not None and self._done_call.active():
            self._done_call.cancel()
        self._say_done()
        if self._gc_was_on:
            gc.enable()
        cpu = own_cpu()
        path = os.path.join(self.folder, f"worker-{self.part}-phase-{self.phase_number}.bin")
        counts = write_latencies(path, [self.latencies, self.same_node, self.cross_node])
        self.latencies = array.array("d")
        return {
            "delivered": self.delivered,
            "unexpected": self.unexpected,
            "short": sum(1 for c in self.clients if c.received < sent_total),
            "lost": self.lost_since_report(),
            "last_delivery": self.last_delivery,
            "cpu_s": (cpu[0] - self._cpu0[0]) + (cpu[1] - self._cpu0[1]),
            "file": path,
            "counts": counts,
        }


def config_from(values: dict[str, Any]) -> BenchConfig:
    values = dict(values)
    values["phases"] = [Phase(**p) for p in values["phases"]]
    values["ports"] = tuple(values["ports"])
    values["node_pids"] = tuple(values["node_pids"])
    return BenchConfig(**values)


class Control(Protocol):
    """The lead's commands, one JSON line each, on stdin; the answers on stdout."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.bench: WorkerBench | None = None
        self._buffer = b""
        self._ending = False

    def say(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def answer(self, kind: str, value: Any) -> None:
        self.say(json.dumps({kind: value}).encode() + b"\n")

    def dataReceived(self, data: bytes) -> None:
        data = self._buffer + data
        cut = data.rfind(b"\n") + 1
        self._buffer = data[cut:]
        for line in data[:cut].split(b"\n"):
            if line:
                command = json.loads(line)
                Deferred.fromCoroutine(self.carry_out(command)).addErrback(self._failed)

    def _failed(self, failure: Failure) -> None:
        sys.stderr.write(failure.getTraceback())
        self.end()

    async def carry_out(self, command: dict[str, Any]) -> None:
        if "config" in command:
            from tchat.bench.cli import raise_file_limit

            part, _ = command["part"]
            self.bench = WorkerBench(config_from(command["config"]), self.reactor, part, command["folder"], self.say)
            raise_file_limit(len(self.bench.indices) + 64)
            self.answer("hello", True)
            return
        bench = self.bench
        assert bench is not None
        if "connect" in command:
            try:
                await bench.connect_own()
            except BenchError as e:
                self.answer("ready", {"error": f"setup failed with {sum(c.is_ready for c in bench.clients)} "
                                               f"of {len(bench.indices)} in the room: {e}"})
                return
            connected = [c.connected_at for c in bench.clients if c.connected_at is not None]
            self.answer("ready", {"login_s": [c.ready_at - c.started_at for c in bench.clients if c.ready_at],
                                  "last_connected": max(connected) if connected else None})
        elif "settle" in command:
            await bench._settle_here()
            self.answer("settled", True)
        elif "phase" in command:
            bench.start_count()
            self.answer("counting", True)
        elif "end" in command:
            self.answer("ended", bench.end_count(command["end"]["sent_total"]))
        elif "totals" in command:
            cpu = own_cpu()
            self.answer("totals", {"cpu": [cpu[0], cpu[1]], "lost": bench.lost_since_report(),
                                   "errors": bench.errors, "samples": bench.error_samples})
        elif "close" in command:
            self.end()

    def end(self) -> None:
        if self._ending:
            return
        self._ending = True
        closing = self.bench.close() if self.bench is not None else Deferred()
        if self.bench is None:
            closing.callback(None)
        closing.addBoth(lambda _: self.reactor.stop())

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        # The lead closed our stdin: it is done, or gone.
        self.end()


def main() -> None:
    if "twisted.internet.reactor" not in sys.modules and sys.platform.startswith("linux"):
        from twisted.internet import epollreactor

        epollreactor.install()
    from twisted.internet import reactor, stdio

    stdio.StandardIO(Control(reactor), reactor=reactor)
    reactor.run()


if __name__ == "__main__":
    main()
