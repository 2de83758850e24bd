"""Debian backports: the bundled changelog head, and the real changelog in Debian 12's packages."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import pytest

from gate.errors import KnowledgeError
from gate.knowledge.advisories import load_bundled_advisories, missed_fixes
from gate.knowledge.distro_backports import (
    apply_backports,
    backports_for,
    find_backports,
    patch_list_cves,
)
from gate.knowledge.packages import parse_debian_changelog
from gate.knowledge.snapshot import load_snapshot
from gate.model.advisory import FindingStatus
from gate.model.common import BackportPolicy
from gate.model.otp import OtpIdentity, OtpVersion

DATA = resources.files("gate.knowledge").joinpath("data", "advisories")
HEAD = DATA.joinpath("debian-bookworm-erlang-1_25.2.3+dfsg-1+deb12u4.changelog.head.txt").read_text(
    encoding="utf-8"
)
DEB12U4 = "1:25.2.3+dfsg-1+deb12u4"


def test_deb12u4_carries_cve_2025_32433_and_13_others() -> None:
    info = backports_for(HEAD)
    assert (info.package, info.version) == ("erlang", DEB12U4)
    assert "CVE-2025-32433" in info.fixed_cves
    assert len(info.fixed_cves) == 14
    # The patch list names the same fixes of the last update.
    patches = DATA.joinpath("debian-bookworm-erlang-deb12u4.patches.list.txt").read_text(
        encoding="utf-8"
    )
    assert set(patch_list_cves(patches.split())) <= set(info.fixed_cves)


def test_an_older_package_version_holds_fewer_fixes() -> None:
    u1 = backports_for(HEAD, "1:25.2.3+dfsg-1+deb12u1")
    assert u1.fixed_cves == ("CVE-2023-48795", "CVE-2025-26618", "CVE-2025-30211", "CVE-2025-32433")
    assert "3 newer changelog entries ignored" in u1.notes[0]
    with pytest.raises(KnowledgeError, match="no entry for version"):
        backports_for(HEAD, "1:99")


def test_policy_ignore_keeps_the_upstream_verdict_and_lists_backports() -> None:
    identity = OtpIdentity(OtpVersion.parse("25.2.3"), "OTP_VERSION")
    findings = missed_fixes(identity, load_bundled_advisories(), load_snapshot())
    info = backports_for(HEAD)
    ignored = apply_backports(findings, info, BackportPolicy.IGNORE)
    rce = next(f for f in ignored if f.advisory_id == "CVE-2025-32433")
    assert rce.status is FindingStatus.AFFECTED and rce.backported_in == f"debian erlang {DEB12U4}"
    trusted = apply_backports(findings, info, BackportPolicy.TRUST)
    by_id = {f.advisory_id: f for f in trusted}
    assert by_id["CVE-2025-32433"].status is FindingStatus.NOT_AFFECTED
    assert "upstream verdict" in by_id["CVE-2025-32433"].reason
    # A CVE Debian did not backport stays affected under either policy.
    assert by_id["CVE-2026-32147"].status is FindingStatus.AFFECTED
    assert by_id["CVE-2026-32147"].backported_in is None
    assert sum(f.status is FindingStatus.AFFECTED for f in trusted) < sum(
        f.status is FindingStatus.AFFECTED for f in ignored
    )


def test_real_debian_12_packages(debian_otp: Path) -> None:
    info = find_backports(debian_otp)
    assert info is not None
    assert info.version.startswith("1:25.2.3+dfsg-1+deb12u")
    assert "CVE-2025-32433" in info.fixed_cves
    assert info.source == "usr/share/doc/erlang-base/changelog.Debian.gz"


def test_find_backports_in_a_built_tree(tmp_path: Path) -> None:
    doc = tmp_path / "usr" / "share" / "doc" / "erlang-base"
    doc.mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "erlang").mkdir(parents=True)
    with gzip.open(doc / "changelog.Debian.gz", "wt", encoding="utf-8") as fh:
        fh.write(HEAD)
    assert find_backports(tmp_path / "usr" / "lib" / "erlang").version == DEB12U4  # type: ignore[union-attr]
    assert find_backports(tmp_path / "nothing-here") is None


def test_symlinked_changelog_outside_the_tree_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.gz"
    with gzip.open(outside, "wt", encoding="utf-8") as fh:
        fh.write(HEAD)
    tree = tmp_path / "tree"
    doc = tree / "usr" / "share" / "doc" / "erlang-base"
    doc.mkdir(parents=True)
    (doc / "changelog.Debian.gz").symlink_to(outside)
    assert find_backports(tree) is None


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="no Debian changelog entry"):
        parse_debian_changelog("hello\nworld\n", "x")
    doc = tmp_path / "usr" / "share" / "doc" / "erlang-base"
    doc.mkdir(parents=True)
    (doc / "changelog.Debian.gz").write_bytes(b"not gzip")
    with pytest.raises(KnowledgeError, match="cannot read the package changelog"):
        find_backports(tmp_path)


def test_debian_12_end_to_end(debian_root: Path, debian_otp: Path, tmp_path: Path) -> None:
    """Debian's real tree: identified as 25.2.3, judged by its lib/ versions, backports beside."""
    from gate.acquire.interface import AcquiredTree
    from gate.inspection.otp_version import identify
    from gate.inspection.runtime import load_runtime
    from gate.model.runtime import Origin
    from tests.support.release_tree import build_release_tree

    index = load_snapshot()
    runtime = load_runtime(AcquiredTree(debian_otp, "/usr/lib/erlang", Origin("directory", "test")))
    identity = identify(runtime, index)
    assert identity.version == OtpVersion.parse("25.2.3")
    findings = missed_fixes(identity, load_bundled_advisories(), index)
    rce = next(f for f in findings if f.advisory_id == "CVE-2025-32433")
    assert (rce.status, rce.installed_version) == (FindingStatus.AFFECTED, "4.15.2")
    assert (rce.fixed_version, rce.fixed_otp) == ("4.15.3.12", "25.3.2.20")
    info = find_backports(debian_root)
    assert info is not None
    listed = apply_backports(findings, info, BackportPolicy.IGNORE)
    assert next(f for f in listed if f.advisory_id == "CVE-2025-32433").backported_in
    assert [f.status for f in listed] == [f.status for f in findings]  # ignore: verdict stands

    # The same packages as a release without ssh: CVE-2025-32433 does not apply, and says why.
    rel = build_release_tree(
        debian_otp, tmp_path / "rel", ("kernel", "stdlib", "crypto"), with_nif=False
    )
    rel_identity = identify(
        load_runtime(AcquiredTree(rel, "rel", Origin("directory", "test"))), index
    )
    rel_findings = missed_fixes(rel_identity, load_bundled_advisories(), index)
    rce = next(f for f in rel_findings if f.advisory_id == "CVE-2025-32433")
    assert rce.status is FindingStatus.NOT_AFFECTED and "does not ship ssh" in rce.reason
    assert any(
        f.application == "stdlib" and f.status is FindingStatus.AFFECTED for f in rel_findings
    )


def test_assess_composes_findings_policy_and_summary() -> None:
    from gate.knowledge.advisories import assess

    identity = OtpIdentity(OtpVersion.parse("25.2.3"), "OTP_VERSION")
    info = backports_for(HEAD)
    ignore = assess(identity, load_bundled_advisories(), load_snapshot(), backports=info)
    trust = assess(
        identity,
        load_bundled_advisories(),
        load_snapshot(),
        backports=info,
        policy=BackportPolicy.TRUST,
    )
    assert (
        "upstream verdict stands" in ignore.notes[0] and "says it fixed 14 CVEs" in ignore.notes[0]
    )
    assert len(trust.affected) < len(ignore.affected)
    assert ignore.summary.startswith("upgrading to 25.3.2.20 fixes 1 advisory")
    # Trusting Debian's backport of CVE-2025-32433 leaves nothing a 25.x patch would fix.
    assert "upgrading" not in trust.summary
