#!/usr/bin/env python3
"""
A thread-per-client chat server, built the way the programs tchat replaces
were: the baseline of ``benchmarks/compare``.

- one thread per connection, blocking sockets, ``makefile`` line reading;
- one global list of clients behind one global lock;
- every message is written to everyone else with ``sendall``, one after the
  other, while holding that lock (so one client that does not read holds up
  the whole room, which is how those programs behaved).

It speaks just enough of tchat's JSON mode for ``tchat-bench``: the text
greeting, ``login`` (answered with ``welcome`` and ``logged_in`` with the
list of users, as the seed programs sent on connect), ``join`` (one room
only: everyone logged in is in it; ``part`` leaves it), ``msg`` to the room (a ``message`` event to
everyone else, ``ok`` to the sender), ``ping``/``pong`` and ``quit``. It does
not announce joins and parts, has no limits and cleans no text. Standard
library only. Not for real use.

    python benchmarks/threaded_server.py --port 4322
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import socket
import sys
import threading
import time
from typing import Any

ROOM = "#lobby"

clients: dict[socket.socket, str] = {}
in_room: set[socket.socket] = set()
clients_lock = threading.Lock()
msgids = itertools.count(1)


def encode(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\r\n").encode("utf-8")


def broadcast(sender: socket.socket, data: bytes) -> None:
    """Write ``data`` to everyone but ``sender``, one by one, holding the lock."""
    with clients_lock:
        for sock in in_room:
            if sock is not sender:
                try:
                    sock.sendall(data)
                except OSError:
                    pass  # its own thread notices and cleans up


def handle(sock: socket.socket) -> None:
    name: str | None = None
    reader = sock.makefile("rb")
    try:
        sock.sendall(b"*** Welcome to the threaded chat. Send a JSON line to log in.\r\n")
        for raw in reader:
            line = raw.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
                action = request["action"]
            except (ValueError, KeyError, TypeError):
                sock.sendall(encode({"event": "error", "code": "bad_request", "text": "send one JSON object per line", "ts": time.time()}))
                continue
            rid = request.get("id")
            if action == "login":
                wanted = str(request.get("user", "")).strip()
                with clients_lock:
                    taken = name is not None or not wanted or wanted.casefold() in {n.casefold() for n in clients.values()}
                    if not taken:
                        name = wanted
                        clients[sock] = name
                        in_room.add(sock)
                        users = sorted(clients.values(), key=str.casefold)
                if taken:
                    sock.sendall(encode({"event": "error", "re": rid, "code": "name_taken", "text": "choose another name", "ts": time.time()}))
                    continue
                sock.sendall(encode({"event": "welcome", "server": "threaded", "version": "0", "ts": time.time()}))
                sock.sendall(encode({"event": "logged_in", "re": rid, "user": name, "rooms": [ROOM], "users": users, "ts": time.time()}))
            elif name is None and action not in ("ping", "quit"):
                sock.sendall(encode({"event": "error", "re": rid, "code": "not_logged_in", "text": "log in first", "ts": time.time()}))
            elif action in ("join", "part"):
                with clients_lock:
                    (in_room.add if action == "join" else in_room.discard)(sock)
                sock.sendall(encode({"event": "ok", "re": rid, "room": request.get("room"), "ts": time.time()}))
            elif action == "msg":
                msgid = f"t-{next(msgids)}"
                event = {"event": "message", "msgid": msgid, "from": name, "to": request.get("to") or ROOM,
                         "text": str(request.get("text", "")), "kind": "public", "ts": time.time()}
                broadcast(sock, encode(event))
                reply: dict[str, Any] = {"event": "ok", "msgid": msgid, "ts": time.time()}
                if rid is not None:
                    reply["re"] = rid
                sock.sendall(encode(reply))
            elif action == "ping":
                sock.sendall(encode({"event": "pong", "re": rid, "token": request.get("token"), "ts": time.time()}))
            elif action == "pong":
                pass
            elif action == "quit":
                sock.sendall(encode({"event": "bye", "text": "goodbye", "ts": time.time()}))
                break
            else:
                sock.sendall(encode({"event": "error", "re": rid, "code": "unknown_command", "text": "not here", "ts": time.time()}))
    except OSError:
        pass
    finally:
        with clients_lock:
            clients.pop(sock, None)
            in_room.discard(sock)
        try:
            sock.close()
        except OSError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description="A thread-per-client chat server (a benchmark baseline).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4322)
    parser.add_argument("--backlog", type=int, default=128)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(args.backlog)
    print(f"threaded chat listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=handle, args=(sock,), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
