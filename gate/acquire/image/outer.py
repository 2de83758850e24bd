"""The saved image archive on disk: a table of its members, read by offset (never extracted)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

from gate.acquire.archive import Budget, TarReader, Window, normalize_member
from gate.errors import AcquireError, UnsafeArchiveError

MAX_LINKS = 40  # like the kernel's ELOOP limit


class OuterArchive:
    """The image archive on disk: a table of its members, read by offset (never extracted)."""

    def __init__(self, path: Path, label: str, budget: Budget) -> None:
        self.path = path
        self.label = label
        self.budget = budget
        self.f: BinaryIO = path.open("rb")
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            reader = TarReader.open(self.f, label, budget)
            for rel, info in reader.members():
                if info.isreg() or info.issym() or info.islnk():
                    self.members[rel] = info
        except BaseException:
            self.f.close()
            raise

    def close(self) -> None:
        self.f.close()

    def find(self, name: str) -> tarfile.TarInfo | None:
        """A member by path, following the archive's own links (docker save links shared layers)."""
        try:
            rel = normalize_member(name, self.label)
        except UnsafeArchiveError:
            return None
        for _ in range(MAX_LINKS):
            info = self.members.get(rel)
            if info is None or info.isreg():
                return info
            target = info.linkname if info.islnk() else _join(_parent(rel), info.linkname)
            try:
                rel = _collapse(target)
            except ValueError:
                return None
        return None

    def open(self, info: tarfile.TarInfo) -> Window:
        return Window(self.f, info.offset_data, info.size)

    def read_json(self, name: str, what: str) -> Any:
        info = self.find(name)
        if info is None:
            raise AcquireError(f"{self.label}: {what} {name!r} is missing from the archive")
        if info.size > self.budget.limits.max_metadata_bytes:
            raise UnsafeArchiveError(
                f"{self.label}: {what} {name!r} is too large ({info.size} bytes)"
            )
        data = self.open(info).read()
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            # RecursionError: hostile nesting ([[[[...]]]]) must be an error, not a crash.
            raise AcquireError(f"{self.label}: {what} {name!r} is not valid JSON: {e}") from e


def _parent(p: str) -> str:
    return p.rsplit("/", 1)[0] if "/" in p else ""


def _join(a: str, b: str) -> str:
    if b.startswith("/"):
        return b
    return f"{a}/{b}" if a else b


def _collapse(path: str) -> str:
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise ValueError(path)
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts)
