"""One answer for many runtimes (a matrix of images or architectures): the combined verdict as
text, Markdown (one summary, one sticky comment) or JSON. Pure: summaries in, a string out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gate import __version__ as gate_version
from gate.model.common import ExitCode, Format, Severity
from gate.model.merged import RuntimeSummary
from gate.model.report import SCHEMA_VERSION
from gate.report import printable
from gate.report.json_report import reason_doc

_SHOWN = 8  # reasons listed per runtime; the matrix job's own summary has them all


def worst(runtimes: Sequence[RuntimeSummary]) -> ExitCode:
    """The combined exit code: the worst of the runtimes' (no runtime at all is an error)."""
    return max((r.exit_code for r in runtimes), default=ExitCode.ERROR)


def render(fmt: Format, runtimes: Sequence[RuntimeSummary]) -> str:
    if fmt == Format.JSON:
        return json.dumps(document(runtimes), indent=2, ensure_ascii=True) + "\n"
    if fmt == Format.MARKDOWN:
        return markdown(runtimes)
    return text(runtimes)


def _version(r: RuntimeSummary) -> str:
    if r.otp_version is None:
        return "unknown"
    if r.supported is False:
        return f"{r.otp_version} (unsupported line)"
    if r.patches_behind:
        return f"{r.otp_version} ({r.patches_behind} behind {r.latest_patch})"
    return r.otp_version


def document(runtimes: Sequence[RuntimeSummary]) -> dict[str, Any]:
    code = worst(runtimes)
    return {
        "schema": SCHEMA_VERSION,
        "tool": {"name": "otp-gate", "version": gate_version},
        "runtimes": [
            {
                "source": r.source,
                "target": r.target,
                "origin": r.origin,
                "otp_version": r.otp_version,
                "latest_patch": r.latest_patch,
                "patches_behind": r.patches_behind,
                "supported": r.supported,
                "result": r.result,
                "exit_code": int(r.exit_code),
                "reasons": [reason_doc(x) for x in r.reasons],
            }
            for r in runtimes
        ],
        "verdict": {"result": "pass" if code == ExitCode.PASS else "fail", "exit_code": int(code)},
    }


def text(runtimes: Sequence[RuntimeSummary]) -> str:
    out = []
    for r in runtimes:
        out.append(
            f"{r.result.upper():4}  {printable(r.target)}  OTP {_version(r)}  ({printable(r.source)})"
        )
        for x in [x for x in r.reasons if x.severity != Severity.NOTE][:_SHOWN]:
            out.append(f"      [{x.severity.value}] {printable(x.message)}")
    code = worst(runtimes)
    out += [
        "",
        f"verdict: {'pass' if code == ExitCode.PASS else 'fail'} ({len(runtimes)} runtimes)",
    ]
    return "\n".join(out) + "\n"


def markdown(runtimes: Sequence[RuntimeSummary]) -> str:
    """One table row per runtime, then each failing runtime's main reasons."""
    from gate.report.markdown import escape

    code = worst(runtimes)
    head = "✅ pass" if code == ExitCode.PASS else "❌ fail"
    lines = [
        f"### OTP hardening gate: {head} ({len(runtimes)} runtimes)",
        "",
        "| runtime | from | OTP | result | errors | warnings |",
        "|---|---|---|---|---|---|",
    ]
    for r in runtimes:
        errors = sum(1 for x in r.reasons if x.severity == Severity.ERROR)
        warnings = sum(1 for x in r.reasons if x.severity == Severity.WARNING)
        lines.append(
            f"| `{escape(r.target)}` | {escape(r.origin or '-')} | {escape(_version(r))} | "
            f"{'✅' if r.exit_code == ExitCode.PASS else '❌'} {r.result} | {errors} | {warnings} |"
        )
    for r in runtimes:
        shown = [x for x in r.reasons if x.severity != Severity.NOTE]
        if not shown:
            continue
        lines += ["", f"<details><summary>{escape(r.target)}: {len(shown)} findings</summary>", ""]
        lines += [f"- **{x.severity.value}** {escape(x.message)}" for x in shown[:_SHOWN]]
        if len(shown) > _SHOWN:
            lines.append(f"- and {len(shown) - _SHOWN} more: see the job of `{escape(r.source)}`")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
