"""Walk an acquired tree: find every ELF file by its magic bytes, give it a role, read version files.

Nothing here executes or parses a scanned binary beyond its first four bytes; symlinks are never
followed, so a tree cannot lead the walk outside its root or into a loop.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Mapping
from itertools import chain
from operator import attrgetter
from pathlib import Path

from gate.acquire.interface import AcquiredTree
from gate.errors import InspectError
from gate.knowledge.interface import ReleaseIndex
from gate.knowledge.snapshot import load_snapshot, parse_app
from gate.model.otp import AppVersion, OtpVersion
from gate.model.runtime import Role, Runtime, RuntimeFile, RuntimeKind

ELF_MAGIC = b"\x7fELF"
# Version files are a few bytes; cap reads so a hostile tree cannot make us load a huge file.
_MAX_TEXT = 64 * 1024
_MAJOR_RE = re.compile(r"^\d+$")
_NAME = attrgetter("name")


def distinct_applications(
    table: Mapping[OtpVersion, tuple[AppVersion, ...]],
) -> frozenset[AppVersion]:
    """Every application version of an OTP versions table once: ~2,600 entries, the set built in
    C, where every release's list would be ~21,000 to walk in Python (issue 12)."""
    return frozenset(chain.from_iterable(table.values()))


def otp_application_names(index: ReleaseIndex | None = None) -> frozenset[str]:
    """Every application name any OTP release has shipped, from the OTP versions table."""
    apps = (index or load_snapshot()).applications()
    return frozenset(map(_NAME, distinct_applications(apps)))


class TreeWalk:
    """What a walk of a tree found: ELF files, and what it could not read or follow.

    A plain class, filled in as the walk goes and pickled from the read-ahead helper (a
    dataclass costs ~0.5 ms to define at import, in both processes: issue 12)."""

    __slots__ = ("elf", "problems", "unreadable")

    def __init__(self) -> None:
        self.elf: list[tuple[str, Path]] = []
        self.problems: list[str] = []
        # (path, why): entries the walk could not read; they may hide an ELF file, so they fail
        # closed.
        self.unreadable: list[tuple[str, str]] = []

    def copy(self) -> TreeWalk:
        """A walk to add to without changing this one."""
        out = TreeWalk()
        out.elf, out.problems, out.unreadable = [*self.elf], [*self.problems], [*self.unreadable]
        return out


def walk_tree(root: Path) -> TreeWalk:
    """Collect (relative POSIX path, absolute path) of every ELF regular file under `root`."""
    out = TreeWalk()
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        directory, rel_dir = stack.pop()
        try:
            st = os.stat(directory)
            key = (st.st_dev, st.st_ino)
            if key in seen:  # a bind mount looping back; symlinks are never followed
                continue
            seen.add(key)
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as e:
            # An unreadable folder, or a path over PATH_MAX (ENAMETOOLONG): what it holds is unknown.
            out.unreadable.append((rel_dir or ".", f"cannot read the folder: {e.strerror or e}"))
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            path = entry.path  # a str: a Path for each of thousands of files costs a scan ~15 ms
            try:
                if entry.is_symlink():
                    _check_symlink(path, rel, out)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((Path(path), rel))
                elif entry.is_file(follow_symlinks=False) and _is_elf(path):
                    # FIFOs, sockets and devices never get here: opening a FIFO would block.
                    out.elf.append((rel, Path(path)))
            except OSError as e:
                out.unreadable.append((rel, f"cannot read: {e.strerror or e}"))
    return out


def _check_symlink(path: str, rel: str, out: TreeWalk) -> None:
    """Symlinks are not followed; a loop is reported because it usually means a broken tree."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            out.problems.append(f"symlink loop at {rel} (not followed)")


def _is_elf(path: str) -> bool:
    # O_NOFOLLOW: the entry was a regular file when listed; refuse it if it became a symlink since.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return os.read(fd, 4) == ELF_MAGIC
    finally:
        os.close(fd)


def split_app_dir(name: str) -> tuple[str, str | None]:
    """`crypto-5.1.2` -> ("crypto", "5.1.2"); `os_mon` -> ("os_mon", None)."""
    app = parse_app(name)
    return (app.name, app.version) if app else (name, None)


def classify(rel: str, otp_apps: frozenset[str]) -> tuple[Role, str | None]:
    """The role of an ELF file from its place in the tree, and its `lib/` application folder."""
    parts = rel.split("/")
    name = parts[-1]
    if len(parts) == 3 and parts[0].startswith("erts-") and parts[1] == "bin":
        # beam.smp and its variants: beam.emu.smp, beam.jit.smp, beam.debug.smp, beam.asan.smp ...
        return (Role.EMULATOR if name.startswith("beam") else Role.ERTS_EXECUTABLE), None
    if len(parts) == 2 and parts[0] == "bin":
        return (Role.EMULATOR if name.startswith("beam.") else Role.ERTS_EXECUTABLE), None
    if len(parts) >= 4 and parts[0] == "lib":
        app_dir = parts[1]
        app_name, _ = split_app_dir(app_dir)
        if parts[2] == "priv":
            if app_name not in otp_apps:
                return Role.PROJECT_NIF, app_dir
            if len(parts) >= 5 and parts[3] == "bin":
                return Role.OTP_PORT_PROGRAM, app_dir
            return Role.OTP_NIF, app_dir
        if app_name in otp_apps and len(parts) == 4 and parts[2] == "bin":
            # e.g. lib/erl_interface-5.3/bin/erl_call: the same program as the root bin/ copy.
            return Role.ERTS_EXECUTABLE, app_dir
        return Role.OTHER, app_dir
    return Role.OTHER, None


def _symlink_in(root: Path, rel: str) -> str | None:
    """The first component of `rel` below `root` that is a symlink (never followed), or None."""
    path = root
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            return str(path.relative_to(root))
    return None


def _read_text(root: Path, rel: str, walk: TreeWalk) -> str | None:
    """A small version file of the tree, or None when absent; symlinks are not followed."""
    path = root / rel
    try:
        if link := _symlink_in(root, rel):
            if path.exists():
                walk.problems.append(
                    f"{link} is a symbolic link; not followed, so {rel} was not read"
                )
            return None
        if not path.is_file():
            return None
        with path.open("rb") as f:
            data = f.read(_MAX_TEXT)
    except OSError as e:
        # A version file the gate cannot read could hide how far behind the runtime is.
        walk.unreadable.append((rel, f"cannot read: {e.strerror or e}"))
        return None
    return data.decode("utf-8", errors="replace")


def _dirs(root: Path, rel: str = "") -> list[str]:
    """Sub-folders (not symlinks) of `root/rel`; empty when `rel` is or passes through a symlink."""
    if rel and _symlink_in(root, rel):
        return []
    try:
        return sorted(e.name for e in os.scandir(root / rel) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _apps(lines: Iterable[str]) -> tuple[AppVersion, ...]:
    return tuple(a for a in (parse_app(line.strip()) for line in lines) if a is not None)


def load_runtime(
    tree: AcquiredTree, otp_apps: frozenset[str] | None = None, walk: TreeWalk | None = None
) -> Runtime:
    """Walk `tree` and describe it: ELF files with roles, kind, and the version files OTP leaves.

    `otp_apps` are the names of OTP's own applications (default: from the bundled OTP versions
    table); an ELF under `lib/<app>/priv/` of any other application is a project NIF. `walk` is
    a `walk_tree` of the same root made earlier (in a helper process, `gate.inspection.ahead.read_ahead`).
    """
    root = tree.root
    if not root.is_dir():
        raise InspectError(
            f"{tree.display_root}: not a directory, cannot scan it as an OTP runtime",
            hint="pass an OTP root (e.g. /usr/lib/erlang) or a release folder",
        )
    names = otp_apps if otp_apps is not None else otp_application_names()
    # A copy: the version files read below add what they could not read to it.
    walk = walk_tree(root) if walk is None else walk.copy()

    files = []
    for rel, path in sorted(walk.elf):
        role, app = classify(rel, names)
        files.append(RuntimeFile(path=rel, abs_path=path, role=role, app=app))

    # releases/<major>/OTP_VERSION: an upgraded install can hold several majors; the newest counts.
    majors = sorted(
        (d for d in _dirs(root, "releases") if _MAJOR_RE.match(d)), key=int, reverse=True
    )
    otp_version_file: str | None = None
    installed: tuple[AppVersion, ...] = ()
    for major in majors:
        text = _read_text(root, f"releases/{major}/OTP_VERSION", walk)
        if text is not None:
            otp_version_file = text.strip()
            iav = _read_text(root, f"releases/{major}/installed_application_versions", walk)
            installed = _apps(iav.splitlines()) if iav else ()
            break
    start_erl = _read_text(root, "releases/start_erl.data", walk)

    erts_versions = tuple(d[len("erts-") :] for d in _dirs(root) if re.match(r"^erts-\d", d))
    applications = tuple(
        AppVersion(name, vsn)
        for name, vsn in (split_app_dir(d) for d in _dirs(root, "lib"))
        if vsn is not None
    )

    if otp_version_file is not None:
        kind = RuntimeKind.OTP_INSTALL
    elif erts_versions or applications or start_erl is not None:
        kind = RuntimeKind.RELEASE
    else:
        kind = RuntimeKind.FILES

    return Runtime(
        root=root,
        display_root=tree.display_root,
        kind=kind,
        files=tuple(files),
        origin=tree.origin,
        otp_version_file=otp_version_file,
        erts_versions=erts_versions,
        applications=applications,
        installed_application_versions=installed,
        start_erl_data=start_erl.strip() if start_erl is not None else None,
        problems=tuple(walk.problems),
        unreadable=tuple(sorted(walk.unreadable)),
    )
