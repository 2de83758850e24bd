"""The hostile-input campaign (issue 14): hundreds of broken or hostile inputs, each run by the real
CLI under RLIMIT_AS and a time limit. Every one must end within seconds and a few hundred MB,
with exit 1 or 2, no traceback, never exit 0, and no forged workflow command in its output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.inputs import Campaign

REPO = Path(__file__).resolve().parents[2]
WORST_SECONDS = 10.0
WORST_RSS_MB = 400.0
_COMMAND = re.compile(r"^\s*::|##\[")  # what the runner would take as a workflow command


def _run(cases: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    spec = tmp / "cases.json"
    spec.write_text(json.dumps(cases), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.harness", str(spec), str(tmp / "results")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _problems(case: dict[str, Any], result: dict[str, Any]) -> list[str]:
    err = Path(result["stderr"]).read_text(encoding="utf-8", errors="replace")
    out = Path(result["stdout"]).read_text(encoding="utf-8", errors="replace")
    found = []
    if result["exit"] not in case["expect"]:
        found.append(f"exit {result['exit']} (expected {case['expect']}): {err[-300:]!r}")
    if "Traceback" in err or "internal error" in err:
        found.append(f"traceback or internal error: {err[-500:]!r}")
    if result["seconds"] > WORST_SECONDS:
        found.append(f"took {result['seconds']} s")
    if result["max_rss_mb"] > WORST_RSS_MB:
        found.append(f"peak RSS {result['max_rss_mb']} MB")
    if case.get("no_commands"):
        lines = re.split(r"\r\n|\r|\n", out + err)
        forged = [line for line in lines if _COMMAND.search(line)]
        if forged:
            found.append(f"forged workflow command: {forged[0][:120]!r}")
    return found


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the harness forks")
def test_hostile_input_campaign(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path / "inputs")
    cases = [
        # The control: a clean run that passes, so an exit 0 is seen when it happens.
        campaign.case(
            "control/pass", ["scan", str(campaign.tree), "--offline", "--fail-on", "never"], (0,)
        ),
        *campaign.tarballs(),
        *campaign.configs(),
        *campaign.names(),
        *campaign.caches(),
        *campaign.images(),
        *campaign.elves(),
    ]
    results = _run(cases, tmp_path)
    assert len(results) == len(cases)
    failures = {
        case["id"]: found
        for case, result in zip(cases, results, strict=True)
        if (found := _problems(case, result))
    }
    worst_time = max(results, key=lambda r: r["seconds"])
    worst_rss = max(results, key=lambda r: r["max_rss_mb"])
    # The campaign's figures, for the record (pytest -s shows them).
    print(
        f"\ncampaign: {len(cases)} runs; worst time {worst_time['seconds']} s ({worst_time['id']}); "
        f"worst peak RSS {worst_rss['max_rss_mb']} MB ({worst_rss['id']}); "
        f"exit codes {sorted({r['exit'] for r in results})}"
    )
    shutil.rmtree(tmp_path / "results", ignore_errors=True)
    assert not failures, json.dumps(failures, indent=1)[:6000]


# The ELF reader's bounds (issue 14 item 1) and its verdict on a broken e_type (item 4), the
# engine's part, through the same harness: 1 GiB sparse files, with room to map them.
def test_sparse_elf_files_are_bounded(tmp_path: Path) -> None:
    from tests.fuzz.inputs import sparse_elf_cases

    cases = list(sparse_elf_cases(Campaign(tmp_path / "inputs")))
    results = _run(cases, tmp_path)
    failures = {
        case["id"]: found
        for case, result in zip(cases, results, strict=True)
        if (found := _problems(case, result))
    }
    print(f"\nsparse ELF: {[(r['id'], r['exit'], r['seconds'], r['max_rss_mb']) for r in results]}")
    assert not failures, json.dumps(failures, indent=1)[:3000]
