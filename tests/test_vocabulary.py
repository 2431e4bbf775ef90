"""
Every event name and error code the server sends is in tchat.vocabulary,
everything there is sent somewhere, and docs/protocol.rst documents each.
The code is read, not run: a name found in a call that makes an event or an
error counts as sent.
"""

from __future__ import annotations

import ast
import pathlib
import re

from twisted.trial.unittest import TestCase

from tchat.vocabulary import ERRORS, EVENTS, INTERNAL_ERRORS

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER = [p for p in (ROOT / "tchat").rglob("*.py") if not {"client", "bench"} & set(p.parts)]
ERROR_CALLS = {"ChatError", "BadRequest", "error_event", "submit_error"}
EVENT_CALLS = {"make_event", "event"}


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def sent() -> tuple[set[str], set[str]]:
    """(error codes, event names) the server's code can send."""
    codes: set[str] = set()
    events: set[str] = set()
    for path in SERVER:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                first = _text(node.args[0]) if node.args else None
                if name in ERROR_CALLS and first:
                    codes.add(first)
                if name in EVENT_CALLS and first:
                    events.add(first)
                if name == "refuse" and len(node.args) >= 3 and _text(node.args[2]):
                    codes.add(_text(node.args[2]))  # type: ignore[arg-type]
                if name == "announce" and len(node.args) >= 3 and _text(node.args[2]):
                    events.add(_text(node.args[2]))  # type: ignore[arg-type]
                if name == "reply" and len(node.args) >= 3 and _text(node.args[2]):
                    events.add(_text(node.args[2]))  # type: ignore[arg-type]
                codes.update(t for kw in node.keywords if kw.arg == "code" and (t := _text(kw.value)))
            elif isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["code"]:
                codes.update(t for t in [_text(node.value)] if t)  # a store error's class code
            elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2:
                # Admission's refusals: return "code", "sentence"
                code = _text(node.value.elts[0])
                if code and re.fullmatch(r"[a-z]+(_[a-z]+)+", code):
                    codes.add(code)
    return codes, events


def documented() -> tuple[set[str], set[str]]:
    page = (ROOT / "docs" / "protocol.rst").read_text(encoding="utf-8")
    events_part = page.split("\nEvents\n------\n", 1)[1].split("\nError codes\n", 1)[0]
    errors_part = page.split("\nError codes\n-----------\n", 1)[1].split("\n---", 1)[0]
    # Definition-list terms: a line that is only ``name`` (or ``a`` / ``b``, or "(admins)").
    events = set(re.findall(r"^``(\w+)``(?: / ``(\w+)``)?(?: \(admins\))?$", events_part, re.M))
    return (
        set(re.findall(r"^``(\w+)`` {2,}", errors_part, re.M)),
        {name for pair in events for name in pair if name},
    )


class VocabularyTests(TestCase):
    def test_every_error_code_sent_is_registered_and_every_registered_one_is_sent(self) -> None:
        codes, _ = sent()
        self.assertEqual(codes - set(INTERNAL_ERRORS), set(ERRORS))

    def test_every_event_sent_is_registered_and_every_registered_one_is_sent(self) -> None:
        _, events = sent()
        # bye is sent by the doors' close, as the session's last line.
        self.assertEqual(events | {"bye"}, set(EVENTS))

    def test_the_protocol_page_documents_exactly_the_registered_names(self) -> None:
        codes, events = documented()
        self.assertEqual(codes, set(ERRORS))
        self.assertEqual(events, set(EVENTS))
