"""
The client's side of the JSON-mode protocol, with no terminal in it:
L{ChatClient}, and what it does with what arrives.

L{ChatClient} is the protocol a front-end (the terminal UI, or piped stdin)
talks to, through the small L{tchat.client.frontend.Display} interface. Its
state, the methods a front-end calls, the wire and the connection's coming
and going are its base, L{tchat.client.conversation.Conversation}; here
are its handlers, one method each:

- typed commands the client completes or keeps to itself
  (C{_typed_<action>}): the current room filled in where it was left out
  (the client, not the server, knows which room is current: messages,
  ``/part``, ``/history`` and the room commands, ``/topic`` ... ``/mode``;
  ``/kick`` too, but for an admin, whose ``/kick NAME`` is the server-wide
  disconnect), ``/room`` changed locally, ``/join`` and ``/part`` held
  until answered, ``/quit``;
- the server's events (C{_on_<event>}): ``logged_in`` (the name, whether
  it is an account's, the rooms, the last one current), ``join`` and
  ``part`` of this account's other sessions, a refused login (the display
  is asked for another name or for the password: L{Display.ask_password
  <tchat.client.frontend.Display.ask_password>}), ``ping`` answered, a
  kick from the server (a notice, then ``bye``), a shutdown, ``bye``;
  and what the rooms' members and operators do, kept in the
  L{tchat.client.roster.Roster} (members, ops, topics): joins, parts,
  quits, ``op``/``deop``, ``voice``/``devoice``, ``topic``, ``nick`` (one's
  own name too) and a room's ``kick`` (of oneself: out of the room, which
  is no reason to stop coming back after a lost connection);
- the ``ok`` of each request that needs more than showing it
  (C{_ok_<action>}): own messages (the server does not echo a public
  message to its sender, so the client shows what was sent when the ``ok``
  for it arrives, marked as the server marks it for everyone else:
  ``~name`` unless the user is logged in to an account,
  L{ChatClient.registered}), the rooms joined and left, a new password
  kept, what one's own moderation did (the server tells the others, not
  the one who did it, with an event), a new name.

While coming back after a lost connection, the answers to the login and to
the rooms put back go to L{tchat.client.comeback.ComingBack}. Typed
commands that hold a password are recognised by L{tchat.client.passwords}.
"""

from __future__ import annotations

from typing import Any

from tchat.client.conversation import Conversation
from tchat.client.passwords import PASSWORD_CODES
from tchat.client.reconnect import goes_away, kicked_notice
from tchat.commands import Request
from tchat.names import name_key


class ChatClient(Conversation):
    """
    A conversation with a tchat server in JSON mode: over one connection, or,
    after L{reconnect_with}, over one connection after another (this same
    object is the protocol of each).

    It may be started before its connection is made (the person can type a
    name while it connects) or after.

    Callers may rely on: nothing is sent before L{start}; the first line sent
    on a connection is the login, or, while no name is known yet, a ping
    whose reply is not shown (it turns the connection to JSON mode, so that
    the welcome and a possible bye are readable);
    L{finished} fires exactly once, with the exit status (0 after a quit we
    asked for, 1 when the server went away or closed the connection on its
    own): when the conversation is over, or at once if the person leaves
    while there is no connection. The status is also kept in L{status}.

    Coming back (only after L{reconnect_with}, and only once a login has
    worked): a lost connection does not end the conversation unless the
    person was leaving, the server's C{bye} said to go away (a kick: see
    L{tchat.client.reconnect.goes_away}) or the server's certificate was
    refused (``stops_retrying``). Otherwise the client says so, tries again
    and again (L{Display.status} shows the countdown), logs in again under
    the same name (with the password that worked, for an account), rejoins
    the rooms it was in and makes the same room current, then says so. A
    message that got no answer is said to be maybe not sent (it is not sent
    twice); lines typed but not sent yet wait for the new connection.

    ``explain_loss``, if given, is asked about a connection lost before the
    server said anything (a failed TLS handshake, say): a sentence it
    returns is kept in L{problem}, for the caller to print where it belongs
    (stderr, once the terminal is back to normal), and the conversation
    ends; while coming back it is shown instead, and the client tries again,
    unless ``stops_retrying`` says the failure is one that trying again
    cannot mend (a refused certificate). None lets the client show its usual
    line.
    """

    # -- typed commands the client completes or keeps to itself -----------

    def _typed_line(self, request: Request) -> None:
        self._typed_msg(Request("msg", {"text": request.args["text"]}))

    def _in_current_room(self, request: Request, field: str, problem: str) -> Request | None:
        """
        ``request`` with ``field`` set to the current room if it was left
        out, or None (and ``problem`` shown) when there is no current room.
        The client, not the server, knows which room is current: it always
        names the room, so the two can never disagree.
        """
        if field in request.args:
            return request
        if self.current_room is None:
            self._show(self.renderer.error(problem))
            return None
        return Request(request.action, {**request.args, field: self.current_room})

    def _typed_msg(self, request: Request) -> None:
        filled = self._in_current_room(request, "to", "you are in no room; /join #room first")
        if filled is not None:
            self._send(filled)

    def _typed_part(self, request: Request) -> None:
        filled = self._in_current_room(request, "room", "you are in no room")
        if filled is not None:
            self._hold = self._send(filled)

    def _typed_history(self, request: Request) -> None:
        filled = self._in_current_room(request, "target", "you are in no room; name one: /history #room or /history NAME")
        if filled is not None:
            self._send(filled)

    def _typed_in_room(self, request: Request) -> None:
        """A room command: about the current room unless it names one."""
        filled = self._in_current_room(request, "room", f"you are in no room; name one: /{request.action} #room ...")
        if filled is not None:
            self._send(filled)

    # The room commands (the server's ROOM_OPT): each about the current room unless it names one.
    _typed_topic = _typed_op = _typed_deop = _typed_voice = _typed_devoice = _typed_in_room
    _typed_ban = _typed_unban = _typed_bans = _typed_mute = _typed_unmute = _typed_in_room
    _typed_invite = _typed_mode = _typed_in_room

    def _typed_kick(self, request: Request) -> None:
        # An admin's /kick NAME (no room) is the server-wide disconnect,
        # as the server reads it; anyone else's is about the current room.
        if self.admin and "room" not in request.args:
            self._send(request)
        else:
            self._typed_in_room(request)

    def _typed_room(self, request: Request) -> None:
        # Where plain lines go is the client's business: no round trip.
        wanted = request.args["room"]
        for room in self.rooms:
            if name_key(room) == name_key(wanted):
                self.current_room = room
                topic = self.roster.topic(room)
                self._show(self.renderer.notice(f"plain lines now go to {room}" + (f"; topic: {topic}" if topic else "")))
                self._changed()
                return
        self._show(self.renderer.error(f"you are not in {wanted}; /join {wanted} first"))

    def _typed_join(self, request: Request) -> None:
        self._hold = self._send(request)

    def _typed_quit(self, request: Request) -> None:
        self._begin_quit(request.args.get("reason"), 0)

    # -- events ------------------------------------------------------------

    def _on_ping(self, event: dict[str, Any]) -> None:
        self._write({"action": "pong", "token": event.get("token")})

    def _on_welcome(self, event: dict[str, Any]) -> None:
        # Once is enough: coming back, "reconnected" says it.
        if not self._ever_logged_in:
            self._show_event(event)

    def _on_logged_in(self, event: dict[str, Any]) -> None:
        self._reply_to(event)
        self.logged_in = True
        self._logging_in = False
        self._login_id = None
        if isinstance(event.get("user"), str):
            self.name = event["user"]
        self.registered = event.get("registered") is True
        if self.registered and self._password and self.name:
            self._account = (name_key(self.name), self._password)
        elif not self.registered:
            self._account = None  # a guest now: no password to keep
        self._password = None
        rooms = [r for r in event.get("rooms") or [] if isinstance(r, str)]
        self.roster.logged_in(event, rooms)
        if self._coming_back is not None:
            self._coming_back.logged_in_again(event, rooms)
        else:
            self.rooms = rooms
            self.current_room = self.rooms[-1] if self.rooms else None
            self._show_event(event)
        self._ever_logged_in = True
        self._changed()

    def _on_join(self, event: dict[str, Any]) -> None:
        # Another session of this account joined a room: so is this one.
        if self._is_me(event.get("user")) and isinstance(event.get("room"), str):
            room = event["room"]
            if name_key(room) not in {name_key(r) for r in self.rooms}:
                self.rooms.append(room)
                self.roster.keep(self.rooms)
                if self.current_room is None:
                    self.current_room = room
                self._changed()
        self.roster.entered(event.get("room"), event.get("user"), event.get("op"))
        self._show_event(event)

    def _on_part(self, event: dict[str, Any]) -> None:
        # Another session of this account left a room: so has this one.
        if self._is_me(event.get("user")) and isinstance(event.get("room"), str):
            self._out_of(event["room"])
        else:
            self.roster.parted(event.get("room"), event.get("user"))
        self._show_event(event)

    def _out_of(self, room: str) -> bool:
        """This client is no longer in ``room``; whether it was the current room."""
        gone = name_key(room)
        self.rooms = [r for r in self.rooms if name_key(r) != gone]
        self.roster.left(room)
        was_current = self.current_room is not None and name_key(self.current_room) == gone
        if was_current:
            self.current_room = self.rooms[-1] if self.rooms else None
        self._changed()
        return was_current

    def _on_quit(self, event: dict[str, Any]) -> None:
        self.roster.quit(event.get("user"))
        self._show_event(event)

    def _on_message(self, event: dict[str, Any]) -> None:
        to = event.get("to")
        if isinstance(to, str) and to.startswith("#"):
            self.roster.spoke(to, event.get("from"))
        self._show_event(event)

    def _on_users(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("room"), str):
            self.roster.listed(event)
        else:
            self.roster.everyone(event.get("users"))
        self._show_event(event)

    # -- what rooms' operators do ----------------------------------------------

    def _on_topic(self, event: dict[str, Any]) -> None:
        # Set by someone else, or the answer to reading it: either way, the topic now.
        self.roster.set_topic(event.get("room"), event.get("topic"))
        self._show_event(event)
        self._changed()

    def _ranked(self, event: dict[str, Any], rank: str, on: bool) -> None:
        self.roster.ranked(event.get("room"), event.get("user"), rank, on)
        self._show_event(event)

    def _on_op(self, event: dict[str, Any]) -> None:
        self._ranked(event, "op", True)

    def _on_deop(self, event: dict[str, Any]) -> None:
        self._ranked(event, "op", False)

    def _on_voice(self, event: dict[str, Any]) -> None:
        self._ranked(event, "voice", True)

    def _on_devoice(self, event: dict[str, Any]) -> None:
        self._ranked(event, "voice", False)

    def _on_kick(self, event: dict[str, Any]) -> None:
        """
        Someone was put out of a room; when it is this user, the client is
        out of it (on every device). This is a room's kick, not the server
        putting the user out: the connection stays, and should it be lost
        later, the client comes back (to its other rooms).
        """
        room = event.get("room")
        if not (self._is_me(event.get("user")) and isinstance(room, str)):
            self.roster.parted(room, event.get("user"))
            self._show_event(event)
            return
        if name_key(room) not in {name_key(r) for r in self.rooms}:
            self._show_event(event)  # (not a room this client counted itself in)
            return
        was_current = self._out_of(room)
        if not was_current:
            where = ""
        elif self.current_room is not None:
            where = f"; plain lines now go to {self.current_room}"
        else:
            where = "; you are in no room now (/join #room)"
        self._show(self.renderer.kicked(event, where))

    def _on_nick(self, event: dict[str, Any]) -> None:
        # Someone renamed (or this user, from another session).
        old, new = event.get("old"), event.get("new")
        if self._is_me(old) and isinstance(new, str):
            self.name = new
            self._changed()
        self.roster.renamed(old, new)
        self._show_event(event)

    def _is_me(self, user: Any) -> bool:
        return isinstance(user, str) and self.name is not None and name_key(user) == name_key(self.name)

    def _on_error(self, event: dict[str, Any]) -> None:
        rid = event.get("re")
        answered = self._reply_to(event)
        back = self._coming_back
        if answered is not None and back is not None and isinstance(rid, int) and rid in back.rejoining:
            back.rejoined(rid, answered[0], event)
            return
        if answered is not None and answered[0].action == "login" and not self.logged_in:
            self._login_id = None
            self._logging_in = False
            self._password = None
            code = event.get("code")
            if self._coming_back is not None:
                # The person's turn: no countdown while they choose.
                self._report(None, False)
            self._asked = True
            if code in PASSWORD_CODES and self.display is not None and self.name:
                if self._account is not None and self._account[0] == name_key(self.name):
                    self._account = None  # it no longer works
                text = event.get("text") or "the password is wrong or missing"
                self.display.ask_password(self.name, str(text), str(code))
                if not self.quitting and self._coming_back is None:
                    # (Coming back, the lines waiting were typed before the
                    # loss, long before any password prompt.)
                    self._drop_typed_ahead()
                return
            text = event.get("text") or "that name was refused"
            if self.display is not None:
                self.display.ask_name(str(text), code)
            if self._coming_back is not None and code == "name_taken" and not self.quitting:
                self._show(self.renderer.notice(
                    "if it was yours a moment ago, the server may not have noticed yet that your old connection is gone:"
                    " type it again in a minute, or choose another"
                ))
            return
        self._show_event(event)

    def _drop_typed_ahead(self) -> None:
        """
        Forget the lines typed while the login was on its way: the person
        did not know a password would be asked, and one of them may be it.
        They must not go to the room as messages.
        """
        typed = [line for line in self._backlog if line is not None]
        if typed:
            self._backlog = [line for line in self._backlog if line is None]
            some = "1 line" if len(typed) == 1 else f"{len(typed)} lines"
            self._show(self.renderer.notice(f"{some} typed before the password was asked for: not sent"))

    def _on_ok(self, event: dict[str, Any]) -> None:
        rid = event.get("re")
        answered = self._reply_to(event)
        if answered is None:
            self._show_event(event)
            return
        request, _ = answered
        back = self._coming_back
        if back is not None and isinstance(rid, int) and rid in back.rejoining:
            back.rejoined(rid, request, event)
            return
        handler = getattr(self, "_ok_" + request.action, None)
        if handler is not None:
            handler(request, event)
        else:
            self._show_event(event)

    def _ok_msg(self, request: Request, event: dict[str, Any]) -> None:
        to = request.args["to"]
        away = event.get("away")
        self._show(
            self.renderer.own_message(
                self.name or "?", to, request.args["text"], request.args.get("kind"),
                ts=event.get("ts"), queued=bool(event.get("queued")), registered=self.registered,
                mark=self.roster.mark(to, self.name or ""), away=away if isinstance(away, str) else None,
            )
        )

    def _ok_admin(self, request: Request, event: dict[str, Any]) -> None:
        self.admin = True
        self._show_event(event)

    def _ok_topic(self, request: Request, event: dict[str, Any]) -> None:
        # Set by this user: the others get a topic event, this one an ok.
        if "topic" in event:
            self.roster.set_topic(event.get("room"), event.get("topic"))
        self._show_event(event)
        self._changed()

    def _ok_ranked(self, request: Request, event: dict[str, Any]) -> None:
        # Done, or it was so already: either way it is so now.
        rank = "op" if request.action in ("op", "deop") else "voice"
        self.roster.ranked(event.get("room"), event.get("user"), rank, request.action in ("op", "voice"))
        self._show_event(event)

    _ok_op = _ok_deop = _ok_voice = _ok_devoice = _ok_ranked

    def _ok_kick(self, request: Request, event: dict[str, Any]) -> None:
        # (Without a room it was an admin's disconnect: the quit event says it.)
        self.roster.parted(event.get("room"), event.get("user"))
        self._show_event(event)

    def _ok_ban(self, request: Request, event: dict[str, Any]) -> None:
        # A member banned is put out (a kick to the others, not to the one who banned).
        self.roster.parted(event.get("room"), event.get("user"))
        self._show_event(event)

    def _ok_nick(self, request: Request, event: dict[str, Any]) -> None:
        new = event.get("user")
        if isinstance(new, str):
            self.roster.renamed(self.name, new)
            self.name = new
            self._changed()
        self._show_event(event)

    def _ok_register(self, request: Request, event: dict[str, Any]) -> None:
        # The server counts this session as the account's from now on.
        self.registered = True
        if self.name:
            self._account = (name_key(self.name), request.args["password"])
        self._show_event(event)
        self._show(self.renderer.notice(
            "tchat-client asks for it at your next login (scripts: TCHAT_PASSWORD or --password-file)",
            ts=event.get("ts"),
        ))

    def _ok_passwd(self, request: Request, event: dict[str, Any]) -> None:
        if self.registered and self.name:
            self._account = (name_key(self.name), request.args["new"])
        self._show_event(event)

    def _ok_join(self, request: Request, event: dict[str, Any]) -> None:
        room: str = event["room"] if isinstance(event.get("room"), str) else request.args["room"]
        already = name_key(room) in {name_key(r) for r in self.rooms}
        self.rooms = [r for r in self.rooms if name_key(r) != name_key(room)] + [room]
        self.current_room = room
        self.roster.joined({**event, "room": room})
        # Joined now: who is in it (the operators marked) and its topic.
        # Already in it: that plain lines go there now (the client's current room, not the server's).
        self._show(
            self.renderer.notice(f"you are in {room}; plain lines now go there", ts=event.get("ts")) if already
            else self.renderer.joined(event)
        )
        self._changed()

    def _ok_part(self, request: Request, event: dict[str, Any]) -> None:
        room: str = event["room"] if isinstance(event.get("room"), str) else request.args["room"]
        self.rooms = [r for r in self.rooms if name_key(r) != name_key(room)]
        self.roster.left(room)
        if self.current_room is None or name_key(self.current_room) == name_key(room):
            self.current_room = self.rooms[-1] if self.rooms else None
        # The server's text names its idea of the current room; say ours.
        where = f"plain lines now go to {self.current_room}" if self.current_room else "you are in no room now"
        self._show(self.renderer.notice(f"you left {room}; {where}", ts=event.get("ts")))
        self._changed()

    def _on_pong(self, event: dict[str, Any]) -> None:
        rid = event.get("re")
        answered = self._reply_to(event)
        if answered is None:
            self._show_event(event)
            return
        if rid in self._quiet:
            self._quiet.discard(rid)
            return
        took = (self.clock.seconds() - answered[1]) * 1000
        self._show(self.renderer.notice(f"pong from the server in {took:.0f} ms", ts=event.get("ts")))

    def _on_notice(self, event: dict[str, Any]) -> None:
        if kicked_notice(str(event.get("text", ""))):
            self._kicked = True
        self._show_event(event)

    def _on_shutdown(self, event: dict[str, Any]) -> None:
        # The bye that follows means "down for now", whatever its words.
        self._shutdown_said = True
        self._show_event(event)

    def _on_bye(self, event: dict[str, Any]) -> None:
        self._got_bye = True
        if self.quitting:
            # Our own quit: the bye is expected, hang up now rather than wait.
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._final_bye = self._kicked or (not self._shutdown_said and goes_away(event))
        self._show_event(event)

