"""Unpacking a tar archive into a scratch folder: the members `TarReader` checked, written safely.

Names are clean relative paths by then; here nothing is written through a symlink, links stay
inside the scratch root, device files are refused, and a file-system error (a full disk, a name
over NAME_MAX or PATH_MAX) becomes an `AcquireError` naming the archive and the member.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gate.acquire.archive import (
    ArchiveLimits,
    Budget,
    TarReader,
    normalize_member,
    resolve_link,
    safe_parent,
    write_file,
)
from gate.errors import AcquireError, UnsafeArchiveError


def make_dir(root: Path, rel: str, archive: str) -> None:
    if not rel:
        return
    dest = safe_parent(root, rel, archive)
    if os.path.islink(dest):
        raise UnsafeArchiveError(f"{archive}: folder {rel!r} would replace a symlink")
    if not dest.is_dir():
        if os.path.lexists(dest):
            os.unlink(dest)
        os.mkdir(dest, 0o755)


def check_symlink(rel: str, target: str, archive: str) -> None:
    """Refuse a symlink whose target is absolute or climbs out of the archive (lexically)."""
    if target.startswith("/") or "\x00" in target or resolve_link(rel, target) is None:
        raise UnsafeArchiveError(
            f"{archive}: symlink {rel!r} -> {target!r} points outside the archive",
            hint="archives must not link outside themselves; this one may be hostile",
        )


def make_symlink(root: Path, rel: str, target: str, archive: str) -> None:
    """Create a symlink whose target stays inside `root` (checked lexically), else refuse."""
    check_symlink(rel, target, archive)
    dest = safe_parent(root, rel, archive)
    if os.path.lexists(dest):
        if dest.is_dir() and not dest.is_symlink():
            raise UnsafeArchiveError(f"{archive}: symlink {rel!r} would replace a folder")
        os.unlink(dest)
    os.symlink(target, dest)


def make_hardlink(root: Path, rel: str, target: str, archive: str) -> None:
    """Hard-link to an already extracted regular file of the same archive, else refuse."""
    tgt_rel = normalize_member(target, archive)
    src = root / tgt_rel
    try:
        safe_parent(root, tgt_rel, archive)
        st = os.lstat(src)
    except (FileNotFoundError, UnsafeArchiveError) as e:
        raise UnsafeArchiveError(
            f"{archive}: hard link {rel!r} -> {target!r} does not name a file extracted "
            "earlier from this archive",
            hint="archives must not link outside themselves; this one may be hostile",
        ) from e
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeArchiveError(
            f"{archive}: hard link {rel!r} -> {target!r} is not a regular file"
        )
    dest = safe_parent(root, rel, archive)
    if os.path.isdir(dest) and not os.path.islink(dest):
        raise UnsafeArchiveError(f"{archive}: hard link {rel!r} would replace a folder")
    if os.path.lexists(dest):
        os.unlink(dest)
    os.link(src, dest, follow_symlinks=False)


def refuse_special(info: tarfile.TarInfo, archive: str) -> None:
    """Device files, fifos and unknown types have no place in a runtime: refuse them."""
    kind = {
        tarfile.CHRTYPE: "character device",
        tarfile.BLKTYPE: "block device",
        tarfile.FIFOTYPE: "fifo",
    }.get(info.type, f"special member (type {info.type!r})")
    raise UnsafeArchiveError(
        f"{archive}: member {info.name!r} is a {kind}; refusing to create it",
        hint="runtime archives hold files, folders and links only; this one may be hostile",
    )


@dataclass(frozen=True)
class ExtractResult:
    root: Path
    members: int
    bytes_written: int
    # Symlinks pointing outside the archive (absolute, or climbing out): refused, so not created.
    # Real trees have them (Debian's OTP links jquery from /usr/share), hence no hard failure.
    skipped_links: tuple[str, ...] = ()


def _through_link(rel: str, links: set[str]) -> str | None:
    """The first parent of `rel` that the archive made a symlink, if any."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in links:
            return parent
    return None


def extract_all(
    source: Path | BinaryIO,
    dest: Path,
    limits: ArchiveLimits | None = None,
    name: str | None = None,
) -> ExtractResult:
    """Extract a (possibly compressed) tar archive into `dest`, safely and streaming.

    `source` is a file, or a stream it then owns (a .deb's data member: `gate.acquire.deb`), so
    every archive goes through the same path, link and size rules."""
    label = name or str(source)
    budget = Budget(limits or ArchiveLimits(), label)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        raw = source.open("rb") if isinstance(source, Path) else source
    except OSError as e:
        raise AcquireError(f"{label}: cannot open: {e.strerror or e}") from e
    with raw:
        reader = TarReader.open(raw, label, budget)
        links: list[tuple[str, str]] = []
        link_paths: set[str] = set()
        skipped: list[str] = []
        for rel, info in reader.members():
            try:
                _extract_member(dest, rel, info, reader, links, link_paths, skipped)
            except OSError as e:
                raise unpack_error(label, info.name, e) from e
        try:
            _finish_links(dest, links, label)
        except OSError as e:
            raise unpack_error(label, "a symlink", e) from e
    return ExtractResult(dest, budget.members, budget.written, tuple(skipped))


def unpack_error(archive: str, member: str, e: OSError) -> AcquireError:
    """A file-system error while unpacking (a full disk, a name over NAME_MAX or PATH_MAX)."""
    hint = (
        "free space in the temporary folder, or point TMPDIR at a larger disk"
        if e.errno == errno.ENOSPC
        else "the archive holds a name this file system cannot store; it may be hostile"
        if e.errno == errno.ENAMETOOLONG
        else None
    )
    return AcquireError(
        f"{archive}: cannot unpack member {member[:200]!r}: {e.strerror or e}", hint=hint
    )


def _extract_member(
    dest: Path,
    rel: str,
    info: tarfile.TarInfo,
    reader: TarReader,
    links: list[tuple[str, str]],
    link_paths: set[str],
    skipped: list[str],
) -> None:
    """Create one member under `dest`; symlinks are only recorded (created last)."""
    label = reader.name
    via = _through_link(rel, link_paths) if link_paths else None
    if via is not None:
        raise UnsafeArchiveError(
            f"{label}: member {info.name!r} would be written through the symlink {via!r}",
            hint="archives must not write through links; this one may be hostile",
        )
    if info.isdir():
        make_dir(dest, rel, label)
    elif info.isreg():
        if not rel:
            raise UnsafeArchiveError(f"{label}: file member {info.name!r} has no name")
        write_file(dest, rel, reader, info)
    elif info.issym():
        link_paths.add(rel)
        try:
            check_symlink(rel, info.linkname, label)
        except UnsafeArchiveError:
            skipped.append(f"{rel} -> {info.linkname}")
            return
        # Created last, so no later member can be written through one.
        links.append((rel, info.linkname))
    elif info.islnk():
        make_hardlink(dest, rel, info.linkname, label)
    else:
        refuse_special(info, label)


#: Links followed in one path lookup before giving up, as Linux does (ELOOP after 40).
MAX_LINK_HOPS = 40
#: Path components resolved over all links of one archive: bounds the work of hostile link graphs.
MAX_RESOLVE_STEPS = 2_000_000
#: A symlink target longer than PATH_MAX cannot be created or followed by the kernel anyway.
MAX_LINK_TARGET = 4095


def _finish_links(dest: Path, links: list[tuple[str, str]], label: str) -> None:
    # Each link is inside on its own, but a chain (`d/l -> ..`, `x -> d/l/..`) can still leave:
    # every link is resolved through the others before any is created. Not os.path.realpath: it
    # recurses once per link (a chain of 2,000 links raised RecursionError after 8 s, issue 14).
    table = dict(links)
    budget = [MAX_RESOLVE_STEPS]
    for rel, target in links:
        if len(target) > MAX_LINK_TARGET:
            raise UnsafeArchiveError(
                f"{label}: symlink {rel!r} has a target of {len(target)} bytes (over PATH_MAX)",
                hint="archives must not hold impossible links; this one may be hostile",
            )
        if not _stays_inside(rel, table, budget, label):
            raise UnsafeArchiveError(
                f"{label}: symlink {rel!r} -> {target!r} leads outside the archive "
                "through other links",
                hint="archives must not link outside themselves; this one may be hostile",
            )
    for rel, target in links:
        make_symlink(dest, rel, target, label)


def _stays_inside(rel: str, links: dict[str, str], budget: list[int], label: str) -> bool:
    """Resolve `rel` component by component as the kernel would, expanding the archive's own
    symlinks (`links`: path -> target); False when it climbs above the root."""
    todo = deque(rel.split("/"))
    out: list[str] = []
    hops = 0
    while todo:
        budget[0] -= 1
        if budget[0] < 0:
            raise UnsafeArchiveError(
                f"{label}: its symlinks take more than {MAX_RESOLVE_STEPS} steps to resolve",
                hint="archives must not hold link mazes; this one may be hostile",
            )
        part = todo.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return False
            out.pop()
            continue
        target = links.get("/".join((*out, part)))
        if target is None:
            out.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise UnsafeArchiveError(
                f"{label}: symlink {rel!r} needs more than {MAX_LINK_HOPS} links to resolve",
                hint="archives must not hold link chains the system cannot follow; "
                "this one may be hostile",
            )
        if target.startswith("/"):
            return False
        todo.extendleft(reversed(target.split("/")))
    return True
