"""
Random bytes, cut at random places, fed into the line door.

Whatever arrives, no exception escapes (trial fails a test that logged one),
the bystander in the same room is unharmed, and afterwards the connection
still answers ``ping``. ``TCHAT_FUZZ_EXAMPLES`` raises the number of examples
(the default keeps the suite quick).
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor
from tests.helpers import generous_limits, make_hub
from tests.test_line_door import Wire

EXAMPLES = int(os.environ.get("TCHAT_FUZZ_EXAMPLES", "200"))

# Pieces that steer random input into the interesting places: commands,
# JSON, line ends, escapes, broken UTF-8.
_PIECES = st.sampled_from(
    [b"\n", b"\r\n", b"\r", b"/", b"//", b"/para", b"/join #", b"/part", b"/me ", b"/msg bob ", b"{", b"}",
     b'{"action": "msg", "to": "#lobby", "text": "', b'{"action":', b'"id":', b"null", b"[", b"\x1b[2J",
     b"\xff", b"\xc3", b"\xe2\x82", b"\x00", b"#lobby", b"bob", b"x" * 70, b"\xef\xbb\xbf", b'\\u0000', b" "]
)
_CHUNKS = st.lists(st.one_of(st.binary(max_size=40), _PIECES), max_size=30).map(b"".join)


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


class FuzzTests(TestCase):
    def _feed(self, prefix: bytes, data: bytes, cuts: list[int]) -> None:
        hub, clock = make_hub()
        door = LineDoor(hub, generous_limits(max_line=64, sendq=1 << 20), clock)
        bystander = Wire(door, 1)
        bystander.send(b"bob\n")
        fuzzed = Wire(door, 2)
        fuzzed.send(prefix)
        for piece in _splits(data, cuts):
            fuzzed.send(piece)
        # The bystander's connection is untouched and still chats.
        bystander.send(b"/ping\n")
        self.assertIn("*** pong", bystander.take())
        self.assertFalse(bystander.transport.disconnecting)
        if fuzzed.transport.disconnecting:
            # Only a quit (or the server being full) may end it, and it said bye.
            self.assertIn(b"ye", fuzzed.transport.value())
            return
        # End whatever line was left unfinished; it may choose the mode.
        fuzzed.send(b"\n")
        fuzzed.transport.clear()
        if fuzzed.session.codec is not None and fuzzed.session.codec.name == "json":
            fuzzed.send(b'{"action": "ping", "id": "after"}\n')
            events = [json.loads(line) for line in fuzzed.take() if line.startswith("{")]
            self.assertIn({"event": "pong", "re": "after", "action": "ping", "ts": clock.seconds()}, events)
        else:
            fuzzed.send(b"/ping\n")
            self.assertEqual(fuzzed.take()[-1], "*** pong")

    def _fuzz(self, prefix: bytes) -> None:
        # @given sits on an inner function: trial calls test methods in a
        # way hypothesis does not expect.
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(data=_CHUNKS, cuts=st.lists(st.integers(min_value=0), max_size=8))
        def check(data: bytes, cuts: list[int]) -> None:
            self._feed(prefix, data, cuts)

        check()

    def test_random_bytes_in_text_mode(self) -> None:
        self._fuzz(b"fuzzer\n")

    def test_random_bytes_in_json_mode(self) -> None:
        self._fuzz(b'{"action": "login", "user": "fuzzer"}\n')

    def test_random_bytes_before_login(self) -> None:
        self._fuzz(b"")

    def test_splitting_never_changes_what_happens(self) -> None:
        """The same lines, whole or cut anywhere, give the same bytes back."""

        @settings(max_examples=EXAMPLES, deadline=None)
        @given(lines=st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), min_size=1, max_size=10),
               cuts=st.lists(st.integers(min_value=0), max_size=10))
        def check(lines: list[bytes], cuts: list[int]) -> None:
            self._same_whole_or_cut(lines, cuts)

        check()

    def _same_whole_or_cut(self, lines: list[bytes], cuts: list[int]) -> None:
        data = b"".join(line + b"\n" for line in [b"fuzzer", *lines, b"/ping"])
        outputs = []
        for pieces in ([data], _splits(data, cuts), [bytes([b]) for b in data]):
            hub, clock = make_hub()
            hub.core._msgid_prefix = "fixed"
            door = LineDoor(hub, generous_limits(max_line=64), clock)
            wire = Wire(door, 1)
            for piece in pieces:
                wire.send(piece)
            outputs.append(wire.transport.value())
        self.assertEqual(outputs[0], outputs[1])
        self.assertEqual(outputs[0], outputs[2])
