"""
``tchat-admin``: manage accounts from a shell, through the same store API.

::

    tchat-admin [--db URL] create NAME [--password-stdin] [--any-password]
    tchat-admin [--db URL] reset NAME [--password-stdin] [--any-password]
    tchat-admin [--db URL] delete NAME
    tchat-admin [--db URL] list
    tchat-admin [--db URL] upgrade

``--db`` takes the server's URL forms (default ``$TCHAT_DB``, else
``sqlite:tchat.db``). It works while the server is down, and also while it
runs (SQLite in WAL mode lets both use the file; a write waits for the
other's). Opening the store applies pending schema upgrades, as the server
does at start-up.

The flow: parse the command line; check the name and read and check the
password *before* the reactor starts (``getpass`` blocks, and a weak
password should not cost a database connection); then, under
``twisted.internet.task.react``, open the store, do the one thing, close it.

Exit status: 0 done; 1 refused or failed, with one line on stderr saying why
(name registered, bad name, weak password, passwords differ, no such user,
database unreachable); 2 a command line that does not parse.

Passwords are read with ``getpass`` (twice, they must match) or, with
``--password-stdin``, as the first line of standard input (for scripts).
They are never printed and never taken from the command line, where other
users of the machine could read them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
import time
from typing import Any, Sequence, TextIO

from twisted.internet import task

from tchat.names import BadName, check_name, name_key
from tchat.store.accounts import Account, check_password
from tchat.store.url import parse_url
from tchat.store.errors import StoreError
from tchat.store.store import Store, open_store

PROGRAM = "tchat-admin"


class Refused(Exception):
    """A reason to stop with status 1; the message is the one line shown."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Manage tchat accounts in the server's database (the server may be running or not).",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("TCHAT_DB", "sqlite:tchat.db"),
        help="sqlite:PATH, memory or postgresql://USER@HOST/DB (default: $TCHAT_DB, else sqlite:tchat.db)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (("create", "register an account"), ("reset", "set a new password for an account")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("name", metavar="NAME")
        command.add_argument(
            "--password-stdin", action="store_true", help="read the password from the first line of standard input"
        )
        command.add_argument(
            "--any-password", action="store_true",
            help="skip the password policy (at least 8 characters, not the name, not one character repeated): "
            "the operator's choice, such as for a test account; the password still may not be empty",
        )
    commands.add_parser("delete", help="delete an account, its waiting messages and contacts").add_argument(
        "name", metavar="NAME"
    )
    commands.add_parser("list", help="list accounts: name, created, last login and from where")
    commands.add_parser("upgrade", help="bring the database schema up to date and show its version")
    commands.add_parser(
        "backup", help="copy a SQLite database to FILE while the server runs (for PostgreSQL it names the pg_dump command)"
    ).add_argument("file", metavar="FILE")
    return parser


def read_password(name: str, from_stdin: bool, stdin: TextIO, policy: bool = True) -> str:
    """The new password for ``name``, from stdin or asked twice; checked against the policy (unless not ``policy``)."""
    if from_stdin:
        line = stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    else:
        password = getpass.getpass(f"New password for {name}: ")
        if getpass.getpass("Again: ") != password:
            raise Refused("the two passwords differ")
    try:
        check_password(name, password, policy)
    except StoreError as e:
        raise Refused(str(e)) from None
    return password


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


def format_accounts(accounts: Sequence[Account]) -> str:
    """The ``list`` table: one account per line, columns aligned."""
    rows = [("NAME", "CREATED", "LAST LOGIN", "FROM")]
    rows += [(a.name, _when(a.created), _when(a.last_login), a.last_address or "-") for a in accounts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows
    )


async def _act(store: Store, args: argparse.Namespace, password: str | None, out: TextIO) -> None:
    if args.command == "create":
        account = await store.accounts.create(args.name, password, not args.any_password)  # type: ignore[arg-type]
        print(f"created {account.name}", file=out)
    elif args.command == "reset":
        key = name_key(args.name)
        await store.accounts.change_password(key, password, not args.any_password)  # type: ignore[arg-type]
        changed = await store.accounts.get(key)
        print(f"changed the password of {changed.name if changed else args.name}", file=out)
    elif args.command == "delete":
        await store.accounts.delete(name_key(args.name))
        print(f"deleted {args.name}", file=out)
    elif args.command == "list":
        print(format_accounts(await store.accounts.list()), file=out)
    elif args.command == "upgrade":
        print(f"schema version {await store.schema_version()}", file=out)


# Commands that may make a database where there is none.
MAKES_A_DATABASE = ("create", "upgrade")


def no_database(url: str, command: str) -> str | None:
    """Why ``command`` must not run: a SQLite file that does not exist, for a command that only reads or changes accounts."""
    parsed = parse_url(url)
    if command in MAKES_A_DATABASE or parsed.engine != "sqlite" or parsed.target == ":memory:":
        return None
    if os.path.exists(parsed.target):
        return None
    return (
        f"there is no database at {parsed.target} (the server makes it when it first starts;"
        " --db or $TCHAT_DB names another)"
    )


async def run(reactor: Any, args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> None:
    """
    Open the store, check what can be checked, ask for a password if the
    command needs one, do the command, close the store; a failure becomes
    one line and status 1.
    """
    try:
        store = await open_store(args.db, reactor)
    except Exception as e:
        print(f"{PROGRAM}: cannot open the database {parse_url(args.db)}: {_one_line(e)}", file=err)
        raise SystemExit(1) from None
    try:
        password = None
        if args.command in ("create", "reset"):
            # Before asking for a password: one for a name that is taken, or
            # for no account, would be asked for nothing.
            existing = await store.accounts.get(name_key(args.name))
            if args.command == "create" and existing is not None:
                raise Refused(f"the name {args.name} is registered already")
            if args.command == "reset" and existing is None:
                raise Refused(f"no registered user {args.name}")
            password = read_password(args.name, args.password_stdin, stdin, not args.any_password)
        await _act(store, args, password, out)
    except Refused as e:
        print(f"{PROGRAM}: {e}", file=err)
        raise SystemExit(1) from None
    except (KeyboardInterrupt, EOFError):
        print(f"\n{PROGRAM}: cancelled", file=err)
        raise SystemExit(1) from None
    except StoreError as e:
        print(f"{PROGRAM}: {e}", file=err)
        raise SystemExit(1) from None
    except Exception as e:
        print(f"{PROGRAM}: {args.command} failed: {_one_line(e)}", file=err)
        raise SystemExit(1) from None
    finally:
        await store.close()


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> None:
    """The ``tchat-admin`` console script."""
    args = build_parser().parse_args(argv)
    try:
        parse_url(args.db)
        if args.command == "create":
            try:
                args.name = check_name(args.name.strip())
            except BadName as e:
                raise Refused(f"bad name: {e}") from None
        missing = no_database(args.db, args.command)
        if missing is not None:
            raise Refused(missing)
    except (Refused, ValueError) as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    if args.command == "backup":
        try:
            print(backup(args.db, args.file), file=sys.stdout)
        except Refused as e:
            print(f"{PROGRAM}: {e}", file=sys.stderr)
            raise SystemExit(1) from None
        return
    task.react(run, (args, sys.stdin, sys.stdout, sys.stderr))


def backup(url: str, path: str) -> str:
    """
    Copy the SQLite database at ``url`` to ``path`` with SQLite's online
    backup API: a consistent copy, taken while the server writes (it waits
    out each write, never blocks the server for long). The copy goes to
    ``path.partial`` and is renamed into place once whole, so a backup cut
    short never looks like one. Returns what to say; raises L{Refused}.
    """
    parsed = parse_url(url)
    if parsed.engine == "postgresql":
        raise Refused(
            "for PostgreSQL, back up with its own tool: "
            f"pg_dump --format=custom --file {path} '{parsed.shown}' (and pg_restore to restore; see docs/store.rst)"
        )
    if parsed.target == ":memory:":
        raise Refused("a memory database keeps nothing to back up")
    if os.path.exists(path):
        raise Refused(f"{path} exists already; give a new file")
    partial = path + ".partial"
    try:
        source = sqlite3.connect(f"file:{parsed.target}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        raise Refused(f"cannot open the database {parsed.shown}: {e}") from None
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target, pages=256)
        finally:
            target.close()
        os.replace(partial, path)
    except (sqlite3.Error, OSError) as e:
        if os.path.exists(partial):
            os.unlink(partial)
        raise Refused(f"the backup failed: {e}") from None
    finally:
        source.close()
    return f"backed up {parsed.shown} to {path} ({os.path.getsize(path)} bytes)"
