"""Supported lines, newest patch and version status, on the bundled data and on small indexes."""

from __future__ import annotations

from datetime import date

import pytest

from gate.knowledge.releases import latest_patch, supported_lines, version_status
from gate.knowledge.snapshot import StaticReleaseIndex, load_snapshot
from gate.model.otp import DataProvenance, OtpVersion, Release

V = OtpVersion.parse
TODAY = date(2026, 11, 29)


def index_of(*versions: str, as_of: date = date(2026, 1, 1)) -> StaticReleaseIndex:
    return StaticReleaseIndex(
        DataProvenance("test data", as_of), tuple(Release(V(v), date(2025, 1, 1)) for v in versions)
    )


def test_supported_lines_from_the_snapshot() -> None:
    assert supported_lines(load_snapshot().releases()) == (29, 28, 27)


def test_a_major_with_only_rcs_is_not_a_line() -> None:
    releases = index_of("26.0", "27.0", "28.0", "29.0-rc1").releases()
    assert supported_lines(releases) == (28, 27, 26)
    releases = index_of("26.0", "27.0", "28.0", "29.0-rc1", "29.0").releases()
    assert supported_lines(releases) == (29, 28, 27)


def test_latest_patch() -> None:
    releases = load_snapshot().releases()
    assert latest_patch(V("25.2.3"), releases) == V("25.3.2.21")
    assert latest_patch(V("28.0"), releases) == V("28.5.0.4")
    assert latest_patch(V("29.0-rc1"), releases) == V("29.0.4")
    assert latest_patch(V("12.0"), releases) is None


def test_debian_12_otp_is_behind_and_unsupported() -> None:
    status = version_status(V("25.2.3"), load_snapshot(), TODAY)
    assert status.line == 25
    assert status.latest_patch == V("25.3.2.21")
    # 25.3, 25.3.1, 25.3.2 and 25.3.2.1 .. 25.3.2.21.
    assert status.patches_behind == 24
    assert status.supported is False
    assert status.supported_lines == (29, 28, 27)
    assert status.provenance.source == "bundled snapshot"
    assert any("no longer gets security fixes" in n for n in status.notes)
    assert any("124 days old" in n for n in status.notes)


def test_latest_is_not_behind() -> None:
    status = version_status(V("29.0.4"), load_snapshot(), TODAY)
    assert (status.patches_behind, status.supported, status.latest_patch) == (0, True, V("29.0.4"))
    assert status.latest_released == date(2026, 7, 28)


def test_branched_versions_count_on_their_line() -> None:
    index = index_of("28.4", "28.5", "28.5.0.1", "28.5.0.2", "27.0", "26.0")
    status = version_status(V("28.5"), index, TODAY)
    assert status.latest_patch == V("28.5.0.2") and status.patches_behind == 2


def test_rc_is_behind_its_release() -> None:
    index = index_of("27.0", "28.0", "29.0-rc1", "29.0-rc2", "29.0")
    status = version_status(V("29.0-rc1"), index, TODAY)
    assert status.patches_behind == 1
    assert any("release candidate" in n for n in status.notes)


def test_unknown_and_newer_versions_say_so() -> None:
    index = index_of("26.0", "27.0", "28.0", "28.1")
    newer = version_status(V("28.1.1"), index, TODAY)
    assert newer.patches_behind == 0 and any("may predate" in n for n in newer.notes)
    future = version_status(V("31.0"), index, TODAY)
    assert future.supported is True and future.latest_patch is None
    assert any("newer than any release" in n for n in future.notes)
    missing = version_status(V("28.0.7"), index_of("28.0", "28.1", "27.0", "26.0"), TODAY)
    assert missing.patches_behind == 1 and any(
        "not a published release" in n for n in missing.notes
    )


def test_unknown_version() -> None:
    status = version_status(None, load_snapshot(), TODAY)
    assert status.supported is None and status.line is None and status.patches_behind == 0


@pytest.mark.parametrize(
    ("version", "supported"), [("26.2.5", False), ("27.0", True), ("29.0", True)]
)
def test_supported_flag(version: str, supported: bool) -> None:
    assert version_status(V(version), load_snapshot(), TODAY).supported is supported
