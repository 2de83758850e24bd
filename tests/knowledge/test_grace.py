"""The grace-days rule on real release dates from the bundled snapshot."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gate.knowledge.grace import grace_message, grace_window
from gate.knowledge.releases import version_status
from gate.knowledge.snapshot import load_snapshot
from gate.model.otp import OtpVersion, Release

SNAP = load_snapshot()
# In the snapshot: 29.0.3 on 2026-07-03, 29.0.4 on 2026-07-28 (image dates).
R4 = date(2026, 7, 28)


def _status(v: str, today: date):  # type: ignore[no-untyped-def]
    return version_status(OtpVersion.parse(v), SNAP, today)


def test_one_patch_behind_inside_and_outside_the_window() -> None:
    releases = SNAP.releases()
    assert grace_window(
        _status("29.0.3", R4 + timedelta(days=6)), releases, R4 + timedelta(days=6), 7
    )
    assert not grace_window(
        _status("29.0.3", R4 + timedelta(days=7)), releases, R4 + timedelta(days=7), 7
    )
    msg = grace_message(
        _status("29.0.3", R4 + timedelta(days=2)), releases, R4 + timedelta(days=2), 7
    )
    assert msg is not None and "Update to OTP 29.0.4 within 5 days" in msg


def test_the_clock_starts_at_the_first_newer_patch() -> None:
    # 29.0.2 is behind 29.0.3 (2026-07-03) too: no grace a day after 29.0.4.
    today = R4 + timedelta(days=1)
    assert not grace_window(_status("29.0.2", today), SNAP.releases(), today, 7)
    assert grace_window(_status("29.0.2", today), SNAP.releases(), today, 30)


def test_no_grace_when_current_disabled_or_undated() -> None:
    today = R4 + timedelta(days=1)
    assert not grace_window(_status("29.0.4", today), SNAP.releases(), today, 7)  # not behind
    assert not grace_window(_status("29.0.3", today), SNAP.releases(), today, 0)
    undated = [
        replace(r, released=None) if r.version == OtpVersion.parse("29.0.4") else r
        for r in SNAP.releases()
    ]
    assert not grace_window(_status("29.0.3", today), undated, today, 7)
    assert grace_message(_status("29.0.3", today), undated, today, 7) is None


@given(
    behind=st.integers(min_value=1, max_value=4),
    age=st.integers(min_value=-3, max_value=60),
    grace=st.integers(min_value=0, max_value=45),
)
def test_window_matches_the_age_of_the_first_newer_patch(behind: int, age: int, grace: int) -> None:
    today = date(2026, 11, 29)
    base = OtpVersion.parse("30.1")
    newer = [
        Release(OtpVersion((30, 1, i)), today - timedelta(days=age) + timedelta(days=i - 1))
        for i in range(1, behind + 1)
    ]
    releases = (Release(base, today - timedelta(days=400)), *newer)
    index = replace(SNAP, release_list=releases)
    status = version_status(base, index, today)
    assert status.patches_behind == behind
    assert grace_window(status, releases, today, grace) == (grace > 0 and age < grace)
