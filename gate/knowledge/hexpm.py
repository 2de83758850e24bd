"""builds.hex.pm's `builds.txt`: the prebuilt-OTP index erlef/setup-beam reads (through the boundary GET).

Its refs tell which OTP versions exist; its `built_at` column is a build time, not a release date
(old versions were all rebuilt in April 2026), so it never dates a release.
"""

from __future__ import annotations

from gate.knowledge.fetch import FetchError
from gate.knowledge.snapshot import BuildEntry, parse_builds_txt

DEFAULT_BUILDS_BASE = "https://builds.hex.pm"
DEFAULT_BUILDS_TARGET = "amd64/ubuntu-24.04"


def builds_url(base: str = DEFAULT_BUILDS_BASE, target: str = DEFAULT_BUILDS_TARGET) -> str:
    """`https://builds.hex.pm/builds/otp/amd64/ubuntu-24.04/builds.txt` for a base and target."""
    return f"{base.rstrip('/')}/builds/otp/{target.strip('/')}/builds.txt"


def parse_builds(data: bytes, source: str = "builds.txt") -> tuple[BuildEntry, ...]:
    """Parse fetched bytes; a reply with no `OTP-<version>` ref is not the index we asked for."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FetchError(f"{source}: not UTF-8 text") from e
    entries = parse_builds_txt(text, source)
    if not any(e.version for e in entries):
        raise FetchError(f"{source}: lists no OTP-<version> builds; the reply is not usable")
    return entries
