"""
The seam between the conversation with the server and what the person
sees, as two small interfaces:

- L{Display}: what L{tchat.client.connection.ChatClient} needs from a
  front-end: the terminal UI (L{tchat.client.ui.ChatUI}) or piped stdin
  and stdout (L{tchat.client.piped.PipedInput});
- L{Client}: what the terminal UI needs of the L{ChatClient
  <tchat.client.connection.ChatClient>} it types to.

A test can stand in for either side.
"""

from __future__ import annotations

from typing import Protocol


class Display(Protocol):
    """What L{ChatClient} needs from a front-end."""

    def show(self, lines: list[str]) -> None:
        """Show these lines (already rendered, maybe coloured), in order."""

    def ask_name(self, problem: str | None, code: str | None) -> None:
        """
        The client needs a name: answer with L{ChatClient.login} (or
        L{ChatClient.quit}). ``problem`` says why the last one was refused
        (``code`` is the server's error code), or is None for the first ask.
        """

    def ask_password(self, name: str, problem: str, code: str) -> None:
        """
        The name is registered and the server wants its password: answer
        with L{ChatClient.login} (``name`` and the password), ask for another
        name, or L{ChatClient.quit}. ``code`` is the server's reason:
        ``password_required`` (none was given), ``bad_password`` (a wrong
        one was) or ``rate_limited`` (too many wrong ones: ``problem`` says
        how long to wait). ``problem`` is the server's sentence; it never
        holds the password.
        """

    def changed(self) -> None:
        """The user's name, current room or its topic changed (a prompt may show them)."""

    def status(self, text: str | None, update: bool) -> None:
        """
        Only after L{ChatClient.reconnect_with}: the connection is down and
        being made again, and ``text`` (plain, one line) says how that goes:
        ``connection lost; reconnecting in 4 s…``. ``update`` is True when
        only the count changed since the last call (a pipe need not print
        it). None: the client is back (logged in again, rooms rejoined), or
        waits for the person (a name or password is asked).
        """


class Client(Protocol):
    """What the UI needs of L{tchat.client.connection.ChatClient}."""

    logged_in: bool

    @property
    def reconnecting(self) -> bool: ...
    def send_typed(self, line: str) -> None: ...
    def login(self, name: str, password: str | None = None) -> None: ...
    def quit(self, reason: str | None = None, status: int = 0) -> None: ...
    def retry_now(self) -> bool: ...
    def prompt(self) -> str: ...
    def topic(self) -> str | None: ...
    def names(self) -> list[str]: ...
    def room_names(self) -> list[str]: ...

