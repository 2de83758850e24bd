"""The one cache folder, read from the caller's environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gate.outside.cache import cache_root


def test_cache_root_follows_the_given_environment() -> None:
    actions = {
        "GITHUB_ACTIONS": "true",
        "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
        "RUNNER_TEMP": "/t",
    }
    assert cache_root({**actions, "OTP_GATE_CACHE": "/c"}) == Path("/c")
    # The runner's folders are shared between jobs: one folder per user there.
    uid = f"uid-{os.geteuid()}"
    assert cache_root(actions) == Path("/opt/hostedtoolcache/otp-gate") / uid
    assert cache_root({"GITHUB_ACTIONS": "true", "RUNNER_TEMP": "/t"}) == Path("/t/otp-gate") / uid
    assert cache_root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/otp-gate")
    assert cache_root({"HOME": "/h"}) == Path("/h/.cache/otp-gate")
    # Outside Actions, runner variables do not matter.
    assert cache_root({"RUNNER_TEMP": "/t", "HOME": "/h"}) == Path("/h/.cache/otp-gate")


def test_the_process_environment_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTP_GATE_CACHE", "/from/os/environ")
    assert cache_root({"HOME": "/h"}) == Path("/h/.cache/otp-gate")
