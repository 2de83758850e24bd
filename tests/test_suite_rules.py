"""The suite's own rules (tests/conftest.py), tried on a small inner pytest run: a skip fails under
CI and names its reason; a write to HOME fails the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ci import changes, snapshot

REPO = Path(__file__).resolve().parents[1]

INNER = """
import os, pathlib, pytest

def test_needs_a_tool():
    pytest.skip("frobnicate is not installed (apt-get install frobnicate)")

def test_writes_home():
    if os.environ.get("WRITE_HOME"):
        (pathlib.Path(os.environ["HOME"]) / ".cache").mkdir()
"""


def _inner(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER)
    base = {k: v for k, v in os.environ.items() if k not in ("OTP_GATE_CI", "WRITE_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env={**base, "PYTHONPATH": str(REPO), **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_skip_is_a_skip_outside_ci_and_a_failure_with_its_reason_under_ci(
    tmp_path: Path,
) -> None:
    plain = _inner(tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 passed, 1 skipped" in plain.stdout
    ci = _inner(tmp_path, OTP_GATE_CI="1")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "skipped under OTP_GATE_CI=1" in ci.stdout
    assert "apt-get install frobnicate" in ci.stdout


def test_a_write_into_home_fails_the_run(tmp_path: Path) -> None:
    run = _inner(tmp_path, WRITE_HOME="1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the test run wrote into $HOME: ['.cache']" in run.stdout


def test_the_checkout_snapshot_sees_adds_removals_and_edits(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("a")
    (tmp_path / "gone").write_text("b")
    (tmp_path / ".work").mkdir()
    before = snapshot(tmp_path)
    (tmp_path / "gone").unlink()
    (tmp_path / "keep").write_text("longer")
    (tmp_path / "new").mkdir()
    (tmp_path / ".work" / "cache").write_text("allowed")
    assert changes(before, snapshot(tmp_path)) == ["added new", "changed keep", "removed gone"]


def test_this_run_has_a_private_home() -> None:
    assert Path(os.environ["HOME"]).name.startswith("gate-test-home-")


@pytest.mark.parametrize("shift", ["+97d", "-97d"])
def test_the_date_sensitive_tests_pass_with_the_clock_moved(shift: str) -> None:
    # The whole process clock moved by libfaketime (issue 9): the live-data cache, data age and
    # grace days must all follow the run's one clock, so these pass on any day.
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("faketime is not installed (apt-get install faketime)")
    proc = subprocess.run(
        [faketime, "-f", shift, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *DATE_SENSITIVE],
        cwd=REPO, env={k: v for k, v in os.environ.items() if k != "OTP_GATE_CI"} | {"OTP_GATE_CI": "1"},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout


DATE_SENSITIVE = (
    "tests/knowledge/test_live.py",
    "tests/knowledge/test_cache.py",
    "tests/knowledge/test_grace.py",
    "tests/test_clock.py",
)
