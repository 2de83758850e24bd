"""The one interface every acquisition method implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gate.model.runtime import Origin


@dataclass(frozen=True)
class AcquiredTree:
    """A runtime laid out on local disk (possibly in a scratch folder), not yet inspected.

    `root` is the folder holding `erts-*/` (an OTP root or a release), or a folder of loose
    files; `display_root` is what reports call it (the user's path, the path inside an image).
    """

    root: Path
    display_root: str
    origin: Origin


class RuntimeSource(Protocol):
    """Acquires one or more runtimes into `workdir` (a scratch folder the caller owns)."""

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        """Return every runtime found; raise `gate.errors.AcquireError` naming the input on failure."""
        ...
