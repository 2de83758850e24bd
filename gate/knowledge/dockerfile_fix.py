"""Suggest the change to a project Dockerfile that builds OTP: ENV lines with the tested flags.

The flags go in an `ENV` before the `RUN ./configure ... && make && make install`, so configure
*and* make see them; flags scoped to `./configure` alone (`RUN CFLAGS=... ./configure`) miss
BIND_NOW in NIFs, so such assignments are removed. Pure: text in, text out (shown as a diff in the
PR comment and as a SARIF fix on the `RUN ./configure` line). The Dockerfile is read by the one
reader, `gate.model.dockerfile`.
"""

from __future__ import annotations

import difflib
import re

from gate.knowledge.remediation import DISABLE_HARDENING_OPTION, dockerfile_env
from gate.model.dockerfile import parse_instructions
from gate.model.route import DockerfileBuild, DockerfileFix, FlagSet

#: The build variables OTP's configure and make read for hardening (HOWTO/INSTALL.md); a Dockerfile
#: that sets any of them is already steering the build.
FLAG_VARIABLES = (
    "CFLAGS",
    "CPPFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "DED_LD",
    "DED_LDFLAGS",
    "DED_LD_FLAG_RUNTIME_LIBRARY_PATH",
)
# `CFLAGS="..." LDFLAGS=... ./configure`: assignments that apply to that one command only.
_SCOPED_RE = re.compile(
    r"(?:\b(?:" + "|".join(FLAG_VARIABLES) + r")=(?:\"[^\"]*\"|'[^']*'|[^\s\"']\S*)\s+)+"
    r"(?=(?:\./configure|\./otp_build\s+configure)\b)"
)
_DISABLE_RE = re.compile(r"[ \t]+" + re.escape(DISABLE_HARDENING_OPTION) + r"(?=\s|$)")

NOTE = (
    "The flags are set with ENV before the RUN so that configure and make both see them: scoping "
    "them to ./configure alone (`RUN CFLAGS=... ./configure`) misses BIND_NOW in NIFs and drivers, "
    "which make links with the DED_LD* variables. Set all DED_LD* variables or none."
)


def suggest_dockerfile_fix(
    text: str, build: DockerfileBuild, flags: FlagSet
) -> DockerfileFix | None:
    """The replacement for the RUN at `build.run_line`, or None when the file already has it.

    The RUN keeps its commands; configure-scoped flag assignments and
    `--disable-security-hardening-flags` are removed from it, and one ENV instruction with every
    variable of `flags` is put before it (indented like the RUN).
    """
    lines = text.splitlines(keepends=True)
    run = next((i for i in parse_instructions(text) if i.line == build.run_line), None)
    if run is None or run.keyword != "RUN":
        raise ValueError(f"{build.path}:{build.run_line} is not a RUN instruction")
    start = run.line - 1
    end = start + len(run.lines) - 1
    old = lines[start : end + 1]
    indent = old[0][: len(old[0]) - len(old[0].lstrip())]
    eol = "\r\n" if old[0].endswith("\r\n") else "\n"

    new_run = [_DISABLE_RE.sub("", _SCOPED_RE.sub("", line)) for line in old]
    env = dockerfile_env(flags.variables, indent=indent).replace("\n", eol)
    preceding = "".join(lines[max(0, start - env.count(eol)) : start])
    already = env and preceding.endswith(env)
    if already and new_run == old:
        return None
    new = ([] if already else [env]) + new_run
    new_lines = lines[:start] + new + lines[end + 1 :]
    diff = "".join(
        difflib.unified_diff(
            [_with_eol(s) for s in lines],
            [_with_eol(s) for s in "".join(new_lines).splitlines(keepends=True)],
            fromfile=f"a/{build.path}",
            tofile=f"b/{build.path}",
        )
    )
    return DockerfileFix(
        path=build.path,
        start_line=start + 1,
        end_line=end + 1,
        old_text="".join(old),
        new_text="".join(new),
        diff=diff,
        note=NOTE,
        char_offset=len("".join(lines[:start])),
        char_length=len("".join(old)),
    )


def _with_eol(line: str) -> str:
    # difflib needs every line to end in a newline, or the last one runs into the next hunk line.
    return line if line.endswith("\n") else line + "\n"
