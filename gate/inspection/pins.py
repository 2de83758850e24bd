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
from dataclasses import replace
from pathlib import Path

from gate.model.dockerfile import (
    OTP_VERSION,
    Seg,
    Value,
    image_otp_version,
    is_dockerfile_name,
    line_at,
    text_of,
)
from gate.model.dockerfile import (
    parse_dockerfile as read_dockerfile,
)
from gate.model.pin import Pin, PinKind

__all__ = ["Pin", "PinKind", "find_pins", "runtime_location"]


_VERSION = OTP_VERSION
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
_OTP_VAR = re.compile(r"^(?:OTP|ERLANG|ERL)_?(?:VERSION|VSN)$", re.IGNORECASE)


def _image_pin(image: Value, path: str, kind: PinKind, runtime_line: int | None) -> Pin | None:
    """The pin an image reference makes (after ARG expansion), on the line that wrote its version.

    An image pinned by digest is exact; an official tag with fewer than three numbers floats;
    hexpm tags always name the full version.
    """
    text = text_of(image)
    found = image_otp_version(text)
    if found is None:
        return None
    exact = not found.major_only and (
        "@sha256:" in text or found.family == "hexpm" or _parts(found.text) >= 3
    )
    at = line_at(image, found.start)
    return Pin(path, at, found.text, exact, kind, produces_runtime=at == runtime_line)


def parse_dockerfile(text: str, path: str) -> list[Pin]:
    """OTP versions named by `FROM` images of every stage (after `ARG` expansion), by
    `COPY --from=<image>`, and by OTP version ARG/ENV lines.

    A version that reaches `FROM` through an `ARG` is reported on the `ARG` line: that is the line
    to edit. The pin of the stage that produces the shipped runtime is marked `produces_runtime`.
    """
    df = read_dockerfile(text, path)
    origin = df.runtime_origin()
    runtime_line = origin.line if origin is not None else None
    pins: dict[tuple[int, str], Pin] = {}
    images = [s.image for s in df.stages]
    images += [c.source for s in df.stages for c in s.copies if df.stage(text_of(c.source)) is None]
    for image in images:
        pin = _image_pin(image, path, PinKind.DOCKERFILE, runtime_line)
        if pin is not None:
            pins.setdefault((pin.line, pin.version_text), pin)
    variables = [(n, v) for n, v in df.global_args] + [
        (v.name, v.value) for s in df.stages for v in s.variables
    ]
    for name, value in variables:
        raw = text_of(value)
        if _OTP_VAR.match(name) and re.fullmatch(_VERSION, raw) and value:
            v = _clean(raw)
            key = (value[0].line, v)
            pins.setdefault(key, Pin(path, key[0], v, _parts(v) >= 3, PinKind.DOCKERFILE_ARG))
    return sorted(pins.values(), key=lambda p: (p.line, p.version_text))


def runtime_location(workspace: Path) -> tuple[str, int] | None:
    """(path, line) where the runtime of the repository's Dockerfile comes from, for hardening
    findings: the FROM of the stage that produces it, or the ARG line holding its OTP version."""
    for rel in dockerfiles(workspace):
        text = _read(workspace, rel)
        origin = read_dockerfile(text, rel).runtime_origin() if text is not None else None
        if origin is not None:
            return rel, origin.line
    return None


def dockerfiles(workspace: Path) -> list[str]:
    """Dockerfiles under `workspace` (relative POSIX paths), shallowest first."""
    found = [rel for rel, name in _walk(workspace) if is_dockerfile_name(name)]
    return sorted(found, key=lambda r: (r.count("/"), r))


# -- workflows ---------------------------------------------------------------------------------
_SETUP_BEAM = re.compile(r"^(\s*)(-\s+)?uses:\s*['\"]?erlef/setup-beam@")
_KEY = re.compile(r"^\s*(otp-version|version-file|version-type):\s*(.*?)\s*(?:#.*)?$")
_MATRIX_EXPR = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")


_STEP_SPAN = 60


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
    matrix_seen: set[tuple[str, bool]] = set()
    for i, raw in enumerate(lines):
        m = _SETUP_BEAM.match(raw)
        if not m:
            continue
        # The step starts at the nearest `- ` at or above this line with a smaller indent. A step
        # is a few lines: both searches stop after `_STEP_SPAN` lines, so a hostile workflow of
        # thousands of `uses:` lines is read in linear time.
        dash = i
        if not m.group(2):
            while dash > max(0, i - _STEP_SPAN) and not lines[dash].lstrip().startswith("- "):
                dash -= 1
        step_indent = _indent(lines[dash])
        end = i + 1
        while end < min(len(lines), i + _STEP_SPAN):
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
            if mx and (mx.group(1), strict) not in matrix_seen:
                # Once per matrix key: a workflow of many steps must not rescan the whole file
                # for each of them.
                matrix_seen.add((mx.group(1), strict))
                pins.extend(_matrix_pins(lines, mx.group(1), path, strict))
            elif re.fullmatch(_VERSION, value):
                v = _clean(value)
                pins.append(Pin(path, n, v, strict or _parts(v) >= 3, PinKind.WORKFLOW))
    return pins, version_files


def _matrix_pins(lines: list[str], key: str, path: str, strict: bool) -> list[Pin]:
    """Versions under a matrix key: inline (`otp: ['26.2', '27.3.4']`), a dash list, or one value
    per `include:` entry (`- elixir: '1.18'` / `  otp: '27.3.4'`)."""
    pins: list[Pin] = []
    rx = re.compile(r"^\s*(?:-\s+)?" + re.escape(key) + r":\s*(.*?)\s*(?:#.*)?$")

    def add(n: int, item: str) -> None:
        item = item.strip("\"' ")
        if re.fullmatch(_VERSION, item):
            v = _clean(item)
            pins.append(Pin(path, n, v, strict or _parts(v) >= 3, PinKind.WORKFLOW))

    for i, raw in enumerate(lines):
        m = rx.match(raw)
        if not m:
            continue
        value = m.group(1)
        if value.startswith("["):
            for item in re.findall(r"[^,\[\]]+", value):
                add(i + 1, item)
        elif value:
            add(i + 1, value)
        else:
            for j in range(i + 1, len(lines)):
                item = re.match(r"^\s*-\s*([^#]+?)\s*(?:#.*)?$", lines[j])
                if not item or ":" in item.group(1):
                    break
                add(j + 1, item.group(1))
    return pins


# -- container images in workflows and compose files ---------------------------------------------
_IMAGE_LINE = re.compile(
    r"""^\s*(?:-\s+)?(?:image|container|uses):\s*["']?(?:docker://)?([^\s"'#]+)["']?\s*(?:#.*)?$"""
)


def parse_images(text: str, path: str) -> list[Pin]:
    """`image: erlang:27.3`, `container: hexpm/elixir:...-erlang-26.2.5-...`, `uses: docker://...`
    in workflows and compose files: the OTP those containers run."""
    pins: list[Pin] = []
    for n, raw in enumerate(text.splitlines(), 1):
        m = _IMAGE_LINE.match(raw)
        if not m or "${{" in m.group(1):
            continue
        pin = _image_pin((Seg(m.group(1), n),), path, PinKind.IMAGE, None)
        if pin is not None:
            pins.append(pin)
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
    for rel, name in _walk(workspace):
        parser = _parser_for(rel, name)
        if parser is None:
            continue
        text = _read(workspace, rel)
        if text is None:
            continue
        if parser is parse_workflow:
            found, files = parse_workflow(text, rel)
            pins.extend(_with_text([*found, *parse_images(text, rel)], text))
            extra_version_files.update(files)
        else:
            pins.extend(_with_text(parser(text, rel), text))  # type: ignore[operator]
    seen = {p.path for p in pins}
    for rel in sorted(extra_version_files):
        norm = os.path.normpath(rel)
        if norm.startswith("..") or os.path.isabs(norm) or norm in seen:
            continue
        text = _read(workspace, norm)
        if text is not None:
            pins.extend(_with_text(parse_tool_versions(text, Path(norm).as_posix()), text))
    return tuple(sorted(set(pins), key=lambda p: (p.path, p.line, p.version_text)))


_COMPOSE = re.compile(r"(?:docker-)?compose(?:\.[\w-]+)?\.ya?ml")


def _walk(workspace: Path) -> Iterator[tuple[str, str]]:
    """(relative POSIX path, name) of every file under `workspace`, skipping dependency and build
    folders; symlinked folders are not entered."""
    for dirpath, dirnames, filenames in os.walk(workspace, followlinks=False):
        rel_dir = Path(dirpath).relative_to(workspace)
        depth = len(rel_dir.parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and depth < _MAX_DEPTH)
        for name in sorted(filenames):
            yield (rel_dir / name).as_posix(), name


def _with_text(pins: Iterable[Pin], text: str) -> list[Pin]:
    lines = text.splitlines()
    return [
        replace(p, text=lines[p.line - 1].strip()[:200]) if 0 < p.line <= len(lines) else p
        for p in pins
    ]


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
    if is_dockerfile_name(name):
        return parse_dockerfile
    if rel.startswith(".github/workflows/") and name.endswith((".yml", ".yaml")):
        return parse_workflow
    if _COMPOSE.fullmatch(name.lower()):
        return parse_images
    if name == "elixir_buildpack.config":
        return parse_buildpack
    if name == "rebar.config":
        return parse_rebar_config
    return None
