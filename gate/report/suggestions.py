"""The fix one click away (issue 10): a pin's line with only its version changed, as a GitHub
`suggestion` block for a review comment, and applied to a file for the pin-bump pull request (pure).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gate.model.pin import PinEdit, PinJudgement, PinKind, PinsReport, PinStatus
from gate.report.markdown import escape
from gate.report.pins import advisory_ids

_IMAGE_KINDS = frozenset({PinKind.DOCKERFILE, PinKind.DOCKERFILE_ARG, PinKind.IMAGE})
SUGGESTION_MARKER = "<!-- otp-hardening-gate:pin-suggestion:{key} -->"
PR_MARKER = "<!-- otp-hardening-gate:pin-bump -->"


def bump_line(line: str, old: str, new: str) -> str | None:
    """`line` with the version `old` replaced by `new` (once, as a whole version: `27.3.3` is not
    found inside `27.3.3.1` or `127.3.3`); None when the line does not name `old` exactly once."""
    rx = re.compile(r"(?<![\d.])" + re.escape(old) + r"(?![\d]|\.\d)")
    found = rx.findall(line)
    if len(found) != 1:
        return None
    return rx.sub(new, line)


def edit_for(j: PinJudgement, raw_line: str) -> PinEdit | None:
    """The edit for one judged pin: exact and behind only (an unsupported line needs a new major,
    which is a decision, not a bump)."""
    if not j.pin.exact or j.status != PinStatus.BEHIND or j.latest_patch is None:
        return None
    new_line = bump_line(raw_line, j.pin.version_text, str(j.latest_patch))
    if new_line is None or new_line == raw_line:
        return None
    return PinEdit(
        j.pin.path, j.pin.line, raw_line, new_line, j.pin.version_text, str(j.latest_patch)
    )


def suggestion_key(edit: PinEdit) -> str:
    return f"{edit.path}:{edit.line}:{edit.new_version}"


def suggestion_comment(edit: PinEdit, judgement: PinJudgement | None = None) -> str:
    """A review comment whose `suggestion` block changes only the version on the pin's line."""
    marker = SUGGESTION_MARKER.format(key=escape(suggestion_key(edit)).replace("--", "-\\-"))
    lines = [
        marker,
        f"**otp-gate:** OTP {edit.old_version} is behind {edit.new_version}, the newest patch of "
        f"OTP {edit.new_version.split('.')[0]}.",
    ]
    if judgement is not None and judgement.advisories:
        lines.append(f"Fixed since {edit.old_version}: {escape(advisory_ids(judgement))}.")
    fence = "`" * max(3, _longest_backticks(edit.new_line) + 1)
    lines += ["", f"{fence}suggestion", edit.new_line, fence]
    if judgement is not None and judgement.pin.kind in _IMAGE_KINDS:
        lines += ["", "Check that the image tag exists for the new version before you apply it."]
    return "\n".join(lines) + "\n"


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def apply_edits(text: str, edits: Sequence[PinEdit]) -> str:
    """`text` with each edit applied to its line, when the line still reads as expected."""
    lines = text.splitlines(keepends=True)
    for e in edits:
        if 0 < e.line <= len(lines):
            raw = lines[e.line - 1]
            body = raw.rstrip("\r\n")
            if body == e.old_line:
                lines[e.line - 1] = e.new_line + raw[len(body) :]
    return "".join(lines)


def pull_request_body(report: PinsReport, edits: Sequence[PinEdit]) -> str:
    """The pin-bump pull request's description: what moves, and the gate's findings."""
    from gate.report.pins import markdown_table

    by_where = {(j.pin.path, j.pin.line): j for j in report.judgements}
    lines = [
        PR_MARKER,
        "The OTP hardening gate bumps every exact OTP pin that is behind to the newest patch of "
        "its line (release data: "
        f"{escape(report.provenance.source)} as of {report.provenance.as_of}).",
        "",
        "| pin | line | from | to | fixed since |",
        "|---|---|---|---|---|",
    ]
    for e in edits:
        j = by_where.get((e.path, e.line))
        fixed = escape(advisory_ids(j)) if j is not None and j.advisories else "-"
        lines.append(
            f"| `{escape(e.path)}` | {e.line} | {e.old_version} | {e.new_version} | {fixed} |"
        )
    lines += ["", "<details><summary>Every pin</summary>", "", *markdown_table(report), ""]
    lines += [
        "</details>",
        "",
        "A later scheduled run updates this pull request; it never opens a second one.",
    ]
    return "\n".join(lines) + "\n"
