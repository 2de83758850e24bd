"""How each front end spells its options, so every hint names what the user can actually set.

The CLI's user types `--builds-mirror URL`; the Action's user writes `builds-mirror:` under `with:`.
An error raised deep in acquisition carries the spelling of the front end it was started from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptionNames:
    """The user-facing name of each option a hint may point at."""

    otp_version: str = "--otp-version"
    cflags: str = "--cflags"
    ldflags: str = "--ldflags"
    builds_mirror: str = "--builds-mirror"
    source_mirror: str = "--source-mirror"
    sha256: str | None = "--sha256"  # None: this front end cannot pin the source checksum
    offline: str = "--offline"
    image: str = "--image"
    distro: str = "--distro"
    path: str = "PATH"


CLI_OPTIONS = OptionNames()
ACTION_INPUTS = OptionNames(
    otp_version="input otp-version",
    cflags="input cflags",
    ldflags="input ldflags",
    builds_mirror="input builds-mirror",
    source_mirror="input source-mirror",
    sha256=None,
    offline="input `offline: true`",
    image="input image",
    distro="input `source: distro`",
    path="input path",
)
