"""The README documents the commands and docs/json-report.md the JSON contract: keep them equal to the code."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from gate.cli import build_parser
from gate.config import Config
from gate.model.common import Status
from gate.model.runtime import Role
from gate.policy import evaluate
from gate.report.json_report import document
from tests.report import file_report, runtime_report

README = Path(__file__).resolve().parents[1] / "README.md"
JSON_DOC = README.parent / "docs" / "json-report.md"


def readme_json_example() -> dict[str, Any]:
    text = JSON_DOC.read_text(encoding="utf-8")
    block = text.split("```jsonc\n", 1)[1].split("```", 1)[0]
    # Drop `  // comments` (a comment starts with whitespace, `//`, a space; URLs never do).
    stripped = "\n".join(re.sub(r"\s+// .*$|^\s*//.*$", "", line) for line in block.splitlines())
    return json.loads(stripped)  # type: ignore[no-any-return]


def keys(d: dict[str, Any]) -> set[str]:
    return set(d)


def test_readme_json_example_has_every_field() -> None:
    example = readme_json_example()
    report = runtime_report(
        (file_report("erts-13.1.5/bin/beam.smp", role=Role.EMULATOR, bind_now=Status.FAIL),)
    )
    real = document(report, evaluate(report, Config(), date(2026, 5, 1)))
    assert keys(example) == keys(real)
    assert keys(example["otp"]) == keys(real["otp"])
    assert keys(example["otp"]["data"]) == keys(real["otp"]["data"])
    assert keys(example["origin"]) == keys(real["origin"])
    assert keys(example["files"][0]) == keys(real["files"][0])
    assert keys(example["files"][0]["checks"]["bind-now"]) == {"status", "evidence"}
    assert keys(example["summary"]) == keys(real["summary"])
    assert keys(example["verdict"]) == keys(real["verdict"])
    assert keys(example["verdict"]["reasons"][0]) == keys(real["verdict"]["reasons"][0])


def test_readme_names_every_option() -> None:
    text = README.read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[attr-defined]
        assert f"otp-gate {name}" in text
        for action in command._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in text, f"README does not mention {name} {opt}"


def test_every_import_in_the_docs_python_examples_exists() -> None:
    # The examples are what integrators copy: a name moved in the code must move there too.
    import importlib

    docs = [README, *sorted((README.parent / "docs").glob("*.md"))]
    checked = 0
    for doc in docs:
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            for module, names in re.findall(r"^from (gate[\w.]*) import ([\w, ]+)$", block, re.M):
                loaded = importlib.import_module(module)
                for name in (n.strip() for n in names.split(",")):
                    assert hasattr(loaded, name), f"{doc.name}: {module} has no {name}"
                    # Where it is defined, not a name that module happens to import.
                    home = getattr(getattr(loaded, name), "__module__", module)
                    assert home == module, f"{doc.name}: import {name} from {home}"
                    checked += 1
    assert checked >= 5  # the examples exist, and this test reads them
