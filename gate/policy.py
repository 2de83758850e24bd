"""The gate's decision as a pure function: `evaluate(report, config, today) -> Verdict`.

No I/O: the verdict depends only on its arguments, and carries every reason (with its fix) so each
output can say why the gate failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from gate.config import (
    VERSION_ADVISORY,
    VERSION_BEHIND,
    VERSION_UNKNOWN,
    VERSION_UNSUPPORTED,
    Config,
    FailOn,
    VersionPolicy,
)
from gate.knowledge.grace import grace_message
from gate.model.advisory import AdvisorySeverity, FindingStatus
from gate.model.common import ExitCode, Severity, Status
from gate.model.otp import OtpVersion, Release
from gate.model.report import Reason, Report, Verdict
from gate.model.runtime import RuntimeKind

if TYPE_CHECKING:  # pins are judged only when asked: their model loads then (issue 12)
    from gate.model.pin import PinJudgement, PinsReport

#: The lowest severity that fails the gate for each `fail-on` value; None never fails.
_THRESHOLD: dict[FailOn, Severity | None] = {
    FailOn.ERROR: Severity.ERROR,
    FailOn.WARNING: Severity.WARNING,
    FailOn.NEVER: None,
}

_INSPECT_FIX = (
    "Make the file readable and a complete ELF file, or remove it from the runtime: the gate "
    "fails closed on files it cannot check."
)


def _check_info(check_id: str) -> tuple[str, Severity, str | None]:
    """(title, default severity, fix) of a registered check; unknown ids count as errors."""
    from gate.inspection.checks import check_by_id

    try:
        check = check_by_id(check_id)
    except KeyError:
        check = None
    if check is None:
        return check_id, Severity.ERROR, None
    fix = getattr(check, "fix", None)
    return str(check.title), Severity(check.default_severity), (str(fix) if fix else None)


def _severity(config: Config, rule_id: str, default: Severity) -> Severity:
    override = config.severity_override(rule_id)
    return override if override is not None else default


def _check_reasons(report: Report, config: Config) -> Iterable[Reason]:
    from gate.knowledge.remediation import exposure_rank

    info: dict[str, tuple[str, Severity, str | None]] = {}
    # Most exposed first (beam.smp, epmd, inet_gethost, erl_child_setup, ...): every summary that
    # lists files, and the order of reasons, leads with what matters most (issue 6).
    for f in sorted(report.files, key=lambda f: (exposure_rank(f.path, f.role), f.path)):
        if f.error is not None:
            yield Reason(
                code="inspect-error",
                severity=Severity.ERROR,
                message=f"{f.path}: could not be checked: {f.error}",
                path=f.path,
                fix=_INSPECT_FIX,
            )
            continue
        for c in f.checks:
            if c.status != Status.FAIL:
                continue  # unknown is never a guess either way; n/a does not apply
            if c.id not in info:
                info[c.id] = _check_info(c.id)
            title, default, fix = info[c.id]
            sev = _severity(config, c.id, default)
            if sev == Severity.OFF:
                continue
            yield Reason(
                code="check-failed",
                severity=sev,
                message=f"{f.path}: {title} ({c.id}) fails: {c.evidence}",
                check_id=c.id,
                path=f.path,
                fix=fix,
            )


def _version_reasons(
    report: Report, config: Config, today: date, releases: tuple[Release, ...]
) -> Iterable[Reason]:
    if report.runtime_kind == RuntimeKind.FILES or config.version_policy == VersionPolicy.OFF:
        return
    vs = report.version_status
    otp = report.otp
    if vs is None or vs.version is None:
        sev = _severity(config, VERSION_UNKNOWN, Severity.WARNING)
        if sev != Severity.OFF:
            yield Reason(
                code="version-unknown",
                severity=sev,
                message="the OTP version of this runtime could not be identified",
                check_id=VERSION_UNKNOWN,
                fix="Ship releases/<major>/OTP_VERSION, or keep erts-<vsn>/ and lib/<app>-<vsn>/ "
                "folders intact so the version can be inferred.",
            )
    else:
        behind_default = (
            Severity.ERROR if config.version_policy == VersionPolicy.LATEST_PATCH else Severity.NOTE
        )
        if vs.latest_patch is not None and vs.version < vs.latest_patch:
            sev = _severity(config, VERSION_BEHIND, behind_default)
            # A patch released less than grace-days ago: warn first, fail once the window closes.
            grace = (
                grace_message(vs, releases, today, config.grace_days)
                if config.grace_days > 0 and sev.rank > Severity.WARNING.rank
                else None
            )
            if grace is not None:
                sev = Severity.WARNING
            if sev != Severity.OFF:
                count = f"{vs.patches_behind} patch{'es' if vs.patches_behind != 1 else ''}"
                yield Reason(
                    code="version-behind",
                    severity=sev,
                    message=f"OTP {vs.version} is {count} behind {vs.latest_patch}, "
                    f"the newest patch of OTP {vs.line}" + (f". {grace}" if grace else ""),
                    check_id=VERSION_BEHIND,
                    fix=f"Upgrade to OTP {vs.latest_patch} (or pin it: `.tool-versions`, "
                    "Dockerfile `FROM`, setup-beam `otp-version`).",
                )
        if vs.supported is False:
            sev = _severity(config, VERSION_UNSUPPORTED, Severity.ERROR)
            if sev != Severity.OFF:
                lines = ", ".join(str(n) for n in vs.supported_lines) or "the three newest"
                yield Reason(
                    code="unsupported-line",
                    severity=sev,
                    message=f"OTP {vs.line} is no longer a supported line (supported: {lines})",
                    check_id=VERSION_UNSUPPORTED,
                    fix=f"Move to a supported OTP line ({lines}) and its newest patch.",
                )
        if len(otp.candidates) > 1:
            fits = ", ".join(str(v) for v in otp.candidates)
            yield Reason(
                code="version-ambiguous",
                severity=Severity.NOTE,
                message=f"several OTP versions fit this runtime ({fits}); judged as {vs.version}",
            )
    if otp.patched:
        apps = ", ".join(str(a) for a in otp.patched_applications) or "unknown applications"
        yield Reason(
            code="otp-patched",
            severity=Severity.NOTE,
            message=f"OTP_VERSION ends in '**': otp_patch_apply patched {apps}",
        )
    if vs is not None:
        age = (today - vs.provenance.as_of).days
        if age > config.stale_data_days:
            yield Reason(
                code="stale-data",
                severity=Severity.WARNING,
                message=f"release data ({vs.provenance.source}) is {age} days old, older than "
                f"{config.stale_data_days} days: newer patches may exist",
                fix=_STALE_DATA_FIX,
            )


# The same words whether the run was offline or its live sources failed, so the two give the same
# findings (issue 11); the release-data notes say which it was.
_STALE_DATA_FIX = (
    "Let the gate read live release data (this run used older data: see the release-data notes), "
    "or update otp-gate for a newer bundled snapshot; if old data is acceptable, raise "
    "`stale-data-days` in the config file."
)


def _version_key(text: str) -> tuple[int, OtpVersion | None, str]:
    version = OtpVersion.try_parse(text)
    return (0, version, "") if version is not None else (1, None, text)


def _advisory_reasons(report: Report, config: Config) -> Iterable[Reason]:
    """One reason for every security fix the runtime misses, so `supported` still catches them.

    Default severity: error when a critical or high advisory is missed, else warning; the rule id
    `otp-advisory` takes a `[severity]` override like any check. Not judged with
    `version-policy: off`, like the other version rules.
    """
    if report.runtime_kind == RuntimeKind.FILES or config.version_policy == VersionPolicy.OFF:
        return
    missed = [a for a in report.details.advisories if a.status == FindingStatus.AFFECTED]
    if not missed:
        return
    worst = max(a.severity.rank for a in missed)
    default = Severity.ERROR if worst >= AdvisorySeverity.HIGH.rank else Severity.WARNING
    sev = _severity(config, VERSION_ADVISORY, default)
    if sev == Severity.OFF:
        return
    missed.sort(key=lambda a: (-a.severity.rank, a.advisory_id))
    counts = ", ".join(
        f"{n} {level.value}"
        for level in AdvisorySeverity
        if (n := sum(1 for a in missed if a.severity == level))
    )
    shown = ", ".join(a.advisory_id for a in missed[:5]) + (
        f" (+{len(missed) - 5} more)" if len(missed) > 5 else ""
    )
    # Version order, not text order: 25.3.2.21 comes after 25.3.2.3.
    fixes = sorted({a.fixed_otp for a in missed if a.fixed_otp}, key=_version_key)
    vs = report.version_status
    if fixes:
        fix = f"Upgrade to OTP {fixes[-1]} or newer on this line"
    elif vs is not None and vs.supported_lines:
        fix = f"Move to a supported OTP line ({', '.join(map(str, vs.supported_lines))})"
    else:
        fix = "Move to a supported OTP line"
    if any(a.fixed_otp is None for a in missed) and fixes:
        fix += "; some advisories have no fix on this line: move to a supported line"
    yield Reason(
        code="missed-security-fixes",
        severity=sev,
        message=f"the runtime misses {len(missed)} security fix"
        f"{'es' if len(missed) != 1 else ''} ({counts}): {shown}",
        check_id=VERSION_ADVISORY,
        fix=fix + ".",
    )


def evaluate(
    report: Report,
    config: Config,
    today: date,
    releases: Iterable[Release] = (),
) -> Verdict:
    """Judge `report` under `config` on `today`; pure, so the same inputs give the same verdict.

    `releases` (with their dates) are needed only for `grace-days`; without them no grace applies.
    Missed security fixes are read from `report.details.advisories` (only `affected` ones count).
    """
    found: list[Reason] = [
        *_check_reasons(report, config),
        *_version_reasons(report, config, today, tuple(releases)),
        *_advisory_reasons(report, config),
    ]
    found.extend(
        Reason(code="scan-warning", severity=Severity.WARNING, message=w) for w in report.warnings
    )
    return _decide(found, config, today)


def _decide(found: list[Reason], config: Config, today: date) -> Verdict:
    """Waivers, then `fail-on`: the one place reasons become a verdict."""
    active = [w for w in config.waivers if not w.expired(today)]
    kept: list[Reason] = []
    waived: list[Reason] = []
    for reason in found:
        if any(w.matches(reason.check_id, reason.path) for w in active):
            waived.append(reason)
        else:
            kept.append(reason)
    for w in config.waivers:
        if w.expired(today):
            # An expired waiver no longer hides anything, and says so (issue 3).
            kept.append(
                Reason(
                    code="waiver-expired",
                    severity=Severity.WARNING,
                    message=f"{w.describe()} expired on {w.expires}",
                    check_id=w.check,
                    fix="Fix the finding, or renew the waiver with a new `expires` date in "
                    f"{config.source or '.otp-gate.toml'}.",
                )
            )

    threshold = _THRESHOLD[config.fail_on]
    failed = threshold is not None and any(r.severity.rank >= threshold.rank for r in kept)
    kept.sort(key=lambda r: -r.severity.rank)  # stable: keeps file and check order within a level
    return Verdict(
        exit_code=ExitCode.FAIL if failed else ExitCode.PASS,
        reasons=tuple(kept),
        waived=tuple(waived),
    )


# -- pins (issue 10) ------------------------------------------------------------------------------
def _pin_reason(
    j: PinJudgement, config: Config, today: date, releases: tuple[Release, ...]
) -> Reason | None:
    """The reason one pin gives: exact pins are judged like a runtime; a floating pin only ever
    gets a note (it installs the newest match by itself)."""
    from gate.model.pin import PinStatus

    pin = j.pin
    if j.status == PinStatus.FLOOR or (j.status == PinStatus.CURRENT and pin.exact):
        return None
    if not pin.exact:
        tail = {
            PinStatus.BEHIND: f", {_count(j)} behind {j.latest_patch}",
            PinStatus.UNSUPPORTED: ", a line that no longer gets security fixes",
        }.get(j.status, "")
        return Reason(
            code="floating-pin",
            severity=Severity.NOTE,
            message=f"OTP pin '{pin.version_text}' floats: it installs {j.resolved or 'no release'} "
            f"today{tail}; it is not judged as behind",
            fix="Pin an exact version (for example "
            f"{j.latest_patch or '27.3.4.3'}) to make builds reproducible and let the gate compare it.",
            path=pin.path,
            line=pin.line,
        )
    if j.status == PinStatus.UNKNOWN:
        rule, default = VERSION_UNKNOWN, Severity.WARNING
        message, fix = f"OTP pin {pin.version_text}: {j.note}", "Pin a published OTP release."
    elif j.status == PinStatus.UNSUPPORTED:
        rule, default = VERSION_UNSUPPORTED, Severity.ERROR
        lines = ", ".join(map(str, j.supported_lines))
        message = f"OTP pin {pin.version_text} is on OTP {j.resolved and j.resolved.major}, no longer a supported line (supported: {lines})"
        fix = f"Move to a supported OTP line ({lines}) and its newest patch."
    else:
        rule = VERSION_BEHIND
        default = (
            Severity.ERROR if config.version_policy == VersionPolicy.LATEST_PATCH else Severity.NOTE
        )
        message = f"OTP pin {pin.version_text} is {_count(j)} behind {j.latest_patch}, the newest patch of OTP {j.latest_patch and j.latest_patch.major}"
        fix = f"Change the pin to {j.latest_patch}."
    sev = _severity(config, rule, default)
    vs = j.version_status
    if rule == VERSION_BEHIND and vs and config.grace_days > 0 and sev.rank > Severity.WARNING.rank:
        grace = grace_message(vs, releases, today, config.grace_days)
        if grace is not None:
            sev, message = Severity.WARNING, f"{message}. {grace}"
    if sev == Severity.OFF:
        return None
    if j.advisories:
        ids = ", ".join(a.advisory_id for a in j.advisories[:5])
        more = f" (+{len(j.advisories) - 5} more)" if len(j.advisories) > 5 else ""
        message += f"; fixed since: {ids}{more}"
    code = {VERSION_UNKNOWN: "version-unknown", VERSION_UNSUPPORTED: "unsupported-line"}.get(
        rule, "version-behind"
    )
    return Reason(
        code=code,
        severity=sev,
        message=message,
        check_id=rule,
        fix=fix,
        path=pin.path,
        line=pin.line,
    )


def _count(j: PinJudgement) -> str:
    return f"{j.patches_behind} patch{'es' if j.patches_behind != 1 else ''}"


def evaluate_pins(
    report: PinsReport, config: Config, today: date, releases: Iterable[Release] = ()
) -> Verdict:
    """Judge every pin under `config` (pure): behind and unsupported exact pins fail like a
    runtime would; floating pins are notes; waivers and `fail-on` apply as in `evaluate`."""
    if config.version_policy == VersionPolicy.OFF:
        return Verdict(ExitCode.PASS, ())
    rel = tuple(releases)
    # `report.warnings` (live data that fell back to the snapshot) are shown, not judged: the
    # snapshot's answer stands, as for a runtime.
    found = [r for j in report.judgements if (r := _pin_reason(j, config, today, rel)) is not None]
    return _decide(found, config, today)
