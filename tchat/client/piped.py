"""
The front-end for a stdin that is not a terminal: scripts and pipes.

``printf 'hello\\n/quit\\n' | tchat-client HOST PORT --name bot``: each line
of stdin is typed to the L{ChatClient} as it is read (the first one is the
name when ``--name`` was not given); each line the client shows is written
to stdout as a plain line. At the end of stdin the client quits.

A lost connection ends the run with status 1, as a script expects, unless
``--reconnect`` was given: then the client comes back as on a terminal,
and stdin is not read while the connection is down (see L{PipedInput.status}).

A refused name ends the run with status 1 and the server's reason on stderr:
a script cannot pick another name by itself. So does a registered name
whose password is missing or wrong: a script gives it with C{TCHAT_PASSWORD}
or C{--password-file} (or, without C{--name}, a first line
``/login NAME PASSWORD``), never on the command line.
"""

from __future__ import annotations

import sys
from typing import Callable, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from tchat.client.connection import ChatClient
from tchat.commands import BadRequest, parse_text

PASSWORD_HINT = (
    "a piped tchat-client takes the password from the TCHAT_PASSWORD environment variable"
    " or from the first line of --password-file FILE (never from the command line)"
)


@implementer(IHalfCloseableProtocol)
class PipedInput(LineReceiver):
    """
    The protocol on L{twisted.internet.stdio.StandardIO}: lines in from
    stdin, display lines out to stdout. It is the client's
    L{tchat.client.frontend.Display}.

    L{closed} fires once stdout is flushed and closed (see L{close}).
    """

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, client: ChatClient, errors: TextIO | None = None) -> None:
        self.client = client
        self.errors = errors
        self.closed: Deferred[None] = Deferred()
        self._wants_name = False

    # -- Display -----------------------------------------------------------

    def show(self, lines: list[str]) -> None:
        if self.transport is not None:
            self.transport.write("".join(line + "\n" for line in lines).encode("utf-8"))

    def ask_name(self, problem: str | None, code: str | None) -> None:
        if problem is None:
            self._wants_name = True
            return
        # No one is there to choose another name: stop, and say why.
        (self.errors or sys.stderr).write(f"tchat-client: login refused: {problem}\n")
        self.client.quit(status=1)

    def ask_password(self, name: str, problem: str, code: str) -> None:
        # Nobody is there to type it: stop, say why and how to give one.
        errors = self.errors or sys.stderr
        errors.write(f"tchat-client: login refused: {problem}\n")
        if code != "rate_limited":
            errors.write(f"tchat-client: {PASSWORD_HINT}\n")
        self.client.quit(status=1)

    def changed(self) -> None:
        pass

    def status(self, text: str | None, update: bool) -> None:
        # (Only with --reconnect.) While the connection is down, stdin is not
        # read: the lines a script writes meanwhile wait in the pipe, in
        # order, and the script is slowed down rather than lines dropped.
        if text is None:
            if self.paused:
                self.resumeProducing()
            return
        if not self.paused and self.transport is not None:
            self.pauseProducing()
        if not update:  # the count going down is for eyes on a terminal
            self.show(self.client.renderer.notice(text))

    # -- stdin ---------------------------------------------------------------

    def lineReceived(self, raw: bytes) -> None:
        line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if self._wants_name:
            if not line.strip():
                return
            if line.startswith("/"):
                try:
                    request = parse_text(line)
                except BadRequest:
                    request = None
                self._wants_name = False
                if request is not None and request.action == "login":
                    self.client.login(request.args["user"], request.args.get("password"))
                else:
                    # "/quit" before any name; nothing else makes sense yet.
                    self.client.end_of_input()
                return
            self._wants_name = False
            self.client.login(line)
            return
        self.client.send_typed(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        (self.errors or sys.stderr).write("tchat-client: an input line over 1 MiB was skipped\n")
        self.clearLineBuffer()

    def readConnectionLost(self) -> None:
        # End of stdin: a line without its newline still counts.
        rest = self.clearLineBuffer()
        if rest.strip():
            self.lineReceived(rest)
        self.client.end_of_input()

    def writeConnectionLost(self) -> None:
        # Nobody reads our output any more (a closed pipe): leave.
        self.client.quit()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.client.quit()
        if not self.closed.called:
            self.closed.callback(None)

    # -- ending ------------------------------------------------------------

    def close(self) -> Deferred[None]:
        """Flush stdout and close it; the Deferred fires when that is done."""
        if self.transport is not None and not self.closed.called:
            self.transport.loseConnection()
        return self.closed


def is_piped(stdin: TextIO, stdout: TextIO, isatty: Callable[[TextIO], bool] = lambda f: f.isatty()) -> bool:
    """Whether to run piped: unless both stdin and stdout are terminals."""
    try:
        return not (isatty(stdin) and isatty(stdout))
    except (AttributeError, ValueError):
        return True
