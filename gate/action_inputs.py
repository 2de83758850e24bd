"""The Action's inputs and the runner's context: parsed once, then turned into the engine's request.

`parse_inputs` reads every `INPUT_*` (hyphen kept, as the runner passes them), validates each
value and their combination, naming the input; `scan_request` turns them into the typed
`gate.engine.ScanRequest` both front ends run (no argv, no argparse: issue 11). Paths are
workspace-relative and may not leave the workspace.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gate.config import DEFAULT_CONFIG_NAME, Config, FailOn, VersionPolicy, parse_choice
from gate.engine import looked_up, shown_path
from gate.errors import UsageError
from gate.knowledge.remediation import EEF_CFLAGS, EEF_LDFLAGS
from gate.model.common import BackportPolicy, Format

if TYPE_CHECKING:
    from gate.engine import ScanRequest
    from gate.inspection.pins import Pin


class CommentMode(StrEnum):
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


class Source(StrEnum):
    """Where the runtime comes from; `auto` decides from the other inputs."""

    AUTO = "auto"
    PATH = "path"
    DISTRO = "distro"
    IMAGE = "image"
    IMAGE_ARCHIVE = "image-archive"
    PREBUILT = "prebuilt"
    BUILD = "build"


E = TypeVar("E", bound=StrEnum)

_TRUE = ("true", "True", "TRUE")
_FALSE = ("false", "False", "FALSE")


@dataclass(frozen=True)
class Inputs:
    """Every action input, parsed and validated once (names as in `action.yml`)."""

    path: str = ""  # empty: decided by `source: auto` (see `cli_arguments`)
    image: str = ""
    image_archive: str = ""
    platform: str = ""
    otp_version: str = ""
    source: Source = Source.AUTO
    cflags: str = ""  # source: build only
    ldflags: str = ""
    configure_args: tuple[str, ...] = ()  # split like a shell would, once, here
    builds_mirror: str = ""  # prebuilt (and source: auto with a pin)
    source_mirror: str = ""  # source: build
    fail_on: FailOn | None = None  # None: the config file's value, else `error`
    version_policy: VersionPolicy | None = None
    grace_days: int | None = None
    distro_backports: BackportPolicy = BackportPolicy.IGNORE
    comment: CommentMode = CommentMode.ON_FAILURE
    check_run: bool = False
    drift_issue: bool = True
    drift_pr: bool = False  # on a schedule, keep one pull request bumping the pins (issue 10)
    reports: str = ""  # a glob of matrix jobs' JSON reports to merge instead of scanning
    config_file: str = DEFAULT_CONFIG_NAME
    github_token: str = ""
    release_data_token: str = ""  # for erlang/otp's data on github.com; never the workflow's token
    format: Format = Format.TEXT
    offline: bool = False


def get_input(environ: Mapping[str, str], name: str) -> str:
    """The runner passes `INPUT_FAIL-ON` (hyphen kept, upper case); accept `INPUT_FAIL_ON` too."""
    key = "INPUT_" + name.upper()
    for k in (key, key.replace("-", "_")):
        if k in environ:
            return environ[k].strip()
    return ""


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    # The YAML 1.2 core schema booleans, as actions/toolkit's getBooleanInput accepts them.
    value = get_input(environ, name)
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"input {name}: {value!r} is not a boolean; allowed values: true, false")


def _choice(environ: Mapping[str, str], name: str, enum: type[E], default: E | None) -> E | None:
    value = get_input(environ, name)
    if not value:
        return default
    return parse_choice(enum, value, f"input {name}")


def _words(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    import shlex

    try:
        return tuple(shlex.split(get_input(environ, name)))
    except ValueError as e:
        raise UsageError(f"input {name}: {e}") from None


def _url(environ: Mapping[str, str], name: str) -> str:
    value = get_input(environ, name)
    if value and not value.startswith(("https://", "http://")):
        raise UsageError(f"input {name}: {value!r} is not an http(s) URL")
    return value


def parse_inputs(environ: Mapping[str, str]) -> Inputs:
    """Read and validate every input; a bad value raises `UsageError` naming the input and the choices."""
    grace = get_input(environ, "grace-days")
    grace_days: int | None = None
    if grace:
        if not grace.isdigit() or int(grace) > 3650:
            raise UsageError(
                f"input grace-days: {grace!r} is not a whole number of days from 0 to 3650"
            )
        grace_days = int(grace)
    inputs = Inputs(
        path=get_input(environ, "path"),
        image=get_input(environ, "image"),
        image_archive=get_input(environ, "image-archive"),
        platform=get_input(environ, "platform"),
        otp_version=get_input(environ, "otp-version"),
        source=_choice(environ, "source", Source, Source.AUTO) or Source.AUTO,
        cflags=get_input(environ, "cflags"),
        ldflags=get_input(environ, "ldflags"),
        configure_args=_words(environ, "configure-args"),
        builds_mirror=_url(environ, "builds-mirror"),
        source_mirror=_url(environ, "source-mirror"),
        fail_on=_choice(environ, "fail-on", FailOn, None),
        version_policy=_choice(environ, "version-policy", VersionPolicy, None),
        grace_days=grace_days,
        distro_backports=_choice(environ, "distro-backports", BackportPolicy, BackportPolicy.IGNORE)
        or BackportPolicy.IGNORE,
        comment=_choice(environ, "comment", CommentMode, CommentMode.ON_FAILURE)
        or CommentMode.ON_FAILURE,
        check_run=_bool(environ, "check-run", False),
        drift_issue=_bool(environ, "drift-issue", True),
        drift_pr=_bool(environ, "drift-pr", False),
        reports=get_input(environ, "reports"),
        config_file=get_input(environ, "config-file") or DEFAULT_CONFIG_NAME,
        github_token=get_input(environ, "github-token"),
        release_data_token=get_input(environ, "release-data-token"),
        format=_choice(environ, "format", Format, Format.TEXT) or Format.TEXT,
        offline=_bool(environ, "offline", False),
    )
    _check_combination(inputs)
    return inputs


def _check_combination(i: Inputs) -> None:
    """The runner does not enforce `required:` or exclusivity: do it here, naming the inputs."""
    if i.reports and (
        i.path or i.image or i.image_archive or i.otp_version or i.source != Source.AUTO
    ):
        raise UsageError(
            "input reports: merges the JSON reports of other jobs, so it cannot be combined "
            "with path, image, image-archive, otp-version or source"
        )
    given = [
        n
        for n, v in (
            ("path", i.path),
            ("image", i.image),
            ("image-archive", i.image_archive),
            ("otp-version", i.otp_version),
        )
        if v
    ]
    if len(given) > 1:
        raise UsageError(f"inputs {' and '.join(given)}: give only one runtime to scan")
    # `otp-version` may be left empty for prebuilt/build: it then defaults to the exact version the
    # repository pins (found when the workspace is known, in `cli_arguments`).
    need = {
        Source.IMAGE: ("image", i.image),
        Source.IMAGE_ARCHIVE: ("image-archive", i.image_archive),
    }
    if i.source in need and not need[i.source][1]:
        raise UsageError(f"input {need[i.source][0]} is required when source is {i.source.value}")
    others = [n for n in given if n != "path"]
    if i.source in (Source.PATH, Source.DISTRO) and others:
        raise UsageError(f"input source is {i.source.value}, so input {others[0]} cannot be used")
    if i.source == Source.BUILD and (i.image or i.image_archive):
        raise UsageError("input source is build, so inputs image and image-archive cannot be used")
    build_only = [
        n
        for n, v in (
            ("cflags", i.cflags),
            ("ldflags", i.ldflags),
            ("configure-args", i.configure_args),
        )
        if v
    ]
    if build_only and i.source != Source.BUILD:
        raise UsageError(f"input {build_only[0]} only applies with source: build")
    if i.source_mirror and i.source != Source.BUILD:
        raise UsageError("input source-mirror only applies with source: build")
    if i.builds_mirror and i.source not in (Source.AUTO, Source.PREBUILT, Source.BUILD):
        raise UsageError("input builds-mirror only applies with source prebuilt (or auto)")
    if i.platform and not (i.image or i.image_archive):
        raise UsageError("input platform only applies with input image or image-archive")
    if any(c in i.path for c in "\0\n\r"):
        raise UsageError("input path: contains a control character")


# -- the event -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What the runner tells about this run; all plain values."""

    event_name: str
    repository: str
    pr_number: int | None
    head_sha: str
    fork: bool
    workspace: Path
    api_url: str
    run_url: str | None
    sticky_key: str

    @property
    def is_pull_request(self) -> bool:
        return self.pr_number is not None

    @property
    def is_scheduled(self) -> bool:
        return self.event_name in ("schedule", "workflow_dispatch")


def read_context(environ: Mapping[str, str]) -> Context:
    """Parse `GITHUB_EVENT_NAME` and the payload at `GITHUB_EVENT_PATH` (pull_request, pull_request_target,
    schedule, workflow_dispatch, push; anything else runs the gate without PR features)."""
    event_name = environ.get("GITHUB_EVENT_NAME", "")
    payload: dict[str, object] = {}
    path = environ.get("GITHUB_EVENT_PATH")
    if path:
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"GITHUB_EVENT_PATH {path}: cannot read the event payload: {e}") from e
        if isinstance(loaded, dict):
            payload = loaded
    pr_number: int | None = None
    head_sha = environ.get("GITHUB_SHA", "")
    fork = False
    pr = payload.get("pull_request")
    if event_name in ("pull_request", "pull_request_target") and isinstance(pr, dict):
        number = pr.get("number", payload.get("number"))
        pr_number = number if isinstance(number, int) else None
        head = pr.get("head") if isinstance(pr.get("head"), dict) else {}
        base = pr.get("base") if isinstance(pr.get("base"), dict) else {}
        assert isinstance(head, dict) and isinstance(base, dict)
        # GITHUB_SHA is the merge commit for pull_request: a check run belongs on the PR's head.
        sha = head.get("sha")
        if isinstance(sha, str) and sha:
            head_sha = sha
        head_repo = head.get("repo") if isinstance(head.get("repo"), dict) else None
        base_repo = base.get("repo") if isinstance(base.get("repo"), dict) else None
        head_name = head_repo.get("full_name") if head_repo else None
        base_name = base_repo.get("full_name") if base_repo else None
        # A deleted fork has no head repo: treat it as a fork (read-only token).
        fork = head_name is None or head_name != base_name
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None
    key = "/".join(environ.get(k, "") for k in ("GITHUB_WORKFLOW", "GITHUB_JOB"))
    return Context(
        event_name=event_name,
        repository=repository,
        pr_number=pr_number,
        head_sha=head_sha,
        fork=fork,
        workspace=Path(environ.get("GITHUB_WORKSPACE") or os.getcwd()),
        api_url=environ.get("GITHUB_API_URL", "https://api.github.com"),
        run_url=run_url,
        sticky_key=key,
    )


# -- the engine ------------------------------------------------------------------------------
def pinned_version(workspace: Path) -> Pin | None:
    """The exact OTP version the repository pins (the first exact pin found), if any."""
    from gate.inspection.pins import find_pins

    pins = find_pins(workspace) if workspace.is_dir() else ()
    return next((p for p in pins if p.exact and p.version is not None), None)


def _otp_version(inputs: Inputs, ctx: Context, source: Source) -> str:
    if inputs.otp_version:
        return inputs.otp_version
    pin = pinned_version(ctx.workspace)
    if pin is None:
        raise UsageError(
            f"input otp-version is required when source is {source.value}: the repository pins no "
            "exact OTP version (.tool-versions, mise.toml, Dockerfile FROM, setup-beam otp-version)"
        )
    return pin.version_text


def _auto_source(inputs: Inputs, ctx: Context) -> Source:
    """`source: auto` takes, in order: `path`, `image`, `image-archive`, `otp-version`; with none
    of them, the prebuilt OTP of the version the repository pins exactly (what setup-beam, mise
    and the buildpack install from builds.hex.pm), else the workspace itself."""
    if inputs.source != Source.AUTO:
        return inputs.source
    if inputs.path:
        return Source.PATH
    if inputs.image:
        return Source.IMAGE
    if inputs.image_archive:
        return Source.IMAGE_ARCHIVE
    if inputs.otp_version or pinned_version(ctx.workspace) is not None:
        return Source.PREBUILT
    return Source.PATH


def scan_request(inputs: Inputs, ctx: Context) -> ScanRequest:
    """The engine's typed request for these inputs: no argv, no argparse (issue 11)."""
    from gate.engine import BuildRequest, ScanRequest, Target
    from gate.model.options import ACTION_INPUTS

    source = _auto_source(inputs, ctx)
    fields: dict[str, Any] = {}
    if source == Source.PATH:
        fields["path"] = _existing(inputs.path or ".", "path", ctx.workspace)
    elif source == Source.IMAGE:
        fields["image"] = inputs.image
    elif source == Source.IMAGE_ARCHIVE:
        fields["path"] = _existing(inputs.image_archive, "image-archive", ctx.workspace)
    elif source in (Source.PREBUILT, Source.BUILD):
        fields["otp_version"] = _otp_version(inputs, ctx, source)
        fields["builds_mirror"] = inputs.builds_mirror or None
    if source == Source.BUILD:
        fields["build"] = BuildRequest(
            cflags=inputs.cflags or EEF_CFLAGS,
            ldflags=inputs.ldflags or EEF_LDFLAGS,
            configure_args=inputs.configure_args,
            source_mirror=inputs.source_mirror or None,
        )
    return ScanRequest(
        target=Target(source.value),
        config=_config(inputs, ctx),
        platform=inputs.platform or None,
        offline=inputs.offline,
        backports=inputs.distro_backports,
        workspace=ctx.workspace,
        names=ACTION_INPUTS,
        group_log=True,
        display_base=ctx.workspace,
        **fields,
    )


def pins_request(inputs: Inputs, ctx: Context) -> ScanRequest:
    """The request that judges the workspace's pins (issue 10): the policy and data settings of
    the step, no runtime."""
    from gate.engine import ScanRequest, Target
    from gate.model.options import ACTION_INPUTS

    return ScanRequest(
        target=Target.PATH,
        path=ctx.workspace,
        config=_config(inputs, ctx),
        offline=inputs.offline,
        builds_mirror=inputs.builds_mirror or None,
        workspace=ctx.workspace,
        names=ACTION_INPUTS,
        display_base=ctx.workspace,
    )


def _config(inputs: Inputs, ctx: Context) -> Config:
    """The config file (in the workspace), with the policy inputs over it."""
    from gate.config import load_config_file

    path = in_workspace(inputs.config_file, "config-file", ctx.workspace)
    if path.is_file():
        config = load_config_file(path)
    elif inputs.config_file != DEFAULT_CONFIG_NAME:
        raise UsageError(f"input config-file: {inputs.config_file}: no such file in the workspace")
    else:
        config = Config()
    config = config.with_options(fail_on=inputs.fail_on, version_policy=inputs.version_policy)
    if inputs.grace_days is not None:
        config = dataclasses.replace(config, grace_days=inputs.grace_days)
    return config


def in_workspace(text: str, name: str, workspace: Path) -> Path:
    """`text` under the workspace; refused when it leaves it (`..`, an absolute path elsewhere).

    Checked on the path as written: a symbolic link the repository holds is its own content.
    """
    joined = Path(os.path.normpath(workspace / text))
    base = Path(os.path.normpath(workspace))
    if joined != base and base not in joined.parents:
        raise UsageError(
            f"input {name}: {shown_path(Path(text))}: outside the workspace",
            hint="give a path relative to the repository checkout (GITHUB_WORKSPACE)",
        )
    return joined


def _existing(text: str, name: str, workspace: Path) -> Path:
    path = in_workspace(text, name, workspace)
    # Looked up first: Path.exists() raises on a name over 255 bytes or a path over 4,096.
    looked_up(path, what=f"input {name}")
    if not path.exists():
        what = "broken symbolic link" if path.is_symlink() else "no such file or directory"
        raise UsageError(f"input {name}: {shown_path(Path(text))}: {what} in the workspace")
    return path
