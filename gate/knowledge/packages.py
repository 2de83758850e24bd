"""Pure parsers of distro and image metadata: deb822 stanzas, os-release, the apk database, Debian
changelogs and an image's config JSON.

One place for the formats that the distro source, the image reader and route detection all read
(from the host, from an image layer, from an unpacked tree); callers do the I/O.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any, NamedTuple

from gate.errors import KnowledgeError
from gate.model.route import ImageMetadata

_CHANGELOG_HEAD = re.compile(
    r"^(?P<pkg>[a-z0-9][a-z0-9+.-]*) \((?P<ver>[^)\s]+)\) (?P<dists>[^;]+);"
)
CVE_RE = re.compile(r"\bCVE-\d{4}-\d{4,}\b")


def deb822_paragraphs(text: str) -> list[dict[str, str]]:
    """Paragraphs of a deb822 file (`dpkg/status`, `apt-cache show`); continuation lines joined."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            current[key] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def parse_os_release(text: str) -> dict[str, str]:
    """`/etc/os-release` (shell-style `KEY=value`, values possibly quoted) as a mapping."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or not key.strip() or key.lstrip().startswith("#"):
            continue
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip().strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def distro_name(os_release: Mapping[str, str]) -> str | None:
    """`debian-12`, `ubuntu-24.04`, `alpine-3.20`, or `debian-trixie` when there is no VERSION_ID."""
    ident = os_release.get("ID")
    if not ident:
        return None
    version = os_release.get("VERSION_ID") or os_release.get("VERSION_CODENAME")
    if ident == "alpine" and version:
        # Alpine's VERSION_ID is the point release (3.20.3); its branch is what users name.
        version = ".".join(version.split(".")[:2])
    return f"{ident}-{version}" if version else ident


class ApkPackage(NamedTuple):
    """One package of Alpine's `lib/apk/db/installed`: its folders (`F:`) and files (`R:`)."""

    name: str
    version: str
    dirs: tuple[str, ...]
    files: tuple[str, ...]  # paths relative to the root: "<F: folder>/<R: file>"


def parse_apk_installed(text: str) -> list[ApkPackage]:
    """Packages of an apk database (blank-line separated blocks of `X:value` lines)."""
    found: list[ApkPackage] = []
    for block in text.split("\n\n"):
        name = version = ""
        folder = ""
        dirs: list[str] = []
        files: list[str] = []
        for line in block.splitlines():
            tag, _, value = line.partition(":")
            if tag == "P":
                name = value
            elif tag == "V":
                version = value
            elif tag == "F":
                folder = value
                dirs.append(value)
            elif tag == "R":
                files.append(f"{folder}/{value}" if folder else value)
        if name and version:
            found.append(ApkPackage(name, version, tuple(dirs), tuple(files)))
    return found


def image_metadata_from_config(
    config: Mapping[str, Any], reference: str | None = None
) -> ImageMetadata:
    """Plain values from an OCI/Docker image config JSON (or `docker inspect` output)."""
    inner = config.get("config") or config.get("Config") or {}
    env_list = inner.get("Env") or []
    env = tuple((k, v) for k, _, v in (str(e).partition("=") for e in env_list if "=" in str(e)))
    labels_map = inner.get("Labels") or {}
    labels = tuple(sorted((str(k), str(v)) for k, v in labels_map.items()))
    history = tuple(
        str(h.get("created_by", "")) for h in (config.get("history") or []) if isinstance(h, dict)
    )
    return ImageMetadata(reference=reference, env=env, labels=labels, history=history)


class ChangelogEntry(NamedTuple):
    """One stanza of a Debian changelog."""

    package: str
    version: str
    distributions: str
    cves: tuple[str, ...]


def parse_debian_changelog(text: str, source: str = "changelog") -> tuple[ChangelogEntry, ...]:
    """Split a Debian changelog into entries (newest first) with the CVE ids each one names."""
    entries: list[ChangelogEntry] = []
    current: tuple[str, str, str] | None = None
    cves: list[str] = []
    for line in text.splitlines():
        m = _CHANGELOG_HEAD.match(line)
        if m:
            if current:
                entries.append(ChangelogEntry(*current, tuple(dict.fromkeys(cves))))
            current, cves = (m["pkg"], m["ver"], m["dists"].strip()), []
        elif current:
            cves += CVE_RE.findall(line)
    if current:
        entries.append(ChangelogEntry(*current, tuple(dict.fromkeys(cves))))
    if not entries:
        raise KnowledgeError(
            f"{source}: no Debian changelog entry found",
            hint="expected lines like 'erlang (1:25.2.3+dfsg-1+deb12u4) bookworm; urgency=medium'",
        )
    return tuple(entries)
