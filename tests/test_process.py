"""`gate.process.leave`: a quick exit that still delivers what was printed, and never turns an
undelivered report into a pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(code: str, stdout: int | object = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    # Buffered, as in a container or a pipe: the flush at the end is what delivers the output.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, env=env, check=False
    )


def test_buffered_output_is_flushed_before_the_exit() -> None:
    # More than any stream buffer holds, and no newline at the end: nothing may be lost.
    got = _run("from gate.process import leave; print('x' * 200_000, end=''); leave(1)")
    assert got.returncode == 1
    assert got.stdout == b"x" * 200_000


def test_stderr_is_flushed_too() -> None:
    got = _run("import sys; from gate.process import leave; sys.stderr.write('why'); leave(0)")
    assert (got.returncode, got.stderr) == (0, b"why")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_report_that_cannot_be_delivered_is_an_error_not_a_pass() -> None:
    with open("/dev/full", "wb") as full:
        got = _run("from gate.process import leave; print('report'); leave(0)", stdout=full)
    assert got.returncode == 2
    assert b"Traceback" not in got.stderr


def test_the_cli_ends_through_it(tmp_path: Path) -> None:
    """`python -m gate` gives main's exit code, with its output, through the quick exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    got = subprocess.run(
        [sys.executable, "-m", "gate", "--version"], capture_output=True, env=env, check=False
    )
    assert got.returncode == 0 and got.stdout.strip()
    missing = tmp_path / "nothing-here"
    got = subprocess.run(
        [sys.executable, "-m", "gate", "elf", str(missing)],
        capture_output=True,
        env=env,
        check=False,
    )
    assert got.returncode == 2 and b"no such file" in got.stderr


def test_the_front_ends_set_the_collector_for_a_short_run_first() -> None:
    # Each entry point calls `start` before it runs anything; a child process shows the
    # thresholds `python -m gate` runs with (read where the CLI's main would run).
    code = (
        "import gc, runpy, sys\n"
        "import gate.cli\n"
        "gate.cli.main = lambda: print(gc.get_threshold()) or 0\n"
        "sys.argv = ['otp-gate']\n"
        "runpy.run_module('gate', run_name='__main__')\n"
    )
    got = _run(code)
    from gate.process import GC_THRESHOLDS

    assert got.returncode == 0, got.stderr
    assert got.stdout.decode().strip() == str(GC_THRESHOLDS)
    entry = _run(
        "import gc, gate.cli\n"
        "gate.cli.main = lambda: print(gc.get_threshold()) or 0\n"
        "gate.cli.entry()\n"
    )
    assert entry.returncode == 0, entry.stderr
    assert entry.stdout.decode().strip() == str(GC_THRESHOLDS)
