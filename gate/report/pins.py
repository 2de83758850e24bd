"""Render the judged pins of a repository (`otp-gate pins`) as text, JSON, SARIF or Markdown.

Renderers return strings; the pin's own line is the location of every finding, so code scanning
and the runner's annotations point at the line to edit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gate import __version__ as gate_version
from gate.model.common import Format
from gate.model.pin import PinJudgement, PinsReport, PinStatus
from gate.model.report import SCHEMA_VERSION, Reason, Verdict
from gate.report import printable
from gate.report.json_report import reason_doc

FLOATING_RULE = "otp-floating-pin"


def render(fmt: Format, report: PinsReport, verdict: Verdict) -> str:
    if fmt == Format.JSON:
        return json.dumps(document(report, verdict), indent=2) + "\n"
    if fmt == Format.SARIF:
        return sarif(report, verdict)
    if fmt == Format.MARKDOWN:
        return markdown(report, verdict)
    return text(report, verdict)


def status_text(j: PinJudgement) -> str:
    """`behind 2 (27.3.4.6)`, `current`, `unsupported line`, `unknown version`, `floor`."""
    if j.status == PinStatus.BEHIND:
        return f"behind by {j.patches_behind} (newest {j.latest_patch})"
    return {
        PinStatus.UNSUPPORTED: "unsupported line",
        PinStatus.UNKNOWN: "unknown version",
    }.get(j.status, j.status.value)


def advisory_ids(j: PinJudgement, limit: int = 5) -> str:
    """`CVE-1, CVE-2 (+3 more)`: the advisories fixed after an exact pin, most severe first."""
    ids = [a.advisory_id for a in sorted(j.advisories, key=lambda a: -a.severity.rank)]
    return ", ".join(ids[:limit]) + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


def _data_line(report: PinsReport) -> str:
    p = report.provenance
    return f"release data: {p.source} as of {p.as_of}"


# -- text ------------------------------------------------------------------------------------------
def text(report: PinsReport, verdict: Verdict) -> str:
    rows = [("where", "pin", "exact", "installs", "status")]
    for j in report.judgements:
        p = j.pin
        rows.append(
            (
                printable(f"{p.path}:{p.line}"),
                printable(p.text or p.version_text)[:60],
                "exact" if p.exact else "floating",
                str(j.resolved or "-"),
                status_text(j),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if len(rows) == 1:
        out = [f"no OTP pin found under {printable(report.root)}"]
    out += ["", _data_line(report)]
    for j in report.judgements:
        if j.advisories:
            ids = advisory_ids(j, 10)
            out.append(
                f"{printable(j.pin.path)}:{j.pin.line}: fixed since {j.pin.version_text}: {ids}"
            )
    out += ["", f"verdict: {verdict.result}"]
    for r in verdict.reasons:
        where = f"{printable(r.path)}:{r.line}: " if r.path and r.line else ""
        out.append(f"  [{r.severity.value}] {where}{printable(r.message)}")
    return "\n".join(out) + "\n"


# -- JSON ------------------------------------------------------------------------------------------
def _judgement(j: PinJudgement) -> dict[str, Any]:
    p = j.pin
    return {
        "path": p.path,
        "line": p.line,
        "text": p.text,
        "kind": p.kind.value,
        "version": p.version_text,
        "exact": p.exact,
        "resolved": str(j.resolved) if j.resolved else None,
        "status": j.status.value,
        "latest_patch": str(j.latest_patch) if j.latest_patch else None,
        "patches_behind": j.patches_behind,
        "supported_lines": list(j.supported_lines),
        "produces_runtime": p.produces_runtime,
        "note": j.note or None,
        "advisories": [
            {"id": a.advisory_id, "severity": a.severity.value, "fixed_otp": a.fixed_otp}
            for a in j.advisories
        ],
    }


def _reason(r: Reason) -> dict[str, Any]:
    # The runtime report's reason, plus the pin's line.
    return {**reason_doc(r), "line": r.line}


def document(report: PinsReport, verdict: Verdict) -> dict[str, Any]:
    p = report.provenance
    return {
        "schema": SCHEMA_VERSION,
        "tool": {"name": "otp-gate", "version": gate_version},
        "root": report.root,
        "data": {"source": p.source, "as_of": p.as_of.isoformat(), "live": p.live},
        "pins": [_judgement(j) for j in report.judgements],
        "warnings": list(report.warnings),
        "verdict": {
            "result": verdict.result,
            "exit_code": int(verdict.exit_code),
            "reasons": [_reason(r) for r in verdict.reasons],
            "waived": [_reason(r) for r in verdict.waived],
        },
    }


# -- SARIF -----------------------------------------------------------------------------------------
def sarif(report: PinsReport, verdict: Verdict) -> str:
    from gate.report import sarif as base

    rules = base._rules()
    return base.document(rules, sarif_results(report, verdict, rules))


def sarif_results(
    report: PinsReport, verdict: Verdict, rules: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The pins' SARIF results, each at its pin's line; adds the rules they use to `rules`."""
    from gate.model.common import Severity
    from gate.report import sarif as base

    rules[FLOATING_RULE] = base._rule(
        FLOATING_RULE,
        "The OTP pin names an exact version",
        Severity.NOTE,
        "Pin an exact OTP version so builds are reproducible and the gate can compare it.",
    )
    results = []
    for r, waived in [(r, False) for r in verdict.reasons] + [(r, True) for r in verdict.waived]:
        if r.path is None or r.line is None:
            continue
        rule_id = r.check_id or (FLOATING_RULE if r.code == "floating-pin" else r.code)
        if rule_id not in rules:
            rules[rule_id] = base._rule(rule_id, r.code, r.severity, r.fix or "")
        result: dict[str, Any] = {
            "ruleId": rule_id,
            "level": base._LEVEL[r.severity],
            "message": {"text": r.message + (f"\nFix: {r.fix}" if r.fix else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": base._uri(r.path, "")},
                        "region": {"startLine": max(1, r.line)},
                    }
                }
            ],
            # The pin's file and the rule, never the line: a moved pin stays the same alert.
            "partialFingerprints": {"otpGate/v1": base._fingerprint(rule_id, f"pin\x00{r.path}")},
        }
        if waived:
            result["suppressions"] = [{"kind": "external", "justification": "waived"}]
        results.append(result)
    return results


# -- Markdown --------------------------------------------------------------------------------------
_ICON = {
    PinStatus.CURRENT: "✅",
    PinStatus.BEHIND: "❌",
    PinStatus.UNSUPPORTED: "❌",
    PinStatus.UNKNOWN: "⚠️",
    PinStatus.FLOOR: "-",
}


def markdown_table(report: PinsReport) -> list[str]:
    """The pins as a Markdown table."""
    return markdown_table_of(report.judgements)


def markdown_table_of(judgements: Sequence[PinJudgement]) -> list[str]:
    """Judged pins as a Markdown table (the summary's section and the drift issue's list)."""
    from gate.report.markdown import escape

    if not judgements:
        return ["No OTP pin found in the repository."]
    out = ["| pin | line | exact | installs | status |", "|---|---|---|---|---|"]
    for j in judgements:
        p = j.pin
        icon = _ICON[j.status] if p.exact or j.status == PinStatus.FLOOR else "🔄"
        fixed = (
            f"; fixed since: {', '.join(a.advisory_id for a in j.advisories)}"
            if j.advisories
            else ""
        )
        out.append(
            f"| `{escape(p.path)}` | {p.line} | {'exact' if p.exact else 'floating'} | "
            f"{j.resolved or '-'} | {icon} {escape(status_text(j))}{escape(fixed)} |"
        )
    return out


def markdown(report: PinsReport, verdict: Verdict) -> str:
    from gate.report.markdown import escape

    head = "✅ pass" if verdict.passed else "❌ fail"
    lines = [
        f"### OTP pins: {head}",
        "",
        *markdown_table(report),
        "",
        f"_{escape(_data_line(report))}_",
    ]
    shown = [r for r in verdict.reasons if r.code != "floating-pin"]
    if shown:
        lines += [""] + [f"- **{r.severity.value}** {escape(r.message)}" for r in shown]
    return "\n".join(lines) + "\n"
