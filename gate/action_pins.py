"""The action's judgement of the repository's OTP pins (issue 10), apart from the runtime scan.

Every event (pull request, schedule, push) judges every pin with release data only: whichever
runtime was scanned, and also when acquiring it failed. The verdict of the step is the worse of
the runtime's and the pins'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gate.model.pin import PinsReport
from gate.model.report import ExitCode, Verdict


@dataclass(frozen=True)
class PinsOutcome:
    """The judged pins and the policy's verdict on them."""

    report: PinsReport
    verdict: Verdict

    @property
    def exit_code(self) -> ExitCode:
        return self.verdict.exit_code


def judge(
    policy_args: Sequence[str], workspace: Path, environ: Mapping[str, str]
) -> PinsOutcome | None:
    """`otp-gate pins WORKSPACE` with the step's policy options; None without a workspace."""
    from gate.cli import run_pins

    if not workspace.is_dir():
        return None
    report, verdict = run_pins(["pins", str(workspace), *policy_args], environ)
    return PinsOutcome(report, verdict)


def judge_or_warn(
    policy_args: Sequence[str],
    workspace: Path,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
) -> PinsOutcome | None:
    """`judge`, where a failure is a warning (the runtime's verdict still stands); a usage error
    (a bad config file) is raised, since the scan stops on it too."""
    from gate.errors import GateError, UsageError

    try:
        return judge(policy_args, workspace, environ)
    except UsageError:
        raise
    except GateError as e:
        warn(f"Could not judge the repository's OTP pins: {e.message}")
        return None


def annotation_lines(outcome: PinsOutcome) -> list[str]:
    """The pins' annotations alone (when no runtime was scanned), at most 10 per type."""
    from gate.report.annotations import choose, pin_annotations

    return [a.render() for a in choose(pin_annotations(outcome.verdict))]


def summary(outcome: PinsOutcome) -> str:
    """The pins' section of the job summary."""
    from gate.report.pins import markdown

    return markdown(outcome.report, outcome.verdict)


def worse(code: ExitCode, outcome: PinsOutcome | None) -> ExitCode:
    """The step's exit code: the worse of the runtime's and the pins'."""
    return code if outcome is None else max(code, outcome.exit_code)


def runtime_at(workspace: Path) -> tuple[str, int] | None:
    """The Dockerfile line the shipped runtime comes from, for the hardening annotations."""
    from gate.inspection.pins import runtime_location

    return runtime_location(workspace) if workspace.is_dir() else None
