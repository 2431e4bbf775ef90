"""Real loopback sockets: text people, JSON programs, limits and stopping."""

from __future__ import annotations

import json

from twisted.trial.unittest import TestCase

from tests.helpers import connect_line_client, generous_limits, start_line_server


class EndToEndTests(TestCase):
    timeout = 20

    async def test_text_and_json_clients_chat_both_ways(self) -> None:
        _, _, port = await start_line_server(self)
        alice = await connect_line_client(port)
        await alice.wait_for(lambda line: line.startswith("*** Welcome to tchat"))
        alice.send("alice")
        await alice.wait_for(lambda line: line.startswith("*** You are alice."))

        bot = await connect_line_client(port)
        bot.send_json(action="login", user="bot", id=1)
        logged = await bot.wait_event("logged_in", re=1)
        self.assertEqual(logged["users"], ["alice", "bot"])
        await alice.wait_for("*** bot joined #lobby")

        alice.send("hello bot, ünïcode ok")
        message = await bot.wait_event("message")
        self.assertEqual((message["from"], message["to"], message["text"], message["kind"]),
                         ("alice", "#lobby", "hello bot, ünïcode ok", "public"))

        bot.send_json(action="msg", to="#lobby", text="hello alice", id=2)
        await bot.wait_event("ok", re=2)
        await alice.wait_for("[#lobby] <~bot> hello alice")

        bot.send_json(action="msg", to="alice", text="just you", id=3)
        await alice.wait_for("[private] <~bot> just you")
        alice.send("/para bot and just you")
        private = await bot.wait_event("message", kind="private")
        self.assertEqual(private["text"], "and just you")

        alice.send("/quit")
        await alice.wait_for("*** Bye: you left the chat")
        await alice.lost
        quit = await bot.wait_event("quit")
        self.assertEqual((quit["user"], quit["rooms"], quit["reason"]), ("alice", ["#lobby"], "quit"))

    async def test_many_lines_in_one_write_arrive_in_order(self) -> None:
        _, _, port = await start_line_server(self)
        reader = await connect_line_client(port)
        reader.send_json(action="login", user="reader", id=1)
        await reader.wait_event("logged_in")
        writer = await connect_line_client(port)
        writer.send(b"writer\n" + b"".join(b"line %d\r\n" % i for i in range(200)) + b"/ping\n")
        await writer.wait_for("*** pong")
        last = reader.wait_event("message", text="line 199")
        await last
        texts = [json.loads(line)["text"] for line in reader.lines if '"message"' in line]
        self.assertEqual(texts, [f"line {i}" for i in range(200)])

    async def test_server_full_then_closed(self) -> None:
        _, _, port = await start_line_server(self, max_users=1)
        first = await connect_line_client(port)
        first.send("first")
        await first.wait_for(lambda line: line.startswith("*** You are first."))
        second = await connect_line_client(port)
        second.send("second")
        await second.wait_for(lambda line: line.endswith("(server_full)"))
        await second.wait_for("*** Bye: server full")
        await second.lost

    async def test_overlong_line_over_a_real_socket(self) -> None:
        _, _, port = await start_line_server(self, limits=generous_limits(max_line=1000))
        client = await connect_line_client(port)
        client.send(b"x" * 100_000 + b"\n/ping\n")
        await client.wait_for(lambda line: line.endswith("(line_too_long)"))
        await client.wait_for("*** pong")

    async def test_shutdown_by_an_admin_reaches_everyone_then_closes(self) -> None:
        hub, _, port = await start_line_server(self, admin_password="pw")
        root = await connect_line_client(port)
        root.send("root")
        root.send("/admin pw")
        await root.wait_for(lambda line: line.startswith("*** you are an admin now"))
        bot = await connect_line_client(port)
        bot.send_json(action="login", user="bot")
        await bot.wait_event("logged_in")
        root.send("/shutdown down server")
        shutdown = await bot.wait_event("shutdown")
        self.assertEqual((shutdown["text"], shutdown["delay"]), ("down server", 0))
        bye = await bot.wait_event("bye")
        self.assertEqual(bye["text"], "down server")
        await bot.lost
        await root.wait_for("*** Bye: down server")
        await root.lost
        self.assertTrue(hub.core.stopping)

    async def test_server_sockets_drop_peers_that_stop_acknowledging(self) -> None:
        import socket

        _, door, port = await start_line_server(self, limits=generous_limits(ping_timeout=42))
        client = await connect_line_client(port)
        client.send("person")
        await client.wait_for(lambda line: line.startswith("*** You are person."))
        (session,) = door.sessions
        sock = session.transport.getHandle()
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), 1)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT), 42_000)


class HalfCloseTests(TestCase):
    timeout = 20

    async def test_a_client_that_stops_sending_gets_every_reply_then_the_close(self) -> None:
        # printf '{"action":"login",…}\n{"action":"msg",…}\n' | nc -q1 HOST PORT
        _, _, port = await start_line_server(self)
        watcher = await connect_line_client(port)
        watcher.send("watcher")
        await watcher.wait_for(lambda line: line.startswith("*** You are watcher."))
        bot = await connect_line_client(port)
        bot.send(b'{"action":"login","user":"bot","id":1}\n{"action":"msg","to":"#lobby","text":"beep","id":2}\n')
        bot.transport.loseWriteConnection()
        await bot.lost
        events = [json.loads(line) for line in bot.lines if line.startswith("{")]
        self.assertEqual([(e["event"], e.get("re")) for e in events], [("welcome", None), ("logged_in", 1), ("ok", 2), ("bye", None)])
        await watcher.wait_for("[#lobby] <~bot> beep")
        await watcher.wait_for("*** bot left #lobby (quit)")

    async def test_a_last_line_without_its_newline_is_read_too(self) -> None:
        _, _, port = await start_line_server(self)
        person = await connect_line_client(port)
        person.send(b"carol\n/whoami")
        person.transport.loseWriteConnection()
        await person.lost
        self.assertIn("*** You are carol, in #lobby; current room #lobby", person.lines)
        self.assertEqual(person.lines[-1], "*** Bye: you left the chat")


class SocketOptionTests(TestCase):
    timeout = 20

    async def test_every_connection_gets_keepalive_after_the_idle_timeout_and_a_user_timeout(self) -> None:
        import socket

        _, door, port = await start_line_server(self, limits=generous_limits(idle_timeout=90, ping_timeout=30))
        client = await connect_line_client(port)
        client.send("alice")
        await client.wait_for(lambda line: line.startswith("*** You are alice."))
        [session] = door.sessions
        sock = session.transport.getHandle()
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), 1)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), 90)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), 10)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT), 3)
        self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT), 30_000)
