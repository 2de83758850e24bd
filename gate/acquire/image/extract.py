"""Pass 2: write the planned files under each runtime root and read the package databases."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, cast

from gate.acquire.archive import Budget, Window, write_file, write_range
from gate.acquire.image.manifest import ImageManifest, open_layer
from gate.acquire.image.outer import OuterArchive
from gate.acquire.image.planner import Plan
from gate.acquire.image.tree import ImageTree, Node
from gate.errors import UnsafeArchiveError
from gate.knowledge.packages import deb822_paragraphs, parse_apk_installed, parse_os_release

_BEAM_RE = re.compile(r"/?(.*)/erts-[^/]+/bin/beam\.smp$")
Key = tuple[int, str]  # (layer, member path)
_Writer = Callable[[Path, str], Path]  # writes one member's bytes at root/sub, returns the path


@dataclass
class Facts:
    """What the package databases of the image say about its runtimes."""

    dpkg: dict[str, tuple[str, str]] = field(default_factory=dict)  # package -> (version, status)
    owners: dict[str, str] = field(default_factory=dict)  # beam path -> dpkg package
    apk: dict[str, tuple[str, str]] = field(default_factory=dict)  # beam path -> (package, version)
    os_release: dict[str, str] = field(default_factory=dict)


def _parse_dpkg_status(text: str, facts: Facts) -> None:
    for para in deb822_paragraphs(text):
        if "Package" in para:
            facts.dpkg[para["Package"].split(":")[0]] = (
                para.get("Version", ""),
                para.get("Status", ""),
            )


def _parse_meta(kind: str, data: bytes, tree: ImageTree, beams: set[str], facts: Facts) -> None:
    text = data.decode("utf-8", errors="replace")
    if kind == "dpkg-status":
        _parse_dpkg_status(text, facts)
    elif kind.startswith("list:"):
        pkg = kind[5:].split(":")[0]
        for line in text.splitlines():
            if _BEAM_RE.search(line):
                got = tree.resolve(line.strip())
                if got is not None and got[0] in beams:
                    facts.owners[got[0]] = pkg
    elif kind == "apk-installed":
        for apk in parse_apk_installed(text):
            for path in apk.files:
                if path.rpartition("/")[2] == "beam.smp":
                    got = tree.resolve(path)
                    if got is not None and got[0] in beams:
                        facts.apk[got[0]] = (apk.name, apk.version)
    elif kind == "os-release" and not facts.os_release:
        facts.os_release = parse_os_release(text)


@dataclass
class Extraction:
    """Pass 2 over one image: every planned file written once, copied to its other places."""

    outer: OuterArchive
    image: ImageManifest
    tree: ImageTree
    plan: Plan
    dests: list[Path]
    beams: set[str]
    budget: Budget
    spool: BinaryIO | None = None
    facts: Facts = field(default_factory=Facts)

    def run(self) -> Facts:
        for n, sub in self.plan.dirs:
            (self.dests[n] / sub).mkdir(parents=True, exist_ok=True)
        keys = self._parse_captured()
        keys = self._from_offsets(keys)
        self._from_layers(keys)
        self._make_links()
        return self.facts

    def _parse_captured(self) -> set[Key]:
        """Metadata pass 1 already read; what is left to fetch from the layers."""
        plan = self.plan
        keys = set(plan.files) | set(plan.meta)
        for key in sorted(k for k in plan.meta if k in self.tree.captured):
            _parse_meta(plan.meta[key], self.tree.captured[key], self.tree, self.beams, self.facts)
            if key not in plan.files:
                keys.discard(key)
        return keys

    def _file(self, node: Node) -> BinaryIO:
        if node.in_spool:
            assert self.spool is not None
            return self.spool
        return self.outer.f

    def _from_offsets(self, keys: set[Key]) -> set[Key]:
        """Files of uncompressed layers (or spooled in pass 1): read where pass 1 found them."""
        for key in sorted(k for k in keys if self.plan.nodes[k].offset >= 0):
            node = self.plan.nodes[key]
            if key in self.plan.meta:
                if node.size > self.budget.limits.max_metadata_bytes:
                    raise UnsafeArchiveError(
                        f"{self.outer.label}: {key[1]!r} is too large ({node.size} bytes)"
                    )
                self._parse(key, Window(self._file(node), node.offset, node.size).read())
            self._deliver(key, _RangeWriter(self._file(node), node, self.budget, key[1]))
        return {k for k in keys if self.plan.nodes[k].offset < 0}

    def _from_layers(self, keys: set[Key]) -> None:
        """Compressed layers: stream each one that holds something wanted, stopping once all is found."""
        total = len(self.image.layers)
        for i in sorted({k[0] for k in keys}):
            todo = {k for k in keys if k[0] == i}
            reader = open_layer(self.outer, self.image.layers[i], i, total, self.budget)
            for rel, info in reader.members():
                key = (i, rel)
                if key not in todo or not info.isreg():
                    continue
                todo.discard(key)
                # Read once into memory when the member is metadata (small), else stream it to disk.
                if key in self.plan.meta:
                    data = reader.read_member(info, self.budget.limits.max_metadata_bytes)
                    self._parse(key, data)
                    self._deliver(key, _BytesWriter(data, info.mode, self.budget, rel))
                else:
                    self._deliver(key, partial(write_file, reader=reader, info=info))
                if not todo:
                    break  # the rest of this layer holds nothing the scan needs
            # A hard link naming no earlier member of its layer (a broken or hostile image).
            for key in todo:
                for n, sub in self.plan.files.get(key, ()):
                    self.plan.skipped.setdefault(n, []).append(
                        f"{sub} (its bytes are not in the layer)"
                    )

    def _parse(self, key: Key, data: bytes) -> None:
        if key in self.plan.meta:
            _parse_meta(self.plan.meta[key], data, self.tree, self.beams, self.facts)

    def _deliver(self, key: Key, write: _Writer) -> None:
        """Write the member's bytes at its first destination, then copy that file to the others."""
        first: Path | None = None
        for n, sub in self.plan.files.get(key, ()):
            if first is None:
                first = write(self.dests[n], sub)
                continue
            self.budget.add_written(first.stat().st_size, sub)
            copy = self.dests[n] / sub
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(first, copy)
            copy.chmod(first.stat().st_mode & 0o777)

    def _make_links(self) -> None:
        for n, link, target in self.plan.links:
            src = self.dests[n] / link
            src.parent.mkdir(parents=True, exist_ok=True)
            rel_target = os.path.relpath(self.dests[n] / target, src.parent)
            with contextlib.suppress(FileExistsError):
                os.symlink(rel_target, src)


@dataclass
class _RangeWriter:
    """Writes a member located by pass 1 (an offset in the archive or the spool)."""

    src: BinaryIO
    node: Node
    budget: Budget
    member: str

    def __call__(self, root: Path, sub: str) -> Path:
        window = cast(BinaryIO, Window(self.src, self.node.offset, self.node.size))
        size, mode = self.node.size, self.node.mode
        return write_range(root, sub, window, size, mode, self.budget, self.member)


@dataclass
class _BytesWriter:
    """Writes a member already read into memory (package metadata)."""

    data: bytes
    mode: int
    budget: Budget
    member: str

    def __call__(self, root: Path, sub: str) -> Path:
        src = io.BytesIO(self.data)
        return write_range(root, sub, src, len(self.data), self.mode, self.budget, self.member)
