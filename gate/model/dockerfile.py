"""One reader for Dockerfiles: instructions with their lines, stages, ARG/ENV scopes, and the stage
that produces the shipped runtime (pure; text in, frozen values out).

Every user of a Dockerfile (where the repository pins OTP, route detection, the suggested diff)
reads it through `parse_dockerfile`, so continuations, comments and variable scopes are handled
once, the way BuildKit does (https://docs.docker.com/reference/dockerfile/):
- a line ending in `\\` continues; comment and empty lines inside a continuation are dropped;
- `ARG` before the first `FROM` is global and only `FROM` lines see it, unless a stage redeclares
  it with a bare `ARG NAME`; `ARG`/`ENV` in a stage are seen by the rest of that stage, and `ENV` by
  stages built `FROM` it;
- `${VAR}`, `$VAR`, `${VAR:-default}` and `${VAR:+alternative}` are expanded, and each expanded
  character remembers the line it came from, so a version that reaches `FROM` through an `ARG` is
  reported on the `ARG` line (the line to edit).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
_ASSIGN = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)""")
#: A number-dotted OTP version as image tags and ARGs write it (`27.3.4.1`, `OTP-27.3`, `28.0-rc2`).
OTP_VERSION = r"(?:OTP-)?\d+(?:\.\d+)*(?:-rc\d+)?"
# Official image tags start with the version (`erlang:27.3.4-slim`, `elixir:1.17-otp-27`); hexpm
# tags name it after `erlang-` (`hexpm/elixir:1.17.3-erlang-27.1.2-debian-...`) or first
# (`hexpm/erlang:27.1.2-alpine-...`). Each pattern's group 1 is the version.
_IMAGE_VERSION = (
    (
        "hexpm",
        re.compile(r"(?:^|/)hexpm/elixir:[^\s@]*?-erlang-(" + OTP_VERSION + r")(?=[-@\s]|$)"),
    ),
    ("hexpm", re.compile(r"(?:^|/)hexpm/erlang:(" + OTP_VERSION + r")(?=[-@\s]|$)")),
    ("official", re.compile(r"(?:^|/)(?:library/)?erlang:(" + OTP_VERSION + r")(?=[-@\s]|$)")),
    ("official", re.compile(r"(?:^|/)(?:library/)?elixir:[^\s@]*?-otp-(\d+)(?=[-@\s]|$)")),
)
# What a `COPY --from` copies when it carries the runtime: erts, an OTP root, or a release (which
# holds erts unless `include_erts: false`).
_RUNTIME_PATH = re.compile(
    r"erts-|/rel(?:/|$)|_build|lib/erlang|/erlang(?:/|$)|/otp(?:/|$)|/release", re.IGNORECASE
)


@dataclass(frozen=True)
class Seg:
    """A piece of an expanded value and the 1-based line its text was written on."""

    text: str
    line: int


Value = tuple[Seg, ...]


def text_of(value: Iterable[Seg]) -> str:
    return "".join(s.text for s in value)


def line_at(value: Value, offset: int) -> int:
    """The line that wrote character `offset` of the expanded value."""
    pos = 0
    for s in value:
        if offset < pos + len(s.text):
            return s.line
        pos += len(s.text)
    return value[-1].line if value else 0


#: An expanded value longer than this is cut: `ARG B=$A$A` chains would otherwise double in size
#: with every line of a hostile Dockerfile.
MAX_VALUE = 4096


def expand(raw: str, line: int, scope: Mapping[str, Value]) -> Value:
    """Expand `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` in `raw` (written on `line`);
    the result is cut at `MAX_VALUE` characters."""
    out: list[Seg] = []
    pos = 0
    for m in _VAR.finditer(raw):
        if m.start() > pos:
            out.append(Seg(raw[pos : m.start()], line))
        name = m.group(1) or m.group(4)
        known = name in scope and any(s.text for s in scope[name])
        if m.group(2) == "+":
            if known:
                out.append(Seg(m.group(3), line))
        elif known:
            out.extend(scope[name])
        elif m.group(2) == "-":
            out.append(Seg(m.group(3), line))
        pos = m.end()
        if sum(len(s.text) for s in out) > MAX_VALUE:
            break
    else:
        if pos < len(raw):
            out.append(Seg(raw[pos:], line))
    return _cut(tuple(s for s in out if s.text))


def _cut(value: Value) -> Value:
    kept: list[Seg] = []
    room = MAX_VALUE
    for s in value:
        if room <= 0:
            break
        kept.append(s if len(s.text) <= room else Seg(s.text[:room], s.line))
        room -= len(s.text)
    return tuple(kept)


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), first 1-based line and physical lines as written."""

    keyword: str
    line: int
    lines: tuple[str, ...]

    @property
    def end_line(self) -> int:
        return self.line + len(self.lines) - 1

    @property
    def text(self) -> str:
        """The arguments, continuations joined (comment lines inside dropped, as Docker does)."""
        out: list[str] = []
        for raw in self.lines:
            s = raw.rstrip("\r\n")
            if out and (not s.strip() or s.lstrip().startswith("#")):
                continue
            out.append(s.rstrip()[:-1] if s.rstrip().endswith("\\") else s)
        joined = " ".join(part.strip() for part in out)
        head = joined.split(None, 1)
        return head[1].strip() if len(head) > 1 and head[0].upper() == self.keyword else ""

    def flags(self) -> dict[str, str]:
        """Leading `--name=value` options (`--from=builder`, `--platform=...`)."""
        found: dict[str, str] = {}
        for word in self.text.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            found[name.lower()] = value
        return found

    def operands(self) -> list[str]:
        """The words after the leading `--` options."""
        words = self.text.split()
        i = 0
        while i < len(words) and words[i].startswith("--"):
            i += 1
        return words[i:]

    def assignments(self) -> list[tuple[str, str]]:
        """`ARG A=1`, `ENV A=1 B="x y"`, legacy `ENV A 1`: (name, raw value), quotes removed.

        A bare `ARG NAME` has no value here; `declared_names` lists it.
        """
        rest = self.text
        pairs = _ASSIGN.findall(rest)
        if pairs:
            return [(n, _unquote(v)) for n, v in pairs]
        words = rest.split(None, 1)
        if self.keyword == "ENV" and len(words) == 2:
            return [(words[0], _unquote(words[1].strip()))]
        return []

    def declared_names(self) -> list[str]:
        """Every variable this ARG/ENV names, with or without a value."""
        try:
            words = shlex.split(self.text, posix=True)
        except ValueError:
            words = self.text.split()
        if self.keyword == "ENV" and words and "=" not in words[0]:
            return words[:1]
        return [w.split("=", 1)[0] for w in words if re.match(r"[A-Za-z_]", w)]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _continues(line: str) -> bool:
    return line.rstrip("\r\n").rstrip().endswith("\\")


def parse_instructions(text: str) -> tuple[Instruction, ...]:
    """Split a Dockerfile into instructions, honouring `\\` continuations and comments."""
    lines = text.splitlines(keepends=True)
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        group = [lines[i]]
        cont = _continues(lines[i])
        while cont and i + 1 < len(lines):
            i += 1
            group.append(lines[i])
            s = lines[i].strip()
            if s and not s.startswith("#"):  # Docker drops comment and empty lines inside
                cont = _continues(lines[i])  # a continuation and keeps going
        out.append(Instruction(stripped.split(None, 1)[0].upper(), start + 1, tuple(group)))
        i += 1
    return tuple(out)


@dataclass(frozen=True)
class ImageVersion:
    """The OTP version an image reference names: where in the reference, and which family."""

    text: str  # as written, without an `OTP-` prefix
    start: int  # offset in the expanded reference
    family: str  # "official" or "hexpm"
    major_only: bool = False  # `elixir:1.17-otp-27` names only the major


def image_otp_version(image: str) -> ImageVersion | None:
    """The OTP version in an `erlang:`, `elixir:...-otp-N`, `hexpm/erlang:` or `hexpm/elixir:` tag."""
    for i, (family, rx) in enumerate(_IMAGE_VERSION):
        m = rx.search(image)
        if m:
            return ImageVersion(m.group(1).removeprefix("OTP-"), m.start(1), family, i == 3)
    return None


@dataclass(frozen=True)
class Copy:
    """A `COPY --from=SOURCE` instruction: SOURCE is a stage name, a stage index or an image."""

    instruction: Instruction
    source: Value
    paths: tuple[str, ...]

    @property
    def carries_runtime(self) -> bool:
        return any(_RUNTIME_PATH.search(p) for p in self.paths)


@dataclass(frozen=True)
class Var:
    """A variable set by an ARG or ENV instruction (at `line`) in a stage."""

    name: str
    value: Value
    line: int
    env: bool  # ENV (inherited by stages built FROM this one) rather than ARG

    @property
    def text(self) -> str:
        return text_of(self.value)


@dataclass(frozen=True)
class Stage:
    """One build stage: its FROM, the image it names (expanded), its body and its variable scope."""

    index: int
    name: str | None
    from_: Instruction
    image: Value  # the expanded base reference, each character with its line
    base_stage: int | None  # index of the earlier stage this one is built FROM
    instructions: tuple[Instruction, ...]  # after the FROM, up to the next FROM
    copies: tuple[Copy, ...]
    variables: tuple[Var, ...]  # ARG/ENV set in the stage, in order (the last one wins)
    inherited: tuple[tuple[str, Value], ...] = ()  # ENV of the stage this one is built FROM

    @property
    def image_text(self) -> str:
        return text_of(self.image)

    def scope_at(self, line: int) -> dict[str, Value]:
        """The variables an instruction of this stage starting at `line` sees."""
        scope = dict(self.inherited)
        scope.update((v.name, v.value) for v in self.variables if v.line < line)
        return scope

    def env(self) -> dict[str, Value]:
        """The ENV a stage built FROM this one inherits."""
        out = dict(self.inherited)
        out.update((v.name, v.value) for v in self.variables if v.env)
        return out


@dataclass(frozen=True)
class RuntimeOrigin:
    """Where the shipped runtime's OTP comes in: a stage's FROM, or a `COPY --from=<image>`.

    `line` is the line to edit: the ARG line that holds the OTP version when the version reaches
    the reference through an ARG, else the instruction's first line.
    """

    stage: Stage
    instruction: Instruction
    image: Value
    line: int


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: instructions, global ARGs and stages."""

    path: str
    instructions: tuple[Instruction, ...]
    global_args: tuple[tuple[str, Value], ...] = ()
    stages: tuple[Stage, ...] = field(default=())

    @cached_property
    def _by_ref(self) -> dict[str, Stage]:
        found: dict[str, Stage] = {}
        for s in self.stages:
            found.setdefault(str(s.index), s)
            if s.name:
                found.setdefault(s.name.lower(), s)
        return found

    def stage(self, ref: str, before: int | None = None) -> Stage | None:
        """The stage named `ref` (case-insensitive) or numbered `ref`, earlier than `before`."""
        s = self._by_ref.get(ref.lower())
        return s if s is not None and (before is None or s.index < before) else None

    def runtime_origin(self) -> RuntimeOrigin | None:
        """Where the runtime the image ships comes from (issue 10's multi-stage rule).

        Start at the final stage; follow a `COPY --from` that copies erts, an OTP root or a release
        to its stage (or stop at its image), else follow `FROM <earlier stage>`, until a stage
        stands on an image of its own.
        """
        if not self.stages:
            return None
        stage = self.stages[-1]
        for _ in range(len(self.stages) + 1):  # a bound: references only point backwards
            copy = next((c for c in reversed(stage.copies) if c.carries_runtime), None)
            if copy is not None:
                src = self.stage(text_of(copy.source), before=stage.index)
                if src is None:
                    return _origin(stage, copy.instruction, copy.source)
                stage = src
                continue
            if stage.base_stage is None:
                break
            stage = self.stages[stage.base_stage]
        return _origin(stage, stage.from_, stage.image)


def _origin(stage: Stage, ins: Instruction, image: Value) -> RuntimeOrigin:
    found = image_otp_version(text_of(image))
    line = line_at(image, found.start) if found else ins.line
    return RuntimeOrigin(stage, ins, image, line)


def _stage(
    index: int,
    ins: Instruction,
    body: list[Instruction],
    global_args: dict[str, Value],
    earlier: Mapping[str, Stage],
) -> Stage:
    words = ins.operands()
    image = expand(words[0], ins.line, global_args) if words else ()
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    base = earlier.get(text_of(image).lower())
    inherited = base.env() if base else {}
    scope = dict(inherited)
    variables: list[Var] = []
    copies: list[Copy] = []
    for b in body:
        if b.keyword in ("ARG", "ENV"):
            for n, v in _scoped_values(b, scope, global_args):
                scope[n] = v
                variables.append(Var(n, v, b.line, b.keyword == "ENV"))
        elif b.keyword == "COPY" and "from" in b.flags():
            src = expand(b.flags()["from"], b.line, scope)
            paths = tuple(b.operands()[:-1])
            copies.append(Copy(b, src, paths))
    return Stage(
        index,
        name,
        ins,
        image,
        base.index if base else None,
        tuple(body),
        tuple(copies),
        tuple(variables),
        tuple(inherited.items()),
    )


def _scoped_values(
    ins: Instruction, scope: Mapping[str, Value], global_args: Mapping[str, Value]
) -> list[tuple[str, Value]]:
    values = dict(ins.assignments())
    out: list[tuple[str, Value]] = []
    for name in ins.declared_names():
        if name in values:
            out.append((name, expand(values[name], ins.line, scope)))
        elif ins.keyword == "ARG" and name in global_args:
            out.append((name, global_args[name]))  # a bare ARG brings the global value in
    return out


def parse_dockerfile(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile's text; never raises (unknown syntax is kept as plain instructions)."""
    instructions = parse_instructions(text)
    global_args: dict[str, Value] = {}
    stages: list[Stage] = []
    named: dict[str, Stage] = {}  # the latest stage of each name, for `FROM <stage>`
    current: Instruction | None = None
    body: list[Instruction] = []

    def close() -> None:
        if current is not None:
            stage = _stage(len(stages), current, body, global_args, named)
            stages.append(stage)
            if stage.name:
                named[stage.name.lower()] = stage

    for ins in instructions:
        if ins.keyword == "FROM":
            close()
            current, body = ins, []
        elif current is None:
            if ins.keyword == "ARG":
                for n, v in _scoped_values(ins, global_args, {}):
                    global_args[n] = v
        else:
            body.append(ins)
    close()
    return Dockerfile(path, instructions, tuple(global_args.items()), tuple(stages))


# Suffixes that make `dockerfile.<suffix>` something else: source code (a `dockerfile.py` module
# such as this one), documents, data, and BuildKit's per-Dockerfile ignore file.
_NOT_DOCKERFILE_SUFFIXES = frozenset(
    [
        "py",
        "pyc",
        "rs",
        "go",
        "js",
        "ts",
        "rb",
        "ex",
        "exs",
        "erl",
        "hrl",
        "c",
        "h",
        "sh",
        "md",
        "rst",
        "txt",
        "html",
        "json",
        "yml",
        "yaml",
        "toml",
        "ini",
        "cfg",
        "lock",
        "dockerignore",
        "patch",
        "diff",
    ]
)


def is_dockerfile_name(name: str) -> bool:
    """`Dockerfile`, `Containerfile`, `Dockerfile.prod`, `app.dockerfile` (any case); not
    `dockerfile.py` or `Dockerfile.dockerignore`."""
    low = name.lower()
    if low.endswith((".dockerfile", ".containerfile")):
        return True
    if low.startswith(("dockerfile.", "containerfile.")):
        return low.rsplit(".", 1)[1] not in _NOT_DOCKERFILE_SUFFIXES
    return low in ("dockerfile", "containerfile")
