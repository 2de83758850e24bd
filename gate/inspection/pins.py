"""Find where a repository pins its OTP version, down to the line, so findings can point at it.

Pure parsing of text read from the workspace: `.tool-versions`, mise config, Dockerfiles (official
`erlang:` and `hexpm/` images, `ARG` values expanded into `FROM`), `erlef/setup-beam` steps in
workflows, `elixir_buildpack.config` and rebar's `minimum_otp_vsn`. Nothing here runs a file, and
symlinks are never followed, so a hostile tree cannot point the walk outside the workspace.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gate.model.otp import OtpVersion


class PinKind(StrEnum):
    TOOL_VERSIONS = "tool-versions"
    MISE = "mise"
    DOCKERFILE = "dockerfile"  # the image a stage is built FROM: this line produces the runtime
    DOCKERFILE_ARG = "dockerfile-arg"  # an OTP version ARG/ENV that is not part of a FROM
    WORKFLOW = "workflow"  # erlef/setup-beam otp-version
    BUILDPACK = "buildpack"  # elixir_buildpack.config erlang_version
    REBAR_MINIMUM = "rebar-minimum"  # rebar.config minimum_otp_vsn: a floor, never a pin


@dataclass(frozen=True)
class Pin:
    """One place that names the OTP version: `path` (POSIX, relative to the workspace), 1-based `line`.

    `exact` is False for a pin that floats (`27`, `erlang:27.3`, a minimum): the runtime it gives
    changes when a new patch is released, so it is reported but never blamed for being behind.
    """

    path: str
    line: int
    version_text: str
    exact: bool
    kind: PinKind

    @property
    def version(self) -> OtpVersion | None:
        return OtpVersion.try_parse(self.version_text)

    @property
    def produces_runtime(self) -> bool:
        """True where the runtime is built from this line (a Dockerfile FROM)."""
        return self.kind == PinKind.DOCKERFILE


_VERSION = r"(?:OTP-)?\d+(?:\.\d+)*(?:-rc\d+)?"
_SKIP_DIRS = frozenset(
    {".git", "node_modules", "_build", "deps", ".elixir_ls", ".work", "__pycache__"}
)
_MAX_DEPTH = 5
_MAX_BYTES = 1 << 20  # a pin file larger than 1 MiB is not a config file: skip it


def _parts(text: str) -> int:
    return len(text.split("-", 1)[0].split("."))


def _clean(text: str) -> str:
    return text.removeprefix("OTP-")


# -- .tool-versions ----------------------------------------------------------------------------
def parse_tool_versions(text: str, path: str) -> list[Pin]:
    """`erlang 27.3.4` (asdf installs exactly what is named; a one-number `27` is not a version)."""
    pins = []
    for n, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "erlang":
            m = re.fullmatch(_VERSION, words[1])
            if m:
                v = _clean(words[1])
                pins.append(Pin(path, n, v, _parts(v) >= 2, PinKind.TOOL_VERSIONS))
    return pins


# -- mise.toml ---------------------------------------------------------------------------------
_MISE_ERLANG = re.compile(r"""^\s*["']?erlang["']?\s*=\s*(.+)$""")


def parse_mise(text: str, path: str) -> list[Pin]:
    """`[tools]` `erlang = "27.3.4"` (also a list or `{ version = ... }`); mise matches prefixes,
    so `27` and `27.3` float."""
    pins = []
    section = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[] ")
            continue
        if section != "tools":
            continue
        m = _MISE_ERLANG.match(line)
        if not m:
            continue
        vm = re.search(r"""["'](""" + _VERSION + r""")["']""", m.group(1))
        if vm:
            v = _clean(vm.group(1))
            pins.append(Pin(path, n, v, _parts(v) >= 3, PinKind.MISE))
    return pins


# -- Dockerfiles -------------------------------------------------------------------------------
# Official image tags start with the version (`erlang:27.3.4-slim`); hexpm tags name it after
# `erlang-` (`hexpm/elixir:1.17.3-erlang-27.1.2-debian-...`) or first (`hexpm/erlang:27.1.2-alpine-...`).
_IMAGE_VERSION = (
    re.compile(r"(?:^|/)hexpm/elixir:[^\s@]*?-erlang-(" + _VERSION + r")(?=[-@\s]|$)"),
    re.compile(r"(?:^|/)hexpm/erlang:(" + _VERSION + r")(?=[-@\s]|$)"),
    re.compile(r"(?:^|/)(?:library/)?erlang:(" + _VERSION + r")(?=[-@\s]|$)"),
)
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_OTP_VAR = re.compile(r"^(?:OTP|ERLANG|ERL)_?(?:VERSION|VSN)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Seg:
    text: str
    line: int


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Join backslash continuations; yield (first line number, joined text)."""
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
            if raw.lstrip().startswith("#"):
                continue
        stripped = raw.rstrip()
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            continue
        buf.append(raw)
        yield start, " ".join(buf)
        buf = []
    if buf:
        yield start, " ".join(buf)


def _expand(value: str, line: int, env: dict[str, list[_Seg]]) -> list[_Seg]:
    """Expand `$VAR`/`${VAR}`/`${VAR:-default}`, keeping which line each piece of text came from."""
    out: list[_Seg] = []
    pos = 0
    for m in _VAR.finditer(value):
        if m.start() > pos:
            out.append(_Seg(value[pos : m.start()], line))
        name = m.group(1) or m.group(3)
        if name in env:
            out.extend(env[name])
        elif m.group(2) is not None:
            out.append(_Seg(m.group(2), line))
        pos = m.end()
    if pos < len(value):
        out.append(_Seg(value[pos:], line))
    return out


def _line_of(segs: list[_Seg], offset: int) -> int:
    pos = 0
    for s in segs:
        if offset < pos + len(s.text):
            return s.line
        pos += len(s.text)
    return segs[-1].line if segs else 0


def parse_dockerfile(text: str, path: str) -> list[Pin]:
    """OTP versions named by `FROM` images (after `ARG` expansion) and by OTP version ARG/ENV lines.

    A version that reaches `FROM` through an `ARG` is reported on the `ARG` line: that is the line
    to edit. An image pinned by digest is exact; a tag with fewer than three numbers floats.
    """
    env: dict[str, list[_Seg]] = {}
    pins: dict[tuple[int, str], Pin] = {}
    arg_lines: dict[int, str] = {}
    for n, logical in _logical_lines(text):
        words = logical.split()
        if not words:
            continue
        instr = words[0].upper()
        if instr in ("ARG", "ENV") and len(words) >= 2:
            for name, value in _assignments(words[0:], logical):
                env[name] = _expand(value, n, env)
                if _OTP_VAR.match(name) and re.fullmatch(_VERSION, value):
                    arg_lines[n] = _clean(value)
        elif instr == "FROM":
            image_words = [w for w in words[1:] if not w.startswith("--")]
            if not image_words:
                continue
            segs = _expand(image_words[0], n, env)
            image = "".join(s.text for s in segs)
            for rx in _IMAGE_VERSION:
                m = rx.search(image)
                if m:
                    v = _clean(m.group(1))
                    exact = "@sha256:" in image or rx is not _IMAGE_VERSION[2] or _parts(v) >= 3
                    at = _line_of(segs, m.start(1))
                    pins[(at, v)] = Pin(path, at, v, exact, PinKind.DOCKERFILE)
                    break
    for n, v in arg_lines.items():
        if (n, v) not in pins:
            pins[(n, v)] = Pin(path, n, v, _parts(v) >= 3, PinKind.DOCKERFILE_ARG)
    return sorted(pins.values(), key=lambda p: (p.line, p.version_text))


def _assignments(words: list[str], logical: str) -> Iterable[tuple[str, str]]:
    """`ARG A=1 B="x y"`, `ENV A=1`, legacy `ENV A 1`; quotes removed."""
    rest = logical.split(None, 1)[1] if len(logical.split(None, 1)) > 1 else ""
    pairs = re.findall(r"""([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)""", rest)
    if pairs:
        for name, value in pairs:
            yield name, value.strip("\"'")
    elif len(words) >= 3 and words[0].upper() == "ENV":
        yield words[1], " ".join(words[2:]).strip("\"'")


# -- workflows ---------------------------------------------------------------------------------
_SETUP_BEAM = re.compile(r"^(\s*)(-\s+)?uses:\s*['\"]?erlef/setup-beam@")
_KEY = re.compile(r"^\s*(otp-version|version-file|version-type):\s*(.*?)\s*(?:#.*)?$")
_MATRIX_EXPR = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_workflow(text: str, path: str) -> tuple[list[Pin], list[str]]:
    """`erlef/setup-beam` steps: pins from `otp-version` (also through `${{ matrix.x }}`), and the
    files named by `version-file` (returned so the caller can read them as `.tool-versions`).

    setup-beam's default `version-type: loose` resolves `27` or `27.3` to the newest match; only
    `strict` or a full three-number version is exact.
    """
    lines = text.splitlines()
    pins: list[Pin] = []
    version_files: list[str] = []
    for i, raw in enumerate(lines):
        m = _SETUP_BEAM.match(raw)
        if not m:
            continue
        # The step starts at the nearest `- ` at or above this line with a smaller indent.
        dash = i
        if not m.group(2):
            while dash > 0 and not lines[dash].lstrip().startswith("- "):
                dash -= 1
        step_indent = _indent(lines[dash])
        end = i + 1
        while end < len(lines):
            nxt = lines[end]
            if nxt.strip() and not nxt.lstrip().startswith("#") and _indent(nxt) <= step_indent:
                break
            end += 1
        found: dict[str, tuple[int, str]] = {}
        for j in range(dash, end):
            km = _KEY.match(lines[j])
            if km:
                found[km.group(1)] = (j + 1, km.group(2).strip("\"'"))
        strict = found.get("version-type", (0, "loose"))[1] == "strict"
        if "version-file" in found:
            version_files.append(found["version-file"][1])
        if "otp-version" in found:
            n, value = found["otp-version"]
            mx = _MATRIX_EXPR.fullmatch(value)
            if mx:
                pins.extend(_matrix_pins(lines, mx.group(1), path, strict))
            elif re.fullmatch(_VERSION, value):
                v = _clean(value)
                pins.append(Pin(path, n, v, strict or _parts(v) >= 3, PinKind.WORKFLOW))
    return pins, version_files


def _matrix_pins(lines: list[str], key: str, path: str, strict: bool) -> list[Pin]:
    """Versions listed under a matrix key, inline (`otp: ['26.2', '27.3.4']`) or as a dash list."""
    pins: list[Pin] = []
    rx = re.compile(r"^(\s*)" + re.escape(key) + r":\s*(.*?)\s*(?:#.*)?$")
    for i, raw in enumerate(lines):
        m = rx.match(raw)
        if not m:
            continue
        if m.group(2).startswith("["):
            for item in re.findall(r"[\"']?([^,\[\]\"'\s]+)[\"']?", m.group(2)):
                if re.fullmatch(_VERSION, item):
                    v = _clean(item)
                    pins.append(Pin(path, i + 1, v, strict or _parts(v) >= 3, PinKind.WORKFLOW))
        elif not m.group(2):
            for j in range(i + 1, len(lines)):
                item = re.match(r"^\s*-\s*[\"']?([^\"'\s#]+)", lines[j])
                if not item:
                    break
                if re.fullmatch(_VERSION, item.group(1)):
                    v = _clean(item.group(1))
                    pins.append(Pin(path, j + 1, v, strict or _parts(v) >= 3, PinKind.WORKFLOW))
    return pins


# -- buildpack and rebar -----------------------------------------------------------------------
def parse_buildpack(text: str, path: str) -> list[Pin]:
    """`erlang_version=27.3.4` in `elixir_buildpack.config`."""
    pins = []
    for n, raw in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*erlang_version\s*=\s*[\"']?(" + _VERSION + r")[\"']?\s*(?:#.*)?$", raw)
        if m:
            v = _clean(m.group(1))
            pins.append(Pin(path, n, v, _parts(v) >= 2, PinKind.BUILDPACK))
    return pins


def parse_rebar_config(text: str, path: str) -> list[Pin]:
    """`{minimum_otp_vsn, "25.0"}.`: a floor, reported as a loose pin."""
    pins = []
    for n, raw in enumerate(text.splitlines(), 1):
        code = raw.split("%", 1)[0]
        m = re.search(r"\{\s*minimum_otp_vsn\s*,\s*\"(" + _VERSION + r")\"\s*\}", code)
        if m:
            pins.append(Pin(path, n, _clean(m.group(1)), False, PinKind.REBAR_MINIMUM))
    return pins


# -- the walk ----------------------------------------------------------------------------------
def _is_dockerfile(name: str) -> bool:
    low = name.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


def _read(root: Path, rel: str) -> str | None:
    path = root / rel
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def find_pins(workspace: Path) -> tuple[Pin, ...]:
    """Every OTP pin in the repository at `workspace`, in path then line order."""
    pins: list[Pin] = []
    extra_version_files: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(workspace, followlinks=False):
        rel_dir = Path(dirpath).relative_to(workspace)
        depth = len(rel_dir.parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and depth < _MAX_DEPTH)
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            parser = _parser_for(rel, name)
            if parser is None:
                continue
            text = _read(workspace, rel)
            if text is None:
                continue
            if parser is parse_workflow:
                found, files = parse_workflow(text, rel)
                pins.extend(found)
                extra_version_files.update(files)
            else:
                pins.extend(parser(text, rel))  # type: ignore[operator]
    seen = {p.path for p in pins}
    for rel in sorted(extra_version_files):
        norm = os.path.normpath(rel)
        if norm.startswith("..") or os.path.isabs(norm) or norm in seen:
            continue
        text = _read(workspace, norm)
        if text is not None:
            pins.extend(parse_tool_versions(text, Path(norm).as_posix()))
    return tuple(sorted(set(pins), key=lambda p: (p.path, p.line, p.version_text)))


def _parser_for(rel: str, name: str) -> object | None:
    if name == ".tool-versions":
        return parse_tool_versions
    if rel in (
        "mise.toml",
        ".mise.toml",
        ".config/mise.toml",
        "mise/config.toml",
        ".config/mise/config.toml",
    ):
        return parse_mise
    if name in ("mise.toml", ".mise.toml"):
        return parse_mise
    if _is_dockerfile(name):
        return parse_dockerfile
    if rel.startswith(".github/workflows/") and name.endswith((".yml", ".yaml")):
        return parse_workflow
    if name == "elixir_buildpack.config":
        return parse_buildpack
    if name == "rebar.config":
        return parse_rebar_config
    return None
