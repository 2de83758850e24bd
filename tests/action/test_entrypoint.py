"""`entrypoint.py` run as a subprocess with the runner's environment, against a real OTP tree and a
local GitHub REST server: inputs, event payloads, outputs, summary, comment requests, exit codes, and
a scanned tree whose file names try to inject workflow commands (asserted on the raw log)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.github.comment import COMMENT_LIMIT
from tests.github.fake_github import FakeGitHub

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "entrypoint.py"
PR = 42
HEAD = "c0ffee" + "0" * 34
TODAY = "2026-11-29"


@dataclass
class Run:
    code: int
    log: str  # stdout and stderr as the runner would show them
    outputs: dict[str, str]
    summary: str
    env: dict[str, str]


def parse_file_commands(text: str) -> dict[str, str]:
    """Read `name<<delimiter` records the way the runner does."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line:
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A workspace, the runner's file-command files, RUNNER_TEMP and a hostile PATH."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    fc = tmp_path / "file_commands"
    fc.mkdir()
    temp = tmp_path / "runner_temp"
    temp.mkdir()
    evil = tmp_path / "evil-bin"
    evil.mkdir()
    # A PATH that shadows common tools: the entry point must reset PATH before anything runs.
    for tool in ("docker", "dpkg", "apt-get", "tar", "uname", "git"):
        script = evil / tool
        script.write_text(f"#!/bin/sh\necho EVIL-{tool} >> {tmp_path}/evil.log\nexit 0\n")
        script.chmod(0o755)
    (fc / "output").write_text("")
    (fc / "summary").write_text("")
    env = {
        "PATH": f"{evil}:/usr/bin:/bin",
        "HOME": str(tmp_path / "not-home"),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(ws),
        "GITHUB_OUTPUT": str(fc / "output"),
        "GITHUB_STEP_SUMMARY": str(fc / "summary"),
        "RUNNER_TEMP": str(temp),
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "1234",
        "GITHUB_WORKFLOW": "ci",
        "GITHUB_JOB": "gate",
        "GITHUB_SHA": "m" * 40,
        "OTP_GATE_TODAY": TODAY,
        "OTP_GATE_WRITE_SPACING": "0",
        "INPUT_OFFLINE": "true",
        "INPUT_GITHUB-TOKEN": "ghs_runner_token",
    }
    yield ws, env


def run_action(
    env: dict[str, str], event: str | None = None, payload: dict[str, object] | None = None
) -> Run:
    env = dict(env)
    if event is not None:
        env["GITHUB_EVENT_NAME"] = event
        p = Path(env["RUNNER_TEMP"]).parent / "event.json"
        p.write_text(json.dumps(payload or {}))
        env["GITHUB_EVENT_PATH"] = str(p)
    proc = subprocess.run(
        [sys.executable, "-E", "-s", str(ENTRYPOINT)],
        cwd=env["GITHUB_WORKSPACE"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    log = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    outputs = parse_file_commands(Path(env["GITHUB_OUTPUT"]).read_text())
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    return Run(proc.returncode, log, outputs, summary, env)


def pr_payload(fork: bool = False) -> dict[str, object]:
    head_repo = "mallory/app" if fork else "acme/app"
    return {
        "action": "synchronize",
        "number": PR,
        "pull_request": {
            "number": PR,
            "head": {"sha": HEAD, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"sha": "b" * 40, "ref": "main", "repo": {"full_name": "acme/app"}},
        },
        "repository": {"full_name": "acme/app"},
    }


@pytest.fixture
def debian_ws(runner: tuple[Path, dict[str, str]], debian_otp: Path) -> tuple[Path, dict[str, str]]:
    ws, env = runner
    os.symlink(debian_otp, ws / "otp")  # the path input may name a link the workspace holds
    (ws / ".tool-versions").write_text("elixir 1.14.0\nerlang 25.2.3\n")
    env["INPUT_PATH"] = "otp/"
    return ws, env


# -- the log, read like the runner reads it -----------------------------------------------------
def commands_outside_stop_blocks(log: str) -> list[str]:
    """Every line the runner would process as a command (`::cmd ...::` or `##[cmd]`)."""
    found: list[str] = []
    token: str | None = None
    for raw in log.split("\n"):
        line = raw.lstrip()
        if token is not None:
            if line.rstrip("\r") == f"::{token}::":
                token = None
            continue
        m = re.match(r"::stop-commands::(.+)$", line.rstrip("\r"))
        if m:
            token = m.group(1)
            continue
        if line.startswith("::") or line.startswith("##["):
            found.append(line)
    assert token is None, "a stop-commands block was never closed"
    return found


def test_pull_request_failing_gate_end_to_end(debian_ws: tuple[Path, dict[str, str]]) -> None:
    ws, env = debian_ws
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request", pr_payload())
        assert run.code == 1, run.log
        # Outputs
        assert run.outputs["result"] == "fail"
        assert run.outputs["otp-version"] == "25.2.3"
        assert re.fullmatch(r"25\.3\.\d+(\.\d+)*", run.outputs["latest-patch"])
        assert int(run.outputs["findings"]) > 0
        temp = Path(env["RUNNER_TEMP"])
        assert run.outputs["report-json"] == f"{temp}/otp-gate/report.json"
        doc = json.loads(Path(run.outputs["report-json"]).read_text())
        assert doc  # a real JSON report
        sarif = json.loads(Path(run.outputs["report-sarif"]).read_text())
        assert sarif["version"] == "2.1.0"
        assert not any(p.name.startswith("report") for p in ws.iterdir()), (
            "nothing written to the workspace"
        )
        # The summary: verdict, version line, table
        assert "25.2.3" in run.summary and "stack-protector" in run.summary
        assert len(run.summary.encode()) < 1024 * 1024
        # The sticky comment: one POST with the token, carrying the report
        [post] = gh.requests_to("POST", rf"/repos/acme/app/issues/{PR}/comments")
        assert post.headers["authorization"] == "token ghs_runner_token"
        body = post.json()["body"]
        assert body.startswith("<!-- otp-hardening-gate:sticky:") and len(body) <= COMMENT_LIMIT
        assert "25.2.3" in body
        # Annotations: the version finding on the .tool-versions line
        cmds = commands_outside_stop_blocks(run.log)
        assert any(c.startswith("::error file=.tool-versions,line=2,") for c in cmds), cmds
        assert sum(c.startswith("::error") for c in cmds) <= 10
        assert sum(c.startswith("::warning") for c in cmds) <= 10

        # A second run edits the same comment instead of adding one.
        Path(env["GITHUB_OUTPUT"]).write_text("")
        run2 = run_action(env, "pull_request", pr_payload())
        assert run2.code == 1
        assert len(gh.requests_to("POST", r".*/comments")) == 1
        assert len(gh.bot_comments(PR)) == 1


def test_hostile_path_is_reset_before_anything_runs(
    debian_ws: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = debian_ws
    env["INPUT_COMMENT"] = "never"
    run = run_action(env, "push", {"ref": "refs/heads/main"})
    assert run.code == 1, run.log
    assert not (tmp_path / "evil.log").exists()


def test_fork_pull_request_read_only_token_is_a_warning(
    debian_ws: tuple[Path, dict[str, str]],
) -> None:
    _, env = debian_ws
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        gh.read_only()
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request", pr_payload(fork=True))
    assert run.code == 1, run.log  # the verdict, not an error
    assert run.outputs["result"] == "fail"
    warnings = [c for c in commands_outside_stop_blocks(run.log) if c.startswith("::warning")]
    assert any("forks get a read-only token" in w for w in warnings), warnings


def test_same_repo_403_names_the_permissions_line(debian_ws: tuple[Path, dict[str, str]]) -> None:
    _, env = debian_ws
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        gh.read_only()
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request", pr_payload())
    assert run.code == 1
    assert "permissions: pull-requests: write" in run.log


def test_passing_gate_with_on_failure_comment_posts_nothing(
    debian_ws: tuple[Path, dict[str, str]],
) -> None:
    _, env = debian_ws
    env["INPUT_FAIL-ON"] = "never"
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request", pr_payload())
        assert run.code == 0, run.log
        assert run.outputs["result"] == "pass"
        assert gh.writes() == []


def test_pull_request_target_with_check_run(debian_ws: tuple[Path, dict[str, str]]) -> None:
    _, env = debian_ws
    env["INPUT_CHECK-RUN"] = "true"
    env["INPUT_COMMENT"] = "always"
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "pull_request_target", pr_payload(fork=True))
        assert run.code == 1, run.log
        [create] = gh.requests_to("POST", r"/repos/acme/app/check-runs")
        data = create.json()
        assert (
            data["head_sha"] == HEAD
            and data["conclusion"] == "failure"
            and data["name"] == "otp-hardening-gate"
        )
        assert any(a["path"] == ".tool-versions" for a in data["output"]["annotations"])
        assert len(gh.bot_comments(PR)) == 1


def test_schedule_opens_then_updates_one_drift_issue(
    debian_ws: tuple[Path, dict[str, str]],
) -> None:
    _, env = debian_ws
    with FakeGitHub() as gh:
        env["GITHUB_API_URL"] = gh.url
        run = run_action(env, "schedule", {"schedule": "0 6 * * 1"})
        assert run.code == 1, run.log
        [issue] = gh.issues.values()
        assert (
            issue["labels"][0]["name"] == "otp-gate-drift"
            and "<!-- otp-hardening-gate:drift -->" in issue["body"]
        )
        assert ".tool-versions" in issue["body"]
        run_action(env, "workflow_dispatch", {"inputs": {}})
        assert len(gh.issues) == 1
        assert gh.requests_to("POST", r"/repos/acme/app/issues/\d+/comments") == []


def test_bad_input_is_exit_2_with_a_summary(runner: tuple[Path, dict[str, str]]) -> None:
    _, env = runner
    env["INPUT_FAIL-ON"] = "sometimes"
    run = run_action(env, "push", {})
    assert run.code == 2
    assert run.outputs == {"result": "error"}
    assert "input fail-on" in run.summary and "error, warning, never" in run.summary
    assert "```yaml" in run.summary and "    fail-on: error" in run.summary  # the fix, as YAML
    [err] = [c for c in commands_outside_stop_blocks(run.log) if c.startswith("::error")]
    assert "input fail-on" in err
    assert "Traceback" not in run.log


def test_missing_path_is_exit_2(runner: tuple[Path, dict[str, str]]) -> None:
    _, env = runner
    env["INPUT_PATH"] = "no/such/runtime"
    run = run_action(env, "push", {})
    assert run.code == 2, run.log
    assert "no/such/runtime" in run.summary


@pytest.mark.parametrize("value", ["n" * 300, "d/" * 2100 + "x"])
def test_overlong_path_input_is_a_usage_error(
    runner: tuple[Path, dict[str, str]], value: str
) -> None:
    # A name over 255 bytes or a path over 4,096 made Path.exists() raise: an internal error.
    _, env = runner
    env["INPUT_PATH"] = value
    run = run_action(env, "push", {})
    assert run.code == 2, run.log
    [err] = [c for c in commands_outside_stop_blocks(run.log) if c.startswith("::error")]
    assert "input path: " in err and "File name too long" in err, err
    assert "internal error" not in run.log and "Traceback" not in run.log
    assert len(err) < 1000  # the hostile path is cut, not echoed whole


HOSTILE_NAMES = [
    "evil\n::error title=INJECTED::pwned.so",
    "##[error]INJECTED.so",
    "%0A::warning::INJECTED%25.so",
    "a,b:c::set-output name=result::pass.so",
    "\r::notice::INJECTED-cr.so",
]


def test_hostile_file_names_inject_no_workflow_command(
    runner: tuple[Path, dict[str, str]], debian_otp: Path
) -> None:
    ws, env = runner
    tree = ws / "rel"
    (tree / "releases" / "25").mkdir(parents=True)
    (tree / "releases" / "25" / "OTP_VERSION").write_text("25.2.3\n")
    # Only hostile names in the tree, so they are what the annotations' file lists name.
    hostile_dir = tree / "lib" / "crypto-5.1.4" / "priv" / "lib"
    hostile_dir.mkdir(parents=True)
    crypto = next(debian_otp.glob("lib/crypto-*/priv/lib/crypto.so"))
    for name in HOSTILE_NAMES:
        shutil.copy(crypto, hostile_dir / name)
    # A truncated ELF file: an inspect error whose annotation names the file on its own.
    (hostile_dir / "trunc\n::error::INJECTED-trunc.so").write_bytes(
        b"\x7fELF\x02\x01\x01" + b"\0" * 20
    )
    env["INPUT_PATH"] = "rel"
    for fmt in ("text", "markdown", "json", "sarif"):
        env["INPUT_FORMAT"] = fmt
        Path(env["GITHUB_OUTPUT"]).write_text("")
        run = run_action(env, "push", {"ref": "refs/heads/main"})
        assert run.code == 1, run.log
        assert "INJECTED" in run.log  # the names are reported, in annotations too...
        assert sum("INJECTED" in c for c in commands_outside_stop_blocks(run.log)) >= 2
        for cmd in commands_outside_stop_blocks(run.log):  # ...but never as a command
            assert "INJECTED" not in cmd.split("::", 2)[1], cmd
            assert re.match(r"::(error|warning|notice)( [^:]*)?::", cmd), cmd
            assert not cmd.startswith("##[")
        assert run.outputs["result"] == "fail"
        assert "\n::" not in run.summary.replace("\n::: ", "")


def test_unwritable_output_file_is_exit_2_naming_it(
    debian_ws: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = debian_ws
    env["INPUT_COMMENT"] = "never"
    missing = tmp_path / "gone" / "output"
    env["GITHUB_OUTPUT"] = str(missing)
    proc = subprocess.run(
        [sys.executable, "-E", "-s", str(ENTRYPOINT)], cwd=env["GITHUB_WORKSPACE"], env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [err] = [c for c in commands_outside_stop_blocks(proc.stdout) if c.startswith("::error")]
    assert "GITHUB_OUTPUT" in err and "internal error" not in err
    # The summary was written first, before the failing sink.
    assert "25.2.3" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def test_two_gate_steps_on_one_pr_keep_two_comments(debian_ws: tuple[Path, dict[str, str]]) -> None:
    ws, env = debian_ws
    os.symlink(ws / "otp", ws / "otp2")
    env["INPUT_COMMENT"] = "always"
    with FakeGitHub() as gh:
        gh.add_issue("PR", "", [], pull_request=True, number=PR)
        env["GITHUB_API_URL"] = gh.url
        run_action(env, "pull_request", pr_payload())
        run_action({**env, "INPUT_PATH": "otp2"}, "pull_request", pr_payload())
        run_action(env, "pull_request", pr_payload())
        assert len(gh.bot_comments(PR)) == 2
        assert len(gh.requests_to("POST", r".*/comments")) == 2
