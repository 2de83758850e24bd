"""The Erlang/OTP this Debian/Ubuntu machine's apt would install, fetched without installing it.

`apt-get download` fetches `erlang-base` and every other architecture-specific binary package built
from the same source at the same candidate version (found with apt-cache, never a fixed list), and
`dpkg -x` unpacks each into the scratch folder: no root, nothing installed, nothing executed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError
from gate.knowledge.packages import deb822_paragraphs, distro_name, parse_os_release
from gate.model.runtime import Origin

BASE_PACKAGE = "erlang-base"
_TIMEOUT = 900  # seconds for the whole download; a stalled mirror must not hang the gate
_HINT_NO_APT = "on other systems scan an installed OTP instead: otp-gate scan /usr/lib/erlang"


@dataclass(frozen=True)
class Candidate:
    """One binary package at the version apt would install."""

    package: str
    version: str
    source: str
    architecture: str


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Parse deb822 paragraphs (`apt-cache show` output); continuation lines are joined."""
    return deb822_paragraphs(text)


def candidate_of(stanza: Mapping[str, str]) -> Candidate | None:
    """A `Candidate` from one stanza; the `Source` field is `name [(version)]`, or absent when
    the source has the package's own name."""
    if "Package" not in stanza or "Version" not in stanza:
        return None
    source = stanza.get("Source", stanza["Package"]).split()[0]
    return Candidate(stanza["Package"], stanza["Version"], source, stanza.get("Architecture", ""))


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
        apt_get: str = "apt-get",
        apt_cache: str = "apt-cache",
        dpkg: str = "dpkg",
        os_release: Path = Path("/etc/os-release"),
    ) -> None:
        self.apt_get = apt_get
        self.apt_cache = apt_cache
        self.dpkg = dpkg
        self.os_release = os_release

    def _tool(self, name: str) -> str:
        found = shutil.which(name)
        if found is None:
            raise AcquireError(
                f"--distro needs apt-get, apt-cache and dpkg (Debian or Ubuntu); {name!r} was not "
                "found on PATH",
                hint=_HINT_NO_APT,
            )
        return found

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
        apt_cache = self._tool(self.apt_cache)
        # Every package name of erlang-base's family (Debian names them erlang-<app>), shown at
        # the candidate version apt would install; then keep those built from the same source.
        prefix = BASE_PACKAGE.split("-")[0] + "-"
        names = {*self._run([apt_cache, "pkgnames", prefix]).stdout.split(), BASE_PACKAGE}
        shown = self._run([apt_cache, "show", "--no-all-versions", *sorted(names)])
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
        apt_get = self._tool(self.apt_get)
        dpkg = self._tool(self.dpkg)
        packages = self.packages()
        debs = workdir / "debs"
        root = workdir / "root"
        debs.mkdir(parents=True, exist_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        pinned = [f"{p.package}={p.version}" for p in packages]
        done = self._run([apt_get, "download", *pinned], cwd=debs)
        if done.returncode != 0:
            raise AcquireError(
                f"apt-get download of {len(pinned)} Erlang packages failed: "
                f"{done.stderr.strip()[-400:] or f'exit code {done.returncode}'}",
                hint="check the network and `apt-get update`; the packages were: "
                + " ".join(pinned),
            )
        for deb in sorted(debs.glob("*.deb")):
            unpacked = self._run([dpkg, "-x", str(deb), str(root)])
            if unpacked.returncode != 0:
                raise AcquireError(f"dpkg -x {deb.name} failed: {unpacked.stderr.strip()[-300:]}")
        otp_root = root / "usr" / "lib" / "erlang"
        if not otp_root.is_dir():
            raise AcquireError(
                f"the {BASE_PACKAGE} package did not contain usr/lib/erlang; cannot find its OTP"
            )
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
        return (AcquiredTree(root=otp_root, display_root="/usr/lib/erlang", origin=origin),)
