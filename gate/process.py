"""How an `otp-gate` or action process starts (the cycle collector set for a short run) and ends
(flush what it printed, then leave at once)."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import NoReturn

# ExitCode.ERROR, spelled here so that this base module imports nothing of the gate.
_ERROR = 2
# Young collections every 50,000 net allocations (CPython's default: 700), older ones as often
# as before relative to those.
GC_THRESHOLDS = (50_000, 20, 100)


def start() -> None:
    """Set the cycle collector for one short run; the front ends call this first.

    Most of what a run makes lives to its end (modules, the release data, the facts), so the
    default thresholds had the collector walk the growing heap 36 times in a scan, for ~10 ms of
    its ~120 ms of CPU, finding next to nothing (issue 12). Collection stays on: a large input
    (thousands of files, an image) still has its cycles collected as it goes.
    """
    gc.set_threshold(*GC_THRESHOLDS)


def leave(code: int) -> NoReturn:
    """End the process with `code`, skipping the interpreter's teardown.

    By the time a front end returns, every file it wrote is closed (each writer uses `with`) and
    scratch folders are removed; what a normal exit still does is free the run's objects one by
    one and finalize every module, about 20 ms of a 0.2 s scan (issue 12). mypy ends the same way.
    The standard streams are flushed first; if that fails (a closed pipe, a full disk), the output
    was not delivered, so the exit is an error, never a pass.
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        code = code or _ERROR
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)
