"""Parsing and validating the action's inputs (`INPUT_*`, hyphen kept) and the event payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.action_inputs import (
    CommentMode,
    Inputs,
    Source,
    get_input,
    parse_inputs,
    read_context,
    scan_request,
)
from gate.clock import system_clock
from gate.config import FailOn, VersionPolicy
from gate.engine import BuildRequest, Target
from gate.errors import UsageError
from gate.model.common import Format

ACTION_YML = Path(__file__).resolve().parents[2] / "action.yml"


def test_defaults_match_an_empty_environment() -> None:
    assert parse_inputs({}) == Inputs()


def test_hyphenated_names_as_the_runner_passes_them() -> None:
    env = {
        "INPUT_FAIL-ON": "warning",
        "INPUT_VERSION-POLICY": "supported",
        "INPUT_CHECK-RUN": "true",
        "INPUT_COMMENT": "always",
        "INPUT_GITHUB-TOKEN": "t",
        "INPUT_GRACE-DAYS": "7",
    }
    i = parse_inputs(env)
    assert (i.fail_on, i.version_policy, i.check_run, i.comment, i.github_token, i.grace_days) == (
        FailOn.WARNING,
        VersionPolicy.SUPPORTED,
        True,
        CommentMode.ALWAYS,
        "t",
        7,
    )


def test_underscore_spelling_is_accepted_and_hyphen_wins() -> None:
    assert parse_inputs({"INPUT_FAIL_ON": "never"}).fail_on == FailOn.NEVER
    assert get_input({"INPUT_FAIL_ON": "never", "INPUT_FAIL-ON": "error"}, "fail-on") == "error"


def test_values_are_trimmed_and_choices_case_insensitive() -> None:
    assert parse_inputs({"INPUT_FORMAT": "  JSON \n"}).format == Format.JSON


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("fail-on", "errors", "error, warning, never"),
        ("version-policy", "latest", "latest-patch, supported, off"),
        ("comment", "sometimes", "always, on-failure, never"),
        ("format", "html", "text, json, sarif, markdown"),
        ("source", "ftp", "auto, path, distro, image, image-archive, prebuilt"),
        ("check-run", "yes", "true, false"),
        ("drift-issue", "1", "true, false"),
        ("offline", "on", "true, false"),
        ("distro-backports", "maybe", "ignore, trust"),
    ],
)
def test_bad_value_names_the_input_and_the_allowed_values(
    name: str, value: str, allowed: str
) -> None:
    with pytest.raises(UsageError) as e:
        parse_inputs({f"INPUT_{name.upper()}": value})
    assert f"input {name}" in e.value.message
    assert allowed in e.value.message
    assert repr(value) in e.value.message


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "99999"])
def test_grace_days_must_be_a_small_whole_number(value: str) -> None:
    with pytest.raises(UsageError, match="input grace-days"):
        parse_inputs({"INPUT_GRACE-DAYS": value})


def test_required_inputs_are_checked_here_not_by_the_runner(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="input image is required when source is image"):
        parse_inputs({"INPUT_SOURCE": "image"})
    # otp-version defaults to the exact version the repository pins; with no pin it is required.
    ctx = read_context({"GITHUB_WORKSPACE": str(tmp_path)})
    for source in ("prebuilt", "build"):
        with pytest.raises(
            UsageError, match=f"input otp-version is required when source is {source}"
        ):
            scan_request(parse_inputs({"INPUT_SOURCE": source}), ctx)
    with pytest.raises(UsageError, match="input cflags only applies with source: build"):
        parse_inputs({"INPUT_CFLAGS": "-O2"})
    with pytest.raises(UsageError, match="path and image"):
        parse_inputs({"INPUT_PATH": "rel", "INPUT_IMAGE": "erlang:27"})


def test_otp_version_defaults_to_the_exact_pin(tmp_path: Path) -> None:
    ctx = read_context({"GITHUB_WORKSPACE": str(tmp_path)})
    # No input and no pin: the workspace itself is scanned.
    req = scan_request(parse_inputs({}), ctx)
    assert (req.target, req.path) == (Target.PATH, tmp_path)
    # A floating pin is not a version to fetch; an exact one is.
    (tmp_path / ".tool-versions").write_text("elixir 1.17.3-otp-27\nerlang 27\n")
    assert scan_request(parse_inputs({}), ctx).target == Target.PATH
    (tmp_path / ".tool-versions").write_text("elixir 1.17.3-otp-27\nerlang 27.3.4\n")
    req = scan_request(parse_inputs({}), ctx)
    assert (req.target, req.otp_version) == (Target.PREBUILT, "27.3.4")
    req = scan_request(parse_inputs({"INPUT_SOURCE": "prebuilt"}), ctx)
    assert (req.target, req.otp_version) == (Target.PREBUILT, "27.3.4")
    # source: build with the pinned version and the given flags, typed: a single token that
    # starts with `-` is a value, not an option (issue 11).
    req = scan_request(
        parse_inputs(
            {
                "INPUT_SOURCE": "build",
                "INPUT_CFLAGS": "-O2",
                "INPUT_LDFLAGS": "-pie",
                "INPUT_CONFIGURE-ARGS": "--without-wx --enable-jit",
                "INPUT_SOURCE-MIRROR": "https://mirror.example.com/otp",
            }
        ),
        ctx,
    )
    assert (req.target, req.otp_version) == (Target.BUILD, "27.3.4")
    assert req.build == BuildRequest(
        cflags="-O2",
        ldflags="-pie",
        configure_args=("--without-wx", "--enable-jit"),
        source_mirror="https://mirror.example.com/otp",
    )
    assert req.names.source_mirror == "input source-mirror"
    # An explicit path still wins over the pin.
    (tmp_path / "rel").mkdir()
    req = scan_request(parse_inputs({"INPUT_PATH": "rel"}), ctx)
    assert (req.target, req.path) == (Target.PATH, tmp_path / "rel")


def test_a_path_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    ctx = read_context({"GITHUB_WORKSPACE": str(ws)})
    for name, value in (("PATH", "../"), ("PATH", "/etc"), ("IMAGE-ARCHIVE", "a/../../x.tar")):
        with pytest.raises(UsageError, match=f"input {name.lower()}: .*outside the workspace"):
            scan_request(parse_inputs({f"INPUT_{name}": value}), ctx)
    with pytest.raises(UsageError, match="input path: missing: no such file or directory"):
        scan_request(parse_inputs({"INPUT_PATH": "missing"}), ctx)
    with pytest.raises(UsageError, match=r"input config-file: .*outside the workspace"):
        scan_request(parse_inputs({"INPUT_CONFIG-FILE": "../gate.toml"}), ctx)


def test_mirror_inputs_are_urls_for_their_source() -> None:
    with pytest.raises(UsageError, match="input builds-mirror: 'ftp://x' is not an http"):
        parse_inputs({"INPUT_BUILDS-MIRROR": "ftp://x"})
    with pytest.raises(UsageError, match="input source-mirror only applies with source: build"):
        parse_inputs({"INPUT_SOURCE-MIRROR": "https://m.example.com"})
    with pytest.raises(UsageError, match="input configure-args: No closing quotation"):
        parse_inputs({"INPUT_SOURCE": "build", "INPUT_CONFIGURE-ARGS": "'open"})


def test_exclusive_runtime_inputs() -> None:
    with pytest.raises(UsageError, match="image and otp-version"):
        parse_inputs({"INPUT_IMAGE": "erlang:27", "INPUT_OTP-VERSION": "27.3.4"})
    with pytest.raises(UsageError, match="platform only applies"):
        parse_inputs({"INPUT_PLATFORM": "linux/arm64"})


def test_every_action_yml_input_is_read() -> None:
    text = ACTION_YML.read_text()
    block = text.split("\ninputs:\n", 1)[1].split("\noutputs:\n", 1)[0]
    names = [
        line.strip().rstrip(":")
        for line in block.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    ]
    fields = {f.replace("_", "-") for f in Inputs.__dataclass_fields__}
    assert set(names) == fields


def _event(tmp_path: Path, payload: dict[str, object]) -> str:
    p = tmp_path / "event.json"
    p.write_text(json.dumps(payload))
    return str(p)


def _pr(number: int, head_repo: str | None, base_repo: str = "acme/app") -> dict[str, object]:
    head: dict[str, object] = {
        "sha": "a" * 40,
        "repo": {"full_name": head_repo} if head_repo else None,
    }
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": head,
            "base": {"repo": {"full_name": base_repo}},
        },
    }


def test_pull_request_same_repo(tmp_path: Path) -> None:
    ctx = read_context(
        {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": _event(tmp_path, _pr(5, "acme/app")),
            "GITHUB_SHA": "m" * 40,
            "GITHUB_REPOSITORY": "acme/app",
        }
    )
    assert (ctx.pr_number, ctx.head_sha, ctx.fork) == (5, "a" * 40, False)


def test_pull_request_from_a_fork_and_a_deleted_fork(tmp_path: Path) -> None:
    ctx = read_context(
        {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": _event(tmp_path, _pr(5, "mallory/app")),
        }
    )
    assert ctx.fork
    ctx = read_context(
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": _event(tmp_path, _pr(5, None))}
    )
    assert ctx.fork


def test_pull_request_target_and_schedule(tmp_path: Path) -> None:
    ctx = read_context(
        {
            "GITHUB_EVENT_NAME": "pull_request_target",
            "GITHUB_EVENT_PATH": _event(tmp_path, _pr(9, "mallory/app")),
        }
    )
    assert ctx.pr_number == 9 and not ctx.is_scheduled
    ctx = read_context(
        {
            "GITHUB_EVENT_NAME": "schedule",
            "GITHUB_EVENT_PATH": _event(tmp_path, {"schedule": "0 6 * * 1"}),
            "GITHUB_SHA": "b" * 40,
        }
    )
    assert ctx.pr_number is None and ctx.is_scheduled and ctx.head_sha == "b" * 40
    ctx = read_context(
        {
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_EVENT_PATH": _event(tmp_path, {"ref": "refs/heads/main"}),
        }
    )
    assert ctx.pr_number is None and not ctx.is_scheduled


def test_unreadable_event_payload_names_the_variable(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="GITHUB_EVENT_PATH"):
        read_context({"GITHUB_EVENT_PATH": str(bad)})


def test_request_for_each_source(tmp_path: Path) -> None:
    ctx = read_context({"GITHUB_WORKSPACE": str(tmp_path)})
    (tmp_path / "rel").mkdir()
    assert scan_request(parse_inputs({"INPUT_PATH": "rel"}), ctx).path == tmp_path / "rel"
    req = scan_request(
        parse_inputs({"INPUT_IMAGE": "erlang:27", "INPUT_PLATFORM": "linux/amd64"}), ctx
    )
    assert (req.target, req.image, req.platform) == (Target.IMAGE, "erlang:27", "linux/amd64")
    assert scan_request(parse_inputs({"INPUT_SOURCE": "distro"}), ctx).target == Target.DISTRO
    req = scan_request(
        parse_inputs({"INPUT_OTP-VERSION": "27.3.4", "INPUT_BUILDS-MIRROR": "http://m"}), ctx
    )
    assert (req.otp_version, req.builds_mirror) == ("27.3.4", "http://m")
    req = scan_request(parse_inputs({"INPUT_FAIL-ON": "never", "INPUT_OFFLINE": "true"}), ctx)
    assert req.config.fail_on == FailOn.NEVER and req.offline
    assert req.names.offline == "input `offline: true`"
    assert parse_inputs({}).source == Source.AUTO


def test_missing_custom_config_file_is_a_usage_error(tmp_path: Path) -> None:
    ctx = read_context({"GITHUB_WORKSPACE": str(tmp_path)})
    with pytest.raises(UsageError, match=r"input config-file: gate\.toml"):
        scan_request(parse_inputs({"INPUT_CONFIG-FILE": "gate.toml"}), ctx)
    (tmp_path / ".otp-gate.toml").write_text('fail-on = "warning"\n')
    assert scan_request(parse_inputs({}), ctx).config.fail_on == FailOn.WARNING


def test_reports_go_under_runner_temp(tmp_path: Path) -> None:
    from gate.action import report_dir

    temp = tmp_path / "runner_temp"
    temp.mkdir()
    here, there = report_dir({"RUNNER_TEMP": f"{temp}/./"})
    assert here == temp / "otp-gate" and there == str(temp / "otp-gate")


def test_unmounted_runner_temp_falls_back_to_github_home(tmp_path: Path) -> None:
    # Older runners pass the host's RUNNER_TEMP without mounting it into the container.
    from gate.action import report_dir

    home = tmp_path / "github_home"
    home.mkdir()
    here, there = report_dir({"RUNNER_TEMP": "/home/runner/work/_temp"}, github_home=str(home))
    assert here == home / "otp-gate"
    assert there == "/home/runner/work/_temp/_github_home/otp-gate"


def test_engine_hints_name_the_action_input(tmp_path: Path) -> None:
    # A value the builder refuses is reported in the Action's words, not the CLI's flags.
    from gate.engine import runtime_source

    ctx = read_context({"GITHUB_WORKSPACE": str(tmp_path)})
    inputs = parse_inputs(
        {"INPUT_SOURCE": "build", "INPUT_OTP-VERSION": "27.3.4", "INPUT_CFLAGS": "-fpie"}
    )
    with pytest.raises(UsageError) as err:
        runtime_source(scan_request(inputs, ctx), {}, system_clock)
    assert err.value.hint is not None and "input cflags" in err.value.hint
    assert "--cflags" not in err.value.diagnostics()
    bad = parse_inputs({"INPUT_SOURCE": "build", "INPUT_OTP-VERSION": "27.x"})
    with pytest.raises(UsageError, match=r"input otp-version '27\.x'"):
        runtime_source(scan_request(bad, ctx), {}, system_clock)


def test_an_unreachable_builds_mirror_names_the_input(tmp_path: Path) -> None:
    import socket

    from gate.engine import runtime_source
    from gate.errors import AcquireError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    ctx = read_context({"GITHUB_WORKSPACE": str(tmp_path)})
    inputs = parse_inputs({"INPUT_OTP-VERSION": "27.3.4", "INPUT_BUILDS-MIRROR": dead})
    source = runtime_source(
        scan_request(inputs, ctx), {"OTP_GATE_CACHE": str(tmp_path / "c")}, system_clock
    )
    with pytest.raises(AcquireError) as err:
        source.acquire(tmp_path / "work")
    assert (
        err.value.hint is not None and "point input builds-mirror at a local copy" in err.value.hint
    )


def test_every_source_but_auto_is_an_engine_target() -> None:
    # scan_request maps the resolved `source` to the engine's Target by value: keep them one
    # vocabulary (auto is the action's own; discover is the CLI's).
    assert {s.value for s in Source} - {"auto"} <= {t.value for t in Target}
    assert {t.value for t in Target} - {s.value for s in Source} == {"discover"}
