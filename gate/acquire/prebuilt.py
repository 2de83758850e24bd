"""The prebuilt OTP that setup-beam, mise and the Heroku buildpack install, from builds.hex.pm.

Layout (as erlef/setup-beam reads it): `<mirror>/builds/otp/<arch>/<ubuntu-XX.04>/builds.txt`, one
line per build (`<name> <git sha> <built at> <sha256>`), and `OTP-<v>.tar.gz` beside it. setup-beam
then runs the tarball's `./Install -minimal`; the gate never runs anything from the tarball: the
ELF files are scannable where they lie (`erts-*/bin`, `lib/*/priv`).
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gate.acquire.download import (
    DEFAULT_TIMEOUT,
    fetch_verified,
    get_index,
    is_sha256,
    unpack_tarball,
)
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError, KnowledgeError, UsageError
from gate.knowledge.snapshot import BuildEntry, parse_builds_txt
from gate.model.options import CLI_OPTIONS, OptionNames
from gate.model.runtime import Origin
from gate.outside.cache import cache_root

DEFAULT_MIRROR = "https://builds.hex.pm"
# builds.hex.pm builds per Ubuntu LTS; GitHub's `ubuntu-latest` runner is 24.04.
DEFAULT_UBUNTU = "ubuntu-24.04"
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_GIT_SHA_RX = re.compile(r"[0-9a-f]{40}")
_UBUNTU_RX = re.compile(r"(?:ubuntu-?)?(\d{2})(?:\.04)?")


def _mirror_hint(option: str) -> str:
    return f"the mirror does not serve a builds.hex.pm builds.txt; check {option}"


def parse_index(
    text: str, url: str, mirror_option: str = CLI_OPTIONS.builds_mirror
) -> dict[str, BuildEntry]:
    """builds.txt by name, strictly: a line without a full git sha and a sha256 means a broken or
    hostile index, not a gap (the sha256 is what the download is verified against)."""
    try:
        entries = parse_builds_txt(text, url)
    except KnowledgeError as e:
        raise AcquireError(e.message, hint=_mirror_hint(mirror_option)) from e
    for entry in entries:
        if entry.sha256 is None or not is_sha256(entry.sha256):
            raise AcquireError(
                f"{url}:{entry.line}: {entry.ref} has no sha256", hint=_mirror_hint(mirror_option)
            )
        if not _GIT_SHA_RX.fullmatch(entry.git_sha):
            raise AcquireError(
                f"{url}:{entry.line}: {entry.ref} has no full git sha",
                hint=_mirror_hint(mirror_option),
            )
    if not entries:
        raise AcquireError(f"{url}: empty builds.txt", hint=f"check {mirror_option}")
    return {e.ref: e for e in entries}


def normalize_arch(arch: str | None) -> str:
    raw = arch or platform.machine()
    try:
        return _ARCHES[raw.lower()]
    except KeyError:
        raise UsageError(
            f"architecture {raw!r} has no builds.hex.pm OTP builds; use amd64 or arm64"
        ) from None


def normalize_ubuntu(ubuntu: str | None, environ: Mapping[str, str]) -> str:
    """`ubuntu-24.04` from "24.04", "ubuntu24", a runner's `ImageOS`, or the default."""
    raw = ubuntu or environ.get("ImageOS", "") or DEFAULT_UBUNTU
    m = _UBUNTU_RX.fullmatch(raw.strip().lower())
    if not m:
        if ubuntu is None:  # an ImageOS such as "macos14": not ours to refuse
            return DEFAULT_UBUNTU
        raise UsageError(f"Ubuntu release {ubuntu!r} is not like ubuntu-24.04")
    return f"ubuntu-{m.group(1)}.04"


@dataclass(frozen=True)
class PrebuiltSource:
    """`RuntimeSource` for builds.hex.pm's `OTP-<version>.tar.gz`, verified against builds.txt."""

    version: str
    mirror: str | None = None  # None: DEFAULT_MIRROR (so a CLI can pass its option through)
    arch: str | None = None  # amd64/arm64; default: this machine's
    ubuntu: str | None = None  # ubuntu-XX.04; default: $ImageOS, else DEFAULT_UBUNTU
    cache_dir: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    environ: Mapping[str, str] | None = None
    names: OptionNames = CLI_OPTIONS  # how hints name the mirror option

    @property
    def base_url(self) -> str:
        env = os.environ if self.environ is None else self.environ
        arch = normalize_arch(self.arch)
        mirror = (self.mirror or DEFAULT_MIRROR).rstrip("/")
        return f"{mirror}/builds/otp/{arch}/{normalize_ubuntu(self.ubuntu, env)}"

    def build_name(self, index: Mapping[str, BuildEntry]) -> str:
        """The builds.txt name for `version`: "27.3.4" -> "OTP-27.3.4"; "maint-27" as is."""
        v = self.version.strip()
        for name in (v if v.startswith("OTP-") else f"OTP-{v}", v):
            if name in index:
                return name
        major = re.match(r"(?:OTP-)?(\d+)", v)
        near = sorted(n for n in index if major and n.startswith(f"OTP-{major.group(1)}."))
        hint = f"versions of that line it has: {', '.join(near[-8:])}" if near else None
        raise AcquireError(f"{self.base_url}/builds.txt has no build of OTP {v!r}", hint=hint)

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        base = self.base_url
        index_url = f"{base}/builds.txt"
        index = parse_index(
            get_index(
                index_url, timeout=self.timeout, mirror_option=self.names.builds_mirror
            ).decode("utf-8", "replace"),
            index_url,
            self.names.builds_mirror,
        )
        entry = index[self.build_name(index)]
        assert entry.sha256 is not None  # parse_index refuses entries without one
        url = f"{base}/{entry.ref}.tar.gz"
        env = os.environ if self.environ is None else self.environ
        cache = (self.cache_dir or cache_root(env)) / "prebuilt"
        # The digest from builds.txt is the cache key: a rebuilt tarball gets a new entry.
        dl = fetch_verified(
            url,
            cache,
            sha256=entry.sha256,
            filename=f"{entry.ref}.tar.gz",
            timeout=self.timeout,
            mirror_option=self.names.builds_mirror,
        )
        dest = workdir / f"prebuilt-{entry.ref}"
        unpack_tarball(dl.path, dest, label=url)
        root = find_otp_root(dest, url)
        return (
            AcquiredTree(
                root=root,
                display_root=url,
                origin=Origin(
                    method="prebuilt",
                    description=(
                        f"builds.hex.pm {entry.ref} ({base.rsplit('/', 2)[-2]}, "
                        f"{base.rsplit('/', 1)[-1]}; git {entry.git_sha[:12]}, built "
                        f"{_iso(entry.built_at)}; sha256 {entry.sha256} verified)"
                    ),
                ),
            ),
        )


def find_otp_root(dest: Path, label: str) -> Path:
    """The folder holding `erts-*/bin` and `lib/` (the tarball's top folder, usually `OTP-<v>/`).

    The unpack folder or one level down (setup-beam strips one component); symlinks not followed.
    """
    found: list[Path] = []
    for cand in (dest, *_subdirs(dest)):
        if (cand / "lib").is_dir() and any(p.is_dir() for p in cand.glob("erts-*/bin")):
            found.append(cand)
    if len(found) != 1:
        what = "no folder" if not found else f"{len(found)} folders"
        raise AcquireError(
            f"{label}: {what} with erts-*/bin and lib/ inside; this is not an OTP build tarball"
        )
    return found[0]


def _subdirs(p: Path) -> list[Path]:
    return sorted(c for c in p.iterdir() if c.is_dir() and not c.is_symlink())


def _iso(when: datetime) -> str:
    """builds.txt's own spelling of a UTC time (`2026-04-24T21:11:44Z`)."""
    text = when.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
