"""The scheduled drift check: one tracking issue while the runtime or a pin is behind the newest patch.

The body lists the runtime and every pin with its status (issue 10); it closes itself once the
runtime and every exact pin are current.

The issue is found again by its label *and* a hidden marker in the body (written by us), updated on
later runs, and closed with a comment once the gap is gone, so a schedule never opens a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gate.model.merged import RuntimeSummary
from gate.model.pin import PinJudgement, PinStatus
from gate.model.report import Report
from gate.outside.github import GitHubClient, Issue
from gate.report.markdown import escape
from gate.report.pins import markdown_table_of, status_text

LABEL = "otp-gate-drift"
MARKER = "<!-- otp-hardening-gate:drift -->"


class DriftAction(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CLOSED = "closed"
    NONE = "none"  # no gap and no open issue


@dataclass(frozen=True)
class DriftOutcome:
    action: DriftAction
    number: int | None = None


def _runtime_line(r: Report | RuntimeSummary) -> tuple[str, bool]:
    """One line on a runtime (scanned here, or read from a matrix job's report), and whether it
    is a gap."""
    if isinstance(r, RuntimeSummary):
        version, latest, behind = r.otp_version, r.latest_patch, r.patches_behind or 0
        supported, line, lines = r.supported, r.line, r.supported_lines
    else:
        vs = r.version_status
        if vs is None or vs.version is None:
            version = None
        else:
            version, behind, supported = str(vs.version), vs.patches_behind, vs.supported
            latest = str(vs.latest_patch) if vs.latest_patch else None
            line, lines = vs.line, vs.supported_lines
    name = f"The runtime `{escape(r.target)}`"
    if version is None:
        return f"{name}: OTP version unknown.", False
    if supported is False:
        listed = ", ".join(str(n) for n in lines)
        return (
            f"{name} has OTP {version}: OTP {line} is no longer a supported line (supported: {listed}).",
            True,
        )
    if latest is not None and behind > 0:
        return f"{name} has OTP {version}, {behind} patch(es) behind {latest}.", True
    return f"{name} has OTP {version}, the newest patch of its line.", False


def _known(r: Report | RuntimeSummary) -> bool:
    if isinstance(r, RuntimeSummary):
        return r.otp_version is not None
    return r.version_status is not None and r.version_status.version is not None


def _is_gap(j: PinJudgement) -> bool:
    # A floating pin follows new patches by itself; only exact pins can drift.
    return j.pin.exact and j.status in (PinStatus.BEHIND, PinStatus.UNSUPPORTED)


def gaps(reports: Sequence[Report | RuntimeSummary], pins: Sequence[PinJudgement]) -> list[str]:
    """One line per gap: a runtime behind the newest patch of its line or on an unsupported line,
    and every exact pin that is behind or on an unsupported line (each judged on its own)."""
    out = [text for text, gap in map(_runtime_line, reports) if gap]
    for j in pins:
        if _is_gap(j):
            out.append(
                f"`{escape(j.pin.path)}` line {j.pin.line} pins OTP {j.pin.version_text}: {escape(status_text(j))}."
            )
    return out


def _body(
    reports: Sequence[Report | RuntimeSummary], pins: Sequence[PinJudgement], run_url: str | None
) -> str:
    lines = [
        MARKER,
        "The scheduled OTP hardening gate found the Erlang/OTP runtime or its pins behind.",
        "",
    ]
    if reports:
        lines += ["**Runtime**", ""] + [f"- {_runtime_line(r)[0]}" for r in reports] + [""]
    else:
        lines += ["**Runtime**: not scanned in this run (see the run's log).", ""]
    if pins:
        lines += ["**Pins**", "", *markdown_table_of(pins), ""]
    lines += [
        "Upgrade to the newest patch (and update every pin listed), then let the next scheduled run close this issue.",
    ]
    if run_url:
        lines += ["", f"Latest run: {run_url}"]
    return "\n".join(lines) + "\n"


def _ours(issues: list[Issue], login: str | None) -> list[Issue]:
    mine = [
        i for i in issues if MARKER in i.body and (i.author == login if login else i.author_is_bot)
    ]
    return sorted(mine, key=lambda i: i.number)


def sync(
    client: GitHubClient,
    reports: Sequence[Report | RuntimeSummary],
    pins: Sequence[PinJudgement],
    run_url: str | None,
) -> DriftOutcome:
    """Open, update or close the tracking issue to match today's gaps."""
    found = gaps(reports, pins)
    login = client.login()
    open_issues = _ours(client.list_issues(LABEL, state="open"), login)
    if not found:
        if not open_issues:
            return DriftOutcome(DriftAction.NONE)
        if not reports or not all(_known(r) for r in reports):
            # No runtime, or an unidentified version, proves nothing: never close on missing evidence.
            return DriftOutcome(DriftAction.UNCHANGED, open_issues[0].number)
        for issue in open_issues:
            where = f" ({run_url})" if run_url else ""
            client.create_comment(
                issue.number,
                f"The gap is gone: the runtime and every exact pin are on the newest patch of a supported line{where}. Closing.",
            )
            client.edit_issue(issue.number, state="closed")
        return DriftOutcome(DriftAction.CLOSED, open_issues[0].number)
    body = _body(reports, pins, run_url)
    title = "OTP runtime is behind the newest patch"
    if not open_issues:
        created = client.create_issue(title, body, [LABEL])
        return DriftOutcome(DriftAction.OPENED, created.number)
    keep, extra = open_issues[0], open_issues[1:]
    for issue in extra:  # a second one from an earlier race: fold it into the first
        client.create_comment(issue.number, f"Duplicate of #{keep.number}. Closing.")
        client.edit_issue(issue.number, state="closed")
    if keep.body == body:
        return DriftOutcome(DriftAction.UNCHANGED, keep.number)
    client.edit_issue(keep.number, body=body)
    return DriftOutcome(DriftAction.UPDATED, keep.number)
