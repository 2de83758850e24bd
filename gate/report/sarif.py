"""SARIF 2.1.0 for GitHub code scanning: rule ids are check ids, help carries the fix.

GitHub wants every result to have a location with a repository-relative `uri` and a
`region.startLine >= 1` (https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning).
A binary has no source line, so a finding points at the file's path with line 1, or at a pin the
caller found (the Dockerfile line that builds the runtime, the line that pins the OTP version).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gate import __version__ as gate_version
from gate.config import VERSION_ADVISORY, VERSION_BEHIND, VERSION_UNKNOWN, VERSION_UNSUPPORTED
from gate.model.common import Severity
from gate.model.report import Reason, Report, Verdict
from gate.model.route import DockerfileFix
from gate.model.runtime import Role
from gate.report import Result, dump_json, printable

if TYPE_CHECKING:
    from gate.model.pin import PinsReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/erlef/security-wg/blob/main/docs/secure_coding_and_deployment_hardening/installing.md"

_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.NOTE: "note",
    Severity.OFF: "none",
}

_SECURITY_SEVERITY = {
    Severity.ERROR: "7.5",
    Severity.WARNING: "5.0",
    Severity.NOTE: "2.0",
    Severity.OFF: "0.0",
}

#: Rules that are not hardening checks: (short description, default severity, help).
_EXTRA_RULES: dict[str, tuple[str, Severity, str]] = {
    VERSION_BEHIND: (
        "The OTP version is the newest patch of its line",
        Severity.ERROR,
        "Upgrade to the newest patch of your OTP line and update the file that pins it.",
    ),
    VERSION_UNSUPPORTED: (
        "The OTP line is still supported (the three newest majors)",
        Severity.ERROR,
        "Move to a supported OTP line; OTP's security policy patches the last three majors.",
    ),
    VERSION_UNKNOWN: (
        "The OTP version of the runtime can be identified",
        Severity.WARNING,
        "Keep releases/<major>/OTP_VERSION, or the erts-<vsn>/ and lib/<app>-<vsn>/ folders.",
    ),
    VERSION_ADVISORY: (
        "The runtime carries every published security fix for the applications it ships",
        Severity.ERROR,
        "Upgrade to the OTP patch that fixes the listed advisories (or move to a supported line "
        "when this line has no fix).",
    ),
    "inspect-error": (
        "Every ELF file of the runtime can be read and checked",
        Severity.ERROR,
        "Make the file readable and a complete ELF file, or remove it from the runtime.",
    ),
}


@dataclass(frozen=True)
class Pin:
    """A line in the repository that a finding should point at (e.g. `Dockerfile`, line 3)."""

    path: str  # relative to the repository root, POSIX separators
    line: int = 1


def _uri(path: str, base: str) -> str:
    if path.startswith("/"):
        return "file://" + quote(path, safe="/", errors="surrogateescape")
    joined = f"{base.rstrip('/')}/{path}" if base else path
    while joined.startswith("./"):
        joined = joined[2:]
    # Percent-encode everything but "/" so spaces, '%', '#', control bytes survive as a valid URI.
    return quote(joined, safe="/", errors="surrogateescape")


def _rules() -> dict[str, dict[str, Any]]:
    from gate.inspection.checks import CHECKS

    rules: dict[str, dict[str, Any]] = {}
    for check in CHECKS:
        sev = Severity(check.default_severity)
        fix = str(getattr(check, "fix", "") or "")
        rules[check.id] = _rule(check.id, str(check.title), sev, fix)
    for rid, (title, sev, fix) in _EXTRA_RULES.items():
        rules[rid] = _rule(rid, title, sev, fix)
    return rules


def _rule(rid: str, title: str, sev: Severity, fix: str) -> dict[str, Any]:
    help_text = fix or title
    return {
        "id": rid,
        "name": "".join(p.capitalize() for p in rid.replace("_", "-").split("-")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{title} ({rid})."},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": _LEVEL[sev]},
        "properties": {
            "tags": ["security", "hardening" if rid not in _EXTRA_RULES else "otp"],
            # GitHub ranks security alerts by this score: error = high, warning = medium, note = low.
            "security-severity": _SECURITY_SEVERITY[sev],
        },
    }


def _fingerprint(rule_id: str, subject: str) -> str:
    # Stable across runs and line moves: the rule and what it is about, never a line number.
    return hashlib.sha256(f"{rule_id}\x00{subject}".encode("utf-8", "surrogateescape")).hexdigest()[
        :32
    ]


def _version_subject(report: Report) -> str:
    emulator = next((f.path for f in report.files if f.role == Role.EMULATOR), None)
    return emulator or (report.files[0].path if report.files else ".")


#: Characters that open a link, an image, raw HTML, code or emphasis in the Markdown code scanning
#: renders (the Markdown report's set without `:`, `#`, `_`, `-` and `@`, which are inert
#: mid-line there and frequent in our own text: `bind-now fails: no DT_BIND_NOW`).
_MD_ACTIVE = frozenset("`*[]<>&|~")  # a backslash is already doubled by `printable`


def _message(reason: Reason) -> str:
    """The result's text with Markdown made inert: code scanning renders it, and it names files
    from the scanned tree (`[x](javascript:...)`, `<img src=...>`); control characters escaped."""
    text = reason.message + (f"\nFix: {reason.fix}" if reason.fix else "")
    return "\n".join(
        "".join("\\" + ch if ch in _MD_ACTIVE else ch for ch in printable(line))
        for line in text.split("\n")
    )


def _result(
    reason: Reason,
    report: Report,
    uri_base: str,
    hardening_pin: Pin | None,
    version_pin: Pin | None,
    rules: dict[str, dict[str, Any]],
    waived: bool,
) -> dict[str, Any]:
    rule_id = reason.check_id or reason.code
    if rule_id not in rules:
        rules[rule_id] = _rule(
            rule_id, reason.code.replace("-", " "), reason.severity, reason.fix or ""
        )
    if reason.path is not None:
        subject = reason.path
        pin = hardening_pin
    else:
        subject = _version_subject(report)
        pin = version_pin if reason.check_id in _EXTRA_RULES else None
    if pin is not None:
        location = {
            "artifactLocation": {"uri": _uri(pin.path, "")},
            "region": {"startLine": max(1, pin.line)},
        }
    else:
        location = {
            "artifactLocation": {"uri": _uri(subject, uri_base)},
            "region": {"startLine": 1},
        }
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "level": _LEVEL[reason.severity],
        "message": {"text": _message(reason)},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {
            "otpGate/v1": _fingerprint(rule_id, f"{report.target}\x00{subject}")
        },
    }
    if waived:
        result["suppressions"] = [
            {"kind": "external", "justification": "waived in the gate's config file"}
        ]
    return result


_LISTED = 10


def _grouped(reasons: Sequence[Reason]) -> list[Reason]:
    """Failing checks merged per (check, severity), naming the files; other reasons unchanged.

    The merged reason keeps the path of its first (most exposed) file, so its fingerprint stays
    stable while the list of files changes.
    """
    out: list[Reason] = []
    first: dict[tuple[str | None, Severity], int] = {}
    paths: dict[tuple[str | None, Severity], list[str]] = {}
    for r in reasons:
        if r.code != "check-failed":
            out.append(r)
            continue
        key = (r.check_id, r.severity)
        if key not in first:
            first[key] = len(out)
            paths[key] = []
            out.append(r)
        paths[key].append(r.path or "")
    for key, i in first.items():
        r, names = out[i], paths[key]
        listed = ", ".join(names[:_LISTED])
        if len(names) > _LISTED:
            listed += f" and {len(names) - _LISTED} more"
        n = len(names)
        out[i] = dataclasses.replace(
            r,
            message=f"{r.check_id} fails on {n} file{'s' if n != 1 else ''} of the runtime this "
            f"builds: {listed}. First: {r.message}",
        )
    return out


def _fixes(fix: DockerfileFix) -> list[dict[str, Any]]:
    """The suggested Dockerfile change as a SARIF fix (replace the RUN instruction's text)."""
    if fix.char_length > 0:
        region: dict[str, Any] = {"charOffset": fix.char_offset, "charLength": fix.char_length}
    else:
        region = {"startLine": fix.start_line, "endLine": fix.end_line}
    return [
        {
            "description": {"text": fix.note},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": _uri(fix.path, "")},
                    "replacements": [
                        {"deletedRegion": region, "insertedContent": {"text": fix.new_text}}
                    ],
                }
            ],
        }
    ]


def render(
    report: Report,
    verdict: Verdict,
    *,
    uri_base: str = "",
    hardening_pin: Pin | None = None,
    version_pin: Pin | None = None,
) -> str:
    """SARIF for one runtime; see `render_many`."""
    return render_many(
        [(report, verdict)], uri_base=uri_base, hardening_pin=hardening_pin, version_pin=version_pin
    )


def render_many(
    results: Sequence[Result],
    *,
    uri_base: str = "",
    hardening_pin: Pin | None = None,
    version_pin: Pin | None = None,
    pins: tuple[PinsReport, Verdict] | None = None,
) -> str:
    """One SARIF run holding the findings of every runtime, and of the repository's pins.

    `uri_base` is the scanned root relative to the repository (when it lies inside it);
    `hardening_pin`/`version_pin` redirect file and version findings to a line in the repository.
    Waived findings are kept, marked with a suppression, so code scanning shows them as dismissed.
    `pins`: the judged pins (issue 10), each result at its own line; one the runtime's findings
    already put on the same line under the same rule is left out, so an alert is never doubled.
    """
    rules = _rules()
    out: list[dict[str, Any]] = []
    for item in results:
        report, verdict = item[0], item[1]
        exp = item[0].details.explanation
        pin = hardening_pin
        if pin is None and exp is not None and exp.route.dockerfile is not None:
            # The project's Dockerfile builds this OTP: that RUN line is where the fix goes.
            pin = Pin(exp.route.dockerfile.path, exp.route.dockerfile.run_line)
        fixes = _fixes(exp.dockerfile_fix) if exp is not None and exp.dockerfile_fix else None
        reasons = [r for r in verdict.reasons if r.severity != Severity.OFF]
        if pin is not None:
            # Every file's finding would land on the same line: one alert per check instead.
            reasons = _grouped(reasons)
        for reason in reasons:
            result = _result(reason, report, uri_base, pin, version_pin, rules, False)
            if fixes is not None and reason.code == "check-failed":
                result["fixes"] = fixes
            out.append(result)
        for reason in verdict.waived:
            out.append(_result(reason, report, uri_base, pin, version_pin, rules, True))
    if pins is not None:
        from gate.report.pins import sarif_results

        taken = {_place(r) for r in out}
        out += [r for r in sarif_results(*pins, rules) if _place(r) not in taken]
    return document(rules, out)


def _place(result: dict[str, Any]) -> tuple[str, str, int]:
    """(rule, file, line) of a result: where code scanning shows it."""
    loc = result["locations"][0]["physicalLocation"]
    return (result["ruleId"], loc["artifactLocation"]["uri"], loc["region"]["startLine"])


def document(rules: dict[str, dict[str, Any]], results: list[dict[str, Any]]) -> str:
    """One SARIF 2.1.0 run of otp-gate with these rules and results."""
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "otp-gate",
                        "version": gate_version,
                        "semanticVersion": gate_version,
                        "informationUri": INFORMATION_URI,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return dump_json(doc)
