"""
How fast the store answers at a million messages: history pages, paging,
offline delivery, and writes with and without group commit.

Run from the top of the repository (PostgreSQL is optional)::

    python benchmarks/store_bench.py
    python benchmarks/store_bench.py --engines sqlite --messages 100000 --output -

For each engine it makes a database of its own (SQLite: a file in a fresh
folder under /tmp; PostgreSQL: a database ``tchat_bench_<random>`` made from
``--postgres``, dropped at the end), creates the schema through the store,
fills it with ``--messages`` messages over ``--rooms`` rooms by bulk insert
(executemany / COPY: the fill is set-up, not a measure), and then measures
through the real store API on the real reactor, one call at a time unless
said otherwise:

- the last 50 messages of a room (rooms in turn), ``--repeat`` times;
- paging back with ``before`` through one room, 50 at a time;
- ``count_since`` over 50 rooms;
- a login: argon2 verify with the default parameters (reported alone), and
  taking 100 queued offline messages;
- ``history.add`` from 100 concurrent writers (each awaits its add, then
  sends the next), with group commit and without (the median of
  ``--rounds`` rounds), and one writer alone.

It writes a reStructuredText fragment (``--output``, default
docs/perf/store.rst) with the figures, the machine and the command.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import secrets
import shlex
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import task  # noqa: E402
from twisted.internet.defer import Deferred, gatherResults  # noqa: E402

from tchat.store import Store, open_store, parse_url  # noqa: E402
from tchat.store.txn import Txn  # noqa: E402
from tchat.store.history import LAST_PAGE_SQL, PAGE_BEFORE_SQL  # noqa: E402

PAGE = 50
DEFAULT_POSTGRES = os.environ.get("TCHAT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TEXT = "the quick brown fox jumps over the lazy dog, again and again"  # ~60 characters, a typical line


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Figures:
    """What one engine measured; ``rows`` are (measure, shown value) in table order."""

    engine: str
    version: str = ""
    fill_seconds: float = 0.0
    rows: dict[str, str] = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await call()
    return (time.perf_counter() - start) * 1000.0, result


def ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5):.2f} / {percentile(values, 0.99):.2f}"


# -- databases ---------------------------------------------------------------------


class Target:
    """Where one engine's benchmark database lives, and how to bulk-fill it."""

    engine: str
    url: str

    def fill(self, messages: int, rooms: int, start_ts: float) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        pass


def message_rows(messages: int, rooms: int, start_ts: float) -> Any:
    for i in range(messages):
        room = f"#room{i % rooms}"
        yield (f"bench-{i}", room, f"user{i % 1000}", room, TEXT, "public", start_ts + i * 0.01)


class SQLiteTarget(Target):
    engine = "sqlite"

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="tchat-bench-", dir="/tmp")
        self.path = os.path.join(self.folder.name, "bench.db")
        self.url = f"sqlite:{self.path}"

    def fill(self, messages: int, rooms: int, start_ts: float) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        # Durability does not matter for the fill: it is redone if it fails.
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO messages (msgid, conversation, sender, target, text, kind, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
            message_rows(messages, rooms, start_ts),
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def drop(self) -> None:
        self.folder.cleanup()


class PostgreSQLTarget(Target):
    engine = "postgresql"

    def __init__(self, admin_dsn: str) -> None:
        import psycopg
        from urllib.parse import urlsplit, urlunsplit

        self.admin_dsn = admin_dsn
        self.database = f"tchat_bench_{secrets.token_hex(4)}"
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"CREATE DATABASE {self.database}")
        parts = urlsplit(admin_dsn)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + self.database, parts.query, ""))

    def fill(self, messages: int, rooms: int, start_ts: float) -> None:
        import psycopg

        with psycopg.connect(self.url) as connection:
            with connection.cursor() as cursor:
                with cursor.copy("COPY messages (msgid, conversation, sender, target, text, kind, ts) FROM STDIN") as copy:
                    for row in message_rows(messages, rooms, start_ts):
                        copy.write_row(row)
            connection.commit()
            connection.autocommit = True
            # What autovacuum would do shortly after such a load.
            connection.execute("VACUUM ANALYZE messages")

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


# -- the measures ----------------------------------------------------------------------


def explain(txn: Txn, sql: str, params: tuple[Any, ...]) -> str:
    if txn.engine == "sqlite":
        return "; ".join(row[3] for row in txn.all("EXPLAIN QUERY PLAN " + sql, params))
    return "; ".join(row[0].strip() for row in txn.all("EXPLAIN " + sql, params))


async def measure_reads(store: Store, figures: Figures, rooms: int, repeat: int, start_ts: float, messages: int) -> None:
    figures.plans["last page"] = await store.db.run(explain, LAST_PAGE_SQL, ("#room7", PAGE + 1))
    figures.plans["page before"] = await store.db.run(explain, PAGE_BEFORE_SQL, ("#room7", messages // 2, PAGE + 1))

    for i in range(20):  # warm the caches, as a server in use has them
        await store.history.room_history(f"#room{i % rooms}", PAGE)
    last = []
    for i in range(repeat):
        elapsed, (page, more) = await timed(lambda: store.history.room_history(f"#room{i % rooms}", PAGE))
        assert len(page) == PAGE and more
        last.append(elapsed)
    figures.rows["history: the last 50 of a room"] = ms(last)

    paging = []
    before = None
    while True:
        elapsed, (page, more) = await timed(lambda: store.history.room_history("#room7", PAGE, before))
        paging.append(elapsed)
        if not more:
            break
        before = page[0]["msgid"]
    figures.rows[f"history: a page of 50 before a msgid ({len(paging)} pages, a whole room)"] = ms(paging)

    keys = [f"#room{i}" for i in range(min(50, rooms))]
    since = start_ts + messages * 0.01 * 0.99  # the last 1% of the history
    counts = []
    for _ in range(max(20, repeat // 10)):
        elapsed, _ = await timed(lambda: store.history.count_since(keys, since))
        counts.append(elapsed)
    figures.rows["count_since, 50 rooms, the last 1 % of the history"] = ms(counts)


async def measure_login(store: Store, figures: Figures) -> None:
    await store.accounts.create("reader", "a long enough password")
    verifies = []
    for _ in range(10):
        elapsed, ok = await timed(lambda: store.accounts.verify("reader", "a long enough password"))
        assert ok
        verifies.append(elapsed)
    figures.rows["login: argon2id verify, default parameters (p50 only)"] = f"{percentile(verifies, 0.5):.0f}"

    takes = []
    for round_ in range(20):
        for i in range(100):
            await store.offline.queue(
                "reader",
                {"msgid": f"q{round_}-{i}", "from": "writer", "to": "reader", "text": TEXT, "kind": "private", "ts": float(i)},
            )
        async def deliver() -> int:
            # As the hub delivers them: read a batch of 50, then remove what was delivered.
            count = 0
            while batch := await store.offline.peek("reader", 50):
                count += await store.offline.remove("reader", [row for row, _ in batch])
            return count

        elapsed, taken = await timed(deliver)
        assert taken == 100
        takes.append(elapsed)
    figures.rows["login: deliver 100 queued offline messages (peek and remove, 50 at a time)"] = ms(takes)


async def write_round(store: Store, writers: int, per_writer: int, prefix: str) -> tuple[float, list[float], int]:
    """``writers`` concurrent writers, each adding ``per_writer`` in turn: (rate, latencies, commits)."""
    latencies: list[float] = []
    batches_before = store.history.writer.batches

    async def writer(w: int) -> None:
        for i in range(per_writer):
            elapsed, _ = await timed(lambda: store.history.add(
                {"msgid": f"{prefix}-{w}-{i}", "from": f"user{w}", "to": f"#room{w % 100}",
                 "text": TEXT, "kind": "public", "ts": time.time()}))
            latencies.append(elapsed)

    start = time.perf_counter()
    await gatherResults([Deferred.fromCoroutine(writer(w)) for w in range(writers)])
    seconds = time.perf_counter() - start
    return writers * per_writer / seconds, latencies, store.history.writer.batches - batches_before


async def measure_writes(reactor: Any, target: Target, figures: Figures, args: argparse.Namespace, label: str,
                         url: str | None = None) -> None:
    for group_commit in (True, False):
        store = await open_store(url or target.url, reactor, group_commit=group_commit)
        try:
            rounds = [
                await write_round(store, args.writers, args.per_writer, f"w{int(group_commit)}{label}-{r}-{secrets.token_hex(3)}")
                for r in range(args.rounds)
            ]
        finally:
            await store.close()
        # The round with the median rate: a shared machine's disk makes single rounds vary.
        rate, latencies, commits = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
        how = "group commit" if group_commit else "one transaction each"
        figures.rows[f"add{label}, {args.writers} writers, {how}: latency"] = ms(latencies)
        shown = f"{rate:,.0f} /s"
        if group_commit:
            shown += f" ({args.writers * args.per_writer / commits:.0f} per commit)"
        figures.rows[f"add{label}, {args.writers} writers, {how}: messages per second"] = shown

    store = await open_store(url or target.url, reactor)
    try:
        alone = []
        for i in range(200):
            elapsed, _ = await timed(lambda: store.history.add(
                {"msgid": f"alone{label}-{secrets.token_hex(6)}", "from": "solo", "to": "#room0",
                 "text": TEXT, "kind": "public", "ts": time.time()}))
            alone.append(elapsed)
        figures.rows[f"add{label}, one writer alone: latency"] = ms(alone)
    finally:
        await store.close()


async def bench_engine(reactor: Any, target: Target, args: argparse.Namespace) -> Figures:
    figures = Figures(target.engine)
    start_ts = 1_700_000_000.0
    print(f"[{target.engine}] creating the schema", file=sys.stderr)
    store = await open_store(target.url, reactor)
    if target.engine == "sqlite":
        figures.version = "SQLite " + sqlite3.sqlite_version
    else:
        version = await store.db.run(lambda txn: txn.value("SHOW server_version"))
        figures.version = "PostgreSQL " + version.split()[0]
    await store.close()

    print(f"[{target.engine}] filling {args.messages:,} messages over {args.rooms} rooms", file=sys.stderr)
    start = time.perf_counter()
    target.fill(args.messages, args.rooms, start_ts)
    figures.fill_seconds = time.perf_counter() - start

    print(f"[{target.engine}] measuring reads and login", file=sys.stderr)
    store = await open_store(target.url, reactor)
    try:
        await measure_reads(store, figures, args.rooms, args.repeat, start_ts, args.messages)
        await measure_login(store, figures)
    finally:
        await store.close()

    print(f"[{target.engine}] measuring writes", file=sys.stderr)
    await measure_writes(reactor, target, figures, args, "")
    if target.engine == "sqlite":
        await measure_writes(reactor, target, figures, args, " (synchronous=full)", url=target.url + "?synchronous=full")
    return figures


# -- the report ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def report(results: list[Figures], args: argparse.Namespace, command: str) -> str:
    measures: list[str] = []
    for figures in results:
        for name in figures.rows:
            if name not in measures:
                measures.append(name)
    header = ["measure", *(f.version for f in results)]
    table = [header, *([name, *(f.rows.get(name, "–") for f in results)] for name in measures)]
    table.append(["bulk fill, seconds (set-up, not the store API)", *(f"{f.fill_seconds:.0f}" for f in results)])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        ".. This file is written by benchmarks/store_bench.py; run it again rather than edit.",
        "",
        ".. rubric:: Store: history, offline delivery and writes",
        "",
        f"{args.messages:,} messages over {args.rooms} rooms (about {args.messages // args.rooms:,} a room),"
        " measured through the store API on the real reactor, one call at a time"
        f" (the last-50 figure over {args.repeat} calls). Times are milliseconds, p50 / p99, from the call"
        " to its Deferred firing. Goal: the last 50 of a room in 5 ms or less.",
        "",
        rule, line(header), rule, *(line(row) for row in table[1:]), rule,
        "",
        f"Writers: {args.writers} concurrent writers, each awaiting its add before the next,"
        f" {args.writers * args.per_writer:,} adds a round, on the filled database; the round with the median"
        f" rate of {args.rounds} is shown. With group commit, adds that"
        " arrive while a transaction runs share the next one; without it, each add is a transaction of its own.",
        "SQLite runs ``synchronous=NORMAL`` in WAL mode unless the row says ``synchronous=full``;",
        "PostgreSQL runs with its defaults (``synchronous_commit=on``, so each commit waits for its WAL flush).",
        "",
        "Query plans of the two history queries:",
        "",
    ]
    for figures in results:
        for name, plan in figures.plans.items():
            out.append(f"- {figures.version}, {name}: ``{plan}``")
    out += [
        "",
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()},"
        f" Python {platform.python_version()}; load average {args.load:.2f} when the run began"
        f" (other work on the machine shows in the p99s). Date: {date}.",
        "",
        "Command::",
        "",
        f"    {command}",
        "",
    ]
    return "\n".join(out)


async def main(reactor: Any, args: argparse.Namespace, command: str) -> None:
    results = []
    for engine in args.engines.split(","):
        try:
            target: Target = SQLiteTarget() if engine == "sqlite" else PostgreSQLTarget(args.postgres)
        except Exception as e:
            print(f"[{engine}] skipped: cannot make a database: {' '.join(str(e).split())}", file=sys.stderr)
            continue
        try:
            results.append(await bench_engine(reactor, target, args))
        finally:
            target.drop()
    text = report(results, args, command)
    if args.output == "-":
        print(text)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {args.output}", file=sys.stderr)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL URL allowed to CREATE DATABASE")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1000, help="calls for the last-50 measure")
    parser.add_argument("--writers", type=int, default=100)
    parser.add_argument("--per-writer", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="write rounds per measure; the median is shown")
    parser.add_argument("--output", default="docs/perf/store.rst", help="where to write the figures (- for stdout)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    arguments.load = os.getloadavg()[0]
    # A password in --postgres must not land in the docs.
    shown = [parse_url(a).shown if a.startswith(("postgresql://", "postgres://")) else a for a in sys.argv]
    task.react(main, (arguments, shlex.join([sys.executable, *shown])))
