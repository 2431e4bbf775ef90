#!/usr/bin/env python3
"""
What one message to a room costs tchat's process, without sockets or load generator.

The real hub, store (a SQLite file) and line door, in a real reactor; the
members' connections are StringTransports (nothing is sent, the bytes are
counted). Ten senders each hand the door a window of 8 JSON ``msg`` lines
per reactor turn, as tchat-bench's senders do, until every ``ok`` is back.

    python benchmarks/message_cost.py --members 50
        CPU seconds of the process (both threads) per message: quick, but
        moves ±10 % from run to run on a shared machine.
    python benchmarks/message_cost.py --members 50 --callgrind
        instructions per message under valgrind's callgrind: two runs (96
        and 296 messages per sender), their difference over 2 000 messages,
        so start-up cancels out. Repeatable to about 1 %, whatever else the
        machine does; about a minute.

``--no-store`` leaves the store out (the ``ok`` then goes at once): what the
store's part of a message costs is the difference.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SENDERS = 10
WINDOW = 8


def make_lines(per_sender: int, path: Path) -> None:
    """Every reactor turn's input, per sender: WINDOW msg lines each."""
    seq = 0
    turns = []
    for _ in range(per_sender // WINDOW):
        turn = []
        for _ in range(SENDERS):
            lines = []
            for _ in range(WINDOW):
                seq += 1
                lines.append(json.dumps({"action": "msg", "to": "#lobby", "text": f"m {seq} {time.monotonic():.6f} bench", "id": seq}).encode() + b"\r\n")
            turn.append(b"".join(lines))
        turns.append(turn)
    path.write_bytes(pickle.dumps(turns))


def measure(members: int, lines: Path, store: bool) -> None:
    from twisted.internet import defer, reactor, task
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from tchat.chat import Hub, HubConfig
    from tchat.collect import PacedCollectionService
    from tchat.door.line import LineDoor, LineLimits
    from tchat.store import open_store

    oks = [0]
    waiting: list[tuple[int, defer.Deferred[None]]] = []

    class Transport(StringTransport):
        """Counts what is written; a sender's counts its oks, and wakes the wait for the last."""

        sender = False
        written = 0

        def write(self, data: bytes) -> None:
            self.written += len(data)
            if self.sender:
                oks[0] += data.count(b'"event":"ok"')
                if waiting and oks[0] >= waiting[0][0]:
                    waiting.pop()[1].callback(None)

        def writeSequence(self, seq: Any) -> None:
            for data in seq:
                self.write(data)

    async def main() -> None:
        PacedCollectionService(reactor).startService()
        hub = Hub(HubConfig(max_users=100000), reactor, batch=True)
        folder = tempfile.mkdtemp(prefix="tchat-cost-")
        if store:
            await hub.use_store(await open_store(f"sqlite:{folder}/chat.db", reactor))
        limits = LineLimits(flood_rate=1e6, flood_burst=10**6, flood_queue=10**6, max_per_address=10**6)
        door = LineDoor(hub, limits, reactor)
        sessions = []
        for i in range(members):
            transport = Transport(peerAddress=IPv4Address("TCP", "127.0.0.1", 20000 + i))
            session = door.buildProtocol(None)
            session.makeConnection(transport)
            session.dataReceived(json.dumps({"action": "login", "user": f"u{i}"}).encode() + b"\r\n")
            sessions.append((session, transport))
            await task.deferLater(reactor, 0, lambda: None)
        for _ in range(20):
            await task.deferLater(reactor, 0.01, lambda: None)
        if hub.state.user(f"u{members - 1}") is None:
            raise SystemExit("the members did not all log in")
        senders = sessions[:SENDERS]
        for _, transport in senders:
            transport.sender = True
        turns = pickle.loads(lines.read_bytes())
        total = len(turns) * SENDERS * WINDOW
        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for turn in turns:
            for (session, _), data in zip(senders, turn):
                session.dataReceived(data)
            await task.deferLater(reactor, 0, lambda: None)
        if oks[0] < total:
            done: defer.Deferred[None] = defer.Deferred()
            waiting.append((total, done))
            await done
        cpu1, wall1 = time.process_time(), time.perf_counter()
        print(f"{members} members, {total} messages: {(cpu1 - cpu0) / total * 1e6:.1f} µs of CPU per message"
              f" ({(wall1 - wall0) / total * 1e6:.1f} µs wall); {sum(t.written for _, t in sessions):,} bytes written")

    def run() -> None:
        d = defer.Deferred.fromCoroutine(main())
        d.addErrback(lambda f: f.printTraceback())
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(run)
    reactor.run()


def callgrind(members: int, per_sender: int, store: bool) -> None:
    """Instructions per message: two runs under callgrind, their difference."""
    small = 96 + WINDOW  # 96 messages per sender after rounding to the window
    counts = []
    with tempfile.TemporaryDirectory(prefix="tchat-cost-") as folder:
        for per in (small, per_sender):
            lines = Path(folder) / f"lines-{per}"
            make_lines(per, lines)
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/callgrind.{per}",
                       sys.executable, __file__, "--members", str(members), "--lines", str(lines)]
            if not store:
                command.append("--no-store")
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise SystemExit(f"callgrind run failed: {done.stderr[-800:]}")
            counts.append((per // WINDOW * WINDOW * SENDERS, int(found.group(1))))
    (m0, i0), (m1, i1) = counts
    print(f"{members} members{'' if store else ', no store'}: {(i1 - i0) / (m1 - m0):,.0f} instructions per message"
          f" (callgrind, {m1 - m0} messages' difference)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50, help="members of the room, senders included (at least 10)")
    parser.add_argument("--messages", type=int, default=304, help="messages per sender (default 304)")
    parser.add_argument("--no-store", action="store_true", help="no store: the ok goes at once")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--lines", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.members < SENDERS:
        parser.error(f"--members must be at least {SENDERS}")
    if args.callgrind:
        callgrind(args.members, args.messages, not args.no_store)
        return
    if args.lines is not None:
        measure(args.members, Path(args.lines), not args.no_store)
        return
    with tempfile.TemporaryDirectory(prefix="tchat-cost-") as folder:
        lines = Path(folder) / "lines"
        make_lines(args.messages, lines)
        measure(args.members, lines, not args.no_store)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    # For the runs under callgrind, which inherit it: the same hashes, the same instructions.
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
