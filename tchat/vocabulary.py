"""
The one list of what the server says: every event name and every error
code a client can get, each with a line on what it means.

docs/protocol.rst documents exactly these (``tests/test_vocabulary.py``
reads the page and the code: a name sent but not listed here, listed but
never sent, or missing from the page fails the suite).
"""

from __future__ import annotations

EVENTS: dict[str, str] = {
    "welcome": "the greeting, on connect (again in JSON when a client turns to JSON mode)",
    "logged_in": "the answer to a login: name, rooms, who is online, sessions of the account",
    "message": "a message in a room or a private one (also what another session of yours sent)",
    "tagmsg": "client tags alone (typing, a reaction) sent to a room you are in or to you; nothing to show as text",
    "join": "someone joined a room you are in (you, from another session)",
    "part": "someone left a room you are in (you, from another session)",
    "quit": "someone who shared rooms with you left the chat: once, naming those rooms",
    "ok": "a request worked",
    "error": "a request failed, or a line could not be read",
    "users": "who is online, or in a room",
    "rooms": "the rooms and their sizes",
    "whoami": "your name, rooms and sessions",
    "help": "the commands",
    "pong": "the answer to ping",
    "ping": "the server checks an idle JSON client is there",
    "notice": "something the server says to you",
    "shutdown": "the server is going down",
    "bye": "the last event before the server closes the connection",
    "debug": "connections and rooms (admins)",
    "connections": "every connection (admins; not logged, for the admin page)",
    "log": "the server's last log lines (admins)",
    "history": "stored messages of a room or conversation",
    "contacts": "your contacts",
    "seen": "when someone was last online",
    "accounts": "the accounts (admins)",
    "topic": "a room's topic was set (and the answer to reading it)",
    "op": "someone was made an operator of a room",
    "deop": "someone's operator rights in a room were taken",
    "voice": "someone may speak in a moderated room",
    "devoice": "someone's voice in a room was taken",
    "kick": "someone was put out of a room (you, too)",
    "ban": "someone was banned from a room",
    "unban": "someone's ban from a room was lifted",
    "mute": "someone was muted in a room",
    "unmute": "someone's mute in a room was lifted",
    "invite": "you are invited to a room",
    "mode": "a room's modes changed (and the answer to reading them)",
    "bans": "who is banned from and muted in a room (ops)",
    "nick": "someone who shares a room with you changed name (you, from another session)",
    "whois": "about someone: online, registered, away, rooms, idle, sessions",
    "away": "someone who shares a room with you went away or came back",
}

ERRORS: dict[str, str] = {
    "line_too_long": "the line was over the limit; dropped up to its end",
    "bad_encoding": "the line was not UTF-8 (or held a lone surrogate escape); ignored",
    "bad_request": "malformed, a missing or wrong field or argument",
    "unknown_command": "no such command or action",
    "not_logged_in": "log in first",
    "bad_name": "a user or room name breaks the rules",
    "name_taken": "someone online has that name",
    "confusable_name": "the name looks like one online, registered, or a room that exists",
    "already_logged_in": "this connection has a name already",
    "too_many_sessions": "the account is logged in from as many devices as allowed",
    "no_such_user": "nobody by that name",
    "no_such_room": "no room by that name",
    "not_in_room": "join the room first",
    "too_many_rooms": "in as many rooms as one user may be",
    "empty_message": "nothing left to send once cleaned",
    "not_allowed": "admins only, or not on this server",
    "rate_limited": "too much too fast; the text says how long to wait",
    "server_full": "as many users as allowed; then bye",
    "too_many_connections": "as many connections from your address as allowed; then bye",
    "server_busy": "too many connections logging in at the moment; then bye",
    "internal_error": "the server failed; it logged why",
    "password_required": "the name is registered: log in with its password",
    "bad_password": "wrong password",
    "no_such_account": "a password for a name nobody registered",
    "guests_not_allowed": "registered users only",
    "name_registered": "someone registered that name already",
    "registration_closed": "only admins make accounts",
    "weak_password": "too weak a password",
    "already_registered": "registered already",
    "not_registered": "only registered users have that",
    "not_a_contact": "not in your contacts",
    "no_such_message": "before names no stored message",
    "queue_full": "the offline user has too many messages waiting",
    "unavailable": "the database is not answering",
    "not_op": "only the room's operators may do that",
    "banned": "banned from that room",
    "invite_only": "the room is invite-only and you were not invited",
    "bad_key": "the room has a key, and it was not given or wrong",
    "room_full": "the room has as many members as its limit",
    "muted": "muted in the room, or it is moderated: the message reached nobody",
    "too_many_bans": "the room keeps as many bans, mutes or invitations as it may",
}

# Codes of store errors that never reach a client as such: the rules turn
# them into one of the above, or they happen only at start or stop.
INTERNAL_ERRORS: dict[str, str] = {
    "store_error": "the base class; its subclasses carry the codes",
    "duplicate_message": "a message stored twice: the store keeps the first, the rules never see it",
    "store_closed": "a call after the store was closed, while the server stops",
    "schema_too_new": "refused at start, before any client connects",
}
