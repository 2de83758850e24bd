"""Decide how a runtime was built (its build route) from the evidence around it, and why.

Reads only small text files of the scanned tree: the dpkg and apk databases, Debian changelogs,
os-release, kerl markers and the project's Dockerfiles; image metadata comes from the caller. The
recorded build flags come from `ElfFacts.build_flags` (beam.smp's `erts_build_flags_*`). Nothing
here runs a scanned file or follows a symlink out of the scanned root.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gate.knowledge.dockerfile_fix import (
    FLAG_VARIABLES,
    parse_instructions,
    suggest_dockerfile_fix,
)
from gate.knowledge.packages import (
    deb822_paragraphs,
    parse_apk_installed,
    parse_os_release,
)
from gate.knowledge.remediation import (
    DISABLE_HARDENING_OPTION,
    cet_expected,
    exposure_rank,
    has_hardened_defaults,
    recommended_flags,
    remediate,
)
from gate.model.common import Status
from gate.model.elf import RecordedBuildFlags
from gate.model.otp import OtpVersion
from gate.model.report import FileReport
from gate.model.route import (
    BuildRoute,
    Confidence,
    DockerfileBuild,
    DockerfileFix,
    Explanation,
    ExposedFailure,
    ImageMetadata,
    RemediationKind,
    RouteEvidence,
    RouteFinding,
)
from gate.model.runtime import Origin, Role

# Binary packages that hold the emulator (beam.smp): Debian/Ubuntu and Alpine.
DEB_OTP_PACKAGES = ("erlang-base", "erlang-base-hipe")
APK_OTP_PACKAGES = ("erlang",)
_MAX_TEXT = 8 * 1024 * 1024  # dpkg status of a big image is a few MB; refuse anything absurd

_DEBIAN_CODENAMES = {
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "sid": "unstable",
    "unstable": "unstable",
    "experimental": "unstable",
}
_UBUNTU_CODENAMES = {
    "bionic": "18.04",
    "focal": "20.04",
    "jammy": "22.04",
    "noble": "24.04",
    "oracular": "24.10",
    "plucky": "25.04",
    "questing": "25.10",
}

# --- recorded build flags ----------------------------------------------------------------------

# What a hardened build's recorded flags contain; OTP >= 28's defaults add these (PR #9441).
_HARDENING_CFLAGS = ("-fstack-protector", "-D_FORTIFY_SOURCE", "-fstack-clash-protection")
_HARDENING_LDFLAGS = ("-z,now", "-z now", "-znow", "-z,relro", "-z relro", "-zrelro")


def _squash(text: str) -> str:
    return " ".join(text.split())


def render_recorded_flags(
    flags: RecordedBuildFlags | None, otp_version: OtpVersion | None = None
) -> str:
    """`built with CFLAGS=-g -O2 ..., LDFLAGS= (empty)`, or "not recorded"; never a guess.

    OTP 29 no longer exports `erts_build_flags_*`, so its builds say "not recorded".
    """
    if flags is None or (flags.cflags is None and flags.ldflags is None):
        why = (
            " (OTP 29 and later do not record them in beam.smp)"
            if otp_version is not None and otp_version.major >= 29
            else ""
        )
        return f"build flags not recorded{why}"

    def one(name: str, value: str | None) -> str:
        if value is None:
            return f"{name} not recorded"
        squashed = _squash(value)
        return f"{name}={squashed}" if squashed else f"{name}= (empty)"

    return f"built with {one('CFLAGS', flags.cflags)}, {one('LDFLAGS', flags.ldflags)}"


@dataclass(frozen=True)
class FlagAnalysis:
    """Which hardening flags the recorded CFLAGS/LDFLAGS contain (erts only, not NIFs)."""

    present: tuple[str, ...]
    missing: tuple[str, ...]


def analyse_recorded_flags(flags: RecordedBuildFlags | None) -> FlagAnalysis | None:
    """Hardening flags present in / missing from the recorded flags; None when not recorded.

    RELRO is not listed: most toolchains link with `-z relro` by default without recording it.
    """
    if flags is None or (flags.cflags is None and flags.ldflags is None):
        return None
    cflags = flags.cflags or ""
    ldflags = flags.ldflags or ""
    present: list[str] = []
    missing: list[str] = []
    for want, found in (
        ("-fstack-protector*", "-fstack-protector" in cflags),
        ("-D_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE" in cflags),
        ("-fstack-clash-protection", "-fstack-clash-protection" in cflags),
        ("-z now", any(s in ldflags for s in ("-z,now", "-z now", "-znow"))),
    ):
        (present if found else missing).append(want)
    return FlagAnalysis(tuple(present), tuple(missing))


def hardening_defaults_disabled(
    flags: RecordedBuildFlags | None, otp_version: OtpVersion | None
) -> bool:
    """OTP >= 28 whose recorded flags hold none of the hardening flags its configure adds.

    Only claimed when flags were recorded (OTP 28 records them, 29 does not): then the build was
    configured with `--disable-security-hardening-flags` or its flags were replaced.
    """
    if not has_hardened_defaults(otp_version) or flags is None or flags.cflags is None:
        return False
    text = f"{flags.cflags} {flags.ldflags or ''}"
    return not any(s in text for s in (*_HARDENING_CFLAGS, *_HARDENING_LDFLAGS))


# --- safe, small file reads --------------------------------------------------------------------


def _inside(root: Path, path: Path) -> bool:
    """True when `path` resolves inside `root` (a symlink must not lead out of the scanned tree)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return False
    return True


def _read_text(root: Path, rel: str) -> str | None:
    path = root / rel
    if not _inside(root, path) or not path.is_file():
        return None
    try:
        if path.stat().st_size > _MAX_TEXT:
            return None
        data = path.read_bytes()
        if rel.endswith(".gz"):
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(64 * 1024)  # the first entry is all we want
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return data.decode("utf-8", "replace")


# --- dpkg, apk, os-release, Debian changelogs --------------------------------------------------


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    source: str  # "var/lib/dpkg/status", "lib/apk/db/installed", ...


# dpkg states in which the package's files are on disk (dpkg(1), "Package states"); `dpkg --unpack`
# leaves "unpacked", image builds that skip configuration leave "half-configured".
_FILES_PRESENT = frozenset(
    {"installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"}
)


def dpkg_packages(system_root: Path) -> dict[str, Package]:
    """Installed packages from `var/lib/dpkg/status` (and distroless `status.d/*`)."""
    found: dict[str, Package] = {}
    texts: list[tuple[str, str]] = []
    status = _read_text(system_root, "var/lib/dpkg/status")
    if status is not None:
        texts.append(("var/lib/dpkg/status", status))
    status_d = system_root / "var/lib/dpkg/status.d"
    if status_d.is_dir() and _inside(system_root, status_d):
        for entry in sorted(status_d.iterdir())[:5000]:
            rel = f"var/lib/dpkg/status.d/{entry.name}"
            text = _read_text(system_root, rel)
            if text is not None:
                texts.append((rel, text))
    for rel, text in texts:
        for para in deb822_paragraphs(text):
            name, version = para.get("Package"), para.get("Version")
            state = para.get("Status", "install ok installed").split()
            if name and version and state and state[-1] in _FILES_PRESENT:
                found[name] = Package(name, version, rel)
    return found


def dpkg_owns(system_root: Path, package: str, path_in_system: str) -> str | None:
    """The dpkg file list (relative path) that lists a file under `path_in_system`, if any."""
    prefix = "/" + path_in_system.strip("/") + "/"
    info = system_root / "var/lib/dpkg/info"
    if not info.is_dir() or not _inside(system_root, info):
        return None
    for entry in sorted(info.glob(f"{package}*.list")):
        if entry.name != f"{package}.list" and not entry.name.startswith(f"{package}:"):
            continue
        rel = f"var/lib/dpkg/info/{entry.name}"
        text = _read_text(system_root, rel) or ""
        if any(line.startswith(prefix) for line in text.splitlines()):
            return rel
    return None


def _dpkg_lists(system_root: Path, package: str) -> bool:
    info = system_root / "var/lib/dpkg/info"
    return any(
        p.name == f"{package}.list" or p.name.startswith(f"{package}:")
        for p in info.glob(f"{package}*.list")
    )


def apk_packages(system_root: Path) -> dict[str, tuple[Package, tuple[str, ...]]]:
    """Installed apk packages with their directories (`F:` lines) from `lib/apk/db/installed`."""
    text = _read_text(system_root, "lib/apk/db/installed")
    if text is None:
        return {}
    return {
        p.name: (Package(p.name, p.version, "lib/apk/db/installed"), p.dirs)
        for p in parse_apk_installed(text)
    }


def os_release(system_root: Path) -> dict[str, str]:
    """`etc/os-release` (or `usr/lib/os-release`) as a mapping, quotes removed."""
    for rel in ("etc/os-release", "usr/lib/os-release"):
        text = _read_text(system_root, rel)
        if text is not None:
            return parse_os_release(text)
    return {}


_CHANGELOG_HEAD = re.compile(r"^(?P<src>[a-z0-9][a-z0-9.+-]*) \((?P<ver>[^)]+)\) (?P<dist>[^;]+);")


def debian_changelog(system_root: Path, package: str) -> tuple[str, str, str] | None:
    """(source, version, distribution) from the first entry of the package's changelog.Debian.gz."""
    rel = f"usr/share/doc/{package}/changelog.Debian.gz"
    text = _read_text(system_root, rel)
    if not text:
        return None
    m = _CHANGELOG_HEAD.match(text.splitlines()[0])
    if not m:
        return None
    return m.group("src"), m.group("ver").strip(), m.group("dist").split()[0].strip()


def upstream_version(package_version: str) -> OtpVersion | None:
    """`1:25.2.3+dfsg-1+deb12u4` -> 25.2.3; `27.3.4.1-r0` -> 27.3.4.1."""
    v = package_version.split(":", 1)[-1]
    v = re.split(r"[+~-]", v, maxsplit=1)[0]
    return OtpVersion.try_parse(v)


def _debian_release(version: str, dist: str | None, osr: Mapping[str, str]) -> str | None:
    if osr.get("ID") == "debian":
        if osr.get("VERSION_ID"):
            return osr["VERSION_ID"]
        codename = osr.get("VERSION_CODENAME", "")
        if codename in _DEBIAN_CODENAMES:
            return _DEBIAN_CODENAMES[codename]
    m = re.search(r"deb(\d+)u\d+", version)
    if m:
        return m.group(1)
    base = (dist or "").split("-")[0]
    return _DEBIAN_CODENAMES.get(base)


def _is_ubuntu(version: str, dist: str | None, osr: Mapping[str, str]) -> bool:
    return (
        osr.get("ID") == "ubuntu"
        or "ubuntu" in version
        or (dist or "").split("-")[0] in _UBUNTU_CODENAMES
    )


def _ubuntu_release(dist: str | None, osr: Mapping[str, str]) -> str | None:
    if osr.get("ID") == "ubuntu" and osr.get("VERSION_ID"):
        return osr["VERSION_ID"]
    return _UBUNTU_CODENAMES.get((dist or "").split("-")[0])


# --- image metadata ----------------------------------------------------------------------------


def _image_repository(reference: str) -> tuple[str, str]:
    """("hexpm/erlang", "27.1-debian-bookworm-20240926") from any spelling of a reference."""
    ref = reference.split("@", 1)[0]
    name, tag = ref, ""
    if ":" in ref.rsplit("/", 1)[-1]:
        name, tag = ref.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # drop the registry host
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts).lower(), tag.lower()


def _image_route(
    image: ImageMetadata,
) -> tuple[BuildRoute, Confidence, list[RouteEvidence], str | None]:
    ev: list[RouteEvidence] = []
    distro: str | None = None
    if image.reference:
        repo, tag = _image_repository(image.reference)
        if repo in ("hexpm/erlang", "hexpm/elixir"):
            for os_name in ("ubuntu", "debian", "alpine"):
                if f"-{os_name}-" in f"-{tag}-":
                    distro = os_name
            ev.append(RouteEvidence("image", f"image reference {image.reference}"))
            return BuildRoute.HEXPM_IMAGE, Confidence.HIGH, ev, distro
        if repo in ("erlang", "elixir"):
            distro = "alpine" if "alpine" in tag else "debian"
            ev.append(RouteEvidence("image", f"Docker Official Image {image.reference}"))
            return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.HIGH, ev, distro
    for key, value in image.labels:
        low = value.lower()
        if "hexpm/bob" in low:
            ev.append(RouteEvidence("image", f"label {key}={value}"))
            return BuildRoute.HEXPM_IMAGE, Confidence.HIGH, ev, None
        if "erlang/docker-erlang-otp" in low:
            ev.append(RouteEvidence("image", f"label {key}={value}"))
            return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.HIGH, ev, None
    otp_env = image.env_value("OTP_VERSION")
    official_layer = next((h for h in image.history if "OTP_DOWNLOAD_SHA256" in h), None)
    if otp_env is not None and official_layer is not None:
        ev.append(RouteEvidence("image", f"ENV OTP_VERSION={otp_env}"))
        ev.append(
            RouteEvidence(
                "image",
                "a layer downloads OTP-${OTP_VERSION} and checks "
                "OTP_DOWNLOAD_SHA256, as the official erlang Dockerfile does",
            )
        )
        return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.HIGH, ev, None
    if otp_env is not None:
        ev.append(
            RouteEvidence(
                "image",
                f"ENV OTP_VERSION={otp_env} (as the official erlang "
                "images set it; other images copy the name)",
            )
        )
        return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.LOW, ev, None
    return BuildRoute.UNKNOWN, Confidence.NONE, ev, None


# --- the project's Dockerfiles -----------------------------------------------------------------

_SKIP_DIRS = frozenset({".git", "node_modules", "_build", "deps", ".work", "vendor", ".elixir_ls"})
_FLAG_VARS = frozenset(FLAG_VARIABLES)
_CONFIGURE_RE = re.compile(r"(?:^|[\s;&|(])(\./configure|\./otp_build\s+configure)\b")
_OTP_MARK_RE = re.compile(r"otp|erlang", re.IGNORECASE)
_SHELL_OPS = frozenset({"&&", "||", ";", "|", "&", ")", "(", "\\"})


def is_dockerfile_name(name: str) -> bool:
    low = name.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


def find_dockerfiles(workspace: Path, max_depth: int = 4) -> tuple[Path, ...]:
    """Dockerfiles under `workspace` (not in .git, deps, _build, ...), never outside it."""
    found: list[Path] = []
    base_depth = len(workspace.parts)
    for dirpath, dirnames, filenames in os.walk(workspace, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        if len(here.parts) - base_depth >= max_depth:
            dirnames[:] = []
        for name in sorted(filenames):
            path = here / name
            if is_dockerfile_name(name) and not path.is_symlink() and path.is_file():
                found.append(path)
    return tuple(found)


def _assignments(rest: str) -> list[str]:
    """Variable names set by `ENV A=1 B=2`, `ENV A 1` or `ARG A[=1]`."""
    try:
        words = shlex.split(rest, comments=False, posix=True)
    except ValueError:
        words = rest.split()
    if not words:
        return []
    if "=" not in words[0]:
        return [words[0]]  # legacy `ENV NAME value` / `ARG NAME`
    return [w.split("=", 1)[0] for w in words if "=" in w]


def _words(text: str) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return text.split()


def dockerfile_otp_build(text: str, rel_path: str) -> DockerfileBuild | None:
    """The `RUN` that configures and builds OTP in this Dockerfile, if there is one.

    A RUN counts when it runs `./configure` (or `./otp_build configure`) and OTP is named in it, in
    an ENV/ARG/WORKDIR before it in the same stage (OTP_VERSION, otp_src, erlang/otp, ...).
    """
    flags_in_env: list[str] = []
    otp_context = False
    best: DockerfileBuild | None = None
    for ins in parse_instructions(text):
        if ins.keyword == "FROM":
            flags_in_env, otp_context = [], False
            continue
        if ins.keyword in ("ENV", "ARG"):
            names = _assignments(ins.text)
            flags_in_env += [n for n in names if n in _FLAG_VARS]
            otp_context = otp_context or bool(_OTP_MARK_RE.search(ins.text))
            continue
        if ins.keyword == "WORKDIR":
            otp_context = otp_context or bool(_OTP_MARK_RE.search(ins.text))
            continue
        if ins.keyword != "RUN":
            continue
        body = ins.text
        if not _CONFIGURE_RE.search(body):
            continue
        if not (otp_context or _OTP_MARK_RE.search(body)):
            continue
        configure_line = ins.line
        for offset, raw in enumerate(ins.lines):
            if _CONFIGURE_RE.search(raw):
                configure_line = ins.line + offset
                break
        words = _words(body)
        idx = next(
            (i for i, w in enumerate(words) if w in ("./configure", "./otp_build")), len(words)
        )
        args: list[str] = []
        j = idx + 1
        if j < len(words) and words[idx] == "./otp_build" and words[j] == "configure":
            j += 1
        while j < len(words) and words[j] not in _SHELL_OPS:
            args.append(words[j])
            j += 1
        scoped: list[str] = []
        k = idx - 1
        while k >= 0 and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[k]):
            name = words[k].split("=", 1)[0]
            if name in _FLAG_VARS:
                scoped.insert(0, name)
            k -= 1
        found = DockerfileBuild(
            path=rel_path,
            run_line=ins.line,
            configure_line=configure_line,
            run_text="".join(ins.lines).rstrip("\n"),
            configure_args=tuple(args),
            flags_in_env=tuple(dict.fromkeys(flags_in_env)),
            scoped_to_configure=tuple(scoped),
            disables_hardening=DISABLE_HARDENING_OPTION in args,
        )
        if best is None or (_OTP_MARK_RE.search(body) and not _OTP_MARK_RE.search(best.run_text)):
            best = found
    return best


def find_dockerfile_build(workspace: Path) -> DockerfileBuild | None:
    """The first Dockerfile under `workspace` that builds OTP from source."""
    for path in find_dockerfiles(workspace):
        try:
            text = path.read_text("utf-8", "replace")
        except OSError:
            continue
        found = dockerfile_otp_build(text, path.relative_to(workspace).as_posix())
        if found is not None:
            return found
    return None


# --- known causes ------------------------------------------------------------------------------


def known_cause(
    route: BuildRoute,
    otp_version: OtpVersion | None,
    distro: str | None,
    dockerfile: DockerfileBuild | None = None,
) -> tuple[str | None, bool | None]:
    """(why this route gives (un)hardened binaries, whether it is hardened by default)."""
    modern = has_hardened_defaults(otp_version)
    d = (distro or "").lower()
    if route == BuildRoute.DEBIAN_PACKAGE:
        old_release = d in ("debian-10", "debian-11", "debian-12", "debian-13")
        if modern and not old_release:
            return (
                "Debian's newer erlang packages (OTP 29 in unstable) use Debian's default build "
                "flags (bug #1124853) on top of OTP's own hardening defaults.",
                True,
            )
        return (
            "Debian's erlang packages up to Debian 13 never pass hardening flags: debian/rules "
            "sets CFLAGS=-g -O2 -fno-strict-aliasing itself, never uses dpkg-buildflags, and "
            "passes no LDFLAGS.",
            False,
        )
    if route == BuildRoute.UBUNTU_PACKAGE:
        return (
            "Ubuntu's gcc enables stack protector, fortify, RELRO and BIND_NOW by default.",
            True,
        )
    if route == BuildRoute.ALPINE_PACKAGE:
        return (
            "Alpine's gcc is patched to harden by default (fortify via fortify-headers, so no "
            "__*_chk imports on musl).",
            True,
        )
    if route == BuildRoute.BUILDS_HEX_PM:
        return ("builds.hex.pm builds on Ubuntu, whose gcc hardens by default.", True)
    if route in (BuildRoute.OFFICIAL_ERLANG_IMAGE, BuildRoute.HEXPM_IMAGE):
        if "alpine" in d:
            return ("This image builds OTP on Alpine, whose gcc hardens by default.", True)
        if "ubuntu" in d:
            return ("This image builds OTP on Ubuntu, whose gcc hardens by default.", True)
        if modern:
            return ("OTP >= 28's configure adds the OpenSSF hardening flags by default.", True)
        what = "official erlang" if route == BuildRoute.OFFICIAL_ERLANG_IMAGE else "hexpm"
        return (
            f"The {what} images build OTP <= 27 on Debian with a plain ./configure: no hardening "
            "flags, and Debian's gcc adds none by default.",
            False if otp_version is not None else None,
        )
    if route in (BuildRoute.KERL_ASDF, BuildRoute.DOCKERFILE_SOURCE_BUILD, BuildRoute.SOURCE_BUILD):
        if dockerfile is not None and dockerfile.disables_hardening:
            return (
                f"The Dockerfile passes {DISABLE_HARDENING_OPTION} to configure "
                f"({dockerfile.path}:{dockerfile.configure_line}).",
                False,
            )
        if modern:
            return ("OTP >= 28's configure adds the OpenSSF hardening flags by default.", True)
        who = {
            BuildRoute.KERL_ASDF: "kerl/asdf build",
            BuildRoute.DOCKERFILE_SOURCE_BUILD: "Dockerfile's build",
        }.get(route, "build")
        return (
            f"Before OTP 28 the result is whatever flags the {who} exports; OTP adds none, and "
            "NIFs get LDFLAGS only through the DED_LD* variables.",
            None,
        )
    return (None, None)


# --- the decision ------------------------------------------------------------------------------

_KERL_PATH_MARKS = ("/.kerl/", "/.asdf/installs/erlang/", "/kerl/installs/")
_PREBUILT_PATH_MARKS = (
    "/hostedtoolcache/otp/",
    "/.local/share/mise/installs/erlang/",
    "/mise/installs/erlang/",
)


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


@dataclass
class _Candidate:
    route: BuildRoute
    confidence: Confidence
    evidence: list[RouteEvidence]
    package: str | None = None
    package_version: str | None = None
    distro: str | None = None
    # Lower wins. Evidence about the scanned tree itself (how the gate got it, a package database
    # listing it, kerl's marker, a tool's install path) beats a known image name, which beats the
    # project's Dockerfile (it may build a different runtime than the one scanned), which beats
    # image history, the caller's package hint and the install prefix.
    tier: int = 9


def _package_candidate(system_root: Path, path_in_system: str) -> _Candidate | None:
    osr = os_release(system_root)
    debs = dpkg_packages(system_root)
    for name in DEB_OTP_PACKAGES:
        pkg = debs.get(name)
        if pkg is None:
            continue
        owner = dpkg_owns(system_root, name, path_in_system)
        if owner is None and _dpkg_lists(system_root, name):
            continue  # dpkg lists the package's files and this tree is not among them
        ev = [RouteEvidence("dpkg-status", f"{name} {pkg.version} is installed", pkg.source)]
        if owner:
            ev.append(RouteEvidence("dpkg-list", f"{name} owns /{path_in_system}", owner))
        log = debian_changelog(system_root, name)
        dist = log[2] if log else None
        if log:
            ev.append(
                RouteEvidence(
                    "changelog",
                    f"{log[0]} ({log[1]}) {log[2]}",
                    f"usr/share/doc/{name}/changelog.Debian.gz",
                )
            )
        conf = (
            Confidence.HIGH
            if owner or path_in_system.strip("/") == "usr/lib/erlang"
            else Confidence.LOW
        )
        cand = _distro_candidate(name, pkg.version, dist, osr, ev, conf)
        cand.tier = 1 if conf == Confidence.HIGH else 7
        return cand
    for name in DEB_OTP_PACKAGES:  # an unpacked package (dpkg -x): its changelog, no database
        log = debian_changelog(system_root, name)
        if log and path_in_system.strip("/") == "usr/lib/erlang":
            ev = [
                RouteEvidence(
                    "changelog",
                    f"{log[0]} ({log[1]}) {log[2]}",
                    f"usr/share/doc/{name}/changelog.Debian.gz",
                )
            ]
            cand = _distro_candidate(name, log[1], log[2], osr, ev, Confidence.HIGH)
            cand.tier = 1
            return cand
    apks = apk_packages(system_root)
    for name in APK_OTP_PACKAGES:
        if name not in apks:
            continue
        pkg, dirs = apks[name]
        owns = any(d.strip("/").startswith(path_in_system.strip("/")) for d in dirs)
        if dirs and not owns:
            continue  # apk lists the package's folders and this tree is not among them
        ev = [
            RouteEvidence(
                "apk-db",
                f"{name} {pkg.version} is installed"
                + (f" and owns /{path_in_system}" if owns else ""),
                pkg.source,
            )
        ]
        ver = osr.get("VERSION_ID", "")
        distro = "alpine-" + ".".join(ver.split(".")[:2]) if ver else "alpine"
        return _Candidate(
            BuildRoute.ALPINE_PACKAGE,
            Confidence.HIGH if owns else Confidence.LOW,
            ev,
            name,
            pkg.version,
            distro,
            tier=1 if owns else 7,
        )
    return None


def _distro_candidate(
    name: str,
    version: str,
    dist: str | None,
    osr: Mapping[str, str],
    ev: list[RouteEvidence],
    conf: Confidence,
) -> _Candidate:
    if _is_ubuntu(version, dist, osr):
        rel = _ubuntu_release(dist, osr)
        return _Candidate(
            BuildRoute.UBUNTU_PACKAGE, conf, ev, name, version, f"ubuntu-{rel}" if rel else "ubuntu"
        )
    rel = _debian_release(version, dist, osr)
    return _Candidate(
        BuildRoute.DEBIAN_PACKAGE, conf, ev, name, version, f"debian-{rel}" if rel else "debian"
    )


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
    OTP. Precedence, strongest first: how the gate itself got the tree (its own build, a
    builds.hex.pm download), a package database or changelog listing the tree, kerl's marker or a
    kerl/asdf/setup-beam/mise path, a known image name, the project's Dockerfile, image history,
    the caller's package hint, the /usr/local prefix.
    """
    otp_version = otp_version or _version_from_origin(origin)
    sys_root = system_root or _infer_system_root(otp_root)
    path_in_system = ""
    if origin is not None and origin.path_in_image:
        path_in_system = origin.path_in_image.strip("/")
    elif sys_root is not None:
        try:
            path_in_system = otp_root.relative_to(sys_root).as_posix()
        except ValueError:
            path_in_system = ""
    posix_root = "/" + path_in_system if path_in_system else otp_root.as_posix()
    candidates: list[_Candidate] = []
    seen: list[RouteEvidence] = []

    where = otp_root.as_posix() + "/"

    if origin is not None and origin.method == "build":
        candidates.append(
            _Candidate(
                BuildRoute.SOURCE_BUILD,
                Confidence.HIGH,
                [RouteEvidence("origin", origin.description)],
                tier=0,
            )
        )
    if origin is not None and (
        origin.method == "prebuilt" or "builds.hex.pm" in origin.description
    ):
        candidates.append(
            _Candidate(
                BuildRoute.BUILDS_HEX_PM,
                Confidence.HIGH,
                [RouteEvidence("origin", origin.description)],
                distro="ubuntu",
                tier=0,
            )
        )

    if sys_root is not None and path_in_system:
        pkg = _package_candidate(sys_root, path_in_system)
        if pkg is not None:
            candidates.append(pkg)

    if (otp_root / "activate").is_file() and _inside(otp_root, otp_root / "activate"):
        candidates.append(
            _Candidate(
                BuildRoute.KERL_ASDF,
                Confidence.HIGH,
                [RouteEvidence("path", "kerl's activate script", "activate")],
                tier=2,
            )
        )
    if any(m in where for m in _KERL_PATH_MARKS):
        candidates.append(
            _Candidate(
                BuildRoute.KERL_ASDF,
                Confidence.HIGH,
                [RouteEvidence("path", "a kerl/asdf install path", where)],
                tier=2,
            )
        )
    if any(m in where for m in _PREBUILT_PATH_MARKS):
        candidates.append(
            _Candidate(
                BuildRoute.BUILDS_HEX_PM,
                Confidence.HIGH,
                [
                    RouteEvidence(
                        "path",
                        "a setup-beam/mise install path (prebuilt builds.hex.pm tarball)",
                        where,
                    )
                ],
                tier=2,
            )
        )

    if image is not None:
        route, conf, ev, distro = _image_route(image)
        if route != BuildRoute.UNKNOWN:
            osr = os_release(sys_root) if sys_root is not None else {}
            if distro is None and osr.get("ID"):
                distro = osr["ID"]
            named = any(
                e.detail.startswith(("image reference", "Docker Official", "label")) for e in ev
            )
            candidates.append(_Candidate(route, conf, ev, distro=distro, tier=3 if named else 5))

    dockerfile = find_dockerfile_build(workspace) if workspace is not None else None
    if dockerfile is not None:
        candidates.append(
            _Candidate(
                BuildRoute.DOCKERFILE_SOURCE_BUILD,
                Confidence.HIGH,
                [
                    RouteEvidence(
                        "dockerfile",
                        "the project's Dockerfile runs ./configure for OTP",
                        f"{dockerfile.path}:{dockerfile.configure_line}",
                    )
                ],
                tier=4,
            )
        )

    if origin is not None and origin.package and origin.distro:
        d = origin.distro.lower()
        route = (
            BuildRoute.DEBIAN_PACKAGE
            if d.startswith("debian")
            else BuildRoute.UBUNTU_PACKAGE
            if d.startswith("ubuntu")
            else BuildRoute.ALPINE_PACKAGE
            if d.startswith("alpine")
            else BuildRoute.UNKNOWN
        )
        if route != BuildRoute.UNKNOWN:
            candidates.append(
                _Candidate(
                    route,
                    Confidence.LOW,
                    [
                        RouteEvidence(
                            "origin",
                            f"{origin.package} {origin.package_version or ''} "
                            f"on {origin.distro}".replace("  ", " "),
                        )
                    ],
                    origin.package,
                    origin.package_version,
                    origin.distro,
                    tier=6,
                )
            )
    if path_in_system.startswith("usr/local/lib"):
        candidates.append(
            _Candidate(
                BuildRoute.SOURCE_BUILD,
                Confidence.LOW,
                [
                    RouteEvidence(
                        "path",
                        "installed under /usr/local, make install's default prefix",
                        posix_root,
                    )
                ],
                tier=8,
            )
        )

    if (
        build_flags is not None
        and build_flags.cflags
        and "/build/reproducible-path/erlang-" in (build_flags.cflags)
    ):
        seen.append(
            RouteEvidence(
                "recorded-flags",
                "the recorded CFLAGS name Debian's build path /build/reproducible-path/erlang-*",
            )
        )

    chosen = _choose(candidates)
    if chosen is None:
        cause, hardened = (None, None)
        if has_hardened_defaults(otp_version):
            cause, hardened = (
                "OTP >= 28's configure adds the OpenSSF hardening flags by default.",
                True,
            )
        chosen = _Candidate(BuildRoute.UNKNOWN, Confidence.NONE, [])
    else:
        cause, hardened = known_cause(
            chosen.route,
            otp_version or _version_from_package(chosen.package_version),
            chosen.distro,
            dockerfile if chosen.route == BuildRoute.DOCKERFILE_SOURCE_BUILD else None,
        )
    effective_version = otp_version or _version_from_package(chosen.package_version)
    disabled = hardening_defaults_disabled(build_flags, effective_version)
    notes: list[str] = []
    if disabled:
        notes.append(
            f"OTP {effective_version} adds hardening flags by default, but the recorded flags hold "
            f"none of them: the build was configured with {DISABLE_HARDENING_OPTION} or its "
            "flags were replaced."
        )
        hardened = False
    analysis = analyse_recorded_flags(build_flags)
    if analysis is not None and analysis.missing:
        notes.append(
            "The recorded flags (they cover erts, not NIFs) lack "
            + ", ".join(analysis.missing)
            + "."
        )
    if (
        dockerfile is not None
        and chosen.route == BuildRoute.DOCKERFILE_SOURCE_BUILD
        and dockerfile.scoped_to_configure
    ):
        notes.append(
            f"{', '.join(dockerfile.scoped_to_configure)} are set on the ./configure command "
            "only: make does not see them, so NIFs and drivers miss BIND_NOW."
        )
    others = [e for c in candidates if c is not chosen for e in c.evidence]
    for e in others:
        notes.append(f"also seen: {e.detail}" + (f" ({e.location})" if e.location else ""))
    return RouteFinding(
        route=chosen.route,
        confidence=chosen.confidence,
        evidence=(*chosen.evidence, *seen),
        cause=cause,
        expected_hardened=hardened,
        recorded_flags=render_recorded_flags(build_flags, effective_version),
        hardening_defaults_disabled=disabled,
        package=chosen.package,
        package_version=chosen.package_version,
        distro=chosen.distro,
        dockerfile=dockerfile if chosen.route == BuildRoute.DOCKERFILE_SOURCE_BUILD else None,
        notes=tuple(notes),
    )


def _choose(candidates: Iterable[_Candidate]) -> _Candidate | None:
    ranked = sorted(enumerate(candidates), key=lambda ic: (ic[1].tier, ic[0]))
    return ranked[0][1] if ranked else None


def _version_from_origin(origin: Origin | None) -> OtpVersion | None:
    if origin is None or not origin.package_version:
        return None
    return upstream_version(origin.package_version)


def _version_from_package(package_version: str | None) -> OtpVersion | None:
    return upstream_version(package_version) if package_version else None


def route_label(route: BuildRoute) -> str:
    """Human name of a route for reports."""
    return {
        BuildRoute.DEBIAN_PACKAGE: "Debian package",
        BuildRoute.UBUNTU_PACKAGE: "Ubuntu package",
        BuildRoute.ALPINE_PACKAGE: "Alpine package",
        BuildRoute.OFFICIAL_ERLANG_IMAGE: "official erlang image",
        BuildRoute.HEXPM_IMAGE: "hexpm/erlang image",
        BuildRoute.BUILDS_HEX_PM: "builds.hex.pm tarball",
        BuildRoute.KERL_ASDF: "kerl/asdf build",
        BuildRoute.DOCKERFILE_SOURCE_BUILD: "source build in the project's Dockerfile",
        BuildRoute.SOURCE_BUILD: "source build",
        BuildRoute.UNKNOWN: "unknown",
    }[route]


# --- everything a report shows next to the findings --------------------------------------------


def explain(
    route: RouteFinding,
    files: Iterable[FileReport],
    otp_version: OtpVersion | None,
    *,
    workspace: Path | None = None,
    machine: str | None = None,
    glibc: bool = True,
) -> Explanation:
    """Remediations for the failing checks of `files`, most exposed files first, and the Dockerfile fix.

    `workspace` is where `route.dockerfile.path` is read from (the project checkout).
    """
    reports = list(files)
    failing: list[ExposedFailure] = []
    for f in reports:
        ids = tuple(c.id for c in f.checks if c.status == Status.FAIL)
        if ids:
            failing.append(ExposedFailure(f.path, str(f.role), exposure_rank(f.path, f.role), ids))
    failing.sort(key=lambda e: (e.rank, e.path))
    mach = machine or next((f.machine for f in reports if f.machine), None) or "x86_64"
    ids_in_order = tuple(dict.fromkeys(c for e in failing for c in e.check_ids))
    roles = {Role(e.role) for e in failing}
    rems = remediate(
        ids_in_order,
        route.route,
        otp_version,
        roles,
        mach,
        glibc=glibc,
        distro=route.distro,
        dockerfile=route.dockerfile,
    )
    fix: DockerfileFix | None = None
    dockerfile = route.dockerfile
    wants_fix = any(
        r.kind in (RemediationKind.SET_FLAGS, RemediationKind.KEEP_OTP_DEFAULTS) for r in rems
    )
    if (
        dockerfile is not None
        and workspace is not None
        and (wants_fix or dockerfile.disables_hardening)
    ):
        path = workspace / dockerfile.path
        if _inside(workspace, path) and path.is_file():
            try:
                text = path.read_text("utf-8", "replace")
                fix = suggest_dockerfile_fix(
                    text, dockerfile, recommended_flags(otp_version, mach, glibc)
                )
            except (OSError, ValueError):
                fix = None  # the file changed since it was parsed: no fix rather than a wrong one
    return Explanation(
        route=route,
        remediations=rems,
        exposed=tuple(failing),
        cet_expected=cet_expected(route.route, route.distro, mach),
        dockerfile_fix=fix,
    )


def explanation_lines(exp: Explanation, max_exposed: int = 5) -> tuple[str, ...]:
    """Plain-text lines a renderer can show as is (Markdown renderers add their own emphasis).

    Route and evidence, the known cause, the recorded flags, the most exposed failing files, then
    each remediation: title, where, the variables.
    """
    r = exp.route
    what = route_label(r.route)
    detail = ", ".join(
        x for x in (r.package and f"{r.package} {r.package_version or ''}".strip(), r.distro) if x
    )
    lines = [
        f"Build route: {what}"
        + (f" ({detail})" if detail else "")
        + (f", {r.confidence} confidence" if r.route != BuildRoute.UNKNOWN else "")
    ]
    if r.evidence:
        lines.append(
            "Evidence: "
            + "; ".join(e.detail + (f" [{e.location}]" if e.location else "") for e in r.evidence)
        )
    if r.cause:
        lines.append(f"Why: {r.cause}")
    lines.append(f"Recorded flags: {r.recorded_flags}")
    lines.extend(r.notes)
    if exp.exposed:
        shown = [f"{e.path} ({', '.join(e.check_ids)})" for e in exp.exposed[:max_exposed]]
        more = len(exp.exposed) - max_exposed
        lines.append(
            "Most exposed failing files: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
        )
    for rem in exp.remediations:
        lines.append(f"Fix ({', '.join(rem.check_ids)}): {rem.title}")
        if rem.where:
            lines.append(f"  where: {rem.where}")
        for name, value in rem.variables:
            lines.append(f"  {name}={value}")
        if rem.note:
            lines.append(f"  note: {rem.note}")
    if exp.dockerfile_fix is not None:
        f = exp.dockerfile_fix
        lines.append(f"Suggested change to {f.path} (lines {f.start_line}-{f.end_line}):")
        lines.extend("  " + d for d in f.diff.splitlines())
    return tuple(lines)
