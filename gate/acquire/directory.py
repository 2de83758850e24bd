"""An OTP runtime already on disk: an installed OTP root or a release folder, scanned in place."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError
from gate.model.runtime import Origin

# Where an OTP root sits below a prefix the user may pass instead (`/usr`, a `dpkg -x` folder).
_NESTED_ROOTS = ("lib/erlang", "usr/lib/erlang", "usr/local/lib/erlang")

_HINT = (
    "pass the folder of an OTP install (e.g. /usr/lib/erlang) or of a release "
    "(e.g. _build/prod/rel/<app>); use `otp-gate elf FILE...` for single files"
)


def _has_dir(path: Path, pattern: str) -> bool:
    return any(p.is_dir() and not p.is_symlink() for p in path.glob(pattern))


def is_runtime_root(path: Path) -> bool:
    """True when `path` holds an OTP runtime: `erts-*/`, `releases/<major>/OTP_VERSION`, or a
    release's `lib/` next to `releases/` (a release built without erts)."""
    try:
        if not path.is_dir():
            return False
        return (
            _has_dir(path, "erts-*")
            or any((p / "OTP_VERSION").is_file() for p in path.glob("releases/[0-9]*"))
            or ((path / "lib").is_dir() and (path / "releases").is_dir())
        )
    except OSError:
        return False


def find_runtime_root(path: Path) -> Path | None:
    """`path` itself when it is a runtime, else the first of `lib/erlang`, `usr/lib/erlang`,
    `usr/local/lib/erlang` below it that is; None when there is none."""
    for candidate in (path, *(path / nested for nested in _NESTED_ROOTS)):
        if is_runtime_root(candidate):
            return candidate
    return None


class DirectorySource:
    """Scan a folder in place (nothing is copied): an OTP root, a release, or a prefix above one."""

    def __init__(self, path: Path | str, *, description: str | None = None) -> None:
        self.path = Path(path)
        self.description = description

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        path = self.path
        if not os.path.lexists(path):
            raise AcquireError(f"{path}: no such file or directory", hint=_HINT)
        if not path.exists():
            raise AcquireError(f"{path}: is a broken symbolic link", hint=_HINT)
        if not path.is_dir():
            raise AcquireError(f"{path}: not a directory", hint=_HINT)
        try:
            os.listdir(path)
        except OSError as e:
            raise AcquireError(f"{path}: cannot read the directory: {e.strerror or e}") from e
        root = find_runtime_root(path)
        if root is None:
            raise AcquireError(
                f"{path}: no Erlang/OTP runtime found here (no erts-*/ folder, no "
                "releases/<major>/OTP_VERSION, no lib/ beside releases/)",
                hint=_HINT,
            )
        # Reports show the path as the user wrote it; the walk uses the real folder.
        display = (
            str(path) if root == path else os.path.join(str(path), str(root.relative_to(path)))
        )
        origin = Origin(method="directory", description=self.description or f"directory {display}")
        return (AcquiredTree(root=root.resolve(), display_root=display, origin=origin),)
