"""`otp-gate pins`: every OTP pin of a repository judged with release data only (issue 10).

Offline, on a fixed day, against the bundled snapshot (as of 2026-07-28: newest 27.3.4.15 and
28.5.0.4; supported lines 29, 28, 27), so the expected statuses never depend on the wall clock.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gate.cli import main
from gate.inspection.pins import find_pins
from gate.knowledge.pin_status import judge_pin, resolve
from gate.knowledge.snapshot import load_snapshot
from gate.model.pin import Pin, PinKind, PinStatus

FIXTURE = Path(__file__).parent / "fixtures" / "pins" / "phoenix_app"
ENV = {"OTP_GATE_TODAY": "2026-08-01"}

# (path, line) of every exact pin that is behind or on an unsupported line in the fixture.
EXPECTED_FAILING = {
    (".github/workflows/ci.yml", 15),  # otp: '27.0' with version-type strict
    (".github/workflows/ci.yml", 17),  # otp: "26.2.5.21" (line 26 is unsupported)
    (".github/workflows/ci.yml", 39),  # container: hexpm/elixir:...-erlang-27.3.3-...
    (".tool-versions", 1),
    ("Dockerfile", 4),  # ARG OTP_VERSION=27.1.2, which reaches the builder's FROM
    ("elixir_buildpack.config", 2),
    ("mise.toml", 2),
}


def _json(
    capsys: pytest.CaptureFixture[str], *argv: str, env: dict[str, str] = ENV
) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["pins", *argv, "--offline", "--format", "json"], env)
    return code, json.loads(capsys.readouterr().out)


def test_every_behind_exact_pin_fails_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _json(capsys, str(FIXTURE))
    assert code == 1
    errors = {(r["path"], r["line"]) for r in doc["verdict"]["reasons"] if r["severity"] == "error"}
    assert errors == EXPECTED_FAILING
    # No line that pins nothing is named: each reason's line holds the version it talks about.
    by_where = {(p["path"], p["line"]): p for p in doc["pins"]}
    for r in doc["verdict"]["reasons"]:
        line = (FIXTURE / r["path"]).read_text().splitlines()[r["line"] - 1]
        assert by_where[(r["path"], r["line"])]["version"] in line
        assert not any(word in line for word in ("postgres", "nodejs", "debian:"))


def test_statuses_versions_and_advisories(capsys: pytest.CaptureFixture[str]) -> None:
    _, doc = _json(capsys, str(FIXTURE))
    pins = {(p["path"], p["line"]): p for p in doc["pins"]}
    tool = pins[(".tool-versions", 1)]
    assert (tool["status"], tool["latest_patch"], tool["patches_behind"]) == (
        "behind",
        "27.3.4.15",
        16,
    )
    assert tool["text"] == "erlang 27.3.3" and tool["exact"] is True
    assert tool["advisories"] and all(a["fixed_otp"] for a in tool["advisories"])
    assert pins[("elixir_buildpack.config", 2)]["status"] == "unsupported"
    compose = pins[("docker-compose.yml", 3)]
    assert (compose["exact"], compose["resolved"], compose["status"]) == (
        False,
        "27.3.4.15",
        "current",
    )
    assert pins[("rebar.config", 2)]["status"] == "floor"
    # The builder stage produces the shipped runtime (the runner copies the release from it).
    assert pins[("Dockerfile", 4)]["produces_runtime"] is True
    floating = [r for r in doc["verdict"]["reasons"] if r["code"] == "floating-pin"]
    assert [(r["path"], r["severity"]) for r in floating] == [("docker-compose.yml", "note")]


def test_sarif_and_markdown_point_at_the_pins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pins", str(FIXTURE), "--offline", "--format", "sarif"], ENV) == 1
    sarif = json.loads(capsys.readouterr().out)
    where = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif["runs"][0]["results"]
        if r["level"] == "error"
    }
    assert where == EXPECTED_FAILING
    assert main(["pins", str(FIXTURE), "--offline", "--format", "markdown"], ENV) == 1
    md = capsys.readouterr().out
    assert "| `.tool-versions` | 1 | exact | 27.3.3 |" in md and "behind by 16" in md


def test_grace_days_turn_a_fresh_patch_into_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".tool-versions").write_text("erlang 28.5.0.3\n")
    # 28.5.0.4 was released on 2026-07-28: four days later, inside a 7-day grace window.
    code, doc = _json(
        capsys, str(tmp_path), "--grace-days", "7", env={"OTP_GATE_TODAY": "2026-08-01"}
    )
    assert code == 0
    [reason] = doc["verdict"]["reasons"]
    assert reason["severity"] == "warning" and "grace" in reason["message"]
    code, _ = _json(
        capsys, str(tmp_path), "--grace-days", "7", env={"OTP_GATE_TODAY": "2026-08-10"}
    )
    assert code == 1


def test_floating_pins_never_fail_and_policies_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".tool-versions").write_text("erlang 27.3.3\n")
    (tmp_path / "Dockerfile").write_text("FROM erlang:25\n")  # floating, even on a dead line
    code, doc = _json(capsys, str(tmp_path), "--version-policy", "supported")
    assert code == 0  # behind is a note under `supported`
    assert {r["severity"] for r in doc["verdict"]["reasons"]} == {"note"}
    code, doc = _json(capsys, str(tmp_path), "--version-policy", "off")
    assert (code, doc["verdict"]["reasons"]) == (0, [])


def test_no_pins_passes_and_a_missing_dir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pins", str(tmp_path), "--offline"], ENV) == 0
    assert "no OTP pin found" in capsys.readouterr().out
    assert main(["pins", str(tmp_path / "nope"), "--offline"], ENV) == 2
    assert "not a directory" in capsys.readouterr().err


def test_resolve_and_judge() -> None:
    index = load_snapshot()
    releases = index.releases()
    loose = Pin("w", 1, "27.3", False, PinKind.WORKFLOW)
    assert str(resolve(loose, releases)) == "27.3.4.15"
    assert str(resolve(Pin("w", 1, "28", False, PinKind.WORKFLOW), releases)) == "28.5.0.4"
    assert resolve(Pin("w", 1, "19.9", False, PinKind.WORKFLOW), releases) is None
    from datetime import date

    unknown = judge_pin(
        Pin("t", 1, "27.3.99", True, PinKind.TOOL_VERSIONS), index, (), date(2026, 8, 1)
    )
    assert unknown.status == PinStatus.UNKNOWN and "not a published release" in unknown.note
    current = judge_pin(
        Pin("t", 1, "27.3.4.15", True, PinKind.TOOL_VERSIONS), index, (), date(2026, 8, 1)
    )
    assert (current.status, current.patches_behind) == (PinStatus.CURRENT, 0)


def test_fixture_pins_are_found_where_they_are(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    pins = find_pins(repo)
    assert {(p.path, p.line) for p in pins} >= EXPECTED_FAILING
    assert all(p.text for p in pins)
