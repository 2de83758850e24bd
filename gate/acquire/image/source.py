"""A saved image archive on disk (docker save, OCI layout, podman/skopeo) -> the OTP runtimes inside.

Two passes over the layers, streaming: the first builds the final file index (whiteouts, opaque
folders, links) without extracting anything; the second extracts only the OTP runtimes and the
package databases. Symlinks are resolved inside the image root, never on the host.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gate.acquire.archive import ArchiveLimits, Budget, DecompressingReader, TarReader, sniff
from gate.acquire.image.extract import Extraction, Facts
from gate.acquire.image.manifest import ImageManifest, select_image
from gate.acquire.image.outer import OuterArchive
from gate.acquire.image.planner import Plan, plan_extraction
from gate.acquire.image.platforms import Platform
from gate.acquire.image.tree import beams_of, build_tree, find_runtimes
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError
from gate.knowledge.packages import distro_name, image_metadata_from_config
from gate.model.runtime import Origin

# A full or quota-limited scratch disk, or a file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_image_archive(path: Path, max_members: int = 100_000) -> bool:
    """Does this tar look like a saved image (OCI layout or docker save) rather than a tarball?"""
    try:
        with path.open("rb") as f:
            compressed = sniff(f.read(8)) != "plain"
            f.seek(0)
            # Headers only; a compressed archive is looked at only in its first members.
            limit = 64 if compressed else max_members
            reader = TarReader.open(f, str(path), Budget(ArchiveLimits(), str(path)))
            manifest = layers = False
            for n, (rel, _info) in enumerate(reader.members()):
                if rel in ("oci-layout", "index.json"):
                    return True
                manifest = manifest or rel == "manifest.json"
                layers = layers or rel.endswith(".tar")
                if manifest and layers:
                    return True
                if n >= limit:
                    break
    except (OSError, AcquireError):
        return False
    return False


def _spool_decompressed(path: Path, workdir: Path, limits: ArchiveLimits) -> Path:
    """A compressed image archive (`docker save | gzip`) unpacked to one plain tar on disk."""
    with path.open("rb") as f:
        kind = sniff(f.read(8))
        if kind == "plain":
            return path
        if kind == "zstd":
            raise AcquireError(f"{path}: zstd-compressed archives are not supported")
        f.seek(0)
        spool = workdir / f".{path.name}.tar"
        reader = DecompressingReader(f, kind, limits, str(path))
        with spool.open("wb") as out:
            while chunk := reader.read(1024 * 1024):
                out.write(chunk)
    return spool


@dataclass(frozen=True)
class ImageArchiveSource:
    """A saved image archive on disk: docker save (legacy or OCI), OCI layout tar, podman/skopeo."""

    path: Path
    platform: Platform | None = None
    ref: str | None = None  # the image's name, to label reports and pick it in a multi-image save
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    label: str | None = None  # what errors call the archive (default: its path)

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        if not self.path.is_file():
            raise AcquireError(
                f"{self.path}: no such file",
                hint="create it with `docker save IMAGE -o FILE`",
            )
        workdir.mkdir(parents=True, exist_ok=True)
        label = self.label or str(self.path)
        with disk_errors(label, workdir):
            return self._acquire(workdir, label)

    def _acquire(self, workdir: Path, label: str) -> Sequence[AcquiredTree]:
        plain = _spool_decompressed(self.path, workdir, self.limits)
        budget = Budget(self.limits, label)
        outer = OuterArchive(plain, label, budget)
        spool_path = workdir / f".{self.path.name}.capture"
        spool = spool_path.open("w+b")
        try:
            image = select_image(outer, self.platform, self.ref)
            tree = build_tree(outer, image, budget, spool)
            spool.flush()
            roots = find_runtimes(tree)
            name = self.ref or (image.names[0] if image.names else self.path.name)
            if not roots:
                raise AcquireError(
                    f"image {name}: no OTP runtime inside (looked for erts-*/bin/beam.smp "
                    "in every folder)",
                    hint="is this the image you ship? Scan the final stage of a multi-stage build",
                )
            plan = plan_extraction(tree, roots)
            dests = [_fresh_dir(workdir, f"image-{n}") for n in range(len(roots))]
            beams = {root: beams_of(tree, root) for root in roots}
            all_beams = {b for found in beams.values() for b in found}
            pass2 = Budget(self.limits, label)
            facts = Extraction(outer, image, tree, plan, dests, all_beams, pass2, spool).run()
        finally:
            outer.close()
            spool.close()
            spool_path.unlink(missing_ok=True)
            if plain != self.path:
                plain.unlink(missing_ok=True)
        return [
            self._tree(n, root, dests[n], name, image, beams[root], facts, plan)
            for n, root in enumerate(roots)
        ]

    def _tree(
        self,
        n: int,
        root: str,
        dest: Path,
        name: str,
        image: ImageManifest,
        beams: list[str],
        facts: Facts,
        plan: Plan,
    ) -> AcquiredTree:
        in_image = "/" + root
        package = version = None
        for beam in beams:
            if beam in facts.owners:
                package = facts.owners[beam]
                version = facts.dpkg.get(package, ("", ""))[0] or None
            elif beam in facts.apk:
                package, version = facts.apk[beam]
            if package:
                break
        distro = distro_name(facts.os_release)
        plat = f" ({image.platform})" if image.platform else ""
        text = f"image {name}{plat}, {in_image}"
        if package:
            text += f": {facts.os_release.get('NAME', 'distro')} package {package} {version or ''}".rstrip()
        skipped = plan.skipped.get(n, [])
        if skipped:
            text += f"; {len(skipped)} link(s) or special file(s) not extracted"
        return AcquiredTree(
            root=dest,
            display_root=f"image:{in_image}",
            origin=Origin(
                method="image",
                description=text,
                package=package,
                package_version=version,
                distro=distro,
                image=name,
                path_in_image=in_image,
                image_metadata=image_metadata_from_config(image.config, name),
            ),
        )


def _fresh_dir(workdir: Path, name: str) -> Path:
    """A new, empty folder `workdir/name`, or `name-1`, `name-2`... if that one exists."""
    d, k = workdir / name, 0
    while d.exists():
        k += 1
        d = workdir / f"{name}-{k}"
    d.mkdir(parents=True)
    return d


@contextmanager
def disk_errors(label: str, workdir: Path) -> Iterator[None]:
    """A full scratch disk while unpacking is a clear error (exit 2), as for tarballs."""
    try:
        yield
    except OSError as e:
        if e.errno not in DISK_FULL_ERRNOS:
            raise
        raise AcquireError(
            f"{label}: cannot unpack the image into {workdir}: {e.strerror or e}",
            hint="free space in the scratch folder (TMPDIR), or scan a smaller image",
        ) from e
