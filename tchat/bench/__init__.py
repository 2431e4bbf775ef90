"""
``tchat-bench``: put a chat server under load and measure what it delivers.

One process, one Twisted reactor (epoll on Linux), N client connections
(or, with ``--processes P``, the members spread over P such processes: see
``workers.py``):

1. **Setup.** Connect N clients (at most ``--concurrency`` connecting or
   logging in at once), log each in and put it in one room. In tchat's JSON
   mode that is ``login`` (which puts everyone in ``#lobby``), then ``join``
   unless the room is ``#lobby``; in IRC it is ``NICK``/``USER``, wait for
   ``001``, ``JOIN``, wait for ``366`` (end of names). The connect/login rate is
   N over the time this takes.
2. **Phases.** In each phase S of the clients (the senders) send M messages
   each to the room, either as fast as the server takes them (rate 0, "burst":
   each sender keeps at most ``--window`` messages that have not yet reached
   every member in flight) or at a set total rate (open loop: messages leave
   on schedule whatever the server does). Each message's text carries a
   marker ``~SENDER:SEQ:SENT_AT~``; every member that receives it yields one
   *delivery* and one latency sample (receive time minus ``SENT_AT``, both
   from this process's monotonic clock).
3. **Report.** Deliveries per second, latency percentiles, the connect/login
   rate, the server's RSS (from ``/proc/PID/status`` with ``--server-pid``)
   before connecting, once everyone is logged in and after each phase, and
   this process's own CPU time next to the wall time, so a run in which the
   bench itself was the bottleneck shows as one.

The bench must cost much less per delivery than the server it measures, so
received bytes are never split into lines or parsed as JSON on the hot path:
each read is cut at its last newline and one compiled regular expression
finds the markers in it. Lines are looked at one by one only when a cheap
byte search finds something that needs an answer or a record (a reply during
login, an error, a ping).

Everything is bounded: each connection has a connect timeout and a login
timeout, a phase ends when nothing has moved for ``--stall`` seconds, and the
whole run ends at ``--timeout``. Only loopback addresses are accepted unless
``--allow-remote`` is given.

The package, by file: ``config.py`` (what a run is asked to do, the refusals),
``clients.py`` (the tchat JSON-mode and IRC connections), ``runner.py``
(L{Bench}: setup, phases, the delivery count), ``stats.py`` (percentiles,
``/proc`` and CPU readings), ``report.py`` (the summary a person reads) and
``cli.py`` (the ``tchat-bench`` command; also ``python -m tchat.bench``),
``workers.py`` and ``worker.py`` (a run over several processes: the lead's
end and the worker's).
"""

from tchat.bench.cli import main, parse_args
from tchat.bench.config import BenchConfig, BenchError, Phase, check_host
from tchat.bench.report import format_summary
from tchat.bench.runner import Bench
from tchat.bench.stats import percentile, summarize

__all__ = [
    "Bench",
    "BenchConfig",
    "BenchError",
    "Phase",
    "check_host",
    "format_summary",
    "main",
    "parse_args",
    "percentile",
    "summarize",
]
