"""`otp-gate`: the composition root. Parse arguments -> acquire -> scan -> evaluate -> render -> write.

`main(argv, environ)` is directly testable and returns the exit code (0 pass, 1 fail, 2 usage or
tool error). Every `GateError` is rendered here and only here. Acquisition sources, the release
index and the renderers are imported where they are used, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TextIO

from gate import __version__
from gate.clock import Clock, clock_from_environ
from gate.config import (
    Config,
    FailOn,
    VersionPolicy,
    find_config,
    load_config_file,
    parse_choice,
)
from gate.errors import GateError, ReportError, UsageError
from gate.model.common import BackportPolicy, ExitCode

if TYPE_CHECKING:
    from gate.engine import ScanRequest
    from gate.model.common import Format
    from gate.model.merged import RuntimeSummary
    from gate.model.pin import PinsReport
    from gate.model.report import FileReport, Verdict
    from gate.report import Result

PROG = "otp-gate"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `main` renders usage errors like any other."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"run '{self.prog} --help' for usage")


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days >= 1")
    return value


def _days0(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days >= 0")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    out = parser.add_argument_group("output and policy")
    out.add_argument(
        "--format",
        default="text",
        metavar="FMT",
        help="text (default), json, sarif or markdown",
    )
    out.add_argument(
        "--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout"
    )
    out.add_argument(
        "--config",
        metavar="FILE",
        help="policy file (default: ./.otp-gate.toml when it exists)",
    )
    out.add_argument("--fail-on", metavar="LEVEL", help="error (default), warning or never")
    out.add_argument(
        "--version-policy",
        metavar="POLICY",
        help="latest-patch (default), supported or off",
    )
    out.add_argument(
        "--max-data-age",
        type=_days,
        metavar="DAYS",
        help="release data older than DAYS is a warning (default 90, or stale-data-days in the config)",
    )
    out.add_argument(
        "--grace-days",
        type=_days0,
        metavar="DAYS",
        help="a patch released less than DAYS ago makes 'behind' a warning, not a failure (default 0)",
    )
    out.add_argument(
        "--distro-backports",
        metavar="POLICY",
        help="ignore (default): a distro's backported CVE fixes are listed, the upstream verdict "
        "stands; trust: they count as fixed",
    )
    out.add_argument(
        "--offline",
        action="store_true",
        help="use only the release data bundled with otp-gate (no network)",
    )


def _add_pins(sub: Any) -> None:
    """`pins`: an answer about a repository, with no runtime (issue 10)."""
    pins = sub.add_parser(
        "pins",
        help="judge every OTP pin of a repository (.tool-versions, mise, Dockerfiles, workflows, ...)",
        description="Find every place DIR pins OTP and compare each pin with the releases: "
        "current, behind, unsupported line or unknown version. Needs no runtime.",
    )
    pins.add_argument(
        "dir", nargs="?", default=".", metavar="DIR", help="the repository (default .)"
    )
    _common(pins)


def _add_merge(sub: Any) -> None:
    """`merge`: one answer for many runs (issue 10)."""
    merge = sub.add_parser(
        "merge",
        help="combine the JSON reports of several runs (a matrix of images or architectures)",
        description="Read JSON reports written by `otp-gate scan --format json` and give one "
        "answer: one table, the worst verdict as the exit code.",
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT", help="JSON report files")
    _common(merge)


def _add_build(sub: Any) -> None:
    """`build`: OTP from source with the given flags, then scanned."""
    build = sub.add_parser(
        "build",
        help="build OTP from source with the given flags, then scan the result",
        description="Download OTP's source, build it with CFLAGS/LDFLAGS (default: the EEF guide's "
        "flags plus -O2), install it into a cached prefix and scan it.",
    )
    build.add_argument("--otp-version", required=True, metavar="V", help="the OTP version to build")
    build.add_argument(
        "--cflags",
        metavar="FLAGS",
        help='CFLAGS (must contain -O; default "-O2 -g -fpie -fstack-protector-strong")',
    )
    build.add_argument("--ldflags", metavar="FLAGS", help='LDFLAGS (default "-pie -z now")')
    build.add_argument("--cppflags", metavar="FLAGS", help="CPPFLAGS, e.g. -D_FORTIFY_SOURCE=3")
    build.add_argument("--no-flags", action="store_true", help="set no flags: OTP's own defaults")
    build.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra build variable, e.g. DED_LDFLAGS=...; repeatable",
    )
    build.add_argument(
        "--configure-args", metavar="ARGS", default="", help="extra ./configure arguments"
    )
    build.add_argument("--source-mirror", metavar="URL", help="mirror of the GitHub release assets")
    build.add_argument(
        "--sha256",
        metavar="HEX",
        help="expected sha256 of the source tarball (default: the release's SHA256.txt)",
    )
    _common(build)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, a known command's arguments alone (what a run of
    that command parses: the others cost start-up time, which comes before everything, issue 12).
    """
    parser = _Parser(
        prog=PROG,
        description="Check that an Erlang/OTP runtime is hardened (PIE, RELRO, BIND_NOW, stack "
        "protector, ...) and on the newest patch of a supported line.",
        epilog="Exit codes: 0 the policy passes, 1 it fails, 2 usage or tool error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    for name, add in _COMMANDS.items():
        if only is None or only == name:
            add(sub)
    return parser


def _add_scan(sub: Any) -> None:
    """`scan`: a runtime from a folder, a tarball, distro packages, an image or builds.hex.pm."""
    scan = sub.add_parser(
        "scan",
        help="scan an OTP runtime (a directory, a release, a .tar.gz, distro packages, an image)",
        description="Scan an OTP install root, a mix/rebar3 release, or a .tar.gz of either. "
        "With no PATH, scan the OTP of the `erl` on PATH or the usual install roots.",
    )
    scan.add_argument("path", nargs="?", metavar="PATH", help="OTP root, release folder or tarball")
    where = scan.add_argument_group("where the runtime comes from (instead of PATH)")
    where.add_argument(
        "--distro",
        action="store_true",
        help="download this Debian/Ubuntu machine's erlang packages (apt-get download, no root) and scan them",
    )
    where.add_argument(
        "--image", metavar="REF", help="a container image, exported through the Docker engine"
    )
    where.add_argument(
        "--image-archive", metavar="FILE", help="a saved image (docker save / OCI / podman tar)"
    )
    where.add_argument(
        "--platform", metavar="OS/ARCH", help="platform to pick in a multi-arch image"
    )
    where.add_argument(
        "--otp-version", metavar="V", help="fetch the prebuilt OTP V from builds.hex.pm"
    )
    where.add_argument(
        "--builds-mirror", metavar="URL", help="builds.hex.pm mirror (also for the release data)"
    )
    _common(scan)


def _add_elf(sub: Any) -> None:
    """`elf`: any ELF files, with no OTP version context."""
    elf = sub.add_parser(
        "elf",
        help="check arbitrary ELF files (your NIFs, any binary) like hardening-check",
        description="Run the hardening checks on ELF files, with no OTP version context.",
    )
    elf.add_argument("files", nargs="+", metavar="FILE")
    _common(elf)


_COMMANDS: dict[str, Callable[[Any], None]] = {
    "scan": _add_scan,
    "elf": _add_elf,
    "pins": _add_pins,
    "merge": _add_merge,
    "build": _add_build,
}


class _Run(NamedTuple):
    command: str
    fmt: Format
    output: Path | None
    config: Config
    offline: bool
    today: date
    environ: Mapping[str, str]
    backports: BackportPolicy
    # The run's one clock (OTP_GATE_TODAY pins it): `today`, data age and cache stamps all read it.
    clock: Clock


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> _Run:
    from gate.model.common import Format

    fmt = parse_choice(Format, args.format, "--format")
    if args.config:
        config = load_config_file(Path(args.config))
    else:
        found = find_config(Path.cwd())
        config = load_config_file(found) if found else Config()
    config = config.with_options(
        fail_on=parse_choice(FailOn, args.fail_on, "--fail-on") if args.fail_on else None,
        version_policy=(
            parse_choice(VersionPolicy, args.version_policy, "--version-policy")
            if args.version_policy
            else None
        ),
    )
    if args.max_data_age is not None:
        config = dataclasses.replace(config, stale_data_days=args.max_data_age)
    if args.grace_days is not None:
        config = dataclasses.replace(config, grace_days=args.grace_days)
    clock = clock_from_environ(environ)
    return _Run(
        command=args.command,
        fmt=fmt,
        output=Path(args.output) if args.output else None,
        config=config,
        offline=bool(args.offline),
        today=clock().date(),
        clock=clock,
        environ=environ,
        backports=(
            parse_choice(BackportPolicy, args.distro_backports, "--distro-backports")
            if args.distro_backports
            else BackportPolicy.IGNORE
        ),
    )


def _refuse_nul(args: argparse.Namespace) -> None:
    """No file name holds a NUL byte (the OS would raise ValueError deep inside): refuse it here.
    A real command line cannot carry one; `main(argv)` called as a library can."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in values):
            positional = name in ("path", "files", "dir", "reports")
            option = name.upper() if positional else "--" + name.replace("_", "-")
            raise UsageError(f"{option}: contains a NUL byte, which no file name or value can hold")


def _scan_request(args: argparse.Namespace, run: _Run) -> ScanRequest:
    """The request `otp-gate scan` arguments make; each combination is checked here, once."""
    from gate.engine import ScanRequest, Target, looked_up

    chosen = [
        name
        for name, given in (
            ("PATH", args.path is not None),
            ("--distro", args.distro),
            ("--image", args.image is not None),
            ("--image-archive", args.image_archive is not None),
            ("--otp-version", args.otp_version is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one runtime to scan, not {' and '.join(chosen)}")
    if args.builds_mirror and not args.otp_version:
        raise UsageError("--builds-mirror only applies to --otp-version")
    if args.platform and not (args.image or args.image_archive):
        raise UsageError("--platform only applies to --image and --image-archive")
    target = (
        Target.DISTRO
        if args.distro
        else Target.IMAGE
        if args.image is not None
        else Target.IMAGE_ARCHIVE
        if args.image_archive is not None
        else Target.PREBUILT
        if args.otp_version is not None
        else Target.PATH
        if args.path is not None
        else Target.DISCOVER
    )
    path = args.image_archive if target == Target.IMAGE_ARCHIVE else args.path
    if path is not None:
        looked_up(Path(path))
    if target == Target.IMAGE_ARCHIVE and not Path(path).is_file():
        raise UsageError(f"{path}: no such image archive")
    return ScanRequest(
        target=target,
        path=Path(path) if path is not None else None,
        image=args.image,
        platform=args.platform,
        otp_version=args.otp_version,
        builds_mirror=args.builds_mirror,
        **_run_fields(run),
    )


def _run_fields(run: _Run) -> dict[str, Any]:
    from gate.engine import project_workspace

    return {
        "config": run.config,
        "offline": run.offline,
        "backports": run.backports,
        "workspace": project_workspace(Path.cwd()),
        "group_log": run.environ.get("GITHUB_ACTIONS") == "true",
    }


def _build_request(args: argparse.Namespace, run: _Run) -> ScanRequest:
    """The request `otp-gate build` arguments make."""
    from gate.engine import BuildRequest, ScanRequest, Target
    from gate.knowledge.remediation import EEF_CFLAGS, EEF_LDFLAGS

    extra: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {item!r}: expected NAME=VALUE")
        extra[name] = value
    try:
        import shlex  # only `build` needs it; start-up time matters (issue 12)

        configure_args = tuple(shlex.split(args.configure_args))
    except ValueError as e:
        raise UsageError(f"--configure-args: {e}") from None
    if args.sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        raise UsageError(f"--sha256 {args.sha256!r}: expected 64 hexadecimal digits")
    if args.no_flags and (args.cflags or args.ldflags or args.cppflags):
        raise UsageError("--no-flags cannot be combined with --cflags/--ldflags/--cppflags")
    none = args.no_flags
    build = BuildRequest(
        cflags=None if none else (args.cflags if args.cflags is not None else EEF_CFLAGS),
        ldflags=None if none else (args.ldflags if args.ldflags is not None else EEF_LDFLAGS),
        cppflags=None if none else args.cppflags,
        configure_args=configure_args,
        extra_env=extra,
        source_mirror=args.source_mirror,
        sha256=args.sha256.lower() if args.sha256 else None,
    )
    return ScanRequest(
        target=Target.BUILD, otp_version=args.otp_version, build=build, **_run_fields(run)
    )


def run_scan(argv: Sequence[str], environ: Mapping[str, str]) -> list[Result]:
    """Acquire, scan and evaluate as `otp-gate scan|build ARGV...` does; return every runtime's
    `(report, verdict)` instead of printing."""
    from gate.engine import run as run_engine

    args = build_parser().parse_args(list(argv))
    if args.command not in ("scan", "build"):
        raise UsageError(f"run_scan runs 'scan' or 'build', not {args.command!r}")
    run = _settings(args, environ)
    make = _build_request if args.command == "build" else _scan_request
    return run_engine(make(args, run), environ, run.clock)


def _name_unchecked(files: Sequence[FileReport]) -> None:
    """`otp-gate elf`: a file named on the command line that could not be checked is an input
    error; the report covers the others, and each failure is named on stderr (exit 2)."""
    from gate.report import printable
    from gate.report.commands import neutralize_commands

    for f in files:
        error = f.error or ""
        text = error if error.startswith(f.path) else f"{f.path}: {error}"
        print(neutralize_commands(f"{PROG}: elf error: {printable(text)}"), file=sys.stderr)


def _finish(run: _Run, code: ExitCode) -> int:
    if run.output is not None:
        verdict = "pass" if code == ExitCode.PASS else "fail"
        print(
            f"{PROG}: {verdict} (exit {int(code)}); report written to {run.output}",
            file=sys.stderr,
        )
    return int(code)


def _judge_pins(run: _Run, root: Path) -> tuple[PinsReport, Verdict]:
    """Every pin under `root`, judged with release data only: no runtime is needed (issue 10)."""
    from gate.engine import ScanRequest, Target, judge_pins

    if not root.is_dir():
        raise UsageError(f"{root}: not a directory", hint=f"give the repository: {PROG} pins DIR")
    req = ScanRequest(target=Target.PATH, path=root, **_run_fields(run))
    return judge_pins(root, req, run.environ, run.clock)


def _pins_command(run: _Run, root: Path) -> int:
    from gate.report.pins import render

    report, verdict = _judge_pins(run, root)
    _write(run, render(run.fmt, report, verdict), sys.stdout)
    return _finish(run, verdict.exit_code)


def _merge_command(run: _Run, paths: Sequence[Path]) -> int:
    from gate.model.common import Format
    from gate.report import merged

    if run.fmt == Format.SARIF:
        raise UsageError(
            "otp-gate merge: --format sarif is not supported; use json, markdown or text"
        )
    runtimes = read_reports(paths)
    _write(run, merged.render(run.fmt, runtimes), sys.stdout)
    return _finish(run, merged.worst(runtimes))


def read_reports(paths: Sequence[Path]) -> list[RuntimeSummary]:
    """Every runtime of the JSON reports at `paths`; a missing, huge or malformed file is a usage error."""
    from gate.report.json_reader import MAX_REPORT_BYTES, parse_reports

    found: list[RuntimeSummary] = []
    for path in paths:
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
                raise UsageError(f"{path}: cannot read the report: not a regular file")
            if st.st_size > MAX_REPORT_BYTES:
                raise UsageError(
                    f"{path}: larger than {MAX_REPORT_BYTES >> 20} MiB: not a gate report"
                )
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: cannot read the report: {e}") from None
        found.extend(parse_reports(text, str(path)))
    return found


def _write(run: _Run, text: str, stdout: TextIO) -> None:
    if run.output is None:
        # Standard output is a workflow-command channel in any `run:` step: whatever the command
        # (scan, pins, merge) and format, no line of it may be a command (issue 14).
        from gate.model.common import Format
        from gate.report.commands import neutralize_commands

        is_json = run.fmt in (Format.JSON, Format.SARIF)
        _emit(neutralize_commands(text, json=is_json), stdout)
        return
    try:
        run.output.parent.mkdir(parents=True, exist_ok=True)
        run.output.write_text(text, encoding="utf-8")
    except OSError as e:
        from gate.engine import shown_path

        raise ReportError(
            f"{shown_path(run.output)}: cannot write the report: {e.strerror or e}"
        ) from e


def _emit(text: str, stream: TextIO) -> None:
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:
            # A terminal that cannot show some character: escape it rather than crash.
            enc = stream.encoding or "ascii"
            stream.write(text.encode(enc, "backslashreplace").decode(enc))
        # Flushed here, not at interpreter exit, so a full disk (`> /dev/full`) is an error now.
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        if stream is sys.stdout:
            _silence_stdout()
        raise ReportError(
            f"cannot write the report to standard output: {e.strerror or e}",
            hint="check free space where the output goes, or pass --output FILE",
        ) from e


def _uri_base(args: argparse.Namespace) -> str:
    """The scanned folder relative to the working directory (the repository), for SARIF paths."""
    path = getattr(args, "path", None)
    if path is None or not Path(path).is_dir():
        return ""
    try:
        rel = Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return ""  # outside the repository: paths stay relative to the scanned root
    return "" if str(rel) == "." else rel.as_posix()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run `otp-gate` with `argv` (default: sys.argv[1:]); return the exit code."""
    env = os.environ if environ is None else environ
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            known = args_list[0] if args_list and args_list[0] in _COMMANDS else None
            args = build_parser(known).parse_args(args_list)
        except SystemExit as e:  # --help and --version exit 0 through argparse
            return int(e.code) if isinstance(e.code, int) else 0
        _refuse_nul(args)
        run = _settings(args, env)
        if run.command == "elf":
            from gate.policy import evaluate
            from gate.scan import scan_files

            report = scan_files([Path(p) for p in args.files])
            results: list[Result] = [(report, evaluate(report, run.config, run.today))]
            unchecked = [f for f in report.files if f.error is not None]
        elif run.command == "pins":
            return _pins_command(run, Path(args.dir))
        elif run.command == "merge":
            return _merge_command(run, [Path(p) for p in args.reports])
        else:
            from gate.engine import run as run_engine

            unchecked = []
            make = _build_request if run.command == "build" else _scan_request
            results = run_engine(make(args, run), env, run.clock)

        from gate.report import render_many

        text = render_many(run.fmt, results, sarif_uri_base=_uri_base(args))
        _write(run, text, sys.stdout)
        code = max(r[1].exit_code for r in results)
        if unchecked:
            _name_unchecked(unchecked)
            code = ExitCode.ERROR
        return _finish(run, code)
    except GateError as e:
        from gate.report import printable
        from gate.report.commands import neutralize_commands

        # Messages name files from the scanned input: a newline or ESC in a name is shown escaped.
        if type(e).diagnostics is GateError.diagnostics:
            text = printable(e.message) + (f"\n  hint: {printable(e.hint)}" if e.hint else "")
        else:  # a subclass with its own layout: keep its lines, escape within them
            text = "\n".join(printable(line) for line in e.diagnostics().splitlines())
        print(neutralize_commands(f"{PROG}: {e.kind} error: {text}"), file=sys.stderr)
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `otp-gate scan | head`: the reader left before the report was written. Point stdout at
        # /dev/null so the interpreter's final flush prints no traceback; the report was not
        # delivered, so this is a tool error, never a pass.
        _silence_stdout()
        return int(ExitCode.ERROR)
    except MemoryError:
        _internal("out of memory", "the input may be hostile or too large; report it if not")
        return int(ExitCode.ERROR)
    except RecursionError:
        _internal("input nested too deeply", "the input may be hostile; report it if not")
        return int(ExitCode.ERROR)
    except Exception as e:  # the one catch-all: an exit 1 would read as "the gate fails"
        _internal(f"{type(e).__name__}: {e}", "this is a bug in otp-gate; please report it")
        return int(ExitCode.ERROR)


def entry() -> NoReturn:
    """The `otp-gate` command (console script): `main`, then a quick exit (`gate.process`)."""
    from gate.process import leave, start

    start()
    leave(main())


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of an undeliverable report
    prints no traceback (a closed pipe, a full disk)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _internal(what: str, hint: str) -> None:
    """Anything no `GateError` foresaw: one clear line on stderr (never a traceback), exit 2."""
    from gate.config import shown
    from gate.report import printable
    from gate.report.commands import neutralize_commands

    text = neutralize_commands(printable(what if len(what) < 400 else shown(what)))
    with contextlib.suppress(OSError):
        print(f"{PROG}: internal error: {text}\n  hint: {hint}", file=sys.stderr, flush=True)
