"""The packages of `gate/` import each other without a cycle (issue 13); imports inside functions count.

`tests/test_layers.py` checks each import against the layer table; this test looks at the graph
of packages as a whole. Known back edges are listed with the file that makes them, and may only go.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# None left: the GitHub REST client moved to the boundary package gate/outside (issue 13), so the
# release-data reader no longer reaches up to gate/github.
KNOWN_BACK_EDGES: dict[tuple[str, str], str] = {}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_edges() -> dict[tuple[str, str], set[str]]:
    """(importing package, imported package) -> the files that make that edge."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted((REPO / "gate").rglob("*.py")):
        rel = path.relative_to(REPO)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            else:
                continue
            for target in targets:
                if target.startswith("gate.") and _package(target) != _package(module):
                    edges[(_package(module), _package(target))].add(rel.as_posix())
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_packages_import_each_other_without_a_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for (a, b), files in package_edges().items():
        known = KNOWN_BACK_EDGES.get((a, b))
        if known is None or files != {known}:
            graph[a].add(b)
    assert find_cycle(graph) is None


def test_known_back_edges_still_exist() -> None:
    # Once the boundary package lands, the entry must go: the list only shrinks.
    edges = package_edges()
    for edge, path in KNOWN_BACK_EDGES.items():
        assert path in edges.get(edge, set()), f"{edge} is gone: remove it from KNOWN_BACK_EDGES"


def test_find_cycle_sees_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None
