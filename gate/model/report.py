"""The result of a scan and the verdict on it: what every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.model.advisory import AdvisoryFinding
from gate.model.common import ExitCode, Severity, Status
from gate.model.elf import ElfKind, RecordedBuildFlags
from gate.model.otp import OtpIdentity, VersionStatus
from gate.model.route import Explanation
from gate.model.runtime import Origin, Role, RuntimeKind

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CheckResult:
    """One check on one file: a stable id, a status and the evidence that decided it."""

    id: str
    status: Status
    evidence: str


@dataclass(frozen=True)
class FileReport:
    """The checks of one ELF file; `error` is set (and `checks` empty) when it could not be read."""

    path: str
    role: Role
    kind: ElfKind | None
    machine: str | None
    checks: tuple[CheckResult, ...]
    error: str | None = None
    build_flags: RecordedBuildFlags | None = None

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)


@dataclass(frozen=True)
class Details:
    """Why and what it costs: the build route with its fixes, and the missed security fixes.

    `explanation` (issue 6): build route, known cause, recorded flags, remediations for the route.
    `advisories` (issue 5): advisories judged against the shipped application versions.
    """

    explanation: Explanation | None = None
    advisories: tuple[AdvisoryFinding, ...] = ()
    advisory_summary: str | None = None
    advisory_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """Everything a scan found, before any policy is applied."""

    target: str  # display root of the runtime, or "files"
    runtime_kind: RuntimeKind
    origin: Origin
    files: tuple[FileReport, ...]
    otp: OtpIdentity
    version_status: VersionStatus | None
    warnings: tuple[str, ...] = ()  # findings: unreadable files, a half-read runtime
    # Worth knowing, never a finding: live data that fell back to the bundled snapshot (issue 11).
    notices: tuple[str, ...] = ()
    details: Details = Details()  # frozen, so one shared default is safe
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True)
class Reason:
    """One reason the gate passes with a warning or fails; carries its fix."""

    code: str  # "check-failed", "version-behind", "unsupported-line", "inspect-error", ...
    severity: Severity
    message: str
    check_id: str | None = None
    path: str | None = None
    fix: str | None = None
    line: int | None = None  # a line of `path` in the repository (a pin), 1-based


@dataclass(frozen=True)
class Verdict:
    """The policy's decision: exit code plus every reason behind it."""

    exit_code: ExitCode
    reasons: tuple[Reason, ...]
    waived: tuple[Reason, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.exit_code == ExitCode.PASS

    @property
    def result(self) -> str:
        return "pass" if self.passed else "fail"
