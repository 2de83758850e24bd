"""The one cache folder: downloads, builds and live release data live below it.

Read from the caller's environment (`main(argv, environ)`), never the process's: a caller that says
`OTP_GATE_CACHE` gets exactly that folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_DIR = "otp-gate"


def cache_root(environ: Mapping[str, str]) -> Path:
    """`$OTP_GATE_CACHE`; in GitHub Actions the runner's tool cache (it survives between jobs on
    self-hosted runners) or temp folder; else `$XDG_CACHE_HOME/otp-gate`, else `~/.cache/otp-gate`.

    The runner's folders are shared between jobs, so there the cache gets one folder per user
    (`uid-<n>`): no entries someone else wrote (issue 14; the live-data cache also refuses a
    folder that is not private, see `gate.knowledge.cache`).
    """
    explicit = environ.get("OTP_GATE_CACHE")
    if explicit:
        return Path(explicit)
    if environ.get("GITHUB_ACTIONS") == "true":
        for var in ("RUNNER_TOOL_CACHE", "RUNNER_TEMP"):
            if environ.get(var):
                return Path(environ[var]) / APP_DIR / f"uid-{os.geteuid()}"
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]) / APP_DIR
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache" / APP_DIR
