"""What the suite requires under CI, and the record of what a run may not touch.

`.ci/run` sets OTP_GATE_CI=1: there every tool the suite uses is installed, so a skip means a part
of the gate went untested, and `tests/conftest.py` turns it into a failure that keeps the reason
(issue 9). Outside CI a skip stays a skip, and its reason names what to install.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CI_VAR = "OTP_GATE_CI"

# Folders a run may write into: the work folder (venv, test caches, built fixtures) and the
# interpreter's bytecode caches (git ignores both).
_ALLOWED_DIRS = frozenset({".work", ".git", "__pycache__"})

Snapshot = Mapping[str, tuple[int, int]]


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(CI_VAR, "") not in ("", "0", "false")


def snapshot(root: Path, skip: frozenset[str] = _ALLOWED_DIRS) -> dict[str, tuple[int, int]]:
    """Every file and folder under `root` (but `skip` folders) -> (size, mtime in ns)."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            # A folder counts by its existence: its mtime moves when a bytecode cache appears.
            is_dir = path.is_dir() and not path.is_symlink()
            found[str(path.relative_to(root))] = (0, 0) if is_dir else (st.st_size, st.st_mtime_ns)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What was added, removed or modified between two snapshots, sorted."""
    added = [f"added {p}" for p in after.keys() - before.keys()]
    removed = [f"removed {p}" for p in before.keys() - after.keys()]
    changed = [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted([*added, *removed, *changed])
