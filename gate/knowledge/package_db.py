"""Package databases of a scanned tree: dpkg, apk, os-release and Debian changelogs, read safely.

The evidence readers of route detection. They read small text files only, never follow a symlink
out of the tree, and parse with the one parser of each format in `gate.knowledge.packages`.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import NamedTuple

from gate.errors import KnowledgeError
from gate.knowledge.packages import (
    deb822_paragraphs,
    parse_apk_installed,
    parse_debian_changelog,
    parse_os_release,
)
from gate.model.otp import OtpVersion

_MAX_TEXT = 8 * 1024 * 1024  # dpkg status of a big image is a few MB; refuse anything absurd


def inside(root: Path, path: Path) -> bool:
    """True when `path` resolves inside `root` (a symlink must not lead out of the scanned tree)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return False
    return True


def read_text(root: Path, rel: str) -> str | None:
    """A small text file of the tree (the first entry of a `.gz`), or None if absent or unsafe."""
    path = root / rel
    if not inside(root, path) or not path.is_file():
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


class Package(NamedTuple):
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
    status = read_text(system_root, "var/lib/dpkg/status")
    if status is not None:
        texts.append(("var/lib/dpkg/status", status))
    status_d = system_root / "var/lib/dpkg/status.d"
    if status_d.is_dir() and inside(system_root, status_d):
        for entry in sorted(status_d.iterdir())[:5000]:
            rel = f"var/lib/dpkg/status.d/{entry.name}"
            text = read_text(system_root, rel)
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
    if not info.is_dir() or not inside(system_root, info):
        return None
    for entry in sorted(info.glob(f"{package}*.list")):
        if entry.name != f"{package}.list" and not entry.name.startswith(f"{package}:"):
            continue
        rel = f"var/lib/dpkg/info/{entry.name}"
        text = read_text(system_root, rel) or ""
        if any(line.startswith(prefix) for line in text.splitlines()):
            return rel
    return None


def dpkg_lists(system_root: Path, package: str) -> bool:
    info = system_root / "var/lib/dpkg/info"
    return any(
        p.name == f"{package}.list" or p.name.startswith(f"{package}:")
        for p in info.glob(f"{package}*.list")
    )


def apk_packages(system_root: Path) -> dict[str, tuple[Package, tuple[str, ...]]]:
    """Installed apk packages with their directories (`F:` lines) from `lib/apk/db/installed`."""
    text = read_text(system_root, "lib/apk/db/installed")
    if text is None:
        return {}
    return {
        p.name: (Package(p.name, p.version, "lib/apk/db/installed"), p.dirs)
        for p in parse_apk_installed(text)
    }


def os_release(system_root: Path) -> dict[str, str]:
    """`etc/os-release` (or `usr/lib/os-release`) as a mapping, quotes removed."""
    for rel in ("etc/os-release", "usr/lib/os-release"):
        text = read_text(system_root, rel)
        if text is not None:
            return parse_os_release(text)
    return {}


def debian_changelog(system_root: Path, package: str) -> tuple[str, str, str] | None:
    """(source, version, distribution) from the first entry of the package's changelog.Debian.gz."""
    rel = f"usr/share/doc/{package}/changelog.Debian.gz"
    text = read_text(system_root, rel)
    if not text:
        return None
    try:
        first = parse_debian_changelog(text, rel)[0]
    except KnowledgeError:
        return None
    return first.package, first.version, first.distributions.split()[0]


def upstream_version(package_version: str) -> OtpVersion | None:
    """`1:25.2.3+dfsg-1+deb12u4` -> 25.2.3; `27.3.4.1-r0` -> 27.3.4.1."""
    v = package_version.split(":", 1)[-1]
    v = re.split(r"[+~-]", v, maxsplit=1)[0]
    return OtpVersion.try_parse(v)
