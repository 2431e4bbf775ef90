"""
TLS end to end: twistd on an ssl: endpoint, clients that verify its certificate,
and the real tchat-client refusing every certificate it should with one
sentence on stderr.
"""

from __future__ import annotations

import fcntl
import os
import struct
import tempfile
import termios

from cryptography import x509
from twisted.internet import defer, endpoints, protocol, reactor, ssl
from twisted.internet.error import ConnectionLost
from twisted.trial.unittest import TestCase

from tests.helpers import LineClient
from tests.test_twistd import TwistdProcess, _env, TWISTD
from tests.tls import DAY, make_certificate, write_certificate


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


class TerminalRun(protocol.ProcessProtocol):
    """
    A process whose stdin and stdout are a pseudo-terminal (so tchat-client
    runs its terminal UI) and whose stderr is a pipe; ``done`` fires with
    (stderr, exit code).
    """

    def __init__(self) -> None:
        self.err = b""
        self.done: defer.Deferred[tuple[bytes, int]] = defer.Deferred()

    def childDataReceived(self, fd: int, data: bytes) -> None:
        if fd == 2:
            self.err += data

    def processEnded(self, reason: object) -> None:
        self.done.callback((self.err, reason.value.exitCode))  # type: ignore[attr-defined]


class TwistdTLSCase(TestCase):
    """twistd in a subprocess on a TLS (or plain) port, and the installed tchat-client run against it."""

    timeout = 30

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-tls-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        self.key, self.cert = make_certificate(self.folder)

    async def start(self, key: str | None = None, cert: str | None = None, tls: bool = True) -> int:
        """twistd on a loopback port: TLS with this key and certificate (the test's own by default), or plain."""
        process = TwistdProcess()
        key, cert = key or self.key, cert or self.cert
        description = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}" if tls else "tcp:0:interface=127.0.0.1"
        transport = reactor.spawnProcess(
            process, TWISTD, [TWISTD, "-n", "tchat", "--port", description, "--web-port", "off", "--irc-port", "off", "--db", "memory"],
            env=_env(), path=self.folder,
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

    async def client_run(self, port: int, *flags: str, host: str = "localhost") -> tuple[bytes, bytes, int]:
        run = PipedRun(b"over tls\n/quit\n")
        args = [CLIENT, host, str(port), "--name", "piped", *flags]
        reactor.spawnProcess(run, CLIENT, args, env=_env(NO_COLOR="1"), path=self.folder)
        return await run.done

    def assert_refused_in_one_sentence(self, run: tuple[bytes, bytes, int], sentence: str) -> None:
        """Exit status 1, and stderr exactly that sentence on one line: no Python error, nothing chatted."""
        out, err, code = run
        self.assertEqual(code, 1, (out, err))
        self.assertEqual(err.decode(), f"tchat-client: {sentence}\n")
        for raw in (b"Error", b"Traceback", b"over tls"):
            self.assertNotIn(raw, out)

class TLSTests(TwistdTLSCase):
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

    async def test_tchat_client_verifies_the_certificate(self) -> None:
        port = await self.start()
        out, err, code = await self.client_run(port, "--tls", "--ca", self.cert)
        self.assertEqual(code, 0, err)
        self.assertIn(b"[#lobby] <~piped> over tls", out)
        self.assert_refused_in_one_sentence(
            await self.client_run(port, "--tls"),
            "the server's certificate is not signed by an authority this client trusts:"
            " give the server's certificate with --ca FILE, or --insecure to skip the check",
        )
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


class CertificateRefusedTests(TwistdTLSCase):
    """
    The real tchat-client against a real twistd whose certificate is wrong
    in one way each: one sentence on stderr that says what and what to do,
    exit status 1.
    """

    async def test_a_name_the_certificate_does_not_hold_is_named_with_the_ones_it_does(self) -> None:
        key, cert = write_certificate(self.folder, "localhost-only")
        port = await self.start(key, cert)
        self.assert_refused_in_one_sentence(
            await self.client_run(port, "--ca", cert, host="127.0.0.1"),
            "the server's certificate is for localhost, not 127.0.0.1:"
            " connect with a name the certificate holds, or --insecure to skip the check",
        )

    async def test_several_names_are_all_listed(self) -> None:
        key, cert = write_certificate(self.folder, "several", names=("chat.example.org", "localhost"), addresses=("192.0.2.7",))
        port = await self.start(key, cert)
        self.assert_refused_in_one_sentence(
            await self.client_run(port, "--ca", cert, host="127.0.0.1"),
            "the server's certificate is for chat.example.org, localhost and 192.0.2.7, not 127.0.0.1:"
            " connect with a name the certificate holds, or --insecure to skip the check",
        )

    async def test_an_authority_not_given_with_ca_is_not_trusted(self) -> None:
        port = await self.start()
        _, other = write_certificate(self.folder, "other")
        self.assert_refused_in_one_sentence(
            await self.client_run(port, "--ca", other),
            f"the server's certificate is not signed by an authority this client trusts (those in {other}):"
            " give the server's own certificate, or its authority's, with --ca FILE, or --insecure to skip the check",
        )

    async def test_an_expired_certificate_says_when_it_expired(self) -> None:
        key, cert = write_certificate(self.folder, "expired", valid_from=-10 * DAY, valid_until=-2 * DAY)
        port = await self.start(key, cert)
        with open(cert, "rb") as f:
            until = x509.load_pem_x509_certificate(f.read()).not_valid_after_utc
        self.assert_refused_in_one_sentence(
            await self.client_run(port, "--ca", cert),
            f"the server's certificate expired on {until:%Y-%m-%d %H:%M} UTC:"
            " the server needs a new one (--insecure skips the check)",
        )

    async def test_a_certificate_not_valid_yet_points_at_the_clock(self) -> None:
        key, cert = write_certificate(self.folder, "future", valid_from=2 * DAY, valid_until=10 * DAY)
        port = await self.start(key, cert)
        with open(cert, "rb") as f:
            since = x509.load_pem_x509_certificate(f.read()).not_valid_before_utc
        self.assert_refused_in_one_sentence(
            await self.client_run(port, "--ca", cert),
            f"the server's certificate is valid only from {since:%Y-%m-%d %H:%M} UTC:"
            " check this computer's clock (--insecure skips the check)",
        )

    async def test_a_server_that_does_not_speak_tls_is_named_as_such(self) -> None:
        port = await self.start(tls=False)
        sentence = (
            f"the server at localhost:{port} answered, but not in TLS: it does not speak TLS on that port;"
            " leave out --tls, --ca and --insecure, or connect to its TLS port"
        )
        self.assert_refused_in_one_sentence(await self.client_run(port, "--tls"), sentence)
        out, err, code = await self.client_run(port, "--insecure")
        self.assertEqual(code, 1)
        self.assertEqual(err.decode().splitlines()[-1], f"tchat-client: {sentence}")

    async def test_on_a_terminal_the_sentence_comes_after_the_terminal_is_restored(self) -> None:
        key, cert = write_certificate(self.folder, "localhost-only")
        port = await self.start(key, cert)
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        before = termios.tcgetattr(slave)
        run = TerminalRun()
        reactor.spawnProcess(
            run, CLIENT, [CLIENT, "127.0.0.1", str(port), "--name", "tty", "--ca", cert],
            env=_env(), path=self.folder, childFDs={0: slave, 1: slave, 2: "r"},
        )
        err, code = await run.done
        self.assertEqual(code, 1)
        self.assertEqual(
            err.decode(),
            "tchat-client: the server's certificate is for localhost, not 127.0.0.1:"
            " connect with a name the certificate holds, or --insecure to skip the check\n",
        )
        # Raw mode was on while the UI ran; the terminal is as it was before.
        self.assertEqual(termios.tcgetattr(slave), before)
        os.set_blocking(master, False)
        try:
            screen = os.read(master, 65536)
        except BlockingIOError:
            screen = b""
        self.assertIn(b"connecting to 127.0.0.1:", screen)
        self.assertNotIn(b"Error", screen)
