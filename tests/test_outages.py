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
import tempfile
import time
from urllib.parse import urlsplit

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.helpers import connect_line_client
from tests.test_store import POSTGRES
from tests.test_store_outages import Proxy, _through, make_read_only
from tests.test_metrics import get
from tests.test_twistd import TWISTD, _env, spawn_twistd, web_port_of


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
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "tcp:0:interface=127.0.0.1", "--irc-port", "off",
                "--db", through, "--db-timeout", "1")
        tchat_port = await process.port
        web_port = await web_port_of(process)
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
        process.transport.signalProcess("TERM")
        await bot.wait_event("bye")
        await process.ended
        self.assertLess(time.monotonic() - stopping, 15)
        self.assertIn(b"tchat stopped", process.output)


class DatabaseGoneAndBackTests(TestCase):
    timeout = 90

    async def test_postgresql_taken_away_and_given_back_needs_no_restart(self) -> None:
        from twisted.internet.threads import deferToThread

        url, name = POSTGRES.new_database(self)
        folder = tempfile.TemporaryDirectory(prefix="tchat-outage-")
        self.addCleanup(folder.cleanup)
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "tcp:0:interface=127.0.0.1", "--irc-port", "off",
                "--db", url, "--db-timeout", "2")
        port = await process.port
        web_port = await web_port_of(process)
        owner = await connect_line_client(port)
        owner.send_json(action="login", user="owner", id=1)
        owner.send_json(action="register", password="a long passphrase", id=2)
        await owner.wait_event("ok", re=2)
        owner.send_json(action="quit")
        await owner.lost
        bot = await connect_line_client(port)
        bot.send_json(action="login", user="bot", id=1)
        await bot.wait_event("logged_in", re=1)

        await deferToThread(POSTGRES.refuse_connections, name, True)
        self.addCleanup(deferToThread, POSTGRES.refuse_connections, name, False)
        bot.send_json(action="msg", to="#lobby", text="while it is gone", id=2)
        gone = await bot.wait_event("error", re=2)
        self.assertEqual((gone["code"], gone["delivered"]), ("unavailable", True))
        guest = await connect_line_client(port)
        guest.send("newcomer")
        await guest.wait_for(lambda line: line.startswith("*** You are newcomer."))
        back = await connect_line_client(port)
        back.send_json(action="login", user="owner", password="a long passphrase", id=1)
        self.assertEqual((await back.wait_event("error", re=1))["code"], "unavailable")
        self.assertEqual((await get(web_port, "/health")).status, 503)

        await deferToThread(POSTGRES.refuse_connections, name, False)
        await _until_async(lambda: get(web_port, "/health"), lambda r: r.status == 200)
        bot.send_json(action="msg", to="#lobby", text="it is back", id=3)
        await bot.wait_event("ok", re=3)
        back.send_json(action="login", user="owner", password="a long passphrase", id=2)
        self.assertEqual((await back.wait_event("logged_in", re=2))["registered"], True)
        self.assertNotIn(b"Traceback", process.output)


class SQLiteUnwritableAndBackTests(TestCase):
    timeout = 60

    async def test_a_database_file_that_cannot_be_written_recovers_when_it_can(self) -> None:
        import subprocess

        folder = tempfile.TemporaryDirectory(prefix="tchat-unwritable-")
        self.addCleanup(folder.cleanup)
        db = os.path.join(folder.name, "tchat.db")
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "tcp:0:interface=127.0.0.1", "--irc-port", "off",
                "--db", f"sqlite:{db}", "--db-timeout", "2")
        port = await process.port
        web_port = await web_port_of(process)
        bot = await connect_line_client(port)
        bot.send_json(action="login", user="bot", id=1)
        bot.send_json(action="msg", to="#lobby", text="before", id=2)
        await bot.wait_event("ok", re=2)

        # The file and its write-ahead log cannot be written (as on a
        # read-only remount): chattr +i holds even for root.
        files = [db, db + "-wal"]
        locked = subprocess.run(["chattr", "+i", *files], capture_output=True, text=True)
        if locked.returncode != 0:
            from twisted.trial.unittest import SkipTest

            raise SkipTest(f"chattr cannot make the files read-only here: {locked.stderr.strip()}")
        self.addCleanup(subprocess.run, ["chattr", "-i", *files])
        bot.send_json(action="msg", to="#lobby", text="while it cannot be written", id=3)
        refused = await bot.wait_event("error", re=3)
        self.assertEqual((refused["code"], refused["delivered"]), ("unavailable", True))
        self.assertEqual((await get(web_port, "/health")).status, 503)

        subprocess.run(["chattr", "-i", *files], check=True)
        await _until_async(lambda: get(web_port, "/health"), lambda r: r.status == 200)
        bot.send_json(action="msg", to="#lobby", text="after", id=4)
        await bot.wait_event("ok", re=4)
        bot.send_json(action="history", target="#lobby", id=5)
        history = await bot.wait_event("history", re=5)
        # Nothing half-written: what was refused is not there, the rest is.
        self.assertEqual([m["text"] for m in history["messages"]], ["before", "after"])


class UnusableDatabaseAtStartTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-start-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name

    async def test_an_unreachable_postgresql_stops_twistd_with_the_reason(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--db", "postgresql://postgres@127.0.0.1:9/x"],
            env=_env(), path=self.cwd,
        )
        self.assertEqual(code, 1, out + err)
        self.assertIn(b"tchat: cannot reach PostgreSQL at 127.0.0.1:9: connection refused", out + err)

    async def test_a_read_only_sqlite_file_stops_the_daemon_with_the_reason(self) -> None:
        path = os.path.join(self.cwd, "tchat.db")
        open(path, "wb").close()
        make_read_only(self, path)
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--db", "sqlite:tchat.db"],
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
