"""How a runtime was built (its build route), why it is (not) hardened, and what to change.

Produced by `gate.inspection.route` (route) and `gate.knowledge.remediation` (fixes); pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BuildRoute(StrEnum):
    """Where an OTP runtime came from; each route has its own known cause and its own fix."""

    DEBIAN_PACKAGE = "debian-package"
    UBUNTU_PACKAGE = "ubuntu-package"
    ALPINE_PACKAGE = "alpine-package"
    OFFICIAL_ERLANG_IMAGE = "official-erlang-image"  # Docker Official Image `erlang` (and `elixir`)
    HEXPM_IMAGE = "hexpm-image"  # hexpm/erlang, hexpm/elixir
    BUILDS_HEX_PM = "builds-hex-pm"  # prebuilt tarballs (setup-beam, mise without compile)
    KERL_ASDF = "kerl-asdf"  # kerl, asdf-erlang (which uses kerl), mise compiling with kerl
    DOCKERFILE_SOURCE_BUILD = (
        "dockerfile-source-build"  # `RUN ./configure` in the project's Dockerfile
    )
    SOURCE_BUILD = "source-build"  # some other `./configure && make install`
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    """How strongly the evidence ties the runtime to its route."""

    HIGH = "high"  # a package database owns the files, the image names itself, a kerl marker
    LOW = "low"  # only a layout or a path convention points at the route
    NONE = "none"  # no evidence at all (route unknown)


@dataclass(frozen=True)
class RouteEvidence:
    """One observation that points at a route, and where it was seen."""

    source: (
        str  # "dpkg-status", "dpkg-list", "changelog", "apk-db", "image", "dockerfile", "path", ...
    )
    detail: str  # human text, e.g. "erlang-base 1:25.2.3+dfsg-1+deb12u4 is installed"
    location: str | None = None  # a path (relative to the scanned root) or "Dockerfile:12"


@dataclass(frozen=True)
class ImageMetadata:
    """What an image says about itself (its config JSON), as plain values."""

    reference: str | None = None  # e.g. "hexpm/erlang:27.1-debian-bookworm-20240926"
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    history: tuple[str, ...] = ()  # `created_by` of each layer, oldest first

    def env_value(self, name: str) -> str | None:
        return next((v for k, v in self.env if k == name), None)


@dataclass(frozen=True)
class DockerfileBuild:
    """A `RUN` instruction in the project's Dockerfile that builds OTP from source."""

    path: str  # relative to the workspace the caller gave
    run_line: int  # 1-based line of the `RUN` keyword
    configure_line: int  # 1-based line holding `./configure` (or `otp_build configure`)
    run_text: str  # the whole instruction, continuation lines joined with newlines
    configure_args: tuple[str, ...]  # words after `./configure` up to the next shell operator
    flags_in_env: tuple[str, ...]  # flag variables already set by ENV/ARG before the RUN
    scoped_to_configure: tuple[str, ...]  # `CFLAGS=... ./configure`: seen by configure only
    disables_hardening: bool  # `--disable-security-hardening-flags` is passed


@dataclass(frozen=True)
class RouteFinding:
    """The build route of one runtime, the evidence for it and the known cause of its flags."""

    route: BuildRoute
    confidence: Confidence
    evidence: tuple[RouteEvidence, ...]
    cause: str | None  # the known reason this route yields (un)hardened binaries; None: unknown
    expected_hardened: bool | None  # what the route gives by default; None: depends on the builder
    recorded_flags: (
        str  # "built with CFLAGS=..., LDFLAGS= (empty)" or "build flags not recorded ..."
    )
    hardening_defaults_disabled: bool = False  # OTP >= 28 whose recorded flags lack its defaults
    package: str | None = None
    package_version: str | None = None
    distro: str | None = None  # "debian-12", "ubuntu-24.04", "alpine-3.20", "debian-unstable"
    dockerfile: DockerfileBuild | None = None
    notes: tuple[str, ...] = ()


class RemediationKind(StrEnum):
    """What kind of change a remediation asks for."""

    SET_FLAGS = "set-flags"  # export/ENV the tested flag variables before configure and make
    KEEP_OTP_DEFAULTS = "keep-otp-defaults"  # OTP >= 28: drop --disable-security-hardening-flags
    UPGRADE_OTP = "upgrade-otp"  # move to OTP >= 28 and keep its defaults
    CHANGE_SOURCE = "change-source"  # the route cannot be changed: use another image or package
    PROJECT_NIF = "project-nif"  # third-party NIFs are built by rebar3/mix with their own flags
    ADVICE = "advice"  # a note that changes no flag (e.g. CET is compile-time only for a JIT)


@dataclass(frozen=True)
class FlagSet:
    """A tested set of build variables, in the order to set them; `variables` holds only those to set."""

    variables: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = ()
    never_pass: tuple[str, ...] = ()  # configure options that must not be given

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.variables if k == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.variables)

    def as_env(self) -> dict[str, str]:
        """The variables as an environment mapping (e.g. for `subprocess.run(env=...)`)."""
        return dict(self.variables)


@dataclass(frozen=True)
class Remediation:
    """One change that fixes the failing checks in `check_ids`, for one route and OTP version."""

    kind: RemediationKind
    check_ids: tuple[str, ...]  # the failing checks this change fixes (or explains)
    title: str  # one line, second person, e.g. "Export the tested flags for configure and make"
    variables: tuple[tuple[str, str], ...] = ()  # the exact NAME=value pairs to set
    where: str | None = None  # where to put them, e.g. "ENV lines before the RUN ./configure"
    snippet: str | None = None  # ready to paste: shell exports, ~/.kerlrc lines or Dockerfile ENV
    note: str | None = None  # why, and the traps (scoping, KERL_CONFIGURE_OPTIONS, CET)
    links: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DockerfileFix:
    """A suggested change to the project's Dockerfile: replace lines `start_line`..`end_line`.

    `old_text` is exactly those lines as written; `new_text` replaces them (an `ENV` block with the
    tested flags, then the `RUN` instruction, adjusted). `diff` is the same change as a unified diff.
    """

    path: str
    start_line: int  # 1-based, inclusive: the RUN instruction's first line
    end_line: int  # 1-based, inclusive: its last continuation line
    old_text: str
    new_text: str
    diff: str
    note: str
    char_offset: int = 0  # where old_text starts in the file, in characters (SARIF `charOffset`)
    char_length: int = 0  # len(old_text) (SARIF `charLength`): replace exactly these characters


@dataclass(frozen=True)
class ExposedFailure:
    """One file's failing checks, for a summary that leads with the most exposed files."""

    path: str
    role: str
    rank: int  # gate.knowledge.remediation.exposure_rank: 0 = beam.smp, most exposed
    check_ids: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    """Why the runtime is (not) hardened and what to change: what reports show next to findings."""

    route: RouteFinding
    remediations: tuple[Remediation, ...]
    exposed: tuple[ExposedFailure, ...]  # failing files, most exposed first
    cet_expected: bool  # False: policy downgrades a failing `cet` (Debian-built, unknown, non-x86)
    dockerfile_fix: DockerfileFix | None = None
