"""`gate.inspection.batch`: many files read in worker processes give what one process gives."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.inspection import batch, helper
from gate.model.elf import ElfFacts


def test_a_large_set_is_read_in_workers_in_order(
    elf_fixture: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _copies(elf_fixture, tmp_path, batch.POOL_MIN_FILES + 10, broken=77)
    monkeypatch.setattr(batch, "cores", lambda: 2)  # workers even on a one-core runner
    pooled = batch.read_many(paths)
    monkeypatch.setattr(batch, "POOL_MIN_FILES", 10**9)
    serial = batch.read_many(paths)
    assert pooled == serial
    assert isinstance(pooled[77], str) and str(paths[77]) in pooled[77]
    assert all(isinstance(f, ElfFacts) for i, f in enumerate(pooled) if i != 77)
    assert pooled[2] == pooled[6] != pooled[3]  # the same fixture, and another one


def _copies(
    elf_fixture: Callable[[str], Path], tmp_path: Path, count: int, broken: int
) -> list[Path]:
    """`count` copies of four fixtures in turn; the one at `broken` has a zeroed header."""
    names = ("noarray", "pie-hardened", "smallbuf-nossp", "shared")
    paths = []
    for i in range(count):
        p = tmp_path / f"f{i:03}"
        if i == broken:
            p.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57))  # a zeroed header: an error
        else:
            p.write_bytes(elf_fixture(names[i % len(names)]).read_bytes())
        paths.append(p)
    return paths


def _runtime_like(elf_fixture: Callable[[str], Path], tmp_path: Path) -> list[Path]:
    """A dozen files, one of them broken: the size of set the forked helper reads half of."""
    return _copies(elf_fixture, tmp_path, 12, broken=5)


def test_a_runtime_sized_set_is_shared_with_a_helper_and_keeps_order(
    elf_fixture: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _runtime_like(elf_fixture, tmp_path)
    serial = [batch.read_one(p) for p in paths]
    monkeypatch.setattr(batch, "cores", lambda: 2)
    monkeypatch.setattr(batch, "SPLIT_MIN_WORK", 0)  # the fixtures are small: split them anyway
    forks: list[int] = []
    real_fork = batch.os.fork

    def counting_fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(batch.os, "fork", counting_fork)
    assert batch.read_many(paths) == serial
    assert forks == [1]
    assert isinstance(serial[5], str) and str(paths[5]) in serial[5]


def test_a_failed_helper_leaves_its_files_to_this_process(
    elf_fixture: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _runtime_like(elf_fixture, tmp_path)
    serial = [batch.read_one(p) for p in paths]
    monkeypatch.setattr(batch, "cores", lambda: 2)
    monkeypatch.setattr(batch, "SPLIT_MIN_WORK", 0)

    def broken(*_args: object) -> bytes:  # only the helper pickles: it dies without an answer
        raise MemoryError

    monkeypatch.setattr(pickle, "dumps", broken)
    assert batch.read_many(paths) == serial


def test_a_few_small_files_are_read_without_a_helper(
    elf_fixture: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _runtime_like(elf_fixture, tmp_path)
    monkeypatch.setattr(batch, "cores", lambda: 2)

    def no_fork() -> int:
        raise AssertionError("forked for a few kilobytes")

    monkeypatch.setattr(batch.os, "fork", no_fork)
    assert batch.read_many(paths) == [batch.read_one(p) for p in paths]


def test_the_heaviest_files_are_queued_first() -> None:
    weights = [370_000, 4_300_000, 250_000, 4_700_000, 840_000]
    assert batch.heaviest_first(weights) == [3, 1, 4, 0, 2]


def test_every_item_is_taken_once_by_one_of_two_processes() -> None:
    queue = helper.WorkQueue()
    items = list(range(3000))  # several PIPE_BUF-sized writes
    assert queue.fill(items) == []
    with helper.forked(lambda _send: _take_all(queue)) as running:
        mine = _take_all(queue)
        theirs = running.result() if running else None
    queue.close()
    assert isinstance(theirs, list)
    assert sorted(mine + theirs) == items
    assert mine and theirs  # both took a share (each sleeps a little per item)


def _take_all(queue: helper.WorkQueue) -> list[int]:
    taken = []
    while (i := queue.take()) is not None:
        taken.append(i)
        if len(taken) % 100 == 0:
            time.sleep(0.001)
    return taken


def test_what_does_not_fit_in_the_queue_is_given_back_in_order() -> None:
    queue = helper.WorkQueue()
    items = list(range(1_000_000))  # 4 MB: more than a pipe holds
    left = queue.fill(items)
    taken = _take_all(queue)
    queue.close()
    assert left and taken and taken + left == items


def test_a_queue_whose_filler_died_reads_as_empty() -> None:
    queue = helper.WorkQueue()
    with helper.forked(lambda _send: os._exit(3)) as running:
        queue.stop_filling()
        assert running is not None and running.result() is None
        assert queue.take() is None  # not a hang: the dead helper's write end is closed
    queue.close()
