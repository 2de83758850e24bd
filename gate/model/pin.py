"""Where a repository pins its OTP version, and how each pin compares with the releases (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gate.model.advisory import AdvisoryFinding
from gate.model.otp import DataProvenance, OtpVersion, VersionStatus


class PinKind(StrEnum):
    TOOL_VERSIONS = "tool-versions"
    MISE = "mise"
    DOCKERFILE = "dockerfile"  # the image a stage is built FROM (or a COPY --from image)
    DOCKERFILE_ARG = "dockerfile-arg"  # an OTP version ARG/ENV that is not part of a FROM
    WORKFLOW = "workflow"  # erlef/setup-beam otp-version
    IMAGE = "image"  # a container image named in a workflow or compose file
    BUILDPACK = "buildpack"  # elixir_buildpack.config erlang_version
    REBAR_MINIMUM = "rebar-minimum"  # rebar.config minimum_otp_vsn: a floor, never a pin


@dataclass(frozen=True)
class Pin:
    """One place that names the OTP version: `path` (POSIX, relative to the workspace), 1-based `line`.

    `exact` is False for a pin that floats (`27`, `erlang:27.3`, a minimum): the runtime it gives
    changes when a new patch is released, so it is reported but never blamed for being behind.
    `text` is the line as written; `produces_runtime` marks the Dockerfile line the shipped
    runtime comes from (the final stage, or the stage it copies erts or the release from).
    """

    path: str
    line: int
    version_text: str
    exact: bool
    kind: PinKind
    produces_runtime: bool = field(default=False, compare=False)
    text: str = field(default="", compare=False)

    @property
    def version(self) -> OtpVersion | None:
        return OtpVersion.try_parse(self.version_text)


class PinStatus(StrEnum):
    """How a pin compares with the published releases."""

    CURRENT = "current"  # the newest patch of a supported line
    BEHIND = "behind"  # a supported line, older than its newest patch
    UNSUPPORTED = "unsupported"  # a line that no longer gets security fixes
    UNKNOWN = "unknown"  # not a published release (or no release matches a floating pin)
    FLOOR = "floor"  # a minimum (rebar's minimum_otp_vsn): not a version anything installs


@dataclass(frozen=True)
class PinJudgement:
    """One pin judged against the release data on one day.

    `resolved` is the release the pin installs today: the pin itself when exact, the newest
    matching release when it floats. `advisories` are the advisories fixed after an exact pin.
    """

    pin: Pin
    status: PinStatus
    resolved: OtpVersion | None
    latest_patch: OtpVersion | None  # newest patch of the pin's line
    patches_behind: int
    supported_lines: tuple[int, ...]
    advisories: tuple[AdvisoryFinding, ...] = ()
    note: str = ""
    version_status: VersionStatus | None = None  # of `resolved`, for the grace-days rule


@dataclass(frozen=True)
class PinsReport:
    """Every pin of a repository, judged: what `otp-gate pins` reports and the action annotates."""

    root: str
    judgements: tuple[PinJudgement, ...]
    provenance: DataProvenance
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinEdit:
    """The one-line change that moves an exact pin to the newest patch of its line."""

    path: str
    line: int
    old_line: str  # the line as written, without its line ending
    new_line: str
    old_version: str
    new_version: str
