"""The Erlang/OTP this Debian/Ubuntu machine's apt would install, fetched without installing it.

`apt-get download` fetches `erlang-base` and every other architecture-specific binary package built
from the same source at the same candidate version (found with apt-cache, never a fixed list), and
`gate.acquire.deb` unpacks each into the scratch folder through the safe tar reader: no root,
nothing installed, nothing executed.

With a cache folder (the CLI passes `$OTP_GATE_CACHE`), a run takes well under 2 s once the
packages were seen (issue 12): downloads are kept by their SHA256 (the one apt's metadata gives, so
a file is reused only when it is that package), the unpacked tree is kept under a key made of every
package's SHA256 and reused while apt names the same packages, and apt's own package cache (which
Docker's Debian images switch off, making each apt call parse the lists for ~0.6 s) is kept there.
Each run marks what it used and removes trees and downloads no run has used for `UNUSED_DAYS`
days by the run's clock (a package set the machine has moved on from is ~60 MB unpacked).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from gate.acquire.deb import unpack_deb
from gate.acquire.interface import AcquiredTree
from gate.clock import Clock
from gate.errors import AcquireError
from gate.knowledge.packages import deb822_paragraphs, distro_name, parse_os_release
from gate.model.runtime import Origin

BASE_PACKAGE = "erlang-base"
_TIMEOUT = 900  # seconds for the whole download; a stalled mirror must not hang the gate
_HINT_NO_APT = "on other systems scan an installed OTP instead: otp-gate scan /usr/lib/erlang"
# Cached trees and downloads no run has used for this long are removed (a rollback within it
# still finds its packages; an upgraded machine does not keep every old set for ever).
UNUSED_DAYS = 14


@dataclass(frozen=True)
class Candidate:
    """One binary package at the version apt would install."""

    package: str
    version: str
    source: str
    architecture: str
    sha256: str = field(default="", compare=False)  # of the .deb, from apt's metadata


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Parse deb822 paragraphs (`apt-cache show` output); continuation lines are joined."""
    return deb822_paragraphs(text)


def candidate_of(stanza: Mapping[str, str]) -> Candidate | None:
    """A `Candidate` from one stanza; the `Source` field is `name [(version)]`, or absent when
    the source has the package's own name."""
    if "Package" not in stanza or "Version" not in stanza:
        return None
    source = stanza.get("Source", stanza["Package"]).split()[0]
    return Candidate(
        stanza["Package"],
        stanza["Version"],
        source,
        stanza.get("Architecture", ""),
        stanza.get("SHA256", "").strip().lower(),
    )


def select_packages(base: Candidate, candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """Packages of `base`'s source at `base`'s version that are architecture-specific (so may
    hold ELF files), `base` first, without duplicates or debug-symbol packages."""
    chosen = {base.package: base}
    for c in candidates:
        if (
            c.source == base.source
            and c.version == base.version
            and c.architecture not in ("all", "")
            and not c.package.endswith("-dbgsym")
        ):
            chosen.setdefault(c.package, c)
    return (base, *sorted((c for c in chosen.values() if c is not base), key=lambda c: c.package))


def read_os_release(path: Path) -> dict[str, str]:
    """Parse /etc/os-release (shell-style `KEY=value`, values possibly quoted); {} when unreadable."""
    try:
        return parse_os_release(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


class DistroSource:
    """Acquire the distribution's Erlang/OTP packages into `workdir` (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Clock,
        apt_get: str = "apt-get",
        apt_cache: str = "apt-cache",
        dpkg: str = "dpkg",
        os_release: Path = Path("/etc/os-release"),
        cache_dir: Path | None = None,
    ) -> None:
        self.apt_get = apt_get
        self.apt_cache = apt_cache
        self.dpkg = dpkg
        self.os_release = os_release
        self.cache = cache_dir / "distro" if cache_dir is not None else None
        self.clock = clock  # the run's clock: marks and ages of the cached trees and downloads

    def _tool(self, name: str) -> str:
        found = shutil.which(name)
        if found is None:
            raise AcquireError(
                f"--distro needs apt-get, apt-cache and dpkg (Debian or Ubuntu); {name!r} was not "
                "found on PATH",
                hint=_HINT_NO_APT,
            )
        return found

    def _cache(self) -> Path | None:
        """The cache folder, or None when there is none or it cannot be made (a read-only home):
        the run then works as without a cache, in the scratch folder."""
        if self.cache is None:
            return None
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return self.cache

    def _apt_options(self) -> list[str]:
        """Keep apt's binary package cache in ours: Docker's Debian images switch it off
        (`docker-clean`), and then every apt call parses all package lists again (~0.6 s)."""
        cache = self._cache()
        if cache is None:
            return []
        pkgcache = cache / "apt-pkgcache.bin"
        return ["-o", f"Dir::Cache::pkgcache={pkgcache}", "-o", "Dir::Cache::srcpkgcache="]

    def _run(
        self, argv: Sequence[str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                list(argv), cwd=cwd, capture_output=True, text=True, check=False, timeout=_TIMEOUT
            )
        except subprocess.TimeoutExpired as e:
            raise AcquireError(
                f"{Path(argv[0]).name} took longer than {_TIMEOUT} s: {shlex.join(argv)}"
            ) from e
        except OSError as e:
            raise AcquireError(f"cannot run {argv[0]}: {e.strerror or e}") from e

    def packages(self) -> tuple[Candidate, ...]:
        """The packages `acquire` downloads, as apt-cache reports them (no download)."""
        apt_cache = [self._tool(self.apt_cache), *self._apt_options()]
        # Every package name of erlang-base's family (Debian names them erlang-<app>), shown at
        # the candidate version apt would install; then keep those built from the same source.
        prefix = BASE_PACKAGE.split("-")[0] + "-"
        names = {*self._run([*apt_cache, "pkgnames", prefix]).stdout.split(), BASE_PACKAGE}
        shown = self._run([*apt_cache, "show", "--no-all-versions", *sorted(names)])
        candidates = [c for c in map(candidate_of, parse_stanzas(shown.stdout)) if c]
        base = next((c for c in candidates if c.package == BASE_PACKAGE), None)
        if base is None:
            raise AcquireError(
                f"apt on this machine has no {BASE_PACKAGE} package to install"
                + (f": {shown.stderr.strip()[-200:]}" if shown.stderr.strip() else ""),
                hint="run `apt-get update`, or enable the repository that ships Erlang/OTP",
            )
        return select_packages(base, candidates)

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        self._tool(self.apt_get)
        dpkg = self._tool(self.dpkg)
        packages = self.packages()
        entry = self._tree_entry(packages)
        if entry is not None and entry.is_dir():
            self._mark_and_prune(entry, packages)
            return self._trees(entry, packages)  # apt names the very packages unpacked before
        debs = self._download(packages, workdir)
        dpkg_deb = str(Path(dpkg).with_name("dpkg-deb"))
        if entry is None:
            self._unpack(debs, workdir / "root", dpkg_deb)
            return self._trees(workdir / "root", packages)
        partial = _fresh(entry)
        try:
            self._unpack(debs, partial, dpkg_deb)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        published = _publish(partial, entry)
        self._mark_and_prune(published, packages)
        return self._trees(published, packages)

    def _mark_and_prune(self, entry: Path, packages: Sequence[Candidate]) -> None:
        """Mark this run's tree and downloads as used now, and remove what no run has used for
        `UNUSED_DAYS` (`prune_unused`)."""
        now = self.clock()
        debs = entry.parent.parent / "debs"
        used = [entry, *(debs / f"{p.sha256}.deb" for p in packages)]
        stamp = now.timestamp()
        for path in used:
            with contextlib.suppress(OSError):  # a download may be gone: it is fetched again
                # Never back in time: a run whose clock is pinned to a past day must not make a
                # tree another run is using look old.
                if os.stat(path, follow_symlinks=False).st_mtime < stamp:
                    os.utime(path, (stamp, stamp), follow_symlinks=False)
        prune_unused(entry.parent, now - timedelta(days=UNUSED_DAYS), keep=used)
        prune_unused(debs, now - timedelta(days=UNUSED_DAYS), keep=used)

    def _unpack(self, debs: Sequence[Path], root: Path, dpkg_deb: str) -> None:
        for deb in debs:
            unpack_deb(deb, root, dpkg_deb=dpkg_deb)
        if not (root / "usr" / "lib" / "erlang").is_dir():
            raise AcquireError(
                f"the {BASE_PACKAGE} package did not contain usr/lib/erlang; cannot find its OTP"
            )

    def _tree_entry(self, packages: Sequence[Candidate]) -> Path | None:
        """Where the unpacked tree of exactly these packages is cached (None: no cache, or apt
        gave no SHA256 to name them by)."""
        cache = self._cache()
        if cache is None or not all(p.sha256 for p in packages):
            return None
        ident = "\n".join(f"{p.package} {p.version} {p.sha256}" for p in packages)
        key = hashlib.sha256(f"{_UNPACK_RECIPE}\n{ident}".encode()).hexdigest()[:24]
        return cache / "trees" / key

    def _download(self, packages: Sequence[Candidate], workdir: Path) -> list[Path]:
        """The .deb of every package, in `packages` order: from the download cache when a file
        there has apt's SHA256 for it, else fetched with `apt-get download`."""
        debs = workdir / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        cache = self._cache()
        if cache is None or not all(p.sha256 for p in packages):
            self._apt_download(packages, debs)
            return sorted(debs.glob("*.deb"))
        kept = cache / "debs"
        found = {p.sha256: kept / f"{p.sha256}.deb" for p in packages}
        found = {h: f for h, f in found.items() if f.is_file() and _sha256(f) == h}
        missing = [p for p in packages if p.sha256 not in found]
        if missing:
            self._apt_download(missing, debs)
        fetched = sorted(debs.glob("*.deb"))
        kept.mkdir(parents=True, exist_ok=True)
        for deb in fetched:
            digest = _sha256(deb)
            if digest in {p.sha256 for p in missing}:
                os.replace(deb, kept / f"{digest}.deb")  # same folder tree: a rename
                found[digest] = kept / f"{digest}.deb"
        lost = [p.package for p in packages if p.sha256 not in found]
        if lost:
            raise AcquireError(
                "apt-get download gave files whose SHA256 is not the one apt lists for "
                + ", ".join(lost),
                hint="run `apt-get update` and try again; a mirror may be changing under you",
            )
        return [found[p.sha256] for p in packages]

    def _apt_download(self, packages: Sequence[Candidate], debs: Path) -> None:
        pinned = [f"{p.package}={p.version}" for p in packages]
        argv = [self._tool(self.apt_get), *self._apt_options(), "download", *pinned]
        done = self._run(argv, cwd=debs)
        if done.returncode != 0:
            raise AcquireError(
                f"apt-get download of {len(pinned)} Erlang packages failed: "
                f"{done.stderr.strip()[-400:] or f'exit code {done.returncode}'}",
                hint="check the network and `apt-get update`; the packages were: "
                + " ".join(pinned),
            )

    def _trees(self, root: Path, packages: Sequence[Candidate]) -> tuple[AcquiredTree, ...]:
        base = packages[0]
        distro = distro_name(read_os_release(self.os_release))
        pretty = read_os_release(self.os_release).get("PRETTY_NAME") or distro or "this system"
        origin = Origin(
            method="distro",
            description=(
                f"{pretty} packages {base.package} {base.version} "
                f"and {len(packages) - 1} more from source {base.source}"
            ),
            package=base.package,
            package_version=base.version,
            distro=distro,
        )
        otp_root = root / "usr" / "lib" / "erlang"
        return (AcquiredTree(root=otp_root, display_root="/usr/lib/erlang", origin=origin),)


# Bump when what is unpacked changes, so older cached trees are not reused.
_UNPACK_RECIPE = "deb-unpack-1"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def prune_unused(folder: Path, before: datetime, keep: Sequence[Path] = ()) -> list[str]:
    """Remove the entries of one cache folder last used (modified) before `before`, except
    `keep`; the names removed. Symlinks are removed as links, never followed; an entry another
    run removes meanwhile, or that cannot be removed, is left to the next run.

    Trees another run is unpacking (`*.partial-<pid>`) are new, so never old enough; one left by a
    run that was killed is removed once it is."""
    removed: list[str] = []
    kept = {str(k) for k in keep}
    oldest_kept = before.timestamp()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for item in entries:
        if item.path in kept:
            continue
        try:
            if item.stat(follow_symlinks=False).st_mtime >= oldest_kept:
                continue
            if item.is_dir(follow_symlinks=False):
                shutil.rmtree(item.path)
            else:
                os.unlink(item.path)
        except OSError:
            continue
        removed.append(item.name)
    return sorted(removed)


def _fresh(entry: Path) -> Path:
    """An empty folder next to `entry` to unpack into (this process's own: runs may overlap)."""
    partial = entry.with_name(f"{entry.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _publish(partial: Path, entry: Path) -> Path:
    """Rename the finished tree into place (atomic: a reader sees all of it or none); when another
    run got there first, keep its tree and drop ours."""
    try:
        os.rename(partial, entry)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not entry.is_dir():
            raise
    return entry
