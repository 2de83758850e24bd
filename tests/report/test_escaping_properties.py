"""Properties of the escaping every renderer relies on, over arbitrary (hostile) strings."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.report import printable
from gate.report.markdown import escape

# Any code point, surrogates included: file names decoded with surrogateescape carry them.
TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=60)


# No example database: nothing is written outside temp folders.
@settings(database=None)
@given(TEXT)
def test_printable_output_is_one_printable_line(s: str) -> None:
    out = printable(s)
    assert out.isprintable()
    assert "\n" not in out and "\r" not in out and "\x1b" not in out


@settings(database=None)
@given(TEXT, TEXT)
def test_printable_is_injective(a: str, b: str) -> None:
    # Two different names never look the same on screen (backslashes are doubled).
    if a != b:
        assert printable(a) != printable(b)


@settings(database=None)
@given(TEXT)
def test_markdown_escape_leaves_nothing_active(s: str) -> None:
    out = escape(s)
    assert "\n" not in out
    # Every character that could open a link, tag, mention, code span, table cell or entity is
    # preceded by a backslash (an escaped backslash counts as a pair).
    unescaped = re.sub(r"\\.", "", out)
    assert not re.search(r"[<>\[\]`|@&*_~#]", unescaped), out
