"""The JSON report: a public contract (documented in README.md, versioned by `schema`).

Add fields freely; never rename or remove one without raising `SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gate import __version__ as gate_version
from gate.model.advisory import AdvisoryFinding
from gate.model.common import ExitCode
from gate.model.otp import OtpIdentity, VersionStatus
from gate.model.report import SCHEMA_VERSION, FileReport, Reason, Report, Verdict
from gate.model.route import Explanation
from gate.report import Result, dump_json


def reason_doc(r: Reason) -> dict[str, Any]:
    return {
        "code": r.code,
        "severity": r.severity.value,
        "message": r.message,
        "check": r.check_id,
        "path": r.path,
        "fix": r.fix,
    }


def _file(f: FileReport) -> dict[str, Any]:
    flags = None
    if f.build_flags is not None:
        flags = {"cflags": f.build_flags.cflags, "ldflags": f.build_flags.ldflags}
    return {
        "path": f.path,
        "role": f.role.value,
        "kind": f.kind.value if f.kind else None,
        "machine": f.machine,
        "error": f.error,
        "checks": {c.id: {"status": c.status.value, "evidence": c.evidence} for c in f.checks},
        "build_flags": flags,
    }


def _otp(otp: OtpIdentity, vs: VersionStatus | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": str(otp.version) if otp.version else None,
        "source": otp.source,
        "candidates": [str(v) for v in otp.candidates],
        "erts_version": otp.erts_version,
        "patched": otp.patched,
        "patched_applications": [str(a) for a in otp.patched_applications],
        "evidence": list(otp.evidence),
        "judged_version": None,
        "line": None,
        "latest_patch": None,
        "patches_behind": None,
        "supported": None,
        "supported_lines": [],
        "latest_released": None,
        "notes": [],
        "data": None,
    }
    if vs is not None:
        doc.update(
            judged_version=str(vs.version) if vs.version else None,
            line=vs.line,
            latest_patch=str(vs.latest_patch) if vs.latest_patch else None,
            patches_behind=vs.patches_behind if vs.version else None,
            supported=vs.supported,
            supported_lines=list(vs.supported_lines),
            latest_released=vs.latest_released.isoformat() if vs.latest_released else None,
            notes=list(vs.notes),
            data={
                "source": vs.provenance.source,
                "as_of": vs.provenance.as_of.isoformat(),
                "live": vs.provenance.live,
                "notes": list(vs.provenance.notes),
            },
        )
    return doc


def _summary(report: Report) -> dict[str, Any]:
    by_check: dict[str, dict[str, int]] = {}
    for f in report.files:
        for c in f.checks:
            counts = by_check.setdefault(c.id, {"pass": 0, "fail": 0, "unknown": 0, "n/a": 0})
            counts[c.status.value] += 1
    return {
        "files": len(report.files),
        "unreadable": sum(1 for f in report.files if f.error is not None),
        "checks": by_check,
    }


def verdict_doc(verdict: Verdict) -> dict[str, Any]:
    return {
        "result": verdict.result,
        "exit_code": int(verdict.exit_code),
        "reasons": [reason_doc(r) for r in verdict.reasons],
        "waived": [reason_doc(r) for r in verdict.waived],
    }


def _explanation(exp: Explanation | None) -> dict[str, Any] | None:
    if exp is None:
        return None
    r = exp.route
    fix = exp.dockerfile_fix
    return {
        "route": r.route.value,
        "confidence": r.confidence.value,
        "evidence": [
            {"source": e.source, "detail": e.detail, "location": e.location} for e in r.evidence
        ],
        "cause": r.cause,
        "expected_hardened": r.expected_hardened,
        "recorded_flags": r.recorded_flags,
        "hardening_defaults_disabled": r.hardening_defaults_disabled,
        "package": r.package,
        "package_version": r.package_version,
        "distro": r.distro,
        "notes": list(r.notes),
        "most_exposed": [
            {"path": e.path, "role": e.role, "checks": list(e.check_ids)} for e in exp.exposed
        ],
        "remediations": [
            {
                "kind": m.kind.value,
                "checks": list(m.check_ids),
                "title": m.title,
                "variables": {k: v for k, v in m.variables},
                "where": m.where,
                "snippet": m.snippet,
                "note": m.note,
                "links": list(m.links),
            }
            for m in exp.remediations
        ],
        "dockerfile_fix": None
        if fix is None
        else {
            "path": fix.path,
            "start_line": fix.start_line,
            "end_line": fix.end_line,
            "diff": fix.diff,
            "note": fix.note,
        },
    }


def _advisory(f: AdvisoryFinding) -> dict[str, Any]:
    return {
        "id": f.advisory_id,
        "aliases": list(f.aliases),
        "status": f.status.value,
        "severity": f.severity.value,
        "title": f.title,
        "reason": f.reason,
        "application": f.application,
        "installed_version": f.installed_version,
        "fixed_version": f.fixed_version,
        "fixed_otp": f.fixed_otp,
        "backported_in": f.backported_in,
        "url": f.url,
    }


def document(report: Report, verdict: Verdict) -> dict[str, Any]:
    """The report as plain JSON-ready data (also what the action's outputs are computed from)."""
    o = report.origin
    details = report.details
    advisories = None
    if details.advisory_summary is not None:
        advisories = {
            "summary": details.advisory_summary,
            "notes": list(details.advisory_notes),
            "findings": [_advisory(f) for f in details.advisories],
        }
    return {
        "schema": report.schema,
        "tool": {"name": "otp-gate", "version": gate_version},
        "target": report.target,
        "runtime_kind": report.runtime_kind.value,
        "origin": {
            "method": o.method,
            "description": o.description,
            "package": o.package,
            "package_version": o.package_version,
            "distro": o.distro,
            "image": o.image,
            "path_in_image": o.path_in_image,
        },
        "otp": None
        if report.runtime_kind.value == "files"
        else _otp(report.otp, report.version_status),
        "files": [_file(f) for f in report.files],
        "summary": _summary(report),
        "warnings": list(report.warnings),
        "notices": list(report.notices),
        "explanation": _explanation(details.explanation),
        "advisories": advisories,
        "verdict": verdict_doc(verdict),
    }


def render(report: Report, verdict: Verdict) -> str:
    return render_many([(report, verdict)])


def render_many(results: Sequence[Result]) -> str:
    """One runtime: its document. Several (an image with two OTPs): `runtimes[]` and one verdict."""
    if len(results) == 1:
        r = results[0]
        doc = document(r[0], r[1])
    else:
        verdicts = [r[1] for r in results]
        worst = max((v.exit_code for v in verdicts), default=ExitCode.PASS)
        doc = {
            "schema": SCHEMA_VERSION,
            "tool": {"name": "otp-gate", "version": gate_version},
            "runtimes": [document(r[0], r[1]) for r in results],
            "verdict": {
                "result": "pass" if worst == ExitCode.PASS else "fail",
                "exit_code": int(worst),
                "reasons": [reason_doc(x) for v in verdicts for x in v.reasons],
                "waived": [reason_doc(x) for v in verdicts for x in v.waived],
            },
        }
    return dump_json(doc)
