"""
The one command table, and everything derived from it.

Every request a client can make is a row of L{COMMANDS} (in ``table``): its
JSON action and fields, its text-mode forms with their aliases and
arguments, and its help line. Everything else is derived from the table,
so none of it can drift:

- ``parse``: L{parse_text} turns a line typed by a person into a
  L{Request}; L{parse_json} checks a JSON-mode object and turns it into one;
- ``docs``: L{help_entries} is what ``/help`` answers; ``python -m
  tchat.commands`` prints the reStructuredText table that
  ``docs/protocol.rst`` includes (a test checks they match);
  L{protocol_table} is ``/protocol.json``, which the page parses with.

A L{Request} only says what was asked, with fields of the right types and
within their constraints. Whether it makes sense (does the user exist, may
this person kick) is the chat rules' call.
"""

from tchat.commands.docs import BEGIN_MARK, END_MARK, help_entries, main, protocol_table, rst_table
from tchat.commands.parse import parse_json, parse_text
from tchat.commands.table import (
    BY_ACTION, COMMANDS, JSON_ACTIONS, TEXT_WORDS, Arg, BadRequest, Command, Field, Request, RequestId, TextForm,
)

__all__ = [
    "BEGIN_MARK", "BY_ACTION", "COMMANDS", "END_MARK", "JSON_ACTIONS", "TEXT_WORDS", "Arg", "BadRequest", "Command",
    "Field", "Request", "RequestId", "TextForm", "help_entries", "main", "parse_json", "parse_text",
    "protocol_table", "rst_table",
]
