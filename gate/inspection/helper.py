"""Work done in a forked helper process while this one goes on: the second core (issue 12).

A helper runs one function of the gate's own code and sends values back pickled through a pipe:
any number of messages on the way (`send`), then its result. The pickles are made by that code
from the gate's own result types, never by a scanned file, so reading them back is safe. A helper
that fails in any way (an error, a crash, a kill) gives None and the caller does the work itself:
the answer, and any error, is the one a plain call gives, so a helper can only make a run faster.

Work that splits into items (files to read) is shared through a `WorkQueue`: each side takes the
next item when it is free, so a side slowed down by anything (loading the release data, a busy
core) leaves more to the other instead of the run waiting for it.

Fork, not spawn: the helper inherits the imported modules instead of importing them again (a
spawned interpreter would cost more than the work). The gate runs no threads of its own.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Generic, NoReturn, TypeVar

T = TypeVar("T")
#: What a helper's work is given to send a message before its result.
Send = Callable[[object], None]

_LENGTH = struct.Struct(">Q")
# A message the caller is not reading yet must not stall the helper: a roomier pipe (Linux).
_PIPE_SIZE = 1 << 20
_ITEM = struct.Struct("=I")
# Writes of at most PIPE_BUF bytes (POSIX: at least 512; 4096 on Linux) are all or nothing.
_CHUNK = 512 // _ITEM.size


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Forked(Generic[T]):
    """A running helper: `next()` takes its messages in order, `result()` waits for its value."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid: int | None = pid
        self._pipe: IO[bytes] | None = os.fdopen(fd, "rb")

    def next(self) -> object | None:
        """The helper's next message, or None when it failed before sending one."""
        if self._pipe is None:
            return None
        import pickle  # here and in `_serve`: the helper starts before pickle is loaded

        head = self._pipe.read(_LENGTH.size)
        payload = self._pipe.read(_LENGTH.unpack(head)[0]) if len(head) == _LENGTH.size else b""
        try:
            value: object = pickle.loads(payload)  # made by `_serve` below, see the docstring
            return value
        except Exception:  # the helper ended before it sent (all of) it
            self.close()
            return None

    def result(self) -> T | None:
        """The helper's value, or None when it failed (the caller then does the work)."""
        value = self.next()
        if self._pid is None:
            return None
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        self.close()
        ok = os.waitstatus_to_exitcode(status) == 0
        return value if ok else None  # type: ignore[return-value]  # `_serve` sent a T last

    def close(self) -> None:
        """Stop a helper whose work is no longer wanted (the caller failed meanwhile)."""
        if self._pipe is not None:
            # First: a helper blocked on a full pipe gets EPIPE and ends.
            self._pipe.close()
            self._pipe = None
        if self._pid is not None:
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None


class WorkQueue:
    """Item numbers that a caller and its helper take one at a time, whichever is free first.

    One pipe whose ends both processes inherit across the fork. One side queues every item
    (`fill`) before either takes one, and every write end is closed after that, so an empty pipe
    reads as the end. An item is 4 bytes, queued in writes of at most PIPE_BUF bytes and taken
    by a 4-byte `os.read`: pipe writes that small are whole, and Linux copies a pipe read under
    the pipe's lock, so no item is taken twice or in part.
    """

    def __init__(self) -> None:
        self._read: int | None
        self._write: int | None
        self._read, self._write = os.pipe()

    def fill(self, items: Sequence[int]) -> list[int]:
        """Queue `items` in order and close this side's write end; what did not fit in the pipe
        (thousands of items) is given back for the caller of `fill` to do after the queue."""
        left = list(items)
        if self._write is None:
            return left
        with contextlib.suppress(AttributeError, OSError):  # F_SETPIPE_SZ: Linux only
            import fcntl

            fcntl.fcntl(self._write, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        os.set_blocking(self._write, False)  # nobody takes yet: a full pipe must not block
        try:
            while left:
                chunk = left[:_CHUNK]
                os.write(self._write, b"".join(map(_ITEM.pack, chunk)))
                del left[:_CHUNK]
        except OSError:  # full (EAGAIN): the rest stays with the caller
            pass
        self.stop_filling()
        return left

    def stop_filling(self) -> None:
        """Close this side's write end: the side that does not fill calls it right after the
        fork, or `take` would wait forever on an empty pipe."""
        if self._write is not None:
            os.close(self._write)
            self._write = None

    def take(self) -> int | None:
        """The next item, or None when all are taken."""
        if self._read is None:
            return None
        data = os.read(self._read, _ITEM.size)
        return _ITEM.unpack(data)[0] if len(data) == _ITEM.size else None

    def close(self) -> None:
        self.stop_filling()
        if self._read is not None:
            os.close(self._read)
            self._read = None


@contextlib.contextmanager
def forked(work: Callable[[Send], T]) -> Iterator[Forked[T] | None]:
    """Start `work(send)` in a helper process; None where this system cannot fork.

    Leaving the block stops a helper whose result was not taken, so none outlives its caller.
    """
    if not hasattr(os, "fork"):
        yield None
        return
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(AttributeError, OSError):  # F_SETPIPE_SZ: Linux only
        import fcntl

        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    pid = os.fork()
    if pid == 0:
        _serve(work, read_fd, write_fd)
    os.close(write_fd)
    helper: Forked[T] = Forked(pid, read_fd)
    try:
        yield helper
    finally:
        helper.close()


def _serve(work: Callable[[Send], T], read_fd: int, write_fd: int) -> NoReturn:
    """The helper's whole life: it never returns into the caller's code, and leaves with
    `os._exit`, so nothing the parent buffered or registered runs twice."""
    code = 1
    try:
        import pickle

        os.close(read_fd)
        with os.fdopen(write_fd, "wb") as out:

            def send(value: object) -> None:
                payload = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
                out.write(_LENGTH.pack(len(payload)) + payload)
                out.flush()

            send(work(send))
        code = 0
    finally:
        os._exit(code)
