"""
The run: L{Bench} connects and seats every client, runs the phases (burst or
open-loop steady), counts deliveries on the hot path, watches for stalls and
the overall timeout, and returns the results as a dict.
"""

from __future__ import annotations

import array
import gc
import ipaddress
import platform
import re
import time
from dataclasses import asdict
from typing import Any, Callable

from twisted.internet.defer import Deferred, TimeoutError as DeferredTimeout
from twisted.python.failure import Failure

from tchat.bench.clients import IrcClient, LoadClient, TchatClient
from tchat.bench.config import BenchConfig, BenchError, Phase, check_host
from tchat.bench.stats import own_cpu, read_cpu_seconds, read_rss_kib, summarize
from tchat.bench.workers import WorkerPool, part_of, read_latencies

# ~SENDER:SEQ:SENT_AT~ : the key "SENDER:SEQ" names a message uniquely over a
# whole run (sequence numbers go on from one phase to the next). SENT_AT makes a
# message's text say when it left; the bench itself keeps that time beside the
# key (Bench.pending) rather than reading it back from every delivery.
MARK = re.compile(rb"~(\d+:\d+):[\d.]+~")


def _report_connect_failure(failure: Any, client: "LoadClient") -> None:
    client.fail(f"cannot connect: {failure.getErrorMessage()}")


class Bench:
    """
    Runs one configured load against one server and collects the results.
    L{run} does everything and returns the results as a dict (see
    L{tchat.bench.report.format_summary} for what they mean); L{close}
    drops every connection.
    """

    def __init__(self, config: BenchConfig, reactor: Any = None, clock: Callable[[], float] = time.monotonic,
                 part: int = 0) -> None:
        config.check()
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config
        self.reactor = reactor
        self.now = clock
        self.address = check_host(config.host, config.allow_remote)
        # With --processes P, this process is part ``part`` of the run (0:
        # the lead, which holds the senders) and holds these clients.
        self.part = part
        self.indices = [i for i in range(config.connections)
                        if config.processes == 1 or part_of(i, config.senders, config.processes) == part]
        self.pool: WorkerPool | None = None
        # For the lead, each worker is one more member of every message (it says when all of its members have it).
        self.others = config.processes - 1 if part == 0 else 0
        self.clients: list[LoadClient] = []
        self.senders: list[LoadClient] = []
        self.bytes_in = 0
        self.counting = False
        self.closing = False
        self.lost_members = 0
        # Members of the workers short of messages in this phase (theirs to count).
        self.short_elsewhere = 0
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.deadline = 0.0
        # Per phase:
        # Per message not yet delivered to every member: [members still to
        # get it, when it was sent].
        self.pending: dict[bytes, list[Any]] = {}
        self.latencies = array.array("d")
        self.same_node = array.array("d")
        self.cross_node = array.array("d")
        self.delivered = 0
        self.unexpected = 0
        self.completed = 0
        self.sent_total = 0
        self.phase_total = 0
        self.first_send = 0.0
        self.last_send = 0.0
        self.last_delivery = 0.0
        self.last_progress = 0.0
        self.max_send_lag = 0.0
        self.burst = False
        self._phase_done: Deferred[str] | None = None
        self._send_timer: Any = None
        self._watchdog: Any = None

    # -- the run --------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        config = self.config
        started = self.now()
        self.deadline = started + config.timeout
        cpu0 = own_cpu()
        worker_cpu = [0.0, 0.0]
        results: dict[str, Any] = {
            "tool": "tchat-bench",
            "protocol": config.protocol,
            "server": {"host": self.address, "port": config.port, "pid": config.server_pid},
            "config": {
                "connections": config.connections,
                "senders": config.senders,
                "phases": [asdict(p) for p in config.phases],
                "window": config.window,
                "size": config.size,
                "room": config.room_name(),
                "concurrency": config.concurrency,
                "source_ips": config.source_ips,
                "ack": "quick" if config.quickack else "delayed",
                "no_room": config.no_room,
                "processes": config.processes,
            },
            "ok": False,
            "memory": {"rss_kib": {"before": read_rss_kib(config.server_pid)}},
            "phases": [],
        }
        try:
            if self.others:
                self.pool = WorkerPool(self, config.processes)
                await self._wait(Deferred.fromCoroutine(self.pool.start()), "starting the bench's worker processes")
            results["setup"] = await self.connect_all()
            await self.settle()
            results["memory"]["rss_kib"]["logged_in"] = read_rss_kib(config.server_pid)
            for number, phase in enumerate(config.phases, 1):
                if phase.messages == 0:
                    continue
                outcome = await self.run_phase(phase)
                outcome["phase"] = number
                results["phases"].append(outcome)
                await self.settle()
                results["memory"]["rss_kib"][f"after_phase_{number}"] = read_rss_kib(config.server_pid)
            if self.pool is not None:
                for totals in await self._wait(self.pool.ask_all({"totals": True}, "totals"), "reading the workers' totals"):
                    self.lost_members += totals["lost"]
                    for code, n in totals["errors"].items():
                        self.errors[code] = self.errors.get(code, 0) + n
                    self.error_samples = (self.error_samples + totals["samples"])[:5]
                    worker_cpu[0] += totals["cpu"][0]
                    worker_cpu[1] += totals["cpu"][1]
            results["ok"] = all(p["complete"] for p in results["phases"]) and self.lost_members == 0
        except BenchError as e:
            results["error"] = str(e)
        rss = results["memory"]["rss_kib"]
        rss["after_run"] = read_rss_kib(config.server_pid)
        if rss.get("before") is not None and rss.get("logged_in") is not None:
            results["memory"]["per_connection_kib"] = (rss["logged_in"] - rss["before"]) / config.connections
        cpu1 = own_cpu()
        results["bench"] = {
            "wall_s": self.now() - started,
            # Every process's (the workers' from their start).
            "cpu_user_s": cpu1[0] - cpu0[0] + worker_cpu[0],
            "cpu_system_s": cpu1[1] - cpu0[1] + worker_cpu[1],
            "processes": config.processes,
            "python": platform.python_version(),
            "reactor": type(self.reactor).__name__,
        }
        results["lost_connections"] = self.lost_members
        results["server_errors"] = dict(self.errors)
        if self.error_samples:
            results["server_error_samples"] = self.error_samples
        return results

    def remaining(self) -> float:
        left = self.deadline - self.now()
        if left <= 0:
            raise BenchError(f"the run took longer than --timeout {self.config.timeout:g} s")
        return left

    async def _wait(self, d: Deferred[Any], what: str) -> Any:
        try:
            return await d.addTimeout(self.remaining(), self.reactor)
        except DeferredTimeout:
            raise BenchError(f"--timeout {self.config.timeout:g} s reached while {what}") from None

    # -- setup ----------------------------------------------------------

    def make_client(self, index: int) -> LoadClient:
        return (TchatClient if self.config.protocol == "tchat" else IrcClient)(self, index)

    def endpoint(self, index: int) -> Any:
        from twisted.internet import endpoints

        config = self.config
        port = config.ports[index % len(config.ports)] if config.ports else config.port
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return endpoints.HostnameEndpoint(self.reactor, self.address, port, timeout=config.connect_timeout)
        if ip.version == 6:
            return endpoints.TCP6ClientEndpoint(self.reactor, self.address, port, timeout=config.connect_timeout)
        bind = None
        if config.source_ips > 1 and ip.is_loopback:
            bind = (f"127.0.0.{1 + index % config.source_ips}", 0)
        return endpoints.TCP4ClientEndpoint(
            self.reactor, self.address, port, timeout=config.connect_timeout, bindAddress=bind
        )

    async def connect_all(self) -> dict[str, Any]:
        """Connect, log in and seat every client (the workers theirs, at the same time); at most ``concurrency`` at a time."""
        config = self.config
        started = self.now()
        elsewhere = self.pool.ask_all({"connect": True}, "ready") if self.pool is not None else None
        try:
            await self.connect_own()
        except BenchError as e:
            if elsewhere is not None:
                elsewhere.addErrback(lambda _: None)  # this process's own failure is the one to report
            ready = sum(c.is_ready for c in self.clients)
            mine = " (of this process's)" if self.pool is not None else ""
            raise BenchError(f"setup failed with {ready} of {len(self.indices)}{mine} in the room: {e}") from None
        # A worker's failure says which worker, and how many of its own were in the room.
        workers = [] if elsewhere is None else await self._wait(elsewhere, "the workers connected")
        done = self.now()
        connected = [c.connected_at for c in self.clients if c.connected_at is not None]
        connected += [w["last_connected"] for w in workers if w["last_connected"] is not None]
        wall = done - started
        self.senders = self.clients[: config.senders]
        logins = [c.ready_at - c.started_at for c in self.clients if c.ready_at]
        for w in workers:
            logins += w["login_s"]
        total = config.connections
        return {
            "connections": total,
            "seconds": wall,
            "logins_per_s": total / wall if wall > 0 else None,
            "connects_per_s": total / (max(connected) - started) if connected and max(connected) > started else None,
            "login_ms": summarize(logins, 1000.0),
        }

    async def connect_own(self) -> None:
        """Connect, log in and seat this process's clients; its share of ``concurrency`` at a time."""
        from twisted.internet.endpoints import connectProtocol

        config = self.config
        indices = self.indices
        total = len(indices)
        concurrency = max(1, config.concurrency // config.processes)
        all_in: Deferred[None] = Deferred()
        state = {"next": 0, "active": 0, "ready": 0}

        def launch() -> None:
            while state["next"] < total and state["active"] < concurrency and not all_in.called:
                index = indices[state["next"]]
                state["next"] += 1
                state["active"] += 1
                client = self.make_client(index)
                client.started_at = self.now()
                self.clients.append(client)
                client.connecting = connectProtocol(self.endpoint(index), client)
                client.connecting.addErrback(_report_connect_failure, client)
                client.ready.addCallbacks(seated, failed)

        def seated(_: Any) -> None:
            state["active"] -= 1
            state["ready"] += 1
            if state["ready"] == total:
                if not all_in.called:
                    all_in.callback(None)
            else:
                launch()

        def failed(f: Failure) -> None:
            if not all_in.called:
                all_in.errback(f)

        if total == 0:
            all_in.callback(None)
        launch()
        await self._wait(all_in, f"connecting ({state['ready']} of {total} in the room)")

    async def settle(self) -> None:
        """Wait until nothing has arrived for ``settle`` seconds (at most 30 s): the server is quiet."""
        if self.config.settle <= 0:
            return
        elsewhere = self.pool.ask_all({"settle": True}, "settled") if self.pool is not None else None
        await self._settle_here()
        if elsewhere is not None:
            await self._wait(elsewhere, "waiting for the workers' connections to be quiet")

    async def _settle_here(self) -> None:
        quiet_for = self.config.settle
        limit = self.now() + 30.0
        last = self.bytes_in
        quiet_since = self.now()
        while self.now() < limit:
            self.remaining()
            d: Deferred[None] = Deferred()
            self.reactor.callLater(min(0.1, quiet_for), d.callback, None)
            await d
            if self.bytes_in != last:
                last = self.bytes_in
                quiet_since = self.now()
            elif self.now() - quiet_since >= quiet_for:
                return

    # -- a phase --------------------------------------------------------

    async def run_phase(self, phase: Phase) -> dict[str, Any]:
        config = self.config
        self.pending = {}
        self.latencies = array.array("d")
        self.same_node = array.array("d")
        self.cross_node = array.array("d")
        self.delivered = self.unexpected = self.completed = self.sent_total = 0
        self.max_send_lag = 0.0
        self.short_elsewhere = 0
        self.burst = phase.rate <= 0
        self.phase_total = phase.messages * len(self.senders)
        self._phase_done = Deferred()
        for client in self.clients:
            client.received = 0
            client.sent = 0
        for sender in self.senders:
            sender.to_send = phase.messages
            sender.credit = config.window
        lost_before = self.lost_members
        if self.pool is not None:
            await self._wait(self.pool.ask_all({"phase": True}, "counting"), "starting the workers' count")
        # A collection of the bench's own garbage in mid-phase would show up
        # as latency of the server; what a phase makes is short-lived and
        # acyclic, so the collector stays off until the phase ends.
        gc.collect()
        gc_was_on = gc.isenabled()
        gc.disable()
        server_cpu0 = read_cpu_seconds(config.server_pid)
        nodes_cpu0 = [read_cpu_seconds(pid) for pid in config.node_pids]
        cpu0 = own_cpu()
        self.counting = True
        self.first_send = self.last_send = self.last_delivery = self.last_progress = self.now()
        if phase.rate > 0:
            self._schedule(phase.rate, self.first_send)
        else:
            for sender in self.senders:
                self._pump(sender)
        self._watchdog = self.reactor.callLater(0.25, self._check_stall)
        try:
            why = await self._wait(self._phase_done, f"running a {phase.kind} phase")
        finally:
            self.counting = False
            if gc_was_on:
                gc.enable()
            for timer in (self._watchdog, self._send_timer):
                if timer is not None and timer.active():
                    timer.cancel()
            self._watchdog = self._send_timer = None
        cpu1 = own_cpu()
        server_cpu1 = read_cpu_seconds(config.server_pid)
        nodes_cpu1 = [read_cpu_seconds(pid) for pid in config.node_pids]
        own_cpu_s = (cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1])
        worker_cpu_s: list[float] = []
        if self.pool is not None:
            ended = await self._wait(self.pool.ask_all({"end": {"sent_total": self.sent_total}}, "ended"),
                                     "ending the workers' count")
            self._take_counts(ended, worker_cpu_s)
        members = config.connections
        end = self.last_delivery if self.delivered else self.now()
        wall = max(end - self.first_send, 1e-9)
        expected = self.sent_total * (members - 1)
        short = self.short_elsewhere
        for client in self.clients:
            if client.received < self.sent_total - client.sent:
                short += 1
        bench_cpu = own_cpu_s + sum(worker_cpu_s)
        outcome: dict[str, Any] = {
            "kind": phase.kind,
            "rate": phase.rate,
            "senders": len(self.senders),
            "messages_per_sender": phase.messages,
            "members": members,
            "window": config.window if phase.rate <= 0 else None,
            "end": why,
            "complete": why == "done" and self.delivered == expected and self.lost_members == lost_before,
            "messages_sent": self.sent_total,
            "messages_complete": self.completed,
            "deliveries_expected": expected,
            "deliveries": self.delivered,
            "deliveries_missing": expected - self.delivered,
            "deliveries_unexpected": self.unexpected,
            "members_short": short,
            "seconds": wall,
            "deliveries_per_s": self.delivered / wall,
            "messages_per_s": self.completed / wall,
            "send_seconds": self.last_send - self.first_send,
            "latency_ms": summarize(self.latencies, 1000.0),
            "bench_cpu_s": bench_cpu,
            # The busiest process's share: near 1, the bench set the pace.
            "bench_cpu_share": max([own_cpu_s, *worker_cpu_s]) / wall,
        }
        if worker_cpu_s:
            outcome["bench_cpu_shares"] = [cpu / wall for cpu in (own_cpu_s, *worker_cpu_s)]
        if config.ports:
            outcome["latency_same_node_ms"] = summarize(self.same_node, 1000.0)
            outcome["latency_cross_node_ms"] = summarize(self.cross_node, 1000.0)
        if config.node_pids:
            outcome["node_cpu_s"] = [
                None if a is None or b is None else b - a for a, b in zip(nodes_cpu0, nodes_cpu1)
            ]
        if phase.rate > 0:
            span = self.last_send - self.first_send
            outcome["send_rate"] = (self.sent_total - 1) / span if span > 0 and self.sent_total > 1 else None
            outcome["max_send_lag_ms"] = self.max_send_lag * 1000.0
        if server_cpu0 is not None and server_cpu1 is not None:
            outcome["server_cpu_s"] = server_cpu1 - server_cpu0
            outcome["server_cpu_us_per_delivery"] = (
                (server_cpu1 - server_cpu0) / self.delivered * 1e6 if self.delivered else None
            )
        self.latencies = array.array("d")
        return outcome

    def _send(self, sender: LoadClient) -> None:
        now = self.now()
        seq = self.sent_total
        text = b"~%d:%d:%.6f~" % (sender.index, seq, now)
        pad = self.config.size - len(text)
        if pad > 0:
            text += b"x" * pad
        self.pending[b"%d:%d" % (sender.index, seq)] = [len(self.clients) - 1 + self.others, now]
        self.sent_total += 1
        sender.sent += 1
        sender.to_send -= 1
        self.last_send = self.last_progress = now
        sender.send_text(text)

    def _pump(self, sender: LoadClient) -> None:
        while sender.credit > 0 and sender.to_send > 0 and sender.connected:
            sender.credit -= 1
            self._send(sender)

    def _schedule(self, rate: float, start: float) -> None:
        """Open loop: message k (of all senders, in turn) leaves at start + k / rate."""
        senders = [s for s in self.senders if s.to_send > 0]
        turn = 0

        def tick() -> None:
            nonlocal turn
            now = self.now()
            due = min(self.phase_total, int((now - start) * rate) + 1)
            while self.sent_total < due and senders:
                sender = senders[turn % len(senders)]
                if sender.to_send <= 0 or not sender.connected:
                    senders.remove(sender)
                    continue
                self.max_send_lag = max(self.max_send_lag, now - (start + self.sent_total / rate))
                self._send(sender)
                turn += 1
            if self.sent_total < self.phase_total and senders:
                next_at = start + self.sent_total / rate
                self._send_timer = self.reactor.callLater(max(0.0, next_at - self.now()), tick)
            else:
                self._maybe_done()

        tick()

    def count(self, data: bytes, receiver: LoadClient) -> int:
        """Count the deliveries in ``data`` (whole lines) that ``receiver`` got; the hot path."""
        found = MARK.findall(data)
        if not found:
            return 0
        receiver.received += len(found)
        now = self.now()
        pending = self.pending
        add = self.latencies.append
        nodes = len(self.config.ports)
        for key in found:
            entry = pending.get(key)
            if entry is None:
                self.unexpected += 1
                continue
            add(now - entry[1])
            if nodes:
                same = int(key[: key.index(b":")]) % nodes == receiver.index % nodes
                (self.same_node if same else self.cross_node).append(now - entry[1])
            if entry[0] > 1:
                entry[0] -= 1
            else:
                self._complete(key)
        self.delivered += len(found)
        self.last_delivery = self.last_progress = now
        if not pending and self.sent_total == self.phase_total:
            self._maybe_done()
        return len(found)

    def _complete(self, key: bytes) -> None:
        """Every member has message ``key``: its sender may send one more."""
        del self.pending[key]
        self.completed += 1
        sender = self.clients[int(key[: key.index(b":")])]
        sender.credit += 1
        if self.burst and sender.to_send > 0:
            self._pump(sender)

    def done_elsewhere(self, keys: list[bytes]) -> None:
        """A worker's members all have these messages (see L{tchat.bench.workers})."""
        if not self.counting:
            return
        pending = self.pending
        for key in keys:
            entry = pending.get(key)
            if entry is None:
                continue
            if entry[0] > 1:
                entry[0] -= 1
            else:
                self._complete(key)
        self.last_progress = self.now()
        if not pending and self.sent_total == self.phase_total:
            self._maybe_done()

    def _take_counts(self, ended: list[dict[str, Any]], cpu: list[float]) -> None:
        """Add the workers' counts and latencies of a phase to this process's."""
        for counts in ended:
            self.delivered += counts["delivered"]
            self.unexpected += counts["unexpected"]
            self.short_elsewhere += counts["short"]
            self.lost_members += counts["lost"]
            if counts["delivered"]:
                self.last_delivery = max(self.last_delivery, counts["last_delivery"])
            cpu.append(counts["cpu_s"])
            latencies, same, cross = read_latencies(counts["file"], counts["counts"])
            self.latencies.extend(latencies)
            self.same_node.extend(same)
            self.cross_node.extend(cross)

    def _maybe_done(self) -> None:
        if not self.pending and self.sent_total >= self.phase_total:
            self._finish("done")

    def _finish(self, why: str) -> None:
        if self._phase_done is not None and not self._phase_done.called:
            self._phase_done.callback(why)

    def _check_stall(self) -> None:
        if self._phase_done is None or self._phase_done.called:
            return
        if self.now() - self.last_progress >= self.config.stall:
            self._finish(f"stalled: nothing sent or delivered for {self.config.stall:g} s")
            return
        self._watchdog = self.reactor.callLater(0.25, self._check_stall)

    # -- events from the clients -----------------------------------------

    def server_error(self, client: LoadClient, code: str, text: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{client.name}: {code}: {text}"[:300])

    def member_lost(self, client: LoadClient, reason: Failure | None) -> None:
        if self.closing:
            return
        self.lost_members += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{client.name}: connection lost: {reason.getErrorMessage() if reason else '?'}")

    # -- the end --------------------------------------------------------

    def close(self) -> Deferred[Any]:
        """Drop every connection (and stop those still connecting); fires once all are gone."""
        from twisted.internet.defer import DeferredList

        self.closing = True
        waits = []
        for client in self.clients:
            client._cancel_timer()
            if client.connecting is not None and not client.connecting.called:
                client.connecting.cancel()
            if client.connected and client.transport is not None:
                client.transport.abortConnection()
                waits.append(client.lost)
        if self.pool is not None:
            pool, self.pool = self.pool, None
            waits.append(Deferred.fromCoroutine(pool.stop()))
        return DeferredList(waits, consumeErrors=True)
