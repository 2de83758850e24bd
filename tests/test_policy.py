"""The policy is a pure function of report, config and day: each rule, threshold and waiver."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.config import VERSION_BEHIND, VERSION_UNSUPPORTED, Config, FailOn, VersionPolicy, Waiver
from gate.inspection.checks import check_by_id
from gate.model.common import ExitCode, Severity, Status
from gate.policy import evaluate
from tests.report import file_report, files_report, runtime_report

TODAY = date(2026, 5, 1)  # a week after the sample data's snapshot date


def codes(verdict: object) -> list[str]:
    return [r.code for r in verdict.reasons]  # type: ignore[attr-defined]


def test_clean_runtime_passes() -> None:
    report = runtime_report((file_report("erts-15.2.7.1/bin/beam.smp"),))
    verdict = evaluate(report, Config(), TODAY)
    assert verdict.exit_code == ExitCode.PASS
    assert verdict.reasons == ()
    assert verdict.result == "pass"


def test_error_check_fails_with_its_fix_and_evidence() -> None:
    report = runtime_report(
        (
            file_report("erts-13.1.5/bin/beam.smp", bind_now=Status.FAIL),
            file_report("erts-13.1.5/bin/epmd", bind_now=Status.FAIL),
        )
    )
    verdict = evaluate(report, Config(), TODAY)
    assert verdict.exit_code == ExitCode.FAIL
    assert [(r.code, r.check_id, r.path) for r in verdict.reasons] == [
        ("check-failed", "bind-now", "erts-13.1.5/bin/beam.smp"),
        ("check-failed", "bind-now", "erts-13.1.5/bin/epmd"),
    ]
    first = verdict.reasons[0]
    assert first.severity == Severity(check_by_id("bind-now").default_severity) == Severity.ERROR
    assert first.fix == check_by_id("bind-now").fix and first.fix
    assert "evidence for bind-now on erts-13.1.5/bin/beam.smp" in first.message


def test_warning_check_fails_only_under_fail_on_warning() -> None:
    report = runtime_report((file_report("erts-13.1.5/bin/beam.smp", fortify=Status.FAIL),))
    assert check_by_id("fortify").default_severity == Severity.WARNING
    under_error = evaluate(report, Config(), TODAY)
    assert under_error.exit_code == ExitCode.PASS
    assert [r.severity for r in under_error.reasons] == [Severity.WARNING]
    under_warning = evaluate(report, Config(fail_on=FailOn.WARNING), TODAY)
    assert under_warning.exit_code == ExitCode.FAIL
    never = evaluate(
        runtime_report((file_report("x", pie=Status.FAIL),)), Config(fail_on=FailOn.NEVER), TODAY
    )
    assert never.exit_code == ExitCode.PASS and codes(never) == ["check-failed"]


def test_unknown_and_na_are_not_findings() -> None:
    report = runtime_report(
        (
            file_report(
                "lib/crypto-5.1.4/priv/lib/crypto.so", stack_protector=Status.UNKNOWN, pie=Status.NA
            ),
        )
    )
    assert evaluate(report, Config(), TODAY).reasons == ()


def test_severity_overrides() -> None:
    report = runtime_report((file_report("a", fortify=Status.FAIL, bind_now=Status.FAIL),))
    raised = Config(severities=(("fortify", Severity.ERROR), ("bind-now", Severity.OFF)))
    verdict = evaluate(report, raised, TODAY)
    assert [(r.check_id, r.severity) for r in verdict.reasons] == [("fortify", Severity.ERROR)]
    assert verdict.exit_code == ExitCode.FAIL
    lowered = Config(severities=(("bind-now", Severity.NOTE),))
    assert evaluate(report, lowered, TODAY).exit_code == ExitCode.PASS


def test_inspect_errors_fail_closed() -> None:
    report = runtime_report(
        (file_report("lib/x/priv/lib/broken.so", error="truncated ELF header"),)
    )
    verdict = evaluate(report, Config(), TODAY)
    assert verdict.exit_code == ExitCode.FAIL
    assert codes(verdict) == ["inspect-error"]
    assert "lib/x/priv/lib/broken.so" in verdict.reasons[0].message
    assert verdict.reasons[0].fix


BEHIND = dict(version="25.2.3", latest="25.3.2.21", behind=20, supported=False)


@pytest.mark.parametrize(
    ("policy", "expected_codes", "exit_code"),
    [
        (VersionPolicy.LATEST_PATCH, ["version-behind", "unsupported-line"], ExitCode.FAIL),
        (VersionPolicy.SUPPORTED, ["unsupported-line", "version-behind"], ExitCode.FAIL),
        (VersionPolicy.OFF, [], ExitCode.PASS),
    ],
)
def test_version_policy_on_an_unsupported_line(
    policy: VersionPolicy, expected_codes: list[str], exit_code: ExitCode
) -> None:
    report = runtime_report((file_report("erts-13.1.5/bin/beam.smp"),), **BEHIND)  # type: ignore[arg-type]
    verdict = evaluate(report, Config(version_policy=policy), TODAY)
    assert codes(verdict) == expected_codes
    assert verdict.exit_code == exit_code


def test_version_messages_and_fixes() -> None:
    report = runtime_report((file_report("b"),), **BEHIND)  # type: ignore[arg-type]
    behind, unsupported = evaluate(report, Config(), TODAY).reasons
    assert behind.check_id == VERSION_BEHIND
    assert "25.2.3 is 20 patches behind 25.3.2.21" in behind.message
    assert behind.fix and "25.3.2.21" in behind.fix
    assert unsupported.check_id == VERSION_UNSUPPORTED
    assert "26, 27, 28" in unsupported.message


def test_behind_on_a_supported_line() -> None:
    report = runtime_report(
        (file_report("b"),), version="27.3.4", latest="27.3.4.3", behind=3, supported=True
    )
    assert evaluate(report, Config(), TODAY).exit_code == ExitCode.FAIL
    # `supported` only fails an unsupported line: being behind becomes a note.
    soft = evaluate(report, Config(version_policy=VersionPolicy.SUPPORTED), TODAY)
    assert soft.exit_code == ExitCode.PASS
    assert [(r.code, r.severity) for r in soft.reasons] == [("version-behind", Severity.NOTE)]


def test_unknown_version_is_a_warning_and_files_mode_has_no_version_rules() -> None:
    unknown = runtime_report((file_report("b"),), version=None)
    verdict = evaluate(unknown, Config(), TODAY)
    assert [(r.code, r.severity) for r in verdict.reasons] == [
        ("version-unknown", Severity.WARNING)
    ]
    assert verdict.exit_code == ExitCode.PASS
    assert evaluate(unknown, Config(fail_on=FailOn.WARNING), TODAY).exit_code == ExitCode.FAIL
    assert evaluate(files_report((file_report("nif.so"),)), Config(), TODAY).reasons == ()


def test_ambiguous_and_patched_versions_are_noted() -> None:
    report = runtime_report(
        (file_report("b"),), source="inferred", candidates=("27.3.4", "27.3.4.1"), patched=True
    )
    verdict = evaluate(report, Config(), TODAY)
    assert codes(verdict) == ["version-ambiguous", "otp-patched"]
    assert all(r.severity == Severity.NOTE for r in verdict.reasons)
    assert verdict.exit_code == ExitCode.PASS


def test_stale_release_data_is_a_warning() -> None:
    report = runtime_report((file_report("b"),), as_of=date(2026, 1, 1))
    fresh = evaluate(report, Config(stale_data_days=365), TODAY)
    assert fresh.reasons == ()
    stale = evaluate(report, Config(stale_data_days=30), TODAY)
    assert codes(stale) == ["stale-data"]
    assert "120 days old" in stale.reasons[0].message
    assert (
        evaluate(report, Config(stale_data_days=30, fail_on=FailOn.WARNING), TODAY).exit_code == 1
    )


def test_scan_warnings_become_reasons() -> None:
    report = runtime_report((file_report("b"),), warnings=("lib/x: permission denied",))
    verdict = evaluate(report, Config(), TODAY)
    assert [(r.code, r.message) for r in verdict.reasons] == [
        ("scan-warning", "lib/x: permission denied")
    ]


def test_waivers_move_findings_aside() -> None:
    report = runtime_report(
        (
            file_report("erts-13.1.5/bin/beam.smp", bind_now=Status.FAIL),
            file_report("lib/crypto-5.1.4/priv/lib/crypto.so", bind_now=Status.FAIL),
        ),
        **BEHIND,  # type: ignore[arg-type]
    )
    config = Config(
        waivers=(
            Waiver("bind-now", "lib/*/priv/lib/*.so", "NIFs load with RTLD_NOW", date(2026, 6, 1)),
            Waiver(VERSION_UNSUPPORTED, "*", "moving to 27 in Q3"),
        )
    )
    verdict = evaluate(report, config, TODAY)
    assert [(r.code, r.path) for r in verdict.reasons] == [
        ("check-failed", "erts-13.1.5/bin/beam.smp"),
        ("version-behind", None),
    ]
    assert sorted(r.code for r in verdict.waived) == ["check-failed", "unsupported-line"]
    assert verdict.exit_code == ExitCode.FAIL


def test_expired_waiver_no_longer_applies_and_is_reported() -> None:
    report = runtime_report(
        (file_report("lib/crypto-5.1.4/priv/lib/crypto.so", bind_now=Status.FAIL),)
    )
    config = Config(
        waivers=(Waiver("bind-now", "lib/*", "temporary", date(2026, 4, 30)),),
        source="ci/.otp-gate.toml",
    )
    verdict = evaluate(report, config, TODAY)
    assert verdict.waived == ()
    assert codes(verdict) == ["check-failed", "waiver-expired"]
    expired = verdict.reasons[1]
    assert expired.severity == Severity.WARNING
    assert "2026-04-30" in expired.message and "temporary" in expired.message
    assert expired.fix and "ci/.otp-gate.toml" in expired.fix
    # The day before it expired, the same waiver covered the finding.
    earlier = evaluate(report, config, date(2026, 4, 30))
    assert earlier.reasons == () and len(earlier.waived) == 1


def test_pure_same_inputs_same_verdict() -> None:
    report = runtime_report((file_report("a", pie=Status.FAIL, fortify=Status.FAIL),), **BEHIND)  # type: ignore[arg-type]
    before = dataclasses.replace(report)
    # The verdict the spec gives (docs/checks.md severities, docs/versions.md version rules),
    # spelled out, and the same on every call: nothing carries over between calls.
    expected = [
        ("check-failed", Severity.ERROR, "pie", "a"),
        ("version-behind", Severity.ERROR, "otp-latest-patch", None),
        ("unsupported-line", Severity.ERROR, "otp-supported-line", None),
        ("check-failed", Severity.WARNING, "fortify", "a"),
    ]
    for _ in range(2):
        verdict = evaluate(report, Config(), TODAY)
        assert verdict.exit_code == ExitCode.FAIL
        assert [(r.code, r.severity, r.check_id, r.path) for r in verdict.reasons] == expected
    assert report == before  # the report is not changed by being judged


def test_errors_are_listed_before_warnings_and_notes() -> None:
    report = runtime_report(
        (file_report("a", fortify=Status.FAIL), file_report("b", pie=Status.FAIL)),
        source="inferred",
        candidates=("27.3.4", "27.3.4.1"),
    )
    verdict = evaluate(report, Config(), TODAY)
    ranks = [r.severity.rank for r in verdict.reasons]
    assert ranks == sorted(ranks, reverse=True)
    assert verdict.reasons[0].check_id == "pie"


def test_grace_days_turn_a_fresh_patch_into_a_warning() -> None:
    from gate.model.otp import OtpVersion, Release

    releases = (
        Release(OtpVersion.parse("27.3.4"), date(2026, 3, 1)),
        Release(OtpVersion.parse("27.3.4.1"), date(2026, 4, 28)),  # three days before TODAY
    )
    report = runtime_report((file_report("b"),), version="27.3.4", latest="27.3.4.1", behind=1)
    strict = evaluate(report, Config(), TODAY, releases)
    assert strict.exit_code == ExitCode.FAIL
    graced = evaluate(report, Config(grace_days=7), TODAY, releases)
    assert graced.exit_code == ExitCode.PASS
    (reason,) = graced.reasons
    assert reason.code == "version-behind" and reason.severity == Severity.WARNING
    assert "grace period" in reason.message and "within 4 days" in reason.message
    # The window closes: seven days after the release the same runtime fails.
    assert evaluate(report, Config(grace_days=7), date(2026, 5, 5), releases).exit_code == 1
    # Without release dates no grace applies (an unknown date never turns a failure into a pass).
    assert evaluate(report, Config(grace_days=7), TODAY).exit_code == ExitCode.FAIL


def test_most_exposed_files_lead() -> None:
    from gate.model.runtime import Role

    report = runtime_report(
        (
            file_report("bin/typer", bind_now=Status.FAIL),
            file_report(
                "lib/crypto-5.1.2/priv/lib/crypto.so", role=Role.OTP_NIF, bind_now=Status.FAIL
            ),
            file_report("erts-13.1.5/bin/epmd", bind_now=Status.FAIL),
            file_report("erts-13.1.5/bin/beam.smp", role=Role.EMULATOR, bind_now=Status.FAIL),
        )
    )
    paths = [r.path for r in evaluate(report, Config(), TODAY).reasons]
    assert paths[:2] == ["erts-13.1.5/bin/beam.smp", "erts-13.1.5/bin/epmd"]
    assert paths[-1] == "bin/typer"


# -- properties ---------------------------------------------------------------------------------

CHECK_IDS = ("pie", "stack-protector", "fortify", "relro", "bind-now", "nx")
STATUSES = st.sampled_from([Status.PASS, Status.FAIL, Status.UNKNOWN, Status.NA])
FILES = st.lists(
    st.tuples(
        st.sampled_from(["erts-13.1.5/bin/beam.smp", "erts-13.1.5/bin/epmd", "lib/a/priv/a.so"]),
        st.fixed_dictionaries({c.replace("-", "_"): STATUSES for c in CHECK_IDS}),
    ),
    max_size=4,
    unique_by=lambda t: t[0],
)


def _report(files: list[tuple[str, dict[str, Status]]], behind: int) -> object:
    return runtime_report(
        tuple(file_report(path, **st_) for path, st_ in files),
        version="27.3.4",
        latest="27.3.4.3" if behind else "27.3.4",
        behind=behind,
    )


@settings(database=None, max_examples=150)
@given(FILES, st.integers(min_value=0, max_value=3), st.sampled_from(CHECK_IDS))
def test_one_more_failure_never_turns_fail_into_pass(
    files: list[tuple[str, dict[str, Status]]], behind: int, extra: str
) -> None:
    before = evaluate(_report(files, behind), Config(), TODAY)  # type: ignore[arg-type]
    worse = [(p, {**s, extra.replace("-", "_"): Status.FAIL}) for p, s in files]
    after = evaluate(_report(worse, behind), Config(), TODAY)  # type: ignore[arg-type]
    assert after.exit_code >= before.exit_code


@settings(database=None, max_examples=150)
@given(FILES, st.integers(min_value=0, max_value=3))
def test_fail_on_warning_is_stricter_and_never_is_lenient(
    files: list[tuple[str, dict[str, Status]]], behind: int
) -> None:
    report = _report(files, behind)
    error = evaluate(report, Config(fail_on=FailOn.ERROR), TODAY)  # type: ignore[arg-type]
    warning = evaluate(report, Config(fail_on=FailOn.WARNING), TODAY)  # type: ignore[arg-type]
    never = evaluate(report, Config(fail_on=FailOn.NEVER), TODAY)  # type: ignore[arg-type]
    assert warning.exit_code >= error.exit_code
    assert never.exit_code == ExitCode.PASS
    # The reasons do not depend on the threshold: only the decision does.
    assert error.reasons == warning.reasons == never.reasons


@settings(database=None, max_examples=150)
@given(FILES, st.integers(min_value=0, max_value=3), st.sampled_from(CHECK_IDS))
def test_a_waiver_only_moves_its_own_findings(
    files: list[tuple[str, dict[str, Status]]], behind: int, waived_check: str
) -> None:
    report = _report(files, behind)
    plain = evaluate(report, Config(), TODAY)  # type: ignore[arg-type]
    config = Config(waivers=(Waiver(waived_check, "*", "accepted"),))
    with_waiver = evaluate(report, config, TODAY)  # type: ignore[arg-type]
    assert with_waiver.exit_code <= plain.exit_code
    assert all(r.check_id == waived_check for r in with_waiver.waived)
    assert set(with_waiver.reasons) | set(with_waiver.waived) == set(plain.reasons)


def _finding(
    cve: str, severity: str, status: str = "affected", fixed_otp: str | None = "27.3.4.3"
) -> object:
    from gate.model.advisory import AdvisoryFinding, AdvisorySeverity, FindingStatus

    return AdvisoryFinding(
        advisory_id=cve,
        status=FindingStatus(status),
        severity=AdvisorySeverity(severity),
        title=cve,
        reason="test",
        application="ssh",
        installed_version="5.2.9",
        fixed_version="5.2.11.3",
        fixed_otp=fixed_otp,
    )


def test_missed_security_fixes_fail_even_under_supported() -> None:
    from gate.config import VERSION_ADVISORY
    from gate.model.report import Details

    base = runtime_report((file_report("erts-15.2.7.1/bin/beam.smp"),))

    def with_findings(found: tuple[object, ...]) -> object:
        return dataclasses.replace(base, details=Details(advisories=found))  # type: ignore[arg-type]

    findings = (
        _finding("CVE-2025-48040", "medium", fixed_otp="27.3.4.3"),
        _finding("CVE-2025-32433", "critical", fixed_otp="27.3.4.10"),
        _finding("CVE-2026-00001", "high", status="not-affected"),
    )
    soft = Config(version_policy=VersionPolicy.SUPPORTED)
    verdict = evaluate(with_findings(findings), soft, TODAY)  # type: ignore[arg-type]
    assert verdict.exit_code == ExitCode.FAIL
    (reason,) = [r for r in verdict.reasons if r.code == "missed-security-fixes"]
    assert reason.severity == Severity.ERROR and reason.check_id == VERSION_ADVISORY
    # Worst first, not-affected ones left out, the newest fix named in version order.
    assert (
        "2 security fixes (1 critical, 1 medium): CVE-2025-32433, CVE-2025-48040" in reason.message
    )
    assert reason.fix is not None and "27.3.4.10" in reason.fix
    # Only medium ones: a warning; an override and version-policy off silence it.
    medium = findings[:1]
    warn = evaluate(with_findings(medium), soft, TODAY)  # type: ignore[arg-type]
    assert warn.exit_code == ExitCode.PASS and codes(warn) == ["missed-security-fixes"]
    off = Config(version_policy=VersionPolicy.OFF)
    assert "missed-security-fixes" not in codes(evaluate(with_findings(findings), off, TODAY))  # type: ignore[arg-type]
