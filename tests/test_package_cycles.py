"""The packages of `gate/` import each other without a cycle (issue 13); imports inside functions count.

`tests/test_layers.py` checks each import against the layer table; this test looks at the graph
of packages as a whole. No back edge is allowed: the last one (knowledge -> github -> inspection
-> knowledge) went when the GitHub REST client moved to the boundary package gate/outside.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names; `from gate import x` names `gate.x`, and a relative
    import is resolved against `module`."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        anchor = parts[: len(parts) - node.level + (1 if is_package else 0)]
        base = ".".join([*anchor, *([base] if base else [])])
    folder = REPO.joinpath(*base.split("."))
    named = [a.name for a in node.names]
    modules = [n for n in named if (folder / f"{n}.py").exists() or (folder / n).is_dir()]
    return [base, *(f"{base}.{n}" for n in modules)]


def package_edges() -> dict[tuple[str, str], set[str]]:
    """(importing package, imported package) -> the files that make that edge."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted((REPO / "gate").rglob("*.py")):
        rel = path.relative_to(REPO)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported(node, module, path.name == "__init__.py"):
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
    for a, b in package_edges():
        graph[a].add(b)
    assert find_cycle(graph) is None


def test_imports_inside_functions_and_from_gate_count() -> None:
    # action.py imports action_pins only inside functions, and as `from gate import action_pins`.
    assert "gate/action.py" in package_edges()[("gate.action", "gate.action_pins")]
    tree = ast.parse("def f():\n    from . import b\n    from .c import d\n")
    found = [t for n in ast.walk(tree) for t in _imported(n, "gate.report.x", False)]
    assert "gate.report" in found and "gate.report.c" in found


def test_find_cycle_sees_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None
