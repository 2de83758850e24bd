"""Read the facts of many ELF files, on a second core when the set is large enough to pay for it.

Reading a file costs ~0.3 ms plus ~2-3 ms per MiB of machine code (the evidence scans), so an
OTP runtime is a few large files (beam.smp, wx's driver) and dozens of small ones. Three ways:
- a few small files: read here; a fork would cost more than it saves;
- a runtime (up to POOL_MIN_FILES files): one forked helper reads about half of the bytes while
  this process reads the rest (a fork and a pipe cost ~1 ms, a runtime's read ~30 ms);
- a large set (`otp-gate elf` over a system's libraries, a big image): a pool of workers.
Results keep the input order, and every way gives what a plain loop gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gate.errors import InspectError
from gate.inspection.helper import cores, forked
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


def read_many(paths: Sequence[Path], *, helper: bool = True) -> list[Outcome]:
    """`read_one` for every path, in order, on more than one core when it pays.

    `helper=False`: the caller keeps the other core busy itself; no helper for a runtime's files.
    """
    workers = min(MAX_WORKERS, cores())
    if workers < 2 or len(paths) < 2:
        return [read_one(p) for p in paths]
    if len(paths) >= POOL_MIN_FILES:
        return _read_pooled(paths, workers)
    weights = [weight(p) for p in paths]
    if not helper or sum(weights) < SPLIT_MIN_WORK:
        return [read_one(p) for p in paths]
    return _read_split(paths, weights)


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
    """How much work reading `path` is, in bytes (for `split_by_weight`)."""
    try:
        return os.lstat(path).st_size + _PER_FILE
    except OSError:  # read_one will name the problem
        return _PER_FILE


def split_by_weight(weights: Sequence[int]) -> tuple[list[int], list[int]]:
    """Indexes for two workers with about equal work: the heaviest first, each to the lighter."""
    mine: list[int] = []
    theirs: list[int] = []
    load = [0, 0]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(i)
        load[side] += weights[i]
    return sorted(mine), sorted(theirs)


def _read_split(paths: Sequence[Path], weights: Sequence[int]) -> list[Outcome]:
    """Read part of `paths` in a forked helper (`gate.inspection.helper`) and the rest here."""
    mine, theirs = split_by_weight(weights)
    with forked(lambda _send: [read_one(paths[i]) for i in theirs]) as running:
        outcomes = {i: read_one(paths[i]) for i in mine}
        helped = running.result() if running else None
    outcomes.update(zip(theirs, helped_or_read(helped, [paths[i] for i in theirs]), strict=True))
    return [outcomes[i] for i in range(len(paths))]


def helped_or_read(helped: object, paths: Sequence[Path]) -> list[Outcome]:
    """A helper's outcomes for `paths`, or, when it gave anything else (it failed), those
    outcomes read here: a helper can only make the reading faster, never change it."""
    if (
        isinstance(helped, list)
        and len(helped) == len(paths)
        and all(isinstance(v, ElfFacts | str) for v in helped)
    ):
        return helped
    return read_many(paths, helper=False)
