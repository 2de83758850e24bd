"""Finding where a repository pins OTP (`gate.inspection.pins`): each format, the exact line, loose pins."""

from __future__ import annotations

import os
from pathlib import Path

from gate.inspection.pins import (
    Pin,
    PinKind,
    find_pins,
    parse_buildpack,
    parse_dockerfile,
    parse_mise,
    parse_rebar_config,
    parse_tool_versions,
    parse_workflow,
)


def test_tool_versions() -> None:
    text = "# tools\nelixir 1.17.3-otp-27\nerlang 27.3.4 # pinned\nnodejs 20\n"
    assert parse_tool_versions(text, ".tool-versions") == [
        Pin(".tool-versions", 3, "27.3.4", True, PinKind.TOOL_VERSIONS)
    ]
    assert parse_tool_versions("erlang 27\n", "t")[0].exact is False
    assert parse_tool_versions("erlang ref:master\n", "t") == []


def test_mise_toml_in_the_tools_table_only() -> None:
    text = '[env]\nerlang = "25.0"\n\n[tools]\nelixir = "1.17"\nerlang = "27.3.4.1"\n'
    assert parse_mise(text, "mise.toml") == [Pin("mise.toml", 6, "27.3.4.1", True, PinKind.MISE)]
    assert parse_mise('[tools]\nerlang = ["27.3", "26.2.5"]\n', "m")[0] == Pin(
        "m", 2, "27.3", False, PinKind.MISE
    )
    assert parse_mise('[tools]\nerlang = { version = "27" }\n', "m")[0].version_text == "27"


def test_dockerfile_official_and_hexpm_images() -> None:
    text = (
        "FROM erlang:27.3.4-slim AS build\n"
        "FROM --platform=linux/amd64 hexpm/elixir:1.17.3-erlang-27.1.2-debian-bookworm-20241016-slim\n"
        "FROM hexpm/erlang:26.2.5.6-alpine-3.20.3 AS x\n"
        "FROM erlang:27\n"
        "FROM docker.io/library/erlang:27.3@sha256:" + "a" * 64 + "\n"
        "FROM debian:bookworm-slim\n"
    )
    pins = parse_dockerfile(text, "Dockerfile")
    assert [(p.line, p.version_text, p.exact) for p in pins] == [
        (1, "27.3.4", True),
        (2, "27.1.2", True),
        (3, "26.2.5.6", True),
        (4, "27", False),
        (5, "27.3", True),  # a digest cannot float
    ]
    assert all(p.kind == PinKind.DOCKERFILE for p in pins)
    # The final stage (debian, copying nothing) produces the image: no OTP pin is its source.
    assert not any(p.produces_runtime for p in pins)


def test_arg_expanded_into_from_points_at_the_arg_line() -> None:
    # The Phoenix generator's Dockerfile shape.
    text = (
        "ARG ELIXIR_VERSION=1.17.3\n"
        "ARG OTP_VERSION=27.1.2\n"
        "ARG DEBIAN_VERSION=bookworm-20241016-slim\n"
        "\n"
        'ARG BUILDER_IMAGE="hexpm/elixir:${ELIXIR_VERSION}-erlang-${OTP_VERSION}-debian-${DEBIAN_VERSION}"\n'
        'ARG RUNNER_IMAGE="debian:${DEBIAN_VERSION}"\n'
        "\n"
        "FROM ${BUILDER_IMAGE} as builder\n"
    )
    [pin] = parse_dockerfile(text, "Dockerfile")
    assert (pin.line, pin.version_text, pin.exact, pin.kind) == (
        2,
        "27.1.2",
        True,
        PinKind.DOCKERFILE,
    )


def test_arg_default_syntax_and_continuations() -> None:
    text = "ARG OTP\nFROM \\\n  erlang:${OTP:-26.2.5}-alpine\n"
    [pin] = parse_dockerfile(text, "d")
    assert (pin.line, pin.version_text) == (2, "26.2.5")


def test_otp_version_arg_without_from_is_reported_as_arg() -> None:
    text = "FROM debian:bookworm\nARG OTP_VERSION=27.3.4\nRUN curl -fsSLO https://example.invalid/OTP-${OTP_VERSION}.tar.gz\n"
    assert parse_dockerfile(text, "d") == [Pin("d", 2, "27.3.4", True, PinKind.DOCKERFILE_ARG)]


def test_setup_beam_step_and_version_types() -> None:
    text = """jobs:
  test:
    steps:
      - uses: actions/checkout@v4
      - uses: erlef/setup-beam@v1
        with:
          otp-version: '27.3.4'
          elixir-version: '1.17'
      - name: loose
        uses: erlef/setup-beam@v1
        with:
          otp-version: "27"
      - uses: erlef/setup-beam@5304e04ea2b355f03681464e683d92e3b2f18451
        with:
          otp-version: 26.2
          version-type: strict
      - uses: erlef/setup-beam@v1
        with:
          version-file: .tool-versions
          version-type: strict
      - run: echo otp-version: 99.9.9
"""
    pins, files = parse_workflow(text, ".github/workflows/ci.yml")
    assert [(p.line, p.version_text, p.exact) for p in pins] == [
        (7, "27.3.4", True),
        (12, "27", False),
        (15, "26.2", True),
    ]
    assert files == [".tool-versions"]


def test_setup_beam_through_a_matrix() -> None:
    text = """jobs:
  test:
    strategy:
      matrix:
        otp: ['26.2.5', "27.3.4"]
        elixir:
          - '1.17'
    steps:
      - uses: erlef/setup-beam@v1
        with:
          otp-version: ${{ matrix.otp }}
"""
    pins, _ = parse_workflow(text, "w.yml")
    assert [(p.line, p.version_text) for p in pins] == [(5, "26.2.5"), (5, "27.3.4")]


def test_buildpack_and_rebar() -> None:
    assert parse_buildpack(
        "elixir_version=1.17.3\nerlang_version=27.3.4\n", "elixir_buildpack.config"
    ) == [Pin("elixir_buildpack.config", 2, "27.3.4", True, PinKind.BUILDPACK)]
    rebar = '{erl_opts, [debug_info]}.\n%% {minimum_otp_vsn, "20"}.\n{minimum_otp_vsn, "25.0"}.\n'
    assert parse_rebar_config(rebar, "rebar.config") == [
        Pin("rebar.config", 3, "25.0", False, PinKind.REBAR_MINIMUM)
    ]


def test_find_pins_walks_the_repository(tmp_path: Path) -> None:
    (tmp_path / ".tool-versions").write_text("erlang 27.3.4\n")
    (tmp_path / "mise.toml").write_text('[tools]\nerlang = "27.3.4"\n')
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "Dockerfile.prod").write_text("FROM erlang:27.3.4\n")
    (tmp_path / "app.dockerfile").write_text("FROM hexpm/erlang:27.3.4-alpine-3.20.3\n")
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "ci.yaml").write_text(
        "steps:\n  - uses: erlef/setup-beam@v1\n    with:\n      version-file: ci/versions\n"
    )
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "versions").write_text("erlang 26.2.5\n")
    (tmp_path / "deps" / "dep").mkdir(parents=True)
    (tmp_path / "deps" / "dep" / ".tool-versions").write_text(
        "erlang 20.0\n"
    )  # a dependency's, not ours
    (tmp_path / "node_modules").mkdir()
    pins = find_pins(tmp_path)
    assert [(p.path, p.line, p.kind.value) for p in pins] == [
        (".tool-versions", 1, "tool-versions"),
        ("app.dockerfile", 1, "dockerfile"),
        ("ci/versions", 1, "tool-versions"),
        ("deploy/Dockerfile.prod", 1, "dockerfile"),
        ("mise.toml", 2, "mise"),
    ]


def test_find_pins_never_follows_symlinks_out_of_the_workspace(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".tool-versions").write_text("erlang 1.0\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink(outside / ".tool-versions", ws / ".tool-versions")
    os.symlink(outside, ws / "linked")
    wf = ws / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "ci.yml").write_text(
        "- uses: erlef/setup-beam@v1\n  with:\n    version-file: ../outside/.tool-versions\n"
    )
    assert find_pins(ws) == ()


def test_a_huge_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM erlang:27.3.4\n" + "#" * (2 << 20))
    assert find_pins(tmp_path) == ()


def test_matrix_include_entries_and_dash_keys() -> None:
    # The erlef/setup-beam matrix shape with one otp value per `include:` entry.
    text = """jobs:
  test:
    strategy:
      matrix:
        include:
          - elixir: '1.17.3'
            otp: '27.0'
          - otp: "26.2.5.21"
            elixir: '1.15.8'
    steps:
      - uses: erlef/setup-beam@v1
        with:
          otp-version: ${{ matrix.otp }}
          elixir-version: ${{ matrix.elixir }}
"""
    pins, _ = parse_workflow(text, "ci.yml")
    assert [(p.line, p.version_text, p.exact) for p in pins] == [
        (7, "27.0", False),
        (8, "26.2.5.21", True),
    ]


def test_images_in_workflows_and_compose_files(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "release.yml").write_text(
        "jobs:\n  r:\n    container: hexpm/elixir:1.18.3-erlang-27.3.3-alpine-3.21.3\n"
        "    services:\n      db:\n        image: postgres:16\n"
        "    steps:\n      - uses: docker://erlang:27.3.4.1-slim\n"
        "      - uses: actions/checkout@v4\n"
    )
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: 'elixir:1.17-otp-27'\n  db:\n    image: postgres:16\n"
    )
    pins = find_pins(tmp_path)
    assert [(p.path, p.line, p.version_text, p.exact, p.kind.value) for p in pins] == [
        (".github/workflows/release.yml", 3, "27.3.3", True, "image"),
        (".github/workflows/release.yml", 8, "27.3.4.1", True, "image"),
        ("compose.yaml", 3, "27", False, "image"),
    ]


def test_dockerfile_copy_from_an_image_and_stage_args() -> None:
    text = (
        "ARG OTP_VERSION=27.3.4\n"
        "FROM debian:bookworm-slim AS base\n"
        "ARG OTP_VERSION\n"  # brings the global value in: the same pin, not a second one
        "COPY --from=erlang:26.2.5.6-slim /usr/local/lib/erlang /usr/local/lib/erlang\n"
    )
    pins = parse_dockerfile(text, "Dockerfile")
    assert [(p.line, p.version_text, p.kind.value, p.produces_runtime) for p in pins] == [
        (1, "27.3.4", "dockerfile-arg", False),
        (4, "26.2.5.6", "dockerfile", True),  # the runtime is what the final stage copies in
    ]


def test_hostile_workflows_are_read_in_linear_time() -> None:
    import time

    many_steps = "steps:\n" + (
        "  - uses: erlef/setup-beam@v1\n    with:\n      otp-version: ${{ matrix.otp }}\n" * 8000
    )
    no_dashes = "jobs:\n" + "        uses: erlef/setup-beam@v1\n" * 30_000
    start = time.monotonic()
    for text in (many_steps, no_dashes):
        assert parse_workflow(text, "w.yml") == ([], [])
    assert time.monotonic() - start < 30  # about two seconds here; minutes when quadratic
