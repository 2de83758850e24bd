"""Safe, streaming reading of attacker-controlled tar archives (tarballs and image layers).

Nothing here trusts a member: names are normalized and refused when absolute or with `..`, links may
not leave the scratch root, device files are refused, and sizes, member counts and decompression
ratios are capped while streaming, so a hostile archive fails with an `UnsafeArchiveError` naming the
archive and member instead of filling the disk or escaping the scratch folder.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from gate.acquire.tarheaders import GuardedTarInfo
from gate.errors import AcquireError, UnsafeArchiveError

MiB = 1024 * 1024
GiB = 1024 * MiB

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps applied while reading one input (a tarball, or all layers of one image)."""

    max_members: int = 500_000  # tar members seen, over all layers (the index: ~200 B each)
    max_total_bytes: int = 8 * GiB  # bytes written to the scratch folder
    max_stream_bytes: int = 32 * GiB  # decompressed bytes of one compressed stream
    max_ratio: int = 200  # decompressed/compressed, enforced once past `ratio_floor`
    ratio_floor: int = 64 * MiB  # small streams may compress well (zeros, text) without alarm
    max_metadata_bytes: int = 64 * MiB  # one JSON/metadata member read into memory

    def __post_init__(self) -> None:
        for name in ("max_members", "max_total_bytes", "max_stream_bytes", "max_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ArchiveLimits.{name} must be positive")


class Budget:
    """What one input has used of its `ArchiveLimits` so far (shared by every stream of it)."""

    def __init__(self, limits: ArchiveLimits, archive: str) -> None:
        self.limits = limits
        self.archive = archive
        self.members = 0
        self.written = 0

    def count_member(self, member: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnsafeArchiveError(
                f"{self.archive}: more than {self.limits.max_members} members (at {member!r})",
                hint="raise the member cap if this archive is trusted and really that large",
            )

    def add_written(self, n: int, member: str) -> None:
        self.written += n
        if self.written > self.limits.max_total_bytes:
            raise UnsafeArchiveError(
                f"{self.archive}: extracting {member!r} exceeds the cap of "
                f"{self.limits.max_total_bytes} bytes written",
                hint="raise the size cap if this archive is trusted and really that large",
            )


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class _Zlib:
    """zlib's decompressobj behind the bz2/lzma shape (its `max_length` leaves `unconsumed_tail`)."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes:
        out = self._d.decompress(self._d.unconsumed_tail + data, max(max_length, 0))
        return out


_FORMATS: dict[str, Callable[[], _Decompressor]] = {
    "gzip": _Zlib,
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}


def sniff(head: bytes) -> str:
    """Compression of a stream from its first bytes: "gzip", "bzip2", "xz", "zstd" or "plain"."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "plain"


class DecompressingReader(io.RawIOBase):
    """A read-only stream of the decompressed bytes, checking size and ratio as it goes."""

    CHUNK = 256 * 1024

    def __init__(self, raw: BinaryIO, kind: str, limits: ArchiveLimits, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._kind = kind
        self._new = _FORMATS[kind]
        self._d: _Decompressor = self._new()
        self._limits = limits
        self._name = name
        self._in = 0
        self._out = 0
        self._pending = b""  # compressed input not yet given to the decompressor
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        idle = 0
        while not self._done:
            if self._d.eof:
                # Concatenated members (`cat a.gz b.gz`) are one valid stream; zero padding after
                # the last member is ignored, as gzip(1) and Python's gzip module do.
                rest = (self._d.unused_data + self._pending).lstrip(b"\0")
                self._pending = b""
                while not rest:
                    chunk = self._raw.read(self.CHUNK)
                    self._in += len(chunk)
                    if not chunk:
                        self._done = True
                        return 0
                    rest = chunk.lstrip(b"\0")
                self._d = self._new()
                self._pending = rest
                continue
            data, self._pending = self._pending, b""
            at_end = False
            if not data and self._needs_input():
                data = self._raw.read(self.CHUNK)
                self._in += len(data)
                at_end = not data
            try:
                out = self._d.decompress(data, want)
            except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as e:
                raise AcquireError(
                    f"{self._name}: corrupt {self._kind} data after {self._out} bytes: {e}",
                    hint="the archive is damaged; copy or export it again",
                ) from e
            if out:
                self._check(len(out))
                buffer[: len(out)] = out
                return len(out)
            idle = idle + 1 if (at_end or not data) else 0
            if (at_end and not self._d.eof) or idle > 3:
                # The input ended (or stopped moving) inside a compressed stream.
                raise AcquireError(
                    f"{self._name}: the {self._kind} stream is truncated "
                    f"(ended after {self._out} decompressed bytes)",
                    hint="the archive is incomplete; copy or export it again",
                )
        return 0

    def _needs_input(self) -> bool:
        d = self._d
        if isinstance(d, _Zlib):
            return d.needs_input
        return bool(getattr(d, "needs_input", True))

    def _check(self, n: int) -> None:
        self._out += n
        lim = self._limits
        if self._out > lim.max_stream_bytes:
            raise UnsafeArchiveError(
                f"{self._name}: decompresses to more than {lim.max_stream_bytes} bytes "
                "(decompression bomb?)",
                hint="raise the stream cap if this archive is trusted",
            )
        if self._out > lim.ratio_floor and self._out > lim.max_ratio * max(self._in, 1):
            raise UnsafeArchiveError(
                f"{self._name}: compression ratio above {lim.max_ratio}:1 "
                f"({self._out} bytes from {self._in}): refusing a decompression bomb",
                hint="raise the ratio cap if this archive is trusted",
            )


class Window(io.RawIOBase):
    """A read-only, seekable view of `size` bytes at `offset` of a seekable file (a tar member)."""

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self._fd = f.fileno()
        self._start = offset
        self._size = size
        self._pos = 0

    @property
    def start(self) -> int:
        return self._start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        # pread: no shared file position, one syscall per read (tar headers come 512 bytes at a time).
        data = os.pread(self._fd, n, self._start + self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def open_stream(raw: BinaryIO, limits: ArchiveLimits, name: str) -> tuple[BinaryIO, bool]:
    """Sniff `raw`'s compression; return a plain-tar stream and whether it can seek."""
    pos = raw.tell() if raw.seekable() else None
    head = raw.read(8)
    if pos is not None:
        raw.seek(pos)
        rest: BinaryIO = raw
    else:
        rest = cast(BinaryIO, _Prefixed(head, raw))
    kind = sniff(head)
    if kind == "zstd":
        raise AcquireError(
            f"{name}: zstd-compressed data is not supported",
            hint="export the image with gzip or uncompressed layers (docker save does)",
        )
    if kind == "plain":
        return rest, pos is not None
    reader = DecompressingReader(rest, kind, limits, name)
    return cast(BinaryIO, io.BufferedReader(reader, 1024 * 1024)), False


class _Prefixed(io.RawIOBase):
    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def normalize_member(name: str, archive: str) -> str:
    """A member name as a clean relative POSIX path ("" for the root); refuse escapes."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: member name {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} has an absolute path",
            hint="archives must hold relative paths; this one may be hostile",
        )
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafeArchiveError(
                f"{archive}: member {name!r} climbs out of the archive with '..'",
                hint="archives must not reference parent folders; this one may be hostile",
            )
        parts.append(part)
    return "/".join(parts)


def resolve_link(member: str, target: str) -> str | None:
    """Where a symlink at `member` (relative path) points, relative to the root; None if outside.

    Absolute targets are taken relative to the root (as inside an image), which is lexical only:
    callers that extract must still refuse links whose target leaves their scratch root.
    """
    base = "" if target.startswith("/") else posixpath.dirname(member)
    parts: list[str] = [p for p in base.split("/") if p]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


#: What tarfile raises on a damaged archive; ValueError and IndexError come from its header
#: parsing of numbers and fields (e.g. a sparse map cut short).
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, ValueError, IndexError)


def _named(e: UnsafeArchiveError, archive: str) -> UnsafeArchiveError:
    """The header parser's refusal, naming the archive (it does not know it)."""
    if e.message.startswith(archive):
        return e
    return UnsafeArchiveError(f"{archive}: {e.message}", hint=e.hint)


@dataclass
class TarReader:
    """Iterates a tar stream's members with checked names, counting them against a budget."""

    tar: tarfile.TarFile
    name: str
    budget: Budget
    current: str = ""
    _last: tarfile.TarInfo | None = None
    _compressed: BinaryIO | None = None  # the decompressing stream, drained at the end

    @classmethod
    def open(cls, raw: BinaryIO, name: str, budget: Budget) -> TarReader:
        stream, seekable = open_stream(raw, budget.limits, name)
        try:
            # GuardedTarInfo caps extended headers and refuses sparse members (issue 14).
            if seekable:  # raw's owner closes it
                tar = tarfile.open(fileobj=stream, mode="r:", tarinfo=GuardedTarInfo)  # noqa: SIM115
            else:
                tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=GuardedTarInfo)  # noqa: SIM115
        except UnsafeArchiveError as e:
            raise _named(e, name) from e
        except _TAR_ERRORS as e:
            raise AcquireError(f"{name}: not a readable tar archive: {e}") from e
        return cls(tar, name, budget, _compressed=None if seekable else stream)

    def members(self) -> Iterator[tuple[str, tarfile.TarInfo]]:
        """Yield (normalized path, info) for every member, in archive order."""
        while True:
            try:
                info = self.tar.next()
            except UnsafeArchiveError as e:
                raise _named(e, self.name) from e
            except _TAR_ERRORS as e:
                raise self.corrupt(e) from e
            if info is None:
                self._ensure_complete()
                return
            self.current = info.name
            self._last = info
            self.budget.count_member(info.name)
            yield normalize_member(info.name, self.name), info

    def _ensure_complete(self) -> None:
        """tarfile ends quietly at a short read; a truncated archive must be an error instead."""
        if self._compressed is not None:
            # tarfile stops at the end-of-archive blocks; reading on to the end of the compressed
            # stream verifies its trailer (CRC, size), so a cut-off file is not taken as whole.
            try:
                while self._compressed.read(1024 * 1024):
                    pass
            except (EOFError, OSError) as e:
                raise self.corrupt(e) from e
        last = self._last
        fobj: Any = self.tar.fileobj
        if last is None or fobj is None:
            return
        end = last.offset_data + (last.size if last.isreg() else 0)
        pos = getattr(fobj, "pos", None)  # tarfile's stream wrapper counts what it really read
        available = pos if isinstance(pos, int) else fobj.seek(0, os.SEEK_END)
        if available < end:
            raise AcquireError(
                f"{self.name}: truncated: member {last.name!r} needs {end} bytes, "
                f"the archive has {available}",
                hint="the archive is incomplete; copy or export it again",
            )
        if pos is None:
            # A partial or garbled header makes tarfile stop as if at the end: what follows the
            # last member must be the zero padding of a real end-of-archive.
            fobj.seek(self.tar.offset)
            tail = fobj.read(1024 * 1024)
            if tail.strip(b"\0"):
                raise AcquireError(
                    f"{self.name}: corrupt or truncated header after member {last.name!r}",
                    hint="the archive is damaged or incomplete; copy or export it again",
                )

    def corrupt(self, e: BaseException) -> AcquireError:
        if isinstance(e, AcquireError):
            return e
        after = f" after member {self.current!r}" if self.current else ""
        return AcquireError(
            f"{self.name}: corrupt or truncated tar archive{after}: {e}",
            hint="the archive is damaged or incomplete; copy or export it again",
        )

    def read_member(self, info: tarfile.TarInfo, limit: int) -> bytes:
        """The whole content of a small member (metadata), refusing more than `limit` bytes."""
        if info.size > limit:
            raise UnsafeArchiveError(
                f"{self.name}: member {info.name!r} is {info.size} bytes, over the {limit}-byte cap"
            )
        f = self.tar.extractfile(info)
        if f is None:
            return b""
        try:
            return f.read()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            self.current = info.name
            raise self.corrupt_member(info, e) from e

    def copy_member(self, info: tarfile.TarInfo, out: BinaryIO) -> int:
        """Stream a regular member's content into `out`, counting it as written."""
        f = self.tar.extractfile(info)
        if f is None:
            return 0
        n = 0
        while True:
            try:
                chunk = f.read(1024 * 1024)
            except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
                raise self.corrupt_member(info, e) from e
            if not chunk:
                break
            n += len(chunk)
            self.budget.add_written(len(chunk), info.name)
            out.write(chunk)  # a full disk raises OSError: reported by extract_all, not as corrupt
        if n != info.size:
            raise self.corrupt_member(info, EOFError(f"got {n} of {info.size} bytes"))
        return n

    def corrupt_member(self, info: tarfile.TarInfo, e: BaseException) -> AcquireError:
        if isinstance(e, AcquireError):
            return e
        return AcquireError(
            f"{self.name}: member {info.name!r} is corrupt or truncated: {e}",
            hint="the archive is damaged or incomplete; copy or export it again",
        )


def safe_parent(root: Path, rel: str, archive: str) -> Path:
    """Create `rel`'s parent folders under `root`, refusing any that is a symlink (no write-through)."""
    cur = root
    for part in rel.split("/")[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeArchiveError(
                f"{archive}: member {rel!r} would be written through the symlink {part!r}",
                hint="archives must not write through links; this one may be hostile",
            )
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchiveError(f"{archive}: member {rel!r} is inside a file, not a folder")
    return root / rel


def _create(root: Path, rel: str, mode: int, archive: str) -> tuple[Path, int]:
    dest = safe_parent(root, rel, archive)
    if os.path.lexists(dest):
        if dest.is_dir() and not dest.is_symlink():
            raise UnsafeArchiveError(f"{archive}: file {rel!r} would replace a folder")
        os.unlink(dest)
    perm = 0o755 if mode & 0o111 else 0o644
    return dest, os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, perm)


def write_file(root: Path, rel: str, reader: TarReader, info: tarfile.TarInfo) -> Path:
    """Write a regular member at `root/rel` without following links (mode kept, no set-id bits)."""
    dest, fd = _create(root, rel, info.mode, reader.name)
    with os.fdopen(fd, "wb") as out:
        reader.copy_member(info, out)
    return dest


def write_range(
    root: Path, rel: str, src: BinaryIO, size: int, mode: int, budget: Budget, member: str
) -> Path:
    """Write `size` bytes of `src` (a member located by an earlier pass) at `root/rel`."""
    dest, fd = _create(root, rel, mode, budget.archive)
    left = size
    with os.fdopen(fd, "wb") as out:
        while left > 0:
            chunk = src.read(min(left, 1024 * 1024))
            if not chunk:
                raise AcquireError(
                    f"{budget.archive}: member {member!r} is truncated ({size - left} of {size} bytes)",
                    hint="the archive is incomplete; copy or export it again",
                )
            budget.add_written(len(chunk), member)
            out.write(chunk)
            left -= len(chunk)
    return dest
