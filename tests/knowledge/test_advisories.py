"""Advisory parsing and judging, against every EEF record bundled with the package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from gate.errors import KnowledgeError
from gate.knowledge.advisories import (
    first_fix,
    is_fixed_by,
    load_bundled_advisories,
    merge_advisories,
    missed_fixes,
    parse_cve_record,
    parse_github_advisory,
    parse_openvex,
    summarize,
    version_parts,
)
from gate.knowledge.snapshot import load_snapshot
from gate.model.advisory import OTP_PACKAGE, AdvisorySeverity, FindingStatus
from gate.model.otp import AppVersion, OtpIdentity, OtpVersion

DATA = resources.files("gate.knowledge").joinpath("data", "advisories")


def _eef_records() -> list[dict[str, Any]]:
    return [
        json.loads(f.read_text(encoding="utf-8"))
        for f in sorted(DATA.joinpath("eef-cna").iterdir(), key=lambda f: f.name)
        if f.name.endswith(".json")
    ]


def _identity(version: str | None, apps: dict[str, str] | None = None, **kw: Any) -> OtpIdentity:
    return OtpIdentity(
        OtpVersion.parse(version) if version else None,
        "OTP_VERSION" if version else "none",
        applications=tuple(AppVersion(n, v) for n, v in (apps or {}).items()),
        **kw,
    )


def _before(fix: tuple[int, ...]) -> tuple[int, ...] | None:
    """The application version released just before a fix point, on the same branch."""
    if fix[-1] > 0:
        prev = (*fix[:-1], fix[-1] - 1)
        # `x.y.z.0` is `x.y.z` itself: step back to the branch point.
        return prev if len(fix) <= 3 or prev[-1] > 0 else fix[:-1]
    return None


EEF = _eef_records()


def test_every_eef_record_is_in_the_bundle() -> None:
    ids = {a.id for a in load_bundled_advisories()}
    assert len(EEF) == 37
    assert {r["cveMetadata"]["cveId"] for r in EEF} <= ids
    assert "CVE-2025-32433" in ids


@pytest.mark.parametrize("record", EEF, ids=[r["cveMetadata"]["cveId"] for r in EEF])
def test_each_eef_fix_point_judged(record: dict[str, Any]) -> None:
    """For each application fix point: the version just before it is affected, the fix is not."""
    adv = parse_cve_record(record, "test")
    app_ranges = [r for r in adv.ranges if r.package != OTP_PACKAGE]
    assert app_ranges, "every EEF record names at least one OTP application"
    checked = 0
    for r in app_ranges:
        points = [version_parts(x) for x in r.fixed]
        if r.limit and not r.fixed:
            # A range closed by `lessThan` alone (e.g. ssh 6.0 up to 6.0.1): the bound is the fix.
            points = [version_parts(r.limit)]
        for fix in points:
            assert fix is not None
            prev = _before(fix)
            if prev is None or (r.introduced and version_parts(r.introduced) > prev):  # type: ignore[operator]
                continue
            fix_text = ".".join(map(str, fix))
            before_text = ".".join(map(str, prev))
            hit = missed_fixes(_identity(None, {r.package: before_text}), [adv], load_snapshot())
            assert [f.status for f in hit] == [FindingStatus.AFFECTED], (r.package, before_text)
            assert hit[0].installed_version == before_text
            if r.fixed:
                assert version_parts(hit[0].fixed_version or "") == fix, (before_text, hit[0])
            clean = missed_fixes(_identity(None, {r.package: fix_text}), [adv], load_snapshot())
            assert clean == (), (r.package, fix_text, clean)
            checked += 1
    assert checked, f"no fix point of {adv.id} could be checked"


def test_version_tree_semantics() -> None:
    p = version_parts
    assert is_fixed_by(p("5.2.11.4"), p("5.2.11.3"))  # type: ignore[arg-type]
    assert not is_fixed_by(p("5.3"), p("5.2.11.3"))  # type: ignore[arg-type]  # another branch
    assert not is_fixed_by(p("5.2.12"), p("5.2.11.3"))  # type: ignore[arg-type]
    assert is_fixed_by(p("5.4"), p("5.3.3"))  # type: ignore[arg-type]
    assert is_fixed_by(p("5.3.3.1"), p("5.3.3"))  # type: ignore[arg-type]
    assert not is_fixed_by(p("5.3.2.1"), p("5.3.3"))  # type: ignore[arg-type]
    assert p("28.5.0") == p("28.5") == (28, 5, 0)
    assert p("R13B03") is None
    fixes = [p(x) for x in ("5.3.3", "5.2.11.3", "5.1.4.12")]
    assert first_fix(p("5.2.9"), fixes) == (5, 2, 11, 3)  # type: ignore[arg-type]
    assert first_fix(p("5.1.4.7"), fixes) == (5, 1, 4, 12)  # type: ignore[arg-type]
    assert first_fix(p("5.3"), fixes) == (5, 3, 3)  # type: ignore[arg-type]


def test_otp_26_runtime_gets_same_line_fixes_and_summary() -> None:
    index = load_snapshot()
    findings = missed_fixes(_identity("26.2.5.10"), load_bundled_advisories(), index)
    by_id = {f.advisory_id: f for f in findings}
    rce = by_id["CVE-2025-32433"]
    assert rce.status is FindingStatus.AFFECTED
    assert (rce.application, rce.installed_version) == ("ssh", "5.1.4.7")
    assert (rce.fixed_version, rce.fixed_otp) == ("5.1.4.8", "26.2.5.11")
    assert rce.severity is AdvisorySeverity.CRITICAL
    assert by_id["CVE-2025-48041"].fixed_otp == "26.2.5.15"
    # 26 left support before these were fixed: no release of line 26 carries them.
    assert by_id["CVE-2026-55953"].fixed_otp is None
    line = summarize(findings, OtpVersion.parse("26.2.5.11"))
    assert line.startswith("upgrading to 26.2.5.11 fixes 1 advisory, one critical")
    assert "no fixed release on this line" in line


def test_summary_counts_severities() -> None:
    index = load_snapshot()
    adv = [
        a
        for a in load_bundled_advisories()
        if a.id in {"CVE-2025-32433", "CVE-2025-48041", "CVE-2025-4748"}
    ]
    findings = missed_fixes(_identity("26.2.5.10"), adv, index)
    assert (
        summarize(findings)
        == "upgrading to 26.2.5.15 fixes 3 advisories, one critical and one high"
    )
    assert summarize(()) == "no known advisory affects this runtime"


def test_release_without_ssh_is_not_affected_with_reason() -> None:
    index = load_snapshot()
    full = {a.name: a.version for a in index.applications()[OtpVersion.parse("26.2.5.10")]}
    apps = {
        k: v
        for k, v in full.items()
        if k in {"erts", "kernel", "stdlib", "crypto", "ssl", "public_key"}
    }
    findings = missed_fixes(
        _identity(None, apps, candidates=(OtpVersion.parse("26.2.5.10"),)),
        load_bundled_advisories(),
        index,
    )
    rce = next(f for f in findings if f.advisory_id == "CVE-2025-32433")
    assert rce.status is FindingStatus.NOT_AFFECTED
    assert "does not ship ssh" in rce.reason
    assert not any(f.application == "ssh" and f.status is FindingStatus.AFFECTED for f in findings)
    # ...but what it ships is still judged.
    assert any(f.application == "ssl" and f.status is FindingStatus.AFFECTED for f in findings)
    assert "not applicable" in summarize(findings)


def test_patched_system_is_judged_by_its_patched_application() -> None:
    index = load_snapshot()
    adv = [a for a in load_bundled_advisories() if a.id == "CVE-2025-32433"]
    plain = missed_fixes(_identity("26.2.5.10"), adv, index)
    assert [f.status for f in plain] == [FindingStatus.AFFECTED]
    patched = _identity(
        "26.2.5.10", patched=True, patched_applications=(AppVersion("ssh", "5.1.4.8"),)
    )
    assert missed_fixes(patched, adv, index) == ()


def test_unknown_app_versions_fall_back_to_otp_version() -> None:
    # 27.3.4.9 is newer than the bundled table: only the OTP-level range can judge it.
    index = load_snapshot()
    adv = [a for a in load_bundled_advisories() if a.id == "CVE-2026-28808"]
    hit = missed_fixes(_identity("27.3.4.9"), adv, index)
    assert [f.status for f in hit] == [FindingStatus.AFFECTED]
    assert "judged by OTP version" in hit[0].reason and hit[0].fixed_otp == "27.3.4.10"
    assert missed_fixes(_identity("27.3.4.10"), adv, index) == ()


GITHUB_32433 = {
    "ghsa_id": "GHSA-37cp-fgq5-7wc2",
    "cve_id": "CVE-2025-32433",
    "summary": "Unauthenticated Remote Code Execution in Erlang/OTP SSH",
    "severity": "critical",
    "published_at": "2025-04-16T12:00:00Z",
    "html_url": "https://github.com/erlang/otp/security/advisories/GHSA-37cp-fgq5-7wc2",
    "cvss": {"score": 10.0, "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"},
    "vulnerabilities": [
        {
            "package": {"ecosystem": "other", "name": "erlang/otp"},
            "vulnerable_version_range": ">= OTP-17.0, <= OTP-27.3.2",
            "patched_versions": "OTP-27.3.3, OTP-26.2.5.11, OTP-25.3.2.20",
        }
    ],
}


def test_cve_2025_32433_from_the_github_advisory_alone() -> None:
    adv = parse_github_advisory(GITHUB_32433)
    assert adv.id == "CVE-2025-32433" and adv.aliases == ("GHSA-37cp-fgq5-7wc2",)
    assert adv.severity is AdvisorySeverity.CRITICAL and adv.score == 10.0
    index = load_snapshot()
    hit = missed_fixes(_identity("27.3.2"), [adv], index)
    assert [f.status for f in hit] == [FindingStatus.AFFECTED]
    assert hit[0].fixed_otp == "27.3.3" and "names no application" in hit[0].reason
    assert missed_fixes(_identity("27.3.3"), [adv], index) == ()
    assert missed_fixes(_identity("28.0"), [adv], index) == ()
    # Merged with the bundled record, the application-level ranges judge (and GitHub adds nothing wrong).
    merged = merge_advisories(load_bundled_advisories(), [adv])
    rce = next(a for a in merged if a.id == "CVE-2025-32433")
    assert "github-advisory" in rce.sources and "ssh" in rce.applications
    assert [f.application for f in missed_fixes(_identity("27.3.2"), [rce], index)] == ["ssh"]


def test_openvex_statements_enumerate_versions() -> None:
    doc = json.loads(DATA.joinpath("otp-27.openvex.json.EXCERPT.json").read_text(encoding="utf-8"))
    (adv,) = parse_openvex(doc, "otp-27", otp_line=27)
    assert adv.id == "CVE-2025-4748"
    index = load_snapshot()
    assert [f.status for f in missed_fixes(_identity("27.2", {"stdlib": "6.2"}), [adv], index)] == [
        FindingStatus.AFFECTED
    ]
    assert missed_fixes(_identity("27.3.4.1", {"stdlib": "6.2.2.1"}), [adv], index) == ()
    # Scoped to line 27: a 26 runtime is not judged by this file.
    assert missed_fixes(_identity("26.2", {"stdlib": "6.2"}), [adv], index) == ()


def test_malformed_records_raise_knowledge_errors() -> None:
    with pytest.raises(KnowledgeError, match=r"bad\.json"):
        parse_cve_record({"containers": {}}, "bad.json")
    with pytest.raises(KnowledgeError, match="ghsa_id"):
        parse_github_advisory({"summary": "x"})
    with pytest.raises(KnowledgeError, match="OpenVEX"):
        parse_openvex({"statements": "nope"}, "vex.json")


def test_patched_system_judged_by_otp_version_says_so() -> None:
    adv = parse_github_advisory(GITHUB_32433)
    ident = _identity("27.3.2", patched=True, patched_applications=(AppVersion("ssh", "5.2.10"),))
    (finding,) = missed_fixes(ident, [adv], load_snapshot())
    # The GitHub record names no application, so the patch cannot clear it: it stays affected.
    assert finding.status is FindingStatus.AFFECTED
    assert "otp_patch_apply was used" in finding.reason
