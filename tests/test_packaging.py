"""Packaging hygiene (issue 9): one version number, an SPDX license, exact tool pins, and a lock file
made by a tool that pins every runtime dependency the image needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import gate

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = (REPO / "requirements.lock").read_text(encoding="utf-8")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_one_version_number() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "gate.__version__" and re.fullmatch(r"\d+\.\d+\.\d+", gate.__version__)


def test_spdx_license_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert all((REPO / f).is_file() for f in project["license-files"])
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")[:200]


def test_lint_and_test_tools_are_pinned_exactly() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for requirement in [*extras["test"], *extras["lint"]]:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", requirement), requirement


def test_lock_is_generated_and_pins_every_runtime_dependency_with_hashes() -> None:
    assert "by the following command:" in LOCK and "pip-compile --generate-hashes" in LOCK
    pins = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", LOCK, re.MULTILINE))
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert _name(requirement) in pins, requirement
    # Each pin carries at least one hash (pip's --require-hashes refuses anything else).
    blocks = re.split(r"^(?=[a-z0-9][a-z0-9._-]*==)", LOCK, flags=re.MULTILINE)[1:]
    assert len(blocks) == len(pins)
    assert all("--hash=sha256:" in block for block in blocks)
