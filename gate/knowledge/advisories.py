"""OTP security advisories: parse the EEF CNA's CVE records, OpenVEX and GitHub advisories, and
judge a runtime by the application versions it actually ships.

Version semantics follow OTP's "Order of versions" (https://www.erlang.org/doc/system/versions.html,
linked from every EEF record as `x_version-scheme`): the first three parts (major.minor.patch) are a
line; a fourth part and beyond is a branch off that point. A fix at `5.2.11.3` therefore fixes
`5.2.11.4` but not `5.3` (a different branch, fixed separately at `5.3.3`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from gate.errors import KnowledgeError
from gate.knowledge import DATA_DIR
from gate.knowledge.interface import ReleaseIndex
from gate.knowledge.shapes import shape_checked
from gate.model.advisory import (
    OTP_PACKAGE,
    Advisory,
    AdvisoryAssessment,
    AdvisoryFinding,
    AdvisorySeverity,
    AffectedRange,
    BackportInfo,
    FindingStatus,
)
from gate.model.common import BackportPolicy
from gate.model.otp import OtpIdentity, OtpVersion

SOURCE_EEF = "eef-cna"
SOURCE_COMPILED = "compiled"
SOURCE_GITHUB = "github-advisory"
SOURCE_OPENVEX = "openvex"
# When two sources describe the same package of one CVE, the earlier one's ranges win: the EEF
# records carry exact per-branch application fix points; GitHub's text ranges and OpenVEX's
# enumerations are coarser.
SOURCE_PRIORITY = (SOURCE_EEF, SOURCE_COMPILED, SOURCE_GITHUB, SOURCE_OPENVEX)

_GHSA_RE = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}", re.IGNORECASE)
_BASE = 3  # major.minor.patch; longer versions are branches


# -- versions -----------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def version_parts(text: str) -> tuple[int, ...] | None:
    """`5.2.11.3` -> (5, 2, 11, 3); `OTP-27.3` -> (27, 3, 0); None for `R13B03` or garbage.

    Padded to three parts so a line compares with its own patches; trailing zeros beyond the third
    part are dropped (`28.5.0` is `28.5`, but `28.5.0.1` keeps its branch). Cached: judging one
    runtime parses the same few hundred version strings of the advisories again and again.
    """
    v = OtpVersion.try_parse(text.strip().removeprefix("pkg:otp/"))
    if v is None or v.is_rc:
        return None
    parts = list(v.parts) + [0] * max(0, _BASE - len(v.parts))
    while len(parts) > _BASE and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _pad(parts: tuple[int, ...], n: int) -> tuple[int, ...]:
    return parts + (0,) * max(0, n - len(parts))


def is_fixed_by(version: tuple[int, ...], fix: tuple[int, ...]) -> bool:
    """Whether `version` descends from the fix point `fix` in OTP's version tree."""
    if len(fix) <= _BASE:
        # A fix on a line fixes every later point of the line and every branch taken after it.
        return _pad(version, _BASE)[:_BASE] >= fix
    # A fix on a branch only fixes later points of that same branch (and branches off them).
    branch = fix[:-1]
    return _pad(version, len(fix))[: len(branch)] == branch and _pad(version, len(fix)) >= fix


def _precedes(version: tuple[int, ...], fix: tuple[int, ...]) -> bool:
    """Whether `fix` lies ahead of `version` on a path an upgrade of `version` can take."""
    if not is_fixed_by(version, fix) and _pad(fix, len(version)) > _pad(version, len(fix)):
        if len(version) > _BASE:
            # On a branch, only later points of the same branch are a patch-level upgrade.
            return fix[: len(version) - 1] == version[:-1]
        return True
    return False


def first_fix(version: tuple[int, ...], fixes: Iterable[tuple[int, ...]]) -> tuple[int, ...] | None:
    """The nearest fix point an upgrade of `version` reaches: the smallest one ahead of it."""
    ahead = [f for f in fixes if _precedes(version, f)]
    return min(ahead, key=lambda f: _pad(f, 8)) if ahead else None


def _text(parts: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in parts)


def range_affects(r: AffectedRange, version: str) -> bool | None:
    """True/False whether `r` covers `version`; None when the version cannot be parsed."""
    v = version_parts(version)
    if v is None:
        return None
    if r.versions:
        return any(version_parts(x) == v for x in r.versions)
    width = 8
    if r.introduced is not None:
        start = version_parts(r.introduced)
        if start is not None and _pad(v, width) < _pad(start, width):
            return False
    if r.limit is not None:
        end = version_parts(r.limit)
        if end is not None and _pad(v, width) >= _pad(end, width):
            return False
    return not any(is_fixed_by(v, f) for f in (version_parts(x) for x in r.fixed) if f is not None)


# -- parsers ------------------------------------------------------------------------------------
def _severity(text: object) -> AdvisorySeverity:
    try:
        return AdvisorySeverity(str(text).strip().lower())
    except ValueError:
        return AdvisorySeverity.UNKNOWN


def _day(text: object) -> date | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _purl_package(purl: str) -> str | None:
    """`pkg:otp/ssh?...` -> `ssh`; `pkg:github/erlang/otp` -> OTP_PACKAGE; else None."""
    if purl.startswith("pkg:otp/"):
        return purl[len("pkg:otp/") :].split("?", 1)[0].split("@", 1)[0]
    if purl.split("?", 1)[0].split("@", 1)[0].lower() == "pkg:github/erlang/otp":
        return OTP_PACKAGE
    return None


def parse_cve_record(data: Mapping[str, Any], source: str) -> Advisory:
    """One CVE JSON 5 record of the EEF CNA -> Advisory (only `versionType: "otp"` ranges count)."""
    try:
        cve_id = str(data["cveMetadata"]["cveId"])
        cna = data["containers"]["cna"]
        affected = cna["affected"]
    except (KeyError, TypeError) as e:
        raise KnowledgeError(
            f"{source}: not a CVE JSON 5 record (missing {e})",
            hint="refresh or reinstall the advisory data",
        ) from e
    ranges: list[AffectedRange] = []
    for entry in affected:
        package = _purl_package(str(entry.get("packageURL", "")))
        if package is None:
            continue
        for v in entry.get("versions", ()):
            # Git ranges (commit ids) cannot be compared with an installed version: skip them.
            if v.get("versionType") != "otp" or v.get("status") != "affected":
                continue
            less = v.get("lessThan")
            ranges.append(
                AffectedRange(
                    package=package,
                    introduced=str(v["version"])
                    if version_parts(str(v.get("version", "")))
                    else None,
                    limit=None if less in (None, "*") else str(less),
                    fixed=tuple(
                        str(c["at"])
                        for c in v.get("changes", ())
                        if c.get("status") == "unaffected"
                    ),
                )
            )
    severity, score = AdvisorySeverity.UNKNOWN, None
    for metric in cna.get("metrics", ()):
        for key in ("cvssV4_0", "cvssV3_1", "cvssV3_0"):
            if isinstance(metric.get(key), dict):
                severity = _severity(metric[key].get("baseSeverity"))
                score = metric[key].get("baseScore")
                break
        if severity is not AdvisorySeverity.UNKNOWN:
            break
    refs = [str(r.get("url", "")) for r in cna.get("references", ())]
    aliases = sorted({"GHSA" + m.group(0)[4:].lower() for u in refs if (m := _GHSA_RE.search(u))})
    vendor = next(
        (
            str(r["url"])
            for r in cna.get("references", ())
            if "vendor-advisory" in r.get("tags", ())
        ),
        f"https://www.cve.org/CVERecord?id={cve_id}",
    )
    return Advisory(
        id=cve_id,
        title=str(cna.get("title", "")),
        severity=severity,
        ranges=tuple(ranges),
        aliases=tuple(aliases),
        score=float(score) if isinstance(score, int | float) else None,
        published=_day(data["cveMetadata"].get("datePublished")),
        url=vendor,
        sources=(SOURCE_EEF,),
    )


def parse_compiled_record(data: Mapping[str, Any], source: str) -> Advisory:
    """The hand-compiled CVE-2025-32433 record (see the data's PROVENANCE.md) -> Advisory."""
    try:
        cve_id = str(data["id"])
        fixed_otp = [str(x).removeprefix("OTP-") for x in data["fixed_otp"]]
        fixed_app = {str(k): str(v) for k, v in data["fixed_app"].items()}
    except (KeyError, TypeError, AttributeError) as e:
        raise KnowledgeError(f"{source}: not a compiled advisory record (missing {e})") from e
    apps: dict[str, list[str]] = {}
    for token in fixed_app.values():
        name, _, vsn = token.partition("-")
        apps.setdefault(name, []).append(vsn)
    ranges = [AffectedRange(OTP_PACKAGE, None, None, tuple(fixed_otp))]
    ranges += [AffectedRange(name, None, None, tuple(vsns)) for name, vsns in sorted(apps.items())]
    return Advisory(
        id=cve_id,
        title=str(data.get("summary", "")),
        severity=_severity(data.get("severity")),
        ranges=tuple(ranges),
        aliases=tuple(str(a) for a in data.get("aliases", ())),
        score=float(data["score"]) if isinstance(data.get("score"), int | float) else None,
        url=str(data["advisory"]) if data.get("advisory") else None,
        sources=(SOURCE_COMPILED,),
    )


@shape_checked
def parse_openvex(
    data: Mapping[str, Any], source: str, otp_line: int | None = None
) -> tuple[Advisory, ...]:
    """An OpenVEX document of OTP (`vex/otp-<N>.openvex.json`) -> one Advisory per CVE.

    OpenVEX enumerates affected versions, so the ranges carry explicit `versions`; the document is
    about one OTP line, so they are scoped to it. A record of the wrong shape: `KnowledgeError`.
    """
    statements = data.get("statements")
    if not isinstance(statements, list):
        raise KnowledgeError(f"{source}: not an OpenVEX document (no 'statements' list)")
    affected: dict[str, dict[str, list[str]]] = {}
    fixed: dict[str, dict[str, list[str]]] = {}
    for st in statements:
        name = str((st.get("vulnerability") or {}).get("name", ""))
        status = st.get("status")
        if not name or status not in ("affected", "fixed"):
            continue
        target = affected if status == "affected" else fixed
        for product in st.get("products", ()):
            purl = str(product.get("@id", ""))
            package = _purl_package(purl)
            if package is None or "@" not in purl:
                continue
            vsn = purl.split("@", 1)[1].removeprefix("OTP-")
            target.setdefault(name, {}).setdefault(package, []).append(vsn)
    result = []
    for name in sorted(set(affected) | set(fixed)):
        packages = sorted(set(affected.get(name, {})) | set(fixed.get(name, {})))
        ranges = tuple(
            AffectedRange(
                package=p,
                versions=tuple(affected.get(name, {}).get(p, ())) or ("none",),
                fixed=tuple(fixed.get(name, {}).get(p, ())),
                otp_line=otp_line,
            )
            for p in packages
        )
        result.append(
            Advisory(name, "", AdvisorySeverity.UNKNOWN, ranges, sources=(SOURCE_OPENVEX,))
        )
    return tuple(result)


_GH_OTP_NAMES = {"erlang/otp", "otp", "erlang", "erlang/otp (ssh)"}


@shape_checked
def parse_github_advisory(data: Mapping[str, Any], source: str = "github") -> Advisory:
    """A repository advisory in GitHub's REST shape (`GET /repos/{o}/{r}/security-advisories`);
    a record of the wrong shape (e.g. `cvss` a list): `KnowledgeError`."""
    ghsa = data.get("ghsa_id")
    if not isinstance(ghsa, str) or not ghsa:
        raise KnowledgeError(f"{source}: a repository advisory without 'ghsa_id'")
    ranges: list[AffectedRange] = []
    for vuln in data.get("vulnerabilities") or ():
        pkg = vuln.get("package") or {}
        name = str(pkg.get("name") or "erlang/otp").strip()
        package = _purl_package(name) or (OTP_PACKAGE if name.lower() in _GH_OTP_NAMES else name)
        fixed = tuple(
            t.strip().removeprefix("OTP-").removeprefix("OTP ").removeprefix(f"{package}-")
            for t in str(vuln.get("patched_versions") or "").split(",")
            if version_parts(
                t.strip().removeprefix("OTP-").removeprefix("OTP ").removeprefix(f"{package}-")
            )
        )
        intro = re.search(
            r">=\s*(?:OTP-)?([\d.]+)", str(vuln.get("vulnerable_version_range") or "")
        )
        ranges.append(AffectedRange(package, intro.group(1) if intro else None, None, fixed))
    cvss = data.get("cvss") or {}
    cve_id = data.get("cve_id")
    return Advisory(
        id=str(cve_id) if cve_id else ghsa,
        title=str(data.get("summary", "")),
        severity=_severity(data.get("severity")),
        ranges=tuple(ranges),
        aliases=(ghsa,) if cve_id else (),
        score=float(cvss["score"]) if isinstance(cvss.get("score"), int | float) else None,
        published=_day(data.get("published_at")),
        url=str(data["html_url"]) if data.get("html_url") else None,
        sources=(SOURCE_GITHUB,),
    )


def merge_advisories(*groups: Iterable[Advisory]) -> tuple[Advisory, ...]:
    """Join advisories of several sources by CVE id (or GHSA alias), best ranges per package."""
    by_id: dict[str, list[Advisory]] = {}
    alias_of: dict[str, str] = {}
    for adv in (a for g in groups for a in g):
        key = alias_of.get(adv.id) or next(
            (alias_of[x] for x in adv.aliases if x in alias_of), adv.id
        )
        by_id.setdefault(key, []).append(adv)
        for name in (adv.id, *adv.aliases):
            alias_of.setdefault(name, key)

    def rank(a: Advisory) -> int:
        return min(
            (SOURCE_PRIORITY.index(s) for s in a.sources if s in SOURCE_PRIORITY), default=99
        )

    merged = []
    for key, parts in by_id.items():
        parts.sort(key=rank)
        ranges: list[AffectedRange] = []
        seen: set[tuple[str, int | None]] = set()
        for part in parts:
            own = {(r.package, r.otp_line) for r in part.ranges}
            ranges += [r for r in part.ranges if (r.package, r.otp_line) not in seen]
            seen |= own
        severity = next(
            (p.severity for p in parts if p.severity is not AdvisorySeverity.UNKNOWN),
            AdvisorySeverity.UNKNOWN,
        )
        merged.append(
            Advisory(
                id=key,
                title=next((p.title for p in parts if p.title), ""),
                severity=severity,
                ranges=tuple(ranges),
                aliases=tuple(sorted({x for p in parts for x in (p.id, *p.aliases)} - {key})),
                score=next((p.score for p in parts if p.score is not None), None),
                published=next((p.published for p in parts if p.published), None),
                url=next((p.url for p in parts if p.url), None),
                sources=tuple(dict.fromkeys(s for p in parts for s in p.sources)),
            )
        )
    return tuple(sorted(merged, key=lambda a: a.id))


def _load_json(node: Path) -> Any:
    try:
        return json.loads(node.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KnowledgeError(
            f"cannot read the bundled advisory file {node.name}: {e}",
            hint="reinstall otp-hardening-gate; the package data is missing or damaged",
        ) from e


def load_bundled_advisories() -> tuple[Advisory, ...]:
    """Every advisory in `gate/knowledge/data/advisories/`, merged (see PROVENANCE.md there)."""
    root = DATA_DIR / "advisories"
    eef = [
        parse_cve_record(_load_json(f), f"advisories/eef-cna/{f.name}")
        for f in sorted(root.joinpath("eef-cna").iterdir(), key=lambda f: f.name)
        if f.name.endswith(".json")
    ]
    compiled: list[Advisory] = []
    vex: list[Advisory] = []
    for f in sorted(root.iterdir(), key=lambda f: f.name):
        if f.name.endswith(".COMPILED.json"):
            compiled.append(parse_compiled_record(_load_json(f), f"advisories/{f.name}"))
        m = re.fullmatch(r"otp-(\d+)\.openvex\.json(?:\.EXCERPT\.json)?", f.name)
        if m:
            vex += parse_openvex(_load_json(f), f"advisories/{f.name}", int(m.group(1)))
    supplement = root.joinpath("supplements.json")
    extra = [
        Advisory(
            str(k),
            "",
            _severity(v.get("severity")),
            (),
            score=v.get("score"),
            sources=(str(v.get("source", "")),),
        )
        for k, v in (
            _load_json(supplement).get("severity", {}) if supplement.is_file() else {}
        ).items()
    ]
    return merge_advisories(eef, compiled, vex, extra)


# -- judging a runtime --------------------------------------------------------------------------
def runtime_applications(
    identity: OtpIdentity, index: ReleaseIndex
) -> tuple[dict[str, str], str, bool]:
    """The application versions to judge, how we know them, and whether the set is what ships.

    The runtime's own `lib/<app>-<vsn>` list wins (a `mix release` ships a subset); without it,
    the versions table gives the full set of the OTP version. `otp_patch_apply` results
    (`patched_applications`) override either, since they are what actually runs.
    """
    apps: dict[str, str] = {}
    shipped = False
    basis = "no application versions known"
    if identity.applications:
        apps = {a.name: a.version for a in identity.applications}
        shipped, basis = True, "the runtime's application directories"
    elif identity.version is not None:
        table = index.applications().get(identity.version)
        if table:
            apps = {a.name: a.version for a in table}
            basis = f"OTP {identity.version} in the OTP versions table"
    for a in identity.patched_applications:
        apps[a.name] = a.version
    return apps, basis, shipped


def _otp_of(identity: OtpIdentity) -> OtpVersion | None:
    if identity.version is not None:
        return identity.version
    # Several inferred candidates: judge by the oldest, so no advisory is missed.
    return min(identity.candidates) if identity.candidates else None


def _applies(r: AffectedRange, major: int | None) -> bool:
    return r.otp_line is None or major is None or r.otp_line == major


def _fixed_otp(adv: Advisory, otp: OtpVersion | None) -> str | None:
    """The first OTP release of the runtime's line that the advisory lists as fixed."""
    if otp is None:
        return None
    current = version_parts(str(otp))
    fixes = [
        p
        for r in adv.ranges
        if r.package == OTP_PACKAGE
        for p in (version_parts(x) for x in r.fixed)
        if p is not None and p[0] == otp.major
    ]
    if current is None or not fixes:
        return None
    nearest = first_fix(current, fixes)
    return _text(nearest) if nearest else None


def _judge_app(
    adv: Advisory, app: str, installed: str, major: int | None
) -> tuple[bool | None, str | None]:
    """Whether `installed` of `app` is affected, and the nearest application fix ahead of it."""
    verdicts = [
        range_affects(r, installed) for r in adv.ranges if r.package == app and _applies(r, major)
    ]
    if not verdicts:
        return None, None
    affected = True if any(v is True for v in verdicts) else (None if None in verdicts else False)
    v = version_parts(installed)
    fixes = [
        p
        for r in adv.ranges
        if r.package == app and _applies(r, major)
        for p in (version_parts(x) for x in r.fixed)
        if p is not None
    ]
    nearest = first_fix(v, fixes) if v is not None else None
    return affected, _text(nearest) if nearest else None


def _judge_present(
    adv: Advisory,
    present: Sequence[str],
    apps: Mapping[str, str],
    basis: str,
    otp: OtpVersion | None,
    otp_ranges: Sequence[AffectedRange],
    common: Mapping[str, Any],
) -> tuple[bool, AdvisoryFinding | None]:
    """Judge the shipped applications an advisory names: (judged at all, the affected finding)."""
    major = otp.major if otp else None
    judged = False
    for app in present:
        verdict, fix = _judge_app(adv, app, apps[app], major)
        if verdict is None:
            continue
        judged = True
        if not verdict:
            continue
        if common["fixed_otp"] is None and otp is not None and any(r.fixed for r in otp_ranges):
            fix = None  # the application fix exists only on other OTP lines
        if fix:
            where = f"fixed in {app} {fix}" + (
                f" (OTP {common['fixed_otp']})" if common["fixed_otp"] else ""
            )
        elif major is not None:
            where = f"no fixed release on OTP {major}: move to a supported line"
        else:
            where = "no known fix"
        return True, AdvisoryFinding(
            status=FindingStatus.AFFECTED,
            reason=f"{app} {apps[app]} is affected ({basis}); {where}",
            application=app,
            installed_version=apps[app],
            fixed_version=fix,
            **common,
        )
    return judged, None


def missed_fixes(
    identity: OtpIdentity, advisories: Iterable[Advisory], index: ReleaseIndex
) -> tuple[AdvisoryFinding, ...]:
    """The advisories that affect the runtime, plus those it escapes by not shipping the app.

    Affected findings come first, most severe first. An advisory whose affected applications the
    runtime does not ship is reported `not-affected` with that reason (only when the full OTP of
    that version would be affected, so the list stays about this runtime).
    """
    apps, basis, shipped = runtime_applications(identity, index)
    otp = _otp_of(identity)
    major = otp.major if otp else None
    findings: list[AdvisoryFinding] = []
    for adv in advisories:
        app_names = [
            a
            for a in adv.applications
            if any(_applies(r, major) for r in adv.ranges if r.package == a)
        ]
        otp_ranges = [r for r in adv.ranges if r.package == OTP_PACKAGE and _applies(r, major)]
        otp_hit = any(range_affects(r, str(otp)) for r in otp_ranges) if otp else False
        fixed_otp = _fixed_otp(adv, otp)
        common: dict[str, Any] = {
            "advisory_id": adv.id,
            "severity": adv.severity,
            "title": adv.title,
            "aliases": adv.aliases,
            "url": adv.url,
            "fixed_otp": fixed_otp,
        }
        if app_names and apps:
            present = [a for a in app_names if a in apps]
            if present:
                judged, finding = _judge_present(adv, present, apps, basis, otp, otp_ranges, common)
                if finding is not None:
                    findings.append(finding)
                if judged:
                    continue  # the application-level verdict stands, affected or not
            elif shipped:
                if otp_hit or otp is None:
                    findings.append(
                        AdvisoryFinding(
                            status=FindingStatus.NOT_AFFECTED,
                            reason=f"the runtime does not ship {', '.join(app_names)}, "
                            "the application this advisory affects",
                            application=app_names[0],
                            **common,
                        )
                    )
                continue
        # No application-level answer: judge by the OTP release number, conservatively.
        if otp is None or not otp_hit:
            continue
        if not app_names:
            why = "the advisory names no application"
        elif not apps:
            why = f"application versions unknown ({basis})"
        else:
            why = f"{', '.join(app_names)} not listed ({basis})"
        caveat = (
            "; otp_patch_apply was used, so the patched applications may already carry the fix"
            if identity.patched
            else ""
        )
        where = (
            f"fixed in OTP {fixed_otp}"
            if fixed_otp
            else f"no fixed release on OTP {otp.major}: move to a supported line"
        )
        findings.append(
            AdvisoryFinding(
                status=FindingStatus.AFFECTED,
                reason=f"OTP {otp} is affected (judged by OTP version: {why}{caveat}); {where}",
                application=app_names[0] if app_names else None,
                **common,
            )
        )
    order = {FindingStatus.AFFECTED: 0, FindingStatus.UNKNOWN: 1, FindingStatus.NOT_AFFECTED: 2}
    return tuple(sorted(findings, key=lambda f: (order[f.status], -f.severity.rank, f.advisory_id)))


_WORDS = {1: "one", 2: "two", 3: "three"}


def _count(n: int, label: str) -> str:
    return f"{_WORDS.get(n, str(n))} {label}"


def summarize(findings: Sequence[AdvisoryFinding], target: OtpVersion | None = None) -> str:
    """One line for the report: e.g. "upgrading to 26.2.5.11 fixes 3 advisories, one critical".

    `target` is the release the report recommends (the newest patch of the line); without it the
    newest `fixed_otp` among the findings is used.
    """
    affected = [f for f in findings if f.status is FindingStatus.AFFECTED]
    skipped = sum(1 for f in findings if f.status is FindingStatus.NOT_AFFECTED)
    tail = (
        f" ({_count(skipped, 'advisory' if skipped == 1 else 'advisories')} not applicable: application not shipped)"
        if skipped
        else ""
    )
    if not affected:
        return "no known advisory affects this runtime" + tail
    fixable = [f for f in affected if f.fixed_otp]
    goal = target or (
        max(OtpVersion.parse(f.fixed_otp) for f in fixable if f.fixed_otp) if fixable else None
    )
    fixed_here = [
        f for f in fixable if f.fixed_otp and goal and OtpVersion.parse(f.fixed_otp) <= goal
    ]
    parts = []
    if goal and fixed_here:
        n = len(fixed_here)
        text = f"upgrading to {goal} fixes {n} {'advisory' if n == 1 else 'advisories'}"
        sev = [
            _count(c, s.value)
            for s in (AdvisorySeverity.CRITICAL, AdvisorySeverity.HIGH)
            if (c := sum(1 for f in fixed_here if f.severity is s))
        ]
        parts.append(text + (", " + " and ".join(sev) if sev else ""))
    no_fix = [f for f in affected if not f.fixed_otp]
    if no_fix:
        n = len(no_fix)
        parts.append(
            f"{n} {'advisory has' if n == 1 else 'advisories have'} no fixed release on this line: "
            "move to a supported line"
        )
    beyond = len(fixable) - len(fixed_here)
    if beyond:
        parts.append(
            f"{beyond} more {'needs' if beyond == 1 else 'need'} a release newer than {goal}"
        )
    return "; ".join(parts) + tail


def assess(
    identity: OtpIdentity,
    advisories: Iterable[Advisory],
    index: ReleaseIndex,
    *,
    target: OtpVersion | None = None,
    backports: BackportInfo | None = None,
    policy: BackportPolicy = BackportPolicy.IGNORE,
) -> AdvisoryAssessment:
    """`missed_fixes`, the distro-backports policy and `summarize` in one pure call for reports."""
    from gate.knowledge.distro_backports import apply_backports

    findings = apply_backports(missed_fixes(identity, advisories, index), backports, policy)
    notes: list[str] = []
    if backports is not None:
        listed = sum(1 for f in findings if f.backported_in)
        effect = (
            "they count as fixed (distro-backports: trust)"
            if policy is BackportPolicy.TRUST
            else "the upstream verdict stands (distro-backports: ignore)"
        )
        notes.append(
            f"{backports.distro} package {backports.package} {backports.version} says it fixed "
            f"{len(backports.fixed_cves)} CVEs ({listed} of the findings here); {effect}"
        )
    return AdvisoryAssessment(
        findings, summarize(findings, target), backports, policy, tuple(notes)
    )
