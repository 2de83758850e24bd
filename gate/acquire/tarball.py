"""A tarball of an installed OTP or a release (`.tar.gz`, `.tgz`, `.tar`), unpacked safely and searched."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gate.acquire.archive import ArchiveLimits
from gate.acquire.extract import extract_all
from gate.acquire.image import ImageArchiveSource, is_image_archive
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError
from gate.model.runtime import Origin

#: An OTP install holds some 2,000-6,000 files and a large release 10,000-30,000. Each member costs a
#: file creation (a tar of 100,000 empty members, 900 kB gzipped, took 20 s to write out on a slow
#: disk), so more than this is refused rather than ground through (issue 14). Images keep their own.
TARBALL_LIMITS = ArchiveLimits(max_members=100_000)


def is_runtime_root(path: Path) -> bool:
    """An OTP root or release: `erts-*/bin/beam.smp`, or `releases/*/OTP_VERSION`."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    for name in names:
        if name.startswith("erts-") and (path / name / "bin" / "beam.smp").is_file():
            return True
    rel = path / "releases"
    if "releases" in names and rel.is_dir() and not rel.is_symlink():
        try:
            return any((rel / v / "OTP_VERSION").is_file() for v in os.listdir(rel))
        except OSError:
            return False
    return False


def find_runtime_roots(top: Path) -> list[Path]:
    """Every runtime root under `top` (symlinks never followed; no search inside a found root)."""
    found: list[Path] = []
    stack = [top]
    while stack:
        cur = stack.pop()
        if is_runtime_root(cur):
            found.append(cur)
            continue
        try:
            entries = sorted(os.scandir(cur), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        stack.extend(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    return sorted(found)


@dataclass(frozen=True)
class TarballSource:
    """Unpacks `path` into the scratch folder and returns each runtime found inside it."""

    path: Path
    limits: ArchiveLimits | None = None  # None: TARBALL_LIMITS (or the image defaults for an image)

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        if not self.path.is_file():
            raise AcquireError(
                f"{self.path}: no such file", hint="pass the path of a .tar.gz, .tgz or .tar file"
            )
        if is_image_archive(self.path):
            # `docker save` output handed over as a tarball: read it as the image it is.
            return ImageArchiveSource(self.path, limits=self.limits or ArchiveLimits()).acquire(
                workdir
            )
        dest = workdir / "tarball"
        n = 0
        while dest.exists():
            n += 1
            dest = workdir / f"tarball-{n}"
        result = extract_all(self.path, dest, self.limits or TARBALL_LIMITS, name=str(self.path))
        roots = find_runtime_roots(dest)
        if not roots:
            raise AcquireError(
                f"{self.path}: no OTP runtime inside (looked for a folder holding "
                "erts-*/bin/beam.smp or releases/*/OTP_VERSION)",
                hint="pack the installed OTP root or the release folder "
                "(e.g. tar czf otp.tar.gz -C /usr/local/lib erlang)",
            )
        trees = []
        for root in roots:
            rel = root.relative_to(dest).as_posix()
            inside = "/" if rel == "." else f"/{rel}"
            note = (
                f"; {len(result.skipped_links)} symlink(s) pointing outside it not unpacked"
                if result.skipped_links
                else ""
            )
            trees.append(
                AcquiredTree(
                    root=root,
                    display_root=f"{self.path}:{inside}",
                    origin=Origin(method="tarball", description=f"tarball {self.path}{note}"),
                )
            )
        return trees
