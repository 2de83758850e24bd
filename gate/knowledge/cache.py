"""A small file cache for fetched release and advisory data, with a time-to-live.

Entries keep their fetch time, so a stale copy can still serve as a fallback when the network fails,
and the report can say exactly how old it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gate.clock import Clock

DEFAULT_TTL = timedelta(hours=6)


@dataclass(frozen=True)
class CacheEntry:
    """One cached document and when it was fetched."""

    key: str
    url: str
    data: bytes
    fetched_at: datetime

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched_at


@dataclass(frozen=True)
class FileCache:
    """`<dir>/<sha256(key)>.data` plus a `.json` with the key, URL and fetch time.

    Failures to read or write the cache never stop the gate: a broken entry is a miss, an
    unwritable folder means no caching (see `put`'s return value).
    """

    directory: Path
    ttl: timedelta
    # The run's clock from `main` (gate.clock): stamps and ages use the same "now" as the scan.
    clock: Clock

    def _paths(self, key: str) -> tuple[Path, Path]:
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.directory / f"{name}.data", self.directory / f"{name}.json"

    def get(self, key: str) -> CacheEntry | None:
        """The cached entry of any age, or None (missing, damaged, or not trustworthy).

        A cache is only as trustworthy as its folder: on a self-hosted runner `$RUNNER_TOOL_CACHE`
        is shared between jobs, and the sha256 beside the data proves nothing to an attacker who
        can write both. So an entry is read only from a private folder (a real folder owned by
        this user, writable by no one else) and files with the same properties, opened without
        following symlinks; anything else is treated as absent (issue 14).
        """
        data_path, meta_path = self._paths(key)
        dir_fd = _private_dir(self.directory)
        if dir_fd is None:
            return None
        try:
            meta_bytes = _read_private(dir_fd, meta_path.name, _MAX_META_BYTES)
            data = _read_private(dir_fd, data_path.name, MAX_ENTRY_BYTES)
        finally:
            os.close(dir_fd)
        if meta_bytes is None or data is None:
            return None
        try:
            meta = json.loads(meta_bytes.decode("utf-8"))
            if meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
                return None  # a torn write or a hash collision: not our document
            fetched = datetime.fromisoformat(meta["fetched_at"])
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None
        if fetched.tzinfo is None:
            fetched = fetched.replace(tzinfo=UTC)
        if fetched > self.clock() + _CLOCK_SLACK:
            # Fetched in the future: no copy can know releases newer than the time it was made, so
            # a date ahead of ours is tampering (or a broken clock), never a reason to trust it.
            return None
        return CacheEntry(key, str(meta.get("url", "")), data, fetched)

    def trust_problem(self) -> str | None:
        """Why an existing cache folder is not used (not private to this user), else None."""
        try:
            st = os.lstat(self.directory)
        except OSError:
            return None  # absent: it will be created private
        if stat.S_ISDIR(st.st_mode) and _owned_and_private(st):
            return None
        return (
            f"cache folder {self.directory} is not used: it must be a folder owned by this user "
            f"and writable by no one else (owner uid {st.st_uid}, mode {stat.filemode(st.st_mode)}); "
            f"run `chmod go-w {self.directory}` or point OTP_GATE_CACHE at a private folder"
        )

    def is_fresh(self, entry: CacheEntry) -> bool:
        age = entry.age(self.clock())
        # A fetch time in the future (clock skew, tampering) is not trusted as fresh.
        return timedelta(0) <= age < self.ttl

    def put(self, key: str, url: str, data: bytes) -> CacheEntry | None:
        """Store a document atomically; None when the cache folder cannot be written."""
        entry = CacheEntry(key, url, data, self.clock())
        data_path, meta_path = self._paths(key)
        meta = {
            "key": key,
            "url": url,
            "fetched_at": entry.fetched_at.isoformat(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        try:
            # Private from the start (0700); a folder someone else owns or can write is not used.
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            dir_fd = _private_dir(self.directory)
            if dir_fd is None:
                return None
            os.close(dir_fd)
            _atomic_write(data_path, data)
            _atomic_write(meta_path, json.dumps(meta).encode())
        except OSError:
            return None
        return entry


#: Largest cached document read back. The real ones are far smaller (a 1,500-item GitHub listing,
#: a 300 kB versions table, an OpenVEX file of a few MB); 16 MiB of tiny JSON records parse into
#: ~300 MB of objects, so a planted giant is refused before it is read (issue 14).
MAX_ENTRY_BYTES = 8 * 1024 * 1024
_MAX_META_BYTES = 64 * 1024
#: Clocks of the machines sharing a cache may differ a little; more than this is not skew.
_CLOCK_SLACK = timedelta(minutes=5)


def _private_dir(directory: Path) -> int | None:
    """A descriptor of `directory` when it is private to this user, else None.

    Private: a real folder (a symlink is refused), owned by the effective user, with no write
    permission for group or others.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISDIR(st.st_mode) or not _owned_and_private(st):
        os.close(fd)
        return None
    return fd


def _owned_and_private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read_private(dir_fd: int, name: str, limit: int) -> bytes | None:
    """The bytes of `name` in the folder `dir_fd`: a regular file, private like its folder, at
    most `limit` bytes; None otherwise (symlinks are not followed, FIFOs do not block)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _owned_and_private(st) or st.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= limit else None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
