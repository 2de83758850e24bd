"""Read the JSON reports `otp-gate scan --format json` writes (a matrix job's artifact) back into
`RuntimeSummary` values: the one reader of the gate's own JSON format (schema 1).

The files come from the workflow's own artifacts, but are still checked: a field of the wrong type
raises `UsageError` naming the file, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gate.errors import UsageError
from gate.model.common import ExitCode, Severity
from gate.model.merged import RuntimeSummary
from gate.model.report import SCHEMA_VERSION, Reason

#: A report larger than this is not one the gate wrote.
MAX_REPORT_BYTES = 64 << 20


def parse_reports(text: str, source: str) -> list[RuntimeSummary]:
    """Every runtime of one report document (one runtime, or `runtimes[]`)."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{source}: not a JSON report: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        raise UsageError(
            f"{source}: not an otp-gate JSON report of schema {SCHEMA_VERSION}",
            hint="give the files `otp-gate scan --format json` (or the action's report-json) wrote",
        )
    runtimes = doc.get("runtimes")
    docs = runtimes if isinstance(runtimes, list) else [doc]
    return [_runtime(d, source) for d in docs]


def _get(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], source: str) -> Any:
    value = d.get(key)
    if value is not None and not isinstance(value, kind):
        raise UsageError(f"{source}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _reason(r: Any, source: str) -> Reason:
    if not isinstance(r, dict):
        raise UsageError(f"{source}: a verdict reason is not an object")
    try:
        severity = Severity(str(r.get("severity")))
    except ValueError:
        raise UsageError(f"{source}: unknown severity {r.get('severity')!r}") from None
    return Reason(
        code=str(_get(r, "code", str, source) or ""),
        severity=severity,
        message=str(_get(r, "message", str, source) or ""),
        check_id=_get(r, "check", str, source),
        path=_get(r, "path", str, source),
        fix=_get(r, "fix", str, source),
    )


def _runtime(d: Any, source: str) -> RuntimeSummary:
    if not isinstance(d, dict):
        raise UsageError(f"{source}: a runtime entry is not an object")
    otp = _get(d, "otp", dict, source) or {}
    verdict = _get(d, "verdict", dict, source) or {}
    origin = _get(d, "origin", dict, source) or {}
    code = _get(verdict, "exit_code", int, source)
    if code not in (0, 1, 2):
        raise UsageError(f"{source}: verdict.exit_code is {code!r}, not 0, 1 or 2")
    lines = _get(otp, "supported_lines", list, source) or []
    return RuntimeSummary(
        source=source,
        target=str(_get(d, "target", str, source) or "?"),
        origin=" ".join(
            str(x)
            for x in (origin.get("method"), origin.get("image") or origin.get("package"))
            if x
        ),
        otp_version=_get(otp, "judged_version", str, source) or _get(otp, "version", str, source),
        line=_get(otp, "line", int, source),
        latest_patch=_get(otp, "latest_patch", str, source),
        patches_behind=_get(otp, "patches_behind", int, source),
        supported=_get(otp, "supported", bool, source),
        supported_lines=tuple(n for n in lines if isinstance(n, int)),
        exit_code=ExitCode(code),
        reasons=tuple(_reason(r, source) for r in _get(verdict, "reasons", list, source) or []),
    )
