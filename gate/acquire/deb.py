"""Unpack a Debian package (.deb) with the standard library, through the one safe tar extraction.

A .deb is an `ar` archive of `debian-binary`, `control.tar.*` and `data.tar.*`
(https://manpages.debian.org/deb.5). The data member is streamed from its place in the file into
`gate.acquire.extract.extract_all`, so it obeys the same path, link and size rules as a tarball; no `dpkg -x`
process per package (32 of them took 3.2 s for Debian's OTP, issue 12). Compressions the standard
library lacks (zstd, used by Ubuntu since 21.10) come decompressed from `dpkg-deb --fsys-tarfile`,
whose tar stream takes the same path.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from gate.acquire.archive import ZSTD_MAGIC, ArchiveLimits, Window
from gate.acquire.extract import ExtractResult, extract_all
from gate.errors import AcquireError

AR_MAGIC = b"!<arch>\n"
_HEADER = 60  # name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n"
_MAX_MEMBERS = 16  # a .deb has three; the format allows a few more (`_`-prefixed)
_DPKG_DEB_TIMEOUT = 300


@dataclass(frozen=True)
class ArMember:
    """One member of an `ar` archive: its name and where its bytes lie in the file."""

    name: str
    offset: int
    size: int


def ar_members(fd: int, file_size: int, label: str) -> list[ArMember]:
    """The members of the `ar` archive open at `fd`; every header and size checked against the file."""
    if os.pread(fd, len(AR_MAGIC), 0) != AR_MAGIC:
        raise AcquireError(f"{label}: not a Debian package (no ar archive header)")
    members: list[ArMember] = []
    pos = len(AR_MAGIC)
    while pos < file_size:
        header = os.pread(fd, _HEADER, pos)
        size_field = header[48:58].strip()
        if len(header) < _HEADER or header[58:60] != b"`\n" or not size_field.isdigit():
            raise AcquireError(f"{label}: corrupt ar member header at byte {pos}")
        start, size = pos + _HEADER, int(size_field)
        if start + size > file_size:
            raise AcquireError(
                f"{label}: truncated: member at byte {pos} needs {size} bytes, "
                f"the file has {file_size - start}",
                hint="the download is incomplete; fetch the package again",
            )
        if len(members) == _MAX_MEMBERS:
            raise AcquireError(
                f"{label}: more than {_MAX_MEMBERS} ar members; not a Debian package"
            )
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        members.append(ArMember(name, start, size))
        pos = start + size + (size & 1)  # members are padded to an even offset
    return members


def unpack_deb(
    deb: Path, dest: Path, limits: ArchiveLimits | None = None, dpkg_deb: str = "dpkg-deb"
) -> ExtractResult:
    """Extract `deb`'s data member into `dest` (merging with what is there), refusing unsafe
    members as `extract_all` does. Nothing of the package is run."""
    label = deb.name
    try:
        f = deb.open("rb")
    except OSError as e:
        raise AcquireError(f"{label}: cannot open: {e.strerror or e}") from e
    with f:
        members = ar_members(f.fileno(), os.fstat(f.fileno()).st_size, label)
        data = next((m for m in members if m.name.startswith("data.tar")), None)
        if data is None:
            raise AcquireError(f"{label}: no data.tar member; not a Debian binary package")
        window = Window(f, data.offset, data.size)
        if window.read(len(ZSTD_MAGIC)) != ZSTD_MAGIC:
            window.seek(0)
            # The compression is sniffed from the bytes, not the member's name.
            return extract_all(cast(BinaryIO, window), dest, limits, name=f"{label}:{data.name}")
    return _unpack_with_dpkg_deb(deb, dest, limits, dpkg_deb)


def _unpack_with_dpkg_deb(
    deb: Path, dest: Path, limits: ArchiveLimits | None, dpkg_deb: str
) -> ExtractResult:
    """A data member the standard library cannot decompress: dpkg-deb gives its plain tar."""
    argv = [dpkg_deb, "--fsys-tarfile", str(deb)]
    # stderr goes to a file, not a pipe: a chatty dpkg-deb cannot stall while we read its stdout.
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        except OSError as e:
            raise AcquireError(
                f"{deb.name}: its data is zstd-compressed and {dpkg_deb} cannot run: "
                f"{e.strerror or e}",
                hint="install dpkg (it decompresses zstd packages)",
            ) from e
        assert proc.stdout is not None
        try:
            result = extract_all(
                cast(BinaryIO, proc.stdout), dest, limits, name=f"{deb.name}:data.tar.zst"
            )
            proc.wait(timeout=_DPKG_DEB_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise AcquireError(
                f"dpkg-deb took longer than {_DPKG_DEB_TIMEOUT} s: {deb.name}"
            ) from e
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip()[-300:]
    if proc.returncode != 0:
        raise AcquireError(f"dpkg-deb --fsys-tarfile {deb.name} failed: {message}")
    return result
