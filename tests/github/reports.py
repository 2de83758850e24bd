"""Small hand-made `Report`/`Verdict` values for reporting tests (no scan needed)."""

from __future__ import annotations

from datetime import date

from gate.model.common import ExitCode, Severity, Status
from gate.model.elf import ElfKind
from gate.model.otp import DataProvenance, OtpIdentity, OtpVersion, VersionStatus
from gate.model.report import CheckResult, FileReport, Reason, Report, Verdict
from gate.model.runtime import Origin, Role, RuntimeKind


def make_report(
    version: str | None = "25.2.3",
    latest: str | None = "25.3.2.21",
    supported: bool = False,
    paths: tuple[str, ...] = ("erts-13.1.5/bin/beam.smp",),
    target: str = "/usr/lib/erlang",
) -> Report:
    v = OtpVersion.parse(version) if version else None
    lp = OtpVersion.parse(latest) if latest else None
    vs = VersionStatus(
        version=v,
        line=v.major if v else None,
        latest_patch=lp,
        patches_behind=3 if v and lp and v < lp else 0,
        supported=supported if v else None,
        supported_lines=(26, 27, 28),
        provenance=DataProvenance("bundled snapshot", date(2026, 11, 1)),
    )
    files = tuple(
        FileReport(
            p,
            Role.EMULATOR,
            ElfKind.PIE_EXECUTABLE,
            "x86_64",
            (
                CheckResult("pie", Status.PASS, "ET_DYN + PT_INTERP"),
                CheckResult("stack-protector", Status.FAIL, "no __stack_chk_fail import"),
            ),
        )
        for p in paths
    )
    return Report(
        target,
        RuntimeKind.OTP_INSTALL,
        Origin("directory", target),
        files,
        OtpIdentity(v, "OTP_VERSION"),
        vs,
    )


def make_verdict(report: Report, failing: bool = True) -> Verdict:
    reasons: list[Reason] = []
    if failing:
        reasons += [
            Reason(
                "check-failed",
                Severity.ERROR,
                f"{f.path}: Stack protector (stack-protector) fails",
                check_id="stack-protector",
                path=f.path,
                fix='CFLAGS="-O2 -fstack-protector-strong"',
            )
            for f in report.files
        ]
        vs = report.version_status
        if vs and vs.version and vs.latest_patch and vs.version < vs.latest_patch:
            reasons.append(
                Reason(
                    "version-behind",
                    Severity.ERROR,
                    f"OTP {vs.version} is behind {vs.latest_patch}",
                    check_id="otp-latest-patch",
                    fix=f"Upgrade to OTP {vs.latest_patch}",
                )
            )
    return Verdict(ExitCode.FAIL if failing else ExitCode.PASS, tuple(reasons))
