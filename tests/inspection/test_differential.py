"""Differential test: the gate and Debian's `hardening-check` agree on every property both check,
except the deviations documented (with their reason) in docs/checks.md."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.inspection.checks import evaluate_checks
from gate.inspection.elf import is_elf, read_facts
from gate.model.elf import ElfFacts, ElfKind, Libc

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("hardening-check") is None,
    reason="hardening-check is not installed (apt-get install devscripts)",
)

# hardening-check's property name -> our check id, and its answers -> our statuses.
PROPERTIES = {
    "Position Independent Executable": "pie",
    "Stack protected": "stack-protector",
    "Fortify Source functions": "fortify",
    "Read-only relocations": "relro",
    "Immediate binding": "bind-now",
    "Stack clash protection": "stack-clash",
    "Control flow integrity": "cet",
}


def _their_status(answer: str) -> str:
    if answer.startswith("yes"):
        return "pass"
    if answer.startswith("unknown"):
        return "unknown"
    if answer.startswith("no, regular shared library"):
        return "n/a"
    return "fail"


def run_hardening_check(files: list[Path]) -> dict[Path, dict[str, str]]:
    """One `hardening-check` run over all files, parsed into {file: {check id: status}}."""
    proc = subprocess.run(
        ["hardening-check", *map(str, files)], capture_output=True, text=True, check=False,
        env={"LANG": "C", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    out: dict[Path, dict[str, str]] = {}
    current: dict[str, str] | None = None
    names = {str(f): f for f in files}
    for line in proc.stdout.splitlines():
        if not line.startswith(" ") and line.endswith(":") and line[:-1] in names:
            current = out.setdefault(names[line[:-1]], {})
        elif current is not None and ": " in line:
            prop, answer = line.strip().split(": ", 1)
            if prop in PROPERTIES:
                current[PROPERTIES[prop]] = _their_status(answer)
    assert set(out) == set(files), proc.stderr[-2000:]
    return out


def deviation(facts: ElfFacts, check: str, ours: str, theirs: str) -> str | None:
    """The documented reason the two tools may disagree here, if any."""
    static = facts.kind in (ElfKind.STATIC_EXECUTABLE, ElfKind.STATIC_PIE)
    if check == "pie" and facts.kind == ElfKind.STATIC_PIE and (ours, theirs) == ("pass", "n/a"):
        return "static-pie"
    if check == "stack-protector" and ours == "unknown" and theirs == "fail":
        if static:
            return "static-canary"
        if facts.stack_chk_defined:
            return "libc-defined"
        if facts.canary_frames == 0 and facts.address_taken_frames == 0:
            return "no-canary-needed"
    if check == "fortify":
        if facts.libc == Libc.MUSL and ours == "n/a":
            return "musl-fortify"
        if static and facts.fortified_defined and (ours, theirs) == ("pass", "unknown"):
            return "libc-defined"
    if check == "bind-now" and facts.kind == ElfKind.STATIC_EXECUTABLE and ours == "n/a":
        return "static-bind-now"
    if (
        check == "stack-clash"
        and (ours, theirs) == ("pass", "unknown")
        and facts.stack_clash_probes
    ):
        return "stack-clash-fixed-frame"
    no_note = facts.gnu_property is None or not facts.gnu_property.x86_feature_1
    if check == "cet" and (ours, theirs) == ("unknown", "fail") and no_note:
        return "cet-no-note"
    if check == "cet" and ours == "n/a" and facts.machine not in ("x86_64", "i386"):
        return "cet-not-x86"
    return None


def compare(files: list[Path]) -> tuple[list[str], set[str]]:
    theirs_all = run_hardening_check(files)
    disagreements: list[str] = []
    used: set[str] = set()
    for path in files:
        facts = read_facts(path)
        ours = {r.id: r.status.value for r in evaluate_checks(facts)}
        for check, theirs in theirs_all[path].items():
            if ours[check] == theirs:
                continue
            why = deviation(facts, check, ours[check], theirs)
            if why is None:
                disagreements.append(
                    f"{path.name}: {check}: gate {ours[check]}, hardening-check {theirs}"
                )
            else:
                used.add(why)
    return disagreements, used


def _documented() -> str:
    return (REPO / "docs" / "checks.md").read_text()


def test_fixtures_agree_with_hardening_check(elf_fixtures: dict[str, Path | str]) -> None:
    # hardening-check does not handle relocatable objects ("not a known ELF type").
    files = [p for name, p in elf_fixtures.items() if isinstance(p, Path) and name != "object"]
    disagreements, used = compare(files)
    assert disagreements == []
    # Every deviation we rely on is written down; and these fixtures show the main ones.
    docs = _documented()
    for why in used:
        assert f"`{why}`" in docs, f"deviation {why} is not documented in docs/checks.md"
    assert {
        "static-pie",
        "static-canary",
        "no-canary-needed",
        "cet-no-note",
        "musl-fortify",
    } <= used


def test_debian_otp_agrees_with_hardening_check(debian_otp: Path) -> None:
    unique: dict[str, Path] = {}
    for p in sorted(debian_otp.rglob("*")):
        if p.is_file() and not p.is_symlink() and is_elf(p):
            unique.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), p)
    disagreements, used = compare(list(unique.values()))
    assert disagreements == []
    docs = _documented()
    for why in used:
        assert f"`{why}`" in docs
