"""The build flags beam.smp recorded (`erts_build_flags_*`): rendered as is, and which hardening ones they hold."""

from __future__ import annotations

from typing import NamedTuple

from gate.knowledge.remediation import has_hardened_defaults
from gate.model.elf import RecordedBuildFlags
from gate.model.otp import OtpVersion

# What a hardened build's recorded flags contain; OTP >= 28's defaults add these (PR #9441).
_HARDENING_CFLAGS = ("-fstack-protector", "-D_FORTIFY_SOURCE", "-fstack-clash-protection")
_HARDENING_LDFLAGS = ("-z,now", "-z now", "-znow", "-z,relro", "-z relro", "-zrelro")


def _squash(text: str) -> str:
    return " ".join(text.split())


def render_recorded_flags(
    flags: RecordedBuildFlags | None, otp_version: OtpVersion | None = None
) -> str:
    """`built with CFLAGS=-g -O2 ..., LDFLAGS= (empty)`, or "not recorded"; never a guess.

    OTP 29 no longer exports `erts_build_flags_*`, so its builds say "not recorded".
    """
    if flags is None or (flags.cflags is None and flags.ldflags is None):
        why = (
            " (OTP 29 and later do not record them in beam.smp)"
            if otp_version is not None and otp_version.major >= 29
            else ""
        )
        return f"build flags not recorded{why}"

    def one(name: str, value: str | None) -> str:
        if value is None:
            return f"{name} not recorded"
        squashed = _squash(value)
        return f"{name}={squashed}" if squashed else f"{name}= (empty)"

    return f"built with {one('CFLAGS', flags.cflags)}, {one('LDFLAGS', flags.ldflags)}"


class FlagAnalysis(NamedTuple):
    """Which hardening flags the recorded CFLAGS/LDFLAGS contain (erts only, not NIFs)."""

    present: tuple[str, ...]
    missing: tuple[str, ...]


def analyse_recorded_flags(flags: RecordedBuildFlags | None) -> FlagAnalysis | None:
    """Hardening flags present in / missing from the recorded flags; None when not recorded.

    RELRO is not listed: most toolchains link with `-z relro` by default without recording it.
    """
    if flags is None or (flags.cflags is None and flags.ldflags is None):
        return None
    cflags = flags.cflags or ""
    ldflags = flags.ldflags or ""
    present: list[str] = []
    missing: list[str] = []
    for want, found in (
        ("-fstack-protector*", "-fstack-protector" in cflags),
        ("-D_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE" in cflags),
        ("-fstack-clash-protection", "-fstack-clash-protection" in cflags),
        ("-z now", any(s in ldflags for s in ("-z,now", "-z now", "-znow"))),
    ):
        (present if found else missing).append(want)
    return FlagAnalysis(tuple(present), tuple(missing))


def hardening_defaults_disabled(
    flags: RecordedBuildFlags | None, otp_version: OtpVersion | None
) -> bool:
    """OTP >= 28 whose recorded flags hold none of the hardening flags its configure adds.

    Only claimed when flags were recorded (OTP 28 records them, 29 does not): then the build was
    configured with `--disable-security-hardening-flags` or its flags were replaced.
    """
    if not has_hardened_defaults(otp_version) or flags is None or flags.cflags is None:
        return False
    text = f"{flags.cflags} {flags.ldflags or ''}"
    return not any(s in text for s in (*_HARDENING_CFLAGS, *_HARDENING_LDFLAGS))
