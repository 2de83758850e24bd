"""Identifying the OTP release: OTP_VERSION, patched systems, and inference for releases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gate.acquire.interface import AcquiredTree
from gate.inspection.otp_version import identify
from gate.inspection.runtime import load_runtime
from gate.knowledge.snapshot import load_snapshot
from gate.model.otp import AppVersion, OtpVersion
from gate.model.runtime import Origin, Runtime, RuntimeKind
from tests.support.release_tree import build_release_tree

V = OtpVersion.parse
INDEX = load_snapshot()
ORIGIN = Origin("directory", "test tree")
EMPTY = Runtime(Path("/nonexistent"), "test", RuntimeKind.FILES, (), ORIGIN)


def table_apps(version: str) -> tuple[AppVersion, ...]:
    return INDEX.applications()[V(version)]


@pytest.fixture(scope="module")
def release_root(debian_otp: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release_tree(debian_otp, tmp_path_factory.mktemp("release") / "myapp")


def test_debian_tree_from_otp_version(debian_otp: Path) -> None:
    rt = load_runtime(AcquiredTree(debian_otp, "/usr/lib/erlang", ORIGIN))
    ident = identify(rt, INDEX, ("13.1.5",))
    assert ident.version == V("25.2.3")
    assert ident.source == "OTP_VERSION"
    assert ident.candidates == (V("25.2.3"),)
    assert ident.erts_version == "13.1.5"
    assert not ident.patched and ident.patched_applications == ()
    assert AppVersion("ssl", "10.8.7") in ident.applications
    assert "OTP_VERSION says 25.2.3" in ident.evidence
    assert "beam.smp embeds erts version 13.1.5, matching" in ident.evidence


def test_release_tree_by_inference(release_root: Path) -> None:
    rt = load_runtime(AcquiredTree(release_root, "rel", ORIGIN))
    ident = identify(rt, INDEX, ("13.1.5",))
    assert ident.source == "inferred"
    assert ident.version == V("25.2.3")
    # erts-13.1.5 is in exactly one release of the table.
    assert ident.candidates == (V("25.2.3"),)
    assert ident.erts_version == "13.1.5"
    # The project's own application is not an OTP application.
    assert all(a.name != "myapp" for a in ident.applications)
    assert any("contain" in e and "erts-13.1.5" in e for e in ident.evidence)


def test_several_candidates_are_all_reported() -> None:
    # kernel-8.5.3 and stdlib-4.2 alone fit 25.2.1, 25.2.2 and 25.2.3.
    rt = replace(
        EMPTY,
        kind=RuntimeKind.RELEASE,
        applications=(AppVersion("kernel", "8.5.3"), AppVersion("stdlib", "4.2")),
    )
    ident = identify(rt, INDEX)
    assert ident.candidates == (V("25.2.1"), V("25.2.2"), V("25.2.3"))
    # No erts: the candidates differ in erts, which this runtime does not ship.
    assert ident.version is None
    assert ident.source == "inferred"


def test_several_candidates_with_erts_give_the_newest() -> None:
    # OTP-25.3.2.20 changed only ssh: a release of 25.3.2.19 without ssh ships the same files as
    # 25.3.2.20, so both fit and the runtime is not behind for an ssh patch it does not contain.
    assert [str(a) for a in INDEX.changed_applications()[V("25.3.2.20")]] == ["ssh-4.15.3.12"]
    shipped = [a for a in table_apps("25.3.2.19") if a.name not in {"ssh", "erts"}]
    rt = replace(
        EMPTY, kind=RuntimeKind.RELEASE, erts_versions=("13.2.2.15",), applications=tuple(shipped)
    )
    ident = identify(rt, INDEX)
    assert ident.candidates == (V("25.3.2.19"), V("25.3.2.20"))
    assert ident.version == V("25.3.2.20")
    assert any("differ only in applications not shipped" in e for e in ident.evidence)
    # With ssh shipped, only 25.3.2.19 fits.
    with_ssh = replace(rt, applications=(*shipped, AppVersion("ssh", "4.15.3.11")))
    assert identify(with_ssh, INDEX).candidates == (V("25.3.2.19"),)


def test_patched_system_reports_base_and_patched_apps() -> None:
    apps = tuple(
        AppVersion("ssh", "4.15.2.1") if a.name == "ssh" else a for a in table_apps("25.2.3")
    )
    rt = replace(
        EMPTY,
        kind=RuntimeKind.OTP_INSTALL,
        otp_version_file="25.2.3 **",
        erts_versions=("13.1.5",),
        installed_application_versions=apps,
        applications=apps,
    )
    ident = identify(rt, INDEX)
    assert ident.version == V("25.2.3") and ident.patched
    assert ident.patched_applications == (AppVersion("ssh", "4.15.2.1"),)
    assert any("otp_patch_apply" in e and "ssh-4.15.2.1" in e for e in ident.evidence)


def test_bad_otp_version_falls_back_to_inference() -> None:
    rt = replace(
        EMPTY,
        kind=RuntimeKind.OTP_INSTALL,
        otp_version_file="banana",
        erts_versions=("13.1.5",),
    )
    ident = identify(rt, INDEX)
    assert ident.source == "inferred" and ident.version == V("25.2.3")
    assert any("'banana'" in e for e in ident.evidence)


def test_beam_strings_alone() -> None:
    ident = identify(EMPTY, INDEX, ("(BEAM) emulator version 13.1.5", "13.1.5"))
    assert ident.source == "beam"
    assert ident.version == V("25.2.3") and ident.erts_version == "13.1.5"


def test_beam_that_does_not_match_its_erts_folder() -> None:
    rt = replace(EMPTY, kind=RuntimeKind.RELEASE, erts_versions=("13.1.5",))
    ident = identify(rt, INDEX, ("15.2.7",))
    assert any("not 13.1.5" in e for e in ident.evidence)


def test_start_erl_data_picks_among_several_erts() -> None:
    rt = replace(
        EMPTY,
        kind=RuntimeKind.RELEASE,
        erts_versions=("13.1.4", "13.1.5"),
        start_erl_data="13.1.4 0.2.0",
    )
    ident = identify(rt, INDEX)
    assert ident.erts_version == "13.1.4"
    assert V("25.2.2") in ident.candidates and V("25.2.3") not in ident.candidates


def test_erts_newer_than_the_table() -> None:
    rt = replace(EMPTY, kind=RuntimeKind.RELEASE, erts_versions=("99.0.1",))
    ident = identify(rt, INDEX)
    assert ident.version is None and ident.source == "none" and ident.candidates == ()
    assert any("newer than the data" in e for e in ident.evidence)


def test_closest_fit_names_what_differs() -> None:
    rt = replace(
        EMPTY,
        kind=RuntimeKind.RELEASE,
        erts_versions=("13.1.5",),
        applications=(AppVersion("kernel", "8.5.3"), AppVersion("ssh", "4.15.2.99")),
    )
    ident = identify(rt, INDEX)
    assert ident.candidates == (V("25.2.3"),)
    assert any("ssh-4.15.2.99 differ" in e for e in ident.evidence)


def test_nothing_to_go_on() -> None:
    ident = identify(EMPTY, INDEX)
    assert ident.version is None and ident.source == "none"
    assert ident.evidence == (
        "no OTP_VERSION file, no erts-* folder and no OTP application in lib/",
    )


def test_otp_version_not_in_table_is_said() -> None:
    rt = replace(EMPTY, kind=RuntimeKind.OTP_INSTALL, otp_version_file="29.0.4\n")
    ident = identify(rt, INDEX)
    assert ident.version == V("29.0.4") and ident.source == "OTP_VERSION"
    assert any("not in the OTP versions table" in e for e in ident.evidence)


def test_beam_strings_as_the_elf_reader_gives_them() -> None:
    # gate.inspection.elf reports the banner as "Erlang/OTP <major>" and "erts-<vsn>".
    ident = identify(EMPTY, INDEX, ("Erlang/OTP 25", "erts-13.1.5"))
    assert ident.version == V("25.2.3") and ident.source == "beam"
    assert "beam.smp says Erlang/OTP 25" in ident.evidence


def test_unmarked_application_changes_are_evidence() -> None:
    apps = tuple(
        AppVersion("ssl", "10.9.1") if a.name == "ssl" else a
        for a in table_apps("25.2.3")
        if a.name != "erts"
    )
    rt = replace(
        EMPTY,
        kind=RuntimeKind.OTP_INSTALL,
        otp_version_file="25.2.3",
        erts_versions=("13.1.5",),
        applications=apps,
    )
    ident = identify(rt, INDEX)
    assert ident.version == V("25.2.3") and not ident.patched
    assert "lib/ has ssl-10.9.1, which OTP 25.2.3 does not ship (not marked patched with **)" in (
        ident.evidence
    )
