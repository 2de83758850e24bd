"""Session fixtures shared by the whole suite, and the rules every run keeps (issue 9).

- Under CI (`OTP_GATE_CI=1`, set by `.ci/run`) a skipped test is a failure that keeps its reason:
  CI installs every tool the suite uses, so a skip would hide an untested part of the gate.
- A run leaves `$HOME` and the checkout as it found them: HOME points at an empty temp folder for
  the session and must still be empty at the end; the checkout (outside `.work/`) must be unchanged.
- Hypothesis keeps its example database under `.work/`, not in `.hypothesis/` of the checkout.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ci import CI_VAR, changes, in_ci, snapshot
from tests.support.debian_otp import debian_otp_root, package_version

REPO = Path(__file__).resolve().parents[1]
_STATE: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    del config
    # Before any test runs (and before Hypothesis first touches its storage).
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(REPO / ".work" / "hypothesis"))
    home = Path(tempfile.mkdtemp(prefix="gate-test-home-"))
    _STATE.update(real_home=os.environ.get("HOME"), home=home, checkout=snapshot(REPO))
    os.environ["HOME"] = str(home)
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "OTP_GATE_CACHE"):
        os.environ.pop(var, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    del config
    home = _STATE.get("home")
    if isinstance(home, Path):
        shutil.rmtree(home, ignore_errors=True)
        real = _STATE.get("real_home")
        if isinstance(real, str):
            os.environ["HOME"] = real


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} skipped under {CI_VAR}=1, where every part of the suite must run: "
            f"{reason}"
        )


@pytest.fixture(scope="session", autouse=True)
def leaves_home_and_checkout_unchanged() -> Iterator[None]:
    """Fails the session's last test (at teardown) if the run wrote to HOME or the checkout."""
    yield
    home = _STATE["home"]
    assert isinstance(home, Path)
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert not written, f"the test run wrote into $HOME: {written[:20]}"
    before = _STATE["checkout"]
    assert isinstance(before, dict)
    changed = changes(before, snapshot(REPO))
    assert not changed, (
        f"the test run changed the checkout outside .work/: {changed[:20]} (edits you made while"
        " it ran count too: run again)"
    )


@pytest.fixture(scope="session")
def debian_root() -> Path:
    """Root of Debian's unpacked OTP packages (has usr/lib/erlang); skips when apt cannot fetch."""
    result = debian_otp_root()
    if isinstance(result, str):
        pytest.skip(result)
    return result


@pytest.fixture(scope="session")
def debian_version(debian_root: Path) -> str:
    """erlang-base's Debian version as downloaded (its revision moves with point releases)."""
    version = package_version(debian_root)
    # What does not move: Debian 12 ships upstream OTP 25.2.3 (epoch 1).
    assert version.startswith("1:25.2.3+dfsg-"), version
    return version


@pytest.fixture(scope="session")
def debian_otp(debian_root: Path) -> Path:
    """Debian's installed-OTP root: `.../usr/lib/erlang`."""
    return debian_root / "usr" / "lib" / "erlang"
