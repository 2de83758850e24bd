"""The default terminal output: OTP version on top, files x checks table, verdict and fixes below.

Every string that came from the scanned tree is escaped (`printable`), so a file name cannot move
the cursor, clear the screen or forge a line of output.
"""

from __future__ import annotations

from gate.model.report import Details, Report, Verdict
from gate.report import (
    SHORT_LABELS,
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
from gate.report.commands import neutralize_commands

#: Table cell marks: short, fixed width, readable without colour.
MARKS = {
    "pass": "ok",
    "unknown": "?",
    "n/a": "-",
    "error": "FAIL",
    "warning": "warn",
    "note": "info",
    "off": "info",
    "waived": "waiv",
}

_MAX_LISTED = 5  # files named per failing check before "+N more"
_MAX_ADVISORIES = 10  # affected advisories listed (most severe first) before "and N more"


def _table(report: Report, verdict: Verdict) -> list[str]:
    ids = check_ids([report])
    levels = finding_levels(verdict)
    headers = ["file", "role", "kind", *(SHORT_LABELS.get(i, i) for i in ids)]
    rows: list[list[str]] = []
    for f in report.files:
        row = [printable(f.path), f.role.value, f.kind.value if f.kind else "-"]
        if f.error is not None:
            row.append("ERROR: " + printable(f.error))
            rows.append(row)
            continue
        for cid in ids:
            c = f.check(cid)
            row.append(MARKS[cell_level(c.status, levels.get((f.path, cid)))] if c else "")
        rows.append(row)
    fixed = 3  # file, role and kind columns are padded; check columns too
    widths = [len(h) for h in headers]
    for row in rows:
        for n, cell in enumerate(row[: len(headers)]):
            if n < fixed or len(row) == len(headers):
                widths[n] = max(widths[n], len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        if len(row) == len(headers):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        else:  # an unreadable file: the error spans the check columns
            lines.append(
                "  ".join(c.ljust(w) for c, w in zip(row[:fixed], widths[:fixed], strict=True))
                + "  "
                + row[fixed]
            )
    return lines


def _evidence(report: Report, paths: tuple[str, ...], check_id: str | None) -> set[str]:
    wanted = set(paths)
    found: set[str] = set()
    for f in report.files:
        c = f.check(check_id) if check_id and f.path in wanted else None
        if c is not None:
            found.add(c.evidence)
    return found


def _details(details: Details) -> list[str]:
    out: list[str] = []
    if details.advisory_summary is not None:
        out.append("")
        out.append(f"security advisories: {printable(details.advisory_summary)}")
        affected = affected_advisories(details)
        for f in affected[:_MAX_ADVISORIES]:
            subject = advisory_subject(f)
            out.append(printable(f"  {f.advisory_id} [{f.severity.value}] {subject}: {f.title}"))
        if len(affected) > _MAX_ADVISORIES:
            out.append(f"  and {len(affected) - _MAX_ADVISORIES} more (all of them: --format json)")
    if details.explanation is not None:
        from gate.inspection.route_explain import explanation_lines

        out.append("")
        out.append("why, and how to fix it:")
        out.extend("  " + printable(line) for line in explanation_lines(details.explanation))
    return out


def render(report: Report, verdict: Verdict) -> str:
    """The human-readable report for one runtime (or the files of `otp-gate elf`)."""
    out: list[str] = [f"otp-gate: {origin_line(report)}"]
    vline = version_line(report)
    if vline:
        out.append(vline)
    out.append("")
    if report.files:
        out.extend(_table(report, verdict))
        shown = [k for k in SHORT_LABELS if any(f.check(k) for f in report.files)]
        legend = "ok pass, FAIL fails the gate, warn warning, info informational, ? unknown, - n/a"
        if shown:
            legend += ", " + ", ".join(f"{SHORT_LABELS[k]} = {k}" for k in shown)
        out.append(legend)
    else:
        out.append("no ELF files found")
    out.append("")

    n_files = len(report.files)
    out.append(
        f"verdict: {verdict.result.upper()} (exit {int(verdict.exit_code)}), "
        f"{n_files} file{'s' if n_files != 1 else ''} checked"
    )
    for group in group_reasons(verdict.reasons):
        out.append(f"  [{group.severity.value}] {printable(group.summary)}")
        if group.code == "check-failed":
            listed = ", ".join(printable(p) for p in group.paths[:_MAX_LISTED])
            more = len(group.paths) - _MAX_LISTED
            out.append(f"      files: {listed}{f' (+{more} more)' if more > 0 else ''}")
            evidence = _evidence(report, group.paths, group.check_id)
            if len(evidence) == 1:  # the same everywhere: worth one line; else see --format json
                out.append(f"      evidence: {printable(evidence.pop())}")
        if group.fix:
            fix_lines = group.fix.strip().splitlines()
            out.append(f"      fix: {fix_lines[0]}")
            out.extend(f"           {line}" for line in fix_lines[1:])
    if verdict.waived:
        out.append(f"  waived: {len(verdict.waived)} finding(s) accepted by the config file")
    out.extend(f"note: {printable(n)}" for n in report.notices)
    out.extend(_details(report.details))
    # File names lead rows: a name like `::error::x` or `##[error]` must not become a command.
    return neutralize_commands("\n".join(out) + "\n")
