"""The suggested change to a project Dockerfile that builds OTP."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.knowledge.dockerfile_fix import suggest_dockerfile_fix
from gate.knowledge.remediation import recommended_flags
from gate.model.dockerfile import parse_instructions
from gate.model.otp import OtpVersion
from gate.model.route import DockerfileBuild

# Shaped like the official erlang image's Dockerfile (docker-library/erlang), with the flags scoped
# to ./configure the way teams often copy the EEF guide.
DOCKERFILE = """\
FROM debian:bookworm AS build
ENV OTP_VERSION="27.3.4.1"
RUN apt-get update && apt-get install -y build-essential libssl-dev libncurses-dev curl
# Fetch and build OTP
RUN set -xe \\
  && curl -fSL -o otp-src.tar.gz "https://github.com/erlang/otp/archive/OTP-${OTP_VERSION}.tar.gz" \\
  && mkdir -vp /usr/src/otp-src \\
  && tar -xzf otp-src.tar.gz -C /usr/src/otp-src --strip-components=1 \\
  && cd /usr/src/otp-src \\
  # configure, build, install
  && CFLAGS="-O2 -g -fpie -fstack-protector-strong" LDFLAGS='-pie -z now' ./configure --without-javac \\
  && make -j"$(nproc)" \\
  && make install

FROM debian:bookworm-slim
COPY --from=build /usr/local /usr/local
"""

BUILD = DockerfileBuild(
    path="Dockerfile",
    run_line=5,
    configure_line=11,
    run_text="",
    configure_args=("--without-javac",),
    flags_in_env=(),
    scoped_to_configure=("CFLAGS", "LDFLAGS"),
    disables_hardening=False,
)
FLAGS = recommended_flags(OtpVersion.parse("27.3.4.1"), "x86_64")


def _apply(text: str, fix_start: int, fix_end: int, new_text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[: fix_start - 1]) + new_text + "".join(lines[fix_end:])


def test_fix_puts_env_before_the_run_and_unscopes_configure() -> None:
    fix = suggest_dockerfile_fix(DOCKERFILE, BUILD, FLAGS)
    assert fix is not None
    assert (fix.start_line, fix.end_line) == (5, 13)
    assert fix.old_text == "".join(DOCKERFILE.splitlines(keepends=True)[4:13])
    assert fix.new_text.startswith('ENV CFLAGS="-O2 -g -fstack-protector-strong')
    assert "  && ./configure --without-javac \\\n" in fix.new_text
    assert 'CFLAGS="-O2 -g -fpie' not in fix.new_text and "LDFLAGS='-pie" not in fix.new_text
    assert "&& make install" in fix.new_text
    assert "miss" in fix.note and "BIND_NOW" in fix.note
    fixed = _apply(DOCKERFILE, fix.start_line, fix.end_line, fix.new_text)
    # The character range (SARIF charOffset/charLength) replaces exactly the same text.
    assert DOCKERFILE[fix.char_offset : fix.char_offset + fix.char_length] == fix.old_text
    spliced = (
        DOCKERFILE[: fix.char_offset]
        + fix.new_text
        + DOCKERFILE[fix.char_offset + fix.char_length :]
    )
    assert spliced == fixed
    env = next(i for i in parse_instructions(fixed) if i.keyword == "ENV" and "CFLAGS" in i.text)
    values = dict(w.split("=", 1) for w in shlex.split(env.text))
    assert values == FLAGS.as_env()
    run = next(i for i in parse_instructions(fixed) if i.keyword == "RUN" and "configure" in i.text)
    assert run.line == env.line + len(env.lines)  # the ENV sits right before the RUN


def test_fix_is_idempotent() -> None:
    fix = suggest_dockerfile_fix(DOCKERFILE, BUILD, FLAGS)
    assert fix is not None
    fixed = _apply(DOCKERFILE, fix.start_line, fix.end_line, fix.new_text)
    env_lines = fix.new_text.count("\n") - fix.old_text.count("\n")
    moved = DockerfileBuild(**{**BUILD.__dict__, "run_line": BUILD.run_line + env_lines})
    assert suggest_dockerfile_fix(fixed, moved, FLAGS) is None


@pytest.mark.skipif(not shutil.which("patch"), reason="patch(1) is not installed")
def test_diff_applies_with_patch(tmp_path: Path) -> None:
    fix = suggest_dockerfile_fix(DOCKERFILE, BUILD, FLAGS)
    assert fix is not None
    assert fix.diff.startswith("--- a/Dockerfile\n+++ b/Dockerfile\n")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    subprocess.run(["patch", "-p1", "--quiet"], input=fix.diff, text=True, cwd=tmp_path, check=True)
    assert (tmp_path / "Dockerfile").read_text() == _apply(
        DOCKERFILE, fix.start_line, fix.end_line, fix.new_text
    )


def test_otp28_fix_removes_the_disable_option_and_keeps_crlf() -> None:
    text = "FROM alpine\r\nWORKDIR /otp\r\nRUN ./configure --disable-security-hardening-flags --prefix=/opt && make && make install\r\n"
    build = DockerfileBuild("Dockerfile", 3, 3, "", (), (), (), True)
    fix = suggest_dockerfile_fix(text, build, recommended_flags(OtpVersion.parse("28.1"), "x86_64"))
    assert fix is not None
    assert fix.new_text == (
        'ENV CFLAGS="-O2 -g"\r\nRUN ./configure --prefix=/opt && make && make install\r\n'
    )


def test_indentation_follows_the_run() -> None:
    text = "FROM debian\nWORKDIR /otp\n    RUN ./configure && make && make install\n"
    build = DockerfileBuild("Dockerfile", 3, 3, "", (), (), (), False)
    fix = suggest_dockerfile_fix(text, build, FLAGS)
    assert fix is not None
    assert fix.new_text.startswith("    ENV CFLAGS=")
    assert "\n        CPPFLAGS=" in fix.new_text


def test_a_line_that_is_not_a_run_is_refused() -> None:
    with pytest.raises(ValueError, match="Dockerfile:2 is not a RUN"):
        suggest_dockerfile_fix(
            DOCKERFILE, DockerfileBuild("Dockerfile", 2, 2, "", (), (), (), False), FLAGS
        )
