"""Where the project's Dockerfiles build OTP from source: the `RUN ./configure` and its flags.

Route detection's only Dockerfile reader, kept in one small module so the shared Dockerfile model
(stages, ARG/ENV scopes, line numbers) can replace it in one place.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from gate.knowledge.dockerfile_fix import FLAG_VARIABLES, parse_instructions
from gate.knowledge.remediation import DISABLE_HARDENING_OPTION
from gate.model.route import DockerfileBuild

_SKIP_DIRS = frozenset({".git", "node_modules", "_build", "deps", ".work", "vendor", ".elixir_ls"})
_FLAG_VARS = frozenset(FLAG_VARIABLES)
_CONFIGURE_RE = re.compile(r"(?:^|[\s;&|(])(\./configure|\./otp_build\s+configure)\b")
_OTP_MARK_RE = re.compile(r"otp|erlang", re.IGNORECASE)
_SHELL_OPS = frozenset({"&&", "||", ";", "|", "&", ")", "(", "\\"})


def is_dockerfile_name(name: str) -> bool:
    low = name.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


def find_dockerfiles(workspace: Path, max_depth: int = 4) -> tuple[Path, ...]:
    """Dockerfiles under `workspace` (not in .git, deps, _build, ...), never outside it."""
    found: list[Path] = []
    base_depth = len(workspace.parts)
    for dirpath, dirnames, filenames in os.walk(workspace, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        if len(here.parts) - base_depth >= max_depth:
            dirnames[:] = []
        for name in sorted(filenames):
            path = here / name
            if is_dockerfile_name(name) and not path.is_symlink() and path.is_file():
                found.append(path)
    return tuple(found)


def _assignments(rest: str) -> list[str]:
    """Variable names set by `ENV A=1 B=2`, `ENV A 1` or `ARG A[=1]`."""
    try:
        words = shlex.split(rest, comments=False, posix=True)
    except ValueError:
        words = rest.split()
    if not words:
        return []
    if "=" not in words[0]:
        return [words[0]]  # legacy `ENV NAME value` / `ARG NAME`
    return [w.split("=", 1)[0] for w in words if "=" in w]


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
    flags_in_env: list[str] = []
    otp_context = False
    best: DockerfileBuild | None = None
    for ins in parse_instructions(text):
        if ins.keyword == "FROM":
            flags_in_env, otp_context = [], False
            continue
        if ins.keyword in ("ENV", "ARG"):
            names = _assignments(ins.text)
            flags_in_env += [n for n in names if n in _FLAG_VARS]
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
