"""Read the facts of many ELF files, on a second core when the set is large enough to pay for it.

Reading a file costs ~0.3 ms plus ~2-3 ms per MiB of machine code (the evidence scans), so an
OTP runtime is a few large files (beam.smp, wx's driver) and dozens of small ones. Three ways:
- a few small files: read here; a fork would cost more than it saves;
- a runtime (up to POOL_MIN_FILES files): a forked helper and this process take the files from
  one queue, the heaviest first (a fork and a pipe cost ~1 ms, a runtime's read ~30 ms);
- a large set (`otp-gate elf` over a system's libraries, a big image): a pool of workers.
Results keep the input order, and every way gives what a plain loop gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gate.errors import InspectError
from gate.inspection.helper import WorkQueue, cores, forked
from gate.model.elf import ElfFacts

# Below these, one process is faster than starting workers (measured on 39 and 1,550 files).
POOL_MIN_FILES = 150
MAX_WORKERS = 4
# Work is weighed in bytes: a file's size plus this for opening and parsing its tables.
_PER_FILE = 150 << 10
# Under this much work in all (~6 ms), a helper does not pay for itself.
SPLIT_MIN_WORK = 3 << 20

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
    """`read_one` for every path, in order, on more than one core when it pays."""
    workers = min(MAX_WORKERS, cores())
    if workers < 2 or len(paths) < 2:
        return [read_one(p) for p in paths]
    if len(paths) >= POOL_MIN_FILES:
        return _read_pooled(paths, workers)
    weights = [weight(p) for p in paths]
    if sum(weights) < SPLIT_MIN_WORK:
        return [read_one(p) for p in paths]
    return _read_shared(paths, weights)


def _read_pooled(paths: Sequence[Path], workers: int) -> list[Outcome]:
    # Imported here: they cost a small scan ~15 ms of start-up.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the imported modules instead of importing them again. The gate
    # runs no threads, so forking is safe.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunk = max(8, len(paths) // (workers * 8))
        return list(pool.map(read_one, paths, chunksize=chunk))


def weight(path: Path) -> int:
    """How much work reading `path` is, in bytes (for `heaviest_first`)."""
    try:
        return os.lstat(path).st_size + _PER_FILE
    except OSError:  # read_one will name the problem
        return _PER_FILE


def heaviest_first(weights: Sequence[int]) -> list[int]:
    """Indexes in the order two processes sharing a queue should take them: the heaviest first,
    so the last items taken are small and neither side waits long for the other at the end."""
    return sorted(range(len(weights)), key=lambda i: -weights[i])


def take_and_read(queue: WorkQueue, paths: Sequence[Path]) -> dict[int, Outcome]:
    """Read the files of `paths` this process takes from `queue`, until it is empty."""
    done: dict[int, Outcome] = {}
    while (i := queue.take()) is not None:
        if 0 <= i < len(paths):
            done[i] = read_one(paths[i])
    return done


def _read_shared(paths: Sequence[Path], weights: Sequence[int]) -> list[Outcome]:
    """Read `paths` here and in a forked helper (`gate.inspection.helper`), each taking the next
    file from a shared queue when it is free."""
    queue = WorkQueue()
    try:
        # Before the fork: both sides take. What did not fit in the pipe is read here by
        # `complete`, with anything a failed helper left.
        queue.fill(heaviest_first(weights))
        with forked(lambda _send: take_and_read(queue, paths)) as running:
            outcomes = take_and_read(queue, paths)
            helped = running.result() if running else None
    finally:
        queue.close()
    return complete(outcomes, helped, paths)


def complete(outcomes: dict[int, Outcome], helped: object, paths: Sequence[Path]) -> list[Outcome]:
    """Every path's outcome in order: this process's `outcomes`, the helper's (`helped`, when it
    is what `take_and_read` gives), and any file still missing read here, so a helper that
    failed can only make the reading slower, never change it."""
    if isinstance(helped, dict):
        outcomes.update(
            (i, o)
            for i, o in helped.items()
            if isinstance(i, int) and 0 <= i < len(paths) and isinstance(o, ElfFacts | str)
        )
    missing = [i for i in range(len(paths)) if i not in outcomes]
    outcomes.update(zip(missing, (read_one(paths[i]) for i in missing), strict=True))
    return [outcomes[i] for i in range(len(paths))]
