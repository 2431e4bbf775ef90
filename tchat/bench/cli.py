"""The ``tchat-bench`` command: its options, the open-files limit, the reactor, and the exit status."""

from __future__ import annotations

import argparse
import json
import resource
import sys
from typing import Any, Callable, Sequence

from twisted.internet.defer import Deferred

from tchat.bench.config import BenchConfig, BenchError, Phase, check_host
from tchat.bench.report import format_summary
from tchat.bench.runner import Bench


def _numbers(text: str, kind: Callable[[str], Any]) -> list[Any]:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def parse_args(argv: Sequence[str] | None = None) -> tuple[BenchConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="tchat-bench",
        description=(
            "Load a chat server (tchat in JSON mode, or an IRC server) with N connections in one room, "
            "have S of them send messages, and report deliveries/s, latency percentiles, the login rate, "
            "the server's memory per connection and the bench's own CPU time."
        ),
        epilog=(
            "Phases: --rate and --messages take comma-separated lists, one value per phase, run one after "
            "the other on the same connections (a single value applies to every phase); rate 0 means as fast "
            "as the server takes them. Example: --rate 0,250 --messages 100,50 runs a burst and then a "
            "steady 250 msg/s phase."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="server address; loopback only unless --allow-remote (default 127.0.0.1)")
    parser.add_argument(
        "--port", "-p", default=None,
        help="server port (default 4321 for tchat, 6667 for irc); several, comma-separated, for the nodes of one chat: clients are spread over them",
    )
    parser.add_argument("--node-pid", default="", help="the nodes' PIDs, comma-separated, in --port's order: each node's CPU time is reported")
    parser.add_argument("--protocol", choices=("tchat", "irc"), default="tchat", help="tchat JSON mode, or IRC (default tchat)")
    parser.add_argument("--connections", "-n", type=int, default=50, help="connections, all in one room (default 50)")
    parser.add_argument("--senders", "-s", type=int, default=None, help="connections that send (default min(10, N))")
    parser.add_argument("--messages", "-m", default="100", help="messages per sender, per phase (default 100)")
    parser.add_argument("--rate", "-r", default="0", help="total messages/s per phase; 0 = as fast as the server takes them (default 0)")
    parser.add_argument("--window", type=int, default=8, help="burst phases: messages a sender may have not yet delivered to everyone (default 8)")
    parser.add_argument("--size", type=int, default=64, help="bytes of message text, marker included (default 64)")
    parser.add_argument("--room", default=None, help="the room (default #lobby for tchat, #bench for irc)")
    parser.add_argument("--concurrency", type=int, default=100, help="connections being set up at once (default 100)")
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds for one TCP connect (default 10)")
    parser.add_argument("--login-timeout", type=float, default=60.0, help="seconds from connect to being in the room (default 60)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)")
    parser.add_argument("--stall", type=float, default=10.0, help="end a phase when nothing moved for this many seconds (default 10)")
    parser.add_argument("--settle", type=float, default=0.5, help="quiet seconds to wait for before reading memory and between phases (default 0.5)")
    parser.add_argument("--server-pid", type=int, default=None, help="the server's PID: read its RSS and CPU time from /proc")
    parser.add_argument("--source-ips", type=int, default=1, help="spread connections over 127.0.0.1..127.0.0.K (default 1)")
    parser.add_argument("--name-prefix", default="b", help="user names are PREFIX + number (default b)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a host that is not loopback")
    parser.add_argument(
        "--no-room", action="store_true",
        help="log in but stay in no room (tchat parts #lobby, IRC does not JOIN): holds many idle connections "
        "without every login being announced to everyone; needs --messages 0",
    )
    parser.add_argument(
        "--ack", choices=("quick", "delayed"), default="quick",
        help="quick: acknowledge every read at once (TCP_QUICKACK), as a client that also talks; "
        "delayed: the kernel's default for a client that only reads (default quick)",
    )
    parser.add_argument(
        "--processes", "-P", type=int, default=1,
        help="spread the members over this many processes (the senders stay in the first); for loads one process cannot read fast enough (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the summary")
    parser.add_argument("--output", "-o", default=None, help="also write the JSON results to this file")
    args = parser.parse_args(argv)
    messages = _numbers(args.messages, int)
    rates = _numbers(args.rate, float)
    count = max(len(messages), len(rates))
    if not count or (len(messages) not in (1, count)) or (len(rates) not in (1, count)):
        parser.error("--messages and --rate need the same number of values (or one)")
    messages = messages * count if len(messages) == 1 else messages
    rates = rates * count if len(rates) == 1 else rates
    try:
        ports = tuple(int(p) for p in args.port.split(",")) if args.port else ()
        node_pids = tuple(int(p) for p in args.node_pid.split(",")) if args.node_pid else ()
    except ValueError:
        parser.error("--port and --node-pid take numbers, comma-separated")
    if node_pids and len(node_pids) != len(ports):
        parser.error("--node-pid needs one PID per --port")
    config = BenchConfig(
        host=args.host,
        port=ports[0] if ports else (4321 if args.protocol == "tchat" else 6667),
        ports=ports if len(ports) > 1 else (),
        node_pids=node_pids,
        protocol=args.protocol,
        connections=args.connections,
        senders=min(10, args.connections) if args.senders is None else args.senders,
        phases=[Phase(m, r) for m, r in zip(messages, rates)],
        window=args.window,
        size=args.size,
        room=args.room,
        concurrency=args.concurrency,
        connect_timeout=args.connect_timeout,
        login_timeout=args.login_timeout,
        timeout=args.timeout,
        stall=args.stall,
        settle=args.settle,
        server_pid=args.server_pid,
        source_ips=args.source_ips,
        name_prefix=args.name_prefix,
        allow_remote=args.allow_remote,
        quickack=args.ack == "quick",
        no_room=args.no_room,
        processes=args.processes,
    )
    return config, args


def raise_file_limit(needed: int) -> int:
    """Raise the soft limit on open files towards ``needed``; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def main(argv: Sequence[str] | None = None) -> None:
    try:
        config, args = parse_args(argv)
        config.check()
        check_host(config.host, config.allow_remote)
    except BenchError as e:
        print(f"tchat-bench: {e}", file=sys.stderr)
        raise SystemExit(2)
    needed = config.connections + 64
    if raise_file_limit(needed) < needed:
        print(
            f"tchat-bench: {config.connections} connections need {needed} open files, but the hard limit "
            f"(ulimit -Hn) is {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if "twisted.internet.reactor" not in sys.modules and sys.platform.startswith("linux"):
        from twisted.internet import epollreactor

        epollreactor.install()
    from twisted.internet import task

    async def go(reactor: Any) -> None:
        bench = Bench(config, reactor)
        try:
            results = await bench.run()
        finally:
            await bench.close()
        results["command"] = ["tchat-bench", *(sys.argv[1:] if argv is None else argv)]
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=2)
                f.write("\n")
        print(json.dumps(results, indent=2) if args.json else format_summary(results), flush=True)
        if not results["ok"]:
            raise SystemExit(1)

    task.react(lambda reactor: Deferred.fromCoroutine(go(reactor)))  # exits with go's status
