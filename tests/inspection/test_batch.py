"""`gate.inspection.batch`: many files read in worker processes give what one process gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gate.inspection import batch
from gate.model.elf import ElfFacts


def test_a_large_set_is_read_in_workers_in_order(
    elf_fixture: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("noarray", "pie-hardened", "smallbuf-nossp", "shared")
    paths = []
    for i in range(batch.POOL_MIN_FILES + 10):
        p = tmp_path / f"f{i:03}"
        if i == 77:
            p.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57))  # a zeroed header: an error
        else:
            p.write_bytes(elf_fixture(names[i % len(names)]).read_bytes())
        paths.append(p)
    monkeypatch.setattr(batch, "_cores", lambda: 2)  # workers even on a one-core runner
    pooled = batch.read_many(paths)
    monkeypatch.setattr(batch, "POOL_MIN_FILES", 10**9)
    serial = batch.read_many(paths)
    assert pooled == serial
    assert isinstance(pooled[77], str) and str(paths[77]) in pooled[77]
    assert all(isinstance(f, ElfFacts) for i, f in enumerate(pooled) if i != 77)
    assert pooled[2] == pooled[6] != pooled[3]  # the same fixture, and another one
