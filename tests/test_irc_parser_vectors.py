"""
The IRC door's reading and writing of lines against the shared IRC parser
test vectors (the ``irc-parser-tests`` package): every ``msg-split`` line
read by L{tchat.door.irc.wire.parse}, every ``msg-join`` message written as
one of its accepted forms. Skipped without the package, except under CI.
"""

from __future__ import annotations

import os
from typing import Any

from irctokens import Line
from twisted.trial.unittest import SkipTest, TestCase

from tchat.door.irc.wire import parse


def vectors() -> Any:
    try:
        from parser_tests import data
    except ImportError:
        if os.environ.get("CI"):
            raise
        raise SkipTest("irc-parser-tests is not installed (pip install '.[test]')")
    return data


class ParserVectorTests(TestCase):
    def test_every_split_vector_reads_as_its_atoms(self) -> None:
        tests = vectors().msg_split["tests"]
        self.assertGreater(len(tests), 30)
        for test in tests:
            atoms = test["atoms"]
            line = parse(test["input"].encode("utf-8"))
            self.assertEqual(line.command, atoms["verb"].upper(), test)
            self.assertEqual(line.source, atoms.get("source"), test)
            self.assertEqual(line.params, atoms.get("params", []), test)
            self.assertEqual(line.tags, atoms.get("tags"), test)

    def test_every_join_vector_is_written_as_one_of_its_forms(self) -> None:
        tests = vectors().msg_join["tests"]
        self.assertGreater(len(tests), 10)
        for test in tests:
            atoms = test["atoms"]
            written = Line(atoms.get("tags"), atoms.get("source"), atoms["verb"], atoms.get("params", [])).format()
            self.assertIn(written, test["matches"], test)
