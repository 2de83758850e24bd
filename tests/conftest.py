"""Session fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.debian_otp import debian_otp_root


@pytest.fixture(scope="session")
def debian_root() -> Path:
    """Root of Debian's unpacked OTP packages (has usr/lib/erlang); skips when apt cannot fetch."""
    result = debian_otp_root()
    if isinstance(result, str):
        pytest.skip(result)
    return result


@pytest.fixture(scope="session")
def debian_otp(debian_root: Path) -> Path:
    """Debian's installed-OTP root: `.../usr/lib/erlang`."""
    return debian_root / "usr" / "lib" / "erlang"
