"""The bundled snapshot: parsers on real and malformed text, and the merged index."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.errors import KnowledgeError
from gate.knowledge.interface import ReleaseIndex
from gate.knowledge.snapshot import (
    SNAPSHOT_SOURCE,
    load_snapshot,
    parse_app,
    parse_builds_txt,
    parse_otp_versions_table,
    parse_release_dates,
)
from gate.model.otp import AppVersion, OtpVersion

V = OtpVersion.parse
DATA = Path(__file__).resolve().parents[2] / "gate" / "knowledge" / "data"


def test_snapshot_is_a_release_index() -> None:
    index: ReleaseIndex = load_snapshot()
    assert index.provenance.source == SNAPSHOT_SOURCE
    assert not index.provenance.live


def test_table_has_every_line_of_the_file() -> None:
    text = (DATA / "otp_versions.table").read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(load_snapshot().applications()) == len(lines) == 477


def test_debian_12_release_application_set() -> None:
    apps = dict((a.name, a.version) for a in load_snapshot().applications()[V("25.2.3")])
    # Facts of Debian 12's tree (releases/25/installed_application_versions).
    assert apps["erts"] == "13.1.5"
    assert apps["kernel"] == "8.5.3"
    assert apps["stdlib"] == "4.2"
    assert apps["crypto"] == "5.1.2"
    assert apps["ssl"] == "10.8.7"


def test_changed_applications_are_the_left_of_the_hash() -> None:
    changed = load_snapshot().changed_applications()[V("25.2.3")]
    assert {str(a) for a in changed} == {"erts-13.1.5", "inets-8.2.2", "ssh-4.15.2", "ssl-10.8.7"}


def test_releases_merge_every_source() -> None:
    index = load_snapshot()
    by_version = {r.version: r for r in index.releases()}
    # Only in the table (builds.txt and the image history start at 26).
    assert V("17.0") in by_version and by_version[V("17.0")].released is None
    # Newer than the table: known from builds.txt and the image history.
    assert V("29.0.2") in by_version
    assert V("29.0.4") in by_version  # image history only
    assert by_version[V("29.0")].released == date(2026, 5, 14)
    assert V("29.0-rc1") in by_version and by_version[V("29.0-rc1")].version.is_rc
    # Branch refs of builds.txt are not releases.
    assert all(r.version.major >= 17 for r in index.releases())
    # No version twice.
    assert len(by_version) == len(index.releases())


def test_as_of_is_the_newest_date_in_the_data() -> None:
    dates = parse_release_dates((DATA / "release_dates.txt").read_text())
    builds = parse_builds_txt((DATA / "builds.txt").read_text())
    newest = max([*dates.values(), *(b.built_at.date() for b in builds)])
    assert load_snapshot().provenance.as_of == newest == date(2026, 7, 28)


def test_builds_built_at_is_not_used_as_a_release_date() -> None:
    # builds.txt says OTP-26.0 was built on 2026-04-24 (a rebuild); the image history says 2023.
    by_version = {r.version: r for r in load_snapshot().releases()}
    assert by_version[V("26.0")].released == date(2023, 5, 16)
    assert by_version[V("26.1")].released is None  # not in the image history


def test_parse_app_tokens() -> None:
    assert parse_app("erts-13.1.5") == AppVersion("erts", "13.1.5")
    assert parse_app("cosEvent-2.1.15") == AppVersion("cosEvent", "2.1.15")
    assert parse_app("public_key-1.13.2") == AppVersion("public_key", "1.13.2")
    assert parse_app("nonsense") is None
    assert parse_app("-1.0") is None


def test_table_line_without_trailing_colon_or_unchanged_part() -> None:
    (line,) = parse_otp_versions_table("OTP-99.1 : erts-1.0 kernel-2.0")
    assert line.version == V("99.1")
    assert {str(a) for a in line.applications} == {"erts-1.0", "kernel-2.0"}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("OTP-25.0 erts-1.0 # kernel-1 :", "t.table:1"),
        ("\nfoo : erts-1.0 # :", "t.table:2"),
        ("OTP-25.0 : erts # kernel-1 :", "'erts'"),
    ],
)
def test_malformed_table_names_file_and_line(text: str, needle: str) -> None:
    with pytest.raises(KnowledgeError) as info:
        parse_otp_versions_table(text, source="t.table")
    assert needle in info.value.diagnostics()


def test_malformed_builds_and_dates_name_the_line() -> None:
    with pytest.raises(KnowledgeError, match=r"b.txt:2"):
        parse_builds_txt("OTP-1.0 abc 2026-01-01T00:00:00Z\nOTP-2.0 abc\n", source="b.txt")
    with pytest.raises(KnowledgeError, match=r"b.txt:1: bad date"):
        parse_builds_txt("OTP-1.0 abc yesterday\n", source="b.txt")
    with pytest.raises(KnowledgeError, match=r"d.txt:2"):
        parse_release_dates("== 26\n2026-13-01 26.0\n", source="d.txt")
    with pytest.raises(KnowledgeError, match=r"d.txt:1"):
        parse_release_dates("2026-01-01 banana\n", source="d.txt")


def test_release_dates_keep_the_earliest_date() -> None:
    dates = parse_release_dates("2026-02-01 28.5\n2026-01-01 28.5.0\n")
    assert dates == {V("28.5"): date(2026, 1, 1)}


def test_snapshot_md_documents_provenance() -> None:
    text = (DATA / "SNAPSHOT.md").read_text()
    for needle in ("otp_versions.table", "builds.txt", "release_dates.txt", "as-of", "sha256"):
        assert needle in text


app_names = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True)
app_versions = st.lists(st.integers(0, 40), min_size=1, max_size=5).map(
    lambda p: ".".join(map(str, p))
)
apps_strategy = st.dictionaries(app_names, app_versions, min_size=1, max_size=8)


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=5),
    apps_strategy,
    apps_strategy,
    st.sampled_from([" :", ":", ""]),
)
def test_table_lines_round_trip(
    version: list[int], changed: dict[str, str], unchanged: dict[str, str], tail: str
) -> None:
    unchanged = {k: v for k, v in unchanged.items() if k not in changed}
    text = (
        "OTP-"
        + ".".join(map(str, version))
        + " : "
        + " ".join(f"{k}-{v}" for k, v in changed.items())
        + " # "
        + " ".join(f"{k}-{v}" for k, v in unchanged.items())
        + tail
    )
    (line,) = parse_otp_versions_table(text)
    assert line.version == OtpVersion(tuple(version))
    assert {(a.name, a.version) for a in line.changed} == set(changed.items())
    assert {(a.name, a.version) for a in line.applications} == {**changed, **unchanged}.items()


@given(st.text(max_size=200))
def test_table_parser_never_crashes(text: str) -> None:
    try:
        parse_otp_versions_table(text)
    except KnowledgeError as e:
        assert "otp_versions.table:" in e.message
