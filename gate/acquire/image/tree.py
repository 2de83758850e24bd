"""Pass 1: the image's final file tree after every layer (whiteouts, opaque folders, links).

No file content is kept, only where each file's bytes are. Symlinks are resolved inside the image
root as the kernel would in a chroot, in time linear in the path and with bounded work, because a
hostile layer can hold link targets of megabytes.
"""

from __future__ import annotations

import tarfile
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

from gate.acquire.archive import Budget, TarReader, Window, normalize_member
from gate.acquire.image.manifest import ImageManifest, open_layer
from gate.acquire.image.outer import MAX_LINKS, OuterArchive
from gate.errors import UnsafeArchiveError

MAX_LINK_TARGET = 4095  # PATH_MAX less its NUL: the kernel refuses longer symlink targets
# Path components `resolve` may walk for one image. A real image with 100k files walks about two
# hundred thousand; a hostile one with long `x/../x/..` targets would walk billions.
MAX_RESOLVE_WORK = 10_000_000


class Node:
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
        self.children: dict[str, Node] | None = {} if kind == "d" else None


class ImageTree:
    """The image's final file tree after applying every layer, without any file content."""

    def __init__(self) -> None:
        self.root = Node("d")
        # Package metadata read during pass 1 from compressed layers, keyed like `Plan.key`, so
        # pass 2 does not decompress a layer again only for them (a .list keeps its beam lines).
        self.captured: dict[tuple[int, str], bytes] = {}
        self._last: tuple[str, Node, str] | None = None  # (member's folder, its node, its path)
        self.work = 0  # path components walked by `resolve`, over all calls

    # Lookup resolves symlinks as the kernel would inside a chroot: `..` at the root stays there.
    # A deque keeps it linear in the components walked; MAX_LINKS hops of targets no longer than
    # MAX_LINK_TARGET bound one call, and `work` bounds all calls on one image together.
    def resolve(self, path: str, follow_last: bool = True) -> tuple[str, Node] | None:
        todo = deque(p for p in path.split("/") if p and p != ".")
        done: list[str] = []
        nodes: list[Node] = [self.root]
        hops = 0
        while todo:
            self._spend()
            name = todo.popleft()
            if name == "..":
                if done:
                    done.pop()
                    nodes.pop()
                continue
            cur = nodes[-1]
            node = cur.children.get(name) if cur.children is not None else None
            if node is None:
                return None
            if node.kind == "l" and (todo or follow_last):
                hops += 1
                if hops > MAX_LINKS or len(node.link) > MAX_LINK_TARGET:
                    return None
                if node.link.startswith("/"):
                    done, nodes = [], [self.root]
                todo.extendleft(reversed([p for p in node.link.split("/") if p and p != "."]))
                continue
            done.append(name)
            nodes.append(node)
        return "/".join(done), nodes[-1]

    def _spend(self) -> None:
        self.work += 1
        if self.work > MAX_RESOLVE_WORK:
            raise UnsafeArchiveError(
                f"resolving the image's links took more than {MAX_RESOLVE_WORK} steps",
                hint="real images need far fewer; this archive may be hostile",
            )

    def _parent_for_insert(self, rel: str) -> tuple[Node, str, str] | None:
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
                nxt = Node("d")
                assert cur.children is not None
                cur.children[part] = nxt
            done.append(part)
            cur = nxt
        return cur, "/".join(done), name

    def add(self, rel: str, node: Node) -> None:
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

    def node(self, path: str) -> Node:
        """The node at a path found by a walk (links not followed)."""
        found = self.resolve(path, follow_last=False)
        if found is None:
            raise KeyError(path)
        return found[1]

    def walk(self, node: Node | None = None, prefix: str = "") -> Iterator[tuple[str, Node]]:
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


def build_tree(
    outer: OuterArchive, image: ImageManifest, budget: Budget, spool: BinaryIO | None = None
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
        reader = open_layer(outer, layer, i, total, budget)
        _LayerPass(tree, reader, i, erts_parents, spool).run()
    return tree


_KINDS = (("d", "isdir"), ("f", "isreg"), ("l", "issym"), ("h", "islnk"))


def _kind(info: tarfile.TarInfo) -> str:
    return next((kind for kind, test in _KINDS if getattr(info, test)()), "o")


class _LayerPass:
    """One layer's headers applied to the tree: whiteouts first, then its own entries."""

    def __init__(
        self,
        tree: ImageTree,
        reader: TarReader,
        layer: int,
        erts_parents: set[str],
        spool: BinaryIO | None,
    ) -> None:
        self.tree, self.reader, self.layer = tree, reader, layer
        self.erts_parents, self.spool = erts_parents, spool
        fobj = reader.tar.fileobj
        self.layer_start = fobj.start if isinstance(fobj, Window) else None
        self.files: dict[str, Node] = {}
        self.whiteouts: list[str] = []
        self.opaque: list[str] = []
        self.entries: list[tuple[str, Node]] = []

    def run(self) -> None:
        for rel, info in self.reader.members():
            if rel and not self._marker(rel):
                self.entries.append((rel, self._node(rel, info)))
        # Whiteouts and opaque markers hide lower layers only, wherever they sit in this tar.
        for path in self.whiteouts:
            self.tree.remove(path)
        for path in self.opaque:
            self.tree.clear(path)
        for rel, node in self.entries:
            self.tree.add(rel, node)

    def _marker(self, rel: str) -> bool:
        """Is `rel` a whiteout or opaque marker (recorded) or aufs bookkeeping (ignored)?"""
        parent, _, base = rel.rpartition("/")
        if base == ".wh..wh..opq":
            self.opaque.append(parent)
        elif base.startswith(".wh."):
            # .wh..wh.plnk, .wh..wh.aufs: aufs bookkeeping, no file of the image.
            if not base.startswith(".wh..wh."):
                self.whiteouts.append(f"{parent}/{base[4:]}" if parent else base[4:])
        else:
            return False
        return True

    def _node(self, rel: str, info: tarfile.TarInfo) -> Node:
        kind = _kind(info)
        link = info.linkname
        if kind == "l" and len(link) > MAX_LINK_TARGET:
            raise UnsafeArchiveError(
                f"{self.reader.name}: symlink {rel!r} has a target of {len(link)} bytes "
                f"(the kernel allows {MAX_LINK_TARGET})",
                hint="no real image holds such a link; this archive may be hostile",
            )
        if kind == "h":
            link = normalize_member(info.linkname, self.reader.name)
        node = Node(kind, self.layer, rel, link, info.size, info.mode)
        if "erts-" in rel:
            parts = rel.split("/")
            for k, part in enumerate(parts):
                if part.startswith("erts-"):
                    self.erts_parents.add("/".join(parts[:k]))
        if kind == "f":
            self._locate(rel, info, node)
        elif kind == "h" and link in self.files:
            target = self.files[link]
            node.offset, node.size, node.in_spool = target.offset, target.size, target.in_spool
        return node

    def _locate(self, rel: str, info: tarfile.TarInfo, node: Node) -> None:
        """Note where a file's bytes are, spooling or capturing them from a compressed layer."""
        self.files[rel] = node
        if self.layer_start is not None:
            node.offset = self.layer_start + info.offset_data
        elif self.spool is not None and _under(rel, self.erts_parents):
            node.offset, node.in_spool = self.spool.tell(), True
            self.reader.copy_member(info, self.spool)
        elif _is_metadata(rel) and info.size <= _CAPTURE_MAX:
            data = self.reader.read_member(info, _CAPTURE_MAX)
            if rel.endswith(".list"):
                data = b"\n".join(x for x in data.splitlines() if b"/beam.smp" in x)
            self.tree.captured[(self.layer, rel)] = data


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


def beams_of(tree: ImageTree, root: str) -> list[str]:
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
