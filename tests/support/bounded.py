"""Run a command as a child with an address-space limit and a timeout, and measure it.

`os.wait4` gives the resource usage of that one child (peak resident memory), so what other
children of the test process did (compilers, other tests) does not count.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounded:
    returncode: int  # negative: killed by that signal (-9 after the timeout)
    seconds: float
    max_rss: int  # bytes
    stdout: str
    stderr: str
    timed_out: bool


def run_bounded(
    cmd: Sequence[str],
    *,
    address_space: int,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Bounded:
    """Run `cmd` with RLIMIT_AS = `address_space` bytes; kill it after `timeout` seconds."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, preexec_fn=limit
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                timed_out = True
                os.kill(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Bounded(
            returncode=proc.returncode,
            seconds=seconds,
            max_rss=usage.ru_maxrss * 1024,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            timed_out=timed_out,
        )
