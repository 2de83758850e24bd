"""Pass 2's plan: which member of which layer goes where under each runtime root, and what is skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.acquire.image.tree import ImageTree, Node


@dataclass
class Plan:
    # (layer, member path) -> destinations (runtime index, path under its root)
    files: dict[tuple[int, str], list[tuple[int, str]]] = field(default_factory=dict)
    meta: dict[tuple[int, str], str] = field(default_factory=dict)
    nodes: dict[tuple[int, str], Node] = field(default_factory=dict)  # who holds each key's bytes
    dirs: list[tuple[int, str]] = field(default_factory=list)
    links: list[tuple[int, str, str]] = field(default_factory=list)  # (runtime, link, target)
    skipped: dict[int, list[str]] = field(default_factory=dict)

    def want(self, node: Node, path: str, dest: tuple[int, str]) -> None:
        # A hard link's bytes are those of the member it names, earlier in the same layer.
        self.files.setdefault(self.key(node, path), []).append(dest)

    def key(self, node: Node, path: str) -> tuple[int, str]:
        """Where pass 2 finds the bytes of `node`, found in the final tree at `path`."""
        key = (node.layer, node.link if node.kind == "h" else (node.src or path))
        self.nodes.setdefault(key, node)
        return key


def plan_extraction(tree: ImageTree, roots: list[str]) -> Plan:
    plan = Plan()
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
