"""One runtime's verdict as a matrix job's JSON report states it: what `otp-gate merge` combines."""

from __future__ import annotations

from dataclasses import dataclass

from gate.model.common import ExitCode
from gate.model.report import Reason


@dataclass(frozen=True)
class RuntimeSummary:
    """The parts of a runtime report that one combined answer needs (pure data)."""

    source: str  # the report file it was read from
    target: str
    origin: str  # e.g. "image my-app:amd64", "directory"
    otp_version: str | None
    line: int | None
    latest_patch: str | None
    patches_behind: int | None
    supported: bool | None
    supported_lines: tuple[int, ...]
    exit_code: ExitCode
    reasons: tuple[Reason, ...]

    @property
    def result(self) -> str:
        return "pass" if self.exit_code == ExitCode.PASS else "fail"
