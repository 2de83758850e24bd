"""OTP versions as OTP orders them, and what is known about a runtime's version."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, total_ordering
from typing import NamedTuple

_VERSION_RE = re.compile(r"^(?:OTP[-_])?(\d+(?:\.\d+)*)(?:-rc(\d+))?$")


@total_ordering
@dataclass(frozen=True)
class OtpVersion:
    """An OTP release number such as `27.3.4.1` or `29.0-rc2`.

    Ordering follows OTP's own rule (System Principles, "OTP Versions"): split on dots and compare
    numbers; trailing `.0`s do not count (`28.5` == `28.5.0`); a release candidate comes before the
    release; a branched version like `28.5.0.1` sorts after `28.5` and before `28.6`, which plain
    tuple comparison gives once trailing zeros are dropped.
    """

    parts: tuple[int, ...]
    rc: int | None = None

    @classmethod
    def parse(cls, text: str) -> OtpVersion:
        """Parse `27.3.4`, `OTP-27.3.4`, `29.0-rc2`; raise ValueError on anything else."""
        m = _VERSION_RE.match(text.strip())
        if not m:
            raise ValueError(f"not an OTP version: {text!r}")
        parts = tuple(int(p) for p in m.group(1).split("."))
        return cls(parts, int(m.group(2)) if m.group(2) else None)

    @classmethod
    def try_parse(cls, text: str) -> OtpVersion | None:
        try:
            return cls.parse(text)
        except ValueError:
            return None

    @property
    def major(self) -> int:
        return self.parts[0]

    @property
    def is_rc(self) -> bool:
        return self.rc is not None

    @cached_property
    def _key(self) -> tuple[tuple[int, ...], int, int]:
        # Cached (in the instance's __dict__, which a frozen dataclass allows): sorting and
        # merging the release data compares versions thousands of times at start-up.
        parts = list(self.parts)
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        # A release sorts after all of its release candidates.
        return (tuple(parts), 0 if self.rc is not None else 1, self.rc or 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OtpVersion):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, OtpVersion):
            return NotImplemented
        return self._key < other._key

    def __str__(self) -> str:
        base = ".".join(str(p) for p in self.parts)
        return f"{base}-rc{self.rc}" if self.rc is not None else base


#: What otp_patch_apply appends to OTP_VERSION (OTP's HOWTO/OTP-PATCH-APPLY.md).
PATCHED_SUFFIX = "**"


@dataclass(frozen=True)
class OtpVersionFile:
    """An `OTP_VERSION` file (of an install or a source tree): the one reader of that format."""

    text: str  # its first line, stripped
    version: OtpVersion | None  # None when that line names no OTP version
    patched: bool  # otp_patch_apply marked it

    @classmethod
    def parse(cls, contents: str) -> OtpVersionFile:
        lines = contents.strip().splitlines()
        text = lines[0].strip() if lines else ""
        base = text.removesuffix(PATCHED_SUFFIX).strip()
        return cls(text, OtpVersion.try_parse(base), text.endswith(PATCHED_SUFFIX))


@dataclass(frozen=True)
class Release:
    """One published OTP release, with its date where a source gives one."""

    version: OtpVersion
    released: date | None = None


@dataclass(frozen=True)
class DataProvenance:
    """Where release/advisory data came from and how old it is; every report shows it."""

    source: str  # e.g. "bundled snapshot", "github:erlang/otp", "builds.hex.pm"
    as_of: date  # the day the data describes (snapshot date, or fetch date for live data)
    live: bool = False
    notes: tuple[str, ...] = ()


class AppVersion(NamedTuple):
    """An OTP application and its version, e.g. `ssh` `5.1.4.3`.

    A NamedTuple, not a dataclass: the versions table holds ~2,600 of them, made at every
    start (a frozen dataclass costs three times as much to make: issue 12)."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class OtpIdentity:
    """What the runtime says about its own OTP version, and how we know it.

    `source` is one of: `OTP_VERSION` (releases/<major>/OTP_VERSION), `inferred` (from erts and
    application versions via the OTP versions table), `beam` (the version string in beam.smp),
    `none`. `candidates` lists every OTP version that fits when inferred (it can be several).
    """

    version: OtpVersion | None
    source: str
    candidates: tuple[OtpVersion, ...] = ()
    erts_version: str | None = None
    applications: tuple[AppVersion, ...] = ()
    patched: bool = False  # OTP_VERSION ends in `**` (otp_patch_apply)
    patched_applications: tuple[AppVersion, ...] = ()
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionStatus:
    """How a runtime's OTP version compares with the published releases."""

    version: OtpVersion | None
    line: int | None
    latest_patch: OtpVersion | None  # newest release of the same major line
    patches_behind: int
    supported: bool | None  # None when the version is unknown
    supported_lines: tuple[int, ...]
    provenance: DataProvenance
    latest_released: date | None = None
    notes: tuple[str, ...] = field(default=())
