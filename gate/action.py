"""The GitHub Action front end: `INPUT_*` and the event in, the same engine as the CLI, GitHub reporting out.

Order matters: the job summary is written first (it is where people look when anything later fails),
then report files, step outputs, annotations, the log, and only then the network sinks (PR comment,
check run, drift issue), whose failures become warnings: they never change the verdict.
`main(environ=None) -> int`; nothing runs at import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gate.action_inputs import (
    CommentMode,
    Context,
    Inputs,
    parse_inputs,
    read_context,
    scan_request,
)
from gate.errors import GateError
from gate.model.common import ExitCode

if TYPE_CHECKING:
    from gate.action_pins import PinsOutcome
    from gate.inspection.pins import Pin
    from gate.model.merged import RuntimeSummary
    from gate.outside.github import GitHubApiError, GitHubClient
    from gate.report import Result

#: The check run's name and the title of the summary section.
GATE_NAME = "otp-hardening-gate"
SUMMARY_MAX_CHARS = (
    900_000  # the markdown renderer counts characters; the sink enforces 1 MiB bytes
)
COMMENT_MAX_CHARS = 60_000


#: What the engine returns per runtime: `(report, verdict)`.
Results = list["Result"]


def _markdown(results: Results, max_chars: int) -> str:
    """The one Markdown rendering (summary, comment, check run), each runtime's share of `max_chars`."""
    from gate.report import markdown

    share = max_chars // max(1, len(results))
    return "\n\n---\n\n".join(markdown.render(r[0], r[1], max_chars=share) for r in results)


def run_engine(inputs: Inputs, ctx: Context, environ: Mapping[str, str]) -> Results:
    """Acquire, scan and evaluate exactly as `otp-gate scan` does, returning the results."""
    from gate.clock import clock_from_environ
    from gate.engine import run

    return [*run(scan_request(inputs, ctx), environ, clock_from_environ(environ))]


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
    from gate.outside.github import GitHubClient

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
    from gate.github.comment import CommentAction, marker, publish
    from gate.outside.github import GitHubApiError

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
    text = _markdown(results, COMMENT_MAX_CHARS) if text is None else text
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
    from gate.outside.github import GitHubApiError
    from gate.report.annotations import build as build_annotations
    from gate.report.annotations import pin_annotations

    if not inputs.check_run or not ctx.head_sha:
        return
    # Pins judged on their own have their own annotations: the runtime's are not repeated on them.
    per = () if judged is not None else pins
    notes = [a for r, v in results for a in build_annotations(r, v, per, origin)]
    notes += pin_annotations(judged.verdict) if judged is not None else []
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
    from gate.github.drift import sync
    from gate.model.merged import RuntimeSummary
    from gate.outside.github import GitHubApiError

    if not inputs.drift_issue or not ctx.is_scheduled:
        return
    runtimes = [r if isinstance(r, RuntimeSummary) else r[0] for r in results]
    pins = judged.report.judgements if judged is not None else ()
    try:
        outcome = sync(client(), runtimes, pins, ctx.run_url)
    except GitHubApiError as e:
        _permission_warning(log, e, "update the drift tracking issue", "issues", ctx)
        return
    log.line(
        f"otp-gate: drift issue {outcome.action.value}"
        + (f" (#{outcome.number})" if outcome.number else "")
    )


# -- the steps without a scanned runtime ------------------------------------------------------
def _with_client(
    inputs: Inputs,
    ctx: Context,
    env: Mapping[str, str],
    work: Callable[[Callable[[], GitHubClient]], None],
) -> None:
    client = _client(inputs, ctx, env)
    try:
        work(lambda: client)
    finally:
        client.close()


def _pins_sarif(pins: PinsOutcome, env: Mapping[str, str]) -> dict[str, str]:
    """After an acquire error, the pins' SARIF file (so a code-scanning upload still has the
    pin findings) and the output naming it."""
    from gate.github import sinks
    from gate.report.pins import sarif

    here, there = report_dir(env)
    sinks.write_report_file(here / "report.sarif", sarif(pins.report, pins.verdict))
    return {"report-sarif": f"{there}/report.sarif"}


def _pins_without_runtime(
    inputs: Inputs, ctx: Context, pins: PinsOutcome, env: Mapping[str, str], log: Log
) -> None:
    """After an acquire error: the pins' annotations, their review suggestions on a pull request,
    the drift issue and the pin-bump pull request on a schedule."""
    from gate.action_pins import annotation_lines

    for line in annotation_lines(pins):
        log.line(line)
    if (ctx.is_scheduled or ctx.is_pull_request) and inputs.github_token and ctx.repository:

        def work(client: Callable[[], GitHubClient]) -> None:
            _drift(inputs, ctx, [], pins, log, client)
            _pin_fixes(inputs, ctx, pins, log, client)

        _with_client(inputs, ctx, env, work)


def _merged_step(
    inputs: Inputs, ctx: Context, env: Mapping[str, str], log: Log, pins: PinsOutcome | None
) -> int:
    """Many runtimes, one answer: the matrix jobs' JSON reports give one summary, one sticky
    comment and one drift issue; the pins are judged as in every run."""
    from gate.action_pins import annotation_lines, read_report_glob, summary, worse
    from gate.github import sinks
    from gate.report import merged

    runtimes = read_report_glob(inputs.reports, ctx.workspace)
    code = worse(merged.worst(runtimes), pins)
    text = merged.markdown(runtimes)
    sinks.write_summary(text + (f"\n---\n\n{summary(pins)}" if pins else ""), env)
    failing = sum(1 for r in runtimes for x in r.reasons if x.severity.rank >= 2)
    result = "pass" if code == ExitCode.PASS else "fail"
    sinks.write_outputs({"result": result, "findings": str(failing)}, env)
    for line in annotation_lines(pins) if pins else []:
        log.line(line)
    if inputs.github_token and ctx.repository:

        def work(client: Callable[[], GitHubClient]) -> None:
            _sticky_comment(inputs, ctx, [], code == ExitCode.PASS, log, client, text)
            _drift(inputs, ctx, runtimes, pins, log, client)
            _pin_fixes(inputs, ctx, pins, log, client)

        _with_client(inputs, ctx, env, work)
    log.line(f"otp-gate: {result} (exit {int(code)}) for {len(runtimes)} runtimes")
    return int(code)


# -- the fix one click away ----------------------------------------------------------------------
def _pin_fixes(
    inputs: Inputs,
    ctx: Context,
    judged: PinsOutcome | None,
    log: Log,
    client: Callable[[], GitHubClient],
) -> None:
    """Review suggestions on a pull request; the pin-bump pull request on a schedule. A token that
    may not write is a warning naming the permission; the verdict is unchanged."""
    from gate.action_pins import suggest_or_bump
    from gate.outside.github import GitHubApiError

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
    from gate import action_pins
    from gate.github import sinks

    env = os.environ if environ is None else environ
    log = Log(stdout or sys.stdout)
    pins: action_pins.PinsOutcome | None = None
    try:
        inputs = parse_inputs(env)
        ctx = read_context(env)
        engine_env = dict(env)
        if inputs.github_token and not env.get("GITHUB_TOKEN"):
            # Live release data (GitHub's API) is rate-limited hard without a token. The engine
            # sends this one only to the workflow's own API host (`release_data_token`).
            engine_env["GITHUB_TOKEN"] = inputs.github_token
        if inputs.release_data_token:
            engine_env["OTP_GATE_RELEASE_DATA_TOKEN"] = inputs.release_data_token
        # The pins first: judging them needs release data only, so an acquire error below still
        # reports every pin (issue 10).
        pins = action_pins.judge_step(inputs, ctx, engine_env, log.warning)
        if inputs.reports:
            return _merged_step(inputs, ctx, env, log, pins)
        results = run_engine(inputs, ctx, engine_env)
    except GateError as e:
        summary = _error_summary(e) + (f"\n---\n\n{action_pins.summary(pins)}" if pins else "")
        try:
            sinks.write_summary(user_paths(summary, env), env)
            sinks.write_outputs({"result": "error"}, env)
            if pins is not None:  # after the result, so a failed report file cannot hide it
                sinks.write_outputs(_pins_sarif(pins, env), env)
        except GateError as inner:
            log.command("error", inner.diagnostics(), title=f"{GATE_NAME}: cannot write")
        log.command("error", user_paths(e.diagnostics(), env), title=f"{GATE_NAME}: {e.kind} error")
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


def user_paths(text: str, environ: Mapping[str, str]) -> str:
    """`text` with the container's workspace folder (`/github/workspace/...`) shown as the user
    knows it: relative to the repository checkout."""
    workspace = (environ.get("GITHUB_WORKSPACE") or "").rstrip("/")
    if not workspace:
        return text
    return text.replace(workspace + "/", "").replace(workspace, ".")


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
    from gate import action_pins
    from gate.github import sinks
    from gate.model.common import Format
    from gate.report import render_many
    from gate.report import sarif as sarif_mod
    from gate.report.annotations import render_all as render_annotations

    runtime_code = max((v.exit_code for _, v in results), default=ExitCode.ERROR)
    code = action_pins.worse(runtime_code, judged)  # the worse of the runtime's and the pins'
    passed = code == ExitCode.PASS

    # 1. The job summary, first: it is the one report that is always there.
    summary = _markdown(results, SUMMARY_MAX_CHARS)
    summary += f"\n\n---\n\n{action_pins.summary(judged)}" if judged is not None else ""
    sinks.write_summary(summary, env)

    # 2. Report files under RUNNER_TEMP, then the step outputs that point at them.
    pins = action_pins.pins_of(judged, ctx.workspace)
    here, there = report_dir(env)
    origin = action_pins.runtime_at(ctx.workspace)
    version_pin = next((p for p in pins if p.exact), None)
    sinks.write_report_file(here / "report.json", render_many(Format.JSON, results))
    sinks.write_report_file(
        here / "report.sarif",
        sarif_mod.render_many(
            results,
            uri_base=_uri_base(inputs, ctx),
            hardening_pin=sarif_mod.Pin(*origin) if origin else None,
            version_pin=sarif_mod.Pin(version_pin.path, version_pin.line) if version_pin else None,
            pins=(judged.report, judged.verdict) if judged is not None else None,
        ),
    )
    result = "pass" if passed else "fail"
    sinks.write_outputs(
        _outputs(results, f"{there}/report.json", f"{there}/report.sarif", result), env
    )

    # 3. Annotations (escaped, at most 10 per type), then the report itself, in a stop-commands block
    #    because it quotes file names and strings from the scanned binaries.
    pin_verdict = judged.verdict if judged is not None else None
    for line in render_annotations(results, pins, pin_verdict=pin_verdict, runtime_at=origin):
        log.line(line)
    log.untrusted_block(render_many(inputs.format, results))

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
    target = ctx.workspace / inputs.path
    try:
        rel = target.resolve().relative_to(ctx.workspace.resolve())
    except (ValueError, OSError):
        return ""
    return "" if str(rel) == "." else rel.as_posix()
