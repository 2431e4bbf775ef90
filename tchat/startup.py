"""
Starting tchat: ports bound before the reactor runs but accepting only once
the store is open (L{ListeningService}), TLS ports listening anew when their
certificate files change, the open-file limit fitted to the connections
allowed, and startup failures said in one line with exit status 1.
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

log = Logger()

# Descriptors tchat needs besides its clients' connections: listening
# sockets, the database, log files, the reactor's own pipes and threads.
RESERVED_DESCRIPTORS = 64


class StartupError(Exception):
    """tchat cannot start; the message, one short sentence, says why (twistd shows it)."""


def _say_startup_errors_plainly() -> None:
    """
    Show a L{StartupError} that reaches the top (``twistd -n``) as one line
    on stderr, not a traceback; everything else as usual. (In daemon mode
    twistd itself passes the message to the terminal it was started from.)
    """
    default = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if isinstance(value, StartupError):
            sys.stderr.write(f"tchat: {value}\n")
        else:
            default(kind, value, tb)

    sys.excepthook = hook


def exit_failed_at_end() -> None:
    """
    After a fatal failure once the reactor runs (it is stopped, twistd then
    ends as usual, removing its pidfile), make the process's exit status 1,
    so that a service manager sees the failure and can restart tchat.
    """

    def end() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    atexit.register(end)


def fit_descriptor_limit(max_connections: int, explicit: bool) -> int:
    """
    Make sure this process may open a descriptor per connection allowed:
    raise the soft limit towards the hard one if needed. Returns the
    connections the limit allows; if ``explicit`` (the person asked for that
    many) and the limit cannot be raised far enough, raise UsageError saying so.
    """
    needed = max_connections + RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return max_connections
    allowed = max(soft - RESERVED_DESCRIPTORS, 1)
    if explicit:
        raise usage.UsageError(
            f"--max-connections {max_connections} needs {needed} open files, but this process may open only {soft}"
            f" (ulimit -n; the hard limit is {hard}): raise the limit, or ask for at most {allowed} connections"
        )
    return allowed


class ListeningService(service.Service):
    """
    Listens on one endpoint. The port is bound in L{bind}, before the
    reactor runs (so a port that cannot be bound stops twistd with the
    reason and a non-zero status, in daemon mode too), but connections are
    accepted only once L{startService} runs, when the store is ready.
    """

    def __init__(self, description: str, endpoint: IStreamServerEndpoint, factory: Any, what: str = "tchat") -> None:
        self._certificates: dict[str, float] = {}
        self.description = description
        self.what = what
        self.endpoint = endpoint
        self.factory = factory
        self.port: IListeningPort | None = None
        self._listening: defer.Deferred[IListeningPort] | None = None

    def bind(self) -> None:
        """Bind the port now, accepting nobody yet; raise L{StartupError} if it cannot be bound."""
        if self._listening is not None:
            return
        self._certificates = _certificate_times(self.description)
        listening = self.endpoint.listen(self.factory)
        outcome: list[Any] = []

        def keep(result: Any) -> Any:
            outcome.append(result)
            return result

        listening.addBoth(keep)
        if not outcome:
            # An endpoint that binds later: its outcome is handled in startService.
            self._listening = listening
            return
        self._listening = defer.succeed(outcome[0]) if not isinstance(outcome[0], Failure) else None
        if isinstance(outcome[0], Failure):
            listening.addErrback(lambda _: None)  # raised below instead
            error = outcome[0].value
            reason = getattr(getattr(error, "socketError", None), "strerror", None) or str(error)
            raise StartupError(f"cannot listen on {self.description}: {reason}")
        self.port = outcome[0]
        _accepting(self.port, False)

    def certificates_changed(self) -> bool:
        """Whether a certificate or key file this port was bound with has changed since (TLS ports)."""
        return bool(self._certificates) and _certificate_times(self.description) != self._certificates

    def same_port_description(self) -> str:
        """The description, with the port number this port has (so that port 0 stays where it is)."""
        kind, _, rest = self.description.partition(":")
        number, sep, options = rest.partition(":")
        port = getattr(self.port.getHost(), "port", None) if self.port is not None else None
        if port is None or not number.isdigit():
            return self.description
        return f"{kind}:{port}{sep}{options}"

    async def rebind(self, endpoint: IStreamServerEndpoint) -> None:
        """
        Listen anew on ``endpoint`` (the same description, its files read
        again): for a TLS port whose certificate was renewed. Connections
        already open stay as they are; for the moment between the old port
        closing and the new one opening, new ones are refused.
        """
        if self.port is None:
            return
        old, self.port = self.port, None
        await defer.maybeDeferred(old.stopListening)
        self.endpoint = endpoint
        self._certificates = _certificate_times(self.description)
        self.port = await endpoint.listen(self.factory)
        log.info("{what} listening on {description} again, with its certificate read anew", what=self.what, description=self.description)

    def startService(self) -> None:
        super().startService()
        if self.port is not None:
            _accepting(self.port, True)
            self._listening_on(self.port)
            return
        if self._listening is None:  # not bound in advance (a test, say)
            self._listening = self.endpoint.listen(self.factory)
        self._listening.addCallback(self._listening_on)
        self._listening.addErrback(self._failed)

    def _listening_on(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        address = port.getHost()
        log.info("{what} listening on {description} (port {port})", what=self.what, description=self.description, port=getattr(address, "port", address))
        return port

    def _failed(self, failure: Any) -> None:
        from twisted.internet import reactor

        log.failure("tchat cannot listen on {description}", failure, description=self.description)
        exit_failed_at_end()
        reactor.stop()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self.port is None:
            return defer.succeed(None)
        port, self.port = self.port, None
        stopped = port.stopListening()
        return stopped if isinstance(stopped, defer.Deferred) else defer.succeed(None)


def _rebind_failed(failure: Failure, description: str) -> None:
    log.failure("SIGHUP: cannot listen on {description} again", failure, description=description)


def _certificate_times(description: str) -> dict[str, float]:
    """The files a TLS endpoint string names (privateKey, certKey, extraCertChain) and when each last changed."""
    times: dict[str, float] = {}
    for part in description.split(":"):
        name, _, value = part.partition("=")
        if name in ("privateKey", "certKey", "extraCertChain") and value:
            try:
                times[value] = os.stat(value).st_mtime
            except OSError:
                times[value] = -1.0
    return times


def _accepting(port: Any, accepting: bool) -> None:
    """Start or stop accepting connections on a bound port (a TCP or UNIX port; others always accept)."""
    method = getattr(port, "startReading" if accepting else "stopReading", None)
    if method is not None:
        method()
