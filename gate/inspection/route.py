"""Decide how a runtime was built (its build route) from the evidence around it.

A ranked table of small detectors, one per kind of evidence; the strongest rank wins and the others
become "also seen" notes. The evidence readers are `gate.knowledge.package_db` (package databases),
`route_dockerfile` (the project's Dockerfiles) and `route_flags` (the recorded build flags); the
known cause of each route is `route_causes`, the report text `route_explain`. Nothing here runs a
scanned file or follows a symlink out of the scanned root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple

from gate.inspection.route_causes import known_cause
from gate.inspection.route_flags import (
    analyse_recorded_flags,
    hardening_defaults_disabled,
    render_recorded_flags,
)
from gate.inspection.route_image import image_route
from gate.knowledge.distros import debian_release, is_ubuntu, ubuntu_release
from gate.knowledge.package_db import (
    apk_packages,
    debian_changelog,
    dpkg_lists,
    dpkg_owns,
    dpkg_packages,
    inside,
    os_release,
    upstream_version,
)
from gate.knowledge.remediation import DISABLE_HARDENING_OPTION, has_hardened_defaults
from gate.model.elf import RecordedBuildFlags
from gate.model.otp import OtpVersion
from gate.model.route import (
    BuildRoute,
    Confidence,
    DockerfileBuild,
    ImageMetadata,
    RouteEvidence,
    RouteFinding,
)
from gate.model.runtime import Origin

# Binary packages that hold the emulator (beam.smp): Debian/Ubuntu and Alpine.
DEB_OTP_PACKAGES = ("erlang-base", "erlang-base-hipe")
APK_OTP_PACKAGES = ("erlang",)

_KERL_PATH_MARKS = ("/.kerl/", "/.asdf/installs/erlang/", "/kerl/installs/")
_PREBUILT_PATH_MARKS = (
    "/hostedtoolcache/otp/",
    "/.local/share/mise/installs/erlang/",
    "/mise/installs/erlang/",
)


class Rank(IntEnum):
    """Which evidence wins, strongest (lowest) first.

    Evidence about the scanned tree itself (how the gate got it, a package database listing it,
    kerl's marker, a tool's install path) beats a known image name, which beats the project's
    Dockerfile (it may build a different runtime than the one scanned), which beats image history,
    the caller's package hint and the install prefix.
    """

    GATE_ORIGIN = 0  # the gate built or downloaded the tree itself
    PACKAGE_OWNS_TREE = 1  # a package database or changelog lists this tree
    INSTALL_TOOL = 2  # kerl's activate script, a kerl/asdf/setup-beam/mise install path
    IMAGE_NAME = 3  # a known image reference or label
    DOCKERFILE = 4  # the project's Dockerfile runs ./configure for OTP
    IMAGE_HISTORY = 5  # image ENV/history only
    CALLER_HINT = 6  # the package and distro the acquiring source reported
    PACKAGE_INSTALLED = 7  # an OTP package is installed, not shown to own this tree
    PREFIX = 8  # /usr/local, make install's default prefix
    NONE = 9


# The detectors' records are NamedTuples: a dataclass costs ~0.5 ms to define at import (issue 12).
class _Candidate(NamedTuple):
    route: BuildRoute
    confidence: Confidence
    evidence: list[RouteEvidence]
    package: str | None = None
    package_version: str | None = None
    distro: str | None = None
    rank: Rank = Rank.NONE


class _Scene(NamedTuple):
    """The evidence every detector may look at, gathered once."""

    otp_root: Path
    sys_root: Path | None
    path_in_system: str
    origin: Origin | None
    image: ImageMetadata | None
    dockerfile: DockerfileBuild | None

    @property
    def where(self) -> str:
        return self.otp_root.as_posix() + "/"

    @property
    def posix_root(self) -> str:
        return "/" + self.path_in_system if self.path_in_system else self.otp_root.as_posix()


# --- the detectors, one per kind of evidence ---------------------------------------------------


def _gate_built(s: _Scene) -> _Candidate | None:
    if s.origin is None or s.origin.method != "build":
        return None
    ev = [RouteEvidence("origin", s.origin.description)]
    return _Candidate(BuildRoute.SOURCE_BUILD, Confidence.HIGH, ev, rank=Rank.GATE_ORIGIN)


def _gate_downloaded(s: _Scene) -> _Candidate | None:
    o = s.origin
    if o is None or not (o.method == "prebuilt" or "builds.hex.pm" in o.description):
        return None
    ev = [RouteEvidence("origin", o.description)]
    return _Candidate(
        BuildRoute.BUILDS_HEX_PM, Confidence.HIGH, ev, distro="ubuntu", rank=Rank.GATE_ORIGIN
    )


def _changelog_evidence(name: str, log: tuple[str, str, str]) -> RouteEvidence:
    return RouteEvidence(
        "changelog", f"{log[0]} ({log[1]}) {log[2]}", f"usr/share/doc/{name}/changelog.Debian.gz"
    )


def _dpkg(s: _Scene) -> _Candidate | None:
    """An installed erlang-base whose file list holds this tree (or does not say)."""
    if s.sys_root is None or not s.path_in_system:
        return None
    root, where = s.sys_root, s.path_in_system
    debs = dpkg_packages(root)
    for name in DEB_OTP_PACKAGES:
        pkg = debs.get(name)
        if pkg is None:
            continue
        owner = dpkg_owns(root, name, where)
        if owner is None and dpkg_lists(root, name):
            continue  # dpkg lists the package's files and this tree is not among them
        ev = [RouteEvidence("dpkg-status", f"{name} {pkg.version} is installed", pkg.source)]
        if owner:
            ev.append(RouteEvidence("dpkg-list", f"{name} owns /{where}", owner))
        log = debian_changelog(root, name)
        if log:
            ev.append(_changelog_evidence(name, log))
        owns = bool(owner) or where.strip("/") == "usr/lib/erlang"
        conf = Confidence.HIGH if owns else Confidence.LOW
        rank = Rank.PACKAGE_OWNS_TREE if owns else Rank.PACKAGE_INSTALLED
        dist = log[2] if log else None
        return _distro_candidate(name, pkg.version, dist, os_release(root), ev, conf, rank)
    return None


def _unpacked_deb(s: _Scene) -> _Candidate | None:
    """An unpacked package (dpkg -x): its changelog at usr/lib/erlang, no database."""
    if s.sys_root is None or s.path_in_system.strip("/") != "usr/lib/erlang":
        return None
    for name in DEB_OTP_PACKAGES:
        log = debian_changelog(s.sys_root, name)
        if log:
            ev = [_changelog_evidence(name, log)]
            osr = os_release(s.sys_root)
            return _distro_candidate(
                name, log[1], log[2], osr, ev, Confidence.HIGH, Rank.PACKAGE_OWNS_TREE
            )
    return None


def _apk(s: _Scene) -> _Candidate | None:
    """Alpine's erlang package, when its folders hold this tree (or it lists none)."""
    if s.sys_root is None or not s.path_in_system:
        return None
    apks = apk_packages(s.sys_root)
    for name in APK_OTP_PACKAGES:
        if name not in apks:
            continue
        pkg, dirs = apks[name]
        owns = any(d.strip("/").startswith(s.path_in_system.strip("/")) for d in dirs)
        if dirs and not owns:
            continue  # apk lists the package's folders and this tree is not among them
        said = f"{name} {pkg.version} is installed" + (
            f" and owns /{s.path_in_system}" if owns else ""
        )
        ver = os_release(s.sys_root).get("VERSION_ID", "")
        distro = "alpine-" + ".".join(ver.split(".")[:2]) if ver else "alpine"
        return _Candidate(
            BuildRoute.ALPINE_PACKAGE,
            Confidence.HIGH if owns else Confidence.LOW,
            [RouteEvidence("apk-db", said, pkg.source)],
            name,
            pkg.version,
            distro,
            rank=Rank.PACKAGE_OWNS_TREE if owns else Rank.PACKAGE_INSTALLED,
        )
    return None


def _package_database(s: _Scene) -> _Candidate | None:
    """dpkg first, then an unpacked .deb, then apk: the first that speaks for the tree."""
    return _dpkg(s) or _unpacked_deb(s) or _apk(s)


def _distro_candidate(
    name: str,
    version: str,
    dist: str | None,
    osr: Mapping[str, str],
    ev: list[RouteEvidence],
    conf: Confidence,
    rank: Rank,
) -> _Candidate:
    if is_ubuntu(version, dist, osr):
        rel = ubuntu_release(dist, osr)
        distro = f"ubuntu-{rel}" if rel else "ubuntu"
        return _Candidate(BuildRoute.UBUNTU_PACKAGE, conf, ev, name, version, distro, rank)
    rel = debian_release(version, dist, osr)
    distro = f"debian-{rel}" if rel else "debian"
    return _Candidate(BuildRoute.DEBIAN_PACKAGE, conf, ev, name, version, distro, rank)


def _kerl_marker(s: _Scene) -> _Candidate | None:
    activate = s.otp_root / "activate"
    if not (activate.is_file() and inside(s.otp_root, activate)):
        return None
    ev = [RouteEvidence("path", "kerl's activate script", "activate")]
    return _Candidate(BuildRoute.KERL_ASDF, Confidence.HIGH, ev, rank=Rank.INSTALL_TOOL)


def _kerl_path(s: _Scene) -> _Candidate | None:
    if not any(m in s.where for m in _KERL_PATH_MARKS):
        return None
    ev = [RouteEvidence("path", "a kerl/asdf install path", s.where)]
    return _Candidate(BuildRoute.KERL_ASDF, Confidence.HIGH, ev, rank=Rank.INSTALL_TOOL)


def _prebuilt_path(s: _Scene) -> _Candidate | None:
    if not any(m in s.where for m in _PREBUILT_PATH_MARKS):
        return None
    said = "a setup-beam/mise install path (prebuilt builds.hex.pm tarball)"
    ev = [RouteEvidence("path", said, s.where)]
    return _Candidate(BuildRoute.BUILDS_HEX_PM, Confidence.HIGH, ev, rank=Rank.INSTALL_TOOL)


def _image(s: _Scene) -> _Candidate | None:
    if s.image is None:
        return None
    route, conf, ev, distro = image_route(s.image)
    if route == BuildRoute.UNKNOWN:
        return None
    osr = os_release(s.sys_root) if s.sys_root is not None else {}
    if distro is None and osr.get("ID"):
        distro = osr["ID"]
    named = any(e.detail.startswith(("image reference", "Docker Official", "label")) for e in ev)
    rank = Rank.IMAGE_NAME if named else Rank.IMAGE_HISTORY
    return _Candidate(route, conf, ev, distro=distro, rank=rank)


def _dockerfile(s: _Scene) -> _Candidate | None:
    if s.dockerfile is None:
        return None
    where = f"{s.dockerfile.path}:{s.dockerfile.configure_line}"
    ev = [RouteEvidence("dockerfile", "the project's Dockerfile runs ./configure for OTP", where)]
    return _Candidate(BuildRoute.DOCKERFILE_SOURCE_BUILD, Confidence.HIGH, ev, rank=Rank.DOCKERFILE)


_HINT_ROUTES = (
    ("debian", BuildRoute.DEBIAN_PACKAGE),
    ("ubuntu", BuildRoute.UBUNTU_PACKAGE),
    ("alpine", BuildRoute.ALPINE_PACKAGE),
)


def _caller_hint(s: _Scene) -> _Candidate | None:
    o = s.origin
    if o is None or not o.package or not o.distro:
        return None
    d = o.distro.lower()
    route = next((r for prefix, r in _HINT_ROUTES if d.startswith(prefix)), None)
    if route is None:
        return None
    said = f"{o.package} {o.package_version or ''} on {o.distro}".replace("  ", " ")
    ev = [RouteEvidence("origin", said)]
    return _Candidate(
        route, Confidence.LOW, ev, o.package, o.package_version, o.distro, Rank.CALLER_HINT
    )


def _prefix(s: _Scene) -> _Candidate | None:
    if not s.path_in_system.startswith("usr/local/lib"):
        return None
    said = "installed under /usr/local, make install's default prefix"
    ev = [RouteEvidence("path", said, s.posix_root)]
    return _Candidate(BuildRoute.SOURCE_BUILD, Confidence.LOW, ev, rank=Rank.PREFIX)


# In report order: on equal rank the earlier detector wins.
DETECTORS: tuple[Callable[[_Scene], _Candidate | None], ...] = (
    _gate_built,
    _gate_downloaded,
    _package_database,
    _kerl_marker,
    _kerl_path,
    _prebuilt_path,
    _image,
    _dockerfile,
    _caller_hint,
    _prefix,
)


# --- the decision ------------------------------------------------------------------------------


def _infer_system_root(otp_root: Path) -> Path | None:
    parts = otp_root.parts
    for tail in (
        ("usr", "lib", "erlang"),
        ("usr", "lib64", "erlang"),
        ("usr", "local", "lib", "erlang"),
        ("usr", "local", "lib64", "erlang"),
    ):
        if len(parts) > len(tail) and tuple(parts[-len(tail) :]) == tail:
            return Path(*parts[: -len(tail)])
    return None


def _path_in_system(otp_root: Path, sys_root: Path | None, origin: Origin | None) -> str:
    if origin is not None and origin.path_in_image:
        return origin.path_in_image.strip("/")
    if sys_root is not None:
        try:
            return otp_root.relative_to(sys_root).as_posix()
        except ValueError:
            return ""
    return ""


def detect_route(
    otp_root: Path,
    *,
    system_root: Path | None = None,
    origin: Origin | None = None,
    image: ImageMetadata | None = None,
    workspace: Path | None = None,
    otp_version: OtpVersion | None = None,
    build_flags: RecordedBuildFlags | None = None,
) -> RouteFinding:
    """The build route of the runtime at `otp_root`, with its evidence and known cause.

    `system_root` is the root of the filesystem the runtime lives in (an unpacked image, the
    unpacked packages, or `/` for the host); when absent it is inferred from a `usr/lib/erlang` or
    `usr/local/lib/erlang` layout. `workspace` is the project checkout whose Dockerfiles may build
    OTP. Precedence is `Rank`; `DETECTORS` lists the evidence read.
    """
    otp_version = otp_version or _version_from_origin(origin)
    sys_root = system_root or _infer_system_root(otp_root)
    dockerfile = None
    if workspace is not None:
        # The Dockerfile reader (and its model) loads only when there is a workspace (issue 12).
        from gate.inspection.route_dockerfile import find_dockerfile_build

        dockerfile = find_dockerfile_build(workspace)
    scene = _Scene(
        otp_root, sys_root, _path_in_system(otp_root, sys_root, origin), origin, image, dockerfile
    )
    candidates = [c for c in (detect(scene) for detect in DETECTORS) if c is not None]
    chosen = _choose(candidates)
    dockerfile = (
        scene.dockerfile
        if chosen is not None and chosen.route == BuildRoute.DOCKERFILE_SOURCE_BUILD
        else None
    )
    if chosen is None:
        chosen = _Candidate(BuildRoute.UNKNOWN, Confidence.NONE, [])
        cause, hardened = _unknown_cause(otp_version)
    else:
        version = otp_version or _version_from_package(chosen.package_version)
        cause, hardened = known_cause(chosen.route, version, chosen.distro, dockerfile)
    effective_version = otp_version or _version_from_package(chosen.package_version)
    disabled = hardening_defaults_disabled(build_flags, effective_version)
    if disabled:
        hardened = False
    notes = _notes(chosen, candidates, build_flags, effective_version, disabled, dockerfile)
    return RouteFinding(
        route=chosen.route,
        confidence=chosen.confidence,
        evidence=(*chosen.evidence, *_flag_evidence(build_flags)),
        cause=cause,
        expected_hardened=hardened,
        recorded_flags=render_recorded_flags(build_flags, effective_version),
        hardening_defaults_disabled=disabled,
        package=chosen.package,
        package_version=chosen.package_version,
        distro=chosen.distro,
        dockerfile=dockerfile,
        notes=notes,
    )


def _unknown_cause(otp_version: OtpVersion | None) -> tuple[str | None, bool | None]:
    if has_hardened_defaults(otp_version):
        return "OTP >= 28's configure adds the OpenSSF hardening flags by default.", True
    return None, None


def _flag_evidence(flags: RecordedBuildFlags | None) -> tuple[RouteEvidence, ...]:
    if flags is None or not flags.cflags or "/build/reproducible-path/erlang-" not in flags.cflags:
        return ()
    said = "the recorded CFLAGS name Debian's build path /build/reproducible-path/erlang-*"
    return (RouteEvidence("recorded-flags", said),)


def _notes(
    chosen: _Candidate,
    candidates: list[_Candidate],
    flags: RecordedBuildFlags | None,
    version: OtpVersion | None,
    disabled: bool,
    dockerfile: DockerfileBuild | None,
) -> tuple[str, ...]:
    notes: list[str] = []
    if disabled:
        notes.append(
            f"OTP {version} adds hardening flags by default, but the recorded flags hold "
            f"none of them: the build was configured with {DISABLE_HARDENING_OPTION} or its "
            "flags were replaced."
        )
    analysis = analyse_recorded_flags(flags)
    if analysis is not None and analysis.missing:
        notes.append(
            "The recorded flags (they cover erts, not NIFs) lack "
            + ", ".join(analysis.missing)
            + "."
        )
    if dockerfile is not None and dockerfile.scoped_to_configure:
        notes.append(
            f"{', '.join(dockerfile.scoped_to_configure)} are set on the ./configure command "
            "only: make does not see them, so NIFs and drivers miss BIND_NOW."
        )
    others = [e for c in candidates if c is not chosen for e in c.evidence]
    for e in others:
        notes.append(f"also seen: {e.detail}" + (f" ({e.location})" if e.location else ""))
    return tuple(notes)


def _choose(candidates: Iterable[_Candidate]) -> _Candidate | None:
    ranked = sorted(enumerate(candidates), key=lambda ic: (ic[1].rank, ic[0]))
    return ranked[0][1] if ranked else None


def _version_from_origin(origin: Origin | None) -> OtpVersion | None:
    if origin is None or not origin.package_version:
        return None
    return upstream_version(origin.package_version)


def _version_from_package(package_version: str | None) -> OtpVersion | None:
    return upstream_version(package_version) if package_version else None
