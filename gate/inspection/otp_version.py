"""Which OTP release a runtime is: from OTP_VERSION, or inferred from erts and application versions.

OTP writes `releases/<major>/OTP_VERSION` on install; `mix release` and rebar3 do not copy it,
so for releases the version is inferred with the OTP versions table (System Principles, "OTP
Versions"): every OTP release whose application set contains all the versions found fits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from operator import attrgetter

from gate.inspection.runtime import distinct_applications
from gate.knowledge.interface import ReleaseIndex
from gate.model.otp import AppVersion, OtpIdentity, OtpVersion, OtpVersionFile
from gate.model.runtime import Runtime

SOURCE_OTP_VERSION = "OTP_VERSION"
SOURCE_INFERRED = "inferred"
SOURCE_BEAM = "beam"
SOURCE_NONE = "none"

_NUMBERS_RE = re.compile(r"\d+(?:\.\d+)+")
_OTP_MAJOR_RE = re.compile(r"Erlang/OTP (\d+)")


def _vsn_key(version: str) -> tuple[tuple[int, str], ...]:
    """Order application versions (`5.1.2` < `5.1.10`); non-numeric parts sort as text."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.-]", version))


def _by_name(apps: Iterable[AppVersion]) -> dict[str, str]:
    return {a.name: a.version for a in apps}


def _beam_versions(beam_strings: Iterable[str]) -> tuple[list[str], list[int]]:
    """Version numbers and `Erlang/OTP <major>` mentions in the strings of beam.smp."""
    numbers: list[str] = []
    majors: list[int] = []
    for s in beam_strings:
        numbers += [n for n in _NUMBERS_RE.findall(s) if n not in numbers]
        majors += [int(m) for m in _OTP_MAJOR_RE.findall(s) if int(m) not in majors]
    return numbers, majors


def _present_otp_apps(
    runtime: Runtime, names: frozenset[str]
) -> tuple[list[AppVersion], list[str]]:
    """OTP applications found in lib/ (one version each) and notes on duplicates.

    A release that went through upgrades keeps old application folders; the newest counts.
    """
    found: dict[str, list[str]] = {}
    for app in runtime.applications:
        if app.name in names:
            found.setdefault(app.name, []).append(app.version)
    notes: list[str] = []
    apps: list[AppVersion] = []
    for name in sorted(found):
        versions = sorted(found[name], key=_vsn_key)
        if len(versions) > 1:
            notes.append(
                f"lib/ holds several versions of {name} ({', '.join(versions)}); used {versions[-1]}"
            )
        apps.append(AppVersion(name, versions[-1]))
    return apps, notes


def _erts_version(
    runtime: Runtime, beam_numbers: list[str], known_erts: set[str]
) -> tuple[str | None, list[str]]:
    """The erts version: the erts-* folder (start_erl.data picks among several), else beam.smp."""
    evidence: list[str] = []
    erts: str | None
    start = runtime.start_erl_data.split()[0] if runtime.start_erl_data else None
    if len(runtime.erts_versions) == 1:
        erts = runtime.erts_versions[0]
        evidence.append(f"folder erts-{erts}")
    elif runtime.erts_versions:
        erts = start if start in runtime.erts_versions else max(runtime.erts_versions, key=_vsn_key)
        evidence.append(
            f"several erts folders ({', '.join(runtime.erts_versions)}); "
            f"erts-{erts} is the one {'releases/start_erl.data names' if erts == start else 'newest'}"
        )
    elif start:
        erts = start
        evidence.append(f"releases/start_erl.data names erts {erts}")
    else:
        from_beam = [n for n in beam_numbers if n in known_erts]
        erts = from_beam[0] if from_beam else None
        if erts:
            evidence.append(f"beam.smp embeds erts version {erts}")
        return erts, evidence
    beam_erts = [n for n in beam_numbers if n in known_erts]
    if beam_erts and erts not in beam_numbers:
        evidence.append(
            f"beam.smp embeds erts version {beam_erts[0]}, not {erts}: the emulator does not "
            "belong to this erts folder"
        )
    elif erts in beam_numbers:
        evidence.append(f"beam.smp embeds erts version {erts}, matching")
    return erts, evidence


def identify(
    runtime: Runtime, index: ReleaseIndex, beam_strings: tuple[str, ...] = ()
) -> OtpIdentity:
    """Identify the OTP release of `runtime`; `beam_strings` are version strings from beam.smp."""
    table = index.applications()
    distinct = distinct_applications(table)
    names = frozenset(map(attrgetter("name"), distinct))
    known_erts = {a.version for a in distinct if a.name == "erts"}
    beam_numbers, beam_majors = _beam_versions(beam_strings)
    present, notes = _present_otp_apps(runtime, names)
    erts, erts_evidence = _erts_version(runtime, beam_numbers, known_erts)
    evidence = [*erts_evidence, *notes]
    if beam_majors:
        evidence.append("beam.smp says Erlang/OTP " + ", ".join(str(m) for m in beam_majors))

    applications = list(present) or list(runtime.installed_application_versions)
    if erts and "erts" not in {a.name for a in applications}:
        applications.append(AppVersion("erts", erts))
    applications.sort(key=lambda a: a.name)

    if runtime.otp_version_file:
        identity = _from_otp_version_file(runtime, table, erts, applications, evidence)
        if identity is not None:
            return identity

    observed = [a for a in applications if a.name != "erts"]
    if erts:
        observed.append(AppVersion("erts", erts))
    if not observed:
        evidence.append("no OTP_VERSION file, no erts-* folder and no OTP application in lib/")
        return OtpIdentity(None, SOURCE_NONE, evidence=tuple(evidence))
    candidates, fit_evidence = _fit(observed, table, erts)
    evidence += fit_evidence
    if beam_majors and candidates:
        candidates = tuple(c for c in candidates if c.major in beam_majors) or candidates
    only_beam = not runtime.erts_versions and not runtime.start_erl_data and not present
    source = SOURCE_BEAM if only_beam else SOURCE_INFERRED
    if not candidates:
        return OtpIdentity(
            None,
            SOURCE_NONE,
            erts_version=erts,
            applications=tuple(applications),
            evidence=tuple(evidence),
        )
    if len(candidates) == 1:
        version: OtpVersion | None = candidates[0]
    elif erts:
        # erts and every OTP application shipped are the same in all candidates: they differ only
        # in applications this runtime does not contain, so it *is* the newest of them, and is not
        # "behind" for patches to code it does not ship (issue 5: unused apps are not findings).
        version = candidates[-1]
        evidence.append(
            f"{len(candidates)} releases fit; they differ only in applications not shipped"
        )
    else:
        # Without erts (a release built with include_erts: false) the candidates differ in code
        # the runtime gets from elsewhere: no single answer; callers judge the candidates.
        version = None
        evidence.append("no erts in the runtime: several releases fit and none can be singled out")
    return OtpIdentity(
        version=version,
        source=source,
        candidates=candidates,
        erts_version=erts,
        applications=tuple(applications),
        evidence=tuple(evidence),
    )


def _from_otp_version_file(
    runtime: Runtime,
    table: Mapping[OtpVersion, tuple[AppVersion, ...]],
    erts: str | None,
    applications: list[AppVersion],
    evidence: list[str],
) -> OtpIdentity | None:
    file = OtpVersionFile.parse(runtime.otp_version_file or "")
    text, version, patched = file.text, file.version, file.patched
    if version is None:
        evidence.append(
            f"OTP_VERSION says {text!r}, which is not an OTP version; inferring instead"
        )
        return None
    evidence.insert(0, f"OTP_VERSION says {text}")
    expected = table.get(version)
    patched_apps: tuple[AppVersion, ...] = ()
    if expected is None:
        evidence.append(
            f"OTP {version} is not in the OTP versions table; its applications are not checked"
        )
    else:
        want = _by_name(expected)
        if erts and want.get("erts") not in (None, erts):
            evidence.append(f"erts-{erts} differs from OTP {version}'s erts-{want['erts']}")
        if patched:
            # otp_patch_apply updates installed_application_versions; lib/ is the fallback.
            actual = runtime.installed_application_versions or tuple(applications)
            patched_apps = tuple(a for a in actual if a.name in want and want[a.name] != a.version)
            evidence.append(
                "patched with otp_patch_apply (OTP_VERSION ends in **): "
                + (
                    ", ".join(str(a) for a in patched_apps)
                    or "no application differs from the table"
                )
            )
        else:
            # Without `**`, lib/ should match the release exactly; say so when it does not
            # (a hand-copied application, or a tree assembled from several installs).
            odd = [
                str(a)
                for a in applications
                if a.name != "erts" and a.name in want and want[a.name] != a.version
            ]
            if odd:
                evidence.append(
                    f"lib/ has {', '.join(odd)}, which OTP {version} does not ship "
                    "(not marked patched with **)"
                )
    return OtpIdentity(
        version=version,
        source=SOURCE_OTP_VERSION,
        candidates=(version,),
        erts_version=erts,
        applications=tuple(applications),
        patched=patched,
        patched_applications=patched_apps,
        evidence=tuple(evidence),
    )


def _fit(
    observed: list[AppVersion],
    table: Mapping[OtpVersion, tuple[AppVersion, ...]],
    erts: str | None,
) -> tuple[tuple[OtpVersion, ...], list[str]]:
    """OTP releases whose application set contains every observed version (or the closest ones)."""
    wanted = {(a.name, a.version) for a in observed}
    shown = ", ".join(sorted(f"{n}-{v}" for n, v in wanted))
    scores: dict[OtpVersion, int] = {}
    for version, apps in table.items():
        have = {(a.name, a.version) for a in apps}
        scores[version] = len(wanted & have)
    exact = sorted(v for v, s in scores.items() if s == len(wanted))
    if exact:
        listed = ", ".join(str(v) for v in exact)
        return tuple(exact), [f"{len(exact)} OTP release(s) in the table contain {shown}: {listed}"]
    # No release has them all: an application was patched (otp_patch_apply, or a vendored copy),
    # or the runtime is newer than the table. Keep the closest releases with the same erts.
    erts_ok = {
        v
        for v, apps in table.items()
        if erts is None or ("erts", erts) in {(a.name, a.version) for a in apps}
    }
    if not erts_ok:
        return (), [
            f"erts-{erts} is in no OTP release of the table; the runtime may be newer than the data"
        ]
    best = max(scores[v] for v in erts_ok)
    closest = sorted(v for v in erts_ok if scores[v] == best)
    newest = closest[-1]
    have = {(a.name, a.version) for a in table[newest]}
    misfits = ", ".join(sorted(f"{n}-{v}" for n, v in wanted - have))
    return tuple(closest), [
        f"no OTP release in the table contains all of {shown}; closest: "
        + ", ".join(str(v) for v in closest)
        + f" ({misfits} differ: patched or vendored applications)"
    ]
