"""The file cache: TTL, damaged entries, unwritable folders, default locations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gate.knowledge.cache import FileCache


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_put_get_and_ttl(tmp_path: Path) -> None:
    clock = Clock()
    cache = FileCache(tmp_path / "c", timedelta(hours=6), clock)
    assert cache.get("k") is None
    stored = cache.put("k", "https://x/y", b"payload")
    assert stored is not None
    entry = cache.get("k")
    assert entry is not None and entry.data == b"payload" and entry.url == "https://x/y"
    assert entry.fetched_at == clock.now and cache.is_fresh(entry)
    clock.now += timedelta(hours=6)
    assert not cache.is_fresh(entry)  # stale, but still there as a fallback
    assert cache.get("k") == entry
    assert cache.get("other") is None


def test_future_fetch_time_is_not_fresh(tmp_path: Path) -> None:
    clock = Clock()
    cache = FileCache(tmp_path, timedelta(hours=6), clock)
    cache.put("k", "u", b"x")
    clock.now -= timedelta(days=1)  # the clock went back: the entry claims to come from the future
    entry = cache.get("k")
    assert entry is not None and not cache.is_fresh(entry)


def test_damaged_entries_are_misses(tmp_path: Path) -> None:
    cache = FileCache(tmp_path, timedelta(hours=1), Clock())
    cache.put("k", "u", b"data")
    (meta,) = tmp_path.glob("*.json")
    (data,) = tmp_path.glob("*.data")
    data.write_bytes(b"tampered")
    assert cache.get("k") is None  # hash no longer matches
    cache.put("k", "u", b"data")
    meta.write_text("{not json", encoding="utf-8")
    assert cache.get("k") is None
    cache.put("k", "u", b"data")
    m = json.loads(meta.read_text(encoding="utf-8"))
    m["key"] = "another"
    meta.write_text(json.dumps(m), encoding="utf-8")
    assert cache.get("k") is None


def test_unwritable_folder_disables_caching(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    cache = FileCache(blocker / "sub", timedelta(hours=1), Clock())
    assert cache.put("k", "u", b"x") is None
    assert cache.get("k") is None
