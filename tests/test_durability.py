"""
What the server acknowledged survives ``kill -9``: the real ``twistd`` on a
real database (an SQLite file; and PostgreSQL, as CI runs it), killed right
after a burst of acknowledged messages and started again on the same data.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.helpers import LineClient, connect_line_client
from tests.test_store import POSTGRES
from tests.test_twistd import TWISTD, TwistdProcess, _env

BURST = 300


class DurabilityTests:
    timeout = 60

    def database(self) -> str:
        raise NotImplementedError

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-durable-")
        self.addCleanup(folder.cleanup)  # type: ignore[attr-defined]
        self.folder = folder.name

    async def start(self, db: str) -> tuple[TwistdProcess, int]:
        process = TwistdProcess()
        args = [
            TWISTD, "-n", "--pidfile=", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off",
            "--db", db, "--flood-rate", "100000", "--flood-burst", "100000", "--flood-queue", "100000",
        ]
        transport = reactor.spawnProcess(process, TWISTD, args, env=_env(), path=self.folder)
        process.transport = transport

        def kill() -> Any:
            if not process.ended.called:
                transport.signalProcess("KILL")
                return process.ended

        self.addCleanup(kill)  # type: ignore[attr-defined]
        return process, await process.port

    async def client(self, port: int, **login: Any) -> LineClient:
        client = await connect_line_client(port)
        client.send_json(action="login", id="login", **login)
        event = await client.wait_event("logged_in", re="login")
        assert event["user"].lower() == login["user"].lower()
        return client

    async def test_acknowledged_messages_and_queued_ones_survive_kill_9(self) -> None:
        db = self.database()
        process, port = await self.start(db)
        alice = await self.client(port, user="alice")
        alice.send_json(action="register", password="correct horse", id="reg")
        await alice.wait_event("ok", re="reg")
        alice.send_json(action="quit")
        await alice.lost
        bob = await self.client(port, user="bob")
        bob.send_json(action="msg", to="alice", text="while you were away", id="away")
        queued = await bob.wait_event("ok", re="away")
        self.assertTrue(queued["queued"])
        bob.send(b"".join(
            b'{"action": "msg", "to": "#lobby", "text": "burst %d", "id": %d}\n' % (i, i) for i in range(BURST)
        ))
        await bob.wait_event("ok", re=BURST - 1)
        acknowledged = [ok["msgid"] for ok in map(_json, bob.lines) if ok.get("event") == "ok" and isinstance(ok.get("re"), int)]
        self.assertEqual(len(acknowledged), BURST)
        process.transport.signalProcess("KILL")
        self.assertEqual((await process.ended)[1], 9)

        _, port = await self.start(db)
        alice = await self.login_again(port)
        waiting = await alice.wait_event("message", delayed=True)
        self.assertEqual((waiting["from"], waiting["text"]), ("bob", "while you were away"))
        # Page back through the history (at most 200 a page) to the start.
        stored: list[dict[str, Any]] = []
        before = None
        for page in range(5):
            alice.send_json(action="history", target="#lobby", limit=200, before=before, id=page)
            history = await alice.wait_event("history", re=page)
            stored[:0] = history["messages"]
            if not history["more"]:
                break
            before = history["messages"][0]["msgid"]
        self.assertEqual([m["msgid"] for m in stored], acknowledged)
        self.assertEqual(stored[-1]["text"], f"burst {BURST - 1}")

    async def login_again(self, port: int) -> LineClient:
        return await self.client(port, user="Alice", password="correct horse")


def _json(line: str) -> dict[str, Any]:
    return json.loads(line) if line.startswith("{") else {}


class SQLiteDurabilityTests(DurabilityTests, TestCase):
    def database(self) -> str:
        return f"sqlite:{os.path.join(self.folder, 'tchat.db')}"


class PostgreSQLDurabilityTests(DurabilityTests, TestCase):
    def database(self) -> str:
        return POSTGRES.new_schema()

