"""TLS end to end: twistd on an ssl: endpoint, clients that verify its certificate."""

from __future__ import annotations

import os
import tempfile

from twisted.internet import defer, endpoints, protocol, reactor, ssl
from twisted.internet.error import ConnectionLost
from twisted.trial.unittest import TestCase

from tests.helpers import LineClient
from tests.test_twistd import TwistdProcess, _env, TWISTD
from tests.tls import make_certificate


CLIENT = os.path.join(os.path.dirname(TWISTD), "tchat-client")


class PipedRun(protocol.ProcessProtocol):
    """A process fed ``stdin`` whole; ``done`` fires with (stdout, stderr, exit code)."""

    def __init__(self, stdin: bytes) -> None:
        self.stdin = stdin
        self.out = b""
        self.err = b""
        self.done: defer.Deferred[tuple[bytes, bytes, int]] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: object) -> None:
        self.done.callback((self.out, self.err, reason.value.exitCode))  # type: ignore[attr-defined]


class TLSTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-tls-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        self.key, self.cert = make_certificate(self.folder)

    async def start(self) -> int:
        process = TwistdProcess()
        description = f"ssl:0:interface=127.0.0.1:privateKey={self.key}:certKey={self.cert}"
        transport = reactor.spawnProcess(
            process, TWISTD, [TWISTD, "-n", "tchat", "--port", description, "--web-port", "off"], env=_env(), path=self.folder
        )

        def stop():  # type: ignore[no-untyped-def]
            if not process.ended.called:
                transport.signalProcess("KILL")
                return process.ended

        self.addCleanup(stop)
        return await process.port

    async def connect(self, port: int, options: object) -> LineClient:
        client = LineClient()
        endpoint = endpoints.wrapClientTLS(options, endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port))
        await endpoints.connectProtocol(endpoint, client)
        return client

    async def test_chat_over_tls_with_a_verified_certificate(self) -> None:
        port = await self.start()
        with open(self.cert, "rb") as f:
            trust = ssl.Certificate.loadPEM(f.read())
        options = ssl.optionsForClientTLS("localhost", trustRoot=trust)
        alice = await self.connect(port, options)
        alice.send("alice")
        await alice.wait_for(lambda line: line.startswith("*** You are alice."))
        bot = await self.connect(port, options)
        bot.send_json(action="login", user="bot", id=1)
        await bot.wait_event("logged_in", re=1)
        alice.send("secret hello")
        message = await bot.wait_event("message")
        self.assertEqual(message["text"], "secret hello")
        bot.send_json(action="quit")
        await bot.wait_event("bye")
        await bot.lost

    async def client_run(self, port: int, *flags: str) -> tuple[bytes, bytes, int]:
        run = PipedRun(b"over tls\n/quit\n")
        args = [CLIENT, "localhost", str(port), "--name", "piped", *flags]
        reactor.spawnProcess(run, CLIENT, args, env=_env(NO_COLOR="1"), path=self.folder)
        return await run.done

    async def test_tchat_client_verifies_the_certificate(self) -> None:
        port = await self.start()
        out, err, code = await self.client_run(port, "--tls", "--ca", self.cert)
        self.assertEqual(code, 0, err)
        self.assertIn(b"[#lobby] <~piped> over tls", out)
        out, err, code = await self.client_run(port, "--tls")
        self.assertEqual(code, 1)
        self.assertIn(b"certificate verify failed", out + err)
        self.assertNotIn(b"over tls", out)
        out, err, code = await self.client_run(port, "--tls", "--insecure")
        self.assertEqual(code, 0, err)
        self.assertIn(b"insecure", err.lower())

    async def test_a_client_that_does_not_trust_the_certificate_is_refused(self) -> None:
        port = await self.start()
        # Trusting only the system's authorities, the self-signed server fails verification.
        options = ssl.optionsForClientTLS("localhost", trustRoot=ssl.platformTrust())
        client = await self.connect(port, options)
        client.send("mallory")
        await client.lost
        self.assertEqual(client.lines, [])
        self.flushLoggedErrors(ConnectionLost)
