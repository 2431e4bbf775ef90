"""The results of a run as text for a person to read (``--json`` prints the dict itself)."""

from __future__ import annotations

import math
from typing import Any


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def format_summary(results: dict[str, Any]) -> str:
    """The results for a person to read."""
    out = []
    server = results["server"]
    config = results["config"]
    where = "logged in, in no room" if config.get("no_room") else f"in {config['room']}"
    out.append(
        f"tchat-bench: {results['protocol']} server at {server['host']}:{server['port']}, "
        f"{config['connections']} connections {where}"
    )
    setup = results.get("setup")
    if setup:
        login = setup["login_ms"]
        out.append(
            f"  setup: {setup['connections']} connected and {'logged in' if config.get('no_room') else 'in the room'} in {setup['seconds']:.2f} s "
            f"({_num(setup['logins_per_s'])} logins/s; TCP connects {_num(setup['connects_per_s'])}/s); "
            f"login ms p50 {_num(login['p50'], '{:.1f}')} p99 {_num(login['p99'], '{:.1f}')}"
        )
    for p in results["phases"]:
        how = (f"as fast as taken, window {p['window']}" if p["kind"] == "burst" else f"{p['rate']:g} msg/s total")
        lat = p["latency_ms"]
        out.append(
            f"  phase {p['phase']} {p['kind']} ({p['senders']} senders x {p['messages_per_sender']} messages, {how}):"
        )
        out.append(
            f"    {p['deliveries']:,}/{p['deliveries_expected']:,} deliveries in {p['seconds']:.2f} s = "
            f"{_num(p['deliveries_per_s'])} deliveries/s ({_num(p['messages_per_s'])} messages/s)"
            + ("" if p["complete"] else f"  INCOMPLETE ({p['end']}; {p['members_short']} members short)")
        )
        out.append(
            f"    latency ms: p50 {_num(lat['p50'], '{:.2f}')}  p90 {_num(lat['p90'], '{:.2f}')}  "
            f"p99 {_num(lat['p99'], '{:.2f}')}  max {_num(lat['max'], '{:.2f}')}"
        )
        for where in ("same", "cross"):
            split = p.get(f"latency_{where}_node_ms")
            if split is not None:
                out.append(
                    f"    {where}-node latency ms: p50 {_num(split['p50'], '{:.2f}')}  p99 {_num(split['p99'], '{:.2f}')}"
                    f"  ({split.get('count', '?')} deliveries)"
                )
        if p.get("node_cpu_s") is not None:
            out.append("    node CPU s: " + ", ".join(_num(s, "{:.2f}") for s in p["node_cpu_s"]))
        extra = f"    bench CPU {p['bench_cpu_s']:.2f} s over {p['seconds']:.2f} s ({p['bench_cpu_share']:.0%})"
        if p.get("server_cpu_s") is not None:
            extra += f"; server CPU {p['server_cpu_s']:.2f} s = {_num(p['server_cpu_us_per_delivery'], '{:.2f}')} us/delivery"
        if p["kind"] == "steady":
            extra += f"; sent at {_num(p.get('send_rate'), '{:.1f}')} msg/s, max send lag {_num(p.get('max_send_lag_ms'), '{:.1f}')} ms"
        out.append(extra)
        if p["bench_cpu_share"] > 0.9:
            out.append("    WARNING: the bench used more than 90% of a CPU; it may be the bottleneck")
    memory = results["memory"]
    rss = memory["rss_kib"]
    if rss.get("before") is not None:
        parts = ", ".join(f"{k.replace('_', ' ')} {_num(v / 1024, '{:.1f}')} MiB" for k, v in rss.items() if v is not None)
        per = memory.get("per_connection_kib")
        out.append(f"  server RSS: {parts}" + (f"; {per:.1f} KiB per idle connection" if per is not None else ""))
    bench = results["bench"]
    cpu = bench["cpu_user_s"] + bench["cpu_system_s"]
    out.append(
        f"  bench: wall {bench['wall_s']:.2f} s, CPU {cpu:.2f} s (user {bench['cpu_user_s']:.2f}, "
        f"system {bench['cpu_system_s']:.2f}), {bench['reactor']}"
    )
    if results.get("server_errors"):
        out.append(f"  server errors: {results['server_errors']}")
    if results.get("lost_connections"):
        out.append(f"  connections lost during the run: {results['lost_connections']}")
    for sample in results.get("server_error_samples", []):
        out.append(f"    e.g. {sample}")
    if results.get("error"):
        out.append(f"  FAILED: {results['error']}")
    out.append("  result: " + ("ok" if results["ok"] else "NOT OK"))
    return "\n".join(out)
