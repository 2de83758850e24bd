"""The action's judgement of the repository's OTP pins (issue 10), apart from the runtime scan.

Every event (pull request, schedule, push) judges every pin with release data only: whichever
runtime was scanned, and also when acquiring it failed. The verdict of the step is the worse of
the runtime's and the pins'. On a pull request each exact pin that is behind gets a review
suggestion; on a schedule `drift-pr` keeps one pin-bump pull request; with `reports` the matrix
jobs' JSON reports are merged into one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gate.model.common import ExitCode
from gate.model.pin import Pin, PinEdit, PinsReport
from gate.model.report import Verdict

if TYPE_CHECKING:
    from gate.action_inputs import Context, Inputs
    from gate.model.merged import RuntimeSummary
    from gate.outside.github import GitHubClient


@dataclass(frozen=True)
class PinsOutcome:
    """The judged pins and the policy's verdict on them."""

    report: PinsReport
    verdict: Verdict

    @property
    def exit_code(self) -> ExitCode:
        return self.verdict.exit_code


def judge_step(
    inputs: Inputs, ctx: Context, environ: Mapping[str, str], warn: Callable[[str], None]
) -> PinsOutcome | None:
    """Every pin of the workspace judged; None without a workspace. A failure of the release data
    is a warning (the runtime's verdict still stands); a bad input or config file is raised, since
    the scan stops on it too."""
    from gate.action_inputs import pins_request
    from gate.clock import clock_from_environ
    from gate.engine import judge_pins
    from gate.errors import GateError, UsageError

    if not ctx.workspace.is_dir():
        return None
    try:
        report, verdict = judge_pins(
            ctx.workspace, pins_request(inputs, ctx), environ, clock_from_environ(environ)
        )
    except UsageError:
        raise
    except GateError as e:
        warn(f"Could not judge the repository's OTP pins: {e.message}")
        return None
    return PinsOutcome(report, verdict)


def pins_of(outcome: PinsOutcome | None, workspace: Path) -> Sequence[Pin]:
    """The pins found (judged, or found again when judging was not possible)."""
    from gate.inspection.pins import find_pins

    if outcome is not None:
        return [j.pin for j in outcome.report.judgements]
    return find_pins(workspace) if workspace.is_dir() else ()


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


def annotation_lines(outcome: PinsOutcome) -> list[str]:
    """The pins' annotations alone (when no runtime was scanned), at most 10 per type."""
    from gate.report.annotations import choose, pin_annotations

    return [a.render() for a in choose(pin_annotations(outcome.verdict))]


def read_report_glob(pattern: str, workspace: Path) -> list[RuntimeSummary]:
    """The runtimes of every JSON report matching `pattern` (relative to the workspace, `**`
    allowed); no match is a usage error naming the input."""
    from gate.cli import read_reports
    from gate.errors import UsageError

    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise UsageError(f"input reports: {pattern!r}: give a pattern inside the workspace")
    paths = sorted(p for p in workspace.glob(pattern) if p.is_file() and not p.is_symlink())
    if not paths:
        raise UsageError(
            f"input reports: no file matches {pattern!r} in the workspace",
            hint="download the matrix jobs' report-json artifacts first (actions/download-artifact)",
        )
    return read_reports(paths)


# -- the fix one click away ----------------------------------------------------------------------
def edits(outcome: PinsOutcome, workspace: Path) -> list[PinEdit]:
    """The one-line edits that bump every exact pin that is behind (read from the checkout)."""
    from gate.report.suggestions import edit_for

    found: list[PinEdit] = []
    lines_of: dict[str, list[str]] = {}
    for j in outcome.report.judgements:
        path = j.pin.path
        if path not in lines_of:
            try:
                lines_of[path] = (workspace / path).read_text("utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                lines_of[path] = []
        lines = lines_of[path]
        edit = edit_for(j, lines[j.pin.line - 1]) if 0 < j.pin.line <= len(lines) else None
        if edit is not None:
            found.append(edit)
    return found


def suggest_or_bump(
    client: GitHubClient,
    outcome: PinsOutcome,
    workspace: Path,
    pr_number: int | None,
    head_sha: str,
    bump: bool,
) -> str:
    """Post the review suggestions (pull request) or sync the pin-bump pull request (schedule);
    return the log line ("" when there was nothing to suggest)."""
    from gate.github.pin_fixes import publish_suggestions, sync_pull

    found = edits(outcome, workspace)
    if pr_number is not None and not bump:
        if not found:
            return ""
        out = publish_suggestions(client, pr_number, head_sha, found, outcome.report.judgements)
        return (
            f"otp-gate: {out.posted} pin suggestion(s) posted, {out.already} already there, "
            f"{out.outside_diff} on lines outside the pull request's diff"
        )
    pr = sync_pull(client, outcome.report, found)
    return f"otp-gate: pin-bump pull request {pr.action.value}" + (
        f" (#{pr.number})" if pr.number else ""
    )
