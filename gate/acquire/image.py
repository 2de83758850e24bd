"""Container images: a saved archive (docker save, OCI layout, podman/skopeo) or an image in a Docker engine.

Two passes over the layers, streaming: the first builds the final file index (whiteouts, opaque
folders, links) without extracting anything; the second extracts only the OTP runtimes and the
package databases. Symlinks are resolved inside the image root, never on the host.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import platform as _platform
import re
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import quote, urlsplit

from gate.acquire.archive import (
    ArchiveLimits,
    Budget,
    DecompressingReader,
    TarReader,
    Window,
    normalize_member,
    sniff,
    write_file,
    write_range,
)
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError, UnsafeArchiveError, UsageError
from gate.knowledge.packages import (
    deb822_paragraphs,
    distro_name,
    image_metadata_from_config,
    parse_apk_installed,
    parse_os_release,
)
from gate.model.runtime import Origin

DEFAULT_SOCKET = "/var/run/docker.sock"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_MAX_LINKS = 40  # like the kernel's ELOOP limit
_BEAM_RE = re.compile(r"/?(.*)/erts-[^/]+/bin/beam\.smp$")


# --- platforms -------------------------------------------------------------------------------


_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    """An OCI platform, `os/architecture[/variant]` (e.g. linux/amd64, linux/arm64/v8)."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(
                f"--platform {text!r}: expected os/arch[/variant]",
                hint="for example --platform linux/amd64 or --platform linux/arm64",
            )
        return cls(parts[0], _ARCH.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        return cls("linux", _ARCH.get(machine, machine), "v7" if machine == "armv7l" else None)

    @classmethod
    def from_json(cls, data: Any) -> Platform | None:
        if not isinstance(data, dict):
            return None
        os_, arch = data.get("os"), data.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            return None
        variant = data.get("variant")
        return cls(os_, arch, variant if isinstance(variant, str) and variant else None)

    def matches(self, other: Platform) -> bool:
        """Does an image for `other` satisfy a request for `self` (a missing variant matches any)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None or other.variant is None:
            return True
        return self.variant == other.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


# --- the outer archive -----------------------------------------------------------------------


class _Outer:
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
        for _ in range(_MAX_LINKS):
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


# --- choosing the image and its layers -------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    member: str  # path of the layer blob inside the archive
    media_type: str | None = None


@dataclass(frozen=True)
class ImageManifest:
    """One image of the archive: its layers (bottom first), platform and names."""

    layers: tuple[Layer, ...]
    platform: Platform | None
    names: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict, compare=False)


def _blob(digest: Any, label: str) -> str:
    if not isinstance(digest, str) or not re.fullmatch(r"sha(256|512):[0-9a-f]{32,128}", digest):
        raise AcquireError(f"{label}: bad digest {digest!r} in the image index")
    algo, hexd = digest.split(":")
    return f"blobs/{algo}/{hexd}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _oci_images(outer: _Outer, index: Any, depth: int, missing: list[str]) -> list[ImageManifest]:
    if depth > 4:
        raise AcquireError(f"{outer.label}: image indexes nested more than 4 deep")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise AcquireError(f"{outer.label}: an image index has no 'manifests' list")
    found: list[ImageManifest] = []
    for desc in index["manifests"]:
        if not isinstance(desc, dict):
            continue
        annotations = _dict(desc.get("annotations"))
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue  # build provenance, not a runnable image
        plat = Platform.from_json(desc.get("platform"))
        if plat is not None and plat.os == "unknown":
            continue
        blob = _blob(desc.get("digest"), outer.label)
        if outer.find(blob) is None:
            # Multi-arch indexes list every platform; a save holds blobs for some of them only.
            missing.append(str(plat) if plat else blob)
            continue
        doc = outer.read_json(blob, "manifest")
        if not isinstance(doc, dict):
            raise AcquireError(f"{outer.label}: manifest {blob} is not a JSON object")
        media = desc.get("mediaType") or doc.get("mediaType")
        if media in _INDEX_TYPES or "manifests" in doc:
            found += _oci_images(outer, doc, depth + 1, missing)
            continue
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise AcquireError(f"{outer.label}: manifest {blob} has no 'layers' list")
        config: dict[str, Any] = {}
        cfg_desc = doc.get("config")
        if isinstance(cfg_desc, dict) and outer.find(_blob(cfg_desc.get("digest"), outer.label)):
            loaded = outer.read_json(_blob(cfg_desc.get("digest"), outer.label), "image config")
            config = loaded if isinstance(loaded, dict) else {}
        names = tuple(
            str(annotations[k])
            for k in ("io.containerd.image.name", "org.opencontainers.image.ref.name")
            if k in annotations
        )
        found.append(
            ImageManifest(
                layers=tuple(
                    Layer(_blob(d.get("digest"), outer.label), _str(d.get("mediaType")))
                    for d in layers
                    if isinstance(d, dict)
                ),
                platform=plat or Platform.from_json(config),
                names=names,
                config=config,
            )
        )
    return found


def _legacy_images(outer: _Outer, manifest: Any) -> list[ImageManifest]:
    if not isinstance(manifest, list):
        raise AcquireError(f"{outer.label}: manifest.json is not a list of images")
    found = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise AcquireError(f"{outer.label}: manifest.json has an entry without 'Layers'")
        config: dict[str, Any] = {}
        cfg = entry.get("Config")
        if isinstance(cfg, str) and outer.find(cfg) is not None:
            loaded = outer.read_json(cfg, "image config")
            config = loaded if isinstance(loaded, dict) else {}
        found.append(
            ImageManifest(
                layers=tuple(Layer(p) for p in entry["Layers"] if isinstance(p, str)),
                platform=Platform.from_json(config),
                names=tuple(t for t in _list(entry.get("RepoTags")) if isinstance(t, str)),
                config=config,
            )
        )
    return found


def select_image(
    outer: _Outer, requested: Platform | None, ref: str | None = None
) -> ImageManifest:
    """The one image of the archive to scan: the requested platform, else this machine's."""
    missing: list[str] = []
    if outer.find("index.json") is not None:
        images = _oci_images(outer, outer.read_json("index.json", "index"), 0, missing)
        # Docker >= 25 also writes manifest.json; it names the tags the index may not.
        if outer.find("manifest.json") is not None and not any(i.names for i in images):
            legacy = _legacy_images(outer, outer.read_json("manifest.json", "manifest"))
            if len(legacy) == len(images) == 1:
                images = [
                    ImageManifest(
                        images[0].layers, images[0].platform, legacy[0].names, images[0].config
                    )
                ]
    elif outer.find("manifest.json") is not None:
        images = _legacy_images(outer, outer.read_json("manifest.json", "manifest"))
    else:
        raise AcquireError(
            f"{outer.label}: not an image archive (neither index.json nor manifest.json inside)",
            hint="create it with `docker save IMAGE -o FILE`, `podman save` or `skopeo copy ... oci-archive:FILE`",
        )
    if ref is not None and len(images) > 1:
        named = [i for i in images if _ref_matches(ref, i.names)]
        images = named or images
    want = requested or Platform.host()
    matching = [i for i in images if i.platform is None or want.matches(i.platform)]
    if requested is None and not matching and len(images) == 1:
        matching = images  # a single-platform image: scanning it needs no emulation
    seen = ", ".join(sorted({str(i.platform) for i in images if i.platform})) or "none"
    if not matching:
        extra = f" (listed without their layers: {', '.join(missing)})" if missing else ""
        raise AcquireError(
            f"{outer.label}: no image for platform {want}; the archive has: {seen}{extra}",
            hint=f"pick one of them with --platform, e.g. --platform {seen.split(', ')[0]}"
            if images and seen != "none"
            else "the archive lists no platform whose layers it holds",
        )
    if len(matching) > 1:
        names = "; ".join(", ".join(i.names) or "(untagged)" for i in matching)
        raise AcquireError(
            f"{outer.label}: holds {len(matching)} images for {want}: {names}",
            hint="save one image per archive (docker save IMAGE -o FILE)",
        )
    return matching[0]


def _ref_matches(ref: str, names: Sequence[str]) -> bool:
    variants = {ref, f"{ref}:latest", f"docker.io/{ref}", f"docker.io/library/{ref}"}
    return any(n in variants or n.endswith("/" + ref) for n in names)


# --- pass 1: the final file index ------------------------------------------------------------


class _Node:
    """One path of the merged image tree; `kind` is d(ir), f(ile), l(ink), h(ardlink), o(ther)."""

    __slots__ = ("children", "in_spool", "kind", "layer", "link", "mode", "offset", "size", "src")

    def __init__(
        self,
        kind: str,
        layer: int = -1,
        src: str = "",
        link: str = "",
        size: int = 0,
        mode: int = 0,
    ) -> None:
        self.kind = kind
        self.layer = layer
        # The member's path inside its layer (where pass 2 finds its bytes); "" once inserted at
        # that same path in the tree, which is nearly always, to keep big indexes small.
        self.src = src
        self.link = link
        self.size = size
        self.mode = mode
        # Where the bytes sit in the image archive when the layer is an uncompressed tar, so the
        # second pass reads them directly instead of re-reading the layer; -1 otherwise.
        self.offset = -1
        self.in_spool = False  # `offset` is in pass 1's capture spool, not in the archive
        self.children: dict[str, _Node] | None = {} if kind == "d" else None


class ImageTree:
    """The image's final file tree after applying every layer, without any file content."""

    def __init__(self) -> None:
        self.root = _Node("d")
        # Package metadata read during pass 1 from compressed layers, keyed like `_Plan.key`, so
        # pass 2 does not decompress a layer again only for them (a .list keeps its beam lines).
        self.captured: dict[tuple[int, str], bytes] = {}
        self._last: tuple[str, _Node, str] | None = None  # (member's folder, its node, its path)

    # Lookup resolves symlinks as the kernel would inside a chroot: `..` at the root stays there.
    def resolve(self, path: str, follow_last: bool = True) -> tuple[str, _Node] | None:
        todo = [p for p in path.split("/") if p and p != "."]
        done: list[str] = []
        nodes: list[_Node] = [self.root]
        hops = 0
        while todo:
            name = todo.pop(0)
            if name == "..":
                if done:
                    done.pop()
                    nodes.pop()
                continue
            cur = nodes[-1]
            if cur.children is None:
                return None
            node = cur.children.get(name)
            if node is None:
                return None
            if node.kind == "l" and (todo or follow_last):
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = [p for p in node.link.split("/") if p and p != "."]
                if node.link.startswith("/"):
                    done, nodes = [], [self.root]
                todo = target + todo
                continue
            done.append(name)
            nodes.append(node)
        return "/".join(done), nodes[-1]

    def _parent_for_insert(self, rel: str) -> tuple[_Node, str, str] | None:
        """The folder that receives `rel`, following links in its parents as `docker load` does."""
        parent, _, name = rel.rpartition("/")
        if not parent:
            return self.root, "", name
        found = self.resolve(parent)
        if found is not None and found[1].kind == "d":
            return found[1], found[0], name
        # Create missing parents (layers may omit folder entries); a file in the way is replaced.
        cur = self.root
        done: list[str] = []
        for part in parent.split("/"):
            assert cur.children is not None
            nxt = cur.children.get(part)
            if nxt is not None and nxt.kind == "l":
                got = self.resolve("/".join([*done, part]))
                if got is not None and got[1].kind == "d":
                    done = got[0].split("/") if got[0] else []
                    cur = got[1]
                    continue
            if nxt is None or nxt.kind != "d":
                nxt = _Node("d")
                assert cur.children is not None
                cur.children[part] = nxt
            done.append(part)
            cur = nxt
        return cur, "/".join(done), name

    def add(self, rel: str, node: _Node) -> None:
        parent_rel, _, name = rel.rpartition("/")
        # Members of a folder come one after another in a layer: remember the last folder.
        cached = self._last
        if cached is not None and cached[0] == parent_rel:
            parent, parent_path = cached[1], cached[2]
        else:
            got = self._parent_for_insert(rel)
            if got is None:
                return
            parent, parent_path, name = got
            self._last = (parent_rel, parent, parent_path)
        assert parent.children is not None
        old = parent.children.get(name)
        if node.kind == "d" and old is not None and old.kind == "d":
            old.mode = node.mode  # merging folders keeps what lower layers put inside
            return
        # No need to forget the remembered folder here: what is replaced is a child of it.
        if node.src == (f"{parent_path}/{name}" if parent_path else name):
            node.src = ""
        parent.children[name] = node

    def remove(self, rel: str) -> None:
        self._last = None
        parent_path, _, name = rel.rpartition("/")
        found = self.resolve(parent_path) if parent_path else ("", self.root)
        if found is not None and found[1].children is not None:
            found[1].children.pop(name, None)

    def clear(self, rel: str) -> None:
        self._last = None
        found = self.resolve(rel, follow_last=False) if rel else ("", self.root)
        if found is not None and found[1].children is not None:
            found[1].children.clear()

    def node(self, path: str) -> _Node:
        """The node at a path found by a walk (links not followed)."""
        found = self.resolve(path, follow_last=False)
        if found is None:
            raise KeyError(path)
        return found[1]

    def walk(self, node: _Node | None = None, prefix: str = "") -> Iterator[tuple[str, _Node]]:
        """Every path below `node`, parents first, links not followed."""
        stack = [(prefix, node or self.root)]
        while stack:
            path, cur = stack.pop()
            if cur.children is None:
                continue
            for name in sorted(cur.children, reverse=True):
                child = cur.children[name]
                sub = f"{path}/{name}" if path else name
                yield sub, child
                stack.append((sub, child))


def _open_layer(outer: _Outer, layer: Layer, n: int, total: int, budget: Budget) -> TarReader:
    info = outer.find(layer.member)
    label = f"{outer.label}: layer {n + 1}/{total} ({layer.member})"
    if info is None:
        raise AcquireError(f"{label} is missing from the archive")
    if layer.media_type and "zstd" in layer.media_type:
        raise AcquireError(
            f"{label} is zstd-compressed, which this gate cannot read",
            hint="save the image with gzip or uncompressed layers (docker save does)",
        )
    return TarReader.open(cast(BinaryIO, outer.open(info)), label, budget)


def build_tree(
    outer: _Outer, image: ImageManifest, budget: Budget, spool: BinaryIO | None = None
) -> ImageTree:
    """Pass 1: apply every layer's headers, whiteouts and opaque folders.

    No content is read from uncompressed layers. From compressed ones, package metadata is kept,
    and (with a `spool`) files under a folder already seen to hold `erts-*` are copied to the
    spool, so pass 2 need not decompress the layer a second time for them.
    """
    tree = ImageTree()
    erts_parents: set[str] = set()
    total = len(image.layers)
    for i, layer in enumerate(image.layers):
        reader = _open_layer(outer, layer, i, total, budget)
        fobj = reader.tar.fileobj
        layer_start = fobj.start if isinstance(fobj, Window) else None
        layer_files: dict[str, _Node] = {}
        whiteouts: list[str] = []
        opaque: list[str] = []
        entries: list[tuple[str, _Node]] = []
        for rel, info in reader.members():
            if not rel:
                continue
            parent, _, base = rel.rpartition("/")
            if base == ".wh..wh..opq":
                opaque.append(parent)
                continue
            if base.startswith(".wh..wh."):
                continue  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): no file of the image
            if base.startswith(".wh."):
                whiteouts.append(f"{parent}/{base[4:]}" if parent else base[4:])
                continue
            if info.isdir():
                kind = "d"
            elif info.isreg():
                kind = "f"
            elif info.issym():
                kind = "l"
            elif info.islnk():
                kind = "h"
            else:
                kind = "o"
            link = info.linkname
            if kind == "h":
                link = normalize_member(info.linkname, reader.name)
            node = _Node(kind, i, rel, link, info.size, info.mode)
            if "erts-" in rel:
                parts = rel.split("/")
                for k, part in enumerate(parts):
                    if part.startswith("erts-"):
                        erts_parents.add("/".join(parts[:k]))
            if kind == "f":
                layer_files[rel] = node
                if layer_start is not None:
                    node.offset = layer_start + info.offset_data
                elif spool is not None and _under(rel, erts_parents):
                    node.offset, node.in_spool = spool.tell(), True
                    reader.copy_member(info, spool)
                elif _is_metadata(rel) and info.size <= _CAPTURE_MAX:
                    data = reader.read_member(info, _CAPTURE_MAX)
                    if rel.endswith(".list"):
                        data = b"\n".join(x for x in data.splitlines() if b"/beam.smp" in x)
                    tree.captured[(i, rel)] = data
            elif kind == "h" and link in layer_files:
                target = layer_files[link]
                node.offset, node.size, node.in_spool = target.offset, target.size, target.in_spool
            entries.append((rel, node))
        # Whiteouts and opaque markers hide lower layers only, wherever they sit in this tar.
        for path in whiteouts:
            tree.remove(path)
        for path in opaque:
            tree.clear(path)
        for rel, node in entries:
            tree.add(rel, node)
    return tree


_CAPTURE_MAX = 8 * 1024 * 1024  # a dpkg status file is 1-3 MB; bigger ones are read in pass 2
_METADATA = frozenset(
    {"etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status", "lib/apk/db/installed"}
)


def _under(rel: str, parents: set[str]) -> bool:
    if not parents:
        return False
    if "" in parents:
        return True
    cut = rel.find("/")
    while cut != -1:
        if rel[:cut] in parents:
            return True
        cut = rel.find("/", cut + 1)
    return False


def _is_metadata(rel: str) -> bool:
    return rel in _METADATA or (rel.startswith("var/lib/dpkg/info/") and rel.endswith(".list"))


def _beams(tree: ImageTree, root: str) -> list[str]:
    """The emulators of a runtime root, as canonical paths in the image."""
    found = []
    for name, node in sorted((tree.node(root).children or {}).items()):
        if node.kind == "d" and name.startswith("erts-"):
            got = tree.resolve(f"{root}/{name}/bin/beam.smp" if root else f"{name}/bin/beam.smp")
            if got is not None:
                found.append(got[0])
    return found


def find_runtimes(tree: ImageTree) -> list[str]:
    """Every folder holding `erts-*/bin/beam.smp` (a regular file, links resolved in the image)."""
    roots = []
    for path, node in tree.walk():
        if node.kind != "d" or not path.rsplit("/", 1)[-1].startswith("erts-"):
            continue
        beam = tree.resolve(f"{path}/bin/beam.smp")
        if beam is not None and beam[1].kind in ("f", "h"):
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            if parent not in roots:
                roots.append(parent)
    return sorted(roots)


# --- pass 2: extract what the scan needs -----------------------------------------------------


@dataclass
class _Plan:
    # (layer, member path) -> destinations (runtime index, path under its root)
    files: dict[tuple[int, str], list[tuple[int, str]]] = field(default_factory=dict)
    meta: dict[tuple[int, str], str] = field(default_factory=dict)
    nodes: dict[tuple[int, str], _Node] = field(default_factory=dict)  # who holds each key's bytes
    dirs: list[tuple[int, str]] = field(default_factory=list)
    links: list[tuple[int, str, str]] = field(default_factory=list)  # (runtime, link, target)
    skipped: dict[int, list[str]] = field(default_factory=dict)

    def want(self, node: _Node, path: str, dest: tuple[int, str]) -> None:
        # A hard link's bytes are those of the member it names, earlier in the same layer.
        self.files.setdefault(self.key(node, path), []).append(dest)

    def key(self, node: _Node, path: str) -> tuple[int, str]:
        """Where pass 2 finds the bytes of `node`, found in the final tree at `path`."""
        key = (node.layer, node.link if node.kind == "h" else (node.src or path))
        self.nodes.setdefault(key, node)
        return key


def _plan(tree: ImageTree, roots: list[str]) -> _Plan:
    plan = _Plan()
    for n, root in enumerate(roots):
        for path, node in tree.walk(tree.node(root), root):
            sub = path[len(root) :].lstrip("/")
            if node.kind == "d":
                plan.dirs.append((n, sub))
            elif node.kind in ("f", "h"):
                plan.want(node, path, (n, sub))
            elif node.kind == "l":
                target = tree.resolve(path)
                if target is None:
                    plan.skipped.setdefault(n, []).append(f"{sub} (dangling link)")
                elif target[0] == root or target[0].startswith(root + "/" if root else ""):
                    plan.links.append((n, sub, target[0][len(root) :].lstrip("/")))
                elif target[1].kind in ("f", "h"):
                    # Outside the runtime: the runtime loads that file, so scan its bytes here.
                    plan.want(target[1], target[0], (n, sub))
                else:
                    plan.skipped.setdefault(n, []).append(f"{sub} (link outside {root or '/'})")
            else:
                plan.skipped.setdefault(n, []).append(f"{sub} (special file)")
    for meta, name in (
        ("var/lib/dpkg/status", "dpkg-status"),
        ("lib/apk/db/installed", "apk-installed"),
        ("etc/os-release", "os-release"),
        ("usr/lib/os-release", "os-release"),
    ):
        got = tree.resolve(meta)
        if got is not None and got[1].kind in ("f", "h"):
            plan.meta.setdefault(plan.key(got[1], got[0]), name)
    info = tree.resolve("var/lib/dpkg/info")
    if info is not None and info[1].children:
        for name, node in info[1].children.items():
            if name.endswith(".list") and node.kind in ("f", "h"):
                key = plan.key(node, f"{info[0]}/{name}")
                plan.meta.setdefault(key, "list:" + name[: -len(".list")])
    return plan


@dataclass
class _Facts:
    dpkg: dict[str, tuple[str, str]] = field(default_factory=dict)  # package -> (version, status)
    owners: dict[str, str] = field(default_factory=dict)  # beam path -> dpkg package
    apk: dict[str, tuple[str, str]] = field(default_factory=dict)  # beam path -> (package, version)
    os_release: dict[str, str] = field(default_factory=dict)


def _parse_meta(kind: str, data: bytes, tree: ImageTree, beams: set[str], facts: _Facts) -> None:
    text = data.decode("utf-8", errors="replace")
    if kind == "dpkg-status":
        for para in deb822_paragraphs(text):
            if "Package" in para:
                facts.dpkg[para["Package"].split(":")[0]] = (
                    para.get("Version", ""),
                    para.get("Status", ""),
                )
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


def _extract(
    outer: _Outer,
    image: ImageManifest,
    tree: ImageTree,
    plan: _Plan,
    dests: list[Path],
    beams: set[str],
    budget: Budget,
    spool: BinaryIO | None = None,
) -> _Facts:
    facts = _Facts()
    for n, sub in plan.dirs:
        (dests[n] / sub).mkdir(parents=True, exist_ok=True)

    def deliver(
        key: tuple[int, str], write: Callable[[Path, str], Path], read: Callable[[], bytes]
    ) -> None:
        if key in plan.meta:
            _parse_meta(plan.meta[key], read(), tree, beams, facts)
        first: Path | None = None
        for n, sub in plan.files.get(key, ()):
            if first is None:
                first = write(dests[n], sub)
                continue
            budget.add_written(first.stat().st_size, sub)
            copy = dests[n] / sub
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(first, copy)
            copy.chmod(first.stat().st_mode & 0o777)

    keys = set(plan.files) | set(plan.meta)
    for key in sorted(k for k in plan.meta if k in tree.captured):
        _parse_meta(plan.meta[key], tree.captured[key], tree, beams, facts)
        if key not in plan.files:
            keys.discard(key)

    def _file(node: _Node) -> BinaryIO:
        if node.in_spool:
            assert spool is not None
            return spool
        return outer.f

    # Files of uncompressed layers (or spooled in pass 1): read where pass 1 found them.
    for key in sorted(k for k in keys if plan.nodes[k].offset >= 0):
        node = plan.nodes[key]

        def write(root: Path, sub: str, node: _Node = node, member: str = key[1]) -> Path:
            src = Window(_file(node), node.offset, node.size)
            return write_range(root, sub, cast(BinaryIO, src), node.size, node.mode, budget, member)

        def read(node: _Node = node, member: str = key[1]) -> bytes:
            if node.size > budget.limits.max_metadata_bytes:
                raise UnsafeArchiveError(
                    f"{outer.label}: {member!r} is too large ({node.size} bytes)"
                )
            return Window(_file(node), node.offset, node.size).read()

        deliver(key, write, read)
        keys.discard(key)
    # Compressed layers: stream each one that holds something wanted, stopping once all is found.
    total = len(image.layers)
    for i in sorted({k[0] for k in keys}):
        todo = {k for k in keys if k[0] == i}
        reader = _open_layer(outer, image.layers[i], i, total, budget)
        for rel, info in reader.members():
            key = (i, rel)
            if key not in todo or not info.isreg():
                continue
            todo.discard(key)
            # Read once into memory when the member is metadata (small), else stream it to disk.
            if key in plan.meta:
                data = reader.read_member(info, budget.limits.max_metadata_bytes)
                deliver(key, _bytes_writer(data, info.mode, budget, rel), _returner(data))
            else:
                deliver(key, _member_writer(reader, info), _returner(b""))
            if not todo:
                break  # the rest of this layer holds nothing the scan needs
        # A hard link naming no earlier member of its layer (a broken or hostile image).
        for key in todo:
            for n, sub in plan.files.get(key, ()):
                plan.skipped.setdefault(n, []).append(f"{sub} (its bytes are not in the layer)")
    for n, link, target in plan.links:
        src = dests[n] / link
        src.parent.mkdir(parents=True, exist_ok=True)
        rel_target = os.path.relpath(dests[n] / target, src.parent)
        with contextlib.suppress(FileExistsError):
            os.symlink(rel_target, src)
    return facts


def _returner(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _member_writer(reader: TarReader, info: tarfile.TarInfo) -> Callable[[Path, str], Path]:
    def write(root: Path, sub: str) -> Path:
        return write_file(root, sub, reader, info)

    return write


def _bytes_writer(
    data: bytes, mode: int, budget: Budget, member: str
) -> Callable[[Path, str], Path]:
    def write(root: Path, sub: str) -> Path:
        return write_range(root, sub, io.BytesIO(data), len(data), mode, budget, member)

    return write


# --- the sources -----------------------------------------------------------------------------


def is_image_archive(path: Path, max_members: int = 100_000) -> bool:
    """Does this tar look like a saved image (OCI layout or docker save) rather than a tarball?"""
    try:
        with path.open("rb") as f:
            compressed = sniff(f.read(8)) != "plain"
            f.seek(0)
            # Headers only; a compressed archive is looked at only in its first members.
            limit = 64 if compressed else max_members
            reader = TarReader.open(f, str(path), Budget(ArchiveLimits(), str(path)))
            manifest = layers = False
            for n, (rel, _info) in enumerate(reader.members()):
                if rel in ("oci-layout", "index.json"):
                    return True
                manifest = manifest or rel == "manifest.json"
                layers = layers or rel.endswith(".tar")
                if manifest and layers:
                    return True
                if n >= limit:
                    break
    except (OSError, AcquireError):
        return False
    return False


def _spool_decompressed(path: Path, workdir: Path, limits: ArchiveLimits) -> Path:
    """A compressed image archive (`docker save | gzip`) unpacked to one plain tar on disk."""
    with path.open("rb") as f:
        kind = sniff(f.read(8))
        if kind == "plain":
            return path
        if kind == "zstd":
            raise AcquireError(f"{path}: zstd-compressed archives are not supported")
        f.seek(0)
        spool = workdir / f".{path.name}.tar"
        reader = DecompressingReader(f, kind, limits, str(path))
        with spool.open("wb") as out:
            while chunk := reader.read(1024 * 1024):
                out.write(chunk)
    return spool


@dataclass(frozen=True)
class ImageArchiveSource:
    """A saved image archive on disk: docker save (legacy or OCI), OCI layout tar, podman/skopeo."""

    path: Path
    platform: Platform | None = None
    ref: str | None = None  # the image's name, to label reports and pick it in a multi-image save
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    label: str | None = None  # what errors call the archive (default: its path)

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        if not self.path.is_file():
            raise AcquireError(
                f"{self.path}: no such file",
                hint="create it with `docker save IMAGE -o FILE`",
            )
        workdir.mkdir(parents=True, exist_ok=True)
        label = self.label or str(self.path)
        plain = _spool_decompressed(self.path, workdir, self.limits)
        budget = Budget(self.limits, label)
        outer = _Outer(plain, label, budget)
        spool_path = workdir / f".{self.path.name}.capture"
        spool = spool_path.open("w+b")
        try:
            image = select_image(outer, self.platform, self.ref)
            tree = build_tree(outer, image, budget, spool)
            spool.flush()
            roots = find_runtimes(tree)
            name = self.ref or (image.names[0] if image.names else self.path.name)
            if not roots:
                raise AcquireError(
                    f"image {name}: no OTP runtime inside (looked for erts-*/bin/beam.smp "
                    "in every folder)",
                    hint="is this the image you ship? Scan the final stage of a multi-stage build",
                )
            plan = _plan(tree, roots)
            dests = []
            for n in range(len(roots)):
                d = workdir / f"image-{n}"
                k = 0
                while d.exists():
                    k += 1
                    d = workdir / f"image-{n}-{k}"
                d.mkdir(parents=True)
                dests.append(d)
            beams = {root: _beams(tree, root) for root in roots}
            all_beams = {b for found in beams.values() for b in found}
            facts = _extract(
                outer, image, tree, plan, dests, all_beams, Budget(self.limits, label), spool
            )
        finally:
            outer.close()
            spool.close()
            spool_path.unlink(missing_ok=True)
            if plain != self.path:
                plain.unlink(missing_ok=True)
        return [
            self._tree(n, root, dests[n], name, image, beams[root], facts, plan)
            for n, root in enumerate(roots)
        ]

    def _tree(
        self,
        n: int,
        root: str,
        dest: Path,
        name: str,
        image: ImageManifest,
        beams: list[str],
        facts: _Facts,
        plan: _Plan,
    ) -> AcquiredTree:
        in_image = "/" + root
        package = version = None
        for beam in beams:
            if beam in facts.owners:
                package = facts.owners[beam]
                version = facts.dpkg.get(package, ("", ""))[0] or None
            elif beam in facts.apk:
                package, version = facts.apk[beam]
            if package:
                break
        distro = distro_name(facts.os_release)
        plat = f" ({image.platform})" if image.platform else ""
        text = f"image {name}{plat}, {in_image}"
        if package:
            text += f": {facts.os_release.get('NAME', 'distro')} package {package} {version or ''}".rstrip()
        skipped = plan.skipped.get(n, [])
        if skipped:
            text += f"; {len(skipped)} link(s) or special file(s) not extracted"
        return AcquiredTree(
            root=dest,
            display_root=f"image:{in_image}",
            origin=Origin(
                method="image",
                description=text,
                package=package,
                package_version=version,
                distro=distro,
                image=name,
                path_in_image=in_image,
                image_metadata=image_metadata_from_config(image.config, name),
            ),
        )


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _connection(host: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(host)
    if parts.scheme == "unix":
        return _UnixHTTPConnection(parts.path, timeout)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        return http.client.HTTPConnection(parts.hostname, parts.port or 2375, timeout=timeout)
    raise UsageError(
        f"DOCKER_HOST {host!r}: only unix:// sockets and plain tcp:// are supported",
        hint="mount the engine's socket (-v /var/run/docker.sock:/var/run/docker.sock)",
    )


@dataclass(frozen=True)
class DockerImageSource:
    """An image in a Docker engine, exported through its API (`GET /images/{name}/get`)."""

    ref: str
    platform: Platform | None = None
    docker_host: str | None = None
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    timeout: float = 600.0

    @property
    def host(self) -> str:
        return self.docker_host or os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        workdir.mkdir(parents=True, exist_ok=True)
        spool = workdir / ".image-export.tar"
        try:
            self.export(spool)
            label = f"image {self.ref} (exported from {self.host})"
            source = ImageArchiveSource(spool, self.platform, self.ref, self.limits, label)
            return source.acquire(workdir)
        finally:
            spool.unlink(missing_ok=True)

    def export(self, out: Path) -> None:
        """Spool the engine's export of the image to `out` (streamed, never held in memory)."""
        try:
            self._export_api(out)
        except OSError as e:
            reason = f"cannot reach the Docker engine at {self.host}: {e.strerror or e}"
            hint = (
                "mount the engine's socket (-v /var/run/docker.sock:/var/run/docker.sock), set "
                "DOCKER_HOST, or save the image and pass --image-archive FILE"
            )
            if not shutil.which("docker"):
                raise AcquireError(reason, hint=hint) from e
            # The CLI may know the engine through a context the socket path does not.
            try:
                self._export_cli(out)
            except AcquireError as cli:
                raise AcquireError(f"{reason}; {cli.message}", hint=hint) from e

    def _export_api(self, out: Path) -> None:
        conn = _connection(self.host, self.timeout)
        path = f"/images/{quote(self.ref, safe='')}/get"
        if self.platform is not None:
            # API >= 1.48 exports one platform of a multi-platform image; older engines ignore it.
            plat = {"os": self.platform.os, "architecture": self.platform.architecture}
            if self.platform.variant:
                plat["variant"] = self.platform.variant
            path += "?platform=" + quote(json.dumps(plat, separators=(",", ":")), safe="")
        try:
            conn.request("GET", path, headers={"Accept": "application/x-tar"})
            resp = conn.getresponse()
            if resp.status != 200:
                body = resp.read(64 * 1024)
                try:
                    msg = str(json.loads(body).get("message", body[:200]))
                except (ValueError, AttributeError):
                    msg = body[:200].decode(errors="replace")
                if resp.status == 404:
                    raise AcquireError(
                        f"image {self.ref!r} is not in the Docker engine at {self.host}: {msg}",
                        hint="pull or build it first (docker pull REF), or pass --image-archive",
                    )
                raise AcquireError(
                    f"the Docker engine at {self.host} refused to export {self.ref!r} "
                    f"(HTTP {resp.status}): {msg}"
                )
            written = 0
            with out.open("wb") as f:
                while chunk := resp.read(1024 * 1024):
                    written += len(chunk)
                    if written > self.limits.max_stream_bytes:
                        raise UnsafeArchiveError(
                            f"image {self.ref!r}: the export exceeds {self.limits.max_stream_bytes} bytes"
                        )
                    f.write(chunk)
        except http.client.HTTPException as e:
            raise AcquireError(
                f"the Docker engine at {self.host} broke off the export of {self.ref!r}: {e}"
            ) from e
        finally:
            conn.close()

    def _export_cli(self, out: Path) -> None:
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        proc = subprocess.run(
            ["docker", "save", "-o", str(out), self.ref],
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise AcquireError(
                f"docker save {self.ref} failed: {proc.stderr.strip()[-400:]}",
                hint="check the image name (docker images) and that the engine is reachable",
            )
