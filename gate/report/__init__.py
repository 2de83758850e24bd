"""Renderers: each turns a `Report` and its `Verdict` into a string; sinks decide where it goes.

One module per format (`text`, `json_report`, `sarif`, `markdown`), all with
`render(report, verdict, ...) -> str`; this module holds what they share: the format enum, the
escaping of untrusted text, the check columns and the grouping of reasons.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from gate.model.advisory import AdvisoryFinding, FindingStatus
from gate.model.common import Format, Severity, Status
from gate.model.report import Details, Reason, Report, Verdict
from gate.model.runtime import RuntimeKind

#: One runtime's result as every renderer takes it.
Result = tuple[Report, Verdict]


def render(fmt: Format, report: Report, verdict: Verdict) -> str:
    """Render one report in `fmt` (renderers load lazily: only the one asked for is imported)."""
    return render_many(fmt, [(report, verdict)])


def render_many(fmt: Format, results: Sequence[Result], *, sarif_uri_base: str = "") -> str:
    """Render the reports of every runtime found (an image can hold several) as one document.

    Each result is `(report, verdict)`. `sarif_uri_base`: the
    scanned root relative to the repository, so SARIF locations resolve.
    """
    if fmt == Format.TEXT:
        from gate.report import text

        return "\n".join(text.render(r[0], r[1]) for r in results)
    if fmt == Format.MARKDOWN:
        from gate.report import markdown

        return "\n\n---\n\n".join(markdown.render(r[0], r[1]) for r in results)
    if fmt == Format.JSON:
        from gate.report import json_report

        return json_report.render_many(results)
    from gate.report import sarif

    return sarif.render_many(results, uri_base=sarif_uri_base)


def printable(text: str) -> str:
    """`text` with every non-printable character (control, format, surrogate) shown escaped.

    File names from a scanned tree are untrusted: a raw ESC or CR would drive the terminal, and a
    newline would forge extra lines. Backslashes are doubled so an escape cannot be faked.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def _json_text(text: str) -> str:
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def json_safe(value: object) -> object:
    """`value` (a JSON document of dicts, lists and scalars) with no lone surrogate in any string.

    File names that are not UTF-8 reach Python as lone surrogates (`\\udcff`); `json.dumps`
    writes them as `\\udcff` escapes that Python reads back but strict parsers (Go, Rust, jq)
    reject. Each such byte is written as the text `\\xff` instead, as Python's `backslashreplace`
    shows it.
    """
    if isinstance(value, str):
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            return _json_text(value)
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dump_json(doc: object) -> str:
    """A JSON report as text: valid UTF-8 for every parser, and never a workflow command.

    `##[` anywhere in a line is a legacy workflow command (actions/runner `ActionCommand.TryParse`);
    in JSON it can only occur inside a string, where `\\u005b` is the same `[` to any parser.
    """
    from gate.report.commands import neutralize_commands

    text = json.dumps(json_safe(doc), indent=2, ensure_ascii=True) + "\n"
    return neutralize_commands(text, json=True)


def check_ids(reports: Iterable[Report]) -> list[str]:
    """Every check id present, in the order the checks ran (the registry's order)."""
    seen: dict[str, None] = {}
    for report in reports:
        for f in report.files:
            for c in f.checks:
                seen.setdefault(c.id, None)
    return list(seen)


def finding_levels(verdict: Verdict) -> dict[tuple[str, str], str]:
    """(path, check id) -> the severity the policy gave that failure, or `waived`."""
    levels: dict[tuple[str, str], str] = {}
    for r in verdict.reasons:
        if r.check_id is not None and r.path is not None:
            levels[(r.path, r.check_id)] = r.severity.value
    for r in verdict.waived:
        if r.check_id is not None and r.path is not None:
            levels[(r.path, r.check_id)] = "waived"
    return levels


def cell_level(status: Status, level: str | None) -> str:
    """What one table cell means: pass, unknown, n/a, or for a failure its policy level."""
    if status != Status.FAIL:
        return status.value
    # A failing check the policy switched off still failed; show it as informational.
    return level or "note"


class ReasonGroup(NamedTuple):
    """Reasons that share a rule (one failing check over many files), shown once with one fix."""

    code: str
    severity: Severity
    check_id: str | None
    summary: str
    paths: tuple[str, ...]
    fix: str | None
    messages: tuple[str, ...]


def group_reasons(reasons: Iterable[Reason]) -> list[ReasonGroup]:
    """Merge `check-failed` reasons by (check, severity); every other reason stays alone."""
    order: list[tuple[str, str, str | None]] = []
    grouped: dict[tuple[str, str, str | None], list[Reason]] = {}
    for n, r in enumerate(reasons):
        key = (
            (r.code, r.severity.value, r.check_id)
            if r.code == "check-failed"
            else (r.code, str(n), r.check_id)
        )
        if key not in grouped:
            grouped[key] = []
            order.append(key)
        grouped[key].append(r)
    groups: list[ReasonGroup] = []
    for key in order:
        members = grouped[key]
        first = members[0]
        paths = tuple(r.path for r in members if r.path is not None)
        if first.code == "check-failed" and first.check_id is not None:
            n_files = len(paths)
            summary = f"{first.check_id} fails on {n_files} file{'s' if n_files != 1 else ''}"
        else:
            summary = first.message
        groups.append(
            ReasonGroup(
                code=first.code,
                severity=first.severity,
                check_id=first.check_id,
                summary=summary,
                paths=paths,
                fix=first.fix,
                messages=tuple(r.message for r in members),
            )
        )
    return groups


def version_line(report: Report) -> str | None:
    """The one-line OTP version summary every human-readable format puts on top (None for `elf`)."""
    if report.runtime_kind == RuntimeKind.FILES:
        return None
    otp = report.otp
    vs = report.version_status
    how = {
        "OTP_VERSION": "from OTP_VERSION",
        "inferred": "inferred from erts and application versions",
        "beam": "from the version string in beam.smp",
    }.get(otp.source, f"from {otp.source}")
    if otp.version is None and not otp.candidates:
        head = "OTP version unknown"
    elif otp.version is None:
        head = "OTP " + " or ".join(str(v) for v in otp.candidates) + f" ({how})"
    else:
        head = f"OTP {otp.version}{'**' if otp.patched else ''} ({how})"
        if len(otp.candidates) > 1:
            head += "; fits: " + ", ".join(str(v) for v in otp.candidates)
    parts = [head]
    if vs is not None and vs.version is not None:
        if vs.latest_patch is None:
            parts.append(f"no release of line {vs.line} in the release data")
        elif vs.version < vs.latest_patch:
            n = vs.patches_behind
            parts.append(
                f"newest patch of OTP {vs.line}: {vs.latest_patch}, {n} patch{'es' if n != 1 else ''} behind"
            )
        else:
            parts.append(f"the newest patch of OTP {vs.line}")
        lines = ", ".join(str(n) for n in vs.supported_lines)
        if vs.supported is False:
            parts.append(f"line {vs.line} is no longer supported (supported: {lines})")
        elif vs.supported:
            parts.append(f"line {vs.line} is supported")
    if vs is not None:
        p = vs.provenance
        parts.append(f"release data: {p.source} as of {p.as_of.isoformat()}")
    return printable("; ".join(parts))


def affected_advisories(details: Details) -> list[AdvisoryFinding]:
    """The advisories that affect the runtime, in the order the assessment gave (most severe first)."""
    return [f for f in details.advisories if f.status == FindingStatus.AFFECTED]


def advisory_subject(f: AdvisoryFinding) -> str:
    """What an advisory affects and where it is fixed: `ssl-11.1, fixed in OTP 27.1 (backported in
    ...)`; not escaped (each renderer escapes for its own format)."""
    app = f"{f.application}-{f.installed_version}" if f.application else "OTP"
    fixed = f", fixed in OTP {f.fixed_otp}" if f.fixed_otp else ""
    backport = f" (backported in {f.backported_in})" if f.backported_in else ""
    return app + fixed + backport


def origin_line(report: Report) -> str:
    """Where the runtime is and where it came from, escaped for display."""
    if report.runtime_kind == RuntimeKind.FILES:
        return "ELF files"
    return printable(f"{report.target} ({report.runtime_kind.value}; {report.origin.description})")


#: Short column headers for the text table; the legend names them.
SHORT_LABELS = {"stack-protector": "ssp", "bind-now": "now", "stack-clash": "clash"}
