"""
The plots of a ``benchmarks/compare`` run, drawn from its results with
matplotlib (``pip install '.[bench]'``) into ``docs/images/``: deliveries/s
against members, p99 latency against members at steady load, and server CPU
per delivery. ``compare`` calls :func:`write_plots` after every run (and with
``--from-json``); the images are never drawn by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABELS = {"tchat": "tchat", "tchat-irc": "tchat (IRC door)", "baseline": "tchat before", "ngircd": "ngIRCd", "threaded": "threaded"}
STYLES = {"tchat": ("C0", "o"), "tchat-irc": ("C4", "D"), "baseline": ("C7", "s"), "ngircd": ("C3", "^"), "threaded": ("C2", "v")}


def _phase(result: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for phase in (result or {}).get("phases", []):
        if phase["kind"] == kind:
            return phase
    return None


def _series(data: dict[str, Any], kind: str, load: str, value: Any) -> tuple[list[int], list[float]]:
    """(members, values) for one server: the room runs, and the big room's burst if there was one."""
    points: dict[int, float] = {}
    for size, result in data["rooms"].get(kind, {}).items():
        phase = _phase(result, load)
        if phase and phase.get("complete") and value(phase) is not None:
            points[int(size)] = value(phase)
    big = (data.get("big") or {}).get(kind)
    if load == "burst" and big:
        phase = _phase(big, "burst")
        if phase and phase.get("complete") and value(phase) is not None:
            points[int(data["big_size"])] = value(phase)
    sizes = sorted(points)
    return sizes, [points[s] for s in sizes]


def write_plots(data: dict[str, Any], out_dir: Path, prefix: str = "compare") -> list[str]:
    """
    Draw the three plots into ``out_dir`` and return the reStructuredText
    that shows them (paths relative to docs/, where performance.rst is), or
    a sentence saying why there are none.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        return ["(No plots: matplotlib is not installed; ``pip install '.[bench]'`` and run ``--from-json`` again.)", ""]
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in ("tchat", "tchat-irc", "baseline", "ngircd", "threaded") if k in data["servers"]]
    rate = f"{data['plan']['steady_rate']:g} msg/s"
    plots = [
        ("deliveries", "burst", lambda p: p["deliveries_per_s"], "deliveries per second (burst)", False,
         "Deliveries per second in a burst, against the room's size (higher is better)"),
        ("p99", "steady", lambda p: p["latency_ms"]["p99"], f"p99 latency in ms at {rate}", True,
         f"p99 latency at a steady {rate} in total, against the room's size (lower is better)"),
        ("cpu", "burst", lambda p: p.get("server_cpu_us_per_delivery"), "server CPU µs per delivery (burst)", False,
         "The server's CPU time per delivery in a burst, read from /proc (lower is better)"),
    ]
    lines: list[str] = []
    for name, load, value, ylabel, log_y, caption in plots:
        figure, axes = plt.subplots(figsize=(6.4, 3.6), dpi=100)
        for kind in kinds:
            sizes, values = _series(data, kind, load, value)
            if sizes:
                colour, marker = STYLES[kind]
                axes.plot(sizes, values, marker=marker, color=colour, label=LABELS[kind])
        axes.set_xscale("log")
        ticks = sorted({int(size) for runs in data["rooms"].values() for size in runs} | ({int(data["big_size"])} if data.get("big") else set()))
        axes.set_xticks(ticks)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        if log_y:
            axes.set_yscale("log")
        else:
            axes.set_ylim(bottom=0)
            axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}"))
        axes.set_xlabel("members in the room")
        axes.set_ylabel(ylabel)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
        axes.set_title(f"{data['date']}, {data['machine']['nproc']} CPUs", fontsize="small")
        figure.tight_layout()
        path = out_dir / f"{prefix}-{name}.png"
        figure.savefig(path)
        plt.close(figure)
        lines += [f".. figure:: {_from_docs(path)}", "", f"   {caption}.", ""]
    return lines


def _from_docs(path: Path) -> str:
    """The plot's path as docs/performance.rst (which includes the report) names it: under docs/, or images/NAME."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    try:
        return path.resolve().relative_to(docs).as_posix()
    except ValueError:
        return f"images/{path.name}"
