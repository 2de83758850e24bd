"""A small file cache for fetched release and advisory data, with a time-to-live.

Entries keep their fetch time, so a stale copy can still serve as a fallback when the network fails,
and the report can say exactly how old it is.
"""

from __future__ import annotations

import hashlib
import json
import os
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
        """The cached entry of any age, or None (missing or damaged)."""
        data_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = data_path.read_bytes()
            if meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
                return None  # a torn write or a hash collision: not our document
            fetched = datetime.fromisoformat(meta["fetched_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if fetched.tzinfo is None:
            fetched = fetched.replace(tzinfo=UTC)
        return CacheEntry(key, str(meta.get("url", "")), data, fetched)

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
            self.directory.mkdir(parents=True, exist_ok=True)
            _atomic_write(data_path, data)
            _atomic_write(meta_path, json.dumps(meta).encode())
        except OSError:
            return None
        return entry


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
