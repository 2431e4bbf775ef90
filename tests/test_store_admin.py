"""
``tchat-admin`` end to end: the installed script, as a subprocess, on a SQLite file.

Run ``pip install .`` after changing the package: these tests use the
installed command next to ``sys.executable``, as an operator would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tchat.store import open_store
from tchat.store.admin import format_accounts
from tchat.store.migrations import latest_version
from tchat.store.accounts import Account

ADMIN = os.path.join(os.path.dirname(sys.executable), "tchat-admin")


class AdminTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory(prefix="tchat-admin-")
        self.addCleanup(directory.cleanup)
        self.url = "sqlite:" + os.path.join(directory.name, "tchat.db")

    def admin(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.admin_all([(args, stdin)])[0]

    def admin_all(self, runs: list[tuple[tuple[str, ...], str]]) -> list[subprocess.CompletedProcess[str]]:
        """Run several ``tchat-admin`` commands at once (each takes a Python start-up)."""
        started = [
            # A session of its own: no controlling terminal, so getpass reads stdin.
            (subprocess.Popen([ADMIN, "--db", self.url, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True), args, stdin)
            for args, stdin in runs
        ]
        done = []
        for process, args, stdin in started:
            out, err = process.communicate(stdin, timeout=30)
            done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
        return done

    def assertRefused(self, done: subprocess.CompletedProcess[str], words: str) -> None:
        self.assertEqual(done.returncode, 1, done)
        self.assertEqual(done.stdout, "")
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn(words, done.stderr)

    async def test_create_list_reset_delete(self) -> None:
        created = self.admin("create", "Alice", "--password-stdin", stdin="correct horse\n")
        self.assertEqual((created.returncode, created.stdout, created.stderr), (0, "created Alice\n", ""))

        store = await open_store(self.url, reactor)
        self.assertTrue(await store.accounts.verify("alice", "correct horse"))
        await store.accounts.record_login("alice", 1_700_000_000.0, "192.0.2.7:51000")
        await store.close()

        listed = self.admin("list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        header, row = listed.stdout.splitlines()
        self.assertEqual(header.split(), ["NAME", "CREATED", "LAST", "LOGIN", "FROM"])
        self.assertEqual(row.split()[0], "Alice")
        self.assertEqual(row.split()[-3:], ["2023-11-14", "22:13:20Z", "192.0.2.7:51000"])

        reset = self.admin("reset", "ALICE", stdin="battery staple\nbattery staple\n")
        self.assertEqual((reset.returncode, reset.stdout), (0, "changed the password of Alice\n"), reset.stderr)
        self.assertNotIn("battery", reset.stdout + reset.stderr)

        store = await open_store(self.url, reactor)
        self.assertTrue(await store.accounts.verify("alice", "battery staple"))
        await store.close()

        deleted = self.admin("delete", "alice")
        self.assertEqual((deleted.returncode, deleted.stdout), (0, "deleted alice\n"), deleted.stderr)
        self.assertEqual(self.admin("list").stdout.splitlines()[1:], [])
        self.assertEqual(self.admin("upgrade").stdout, f"schema version {latest_version('sqlite')}\n")

    def test_refusals_exit_1_with_one_line_that_never_shows_the_password(self) -> None:
        self.assertEqual(self.admin("create", "alice", "--password-stdin", stdin="correct horse\n").returncode, 0)
        taken, bad_name, weak, differ, no_one, no_one_reset, bad_url = self.admin_all([
            (("create", "ALICE", "--password-stdin"), "other password\n"),
            (("create", "#room", "--password-stdin"), "correct horse\n"),
            (("create", "bob", "--password-stdin"), "bob\n"),
            (("create", "bob"), "first password\nsecond password\n"),
            (("delete", "bob"), ""),
            (("reset", "bob", "--password-stdin"), "correct horse\n"),
            (("--db", "mysql://u:s3cret@h/db", "list"), ""),
        ])
        self.assertRefused(taken, "the name ALICE is registered already")
        self.assertRefused(bad_name, "bad name: a user name must not start with '#'")
        self.assertRefused(weak, "a password needs at least 8 characters")
        # getpass, with no terminal, warns and prompts on stderr before the refusal.
        self.assertEqual(differ.returncode, 1)
        self.assertEqual(differ.stderr.splitlines()[-1], "tchat-admin: the two passwords differ")
        self.assertRefused(no_one, "no registered user bob")
        self.assertRefused(no_one_reset, "no registered user bob")
        self.assertRefused(bad_url, "unknown database URL 'mysql://u:***@h/db'")
        for done in (taken, bad_name, weak, differ, no_one_reset):
            for password in ("other password", "correct horse", "first password", "second password"):
                self.assertNotIn(password, done.stdout + done.stderr)
        self.assertNotIn("s3cret", bad_url.stderr)
        self.assertEqual([a.split()[0] for a in self.admin("list").stdout.splitlines()[1:]], ["alice"])
        self.assertEqual(subprocess.run([ADMIN, "frobnicate"], capture_output=True).returncode, 2)

    async def test_any_password_is_the_operators_choice_but_never_an_empty_one(self) -> None:
        short = self.admin("create", "bob", "--password-stdin", "--any-password", stdin="sesame\n")
        self.assertEqual((short.returncode, short.stdout), (0, "created bob\n"), short.stderr)
        empty, reset = self.admin_all([
            (("create", "carol", "--password-stdin", "--any-password"), "\n"),
            (("reset", "nobody", "--password-stdin", "--any-password"), "x\n"),
        ])
        self.assertRefused(empty, "a password cannot be empty")
        self.assertRefused(reset, "no registered user nobody")
        self.assertRefused(self.admin("reset", "bob", "--password-stdin", stdin="abc\n"), "a password needs at least 8 characters")
        self.assertEqual(self.admin("reset", "bob", "--password-stdin", "--any-password", stdin="abc\n").returncode, 0)
        store = await open_store(self.url, reactor)
        self.addCleanup(store.close)
        self.assertTrue(await store.accounts.verify("bob", "abc"))
        self.assertIsNone(await store.accounts.get("carol"))

    def test_a_taken_name_is_refused_before_any_password_is_asked(self) -> None:
        self.assertEqual(self.admin("create", "alice", "--password-stdin", stdin="correct horse\n").returncode, 0)
        taken, nobody = self.admin_all([(("create", "Alice"), ""), (("reset", "bob"), "")])
        self.assertRefused(taken, "the name Alice is registered already")
        self.assertRefused(nobody, "no registered user bob")
        self.assertNotIn("password", (taken.stderr + nobody.stderr).lower().replace("tchat-admin:", ""))

    def test_commands_that_read_never_make_a_database(self) -> None:
        path = self.url.split(":", 1)[1]
        for done in self.admin_all([(("list",), ""), (("delete", "bob"), ""), (("reset", "bob", "--password-stdin"), "correct horse\n")]):
            self.assertRefused(done, f"there is no database at {path}")
        self.assertFalse(os.path.exists(path))

    def test_list_columns_line_up(self) -> None:
        table = format_accounts([
            Account("alice", "alice", 0.0, None, None, None),
            Account("bob.long.name", "Bob.Long.Name", 86400.0, 90000.0, "[2001:db8::1]:5000", None),
        ])
        lines = table.splitlines()
        self.assertEqual(lines[1], "alice          1970-01-01 00:00:00Z  never                 -")
        self.assertEqual(lines[2], "Bob.Long.Name  1970-01-02 00:00:00Z  1970-01-02 01:00:00Z  [2001:db8::1]:5000")


class BackupTests(TestCase):
    """``tchat-admin backup`` while the server runs, and a restore the way docs/store.rst says."""

    timeout = 90

    async def test_a_backup_taken_while_the_server_runs_restores_with_its_history(self) -> None:
        from tests.helpers import connect_line_client
        from tests.test_twistd import TwistdProcess, spawn_twistd

        folder = tempfile.TemporaryDirectory(prefix="tchat-backup-")
        self.addCleanup(folder.cleanup)

        async def serve(db: str) -> tuple[TwistdProcess, int]:
            process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--db", db)
            return process, await process.port

        live = os.path.join(folder.name, "tchat.db")
        process, port = await serve(f"sqlite:{live}")
        bot = await connect_line_client(port)
        bot.send_json(action="login", user="bot", id=0)
        for i in range(1, 51):
            bot.send_json(action="msg", to="#lobby", text=f"kept {i}", id=i)
        await bot.wait_event("ok", re=50)

        copy = os.path.join(folder.name, "backup.db")
        done = subprocess.run([ADMIN, "--db", f"sqlite:{live}", "backup", copy], capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(f"to {copy}", done.stdout)
        again = subprocess.run([ADMIN, "--db", f"sqlite:{live}", "backup", copy], capture_output=True, text=True, timeout=30)
        self.assertEqual(again.returncode, 1)
        self.assertIn("exists already", again.stderr)
        process.transport.signalProcess("TERM")
        await process.ended

        # Restore: the copy, in place of a database, with the server stopped.
        restored = os.path.join(folder.name, "restored.db")
        os.rename(copy, restored)
        _, port = await serve(f"sqlite:{restored}")
        reader = await connect_line_client(port)
        reader.send_json(action="login", user="reader", id=1)
        reader.send_json(action="history", target="#lobby", limit=100, id=2)
        history = await reader.wait_event("history", re=2)
        self.assertEqual([m["text"] for m in history["messages"]], [f"kept {i}" for i in range(1, 51)])

    def test_postgresql_and_memory_say_what_to_do_instead(self) -> None:
        pg = subprocess.run([ADMIN, "--db", "postgresql://u:s3cret@127.0.0.1/tchat", "backup", "x.dump"], capture_output=True, text=True, timeout=30)
        self.assertEqual(pg.returncode, 1)
        self.assertIn("pg_dump --format=custom --file x.dump 'postgresql://u:***@127.0.0.1/tchat'", pg.stderr)
        self.assertNotIn("s3cret", pg.stderr)
