"""The read-ahead: a runtime's files walked and read on the second core (issue 12).

`read_ahead` starts as soon as the runtime is acquired, before the scan, the release data and
the advisories are even imported: a helper process walks the tree, queues its ELF files
(`gate.inspection.helper.WorkQueue`), sends the walk and reads; this process, once it has
loaded what the judging needs, takes files from the same queue until none is left. This module
imports nothing heavy itself, so the helper starts early; each side imports the reader when it
reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gate.acquire.interface import AcquiredTree

if TYPE_CHECKING:
    from gate.inspection.batch import Outcome
    from gate.inspection.helper import Forked, Send, WorkQueue
    from gate.inspection.runtime import TreeWalk

    #: A tree's walk and the outcome of reading each ELF file it found (by absolute path).
    ReadAhead = tuple[TreeWalk, Mapping[Path, Outcome]]


@contextlib.contextmanager
def read_ahead(tree: AcquiredTree) -> Iterator[Callable[[], ReadAhead | None]]:
    """Walk `tree` and read its ELF files while the caller loads the release data and advisories
    (issue 12: the second core). A helper process walks the tree, queues its files, sends the
    walk and starts reading; the callable, called once the caller is free, takes files from the
    same queue until none is left and gives the result for `scan_runtime`. None: no helper, and
    the scan does the work as always.
    """
    from gate.inspection.helper import WorkQueue, cores, forked

    if cores() < 2 or not tree.root.is_dir():
        yield lambda: None
        return
    queue = WorkQueue()
    try:
        with forked(lambda send: _walk_and_read(tree.root, queue, send)) as running:
            queue.stop_filling()  # the helper queues the files
            yield lambda: _read_with(running, queue) if running else None
    finally:
        queue.close()


def _walk_and_read(root: Path, queue: WorkQueue, send: Send) -> dict[int, Outcome]:
    """In the helper: walk, queue the files, send the walk, then read what it takes."""
    from gate.inspection.batch import heaviest_first, read_one, take_and_read, weight
    from gate.inspection.runtime import walk_tree

    walk = walk_tree(root)
    paths = [path for _, path in walk.elf]
    left = queue.fill(heaviest_first([weight(p) for p in paths]))
    send(walk)
    done = take_and_read(queue, paths)
    done.update((i, read_one(paths[i])) for i in left)
    return done


def _read_with(running: Forked[dict[int, Outcome]], queue: WorkQueue) -> ReadAhead | None:
    from gate.inspection.batch import complete, take_and_read
    from gate.inspection.runtime import TreeWalk

    walk = running.next()
    if not isinstance(walk, TreeWalk):
        return None  # the helper failed before its walk: the scan walks and reads as always
    paths = [path for _, path in walk.elf]
    mine = take_and_read(queue, paths)
    return walk, dict(zip(paths, complete(mine, running.result(), paths), strict=True))
