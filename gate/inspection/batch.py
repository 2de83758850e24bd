"""Read the facts of many ELF files, on every core when the set is large enough to pay for it.

A worker process costs ~10-20 ms to start and a file ~1-3 ms to read, so a runtime of a few
dozen files is read in this process, and a large set (`otp-gate elf` over a system's libraries,
a big image) is split between processes. Results keep the input order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gate.errors import InspectError
from gate.model.elf import ElfFacts

# Below these, one process is faster than starting workers (measured on 39 and 1,550 files).
POOL_MIN_FILES = 150
MAX_WORKERS = 4

#: The facts of one file, or the message of the error that stopped its reading.
Outcome = ElfFacts | str


def read_one(path: Path) -> Outcome:
    """`read_facts`, with its error as a plain message (exceptions with keyword-only arguments
    do not survive the trip back from a worker process)."""
    from gate.inspection.elf import read_facts

    try:
        return read_facts(path)
    except InspectError as e:
        return e.message
    except OSError as e:  # a reader that let one slip through: still a per-file error
        return f"{path}: {e.strerror or e}"


def read_many(paths: Sequence[Path]) -> list[Outcome]:
    """`read_one` for every path, in order; in worker processes past POOL_MIN_FILES files."""
    workers = min(MAX_WORKERS, _cores())
    if len(paths) < POOL_MIN_FILES or workers < 2:
        return [read_one(p) for p in paths]
    # Imported here: they cost a small scan ~15 ms of start-up.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the imported modules instead of importing them again. The gate
    # runs no threads at this point, so forking is safe.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunk = max(8, len(paths) // (workers * 8))
        return list(pool.map(read_one, paths, chunksize=chunk))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
