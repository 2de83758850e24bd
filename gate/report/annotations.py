"""Choose and rank the annotations the runner shows, and render them as workflow commands (pure).

The runner shows at most 10 annotations of each type per step
(https://docs.github.com/actions/reference/workflow-commands-for-github-actions#setting-an-error-message),
so the most important come first and one summary annotation per type stands for the rest. Version
findings point at the lines that pin OTP; hardening findings at the Dockerfile line that produces the
runtime where there is one (issue 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gate.inspection.pins import Pin, PinKind
from gate.model.common import Severity
from gate.model.report import Reason, Report, Verdict
from gate.report.commands import command

#: Annotations of one type the runner shows per step.
RUNNER_LIMIT = 10

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}
_VERSION_CODES = frozenset({"version-behind", "unsupported-line", "version-unknown"})
#: Within a level: version findings first (one line to fix), then files that could not be
#: checked (the gate fails closed on them), then checks, then the rest.
_CODE_RANK = {
    "version-behind": 0,
    "unsupported-line": 0,
    "version-unknown": 1,
    "inspect-error": 2,
    "check-failed": 3,
}


@dataclass(frozen=True)
class Annotation:
    """One annotation before formatting; `level` is `error`, `warning` or `notice`."""

    level: str
    title: str
    message: str
    file: str | None = None
    line: int | None = None
    rank: int = 9

    def render(self) -> str:
        return command(
            self.level, self.message, {"file": self.file, "line": self.line, "title": self.title}
        )


def _version_pins(reason: Reason, report: Report, pins: Sequence[Pin]) -> list[Pin]:
    line = report.version_status.line if report.version_status else None
    if reason.code == "version-behind":
        # A floating pin (`27`) already follows new patches: only exact pins are to blame.
        chosen = [
            p for p in pins if p.exact and (line is None or (p.version and p.version.major == line))
        ]
    else:
        chosen = [p for p in pins if line is None or (p.version and p.version.major == line)]
    return chosen


def _level(severity: Severity, verdict: Verdict) -> str | None:
    """The annotation level follows the policy: a job that passes (`fail-on: never`, or errors
    waived below the threshold) shows no red `::error` (issue 11)."""
    level = _LEVEL.get(severity)
    return "warning" if level == "error" and verdict.passed else level


def build(
    report: Report,
    verdict: Verdict,
    pins: Sequence[Pin] = (),
    runtime_at: tuple[str, int] | None = None,
) -> list[Annotation]:
    """Every annotation, most important first: failing checks are grouped by check id.

    Hardening findings go to `runtime_at` (the Dockerfile line the runtime comes from), else to
    the pin that produces the runtime; version findings go to the exact pins of the same line
    (when the pins are not judged on their own, see `pin_annotations`).
    """
    out: list[Annotation] = []
    if runtime_at is None:
        pin = next((p for p in pins if p.produces_runtime), None)
        runtime_at = (pin.path, pin.line) if pin else None
    by_check: dict[tuple[str, Severity], list[Reason]] = {}
    for reason in verdict.reasons:
        level = _level(reason.severity, verdict)
        if level is None:
            continue
        rank = _CODE_RANK.get(reason.code, 5)
        if reason.code == "check-failed" and reason.check_id:
            by_check.setdefault((reason.check_id, reason.severity), []).append(reason)
            continue
        fix = f" Fix: {reason.fix}" if reason.fix else ""
        title = f"otp-gate: {reason.code}"
        if reason.code in _VERSION_CODES and pins:
            targets = _version_pins(reason, report, pins)
            for pin in targets:
                out.append(
                    Annotation(
                        level,
                        title,
                        f"{reason.message} (pinned here: {pin.version_text}).{fix}",
                        pin.path,
                        pin.line,
                        rank,
                    )
                )
            if targets:
                continue
        out.append(
            Annotation(
                level, title, reason.message + "." + fix if fix else reason.message, rank=rank
            )
        )
    for (check_id, severity), reasons in by_check.items():
        paths = [r.path or "?" for r in reasons]
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        check_fix = reasons[0].fix
        message = f"{check_id} fails on {len(paths)} file{'s' if len(paths) != 1 else ''}: {shown}."
        if check_fix:
            message += f" Fix: {check_fix}"
        out.append(
            Annotation(
                _level(severity, verdict) or "notice",
                f"otp-gate: {check_id}",
                message,
                runtime_at[0] if runtime_at else None,
                runtime_at[1] if runtime_at else None,
                _CODE_RANK["check-failed"],
            )
        )
    out.extend(Annotation("notice", "otp-gate: note", n, rank=9) for n in report.notices)
    order = {"error": 0, "warning": 1, "notice": 2}
    # sorted() is stable: within a rank the verdict's order (files, then checks) is kept.
    return sorted(out, key=lambda a: (order[a.level], a.rank))


def floating_pins(pins: Sequence[Pin]) -> list[Annotation]:
    """A notice on each pin that floats (`erlang 27`, setup-beam `otp-version: '27'`): CI installs
    the newest matching patch when it runs, so such a pin is reported as floating, never as behind
    (issue 5); `rebar.config`'s `minimum_otp_vsn` is a floor, not a pin, and is left out."""
    return [
        Annotation(
            "notice",
            "otp-gate: floating OTP pin",
            f"OTP pin '{pin.version_text}' floats: CI installs the newest matching patch at run "
            "time, so it is not judged as behind. Pin an exact version (e.g. 27.3.4.3) to make "
            "builds reproducible and let the gate compare it.",
            pin.path,
            pin.line,
            _CODE_RANK.get("floating-pin", 8),
        )
        for pin in pins
        if not pin.exact and pin.kind != PinKind.REBAR_MINIMUM
    ]


def pin_annotations(verdict: Verdict) -> list[Annotation]:
    """One annotation per judged pin, on the pin's own line (issue 10): behind and unsupported
    exact pins at their severity, floating pins as notices."""
    out = []
    for reason in verdict.reasons:
        level = _level(reason.severity, verdict)
        if level is None or reason.path is None or reason.line is None:
            continue
        title = (
            "otp-gate: floating OTP pin"
            if reason.code == "floating-pin"
            else f"otp-gate: {reason.code}"
        )
        fix = f" Fix: {reason.fix}" if reason.fix else ""
        out.append(
            Annotation(
                level,
                title,
                f"{reason.message}.{fix}",
                reason.path,
                reason.line,
                _CODE_RANK.get(reason.code, 8),
            )
        )
    return out


def choose(
    annotations: Sequence[Annotation], limit: int = RUNNER_LIMIT, where: str = "the job summary"
) -> list[Annotation]:
    """At most `limit` per level: the first `limit - 1` and one that counts the rest."""
    chosen: list[Annotation] = []
    for level in ("error", "warning", "notice"):
        of_level = [a for a in annotations if a.level == level]
        if len(of_level) <= limit:
            chosen.extend(of_level)
            continue
        chosen.extend(of_level[: limit - 1])
        rest = len(of_level) - (limit - 1)
        chosen.append(
            Annotation(
                level,
                f"otp-gate: {rest} more",
                f"{rest} more {level} finding{'s' if rest != 1 else ''}: see {where}.",
            )
        )
    return chosen


def render(
    report: Report, verdict: Verdict, pins: Sequence[Pin] = (), where: str = "the job summary"
) -> list[str]:
    """The workflow-command lines to print, escaped, at most `RUNNER_LIMIT` per type."""
    return [a.render() for a in choose(build(report, verdict, pins), where=where)]


def render_all(
    results: Sequence[tuple[Report, Verdict]],
    pins: Sequence[Pin] = (),
    where: str = "the job summary",
    *,
    pin_verdict: Verdict | None = None,
    runtime_at: tuple[str, int] | None = None,
) -> list[str]:
    """Like `render` for several runtimes (an image can hold more than one): the runner's limit is
    per step, so the choice is made once over all of them.

    With `pin_verdict` (the pins judged on their own) each pin gets its own annotation and the
    runtime's version findings are not repeated on the pins.
    """
    if pin_verdict is not None:
        everything = [
            a for report, verdict in results for a in build(report, verdict, (), runtime_at)
        ]
        everything += pin_annotations(pin_verdict)
    else:
        everything = [
            a for report, verdict in results for a in build(report, verdict, pins, runtime_at)
        ]
        everything += floating_pins(pins)  # once per step, not per runtime
    order = {"error": 0, "warning": 1, "notice": 2}
    everything.sort(key=lambda a: (order[a.level], a.rank))
    return [a.render() for a in choose(everything, where=where)]
