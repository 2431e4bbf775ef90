"""
What is derived from the table for people: ``/help``'s entries, the
reStructuredText table of docs/protocol.rst (``python -m tchat.commands
docs/protocol.rst`` rewrites it), and ``/protocol.json`` for the page.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

from tchat.commands.table import COMMANDS, Command, _is_not_number, _is_number, _is_room


def help_entries(word: str | None = None) -> list[dict[str, Any]]:
    """
    The help for every listed command form, or for the one ``word`` names
    (with or without its slash, an alias or a JSON action). Empty if unknown.
    """
    if word is not None:
        word = word.lstrip("/").lower()
    entries = []
    for command in COMMANDS:
        if not command.listed:
            continue
        for form in command.forms:
            if word is not None and word not in form.words and word != command.action:
                continue
            entries.append(
                {
                    "command": "/" + form.words[0],
                    "usage": form.usage,
                    "aliases": ["/" + w for w in form.words[1:]],
                    "action": command.action,
                    "json": command.json_usage(),
                    "text": form.summary or command.summary,
                    "admin": command.admin,
                }
            )
    return entries


def rst_table(commands: Iterable[Command] = COMMANDS) -> str:
    """The command reference of docs/protocol.rst, as a reStructuredText list table."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 25 20 35 20",
        "",
        "   * - text mode",
        "     - aliases",
        "     - JSON mode",
        "     - what it does",
    ]
    for command in commands:
        if not command.listed:
            continue
        for form in command.forms:
            aliases = ", ".join(f"``/{w}``" for w in form.words[1:]) or "-"
            what = form.summary or command.summary
            if command.admin and "admins" not in what:
                what += " (admins only)"
            lines += [
                f"   * - ``{form.usage}``",
                f"     - {aliases}",
                f"     - ``{command.json_usage()}``",
                f"     - {what}",
            ]
    return "\n".join(lines) + "\n"


BEGIN_MARK = ".. commands-table-begin (made by: python -m tchat.commands docs/protocol.rst)\n"
END_MARK = ".. commands-table-end\n"


def main(argv: list[str] | None = None, out: Callable[[str], Any] = sys.stdout.write) -> None:
    """Print the table, or with a path, rewrite the table between its marks in that file."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        out(rst_table())
        return
    with open(args[0], encoding="utf-8") as f:
        page = f.read()
    head, _, rest = page.partition(BEGIN_MARK)
    _, _, tail = rest.partition(END_MARK)
    with open(args[0], "w", encoding="utf-8") as f:
        f.write(head + BEGIN_MARK + "\n" + rst_table() + "\n" + END_MARK + tail)


def protocol_table() -> dict[str, Any]:
    """
    The whole table as plain JSON data, for a client that reads typed lines
    itself: the web door serves it as ``/protocol.json``, and the page
    parses a line with it exactly as L{parse_text} does. For each command:
    its action, summary and flags (``admin``, ``before_login``, ``json``,
    ``listed``), its JSON ``fields`` (name, kind, required), and its text
    ``forms``: ``words`` (the first is the name, the others aliases; two
    words for ``/contact add``), ``usage``, the form's own ``summary`` (empty
    when the command's applies), ``fixed`` fields, and ``args`` in order
    (``field``, ``meta``, ``optional``, ``rest``, and ``accepts``: None, or
    ``"room"`` (a word starting with ``#``), ``"number"`` (``str.isdigit``),
    ``"not_number"``; another test is named after its function).

    It reads only the attributes it knows, each with a default, so rows may
    grow new ones without breaking it (or showing up in it).
    """
    known_tests: dict[Callable[[str], bool], str] = {
        _is_room: "room",
        _is_number: "number",
        _is_not_number: "not_number",
    }

    def accepts(arg: Any) -> str | None:
        test = getattr(arg, "accepts", None)
        if test is None:
            return None
        return known_tests.get(test) or str(getattr(test, "__name__", "unknown")).lstrip("_")

    def text_form(command: Any, form: Any) -> dict[str, Any]:
        args = tuple(getattr(form, "args", ()))
        return {
            "words": list(form.words),
            "usage": str(form.usage),
            "summary": str(getattr(form, "summary", "") or ""),
            "fixed": dict(getattr(form, "fixed", ())),
            "args": [
                {
                    "field": a.field,
                    "meta": a.meta,
                    "optional": bool(getattr(a, "optional", False)),
                    "rest": bool(getattr(a, "rest", False)),
                    "accepts": accepts(a),
                }
                for a in args
            ],
        }

    return {
        "commands": [
            {
                "action": command.action,
                "summary": str(getattr(command, "summary", "") or ""),
                "admin": bool(getattr(command, "admin", False)),
                "before_login": bool(getattr(command, "before_login", False)),
                "json": bool(getattr(command, "json", True)),
                "listed": bool(getattr(command, "listed", True)),
                "fields": [
                    {
                        "name": f.name,
                        "kind": str(getattr(f, "kind", "str")),
                        "required": bool(getattr(f, "required", True)),
                    }
                    for f in getattr(command, "fields", ())
                ],
                "forms": [text_form(command, form) for form in getattr(command, "forms", ())],
            }
            for command in COMMANDS
        ]
    }
