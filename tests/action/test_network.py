"""The action on GitHub Enterprise Server and on a bad network (issue 11), run as the runner runs it.

Two local servers stand in for the two hosts: the GHES API (the workflow's own host, where the
workflow token belongs) and github.com with builds.hex.pm and raw.githubusercontent.com (where
erlang/otp's public release data lives). Both record every request, so the test sees every
outgoing request of a real run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.action.test_entrypoint import PR, debian_ws, pr_payload, run_action, runner  # noqa: F401
from tests.github.fake_github import FakeGitHub
from tests.support.fake_http import FakeServer, Request, Response

TOKEN = "ghs_runner_token"  # the `github-token` input of the runner fixture


def _carries(request: Request, secret: str) -> bool:
    return any(secret in value for value in request.headers.values())


def _public_data_host(srv: FakeServer) -> None:
    """github.com's erlang/otp listings (empty, so the bundled data stands in for them)."""
    srv.route("GET", r"/repos/erlang/otp/(releases|tags|security-advisories)", Response(200, []))


def _online(env: dict[str, str], data: FakeServer, ghes: FakeGitHub) -> dict[str, str]:
    env = dict(env)
    env.pop("INPUT_OFFLINE")
    env.update(
        GITHUB_API_URL=ghes.url,  # GHES serves /api/v3; the fake answers at its root
        GITHUB_SERVER_URL=ghes.url,
        OTP_GATE_GITHUB_API_URL=data.url,
        OTP_GATE_RAW_BASE_URL=data.url,
        OTP_GATE_BUILDS_BASE_URL=data.url,
        OTP_GATE_CACHE=str(Path(env["RUNNER_TEMP"]) / "cache"),
    )
    return env


def test_on_ghes_the_workflow_token_never_leaves_its_host(
    debian_ws: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _ws, env = debian_ws
    with FakeGitHub() as ghes, FakeServer() as data:
        _public_data_host(data)
        ghes.add_issue("PR", "", [], pull_request=True, number=PR)
        env = _online(env, data, ghes)
        # A user who also exports GITHUB_TOKEN to the step must not leak it either.
        env["GITHUB_TOKEN"] = TOKEN
        run = run_action(env, "pull_request", pr_payload())
        assert run.code == 1, run.log
        to_data = list(data.requests)
        to_ghes = list(ghes.requests)
    assert any(r.path == "/repos/erlang/otp/releases" for r in to_data), "release data not read"
    assert not [r.path for r in to_data if _carries(r, TOKEN)]
    assert all("authorization" not in r.headers for r in to_data)
    # The workflow's own host does get the token (the sticky comment).
    assert any(r.method == "POST" and _carries(r, TOKEN) for r in to_ghes)


def test_a_release_data_token_goes_to_github_com_only(
    debian_ws: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _ws, env = debian_ws
    with FakeGitHub() as ghes, FakeServer() as data:
        _public_data_host(data)
        env = _online(env, data, ghes)
        env["INPUT_RELEASE-DATA-TOKEN"] = "ghp_public_data_token"
        run = run_action(env, "push", {})
        assert run.code == 1, run.log
        to_data, to_ghes = list(data.requests), list(ghes.requests)
    api = [r for r in to_data if r.path.startswith("/repos/erlang/otp/")]
    assert api and all(_carries(r, "ghp_public_data_token") for r in api)
    assert not any(_carries(r, TOKEN) for r in to_data)
    assert not any(_carries(r, "ghp_public_data_token") for r in to_ghes)


def test_on_github_com_the_workflow_token_reads_the_release_data(
    debian_ws: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    # The control: where the release data lives on the workflow's own host, the token is used
    # (GitHub's anonymous rate limit is 60 requests an hour per IP, shared by a runner pool).
    _ws, env = debian_ws
    with FakeGitHub() as ghes, FakeServer() as data:
        _public_data_host(data)
        env = _online(env, data, ghes)
        env["GITHUB_API_URL"] = data.url
        run = run_action(env, "push", {})
        assert run.code == 1, run.log
    api = [r for r in data.requests if r.path.startswith("/repos/erlang/otp/")]
    assert api and all(_carries(r, TOKEN) for r in api)
    assert json.loads(Path(run.outputs["report-json"]).read_text())


def _closed_port_url() -> str:
    """An address where nothing listens: a network that refuses every connection."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _answer(env: dict[str, str]) -> tuple[int, list[object], list[object], dict[str, object]]:
    """(exit code, verdict reasons, SARIF results, JSON report) of one action run."""
    run = run_action(env, "push", {})
    doc = json.loads(Path(run.outputs["report-json"]).read_text())
    sarif = json.loads(Path(run.outputs["report-sarif"]).read_text())
    results = [r for rn in sarif["runs"] for r in rn["results"]]
    assert run.outputs["findings"] == str(
        sum(1 for r in doc["verdict"]["reasons"] if r["severity"] in ("warning", "error"))
    )
    return run.code, doc["verdict"]["reasons"], results, {**doc, "log": run.log}


def test_network_down_gives_the_offline_answer_plus_one_notice(
    debian_ws: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _ws, env = debian_ws
    env["INPUT_FAIL-ON"] = "warning"
    offline = _answer(env)
    down = dict(env)
    del down["INPUT_OFFLINE"]
    dead = _closed_port_url()
    down.update(
        OTP_GATE_GITHUB_API_URL=dead,
        OTP_GATE_RAW_BASE_URL=dead,
        OTP_GATE_BUILDS_BASE_URL=dead,
        OTP_GATE_CACHE=str(Path(env["RUNNER_TEMP"]) / "cache"),
    )
    online = _answer(down)
    assert online[:3] == offline[:3]
    assert not any(r["code"] == "scan-warning" for r in online[1])  # type: ignore[index]
    assert not any(r["ruleId"] == "scan-warning" for r in online[2])  # type: ignore[index]
    doc = online[3]
    [notice] = doc["notices"]
    assert "GitHub releases of erlang/otp" in notice and "builds.hex.pm builds.txt" in notice
    assert "bundled snapshot of 20" in notice
    assert "`offline: true`" in notice and "--offline" not in notice  # the action's own words
    assert offline[3]["notices"] == []
    # One `::notice` in the log, no warning about the network.
    log = str(doc["log"])
    assert log.count("::notice title=otp-gate%3A note::Live release data unavailable") == 1
    assert "unavailable" not in "".join(ln for ln in log.splitlines() if ln.startswith("::warn"))
    # JSON lists each note once.
    notes = doc["otp"]["notes"] + doc["otp"]["data"]["notes"]  # type: ignore[index]
    assert len(notes) == len(set(notes))


def test_source_build_with_single_token_flag_values_reaches_the_build(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    # `cflags: -O2`, `ldflags: -pie`, `configure-args: --without-wx`: once re-parsed as argv these
    # were options and argparse stopped the run; typed, they reach configure and make (issue 11).
    import hashlib

    from tests.acquire.test_build import VERSION, _source_tarball

    _ws, env = runner
    tarball = _source_tarball()
    digest = hashlib.sha256(tarball).hexdigest()
    cache = Path(env["RUNNER_TEMP"]) / "cache"
    with FakeServer() as mirror:
        mirror.route("GET", f"/OTP-{VERSION}/otp_src_{VERSION}.tar.gz", Response(200, tarball))
        mirror.route(
            "GET",
            f"/OTP-{VERSION}/SHA256.txt",
            Response(200, f"{digest}  otp_src_{VERSION}.tar.gz\n"),
        )
        env.update(
            {
                "INPUT_SOURCE": "build",
                "INPUT_OTP-VERSION": VERSION,
                "INPUT_CFLAGS": "-O2",
                "INPUT_LDFLAGS": "-pie",
                "INPUT_CONFIGURE-ARGS": "--without-wx",
                "INPUT_SOURCE-MIRROR": mirror.url,
                "OTP_GATE_CACHE": str(cache),
            }
        )
        run = run_action(env, "push", {})
        assert [r.path for r in mirror.requests] == [
            f"/OTP-{VERSION}/SHA256.txt",
            f"/OTP-{VERSION}/otp_src_{VERSION}.tar.gz",
        ], run.log
    assert "usage" not in run.log.lower() and "argument" not in run.log.lower(), run.log
    assert "::group::otp-gate build: configure" in run.log
    [log] = list(cache.rglob("build.log"))
    assert "./configure --prefix=/usr/local --without-wx" in log.read_text()
    [made] = list(cache.rglob("make.env"))
    seen = dict(line.split("=", 1) for line in made.read_text().splitlines() if line)
    assert (seen["CFLAGS"], seen["LDFLAGS"]) == ("-O2", "-pie")


def test_fail_on_never_prints_no_error_and_paths_are_workspace_relative(
    debian_ws: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _ws, env = debian_ws
    env["INPUT_FAIL-ON"] = "never"
    run = run_action(env, "push", {})
    assert run.code == 0, run.log
    assert "::error" not in run.log and "::warning" in run.log
    assert "**Runtime:** otp" in run.summary
    assert env["GITHUB_WORKSPACE"] not in run.summary


def test_an_engine_error_names_workspace_paths_as_the_user_knows_them(
    runner: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    ws, env = runner
    (ws / "rel").mkdir()
    (ws / "rel" / "README").write_text("no OTP here\n")
    env["INPUT_PATH"] = "rel"
    run = run_action(env, "push", {})
    assert run.code == 2, run.log
    assert "rel" in run.summary and str(ws) not in run.summary and str(ws) not in run.log
