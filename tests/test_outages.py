"""
tchat, the real ``twistd``, when its database is hung or cannot be used.

PostgreSQL is the real server behind a TCP proxy the test freezes (every byte
held, as when the network to it hangs); a read-only SQLite file is made so
with ``chattr +i``. PostgreSQL is found as in ``tests/test_store.py``
(skipped without one, except under ``CI``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from urllib.parse import urlsplit

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.helpers import connect_line_client
from tests.test_store import POSTGRES
from tests.test_store_outages import Proxy, _through, make_read_only
from tests.test_metrics import _until, get
from tests.test_twistd import TWISTD, TwistdProcess, _env


class HungDatabaseTests(TestCase):
    timeout = 60

    async def test_while_postgresql_hangs_chat_goes_on_errors_are_clear_and_sigterm_stops_tchat(self) -> None:
        url = POSTGRES.new_schema()
        where = urlsplit(url)
        proxy = Proxy(where.hostname or "127.0.0.1", where.port or 5432)
        self.addCleanup(proxy.stop)
        through = _through(url, await proxy.start())
        folder = tempfile.TemporaryDirectory(prefix="tchat-outage-")
        self.addCleanup(folder.cleanup)
        process = TwistdProcess()
        args = [TWISTD, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "tcp:0:interface=127.0.0.1",
                "--db", through, "--db-timeout", "1"]
        transport = reactor.spawnProcess(process, TWISTD, args, env=_env(), path=folder.name)
        self.addCleanup(lambda: None if process.ended.called else (transport.signalProcess("KILL"), process.ended)[1])
        tchat_port = await process.port
        await _until(lambda: b"tchat web listening" in process.output)
        web_port = int(re.search(rb"tchat web listening on \S+ \(port (\d+)\)", process.output).group(1))  # type: ignore[union-attr]
        self.assertEqual((await get(web_port, "/health")).status, 200)

        owner = await connect_line_client(tchat_port)
        owner.send_json(action="login", user="owner", id=1)
        await owner.wait_event("logged_in", re=1)
        owner.send_json(action="register", password="a long passphrase", id=2)
        await owner.wait_event("ok", re=2)
        owner.send_json(action="quit", id=3)
        await owner.lost
        bot = await connect_line_client(tchat_port)
        bot.send_json(action="login", user="bot", id=1)
        await bot.wait_event("logged_in", re=1)
        listener = await connect_line_client(tchat_port)
        listener.send("listener")
        await listener.wait_for(lambda line: line.startswith("*** You are listener."))

        proxy.freeze()
        started = time.monotonic()
        bot.send_json(action="msg", to="#lobby", text="while it hangs", id=2)
        await listener.wait_for("[#lobby] <~bot> while it hangs")  # delivered at once
        answer = await bot.wait_event("error", re=2)
        self.assertEqual((answer["code"], answer["delivered"]), ("unavailable", True))
        self.assertIn("delivered, but not kept in the history", answer["text"])
        # The next ones are answered at once: the store fails fast while it is down.
        for i in range(3, 13):
            bot.send_json(action="msg", to="#lobby", text=f"more {i}", id=i)
        await bot.wait_event("error", re=12)
        self.assertLess(time.monotonic() - started, 10)
        # A new guest logs in and chats; the account's owner is told plainly why not.
        guest = await connect_line_client(tchat_port)
        guest.send("newcomer")
        await guest.wait_for(lambda line: line.startswith("*** You are newcomer."))
        back = await connect_line_client(tchat_port)
        back.send_json(action="login", user="owner", password="a long passphrase", id=1)
        refused = await back.wait_event("error", re=1)
        self.assertEqual(refused["code"], "unavailable")
        self.assertIn("database is not answering", refused["text"])

        # A load balancer's health check says so.
        health = await get(web_port, "/health")
        self.assertEqual((health.status, json.loads(health.body)["status"]), (503, "unavailable"))
        # And once the database answers again, it says so by itself.
        proxy.thaw()
        await _until_async(lambda: get(web_port, "/health"), lambda r: r.status == 200)
        proxy.freeze()

        # SIGTERM with the database hung again: tchat says goodbye and stops, soon.
        stopping = time.monotonic()
        transport.signalProcess("TERM")
        await bot.wait_event("bye")
        await process.ended
        self.assertLess(time.monotonic() - stopping, 15)
        self.assertIn(b"tchat stopped", process.output)


class UnusableDatabaseAtStartTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-start-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name

    async def test_an_unreachable_postgresql_stops_twistd_with_the_reason(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--db", "postgresql://postgres@127.0.0.1:9/x"],
            env=_env(), path=self.cwd,
        )
        self.assertEqual(code, 1, out + err)
        self.assertIn(b"tchat: cannot reach PostgreSQL at 127.0.0.1:9: connection refused", out + err)

    async def test_a_read_only_sqlite_file_stops_the_daemon_with_the_reason(self) -> None:
        path = os.path.join(self.cwd, "tchat.db")
        open(path, "wb").close()
        make_read_only(self, path)
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--db", "sqlite:tchat.db"],
            env=_env(), path=self.cwd,
        )
        self.assertEqual(code, 1, out + err)
        self.assertIn(b"cannot open the database sqlite:tchat.db: it is read-only", err)


async def _until_async(call, done, tries: int = 100):  # type: ignore[no-untyped-def]
    """Call ``call()`` (a coroutine) until ``done`` holds for its result."""
    from twisted.internet.task import deferLater

    for _ in range(tries):
        if done(await call()):
            return
        await deferLater(reactor, 0.1, lambda: None)
    raise AssertionError("it never came back")
