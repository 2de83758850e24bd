"""The file cache: TTL, damaged entries, unwritable folders, default locations."""

from __future__ import annotations

import json
import os
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


def test_future_fetch_time_is_not_trusted(tmp_path: Path) -> None:
    clock = Clock()
    cache = FileCache(tmp_path, timedelta(hours=6), clock)
    cache.put("k", "u", b"x")
    clock.now -= timedelta(minutes=2)  # a little clock skew between runners: still fine
    assert cache.get("k") is not None
    clock.now -= timedelta(days=1)  # the entry claims to come from the future: not used at all
    assert cache.get("k") is None


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


# -- poisoning (issue 14): a cache is used only from a private folder, never through a link ------


def _entry_files(directory: Path) -> tuple[Path, Path]:
    (data,) = directory.glob("*.data")
    (meta,) = directory.glob("*.json")
    return data, meta


def test_new_cache_folder_is_private(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "a" / "c", timedelta(hours=1), Clock())
    assert cache.put("k", "u", b"x") is not None
    assert (tmp_path / "a" / "c").stat().st_mode & 0o777 == 0o700
    for f in _entry_files(tmp_path / "a" / "c"):
        assert f.stat().st_mode & 0o077 == 0


def test_group_or_world_writable_folder_is_not_trusted(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory, timedelta(hours=1), Clock())
    cache.put("k", "u", b"x")
    for mode in (0o777, 0o775, 0o1777):
        directory.chmod(mode)
        assert cache.get("k") is None, oct(mode)
        assert cache.put("k", "u", b"y") is None  # nor written to
    assert cache.trust_problem() is not None and "chmod go-w" in (cache.trust_problem() or "")
    directory.chmod(0o700)
    assert cache.get("k") is not None
    assert cache.trust_problem() is None


def test_writable_entry_files_are_not_trusted(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c", timedelta(hours=1), Clock())
    cache.put("k", "u", b"x")
    data, meta = _entry_files(tmp_path / "c")
    for f in (data, meta):
        f.chmod(0o666)
        assert cache.get("k") is None
        f.chmod(0o600)
    assert cache.get("k") is not None


def test_symlinked_folder_or_entry_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    FileCache(real, timedelta(hours=1), Clock()).put("k", "u", b"x")
    (tmp_path / "link").symlink_to(real)
    assert FileCache(tmp_path / "link", timedelta(hours=1), Clock()).get("k") is None
    other = tmp_path / "other"
    cache = FileCache(other, timedelta(hours=1), Clock())
    cache.put("k", "u", b"x")
    data, _ = _entry_files(other)
    data.unlink()
    data.symlink_to(_entry_files(real)[0])
    assert cache.get("k") is None


def test_folder_owned_by_someone_else_is_not_trusted(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        # Without root nothing can be given away: a root-owned, non-writable system folder is
        # untrusted for its owner alone.
        problem = FileCache(Path("/usr/share"), timedelta(hours=1), Clock()).trust_problem()
        assert problem is not None and "owner uid 0" in problem
        return
    directory = tmp_path / "c"
    cache = FileCache(directory, timedelta(hours=1), Clock())
    cache.put("k", "u", b"x")
    os.chown(directory, 65534, 65534)  # nobody
    assert cache.get("k") is None
    assert "owner uid 65534" in (cache.trust_problem() or "")
    os.chown(directory, 0, 0)
    data, _ = _entry_files(directory)
    os.chown(data, 65534, 65534)
    assert cache.get("k") is None


def test_an_oversized_entry_is_not_read(tmp_path: Path) -> None:
    from gate.knowledge.cache import MAX_ENTRY_BYTES

    cache = FileCache(tmp_path / "c", timedelta(hours=1), Clock())
    assert cache.put("k", "u", b"x" * (MAX_ENTRY_BYTES + 1)) is not None
    assert cache.get("k") is None  # planted or not, a giant is never parsed
    assert cache.put("k", "u", b"x" * MAX_ENTRY_BYTES) is not None
    assert cache.get("k") is not None
