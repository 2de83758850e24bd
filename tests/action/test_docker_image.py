"""The real action image: built from the unmodified Dockerfile on a private dockerd and run the way
the runner runs a Docker action (`/github/workspace` and file-command mounts, `INPUT_*` with hyphens,
`--network none`) against Debian's real OTP tree. Skips with the reason when no engine can start.

No registry is reachable here, so `BASE_IMAGE` is a stand-in: a debootstrap Debian with its python3,
`/usr/local/bin/python` like the official image, and pip pointed at wheels downloaded on the host with
the lock file's hashes (so the image build itself runs with `--network none`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.action.test_entrypoint import commands_outside_stop_blocks, parse_file_commands
from tests.support.dockerd import DockerEngine, cache_dir, debian_base_image

REPO = Path(__file__).resolve().parents[2]
STANDIN_TAG = "local/gate-python:bookworm"
ACTION_TAG = "local/otp-hardening-gate:test"

pytestmark = pytest.mark.docker


def _wheels(python_version: str) -> Path:
    """The lock file's wheels for the stand-in's Python and this machine's arch, hash-checked by pip."""
    dest = cache_dir() / f"action-wheels-cp{python_version.replace('.', '')}-{platform.machine()}"
    done = dest / ".complete"
    if done.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    arch = platform.machine()
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-cache-dir", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--python-version", python_version, "--implementation", "cp",
           "--platform", f"manylinux2014_{arch}", "--platform", f"manylinux_2_17_{arch}",
           "--platform", f"manylinux_2_28_{arch}", "-d", str(dest), "-r", str(REPO / "requirements.lock")]  # fmt: skip
    # A throwaway HOME: pip's user agent runs `rustc --version`, and a rustup proxy on PATH then
    # writes ~/.rustup/settings.toml (the session's HOME must stay empty, tests/conftest.py).
    with tempfile.TemporaryDirectory(prefix="gate-pip-home-") as home:
        env = {**os.environ, "HOME": home}
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=600, env=env
        )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot download the lock file's wheels from PyPI: {proc.stderr.strip()[-400:]}"
        )
    done.write_text("ok\n")
    return dest


@pytest.fixture(scope="module")
def standin_base(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    if docker_engine.image_exists(STANDIN_TAG):
        return STANDIN_TAG
    base = debian_base_image("bookworm", docker_engine)
    ctx = tmp_path_factory.mktemp("standin")
    shutil.copytree(_wheels("3.11"), ctx / "wheels")
    (ctx / "pip.conf").write_text("[global]\nno-index = true\nfind-links = /wheels\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip"
        " && rm -rf /var/lib/apt/lists/* && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED"
        " && ln -s /usr/bin/python3 /usr/local/bin/python\n"
        "COPY wheels /wheels\n"
        "COPY pip.conf /etc/pip.conf\n"
    )
    try:
        docker_engine.docker("build", "--network", "host", "-t", STANDIN_TAG, str(ctx), timeout=900)
    except RuntimeError as e:
        pytest.skip(f"building the stand-in Python base failed (apt inside the build?): {e}")
    return STANDIN_TAG


@pytest.fixture(scope="module")
def action_image(docker_engine: DockerEngine, standin_base: str) -> str:
    # The unmodified Dockerfile; only the base is swapped, and the build has no network at all.
    docker_engine.docker("build", "--network", "none", "--build-arg", f"BASE_IMAGE={standin_base}",
                         "-t", ACTION_TAG, str(REPO), timeout=900)  # fmt: skip
    return ACTION_TAG


def _run_like_the_runner(
    engine: DockerEngine,
    image: str,
    tmp: Path,
    inputs: dict[str, str],
    event: str,
    payload: dict[str, object],
    extra: tuple[str, ...] = (),
) -> tuple[int, str, dict[str, str], str, Path]:
    ws, fc, wf, home, temp = (
        tmp / n for n in ("workspace", "file_commands", "workflow", "home", "runner_temp")
    )
    for d in (fc, wf, home, temp):
        d.mkdir(exist_ok=True)
    (fc / "output").write_text("")
    (fc / "summary").write_text("")
    (wf / "event.json").write_text(json.dumps(payload))
    env = {
        "HOME": "/github/home", "PATH": "/github/workspace/evil-bin", "GITHUB_ACTIONS": "true", "CI": "true",
        "GITHUB_WORKSPACE": "/github/workspace", "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": "/github/workflow/event.json", "GITHUB_OUTPUT": "/github/file_commands/output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary", "RUNNER_TEMP": "/github/runner_temp",
        "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "7", "GITHUB_SERVER_URL": "https://github.com",
        "OTP_GATE_TODAY": "2026-11-29", **{f"INPUT_{k.upper()}": v for k, v in inputs.items()},
    }  # fmt: skip
    args = ["run", "--rm", "--network", "none", "--workdir", "/github/workspace",
            "-v", f"{ws}:/github/workspace", "-v", f"{fc}:/github/file_commands", "-v", f"{wf}:/github/workflow",
            "-v", f"{home}:/github/home", "-v", f"{temp}:/github/runner_temp"]  # fmt: skip
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    proc = subprocess.run(
        ["docker", *args, *extra, image],
        env=engine.env(),
        capture_output=True,
        timeout=300,
        check=False,
    )
    log = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    return (
        proc.returncode,
        log,
        parse_file_commands((fc / "output").read_text()),
        (fc / "summary").read_text(),
        temp,
    )


def test_image_gates_a_real_otp_tree_like_the_runner(
    docker_engine: DockerEngine,
    action_image: str,
    debian_otp: Path,
    tmp_path: Path,
) -> None:
    ws = tmp_path / "workspace"
    ws.mkdir()
    shutil.copytree(debian_otp, ws / "otp", symlinks=True)
    (ws / "Dockerfile").write_text("FROM erlang:25.2.3\n")
    code, log, outputs, summary, temp = _run_like_the_runner(
        docker_engine, action_image, tmp_path,
        {"path": "otp", "fail-on": "error", "offline": "true", "comment": "never", "format": "text"},
        "push", {"ref": "refs/heads/main"},
    )  # fmt: skip
    assert code == 1, log
    assert outputs["result"] == "fail"
    assert outputs["otp-version"] == "25.2.3"
    assert outputs["latest-patch"].startswith("25.3.")
    assert outputs["report-json"] == "/github/runner_temp/otp-gate/report.json"
    assert json.loads((temp / "otp-gate" / "report.sarif").read_text())["version"] == "2.1.0"
    assert (temp / "otp-gate" / "report.json").stat().st_size > 0
    assert "25.2.3" in summary and "stack-protector" in summary
    cmds = commands_outside_stop_blocks(log)
    assert any(c.startswith("::error file=Dockerfile,line=1,") for c in cmds), cmds
    assert sorted(p.name for p in ws.iterdir()) == [
        "Dockerfile",
        "otp",
    ]  # nothing written to the workspace


def test_image_bad_input_is_exit_2(
    docker_engine: DockerEngine, action_image: str, tmp_path: Path
) -> None:
    (tmp_path / "workspace").mkdir()
    code, log, outputs, summary, _ = _run_like_the_runner(
        docker_engine, action_image, tmp_path, {"fail-on": "sometimes"}, "push", {}
    )
    assert code == 2, log
    assert outputs == {"result": "error"}
    assert "input fail-on" in summary


def test_image_entrypoint_is_exec_form_with_absolute_path(
    docker_engine: DockerEngine, action_image: str
) -> None:
    out = docker_engine.docker(
        "image", "inspect", "--format", "{{json .Config.Entrypoint}} {{.Config.User}}", action_image
    )
    entry, _, user = out.stdout.strip().partition(" ")
    assert json.loads(entry) == ["/usr/local/bin/python", "-E", "-s", "/app/entrypoint.py"]
    assert user == ""


def test_image_gates_a_saved_image_archive(
    docker_engine: DockerEngine, action_image: str, bookworm_erlang_image: str, tmp_path: Path
) -> None:
    ws = tmp_path / "workspace"
    ws.mkdir()
    docker_engine.docker("save", "-o", str(ws / "app.tar"), bookworm_erlang_image, timeout=600)
    code, log, outputs, summary, _ = _run_like_the_runner(
        docker_engine, action_image, tmp_path,
        {"image-archive": "app.tar", "offline": "true", "comment": "never"}, "push", {},
    )  # fmt: skip
    assert code == 1, log
    assert outputs["result"] == "fail" and outputs["otp-version"] == "25.2.3", log
    assert "25.2.3" in summary


def test_image_gates_an_image_through_the_mounted_socket(
    docker_engine: DockerEngine, action_image: str, bookworm_erlang_image: str, tmp_path: Path
) -> None:
    # The runner mounts the host's engine socket into every Docker action at this path.
    (tmp_path / "workspace").mkdir()
    code, log, outputs, _, _ = _run_like_the_runner(
        docker_engine, action_image, tmp_path,
        {"image": bookworm_erlang_image, "offline": "true", "comment": "never"}, "push", {},
        extra=("-v", f"{docker_engine.socket}:/var/run/docker.sock"),
    )  # fmt: skip
    assert code == 1, log
    assert outputs["result"] == "fail" and outputs["otp-version"] == "25.2.3", log
