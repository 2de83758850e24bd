"""The action judges every pin in every event (issue 10): whatever runtime was scanned, and also
when acquiring it failed; each behind exact pin is annotated on its own line; the drift issue
lists the runtime and every pin. Run through `entrypoint.py` against a local GitHub API server."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.action.test_entrypoint import (  # noqa: F401  (runner is a fixture)
    HEAD,
    PR,
    commands_outside_stop_blocks,
    pr_payload,
    run_action,
    runner,
)
from tests.github.fake_github import FakeGitHub
from tests.test_pins_command import EXPECTED_FAILING, FIXTURE

ANNOTATION = re.compile(r"^::(error|warning|notice) file=([^,]+),line=(\d+),")


def _annotated(log: str) -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = {}
    for c in commands_outside_stop_blocks(log):
        m = ANNOTATION.match(c)
        if m:
            found[(m.group(2), int(m.group(3)))] = m.group(1)
    return found


def _sarif_places(path: str) -> dict[tuple[str, int], set[str]]:
    """(file, line) -> SARIF levels of the report the action wrote."""
    places: dict[tuple[str, int], set[str]] = {}
    for r in json.loads(Path(path).read_text())["runs"][0]["results"]:
        loc = r["locations"][0]["physicalLocation"]
        key = (loc["artifactLocation"]["uri"], loc["region"]["startLine"])
        places.setdefault(key, set()).add(r["level"])
    return places


def _workspace(runner_: tuple[Path, dict[str, str]]) -> tuple[Path, dict[str, str]]:
    ws, env = runner_
    shutil.rmtree(ws)
    shutil.copytree(FIXTURE, ws)
    # No runtime is reachable: the runtime input is a file that is no archive at all.
    (ws / "runtime.tar.gz").write_bytes(b"not a tarball")
    env["INPUT_PATH"] = "runtime.tar.gz"
    env["OTP_GATE_TODAY"] = "2026-08-01"
    return ws, env


def test_schedule_without_a_runtime_still_judges_every_pin(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _, env = _workspace(runner)
    with FakeGitHub() as gh:
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "schedule", {"schedule": "0 6 * * 1"})
        assert run.code == 2, run.log  # the acquire error is the worse of the two
        assert run.outputs["result"] == "error"
        cmds = commands_outside_stop_blocks(run.log)
        assert any(c.startswith("::error title=otp-hardening-gate") for c in cmds), cmds
        # Every exact pin that is behind is annotated on its line, and no other line is.
        annotated = _annotated(run.log)
        errors = {k for k, level in annotated.items() if level == "error"}
        assert errors == EXPECTED_FAILING
        assert set(annotated) - errors == {("docker-compose.yml", 3)}  # the floating pin's notice
        # Both are in the summary: the error and the pins.
        assert (
            "could not run" in run.summary and "| `mise.toml` | 2 | exact | 28.0.2 |" in run.summary
        )
        # The SARIF report still exists, with the pins' findings on their lines.
        places = _sarif_places(run.outputs["report-sarif"])
        assert {k for k, levels in places.items() if "error" in levels} == EXPECTED_FAILING
        assert set(places) - EXPECTED_FAILING == {("docker-compose.yml", 3)}
        # The drift issue lists the pins although no runtime was scanned.
        [issue] = gh.issues.values()
        assert "not scanned in this run" in issue["body"]
        assert "| `.tool-versions` | 1 | exact | 27.3.3 |" in issue["body"]


def test_pins_are_judged_apart_from_the_scanned_runtime(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
    debian_otp: Path,
) -> None:
    # The runtime is Debian's OTP 25; the repository pins 27.3.3: the pin is judged on its own.
    ws, env = runner
    (ws / "otp").symlink_to(debian_otp)
    (ws / ".tool-versions").write_text("erlang 27.3.3\n")
    (ws / "Dockerfile").write_text(
        "FROM hexpm/elixir:1.16.3-erlang-26.2.5-alpine-3.19.1 AS build\n"
        "RUN mix release\n"
        "FROM erlang:27.3.4.15-slim\n"
        "COPY --from=build /app/priv/static /app/priv/static\n"
    )
    env["INPUT_PATH"] = "otp/"
    env["INPUT_COMMENT"] = "never"
    env["OTP_GATE_TODAY"] = "2026-08-01"
    run = run_action(env, "pull_request", pr_payload())
    assert run.code == 1, run.log
    annotated = _annotated(run.log)
    assert annotated[(".tool-versions", 1)] == "error"
    assert annotated[("Dockerfile", 1)] == "error"  # the build stage's OTP 26, unsupported
    assert ("Dockerfile", 3) in annotated  # hardening findings: the final stage's FROM line
    # SARIF: the pins' findings beside the runtime's, each once.
    places = _sarif_places(run.outputs["report-sarif"])
    assert "error" in places[(".tool-versions", 1)] and "error" in places[("Dockerfile", 1)]
    assert ("Dockerfile", 3) in places
    results = json.loads(Path(run.outputs["report-sarif"]).read_text())["runs"][0]["results"]
    spots = [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in results
    ]  # fmt: skip
    assert len(spots) == len(set(spots)), spots
    assert "| `.tool-versions` | 1 | exact | 27.3.3 |" in run.summary


def test_pull_request_gets_one_suggestion_per_behind_pin(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _ws, env = _workspace(runner)
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        # The pull request changed these lines; GitHub refuses review comments elsewhere.
        gh.pulls_state.diff_lines[PR] = {(".tool-versions", 1), ("Dockerfile", 4), ("mise.toml", 2)}
        gh.pulls_state.pulls[PR] = {
            "number": PR,
            "state": "open",
            "title": "t",
            "body": "",
            "head": {"ref": "f", "sha": HEAD},
            "base": {"ref": "main", "sha": HEAD},
        }
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request", pr_payload())
        assert run.code == 2, run.log  # the acquire error; the pins are judged all the same
        comments = gh.pulls_state.review_comments[PR]
        assert [(c["path"], c["line"]) for c in comments] == [
            (".tool-versions", 1),
            ("Dockerfile", 4),
            ("mise.toml", 2),
        ]
        assert all(c["commit_id"] == HEAD for c in comments)
        assert "```suggestion\nARG OTP_VERSION=27.3.4.15\n```" in comments[1]["body"]
        assert "2 on lines outside the pull request's diff" in run.log  # ci.yml 15 and 39
        # A second run on the same pull request adds none.
        run_action(env, "pull_request", pr_payload())
        assert len(gh.pulls_state.review_comments[PR]) == 3


def test_schedule_opens_one_pin_bump_pull_request_and_a_read_only_token_warns(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    ws, env = _workspace(runner)
    env["INPUT_DRIFT-PR"] = "true"
    env["INPUT_DRIFT-ISSUE"] = "false"
    files = {
        p.relative_to(ws).as_posix(): p.read_text()
        for p in ws.rglob("*")
        if p.is_file() and p.suffix != ".gz"
    }
    with FakeGitHub() as gh:
        gh.pulls_state.branches["main"] = gh.pulls_state.commit(None, files)
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "schedule", {"schedule": "0 6 * * 1"})
        assert run.code == 2, run.log
        [pr] = gh.pulls_state.pulls.values()
        bumped = gh.pulls_state.files_of("otp-gate/pin-bump")
        assert bumped[".tool-versions"].startswith("erlang 27.3.4.15\n")
        assert "ARG OTP_VERSION=27.3.4.15\n" in bumped["Dockerfile"]
        assert 'erlang = "28.5.0.4"' in bumped["mise.toml"]
        assert bumped["docker-compose.yml"] == files["docker-compose.yml"]  # floating: untouched
        assert "| `mise.toml` | 2 | 28.0.2 | 28.5.0.4 |" in pr["body"]
        run_action(env, "schedule", {"schedule": "0 6 * * 1"})
        assert len(gh.pulls_state.pulls) == 1  # updated, never a second one
    with FakeGitHub() as gh:
        gh.pulls_state.branches["main"] = gh.pulls_state.commit(None, files)
        gh.read_only()
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "schedule", {"schedule": "0 6 * * 1"})
        assert run.code == 2  # the same verdict
        warnings = [c for c in commands_outside_stop_blocks(run.log) if c.startswith("::warning")]
        assert any("pin-bump pull request" in w for w in warnings), warnings


def test_matrix_reports_give_one_comment_one_summary_and_one_drift_issue(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    from gate.report.json_report import render_many
    from tests.github.reports import make_report, make_verdict

    ws, env = runner
    env["OTP_GATE_TODAY"] = "2026-08-01"
    (ws / ".tool-versions").write_text("erlang 27.3.4.15\n")
    for arch, version, latest, failing in (
        ("amd64", "27.3.4.15", "27.3.4.15", False),
        ("arm64", "27.3.3", "27.3.4.15", True),
    ):
        report = make_report(version, latest, supported=True, target=f"my-app:{arch}")
        out = ws / "reports" / f"otp-gate-{arch}" / "report.json"
        out.parent.mkdir(parents=True)
        out.write_text(render_many([(report, make_verdict(report, failing=failing))]))
    env["INPUT_REPORTS"] = "reports/**/*.json"
    env["INPUT_COMMENT"] = "always"
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request", pr_payload())
        assert run.code == 1, run.log
        assert run.outputs["result"] == "fail"
        assert "(2 runtimes)" in run.summary and "`my-app\\:arm64`" in run.summary
        assert "| `.tool-versions` | 1 | exact | 27.3.4.15 |" in run.summary
        [comment] = gh.bot_comments(PR)
        assert "`my-app\\:amd64`" in comment["body"] and "`my-app\\:arm64`" in comment["body"]
        run_action(env, "pull_request", pr_payload())
        assert len(gh.bot_comments(PR)) == 1  # one sticky comment, edited
        run = run_action(env, "schedule", {"schedule": "0 6 * * 1"})
        assert run.code == 1
        [issue] = [i for i in gh.issues.values() if i["number"] != PR]
        assert "`my-app\\:arm64` has OTP 27.3.3" in issue["body"]
        assert "`my-app\\:amd64` has OTP 27.3.4.15, the newest patch" in issue["body"]
    env["INPUT_REPORTS"] = "nothing/*.json"
    run = run_action(env, "push", {})
    assert run.code == 2 and "no file matches" in run.log
