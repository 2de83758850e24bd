"""Work done in a forked helper process while this one goes on: the second core (issue 12).

A helper runs one function of the gate's own code and sends its value back pickled through a
pipe. The pickle is made by that code from the gate's own result types, never by a scanned file,
so reading it back is safe. A helper that fails in any way (an error, a crash, a kill) gives
None and the caller does the work itself: the answer, and any error, is the one a plain call
gives, so a helper can only ever make a run faster.

Fork, not spawn: the helper inherits the imported modules instead of importing them again (a
spawned interpreter would cost more than the work). The gate runs no threads of its own.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable, Iterator
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Forked(Generic[T]):
    """A running helper; `result()` waits for its value."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid: int | None = pid
        self._fd: int | None = fd

    def result(self) -> T | None:
        """The helper's value, or None when it failed (the caller then does the work)."""
        if self._fd is None or self._pid is None:
            return None
        with os.fdopen(self._fd, "rb") as pipe:
            self._fd = None
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if os.waitstatus_to_exitcode(status) != 0:
            return None
        try:
            value: T = pickle.loads(payload)  # made by `_serve` below, see the module docstring
        except Exception:  # cut short mid-write
            return None
        return value

    def close(self) -> None:
        """Stop a helper whose value is no longer wanted (the caller failed meanwhile)."""
        if self._fd is not None:
            # First: a helper blocked on a full pipe gets EPIPE and ends.
            os.close(self._fd)
            self._fd = None
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None


@contextlib.contextmanager
def forked(work: Callable[[], T]) -> Iterator[Forked[T] | None]:
    """Start `work()` in a helper process; None where this system cannot fork.

    Leaving the block stops a helper whose result was not taken, so none outlives its caller.
    """
    if not hasattr(os, "fork"):
        yield None
        return
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        _serve(work, read_fd, write_fd)
    os.close(write_fd)
    helper: Forked[T] = Forked(pid, read_fd)
    try:
        yield helper
    finally:
        helper.close()


def _serve(work: Callable[[], T], read_fd: int, write_fd: int) -> NoReturn:
    """The helper's whole life: it never returns into the caller's code, and leaves with
    `os._exit`, so nothing the parent buffered or registered runs twice."""
    code = 1
    try:
        os.close(read_fd)
        payload = pickle.dumps(work(), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)
