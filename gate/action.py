"""The GitHub Action front end: `INPUT_*` and the event in, the same engine as the CLI, GitHub reporting out.

Order matters: the job summary is written first (it is where people look when anything later fails),
then report files, step outputs, annotations, the log, and only then the network sinks (PR comment,
check run, drift issue), whose failures become warnings: they never change the verdict.
`main(environ=None) -> int`; nothing runs at import.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from gate.config import DEFAULT_CONFIG_NAME, FailOn, VersionPolicy, parse_choice
from gate.errors import GateError, UsageError
from gate.model.report import ExitCode

if TYPE_CHECKING:
    from gate.action_pins import PinsOutcome
    from gate.github.client import GitHubApiError, GitHubClient
    from gate.inspection.pins import Pin
    from gate.model.merged import RuntimeSummary
    from gate.report import Result

#: The check run's name and the title of the summary section.
GATE_NAME = "otp-hardening-gate"
SUMMARY_MAX_CHARS = (
    900_000  # the markdown renderer counts characters; the sink enforces 1 MiB bytes
)
COMMENT_MAX_CHARS = 60_000


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


class Backports(StrEnum):
    """Whether fixes a distribution backported into its OTP package count (see docs/versions.md)."""

    IGNORE = "ignore"
    TRUST = "trust"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


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
    configure_args: str = ""
    fail_on: FailOn | None = None  # None: the config file's value, else `error`
    version_policy: VersionPolicy | None = None
    grace_days: int | None = None
    distro_backports: Backports = Backports.IGNORE
    comment: CommentMode = CommentMode.ON_FAILURE
    check_run: bool = False
    drift_issue: bool = True
    drift_pr: bool = False
    reports: str = ""  # a glob of JSON reports: merge them instead of scanning
    config_file: str = DEFAULT_CONFIG_NAME
    github_token: str = ""
    format: LogFormat = LogFormat.TEXT
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
        configure_args=get_input(environ, "configure-args"),
        fail_on=_choice(environ, "fail-on", FailOn, None),
        version_policy=_choice(environ, "version-policy", VersionPolicy, None),
        grace_days=grace_days,
        distro_backports=_choice(environ, "distro-backports", Backports, Backports.IGNORE)
        or Backports.IGNORE,
        comment=_choice(environ, "comment", CommentMode, CommentMode.ON_FAILURE)
        or CommentMode.ON_FAILURE,
        check_run=_bool(environ, "check-run", False),
        drift_issue=_bool(environ, "drift-issue", True),
        drift_pr=_bool(environ, "drift-pr", False),
        reports=get_input(environ, "reports"),
        config_file=get_input(environ, "config-file") or DEFAULT_CONFIG_NAME,
        github_token=get_input(environ, "github-token"),
        format=_choice(environ, "format", LogFormat, LogFormat.TEXT) or LogFormat.TEXT,
        offline=_bool(environ, "offline", False),
    )
    _check_combination(inputs)
    return inputs


def _check_combination(i: Inputs) -> None:
    """The runner does not enforce `required:` or exclusivity: do it here, naming the inputs."""
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
    if i.platform and not (i.image or i.image_archive):
        raise UsageError("input platform only applies with input image or image-archive")
    if i.reports and (given or i.source not in (Source.AUTO,)):
        raise UsageError(
            "input reports: merges the JSON reports of other jobs, so it cannot be combined "
            "with path, image, image-archive, otp-version or source"
        )
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


def cli_arguments(inputs: Inputs, ctx: Context) -> list[str]:
    """The `otp-gate scan`/`build` arguments that express these inputs: one engine for both front ends.

    `source: auto` takes, in order: `path`, `image`, `image-archive`, `otp-version`; with none of
    them, the prebuilt OTP of the version the repository pins exactly (what setup-beam, mise and
    the buildpack install from builds.hex.pm), else the workspace itself.
    """
    source = inputs.source
    if source == Source.AUTO:
        source = (
            Source.PATH
            if inputs.path
            else Source.IMAGE
            if inputs.image
            else Source.IMAGE_ARCHIVE
            if inputs.image_archive
            else Source.PREBUILT
            if inputs.otp_version or pinned_version(ctx.workspace) is not None
            else Source.PATH
        )
    argv = ["build" if source == Source.BUILD else "scan"]
    if source == Source.PATH:
        argv.append(str(_in_workspace(inputs.path or ".", ctx.workspace)))
    elif source == Source.DISTRO:
        argv.append("--distro")
    elif source == Source.IMAGE:
        argv += ["--image", inputs.image]
    elif source == Source.IMAGE_ARCHIVE:
        argv += ["--image-archive", str(_in_workspace(inputs.image_archive, ctx.workspace))]
    elif source == Source.PREBUILT:
        argv += ["--otp-version", _otp_version(inputs, ctx, source)]
    elif source == Source.BUILD:
        argv += ["--otp-version", _otp_version(inputs, ctx, source)]
        for flag, value in (
            ("--cflags", inputs.cflags),
            ("--ldflags", inputs.ldflags),
            ("--configure-args", inputs.configure_args),
        ):
            if value:
                argv += [flag, value]
    if inputs.platform:
        argv += ["--platform", inputs.platform]
    return argv + policy_arguments(inputs, ctx)


def policy_arguments(inputs: Inputs, ctx: Context) -> list[str]:
    """The options shared by `scan`, `build` and `pins`: config file, policy, data."""
    argv: list[str] = []
    config = _in_workspace(inputs.config_file, ctx.workspace)
    if config.is_file():
        argv += ["--config", str(config)]
    elif inputs.config_file != DEFAULT_CONFIG_NAME:
        raise UsageError(f"input config-file: {inputs.config_file}: no such file in the workspace")
    if inputs.fail_on is not None:
        argv += ["--fail-on", inputs.fail_on.value]
    if inputs.version_policy is not None:
        argv += ["--version-policy", inputs.version_policy.value]
    if inputs.grace_days is not None:
        argv += ["--grace-days", str(inputs.grace_days)]
    if inputs.distro_backports != Backports.IGNORE:
        argv += ["--distro-backports", inputs.distro_backports.value]
    if inputs.offline:
        argv.append("--offline")
    return argv


def _in_workspace(path: str, workspace: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else workspace / p


#: What the engine returns per runtime: `(report, verdict)`.
Results = list["Result"]


def _markdown(results: Results, max_chars: int) -> str:
    """The one Markdown rendering (summary, comment, check run), each runtime's share of `max_chars`."""
    from gate.report import markdown

    share = max_chars // max(1, len(results))
    return "\n\n---\n\n".join(markdown.render(r[0], r[1], max_chars=share) for r in results)


def run_engine(argv: Sequence[str], environ: Mapping[str, str]) -> Results:
    """Acquire, scan and evaluate exactly as `otp-gate scan` does, returning the results instead of printing."""
    from gate.cli import run_scan

    return [*run_scan(argv, environ)]


# -- report locations ------------------------------------------------------------------------
def report_dir(environ: Mapping[str, str], github_home: str = "/github/home") -> tuple[Path, str]:
    """(where to write in this container, the same folder as later steps see it).

    Reports go under RUNNER_TEMP so no root-owned file lands in the user's workspace. Older
    runners do not mount RUNNER_TEMP into a Docker action (actions/runner#1984), but
    `/github/home` is always mounted, and is `$RUNNER_TEMP/_github_home` on the host.
    """
    temp = environ.get("RUNNER_TEMP", "")
    if temp and os.path.isdir(temp) and os.access(temp, os.W_OK):
        d = Path(os.path.normpath(temp)) / "otp-gate"
        return d, str(d)
    if temp and os.path.isdir(github_home) and os.access(github_home, os.W_OK):
        host = os.path.normpath(temp) + "/_github_home/otp-gate"
        return Path(github_home) / "otp-gate", host
    import tempfile

    d = Path(tempfile.gettempdir()) / "otp-gate"
    return d, str(d)


# -- GitHub features -------------------------------------------------------------------------
class Log:
    """The step log: every line goes through here, so nothing untrusted is printed raw."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.warnings: list[str] = []

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def command(self, name: str, message: str, **props: str | int | None) -> None:
        from gate.report.commands import command

        self.line(command(name, message, props))

    def warning(self, message: str, title: str = "otp-gate") -> None:
        self.warnings.append(message)
        self.command("warning", message, title=title)

    def untrusted_block(self, text: str) -> None:
        from gate.report.commands import stop_commands

        self.line(stop_commands(text))


def _permission_warning(
    log: Log, e: GitHubApiError, what: str, permission: str, ctx: Context
) -> None:
    line = f"`permissions: {permission}: write`"
    if ctx.fork and e.forbidden:
        log.warning(
            f"Could not {what} (HTTP {e.status}): pull requests from forks get a read-only token, "
            f"even with {line} in the workflow, unless the repository allows write tokens for fork "
            "pull requests. The verdict is unchanged and the full report is in the job summary. To "
            "comment on fork PRs, run the gate from a `pull_request_target` or `workflow_run` "
            f"workflow with {line} that never builds or runs the fork's code."
        )
    elif e.forbidden:
        log.warning(
            f"Could not {what} (HTTP {e.status}): the token lacks permission. Add {line} to the "
            "job (or the workflow). The verdict is unchanged."
        )
    else:
        log.warning(f"Could not {what}: {e.message}. The verdict is unchanged.")


def _client(inputs: Inputs, ctx: Context, environ: Mapping[str, str]) -> GitHubClient:
    from gate.github.client import GitHubClient

    # Tests set a tiny write spacing; GitHub asks integrations to space writes by about a second.
    spacing = float(environ.get("OTP_GATE_WRITE_SPACING", "0.5"))
    return GitHubClient(
        inputs.github_token, ctx.repository, api_url=ctx.api_url, seconds_between_writes=spacing
    )


def _sticky_comment(
    inputs: Inputs,
    ctx: Context,
    results: Results,
    passed: bool,
    log: Log,
    client: Callable[[], GitHubClient],
    text: str | None = None,
) -> None:
    from gate.github.client import GitHubApiError
    from gate.github.comment import CommentAction, marker, publish

    if inputs.comment == CommentMode.NEVER or ctx.pr_number is None:
        return
    # One comment per gate step: a matrix runs the same job over several runtimes.
    target = (
        inputs.source,
        inputs.path,
        inputs.image,
        inputs.image_archive,
        inputs.otp_version,
        inputs.platform,
        *((inputs.reports,) if inputs.reports else ()),
    )
    mark = marker("/".join((ctx.sticky_key, *target)))
    # on-failure: say nothing on a clean PR, but do update an earlier failure comment to "pass",
    # so a fixed PR does not keep a stale red comment.
    create = inputs.comment == CommentMode.ALWAYS or not passed
    if text is None:
        text = _markdown(results, COMMENT_MAX_CHARS)
    try:
        result = publish(client(), ctx.pr_number, text, mark, ctx.run_url, create=create)
    except GitHubApiError as e:
        _permission_warning(
            log, e, f"write the pull request comment on #{ctx.pr_number}", "pull-requests", ctx
        )
        return
    if result.action != CommentAction.SKIPPED:
        log.line(f"otp-gate: pull request comment {result.action.value} (id {result.comment_id})")


def _check_run(
    inputs: Inputs,
    ctx: Context,
    results: Results,
    passed: bool,
    pins: Sequence[Pin],
    log: Log,
    client: Callable[[], GitHubClient],
    judged: PinsOutcome | None = None,
    origin: tuple[str, int] | None = None,
) -> None:
    from gate.github.check_run import publish_check_run
    from gate.github.client import GitHubApiError
    from gate.report.annotations import build as build_annotations
    from gate.report.annotations import pin_annotations

    if not inputs.check_run or not ctx.head_sha:
        return
    if judged is not None:
        notes = [a for r, v in results for a in build_annotations(r, v, (), origin)]
        notes += pin_annotations(judged.verdict)
    else:
        notes = [a for r, v in results for a in build_annotations(r, v, pins, origin)]
    summary = _markdown(results, 60_000)
    try:
        run = publish_check_run(
            client(), GATE_NAME, ctx.head_sha, passed, summary, notes, ctx.run_url
        )
    except GitHubApiError as e:
        _permission_warning(log, e, "create the check run", "checks", ctx)
        return
    log.line(f"otp-gate: check run {run.id} created on {ctx.head_sha[:12]}")


def _drift(
    inputs: Inputs,
    ctx: Context,
    results: Results | Sequence[RuntimeSummary],
    judged: PinsOutcome | None,
    log: Log,
    client: Callable[[], GitHubClient],
) -> None:
    from gate.github.client import GitHubApiError
    from gate.github.drift import sync
    from gate.model.merged import RuntimeSummary

    if not inputs.drift_issue or not ctx.is_scheduled:
        return
    pins = judged.report.judgements if judged is not None else ()
    runtimes = [r if isinstance(r, RuntimeSummary) else r[0] for r in results]
    try:
        outcome = sync(client(), runtimes, pins, ctx.run_url)
    except GitHubApiError as e:
        _permission_warning(log, e, "update the drift tracking issue", "issues", ctx)
        return
    log.line(
        f"otp-gate: drift issue {outcome.action.value}"
        + (f" (#{outcome.number})" if outcome.number else "")
    )


def _pin_fixes(
    inputs: Inputs,
    ctx: Context,
    judged: PinsOutcome | None,
    log: Log,
    client: Callable[[], GitHubClient],
) -> None:
    """Review suggestions on a pull request; the pin-bump pull request on a schedule (issue 10)."""
    from gate.action_pins import suggest_or_bump
    from gate.github.client import GitHubApiError

    suggest = inputs.comment != CommentMode.NEVER and ctx.pr_number is not None
    bump = inputs.drift_pr and ctx.is_scheduled
    if judged is None or not (suggest or bump):
        return
    try:
        said = suggest_or_bump(client(), judged, ctx.workspace, ctx.pr_number, ctx.head_sha, bump)
    except GitHubApiError as e:
        if suggest:
            _permission_warning(log, e, "suggest the pin changes", "pull-requests", ctx)
        else:
            _permission_warning(log, e, "update the pin-bump pull request", "contents", ctx)
        return
    if said:
        log.line(said)


# -- main ------------------------------------------------------------------------------------
def _outputs(results: Results, json_path: str, sarif_path: str, result: str) -> dict[str, str]:
    report = results[0][0] if results else None
    vs = report.version_status if report else None
    version = report.otp.version if report else None
    if version is None and vs is not None:
        version = vs.version
    findings = sum(1 for _, v in results for r in v.reasons if r.severity.rank >= 2)
    return {
        "result": result,
        "otp-version": str(version) if version else "",
        "latest-patch": str(vs.latest_patch) if vs and vs.latest_patch else "",
        "findings": str(findings),
        "report-json": json_path,
        "report-sarif": sarif_path,
    }


def pin_summary(judged: PinsOutcome) -> str:
    from gate.action_pins import summary

    return summary(judged)


def _error_summary(e: GateError) -> str:
    """What failed, the fix, and for a bad input a YAML snippet with an allowed value (exit code 2)."""
    import re

    from gate.report.markdown import escape

    lines = [f"### ❗ {GATE_NAME}: could not run", "", f"**{e.kind} error:** {escape(e.message)}"]
    if e.hint:
        lines += ["", f"**What to do:** {escape(e.hint)}"]
    m = re.match(r"input ([a-z-]+): .*(?:one of|allowed values): ([a-z0-9-]+)", e.message)
    if m:
        lines += [
            "",
            "Set the input to one of the allowed values, for example:",
            "",
            "```yaml",
            "- uses: docker://ghcr.io/<owner>/otp-hardening-gate@sha256:<digest>",
            "  with:",
            f"    {m.group(1)}: {m.group(2)}",
            "```",
        ]
    lines += [
        "",
        "This is a usage or tool error (exit code 2), not the gate's verdict. "
        "Inputs and workflow examples: `docs/action.md` in the gate's repository.",
    ]
    return "\n".join(lines) + "\n"


def main(environ: Mapping[str, str] | None = None, stdout: TextIO | None = None) -> int:
    """Run the action with the runner's environment; return the exit code (0 pass, 1 fail, 2 error)."""
    from gate.github import sinks

    env = os.environ if environ is None else environ
    log = Log(stdout or sys.stdout)
    pins: PinsOutcome | None = None
    try:
        inputs = parse_inputs(env)
        ctx = read_context(env)
        engine_env = dict(env)
        if inputs.github_token and not env.get("GITHUB_TOKEN"):
            # Live release data (GitHub's API) is rate-limited hard without a token.
            engine_env["GITHUB_TOKEN"] = inputs.github_token
        # The pins first: judging them needs release data only, so an acquire error below still
        # reports every pin (issue 10).
        pins = _judge_pins(inputs, ctx, engine_env, log)
        if inputs.reports:
            return _merged(inputs, ctx, env, log, pins)
        argv = cli_arguments(inputs, ctx)
        results = run_engine(argv, engine_env)
    except GateError as e:
        summary = _error_summary(e) + (f"\n---\n\n{pin_summary(pins)}" if pins else "")
        try:
            sinks.write_summary(summary, env)
            sinks.write_outputs({"result": "error"}, env)
        except GateError as inner:
            log.command("error", inner.diagnostics(), title=f"{GATE_NAME}: cannot write")
        log.command("error", e.diagnostics(), title=f"{GATE_NAME}: {e.kind} error")
        if pins is not None:
            _pins_without_runtime(inputs, ctx, pins, env, log)
        return int(ExitCode.ERROR)

    except Exception as e:  # a bug must read as "could not run" (exit 2), never as a verdict
        return _internal_error(e, log)

    try:
        return _report(inputs, ctx, results, env, log, pins)
    except GateError as e:
        log.command("error", e.diagnostics(), title=f"{GATE_NAME}: {e.kind} error")
        return int(ExitCode.ERROR)
    except Exception as e:
        return _internal_error(e, log)


def _merged(
    inputs: Inputs, ctx: Context, env: Mapping[str, str], log: Log, pins: PinsOutcome | None
) -> int:
    """Many runtimes, one answer (issue 10): the matrix jobs' JSON reports give one summary, one
    sticky comment and one drift issue; the pins are judged as in every run."""
    from gate.action_pins import annotation_lines, read_report_glob, worse
    from gate.github import sinks
    from gate.report import merged

    runtimes = read_report_glob(inputs.reports, ctx.workspace)
    code = worse(merged.worst(runtimes), pins)
    text = merged.markdown(runtimes)
    sinks.write_summary(text + (f"\n---\n\n{pin_summary(pins)}" if pins else ""), env)
    failing = sum(1 for r in runtimes for x in r.reasons if x.severity.rank >= 2)
    result = "pass" if code == ExitCode.PASS else "fail"
    sinks.write_outputs({"result": result, "findings": str(failing)}, env)
    for line in annotation_lines(pins) if pins else []:
        log.line(line)
    if inputs.github_token and ctx.repository:
        client = _client(inputs, ctx, env)
        try:
            _sticky_comment(inputs, ctx, [], code == ExitCode.PASS, log, lambda: client, text)
            _drift(inputs, ctx, runtimes, pins, log, lambda: client)
            _pin_fixes(inputs, ctx, pins, log, lambda: client)
        finally:
            client.close()
    log.line(f"otp-gate: {result} (exit {int(code)}) for {len(runtimes)} runtimes")
    return int(code)


def _judge_pins(
    inputs: Inputs, ctx: Context, environ: Mapping[str, str], log: Log
) -> PinsOutcome | None:
    from gate.action_pins import judge_or_warn

    return judge_or_warn(policy_arguments(inputs, ctx), ctx.workspace, environ, log.warning)


def _pins_without_runtime(
    inputs: Inputs, ctx: Context, pins: PinsOutcome, env: Mapping[str, str], log: Log
) -> None:
    """After an acquire error: the pins' annotations, their review suggestions on a pull request,
    the drift issue and pin-bump pull request on a schedule."""
    from gate.action_pins import annotation_lines

    for line in annotation_lines(pins):
        log.line(line)
    if (ctx.is_scheduled or ctx.is_pull_request) and inputs.github_token and ctx.repository:
        client = _client(inputs, ctx, env)
        try:
            _drift(inputs, ctx, [], pins, log, lambda: client)
            _pin_fixes(inputs, ctx, pins, log, lambda: client)
        finally:
            client.close()


def _internal_error(e: Exception, log: Log) -> int:
    import traceback

    log.command(
        "error", f"internal error: {type(e).__name__}: {e}", title=f"{GATE_NAME}: internal error"
    )
    # The traceback may quote scanned file names: keep it out of command processing.
    log.untrusted_block(traceback.format_exc())
    return int(ExitCode.ERROR)


def _report(
    inputs: Inputs,
    ctx: Context,
    results: Results,
    env: Mapping[str, str],
    log: Log,
    judged: PinsOutcome | None = None,
) -> int:
    from gate.action_pins import runtime_at, worse
    from gate.github import sinks
    from gate.inspection.pins import find_pins
    from gate.report import Format, render_many
    from gate.report import sarif as sarif_mod
    from gate.report.annotations import render_all as render_annotations

    code = worse(max((v.exit_code for _, v in results), default=ExitCode.ERROR), judged)
    passed = code == ExitCode.PASS

    # 1. The job summary, first: it is the one report that is always there.
    summary = _markdown(results, SUMMARY_MAX_CHARS)
    if judged is not None:
        summary += "\n\n---\n\n" + pin_summary(judged)
    sinks.write_summary(summary, env)

    # 2. Report files under RUNNER_TEMP, then the step outputs that point at them.
    if judged is not None:
        pins: Sequence[Pin] = [j.pin for j in judged.report.judgements]
    else:
        pins = find_pins(ctx.workspace) if ctx.workspace.is_dir() else ()
    here, there = report_dir(env)
    origin = runtime_at(ctx.workspace)
    runtime_pin = sarif_mod.Pin(*origin) if origin else None
    version_pin = next((p for p in pins if p.exact), None)
    sinks.write_report_file(here / "report.json", render_many(Format.JSON, results))
    sinks.write_report_file(
        here / "report.sarif",
        sarif_mod.render_many(
            results,
            uri_base=_uri_base(inputs, ctx),
            hardening_pin=runtime_pin,
            version_pin=sarif_mod.Pin(version_pin.path, version_pin.line) if version_pin else None,
        ),
    )
    result = "pass" if passed else "fail"
    sinks.write_outputs(
        _outputs(results, f"{there}/report.json", f"{there}/report.sarif", result), env
    )

    # 3. Annotations (escaped, at most 10 per type), then the report itself, in a stop-commands block
    #    because it quotes file names and strings from the scanned binaries.
    for line in render_annotations(
        results, pins, pin_verdict=judged.verdict if judged else None, runtime_at=origin
    ):
        log.line(line)
    log.untrusted_block(render_many(Format(inputs.format.value), results))

    # 4. The network sinks: warnings on failure, never a changed verdict.
    made: list[GitHubClient] = []

    def client() -> GitHubClient:
        if not made:
            made.append(_client(inputs, ctx, env))
        return made[0]

    wants_github = (
        (inputs.comment != CommentMode.NEVER and ctx.is_pull_request)
        or inputs.check_run
        or ((inputs.drift_issue or inputs.drift_pr) and ctx.is_scheduled)
    )
    if wants_github and not inputs.github_token:
        log.warning(
            "input github-token is empty: no PR comment, check run or drift issue. Pass `github-token: ${{ github.token }}` (the default)."
        )
    elif wants_github and not ctx.repository:
        log.warning("GITHUB_REPOSITORY is not set: no PR comment, check run or drift issue.")
    elif wants_github:
        _sticky_comment(inputs, ctx, results, passed, log, client)
        _check_run(inputs, ctx, results, passed, pins, log, client, judged, origin)
        _drift(inputs, ctx, results, judged, log, client)
        _pin_fixes(inputs, ctx, judged, log, client)
    for c in made:
        c.close()
    log.line(f"otp-gate: {result} (exit {int(code)})")
    return int(code)


def _uri_base(inputs: Inputs, ctx: Context) -> str:
    """The scanned folder relative to the workspace, so SARIF locations resolve in code scanning."""
    if inputs.image or inputs.image_archive or inputs.otp_version:
        return ""
    target = _in_workspace(inputs.path, ctx.workspace)
    try:
        rel = target.resolve().relative_to(ctx.workspace.resolve())
    except (ValueError, OSError):
        return ""
    return "" if str(rel) == "." else rel.as_posix()
