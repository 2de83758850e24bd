"""The `grace-days` rule: a runtime that fell behind only recently gets a warning, not a failure.

Pure functions of the version status and the release list; a release without a date never opens a
grace window (an unknown date must not turn a failure into a pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from gate.model.otp import Release, VersionStatus


def _newer_on_line(status: VersionStatus, releases: Iterable[Release]) -> list[Release]:
    if status.version is None or status.line is None:
        return []
    return sorted(
        (
            r
            for r in releases
            if not r.version.is_rc and r.version.major == status.line and r.version > status.version
        ),
        key=lambda r: r.version,
    )


def grace_window(
    status: VersionStatus, releases: Iterable[Release], today: date, grace_days: int
) -> bool:
    """True when the runtime is behind only by patches released less than `grace_days` ago.

    The clock starts at the *first* newer patch of the line: being two patches behind, the older of
    which is 30 days old, is not in a 7-day grace window. Only "behind" is graced; an unsupported
    line fails on its own rule.
    """
    if grace_days <= 0 or status.patches_behind <= 0:
        return False
    newer = _newer_on_line(status, releases)
    if not newer or any(r.released is None for r in newer):
        return False
    first = min(r.released for r in newer if r.released is not None)
    return (today - first).days < grace_days


def grace_message(
    status: VersionStatus, releases: Iterable[Release], today: date, grace_days: int
) -> str | None:
    """The warning text while in the window (None outside it): what to update to and by when."""
    newer = _newer_on_line(status, releases)
    if not grace_window(status, newer, today, grace_days):
        return None
    first = newer[0]
    assert first.released is not None  # grace_window checked every date
    deadline = first.released.toordinal() + grace_days
    left = deadline - today.toordinal()
    return (
        f"OTP {first.version} was released on {first.released} ({(today - first.released).days} days ago); "
        f"within the {grace_days}-day grace period this is a warning. Update to OTP {newer[-1].version} "
        f"within {left} day{'s' if left != 1 else ''}, or the gate fails."
    )
