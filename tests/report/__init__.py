"""Builders of small `Report`s for policy and renderer tests (the real Debian tree is in test_e2e)."""

from __future__ import annotations

from datetime import date

from gate.model.common import Status
from gate.model.elf import ElfKind
from gate.model.otp import DataProvenance, OtpIdentity, OtpVersion, VersionStatus
from gate.model.report import CheckResult, FileReport, Report
from gate.model.runtime import Origin, Role, RuntimeKind

ALL_PASS = {
    "pie": Status.PASS,
    "stack-protector": Status.PASS,
    "fortify": Status.PASS,
    "relro": Status.PASS,
    "bind-now": Status.PASS,
    "nx": Status.PASS,
}


def file_report(
    path: str,
    role: Role = Role.ERTS_EXECUTABLE,
    kind: ElfKind = ElfKind.PIE_EXECUTABLE,
    error: str | None = None,
    **overrides: Status,
) -> FileReport:
    """A file whose checks all pass except `overrides` (keyword `bind_now` = check `bind-now`)."""
    statuses = dict(ALL_PASS)
    statuses.update({k.replace("_", "-"): v for k, v in overrides.items()})
    checks = (
        ()
        if error
        else tuple(
            CheckResult(cid, st, f"evidence for {cid} on {path}") for cid, st in statuses.items()
        )
    )
    return FileReport(
        path, role, None if error else kind, None if error else "x86_64", checks, error=error
    )


def provenance(as_of: date = date(2026, 4, 24)) -> DataProvenance:
    return DataProvenance(source="bundled snapshot", as_of=as_of)


def runtime_report(
    files: tuple[FileReport, ...],
    version: str | None = "27.3.4.1",
    latest: str | None = "27.3.4.1",
    behind: int = 0,
    supported: bool | None = True,
    lines: tuple[int, ...] = (26, 27, 28),
    as_of: date = date(2026, 4, 24),
    source: str = "OTP_VERSION",
    candidates: tuple[str, ...] = (),
    patched: bool = False,
    warnings: tuple[str, ...] = (),
    target: str = "/usr/lib/erlang",
) -> Report:
    v = OtpVersion.parse(version) if version else None
    status = VersionStatus(
        version=v,
        line=v.major if v else None,
        latest_patch=OtpVersion.parse(latest) if latest and v else None,
        patches_behind=behind,
        supported=supported if v else None,
        supported_lines=lines,
        provenance=provenance(as_of),
    )
    return Report(
        target=target,
        runtime_kind=RuntimeKind.OTP_INSTALL,
        origin=Origin(method="directory", description=f"directory {target}"),
        files=files,
        otp=OtpIdentity(
            version=v,
            source=source,
            candidates=tuple(OtpVersion.parse(c) for c in candidates),
            patched=patched,
        ),
        version_status=status,
        warnings=warnings,
    )


def files_report(files: tuple[FileReport, ...]) -> Report:
    return Report(
        target="files",
        runtime_kind=RuntimeKind.FILES,
        origin=Origin(method="files", description="ELF files named on the command line"),
        files=files,
        otp=OtpIdentity(version=None, source="none"),
        version_status=None,
    )
