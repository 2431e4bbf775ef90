"""Every page of the documentation parses as reStructuredText, with no warning."""

from __future__ import annotations

import glob
import io
import os

import docutils.core
from twisted.trial.unittest import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DocsTests(TestCase):
    def test_every_page_parses_cleanly(self) -> None:
        pages = [os.path.join(ROOT, "README.rst"), *glob.glob(os.path.join(ROOT, "docs", "*.rst"))]
        self.assertGreater(len(pages), 3)
        for page in pages:
            warnings = io.StringIO()
            with open(page, encoding="utf-8") as f:
                docutils.core.publish_doctree(
                    f.read(),
                    source_path=page,
                    settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": warnings,
                                        "file_insertion_enabled": True},
                )
            self.assertEqual(warnings.getvalue(), "", page)
