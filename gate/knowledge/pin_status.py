"""Judge each OTP pin against the release data: current, behind, unsupported line, unknown (pure).

A pin needs only release data, never a runtime: an exact pin is the version it names; a floating
pin (`27`, `27.3`, `erlang:27`) is resolved to the newest release it matches today, which is what
asdf/mise, setup-beam's default `version-type: loose` and a moving image tag install.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from gate.knowledge.advisories import missed_fixes
from gate.knowledge.interface import ReleaseIndex
from gate.knowledge.releases import final_releases, version_status
from gate.model.advisory import Advisory, AdvisoryFinding, FindingStatus
from gate.model.otp import OtpIdentity, OtpVersion, Release, VersionStatus
from gate.model.pin import Pin, PinJudgement, PinKind, PinsReport, PinStatus


def resolve(pin: Pin, releases: Iterable[Release]) -> OtpVersion | None:
    """The release a pin installs today: itself when exact, else the newest final release whose
    version starts with the pin's numbers (`27.3` -> the newest 27.3.x)."""
    v = pin.version
    if v is None or pin.exact:
        return v
    matching = [
        r.version for r in final_releases(releases) if r.version.parts[: len(v.parts)] == v.parts
    ]
    return max(matching) if matching else None


def _status(vs: VersionStatus, known: bool) -> PinStatus:
    if vs.version is None or vs.line is None:
        return PinStatus.UNKNOWN
    if vs.supported is False:
        return PinStatus.UNSUPPORTED
    if not known:
        return PinStatus.UNKNOWN
    if vs.latest_patch is not None and vs.version < vs.latest_patch:
        return PinStatus.BEHIND
    return PinStatus.CURRENT


def judge_pin(
    pin: Pin, index: ReleaseIndex, advisories: Sequence[Advisory], today: date
) -> PinJudgement:
    """One pin against the index; advisories fixed after an exact pin are listed with it."""
    releases = index.releases()
    if pin.kind == PinKind.REBAR_MINIMUM:
        return PinJudgement(pin, PinStatus.FLOOR, None, None, 0, (), note="a minimum, not a pin")
    resolved = resolve(pin, releases)
    vs = version_status(resolved, index, today)
    known = resolved is not None and resolved in {r.version for r in releases}
    status = _status(vs, known)
    found: tuple[AdvisoryFinding, ...] = ()
    if pin.exact and resolved is not None and status in (PinStatus.BEHIND, PinStatus.UNSUPPORTED):
        identity = OtpIdentity(version=resolved, source="pin")
        found = tuple(
            f
            for f in missed_fixes(identity, advisories, index)
            if f.status is FindingStatus.AFFECTED
        )
    note = ""
    if pin.version is None:
        note = f"{pin.version_text!r} is not an OTP version"
    elif resolved is None:
        note = f"no published release matches {pin.version_text}"
    elif not known:
        note = f"{resolved} is not a published release in the data"
    elif not pin.exact:
        note = f"floats: installs {resolved} today"
    return PinJudgement(
        pin=pin,
        status=status,
        resolved=resolved,
        latest_patch=vs.latest_patch,
        patches_behind=vs.patches_behind if status == PinStatus.BEHIND else 0,
        supported_lines=vs.supported_lines,
        advisories=found,
        note=note,
        version_status=vs,
    )


def judge_pins(
    pins: Sequence[Pin],
    index: ReleaseIndex,
    advisories: Sequence[Advisory],
    today: date,
    root: str = ".",
    warnings: Sequence[str] = (),
) -> PinsReport:
    """Every pin judged, in the order given (path, then line)."""
    return PinsReport(
        root=root,
        judgements=tuple(judge_pin(p, index, advisories, today) for p in pins),
        provenance=index.provenance,
        warnings=tuple(warnings),
    )
