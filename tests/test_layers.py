"""Data flows one way: no module imports a later stage (layer table of docs/ARCHITECTURE.md).

Every import counts, also the lazy ones inside functions and those under TYPE_CHECKING: a backward
edge is a design error wherever it hides.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "gate"
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"

_ROW = re.compile(r"^\|\s*(\d+)\s+[^|]*\|([^|]*)\|")


def layer_table() -> list[tuple[int, str]]:
    """(layer, module glob) pairs from the architecture document's table."""
    rows: list[tuple[int, str]] = []
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            for pattern in re.findall(r"`([^`]+)`", m.group(2)):
                rows.append((int(m.group(1)), pattern))
    return rows


def layer_of(module: str, table: list[tuple[int, str]]) -> int | None:
    if module in ("gate", "gate.__main__"):
        # The package root only holds __version__ (base); __main__ is a composition entry point.
        return 0 if module == "gate" else max(n for n, _ in table)
    best: int | None = None
    for n, pattern in table:
        pkg = pattern[:-2] if pattern.endswith(".*") else None
        if fnmatch.fnmatchcase(module, pattern) or (pkg is not None and module == pkg):
            best = n if best is None else min(best, n)
    return best


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, this: str | None = None) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    this = this or module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            # `from gate.report import text` imports the submodule gate.report.text.
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                if (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists():
                    found.append((node.lineno, sub))
    return found


def test_the_table_is_read_from_the_architecture_document() -> None:
    table = layer_table()
    assert layer_of("gate.model.report", table) == 0
    assert layer_of("gate.errors", table) == 0
    assert layer_of("gate.outside.github", table) == 1  # the boundary, below all but base
    assert layer_of("gate.outside.http", table) == 1
    assert layer_of("gate.knowledge.snapshot", table) == 2
    assert layer_of("gate.acquire.directory", table) == 3
    assert layer_of("gate.inspection.elf", table) == 4
    assert layer_of("gate.policy", table) == 5
    assert layer_of("gate.report.sarif", table) == 6
    assert layer_of("gate.github.comment", table) == 7
    assert layer_of("gate.cli", table) == 8


def test_a_backward_edge_is_detected(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a knowledge module lazily importing the CLI and,
    # relatively, a renderer.
    src = tmp_path / "bad.py"
    src.write_text(
        "import os\nfrom ..model import report\n"
        "def f():\n    from gate.cli import main\n    from ..report import text\n",
        encoding="utf-8",
    )
    edges = backward_edges(src, "gate.knowledge.bad")
    assert "bad.py:4: layer 2 gate.knowledge.bad imports layer 8 gate.cli" in edges
    assert "bad.py:5: layer 2 gate.knowledge.bad imports layer 6 gate.report.text" in edges
    assert not any("gate.model" in e for e in edges)  # a forward edge is fine
    assert backward_edges(src, "gate.cli") == []


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def backward_edges(path: Path, me: str) -> list[str]:
    table = layer_table()
    mine = layer_of(me, table)
    assert mine is not None, f"{me} has no layer in docs/ARCHITECTURE.md"
    bad = []
    for line, mod in imports_of(path, me):
        if mod != "gate" and not mod.startswith("gate."):
            continue
        theirs = layer_of(mod, table)
        if theirs is not None and theirs > mine:
            bad.append(f"{path.name}:{line}: layer {mine} {me} imports layer {theirs} {mod}")
    return bad


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_backward_import(path: Path) -> None:
    bad = backward_edges(path, module_name(path))
    assert not bad, "\n".join(bad)


def _third_party_importers(top: str) -> set[str]:
    users = set()
    for path in _modules():
        for _line, mod in imports_of(path):
            if mod == top or mod.startswith(top + "."):
                users.add(str(path.relative_to(REPO)))
    return users


def test_no_module_imports_pyelftools() -> None:
    # gate/inspection/elf.py owns the ELF reader (issue 12): the dependency was dropped.
    assert _third_party_importers("elftools") == set()


def test_only_the_github_client_imports_pygithub() -> None:
    assert _third_party_importers("github") <= {"gate/outside/github.py"}


def test_the_boundary_imports_only_the_base_layer() -> None:
    # gate.outside is the low layer every stage may use (issue 13): it must not reach up.
    table = layer_table()
    for path in sorted((PACKAGE / "outside").rglob("*.py")):
        for line, mod in imports_of(path):
            if mod == "gate" or not mod.startswith("gate."):
                continue
            assert layer_of(mod, table) in (0, 1), f"{path.name}:{line} imports {mod}"


def test_only_the_boundary_opens_network_connections() -> None:
    # One GET for the whole gate: urllib.request and requests only in gate.outside. (The Docker
    # Engine client speaks http.client over a local unix socket: a local daemon, not a host.)
    for lib in ("urllib.request", "requests"):
        users = {u for u in _third_party_importers(lib) if not u.startswith("gate/outside/")}
        assert not users, f"{lib} imported outside gate/outside: {sorted(users)}"


def test_github_action_utils_is_not_used() -> None:
    # Its public API prints and writes files; the few escaping lines we need are owned by
    # gate/report/commands.py rather than imported from its private modules (issue 13).
    assert _third_party_importers("github_action_utils") == set()
