"""Name rules, text cleaning, and what each event looks like on the wire."""

from __future__ import annotations

import json

from twisted.trial.unittest import TestCase

from tchat.codec import JSON, TEXT, codec_for_first_line
from tchat.events import make_event
from tchat.names import BadName, check_name, check_room, clean_text, name_key, skeleton


class NameTests(TestCase):
    def test_good_names(self) -> None:
        for name in ["alice", "Bob_2", "a", "x" * 32, "jean-luc", "v1.2", "Жанна", "José", "ñandú", "用户", "x9", "007a"]:
            self.assertEqual(check_name(name), name)

    def test_bad_names(self) -> None:
        for name in ["", "x" * 33, "two words", "#room", "-x", "123", "a\tb", "a\x00", "emoji😀", "a@b", "é\u0301"[1:], ".", "...", "_", "._."]:
            with self.assertRaises(BadName, msg=repr(name)):
                check_name(name)

    def test_names_compare_without_case_and_in_one_unicode_form(self) -> None:
        self.assertEqual(name_key("Alice"), name_key("aLIce"))
        self.assertEqual(name_key("Jose\u0301"), name_key("José"))
        self.assertEqual(check_name("Jose\u0301"), "José")

    def test_rooms(self) -> None:
        self.assertEqual(check_room("#Dev-2"), "#Dev-2")
        for bad in ["dev", "#", "#a b", "#" + "x" * 49, "##", "#...", "#_"]:
            with self.assertRaises(BadName, msg=bad):
                check_room(bad)

    def test_clean_text_keeps_ordinary_text(self) -> None:
        text = "plain text, with tabs\tand ünïcödé — and emoji 😀"
        self.assertIs(clean_text(text), text)

    def test_clean_text_leaves_no_way_to_reverse_or_break_someone_elses_line(self) -> None:
        # Overrides, embeddings and isolates go; so do line and paragraph
        # separators (a space), the BOM and the other invisible controls.
        self.assertEqual(clean_text("evil\u202etxt.exe"), "eviltxt.exe")
        self.assertEqual(clean_text("a\u202ab\u202bc\u202cd\u202de\u2066f\u2067g\u2068h\u2069i"), "abcdefghi")
        self.assertEqual(clean_text("one\u2028two\u2029three"), "one two three")
        self.assertEqual(clean_text("\ufeffbom\u206a\ufff9x"), "bomx")
        # What scripts and emoji need stays: marks, joiners, the zero-width space.
        kept = "\u05e9\u05dc\u05d5\u05dd\u200f 1 \u200e family \U0001f468\u200d\U0001f469 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 a\u200bb \u061c"
        self.assertEqual(clean_text(kept), kept)

    def test_clean_text_removes_escape_sequences_whole(self) -> None:
        self.assertEqual(clean_text("\x1b[31mred\x1b[0m"), "red")
        self.assertEqual(clean_text("\x1b]0;title\x07x"), "x")
        self.assertEqual(clean_text("a\x1b[2J\x1b[Hb"), "ab")
        self.assertEqual(clean_text("bell\x07 del\x7f c1\x85x"), "bell del c1 x")
        self.assertEqual(clean_text("one\r\ntwo\nthree\rfour"), "one two three four")


class SkeletonTests(TestCase):
    """Names that look alike have one skeleton (UTS #39); names that do not, do not."""

    def test_a_cyrillic_letter_in_a_latin_name_looks_like_the_latin_one(self) -> None:
        self.assertNotEqual(name_key("\u0430lice"), name_key("alice"))
        self.assertEqual(skeleton("\u0430lice"), skeleton("alice"))
        self.assertEqual(skeleton("p\u0430yp\u0430l"), skeleton("paypal"))
        # Greek omicron and rho, Cyrillic o and e
        self.assertEqual(skeleton("\u03c1aypal"), skeleton("paypal"))
        self.assertEqual(skeleton("b\u043eb"), skeleton("bob"))
        self.assertEqual(skeleton("\u0435ve"), skeleton("eve"))

    def test_every_spelling_of_one_key_has_one_skeleton(self) -> None:
        for name in ["Alice", "ALICE", "aLiCe", "alice"]:
            self.assertEqual(skeleton(name), skeleton("alice"), name)
        self.assertEqual(skeleton("Jose\u0301"), skeleton("Jos\u00e9"))
        for name in ["alice", "\u0430lice", "Zo\u00eb_2.0-ok", "\u7528\u6237", "\u0416\u0430\u043d\u043d\u0430"]:
            self.assertEqual(skeleton(name), skeleton(name))
            self.assertEqual(skeleton(name), skeleton(name_key(name)))

    def test_digits_that_look_like_letters_count_as_those_letters(self) -> None:
        # Unicode's data maps 0 to O and 1 to l; case aside, 0scar is Oscar.
        self.assertEqual(skeleton("0scar"), skeleton("Oscar"))
        self.assertEqual(skeleton("a1ice"), skeleton("alice"))
        self.assertEqual(skeleton("#1obby"), skeleton("#lobby"))

    def test_a_letter_can_look_like_two(self) -> None:
        self.assertEqual(skeleton("rnary"), skeleton("mary"))
        self.assertNotEqual(skeleton("rnary"), skeleton("nary"))

    def test_a_right_to_left_character_of_the_data_is_found(self) -> None:
        # N'Ko digit zero, which the data spells between left-to-right marks.
        self.assertEqual(skeleton("\u07c0scar"), skeleton("oscar"))

    def test_names_that_do_not_look_alike_have_other_skeletons(self) -> None:
        for one, other in [("alice", "alicia"), ("alice", "bob"), ("eve", "\u00e8ve"), ("\u0436", "x"),
                           ("ann", "anna"), ("#dev", "#deb")]:
            self.assertNotEqual(skeleton(one), skeleton(other), (one, other))


class CodecTests(TestCase):
    def test_json_keeps_line_breaks_inside_strings_escaped(self) -> None:
        data = JSON.encode(make_event("notice", ts=1.0, text="a\r\nb\u2028c"))
        self.assertTrue(data.endswith(b"\r\n"))
        self.assertEqual(data.count(b"\n"), 1)
        self.assertEqual(json.loads(data)["text"], "a\r\nb\u2028c")

    def test_json_event_shape(self) -> None:
        data = JSON.encode(make_event("ok", ts=2.5, re="r1", msgid="m1"))
        self.assertEqual(json.loads(data), {"event": "ok", "re": "r1", "msgid": "m1", "ts": 2.5})

    def test_small_words_of_text_mode(self) -> None:
        from tchat.errors import counted, in_seconds

        def text(name: str, **fields: object) -> str:
            return TEXT.encode(make_event(name, ts=0, **fields)).decode()

        self.assertEqual(text("whoami", user="bob", rooms=[], admin=False), "*** You are bob, in no room (/join #room)\r\n")
        self.assertEqual(text("history", target="#a", messages=[{"msgid": "1", "from": "x", "to": "#a", "text": "t", "kind": "public", "ts": 0}], more=False).splitlines()[0], "*** History of #a (1 message):")
        self.assertEqual([in_seconds(0.2), in_seconds(2.01), in_seconds(300)], ["1 s", "3 s", "5 min"])
        self.assertEqual([counted(1, "message"), counted(0, "message")], ["1 message", "0 messages"])

    def test_text_shapes(self) -> None:
        def text(name: str, **fields: object) -> str:
            return TEXT.encode(make_event(name, ts=0, **fields)).decode()

        self.assertEqual(text("message", msgid="1", to="#lobby", text="hello", kind="public", **{"from": "bob"}), "[#lobby] <~bob> hello\r\n")
        self.assertEqual(text("message", msgid="1", to="alice", text="psst", kind="private", **{"from": "bob"}), "[private] <~bob> psst\r\n")
        self.assertEqual(text("message", msgid="1", to="#dev", text="waves", kind="action", **{"from": "bob"}), "[#dev] * ~bob waves\r\n")
        # A registered sender is shown bare; a guest with "~", so nobody can pose as an account.
        self.assertEqual(
            text("message", msgid="1", to="#lobby", text="hi", kind="public", registered=True, **{"from": "alice"}),
            "[#lobby] <alice> hi\r\n",
        )
        self.assertEqual(text("join", room="#lobby", user="carol"), "*** carol joined #lobby\r\n")
        self.assertEqual(text("part", room="#lobby", user="carol", reason="connection lost"), "*** carol left #lobby (connection lost)\r\n")
        self.assertEqual(text("error", code="no_such_user", text="no such user: dave"), "!!! no such user: dave (no_such_user)\r\n")
        self.assertEqual(text("ok", msgid="1"), "")
        self.assertEqual(text("users", users=["alice", "bob"]), "*** Online: alice, bob\r\n")
        self.assertEqual(text("logged_in", user="alice", rooms=["#lobby"], users=["alice", "bob"]).splitlines()[0], "*** You are alice. Online: alice, bob")

    def test_text_lines_never_carry_escapes_even_from_error_texts(self) -> None:
        data = TEXT.encode(make_event("error", ts=0, code="unknown_command", text="unknown command /\x1b[2Jx"))
        self.assertNotIn(b"\x1b", data)

    def test_an_event_is_encoded_once_per_codec(self) -> None:
        calls = []

        class CountingCodec:
            name = "counting"

            def encode(self, event: object) -> bytes:
                calls.append(event)
                return b"x\r\n"

        event = make_event("notice", text="hi")
        codec = CountingCodec()
        for _ in range(100):
            self.assertEqual(event.encoded(codec), b"x\r\n")
        self.assertEqual(len(calls), 1)

    def test_json_bytes_are_the_same_with_or_without_orjson(self) -> None:
        from tchat import codec

        events = [
            make_event("message", ts=1796591731.8008258, msgid="ab-1", to="#caf\u00e9", text="ol\u00e1 \U0001f600 \"q\" \\ \t\x00\x1f\x7f\u2028", kind="public", **{"from": "z\u00e9"}),
            make_event("ok", ts=1e16, re=2**63 - 1, action="msg", msgid="ab-2"),
            make_event("users", ts=3.0, users=["a", "b"], counts={"x": [1, 2.5, None, True, False]}),
        ]
        for event in events:
            fast, plain = codec._json_line_orjson(event.as_dict()), codec._json_line_stdlib(event.as_dict())
            self.assertEqual(fast, plain)
        # The one difference: a small float's exponent has no leading zero (the same number).
        tiny = make_event("ok", ts=0.1, re=-2.5e-7, action="msg").as_dict()
        self.assertEqual(codec._json_line_orjson(tiny), b'{"event":"ok","re":-2.5e-7,"action":"msg","ts":0.1}\r\n')
        self.assertEqual(json.loads(codec._json_line_orjson(tiny)), json.loads(codec._json_line_stdlib(tiny)))
        self.assertIs(codec.json_line, codec._json_line_orjson, "orjson is installed with tchat")

    def test_what_orjson_refuses_is_written_by_json(self) -> None:
        from tchat import codec

        # A client's request id past 64 bits comes back whole in "re".
        big = make_event("ok", ts=2.0, re=2**70, action="ping")
        self.assertEqual(JSON.encode(big), b'{"event":"ok","re":1180591620717411303424,"action":"ping","ts":2.0}\r\n')
        self.assertEqual(codec._json_line_orjson({"event": "x", 1: "a"}), b'{"event":"x","1":"a"}\r\n')

    def test_first_line_chooses_the_codec(self) -> None:
        self.assertIs(codec_for_first_line('{"action": "login"}'), JSON)
        self.assertIs(codec_for_first_line("  {"), JSON)
        self.assertIs(codec_for_first_line("alice"), TEXT)


class RoomEventTextTests(TestCase):
    """Every moderation event is one line in text mode, saying who did what to whom, where."""

    def test_each_room_event_is_one_line(self) -> None:
        from tchat.codec import render_text

        cases = [
            (make_event("topic", room="#dev", topic="ship it", by="alice"), "alice set the topic of #dev: ship it"),
            (make_event("op", room="#dev", user="bob", by="alice"), "alice made bob an operator of #dev"),
            (make_event("deop", room="#dev", user="bob", by="alice"), "alice took bob's operator rights in #dev"),
            (make_event("voice", room="#dev", user="bob", by="alice"), "alice gave bob a voice in #dev"),
            (make_event("devoice", room="#dev", user="bob", by="alice"), "alice took bob's voice in #dev"),
            (make_event("kick", room="#dev", user="bob", by="alice", reason="spam"), "bob was put out of #dev by alice (spam)"),
            (make_event("ban", room="#dev", user="bob", by="alice"), "bob was banned from #dev by alice"),
            (make_event("unban", room="#dev", user="bob", by="alice"), "alice lifted bob's ban from #dev"),
            (make_event("mute", room="#dev", user="bob", by="alice", until=0.0), "bob was muted in #dev by alice"),
            (make_event("unmute", room="#dev", user="bob", by="alice"), "alice let bob speak in #dev again"),
            (make_event("invite", room="#dev", user="bob", by="alice"), "alice invites you to #dev: /join #dev"),
            (make_event("mode", room="#dev", by="alice", set={"moderated": True, "key": True, "limit": None}, modes={}),
             "alice set #dev: moderated on, key on, no limit"),
            (make_event("nick", old="bob", new="robert", rooms=["#dev"]), "bob is now robert"),
        ]
        for event, line in cases:
            self.assertEqual(render_text(event), ["*** " + line], event.name)

    def test_a_timed_ban_says_until_when_and_a_topic_cannot_carry_an_escape(self) -> None:
        from tchat.codec import render_text

        (line,) = render_text(make_event("ban", room="#dev", user="bob", by="alice", until=86400.0))
        self.assertTrue(line.endswith("until 1970-01-02 00:00 UTC"), line)
        (line,) = render_text(make_event("topic", room="#dev", topic="a\x1b[2Jb", by="x\x1b]0;t\x07y"))
        self.assertNotIn("\x1b", line)

    def test_member_lists_mark_ops_and_voiced_users_as_irc_does(self) -> None:
        from tchat.codec import render_text

        event = make_event("users", room="#dev", users=["alice", "bob", "carol"], ops=["alice"], voiced=["bob"])
        self.assertEqual(render_text(event), ["*** In #dev: @alice, +bob, carol"])
