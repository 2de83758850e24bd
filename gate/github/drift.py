"""The scheduled drift check: one tracking issue while the runtime or a pin is behind the newest patch.

The issue is found again by its label *and* a hidden marker in the body (written by us), updated on
later runs, and closed with a comment once the gap is gone, so a schedule never opens a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gate.inspection.pins import Pin
from gate.model.report import Report
from gate.outside.github import GitHubClient, Issue
from gate.report.markdown import escape

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


def gaps(reports: Sequence[Report], pins: Sequence[Pin]) -> list[str]:
    """One line per gap: a runtime behind the newest patch of its line, or on an unsupported line.

    Exact pins are compared with the newest patch of their own line (when the release data knows
    it through a scanned runtime of the same line); floating pins follow new patches by themselves.
    """
    out: list[str] = []
    latest_by_line = {}
    for r in reports:
        vs = r.version_status
        if vs is None or vs.version is None:
            continue
        if vs.line is not None and vs.latest_patch is not None:
            latest_by_line[vs.line] = vs.latest_patch
        if vs.latest_patch is not None and vs.version < vs.latest_patch:
            out.append(
                f"The runtime `{escape(r.target)}` has OTP {vs.version}, {vs.patches_behind} patch(es) "
                f"behind {vs.latest_patch}."
            )
        if vs.supported is False:
            lines = ", ".join(str(n) for n in vs.supported_lines)
            out.append(f"OTP {vs.line} is no longer a supported line (supported: {lines}).")
    for p in pins:
        v = p.version
        if not p.exact or v is None or v.major not in latest_by_line:
            continue
        if v < latest_by_line[v.major]:
            out.append(
                f"`{escape(p.path)}` line {p.line} pins OTP {v}; the newest patch is {latest_by_line[v.major]}."
            )
    return out


def _body(found: list[str], run_url: str | None) -> str:
    lines = [
        MARKER,
        "The scheduled OTP hardening gate found the shipped Erlang/OTP runtime behind:",
        "",
    ]
    lines += [f"- {g}" for g in found]
    lines += [
        "",
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
    client: GitHubClient, reports: Sequence[Report], pins: Sequence[Pin], run_url: str | None
) -> DriftOutcome:
    """Open, update or close the tracking issue to match today's gaps."""
    found = gaps(reports, pins)
    login = client.login()
    open_issues = _ours(client.list_issues(LABEL, state="open"), login)
    if not found:
        if not open_issues:
            return DriftOutcome(DriftAction.NONE)
        if any(r.version_status is None or r.version_status.version is None for r in reports):
            # An unidentified version proves nothing: never close the issue on missing evidence.
            return DriftOutcome(DriftAction.UNCHANGED, open_issues[0].number)
        for issue in open_issues:
            where = f" ({run_url})" if run_url else ""
            client.create_comment(
                issue.number,
                f"The gap is gone: the runtime is on the newest patch of a supported line{where}. Closing.",
            )
            client.edit_issue(issue.number, state="closed")
        return DriftOutcome(DriftAction.CLOSED, open_issues[0].number)
    body = _body(found, run_url)
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
