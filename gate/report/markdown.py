"""The one Markdown renderer, shared by the job summary and the PR comment.

Verdict first, then the OTP version line, the fixes, and the files x checks table; `max_chars`
cuts table rows first (then whole lines) and says so, so a PR comment stays under GitHub's
65,536-character limit and a job summary under 1 MiB. Untrusted text (file names, evidence from
binaries) is escaped so it cannot open links, mention people or break the table.
"""

from __future__ import annotations

from gate.model.report import Details, Report, Verdict
from gate.model.route import BuildRoute
from gate.report import (
    advisory_subject,
    affected_advisories,
    cell_level,
    check_ids,
    finding_levels,
    group_reasons,
    origin_line,
    printable,
    version_line,
)

MARKS = {
    "pass": "✅",
    "unknown": "❔",
    "n/a": "\u2796",
    "error": "❌",
    "warning": "⚠️",
    "note": "\u2139\ufe0f",
    "off": "\u2139\ufe0f",
    "waived": "💤",
}
_SEVERITY_MARK = {"error": "❌", "warning": "⚠️", "note": "\u2139\ufe0f", "off": "\u2139\ufe0f"}
_MD_SPECIAL = set("\\`*_{}[]<>#|~@:&")
_MAX_LISTED = 8
_MAX_ADVISORIES = 15

DEFAULT_CUT_NOTE = (
    "The report was cut to fit; the complete report is in the job summary and the JSON report."
)


def escape(text: str) -> str:
    """Untrusted text made inert in GitHub Markdown (and on one line)."""
    # `@` would mention a user or team, `&` start an entity, `:` an emoji or autolink, `|` end a cell.
    out = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in printable(text))
    # At the start of a line `-` and `+` open a list; links need `[`, so parentheses stay as they are.
    return "\\" + out if out[:1] in ("-", "+") else out


def _fix_block(fix: str) -> list[str]:
    lines = fix.strip().splitlines()
    if len(lines) == 1 and "`" not in lines[0]:
        return [f"  Fix: {lines[0]}"]
    # Our own text (from the check registry): keep it verbatim in a code-free quote.
    return ["", *(f"  > {line}" if line else "  >" for line in lines)]


def _header(report: Report, verdict: Verdict) -> list[str]:
    icon = "✅" if verdict.passed else "❌"
    errors = sum(1 for r in verdict.reasons if r.severity.value == "error")
    warnings = sum(1 for r in verdict.reasons if r.severity.value == "warning")
    lines = [
        f"### {icon} OTP hardening gate: {verdict.result}",
        "",
        f"**Runtime:** {escape(origin_line(report))}  ",
    ]
    vline = version_line(report)
    if vline:
        lines.append(f"**Version:** {escape(vline)}  ")
    lines.append(
        f"**Findings:** {errors} error(s), {warnings} warning(s), {len(verdict.waived)} waived; "
        f"{len(report.files)} file(s) checked; exit code {int(verdict.exit_code)}"
    )
    lines.extend(f"\n> **Note:** {escape(n)}" for n in report.notices)
    return lines


def _fixes(verdict: Verdict) -> list[str]:
    groups = group_reasons(verdict.reasons)
    if not groups:
        return []
    lines = ["", "#### What to fix", ""]
    for g in groups:
        mark = _SEVERITY_MARK.get(g.severity.value, "")
        lines.append(f"- {mark} **{escape(g.summary)}**")
        if g.code == "check-failed" and g.paths:
            listed = ", ".join(escape(p) for p in g.paths[:_MAX_LISTED])
            more = len(g.paths) - _MAX_LISTED
            lines.append(f"  Files: {listed}{f' and {more} more' if more > 0 else ''}")
        if g.fix and g.code == "check-failed" and "`" not in g.fix and "\n" not in g.fix:
            # A check's fix is a flag string: as code, its underscores and quotes stay literal.
            lines.append(f"  Fix: `{g.fix}`")
        elif g.fix:
            lines.extend(_fix_block(g.fix))
    return lines


def _table(report: Report, verdict: Verdict) -> tuple[list[str], list[str]]:
    """(header lines, one line per file)."""
    ids = check_ids([report])
    if not report.files:
        return ["", "No ELF files were found."], []
    levels = finding_levels(verdict)
    head = [
        "",
        "#### Files",
        "",
        "| file | role | " + " | ".join(f"`{i}`" for i in ids) + " |",
        "|---|---|" + "---|" * len(ids),
    ]
    rows: list[str] = []
    for f in report.files:
        if f.error is not None:
            cells = [f"error: {escape(f.error)}"] + [""] * (len(ids) - 1) if ids else []
        else:
            cells = []
            for cid in ids:
                c = f.check(cid)
                cells.append(MARKS[cell_level(c.status, levels.get((f.path, cid)))] if c else "")
        rows.append(f"| {escape(f.path)} | {f.role.value} | " + " | ".join(cells) + " |")
    return head, rows


def _fence(text: str, lang: str = "") -> list[str]:
    # A fence longer than any backtick run inside, so file content cannot close it early.
    longest = max((len(m) for m in text.split("\n") for m in _backtick_runs(m)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, *(printable(line) for line in text.splitlines()), fence]


def _backtick_runs(line: str) -> list[str]:
    runs, cur = [], ""
    for ch in line:
        if ch == "`":
            cur += ch
        elif cur:
            runs.append(cur)
            cur = ""
    if cur:
        runs.append(cur)
    return runs


def _details(details: Details) -> list[str]:
    lines: list[str] = []
    if details.advisory_summary is not None:
        lines += ["", "#### Security advisories", "", escape(details.advisory_summary), ""]
        affected = affected_advisories(details)
        for f in affected[:_MAX_ADVISORIES]:
            lines.append(
                f"- **{escape(f.advisory_id)}** ({f.severity.value}) "
                f"{escape(advisory_subject(f))}: {escape(f.title)}"
            )
        if len(affected) > _MAX_ADVISORIES:
            lines.append(f"- and {len(affected) - _MAX_ADVISORIES} more (see the JSON report)")
    exp = details.explanation
    if exp is None:
        return lines
    r = exp.route
    lines += ["", "#### Why, and how to fix it", ""]
    if r.route != BuildRoute.UNKNOWN:
        pkg = f" ({escape(r.package)} {escape(r.package_version or '')})" if r.package else ""
        lines.append(
            f"**Build route:** {escape(r.route.value)}{pkg}, {r.confidence.value} confidence  "
        )
    if r.cause:
        lines.append(f"**Why:** {escape(r.cause)}  ")
    lines.append(f"**Recorded flags:** {escape(r.recorded_flags)}")
    if exp.exposed:
        shown = ", ".join(
            f"{escape(e.path)} ({escape(', '.join(e.check_ids))})" for e in exp.exposed[:5]
        )
        more = len(exp.exposed) - 5
        lines += ["", f"**Most exposed:** {shown}{f' and {more} more' if more > 0 else ''}"]
    for rem in exp.remediations:
        lines += ["", f"- **{escape(rem.title)}** ({escape(', '.join(rem.check_ids))})"]
        if rem.where:
            lines.append(f"  Where: {escape(rem.where)}")
        if rem.snippet:
            lines += ["", *("  " + x for x in _fence(rem.snippet, "sh"))]
        if rem.note:
            lines += ["", f"  {escape(rem.note)}"]
    if exp.dockerfile_fix is not None:
        fix = exp.dockerfile_fix
        lines += [
            "",
            f"Suggested change to `{escape(fix.path)}` (lines {fix.start_line}-{fix.end_line}):",
            "",
            *_fence(fix.diff, "diff"),
        ]
    return lines


def _legend() -> list[str]:
    return [
        "",
        "✅ pass · ❌ fails the gate · ⚠️ warning · \u2139\ufe0f informational · ❔ unknown · \u2796 not applicable · 💤 waived",
    ]


def render(
    report: Report,
    verdict: Verdict,
    *,
    max_chars: int | None = None,
    cut_note: str = DEFAULT_CUT_NOTE,
) -> str:
    """Markdown for one runtime, at most `max_chars` characters when given."""
    head = _header(report, verdict)
    fixes = [*_fixes(verdict), *_details(report.details)]
    table_head, rows = _table(report, verdict)
    tail = _legend()
    full = "\n".join([*head, *fixes, *table_head, *rows, *tail]) + "\n"
    if max_chars is None or len(full) <= max_chars:
        return full

    # Over the limit: keep the verdict and the fixes, drop table rows from the end, then say so.
    def assemble(n_rows: int, body: list[str]) -> str:
        dropped = len(rows) - n_rows
        note = f"\n\n_{len(rows) - n_rows} more file(s) not shown. {cut_note}_\n" if dropped else ""
        return "\n".join([*body, *table_head, *rows[:n_rows]]) + note

    body = [*head, *fixes]
    lo, hi = 0, len(rows)
    while lo < hi:  # the most rows that fit
        mid = (lo + hi + 1) // 2
        if len(assemble(mid, body)) <= max_chars:
            lo = mid
        else:
            hi = mid - 1
    text = assemble(lo, body)
    if len(text) <= max_chars:
        return text
    # Even the fixes are too long: cut whole lines, and keep room for the note.
    note = f"\n\n_{cut_note}_\n"
    budget = max_chars - len(note)
    if budget <= 0:
        return note.strip()[:max_chars]
    kept: list[str] = []
    used = 0
    open_fence: str | None = None
    for line in body:
        fence = line.strip()
        closing = len(open_fence) + 1 if open_fence else 0  # room to close a fence we cut in
        if used + len(line) + 1 + closing > budget:
            break
        kept.append(line)
        used += len(line) + 1
        if fence.startswith("```"):
            marker = fence[: len(fence) - len(fence.lstrip("`"))]
            open_fence = None if open_fence == marker else (open_fence or marker)
    if open_fence:
        kept.append(open_fence)  # never leave a code block open: it would swallow the note
    return "\n".join(kept) + note
