"""
A ``redis-server`` of a test's own, on a free loopback port, keeping
nothing on disk: for tests that stop, restart or isolate Redis (the shared
one on 6379 is never touched by them). Without the binary the test skips,
except when ``$CI`` is set: then it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, case: Any, *args: str) -> None:
        if not os.path.exists(REDIS_SERVER):
            reason = f"no redis-server at {REDIS_SERVER}"
            if os.environ.get("CI"):
                raise AssertionError(f"CI must run the Redis tests: {reason}")
            raise SkipTest(reason)
        self.port = free_port()
        self.args = args
        self.folder = tempfile.mkdtemp(prefix="tchat-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        case.addCleanup(self.stop)
        case.addCleanup(shutil.rmtree, self.folder, True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.folder, *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                await deferLater(reactor, 0.025, lambda: None)
        raise AssertionError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None
