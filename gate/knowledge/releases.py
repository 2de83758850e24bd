"""Pure answers about release lines: supported majors, the newest patch, how far behind a version is.

Supported lines follow OTP's security policy (SECURITY.md, https://github.com/erlang/otp/security):
"Erlang/OTP supports the last 3 OTP releases with security updates and patches". They are derived
from the data, so a new major moves the window without a code change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from gate.knowledge.interface import ReleaseIndex
from gate.model.otp import OtpVersion, Release, VersionStatus

SUPPORTED_LINE_COUNT = 3


def final_releases(releases: Iterable[Release]) -> tuple[Release, ...]:
    """Releases that are not release candidates, oldest first."""
    return tuple(sorted((r for r in releases if not r.version.is_rc), key=lambda r: r.version))


def supported_lines(
    releases: Iterable[Release], count: int = SUPPORTED_LINE_COUNT
) -> tuple[int, ...]:
    """The `count` newest majors that have a final release, newest first (e.g. `(29, 28, 27)`).

    A major with only release candidates is not a line yet: it does not push an older one out.
    """
    majors = sorted({r.version.major for r in final_releases(releases)}, reverse=True)
    return tuple(majors[:count])


def line_releases(major: int, releases: Iterable[Release]) -> tuple[Release, ...]:
    """The final releases of one major line, oldest first."""
    return tuple(r for r in final_releases(releases) if r.version.major == major)


def latest_patch(version: OtpVersion, releases: Iterable[Release]) -> OtpVersion | None:
    """The newest final release of `version`'s major line; None when the data has none."""
    line = line_releases(version.major, releases)
    return line[-1].version if line else None


def version_status(version: OtpVersion | None, index: ReleaseIndex, today: date) -> VersionStatus:
    """Compare `version` with the index: newest patch of its line, patches behind, supported line."""
    releases = index.releases()
    provenance = index.provenance
    lines = supported_lines(releases)
    age = (today - provenance.as_of).days
    notes: list[str] = [
        f"release data: {provenance.source} as of {provenance.as_of} ({age} days old)"
    ]
    if version is None:
        notes.append("the OTP version is unknown, so it cannot be compared with the releases")
        return VersionStatus(None, None, None, 0, None, lines, provenance, notes=tuple(notes))

    line = line_releases(version.major, releases)
    newest = line[-1] if line else None
    behind = sum(1 for r in line if r.version > version)
    known = {r.version for r in releases}
    newest_major = max((r.version.major for r in releases), default=None)

    supported: bool | None = version.major in lines
    if version.is_rc:
        notes.append(f"{version} is a release candidate, not a release meant for production")
    if newest_major is not None and version.major > newest_major:
        # The data predates this major: it is newer than every supported line, so treat it as
        # supported, but say that we could not check it.
        supported = True
        notes.append(
            f"OTP {version.major} is newer than any release in the data; refresh the data to check it"
        )
    elif version not in known:
        if newest is not None and version > newest.version:
            notes.append(
                f"{version} is newer than the newest release of line {version.major} in the data "
                f"({newest.version}); the data may predate it"
            )
        else:
            notes.append(f"{version} is not a published release in the data")
    if newest is None and not version.major > (newest_major or 0):
        notes.append(f"the data has no final release of line {version.major}")
    if supported is False and lines:
        notes.append(
            f"OTP {version.major} no longer gets security fixes; supported lines: "
            + ", ".join(str(n) for n in lines)
        )
    return VersionStatus(
        version=version,
        line=version.major,
        latest_patch=newest.version if newest else None,
        patches_behind=behind,
        supported=supported,
        supported_lines=lines,
        provenance=provenance,
        latest_released=newest.released if newest else None,
        notes=tuple(notes),
    )
