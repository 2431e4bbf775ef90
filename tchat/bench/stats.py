"""
The numbers: nearest-rank percentiles and summaries of latencies, and what
``/proc`` and ``getrusage`` say about the server's memory and CPU time and
the bench's own.
"""

from __future__ import annotations

import math
import os
import resource
from typing import Any, Iterable, Sequence


def percentile(ordered: Sequence[float], p: float) -> float:
    """
    The nearest-rank ``p``-th percentile (0 < p <= 100) of values sorted in
    ascending order: the smallest value that at least ``p`` percent of the
    values are less than or equal to. NaN for no values.
    """
    n = len(ordered)
    if n == 0:
        return math.nan
    rank = math.ceil(p * n / 100 - 1e-9)
    return ordered[min(max(rank, 1), n) - 1]


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, Any]:
    """
    ``count``, ``mean``, ``min``, ``p50``, ``p90``, ``p99``, ``max`` of
    ``values``, each multiplied by ``scale`` (1000 turns seconds into ms).
    The statistics are None when there are no values.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return {"count": 0, "mean": None, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {
        "count": n,
        "mean": math.fsum(ordered) / n * scale,
        "min": ordered[0] * scale,
        "p50": percentile(ordered, 50) * scale,
        "p90": percentile(ordered, 90) * scale,
        "p99": percentile(ordered, 99) * scale,
        "max": ordered[-1] * scale,
    }


def read_rss_kib(pid: int | None) -> int | None:
    """Resident memory of process ``pid`` in KiB (``VmRSS``), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds process ``pid`` (all its threads) has used, or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime
