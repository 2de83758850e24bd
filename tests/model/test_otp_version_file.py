"""The one reader of `OTP_VERSION` files (an install's and a source tree's)."""

from __future__ import annotations

import pytest

from gate.model.otp import OtpVersion, OtpVersionFile


@pytest.mark.parametrize(
    ("contents", "text", "version", "patched"),
    [
        ("27.3.4.1\n", "27.3.4.1", "27.3.4.1", False),
        ("26.2.5**\n", "26.2.5**", "26.2.5", True),
        ("  28.0-rc2  \n\nsecond line\n", "28.0-rc2", "28.0-rc2", False),
        ("not a version\n", "not a version", None, False),
        ("", "", None, False),
    ],
)
def test_first_line_names_the_version(
    contents: str, text: str, version: str | None, patched: bool
) -> None:
    got = OtpVersionFile.parse(contents)
    assert got.text == text
    assert got.version == (OtpVersion.parse(version) if version else None)
    assert got.patched is patched
