"""The one Dockerfile reader (`gate.model.dockerfile`): instructions, stages, ARG/ENV scopes and the
stage that produces the shipped runtime (issue 10's multi-stage rule, issue 13's one reader)."""

from __future__ import annotations

from gate.model.dockerfile import (
    image_otp_version,
    is_dockerfile_name,
    parse_dockerfile,
    text_of,
)

# The shape `mix phx.gen.release --docker` generates: versions in global ARGs, a builder stage on a
# hexpm image, a plain Debian runner that copies the release (erts included) from the builder.
PHOENIX = """\
# Find eligible builder and runner images on Docker Hub.
ARG ELIXIR_VERSION=1.17.3
ARG OTP_VERSION=27.1.2
ARG DEBIAN_VERSION=bookworm-20241016-slim

ARG BUILDER_IMAGE="hexpm/elixir:${ELIXIR_VERSION}-erlang-${OTP_VERSION}-debian-${DEBIAN_VERSION}"
ARG RUNNER_IMAGE="debian:${DEBIAN_VERSION}"

FROM ${BUILDER_IMAGE} as builder

# install build dependencies
RUN apt-get update -y && apt-get install -y build-essential git \\
    && apt-get clean && rm -f /var/lib/apt/lists/*_*

WORKDIR /app
ENV MIX_ENV="prod"
RUN mix release

# start a new build stage so that the final image will only contain
# the compiled release and other runtime necessities
FROM ${RUNNER_IMAGE}

RUN apt-get update -y && \\
  apt-get install -y libstdc++6 openssl libncurses5 locales ca-certificates \\
  && apt-get clean && rm -f /var/lib/apt/lists/*_*

WORKDIR "/app"
ENV MIX_ENV="prod"
COPY --from=builder --chown=nobody:root /app/_build/${MIX_ENV}/rel/my_app ./
USER nobody
CMD ["/app/bin/server"]
"""


def test_instructions_keep_their_lines_and_continuations() -> None:
    df = parse_dockerfile(PHOENIX)
    run = next(i for i in df.instructions if i.keyword == "RUN")
    assert (run.line, run.end_line) == (12, 13)
    assert run.text.startswith("apt-get update -y && apt-get install -y build-essential git")
    assert "apt-get clean" in run.text and "\\" not in run.text


def test_stages_expand_global_args_into_from() -> None:
    df = parse_dockerfile(PHOENIX)
    assert [s.name for s in df.stages] == ["builder", None]
    builder, runner = df.stages
    assert builder.image_text == "hexpm/elixir:1.17.3-erlang-27.1.2-debian-bookworm-20241016-slim"
    assert runner.image_text == "debian:bookworm-20241016-slim"
    # Each character of the expanded reference remembers the line that wrote it.
    version = image_otp_version(builder.image_text)
    assert version is not None and version.text == "27.1.2"
    assert builder.image[0].line == 6


def test_stage_scope_env_and_arg() -> None:
    df = parse_dockerfile(PHOENIX)
    runner = df.stages[1]
    [copy] = runner.copies
    assert text_of(copy.source) == "builder"
    assert copy.paths == ("/app/_build/${MIX_ENV}/rel/my_app",)
    assert text_of(runner.scope_at(copy.instruction.line)["MIX_ENV"]) == "prod"
    # A global ARG is not seen inside a stage unless the stage redeclares it.
    assert "OTP_VERSION" not in runner.scope_at(99)
    df2 = parse_dockerfile("ARG OTP_VERSION=27.3.4\nFROM debian\nARG OTP_VERSION\nRUN x\n")
    assert text_of(df2.stages[0].scope_at(4)["OTP_VERSION"]) == "27.3.4"


def test_env_is_inherited_by_a_stage_built_from_another() -> None:
    text = "FROM erlang:27.3.4 AS base\nENV OTP_ROOT=/usr/local/lib/erlang\nARG LOCAL=1\nFROM base AS app\nRUN true\n"
    df = parse_dockerfile(text)
    app = df.stages[1]
    assert app.base_stage == 0
    assert set(app.scope_at(5)) == {"OTP_ROOT"}


def test_expansion_defaults_and_alternatives() -> None:
    df = parse_dockerfile("ARG OTP\nARG TAG=${OTP:+set}\nFROM erlang:${OTP:-26.2.5}-alpine${TAG}\n")
    assert df.stages[0].image_text == "erlang:26.2.5-alpine"


def test_runtime_comes_from_the_stage_the_release_is_copied_from() -> None:
    origin = parse_dockerfile(PHOENIX).runtime_origin()
    assert origin is not None
    assert origin.stage.name == "builder"
    assert origin.line == 3  # the ARG that holds the OTP version, not the FROM on line 9


def test_runtime_is_the_final_stage_when_it_copies_no_runtime() -> None:
    # A build stage on an older OTP; the shipped image is the final stage's own OTP image.
    text = (
        "FROM hexpm/elixir:1.16.3-erlang-26.2.5-alpine-3.19.1 AS assets\n"
        "RUN mix assets.deploy\n"
        "FROM erlang:27.3.4-slim\n"
        "COPY --from=assets /app/priv/static /app/priv/static\n"
    )
    origin = parse_dockerfile(text).runtime_origin()
    assert origin is not None and (origin.stage.index, origin.line) == (1, 3)


def test_runtime_copied_from_an_image() -> None:
    text = (
        "FROM debian:bookworm-slim\n"
        "COPY --from=erlang:27.3.4 \\\n"
        "     /usr/local/lib/erlang /usr/local/lib/erlang\n"
    )
    origin = parse_dockerfile(text).runtime_origin()
    assert origin is not None
    assert (origin.instruction.keyword, origin.line, text_of(origin.image)) == (
        "COPY",
        2,
        "erlang:27.3.4",
    )


def test_runtime_of_a_source_build_stage_and_a_chain_of_stages() -> None:
    text = (
        "FROM debian:bookworm AS otp\n"
        "RUN ./configure && make && make install\n"
        "FROM otp AS release\n"
        "RUN mix release\n"
        "FROM debian:bookworm-slim\n"
        "COPY --from=release /usr/local/lib/erlang /usr/local/lib/erlang\n"
    )
    origin = parse_dockerfile(text).runtime_origin()
    assert origin is not None and (origin.stage.name, origin.line) == ("otp", 1)


def test_copy_from_a_stage_number_and_a_cycle_is_bounded() -> None:
    text = "FROM erlang:26.2.5 AS a\nFROM debian\nCOPY --from=0 /usr/local/lib/erlang /x\n"
    origin = parse_dockerfile(text).runtime_origin()
    assert origin is not None and origin.line == 1
    # A stage cannot copy from itself or a later one: the reference is not followed.
    text = "FROM debian AS a\nCOPY --from=a /opt/rel /x\n"
    origin = parse_dockerfile(text).runtime_origin()
    assert origin is not None and origin.instruction.keyword == "COPY"


def test_no_from_and_empty_input() -> None:
    assert parse_dockerfile("").runtime_origin() is None
    assert parse_dockerfile("# only a comment\nARG X=1\n").stages == ()


def test_hostile_expansion_is_cut_and_long_stage_chains_stay_fast() -> None:
    import time

    from gate.model.dockerfile import MAX_VALUE

    # Each ARG doubles the one before: 2**60 characters unless the reader caps values.
    text = "ARG A0=xx\n" + "".join(f"ARG A{i}=${{A{i - 1}}}${{A{i - 1}}}\n" for i in range(1, 61))
    df = parse_dockerfile(text + "FROM erlang:27.3.4-${A60}\n")
    assert len(df.stages[0].image_text) <= MAX_VALUE
    assert image_otp_version(df.stages[0].image_text) is not None
    # 20,000 stages, each built FROM and copying from the one before (a 1 MiB Dockerfile).
    chain = "FROM erlang:26.2.5 AS s0\n" + "".join(
        f"FROM s{i - 1} AS s{i}\nCOPY --from=s{i - 1} /opt/rel /x\n" for i in range(1, 20_000)
    )
    start = time.monotonic()
    origin = parse_dockerfile(chain).runtime_origin()
    assert origin is not None and origin.line == 1
    assert time.monotonic() - start < 20  # linear: about a second here, minutes when quadratic


def test_dockerfile_names() -> None:
    for name in (
        "Dockerfile",
        "Containerfile",
        "Dockerfile.prod",
        "dockerfile.dev",
        "app.Dockerfile",
    ):
        assert is_dockerfile_name(name), name
    # A module of the same name, a document, and BuildKit's per-Dockerfile ignore file are not.
    for name in (
        "dockerfile.py",
        "Dockerfile.md",
        "Dockerfile.dockerignore",
        "Dockerfiles",
        "x.txt",
    ):
        assert not is_dockerfile_name(name), name
