"""Where the project's Dockerfiles build OTP from source: the `RUN ./configure` and its flags.

The Dockerfile is read by the one reader, `gate.model.dockerfile` (stages, ARG/ENV, continuations,
line numbers); this module only decides which `RUN` of which stage builds OTP.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from gate.inspection.pins import dockerfiles
from gate.knowledge.dockerfile_fix import FLAG_VARIABLES
from gate.knowledge.remediation import DISABLE_HARDENING_OPTION
from gate.model.dockerfile import Stage, is_dockerfile_name, parse_dockerfile
from gate.model.route import DockerfileBuild

__all__ = [
    "dockerfile_otp_build",
    "find_dockerfile_build",
    "find_dockerfiles",
    "is_dockerfile_name",
]

_FLAG_VARS = frozenset(FLAG_VARIABLES)
_CONFIGURE_RE = re.compile(r"(?:^|[\s;&|(])(\./configure|\./otp_build\s+configure)\b")
_OTP_MARK_RE = re.compile(r"otp|erlang", re.IGNORECASE)
_SHELL_OPS = frozenset({"&&", "||", ";", "|", "&", ")", "(", "\\"})


def find_dockerfiles(workspace: Path, max_depth: int = 4) -> tuple[Path, ...]:
    """Dockerfiles under `workspace` (not in .git, deps, _build, ...), never outside it."""
    return tuple(workspace / rel for rel in dockerfiles(workspace) if rel.count("/") <= max_depth)


def _words(text: str) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return text.split()


def dockerfile_otp_build(text: str, rel_path: str) -> DockerfileBuild | None:
    """The `RUN` that configures and builds OTP in this Dockerfile, if there is one.

    A RUN counts when it runs `./configure` (or `./otp_build configure`) and OTP is named in it, in
    an ENV/ARG/WORKDIR before it in the same stage (OTP_VERSION, otp_src, erlang/otp, ...).
    """
    best: DockerfileBuild | None = None
    for stage in parse_dockerfile(text, rel_path).stages:
        found = _stage_build(stage, rel_path)
        if found is not None and (
            best is None
            or (_OTP_MARK_RE.search(found.run_text) and not _OTP_MARK_RE.search(best.run_text))
        ):
            best = found
    return best


def _stage_build(stage: Stage, rel_path: str) -> DockerfileBuild | None:
    """The best `RUN ./configure` of one stage, with the flag variables set before it."""
    flags_in_env: list[str] = []
    otp_context = False
    best: DockerfileBuild | None = None
    for ins in stage.instructions:
        if ins.keyword in ("ENV", "ARG"):
            flags_in_env += [n for n in ins.declared_names() if n in _FLAG_VARS]
            otp_context = otp_context or bool(_OTP_MARK_RE.search(ins.text))
            continue
        if ins.keyword == "WORKDIR":
            otp_context = otp_context or bool(_OTP_MARK_RE.search(ins.text))
            continue
        if ins.keyword != "RUN":
            continue
        body = ins.text
        if not _CONFIGURE_RE.search(body):
            continue
        if not (otp_context or _OTP_MARK_RE.search(body)):
            continue
        configure_line = ins.line
        for offset, raw in enumerate(ins.lines):
            if _CONFIGURE_RE.search(raw):
                configure_line = ins.line + offset
                break
        words = _words(body)
        idx = next(
            (i for i, w in enumerate(words) if w in ("./configure", "./otp_build")), len(words)
        )
        args: list[str] = []
        j = idx + 1
        if j < len(words) and words[idx] == "./otp_build" and words[j] == "configure":
            j += 1
        while j < len(words) and words[j] not in _SHELL_OPS:
            args.append(words[j])
            j += 1
        scoped: list[str] = []
        k = idx - 1
        while k >= 0 and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[k]):
            name = words[k].split("=", 1)[0]
            if name in _FLAG_VARS:
                scoped.insert(0, name)
            k -= 1
        found = DockerfileBuild(
            path=rel_path,
            run_line=ins.line,
            configure_line=configure_line,
            run_text="".join(ins.lines).rstrip("\n"),
            configure_args=tuple(args),
            flags_in_env=tuple(dict.fromkeys(flags_in_env)),
            scoped_to_configure=tuple(scoped),
            disables_hardening=DISABLE_HARDENING_OPTION in args,
        )
        if best is None or (_OTP_MARK_RE.search(body) and not _OTP_MARK_RE.search(best.run_text)):
            best = found
    return best


def find_dockerfile_build(workspace: Path) -> DockerfileBuild | None:
    """The first Dockerfile under `workspace` that builds OTP from source."""
    for path in find_dockerfiles(workspace):
        try:
            text = path.read_text("utf-8", "replace")
        except OSError:
            continue
        found = dockerfile_otp_build(text, path.relative_to(workspace).as_posix())
        if found is not None:
            return found
    return None
