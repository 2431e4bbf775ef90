"""
``tchat-client HOST PORT [--name NAME] [--password-file FILE] [--tls] [--insecure] [--ca FILE] [--reconnect | --no-reconnect]``

The flow: parse the arguments, connect (plain TCP, or TLS verified against
the system's CAs or ``--ca``: L{tchat.client.tls}), then hand the connection
to one of two front-ends: the terminal UI when stdin and stdout are both
terminals, the piped front-end otherwise.

On a terminal a lost connection is made again (L{tchat.client.reconnect}),
unless ``--no-reconnect``; piped, it is not, unless ``--reconnect``: a
script is told at once, by the exit status, that the server went away. The
run ends when the conversation does; the exit status is the client's (see
L{tchat.client.connection.ChatClient.finished}):

- 0: the user left (``/quit``, Ctrl-C, Ctrl-D, end of piped stdin);
- 1: the server went away or closed the connection (a ``shutdown``, a
  lost connection) and the client is not to come back, or the server put
  the user out (a kick), the first connection could not be made, or a
  piped run's name was refused or its password missing or wrong. A TLS
  failure (a certificate refused, a server that does not speak TLS, when
  connecting first; a certificate refused, when coming back) is one
  sentence on stderr, printed once the terminal is back as it was;
- 2: bad arguments (or a --password-file that cannot be read).

The password of a registered name comes from C{$TCHAT_PASSWORD} or the first
line of C{--password-file}, never from the command line, where other users
of the machine could read it; on a terminal it may also be typed when asked.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Callable, MutableMapping, Sequence

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet import defer, ssl
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.error import ConnectingCancelledError
from twisted.internet.interfaces import IReactorCore, IStreamClientEndpoint
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react

from tchat import __version__
from tchat.client.connection import ChatClient
from tchat.client.piped import PipedInput, is_piped
from tchat.client.render import Renderer, use_color
from tchat.client.tls import ServerTLS
from tchat.client.terminal import RawTerminal
from tchat.client.ui import ChatUI

LOG_ENV = "TCHAT_CLIENT_LOG"
PASSWORD_ENV = "TCHAT_PASSWORD"
# How long the end of a run waits for stdout to drain.
FLUSH_WAIT = 10.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tchat-client",
        description="Chat on a tchat server from a terminal, or from a script with stdin piped.",
        epilog=f"The password of a registered name: set {PASSWORD_ENV}, or use --password-file; "
        "on a terminal, without either, it is asked for. "
        "Colours are off when NO_COLOR is set or stdout is not a terminal. "
        "On a terminal a lost connection is made again (1, 2, 4 ... 30 s apart); piped, the client exits instead. "
        "Exit status: 0 when you leave, 1 when the server goes away (and the client does not come back) or cannot be reached.",
    )
    parser.add_argument("host", help="the server's host name or address")
    parser.add_argument("port", type=int, help="the server's port")
    parser.add_argument("--name", "-n", help="log in with this name (else it is asked for; piped: the first line)")
    parser.add_argument(
        "--password-file", metavar="FILE",
        help=f"the password of a registered name is the first line of FILE (else ${PASSWORD_ENV}, else it is asked for)",
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS, verifying the server's certificate")
    parser.add_argument("--ca", metavar="FILE", help="trust the certificates in this PEM file (implies --tls)")
    parser.add_argument("--insecure", action="store_true", help="TLS without checking the certificate (implies --tls)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--reconnect", dest="reconnect", action="store_true", default=None,
        help="when the connection is lost, connect again and log in again (the default on a terminal; piped, exit instead)",
    )
    again.add_argument(
        "--no-reconnect", dest="reconnect", action="store_false",
        help="when the connection is lost, exit with status 1 (the default with stdin or stdout piped)",
    )
    parser.add_argument("--version", action="version", version=f"tchat-client {__version__}")
    options = parser.parse_args(argv)
    if not 0 < options.port < 65536:
        parser.error(f"port must be 1-65535, not {options.port}")
    if options.ca and options.insecure:
        parser.error("--ca and --insecure contradict each other")
    options.tls = options.tls or bool(options.ca) or options.insecure
    return options


class PasswordFileError(Exception):
    """The --password-file cannot be used; the message says why."""


def given_password(
    password_file: str | None, environ: MutableMapping[str, str], warn: Callable[[str], None]
) -> str | None:
    """
    The password given for the login: the first line of ``password_file``
    (stripped), else ``$TCHAT_PASSWORD`` (stripped), else None. The variable
    is removed from ``environ`` either way: nothing started later inherits it.
    A file that others may read gets a warning; one that cannot be read, or
    whose first line is empty, raises L{PasswordFileError}.
    """
    from_env = (environ.pop(PASSWORD_ENV, None) or "").strip() or None
    if password_file is None:
        return from_env
    try:
        with open(password_file, encoding="utf-8") as f:
            mode = os.fstat(f.fileno()).st_mode
            first = f.readline().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise PasswordFileError(f"cannot read --password-file {password_file}: {getattr(e, 'strerror', None) or e}") from None
    if not first:
        raise PasswordFileError(f"--password-file {password_file}: its first line is empty")
    if mode & 0o044:
        warn(f"warning: other users may read {password_file}; chmod 600 {password_file}")
    return first


def client_endpoint(reactor: Any, options: argparse.Namespace) -> tuple[IStreamClientEndpoint, ServerTLS | None]:
    """
    Where to connect, and, with TLS, the L{ServerTLS} that checks the
    server and can explain a failed handshake. Raises C{OSError} or
    C{ValueError} if the ``--ca`` file cannot be used.
    """
    endpoint: IStreamClientEndpoint = HostnameEndpoint(reactor, options.host, options.port, timeout=20)
    if not options.tls:
        return endpoint, None
    tls = ServerTLS(options.host, options.port, options.ca, options.insecure)
    return wrapClientTLS(tls, endpoint), tls


def _say(text: str) -> None:
    sys.stderr.write(f"tchat-client: {text}\n")
    sys.stderr.flush()


class ErrorLines:
    """
    A log observer that turns a failure logged by Twisted (a bug, in the
    client) into one line the person can see: on stderr, or, once L{show} is
    pointed at the terminal UI, as a ``!!!`` line above the input. Without
    it, Twisted would print whole tracebacks over a raw-mode screen.
    """

    def __init__(self) -> None:
        self.show: Callable[[str], None] = _say
        self._busy = False

    def __call__(self, event: dict[str, Any]) -> None:
        failure = event.get("log_failure")
        if failure is None or self._busy:
            return
        self._busy = True
        try:
            hint = f"; details in {os.environ[LOG_ENV]}" if os.environ.get(LOG_ENV) else f"; set {LOG_ENV}=FILE for details"
            self.show(f"internal error: {failure.getErrorMessage()}{hint}")
        except Exception:
            pass
        finally:
            self._busy = False


def _start_log() -> ErrorLines:
    """
    Send Twisted's log to L{ErrorLines}, and in full to the file named by
    $TCHAT_CLIENT_LOG if it is set (for debugging).
    """
    from twisted.logger import globalLogBeginner, textFileLogObserver

    errors = ErrorLines()
    observers: list[Any] = [errors]
    path = os.environ.get(LOG_ENV)
    if path:
        observers.append(textFileLogObserver(open(path, "a", encoding="utf-8")))
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
    return errors


def _on_signals(reactor: Any, act: Callable[[], None]) -> None:
    """Route SIGINT, SIGTERM and SIGHUP to ``act``, once the reactor runs (it installs its own)."""

    def handler(signum: int, frame: Any) -> None:
        reactor.callFromThread(act)

    def install() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handler)

    reactor.callWhenRunning(install)


async def _bounded(d: defer.Deferred[Any], seconds: float, reactor: Any) -> None:
    """Wait for ``d``, but no longer than ``seconds``."""
    d.addTimeout(seconds, reactor)
    try:
        await d
    except Exception:
        pass


async def converse(
    reactor: Any, client: ChatClient, front: Any, endpoint: IStreamClientEndpoint,
    where: str, fail: Callable[[str], None],
) -> int:
    """
    Start ``client`` on the front-end ``front``, connect it, and return the
    exit status once the conversation is over. The front-end is started
    first, so a person can type their name while the connection is made and
    leave before it is.
    """
    client.start(front)
    connecting = connectProtocol(endpoint, client)

    def left_early(status: int) -> int:
        # The person quit before the connection was made: stop making it.
        if not connecting.called:
            connecting.cancel()
        return status

    client.finished.addCallback(left_early)

    signalled: list[bool] = []

    def interrupted() -> None:
        # A second signal means "now": do not wait for the bye. (A quit
        # begun by other means, such as the terminal closing just before its
        # SIGHUP, still gets its chance to reach the server.)
        if signalled and client.transport is not None:
            client.transport.abortConnection()
        else:
            signalled.append(True)
            client.quit()

    _on_signals(reactor, interrupted)
    try:
        await connecting
    except Exception as e:
        if client.status is not None:
            return client.status
        if isinstance(e, (defer.CancelledError, ConnectingCancelledError)):
            return 1
        fail(f"cannot connect to {where}: {e}")
        return 1
    return await client.finished


async def run_piped(reactor: Any, client: ChatClient, endpoint: IStreamClientEndpoint, where: str) -> int:
    front = PipedInput(client)
    StandardIO(front, reactor=reactor)
    status = await converse(reactor, client, front, endpoint, where, _say)
    await _bounded(front.close(), FLUSH_WAIT, reactor)
    return status


async def run_terminal(
    reactor: Any, client: ChatClient, endpoint: IStreamClientEndpoint, where: str,
    renderer: Renderer, errors: ErrorLines,
) -> int:
    raw = RawTerminal(sys.stdin.fileno(), sys.stdout.fileno())
    raw.enter()
    try:
        ui = ChatUI(client, renderer, reactor)
        errors.show = lambda text: ui.show(renderer.error(text))
        StandardIO(ServerProtocol(lambda: ui), reactor=reactor)

        def resized(*_: Any) -> None:
            size = os.get_terminal_size(sys.stdout.fileno())
            ui.terminalSize(size.columns, size.lines)

        resized()
        signal.signal(signal.SIGWINCH, lambda *a: reactor.callFromThread(resized))
        ui.show(renderer.notice(f"connecting to {where}..."))
        status = await converse(
            reactor, client, ui, endpoint, where, lambda text: ui.show(renderer.error(text))
        )
        ui.finish()
        await _bounded(ui.close(), FLUSH_WAIT, reactor)
        return status
    finally:
        errors.show = _say
        raw.restore()


async def run(reactor: IReactorCore, argv: Sequence[str]) -> None:
    options = parse_args(argv)
    try:
        password = given_password(options.password_file, os.environ, _say)
    except PasswordFileError as e:
        _say(str(e))
        raise SystemExit(2)
    errors = _start_log()
    try:
        endpoint, tls = client_endpoint(reactor, options)
    except OSError as e:
        _say(f"cannot read --ca {options.ca}: {e.strerror or e}")
        raise SystemExit(1)
    except (ValueError, ssl.SSL.Error) as e:
        _say(f"cannot set up TLS: {e}")
        raise SystemExit(1)
    if options.insecure:
        _say("warning: --insecure: the server's certificate is not checked; anyone in between can read and change the chat")
    renderer = Renderer(color=use_color())
    client = ChatClient(
        renderer, reactor, options.name, password,  # type: ignore[arg-type]
        explain_loss=tls.explain if tls else None, stops_retrying=tls.refuses_certificate if tls else None,
    )
    where = f"{options.host}:{options.port}"
    piped = is_piped(sys.stdin, sys.stdout)
    if options.reconnect if options.reconnect is not None else not piped:
        client.reconnect_with(lambda: connectProtocol(endpoint, client))
    if piped:
        status = await run_piped(reactor, client, endpoint, where)
    else:
        status = await run_terminal(reactor, client, endpoint, where, renderer, errors)
    if client.problem is not None:
        # After the terminal is restored: a sentence on a clean line, where
        # a script looks for errors.
        _say(client.problem)
    raise SystemExit(status)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the client; exits with its status."""
    react(run, (sys.argv[1:] if argv is None else list(argv),))


if __name__ == "__main__":
    main()
