"""The command table: text parsing, JSON checking, help, and the docs made from it."""

from __future__ import annotations

import json
import os

from twisted.trial.unittest import TestCase

from tchat.commands import COMMANDS, BadRequest, Request, help_entries, parse_json, parse_text, rst_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TextParsingTests(TestCase):
    def test_plain_line_is_a_line_request(self) -> None:
        self.assertEqual(parse_text("hello there"), Request("line", {"text": "hello there"}))

    def test_double_slash_sends_a_line_starting_with_slash(self) -> None:
        self.assertEqual(parse_text("//shrug"), Request("line", {"text": "/shrug"}))

    def test_blank_line_is_nothing(self) -> None:
        self.assertIsNone(parse_text("   "))

    def test_every_alias_of_the_private_message(self) -> None:
        for word in ["msg", "para", "to", "w", "MSG", "Para"]:
            self.assertEqual(
                parse_text(f"/{word} bob  hi   there "), Request("msg", {"to": "bob", "text": "hi   there"})
            )

    def test_message_to_the_current_room_and_action(self) -> None:
        self.assertEqual(parse_text("/msgall hi all"), Request("msg", {"text": "hi all"}))
        self.assertEqual(parse_text("/all hi"), Request("msg", {"text": "hi"}))
        self.assertEqual(parse_text("/me waves"), Request("msg", {"kind": "action", "text": "waves"}))

    def test_seed_aliases(self) -> None:
        expected = {
            "/online": "users", "/userlist": "users", "/who": "users", "/users": "users",
            "/sair": "quit", "/logout": "quit", "/exit": "quit", "/quit": "quit",
            "/list": "rooms", "/rooms": "rooms", "/whoami": "whoami", "/oper pw": "admin",
            "/down": "shutdown", "/debug": "debug", "/ping": "ping", "/help": "help",
        }
        for line, action in expected.items():
            self.assertEqual(parse_text(line).action, action, line)  # type: ignore[union-attr]

    def test_optional_arguments(self) -> None:
        self.assertEqual(parse_text("/part"), Request("part", {}))
        self.assertEqual(parse_text("/part #dev gone home"), Request("part", {"room": "#dev", "reason": "gone home"}))
        self.assertEqual(parse_text("/users #dev"), Request("users", {"room": "#dev"}))
        self.assertEqual(parse_text("/quit"), Request("quit", {}))
        self.assertEqual(parse_text("/quit see you all"), Request("quit", {"reason": "see you all"}))
        # The admin's server-wide disconnect is kill; a kick without a room
        # is read as a kick, which the rules turn into kill for an admin.
        self.assertEqual(parse_text("/kick bob too loud"), Request("kick", {"user": "bob", "reason": "too loud"}))
        self.assertEqual(parse_text("/kick #dev bob too loud"), Request("kick", {"room": "#dev", "user": "bob", "reason": "too loud"}))
        self.assertEqual(parse_text("/kill bob"), Request("kill", {"user": "bob"}))
        self.assertEqual(parse_json('{"action": "kick", "user": "bob"}'), Request("kick", {"user": "bob"}))
        self.assertEqual(parse_text("/shutdown down server"), Request("shutdown", {"reason": "down server"}))

    def test_passwords_are_the_rest_of_the_line_so_passphrases_work(self) -> None:
        self.assertEqual(parse_text("/register correct horse battery"), Request("register", {"password": "correct horse battery"}))
        self.assertEqual(parse_text("/login alice correct horse"), Request("login", {"user": "alice", "password": "correct horse"}))
        self.assertEqual(parse_text("/oper two words"), Request("admin", {"password": "two words"}))
        self.assertEqual(
            parse_text("/account create bob a long one"), Request("account_create", {"user": "bob", "password": "a long one"})
        )

    def test_a_password_change_takes_passphrases_in_quotes(self) -> None:
        self.assertEqual(
            parse_text('/passwd "correct horse battery" "new passphrase here"'),
            Request("passwd", {"old": "correct horse battery", "new": "new passphrase here"}),
        )
        self.assertEqual(parse_text('/passwd "say \\"hi\\" \\\\o/" plain'), Request("passwd", {"old": 'say "hi" \\o/', "new": "plain"}))
        self.assertEqual(parse_text("/passwd old new"), Request("passwd", {"old": "old", "new": "new"}))
        with self.assertRaises(BadRequest) as caught:
            parse_text('/passwd "not closed new')
        self.assertIn("quote is not closed", caught.exception.text)

    def test_half_a_two_word_command_and_a_word_where_a_number_goes_say_what_is_wrong(self) -> None:
        for line, wanted in [
            ("/contact", "usage: /contact add NAME, /contact del NAME"),
            ("/account frob x", "usage: /account create NAME PASSWORD, /account delete NAME, /account reset NAME PASSWORD"),
            ("/history #room abc", "N must be a number, not 'abc'"),
        ]:
            with self.assertRaises(BadRequest) as caught:
                parse_text(line)
            self.assertEqual((caught.exception.code, caught.exception.text.split(";")[0] if "N must" in wanted else caught.exception.text), ("bad_request", wanted))

    def test_missing_argument_is_a_bad_request_with_usage(self) -> None:
        # A bare /para killed the TChat server this replaces.
        for line, usage in [("/para", "/msg NAME TEXT"), ("/para bob", "/msg NAME TEXT"), ("/join", "/join #ROOM"),
                            ("/kick", "/kick [#ROOM] NAME [REASON]"), ("/kill", "/kill NAME [REASON]"), ("/me", "/me TEXT"), ("/admin", "/admin PASSWORD")]:
            with self.assertRaises(BadRequest) as caught:
                parse_text(line)
            self.assertEqual(caught.exception.code, "bad_request")
            self.assertIn(usage, caught.exception.text)

    def test_too_many_arguments(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            parse_text("/whoami now please")
        self.assertIn("usage: /whoami", caught.exception.text)

    def test_unknown_command(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            parse_text("/frobnicate x")
        self.assertEqual(caught.exception.code, "unknown_command")
        self.assertIn("/frobnicate", caught.exception.text)

    def test_commands_match_whole_words_only(self) -> None:
        # TChat ran /online for "foo/online".
        self.assertEqual(parse_text("foo/online").action, "line")  # type: ignore[union-attr]
        with self.assertRaises(BadRequest):
            parse_text("/onlinex")


class JSONParsingTests(TestCase):
    def test_request_with_id(self) -> None:
        self.assertEqual(
            parse_json('{"action": "msg", "to": "#lobby", "text": "hi", "id": 3, "extra": true}'),
            Request("msg", {"to": "#lobby", "text": "hi"}, 3),
        )

    def test_null_is_absent(self) -> None:
        self.assertEqual(parse_json('{"action": "users", "room": null}'), Request("users", {}))

    def test_malformed_json(self) -> None:
        for line in ["{", '{"action": "msg"', "{'action': 'ping'}", "{" * 5000, '{"action": "ping", "id": NaN}']:
            with self.assertRaises(BadRequest) as caught:
                parse_json(line)
            self.assertEqual(caught.exception.code, "bad_request", line[:20])

    def test_what_surrounds_the_object_is_read_as_json_reads_it(self) -> None:
        # One object alone is scanned at once; anything else takes json's own path, with the same answers.
        self.assertEqual(parse_json('  {"action": "ping", "id": 1}  '), Request("ping", {}, 1))
        self.assertEqual(parse_json('{"action": "ping", "id": 123456789012345678901234567890}').id, 123456789012345678901234567890)
        for line in ['{"action": "ping"} {"action": "ping"}', '{"action": "ping"}}', '{"action": "ping", "id": 1e999}', '{}x}']:
            with self.assertRaises(BadRequest) as caught:
                parse_json(line)
            self.assertEqual(caught.exception.code, "bad_request", line)
        with self.assertRaises(BadRequest) as caught:
            parse_json('{"action": "msg", "to": "#a", "text": "\\ud800", "id": 4}')
        self.assertEqual((caught.exception.code, caught.exception.id), ("bad_encoding", 4))

    def test_not_an_object(self) -> None:
        for line in ["[1, 2]", '"ping"', "42", "null"]:
            with self.assertRaises(BadRequest) as caught:
                parse_json(line)
            self.assertIn("JSON object", caught.exception.text)

    def test_wrong_field_types_name_the_field_and_echo_the_id(self) -> None:
        cases = [
            ({"action": "msg", "to": 5, "text": "x", "id": "a"}, "'to' must be a string"),
            ({"action": "msg", "to": "#l", "text": ["x"], "id": "a"}, "'text' must be a string"),
            ({"action": "shutdown", "delay": "soon", "id": "a"}, "'delay' must be an integer"),
            ({"action": "shutdown", "delay": True, "id": "a"}, "'delay' must be an integer"),
            ({"action": "login", "user": {"n": 1}, "id": "a"}, "'user' must be a string"),
        ]
        for obj, text in cases:
            with self.assertRaises(BadRequest) as caught:
                parse_json(json.dumps(obj))
            self.assertEqual((caught.exception.code, caught.exception.id), ("bad_request", "a"))
            self.assertIn(text, caught.exception.text)

    def test_missing_field_says_how_to_use_it(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            parse_json('{"action": "msg", "to": "bob", "id": 1}')
        self.assertIn("needs 'text'", caught.exception.text)
        self.assertIn('"action": "msg"', caught.exception.text)
        self.assertEqual(caught.exception.id, 1)

    def test_unknown_and_missing_action(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            parse_json('{"action": "dance", "id": 2}')
        self.assertEqual((caught.exception.code, caught.exception.id), ("unknown_command", 2))
        with self.assertRaises(BadRequest) as caught:
            parse_json('{"act": "ping"}')
        self.assertEqual(caught.exception.code, "bad_request")
        # "line" is how text mode says "a plain line"; JSON clients cannot send it.
        with self.assertRaises(BadRequest) as caught:
            parse_json('{"action": "line", "text": "x"}')
        self.assertEqual(caught.exception.code, "unknown_command")

    def test_bad_id(self) -> None:
        for rid in ["[1]", "{}", "true"]:
            with self.assertRaises(BadRequest) as caught:
                parse_json('{"action": "ping", "id": %s}' % rid)
            self.assertIn("id must be", caught.exception.text)


class TableTests(TestCase):
    def test_every_action_is_bound_to_one_handler(self) -> None:
        from tchat.chat import Hub, HubConfig
        from twisted.internet.task import Clock

        hub = Hub(HubConfig(), Clock())
        self.assertEqual(set(hub.handlers), {c.action for c in COMMANDS} - {"line"})

    def test_a_missing_or_doubled_handler_fails_when_the_hub_is_built(self) -> None:
        from tchat.chat.core import handles
        from tchat.chat.hub import bind_handlers

        class Twice:
            @handles("ping")
            async def one(self, connection: object, request: object) -> None: ...

            @handles("ping")
            async def other(self, connection: object, request: object) -> None: ...

        with self.assertRaises(TypeError) as doubled:
            bind_handlers(Twice())
        self.assertIn("two handlers", str(doubled.exception))
        with self.assertRaises(TypeError) as missing:
            bind_handlers()
        self.assertIn("no handler for login", str(missing.exception))

    def test_help_comes_from_the_table(self) -> None:
        entries = help_entries()
        self.assertEqual(
            {e["command"] for e in entries},
            {"/" + form.words[0] for c in COMMANDS if c.listed for form in c.forms},
        )
        para = help_entries("para")
        self.assertEqual(para[0]["aliases"], ["/para", "/to", "/w"])

    def test_docs_protocol_page_holds_the_generated_table(self) -> None:
        with open(os.path.join(ROOT, "docs", "protocol.rst"), encoding="utf-8") as f:
            page = f.read()
        self.assertIn(rst_table(), page, "docs/protocol.rst is out of date: run python -m tchat.commands docs/protocol.rst")


class ProtocolTableTests(TestCase):
    """protocol_table(): the table as the page gets it (/protocol.json)."""

    def test_it_describes_every_command_and_form(self) -> None:
        from tchat.commands import protocol_table

        table = protocol_table()
        self.assertEqual(json.loads(json.dumps(table)), table)  # plain JSON
        rows = table["commands"]
        self.assertEqual([r["action"] for r in rows], [c.action for c in COMMANDS])
        for row, command in zip(rows, COMMANDS):
            self.assertEqual(
                (row["summary"], row["admin"], row["before_login"], row["json"], row["listed"]),
                (command.summary, command.admin, command.before_login, command.json, command.listed),
            )
            self.assertEqual(row["fields"], [{"name": f.name, "kind": f.kind, "required": f.required} for f in command.fields])
            self.assertEqual([f["words"] for f in row["forms"]], [list(f.words) for f in command.forms])
            self.assertEqual([f["usage"] for f in row["forms"]], [f.usage for f in command.forms])
        part = next(r for r in rows if r["action"] == "part")["forms"][0]
        self.assertEqual(part["args"], [
            {"field": "room", "meta": "#ROOM", "optional": True, "rest": False, "accepts": "room"},
            {"field": "reason", "meta": "REASON", "optional": True, "rest": True, "accepts": None},
        ])
        me = next(f for r in rows for f in r["forms"] if f["words"] == ["me"])
        self.assertEqual(me["fixed"], {"kind": "action"})
        history = next(r for r in rows if r["action"] == "history")["forms"][0]
        self.assertEqual([a["accepts"] for a in history["args"]], ["not_number", "number"])

    def test_rows_with_attributes_it_does_not_know_still_make_a_table(self) -> None:
        """New attributes of a row are left out, and an argument test it does not know is named after its function."""
        import dataclasses

        from tchat import commands

        @dataclasses.dataclass(frozen=True)
        class RicherField(commands.Field):
            hint: str = "x"

        @dataclasses.dataclass(frozen=True)
        class RicherCommand(commands.Command):
            handler: object = object()
            permission: str = "op"

        def _is_short(word: str) -> bool:
            return len(word) < 3

        row = RicherCommand(
            "frob", "frob a thing", (RicherField("thing"),),
            (commands.TextForm(("frob",), (commands.Arg("thing", "THING", optional=True, accepts=_is_short),)),),
        )
        self.patch(commands.docs, "COMMANDS", (row,))
        (frob,) = commands.protocol_table()["commands"]
        json.dumps(frob)
        self.assertNotIn("handler", frob)
        self.assertNotIn("permission", frob)
        self.assertEqual(frob["fields"], [{"name": "thing", "kind": "str", "required": True}])
        self.assertEqual(frob["forms"][0]["args"][0]["accepts"], "is_short")
