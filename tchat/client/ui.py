"""
The terminal front-end: L{ChatUI}, the chat on top of the line editor
(L{tchat.client.editor.LineEditor}, which keeps the screen: messages
scroll above, the line being typed stays at the bottom). It is the
client's L{tchat.client.frontend.Display}, and talks to the
L{tchat.client.frontend.Client}.

Here are what the chat adds to the editor: the prompt (the current room,
or the name; ``Name:`` and ``Password for NAME:`` while they are asked),
what Enter does (a chat line to the client, a name or a password to its
login, a line kept while the connection is down), the up-arrow history,
Ctrl-C and Ctrl-D to leave, the status row while the client is coming
back, the current room's topic on a row of its own above the prompt, and
what Tab completes (L{ChatUI._completions}).

Tab completes names as terminal chat clients do (irssi's way): the word
before the cursor, from the names in the current room (the latest to speak
first), then everyone else online; a name that starts the line becomes
``name: `` (someone spoken to), anywhere else ``name `` (so ``/kick bo``
Tab gives ``/kick bob ``). A word starting with ``#`` completes a room one
is in, and ``/`` at the start of the line a command. Tab again goes to the
next candidate.

Passwords: at the ``Password for NAME:`` prompt every typed character is
drawn as ``*``, and so is the password part of a typed ``/login``,
``/register``, ``/passwd``, ``/admin`` or ``/account create|reset`` (see
L{tchat.client.passwords.secret_start}); the screen only ever gets
L{ChatUI._shown}, never the buffer itself. Neither kind of line is kept in
the up-arrow history.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from tchat.client.editor import CTRL_C, CTRL_D, LineEditor, split_chars
from tchat.client.frontend import Client
from tchat.client.passwords import holds_password, secret_start
from tchat.client.render import Renderer
from tchat.commands import COMMANDS, BadRequest, parse_text
from tchat.names import clean_text

# The commands Tab completes a /word at the start of a line with: each
# form's first word (its name, not its aliases), as typed.
COMMAND_WORDS = sorted({"/" + form.words[0].split()[0] for command in COMMANDS for form in command.forms})

NAME_PROMPT = "Name: "
# While a rate-limited login waits for the person to try again.
RETRY_PROMPT = "[Enter: try again] "


class ChatUI(LineEditor):
    """
    The line editor and message display of the terminal client.

    Callers may rely on: typed lines go to the client whole, decoded
    (L{Client.send_typed}); L{show} never disturbs what is being typed; Enter
    clears the input line (what was sent shows up above once the server has
    it); Ctrl-C, and Ctrl-D on an empty line, call L{Client.quit}.
    L{closed} fires when the terminal side is gone. A password typed at the
    password prompt goes to L{Client.login}; it is never drawn, and never
    kept in the history.
    """

    def __init__(self, client: Client, renderer: Renderer | None = None, clock: IReactorTime | None = None) -> None:
        self.client = client
        self.renderer = renderer or Renderer()
        self.asking_name = False
        # The name whose password is being asked for, while it is.
        self.asking_password: str | None = None
        # After rate_limited: the next Enter shows the password prompt again.
        self._retry_on_enter = False
        # Whether a login has worked: from then on the typed line and the
        # history belong to the chat, and outlive a name or password prompt.
        self._chatted = False
        # The chat line put aside while a name or password is asked.
        self._stash: tuple[list[bytes], int] | None = None
        super().__init__(clock)

    # -- Twisted calls these -------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        self.keyHandlers.update({CTRL_C: self.handle_CTRL_C, CTRL_D: self.handle_CTRL_D})

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._connected = False
        self.client.quit()
        super().connectionLost(reason)

    # -- Display -------------------------------------------------------------

    def ask_name(self, problem: str | None, code: str | None) -> None:
        if problem is not None:
            self.show(self.renderer.error(problem))
        self._put_line_aside()
        self.asking_name = True
        self._redraw()

    def ask_password(self, name: str, problem: str, code: str) -> None:
        self._put_line_aside()
        self.asking_name = False
        self.asking_password = name
        self._retry_on_enter = code == "rate_limited"
        # Whatever was half typed is not the password.
        self.lineBuffer, self.lineBufferIndex = [], 0
        if not self._chatted:
            # At the start, the lines typed before this prompt (the password
            # typed too early, maybe) are forgotten. After a reconnect the
            # history is the chat's: it was all typed while logged in.
            self.historyLines, self.historyPosition, self._draft = [], 0, None
        if code == "password_required":
            self.show(self.renderer.notice(
                f"{name} is registered: type its password (Enter alone: other name)"
            ))
        else:
            self.show(self.renderer.error(problem))
        if self._retry_on_enter:
            self.show(self.renderer.notice("press Enter to try again"))
        self._redraw()

    def changed(self) -> None:
        if self.client.logged_in:
            self._chatted = True
            if self._stash is not None and not self.asking_name and self.asking_password is None:
                # Logged in again: the line that was being typed comes back.
                (self.lineBuffer, self.lineBufferIndex), self._stash = self._stash, None
        self._redraw()

    def status(self, text: str | None, update: bool) -> None:
        """Show ``text`` on a row of its own above the prompt (None: no such row)."""
        self._status = text
        self._redraw()

    def _put_line_aside(self) -> None:
        """
        A name or password is asked after a reconnect: keep the chat line
        being typed for when the login is done. (At the start there is none
        to keep: what was typed before the prompt may be the password.)
        """
        if self._chatted and self._stash is None and not self.asking_name and self.asking_password is None:
            self._stash = (self.lineBuffer, self.lineBufferIndex)
            self.lineBuffer, self.lineBufferIndex = [], 0

    # -- keys ----------------------------------------------------------------

    def characterReceived(self, ch: bytes, moreCharactersComing: bool) -> None:
        if self._retry_on_enter:
            return  # only Enter means something until the password is asked again
        super().characterReceived(ch, moreCharactersComing)

    def handle_CTRL_C(self) -> None:
        self.client.quit()

    def handle_CTRL_D(self) -> None:
        if self.lineBuffer:
            self.handle_DELETE()  # as in readline: Ctrl-D leaves only from an empty line
        else:
            self.client.quit()

    # -- history -------------------------------------------------------------

    def handle_UP(self) -> None:
        if self.historyPosition == 0 or self.asking_password is not None:
            return
        if self.historyPosition == len(self.historyLines):
            # Keep what was being typed, to come back to with the down arrow.
            self._draft = list(self.lineBuffer)
        self.historyPosition -= 1
        self._replace_buffer(split_chars(self.historyLines[self.historyPosition]))

    def handle_DOWN(self) -> None:
        if self.historyPosition >= len(self.historyLines) or self.asking_password is not None:
            return
        self.historyPosition += 1
        if self.historyPosition == len(self.historyLines):
            buffer, self._draft = self._draft or [], None
        else:
            buffer = split_chars(self.historyLines[self.historyPosition])
        self._replace_buffer(buffer)

    def handle_RETURN(self) -> None:
        data = b"".join(self.lineBuffer)
        line = data.decode("utf-8", errors="replace")
        typing = not self.asking_name and self.asking_password is None
        if typing and self.client.reconnecting:
            self._not_connected(line)
            return
        if data.strip() and typing and not holds_password(line):
            if not self.historyLines or self.historyLines[-1] != data:
                self.historyLines.append(data)
        self.historyPosition = len(self.historyLines)
        self._draft = None
        self.lineBuffer = []
        self.lineBufferIndex = 0
        if self.asking_password is not None:
            self._password_typed(self.asking_password, line)
        elif self.asking_name:
            self._name_typed(line)
        else:
            self._redraw()
            self.client.send_typed(line)

    def _not_connected(self, line: str) -> None:
        """
        Enter while the connection is down: nothing can be sent, so the line
        stays where it is, to be sent with Enter once the client is back;
        Enter also cuts the wait before the next try short. /quit still leaves.
        """
        try:
            request = parse_text(line) if line.strip() else None
        except BadRequest:
            request = None
        if request is not None and request.action == "quit":
            self.client.quit()
            return
        trying = self.client.retry_now()
        if line.strip():
            self.show(self.renderer.error(
                "not connected, so not sent: the line stays here; Enter sends it once the client is back"
                + ("; trying to reconnect now" if trying else "")
            ))

    def _password_typed(self, name: str, password: str) -> None:
        if self._retry_on_enter:
            self._retry_on_enter = False
            self._redraw()
            return
        self.asking_password = None
        if not password.strip():
            # Enter alone: this is not my name after all.
            self.asking_name = True
            self._redraw()
            return
        self._redraw()
        self.client.login(name, password.strip())

    def _name_typed(self, line: str) -> None:
        name = line.strip()
        if not name:
            self._redraw()
            return
        if name.startswith("/"):
            try:
                request = parse_text(name)
            except BadRequest as e:
                self.show(self.renderer.error(e.text))
                return
            if request is not None and request.action == "quit":
                self._redraw()
                self.client.quit()
            elif request is not None and request.action == "login":
                self.asking_name = False
                self._redraw()
                self.client.login(request.args["user"], request.args.get("password"))
            else:
                self.show(self.renderer.error("choose a name first (or /login NAME PASSWORD, or /quit)"))
            return
        self.asking_name = False
        self._redraw()
        self.client.login(name)

    # -- completion ------------------------------------------------------------

    def _completions(self, word: str, line_start: bool) -> list[str]:
        if self.asking_name or self.asking_password is not None:
            return []
        line = b"".join(self.lineBuffer).decode("utf-8", errors="replace")
        if line.startswith("/") and secret_start(line) is not None:
            return []  # no completing in a line that holds a password
        folded = word.casefold()
        if line_start and word.startswith("/"):
            return [c + " " for c in COMMAND_WORDS if c.startswith(folded)]
        if word.startswith("#"):
            return [r + " " for r in self.client.room_names() if r.casefold().startswith(folded)]
        after = ": " if line_start else " "
        return [n + after for n in self.client.names() if n.casefold().startswith(folded)]

    # -- drawing -------------------------------------------------------------

    def _banner(self) -> str | None:
        """The current room's topic, on its row above the prompt."""
        if self.asking_name or self.asking_password is not None:
            return None
        topic = self.client.topic()
        return f"Topic: {topic}" if topic else None

    def _prompt(self) -> str:
        if self.asking_password is not None:
            return RETRY_PROMPT if self._retry_on_enter else f"Password for {clean_text(self.asking_password)}: "
        return NAME_PROMPT if self.asking_name else self.client.prompt()

    def _shown(self) -> list[bytes]:
        """
        The buffer as it is drawn, one element per character: a password,
        or the password part of a typed command, as ``*``.
        """
        if self.asking_password is not None:
            return [b"*"] * len(self.lineBuffer)
        chars = [b.decode("utf-8", errors="replace") for b in self.lineBuffer]
        start = secret_start("".join(chars)) if chars and chars[0] == "/" else None
        if start is None:
            return self.lineBuffer
        return self.lineBuffer[:start] + [b"*"] * (len(self.lineBuffer) - start)
