"""The engine both front ends run: one typed `ScanRequest` in, each runtime's (report, verdict) out.

The CLI builds the request from argparse, the Action from its inputs; each validates once, in its
own words, and neither goes through the other (issue 11). Release data and advisories are loaded
here, the runtime is acquired, scanned and judged. Sources are imported where they are used, so
start-up stays fast.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.clock import Clock
from gate.config import Config
from gate.errors import UsageError
from gate.model.common import BackportPolicy
from gate.model.options import CLI_OPTIONS, OptionNames
from gate.outside.cache import cache_root

if TYPE_CHECKING:
    from gate.acquire.build import BuildProgress
    from gate.acquire.interface import RuntimeSource
    from gate.knowledge.interface import ReleaseIndex
    from gate.knowledge.live import LiveOptions, SourceStatus
    from gate.model.advisory import Advisory
    from gate.model.pin import PinsReport
    from gate.model.report import Report, Verdict
    from gate.report import Result

TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")


def looked_up(path: Path, *, what: str = "") -> Path:
    """`path`, once the system could look it up (missing is fine: the caller says so); a name
    over 255 bytes or a path over 4,096 (ENAMETOOLONG), or a loop, is a usage error. `what`
    names the option or input the path came from (`input path`), for the message."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        prefix = f"{what}: " if what else ""
        raise UsageError(f"{prefix}{shown_path(path)}: {e.strerror or e}") from e
    return path


def shown_path(path: Path) -> str:
    """A path for a message: whole when readable, else its head and tail (a hostile 5 kB path)."""
    text = str(path)
    return text if len(text) <= 200 else f"{text[:120]}...{text[-60:]} ({len(text)} characters)"


class Target(StrEnum):
    """Where the runtime comes from."""

    DISCOVER = "discover"  # the OTP of the `erl` on PATH or the usual install roots
    PATH = "path"  # a directory or a tarball
    DISTRO = "distro"
    IMAGE = "image"
    IMAGE_ARCHIVE = "image-archive"
    PREBUILT = "prebuilt"
    BUILD = "build"


@dataclass(frozen=True)
class BuildRequest:
    """How to build OTP from source; None flags leave the variable unset (OTP's defaults)."""

    cflags: str | None
    ldflags: str | None
    cppflags: str | None = None
    configure_args: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    source_mirror: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ScanRequest:
    """Everything one run of the engine needs, typed and already validated by its front end."""

    target: Target
    config: Config
    path: Path | None = None  # PATH and IMAGE_ARCHIVE
    image: str | None = None
    platform: str | None = None
    otp_version: str | None = None  # PREBUILT and BUILD
    builds_mirror: str | None = None
    build: BuildRequest | None = None
    offline: bool = False
    backports: BackportPolicy = BackportPolicy.IGNORE
    workspace: Path | None = None  # the project checkout whose Dockerfile may build OTP
    names: OptionNames = CLI_OPTIONS  # how hints name options (CLI flags or action inputs)
    group_log: bool = False  # build progress as GitHub log groups
    # Reports name paths under this folder relative to it (the action's workspace, which is
    # /github/workspace in the container but the checkout to the user).
    display_base: Path | None = None


def runtime_source(req: ScanRequest, environ: Mapping[str, str], clock: Clock) -> RuntimeSource:
    """The one acquisition source the request names (`clock`: the run's, for cache ages)."""
    if req.target == Target.DISTRO:
        from gate.acquire.distro import DistroSource

        return DistroSource(cache_dir=cache_root(environ), clock=clock)
    if req.target in (Target.IMAGE, Target.IMAGE_ARCHIVE):
        from gate.acquire.image import ImageArchiveSource, Platform

        # No platform: the image source picks this machine's platform in a multi-arch index.
        platform = Platform.parse(req.platform) if req.platform else None
        if req.target == Target.IMAGE:
            from gate.acquire.image import DockerImageSource

            return DockerImageSource(req.image or "", platform, environ=environ)
        assert req.path is not None
        return ImageArchiveSource(req.path, platform)
    if req.target == Target.PREBUILT:
        from gate.acquire.prebuilt import PrebuiltSource

        return PrebuiltSource(
            req.otp_version or "", req.builds_mirror, environ=environ, names=req.names
        )
    if req.target == Target.BUILD:
        return _build_source(req, environ)
    if req.target == Target.DISCOVER:
        from gate.acquire.discover import default_source

        return default_source(environ=environ)
    return _path_source(req)


def _path_source(req: ScanRequest) -> RuntimeSource:
    path = req.path or Path(".")
    if path.is_dir():
        from gate.acquire.directory import DirectorySource

        return DirectorySource(path)
    if path.is_file() and path.name.lower().endswith(TARBALL_SUFFIXES):
        from gate.acquire.tarball import TarballSource

        return TarballSource(path)
    shown = f"{req.names.path} {path}" if req.names.path.startswith("input") else str(path)
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{shown}: a broken symbolic link (or a symlink loop)")
    if not path.exists():
        raise UsageError(f"{shown}: no such file or directory")
    raise UsageError(
        f"{shown}: not a directory or a .tar.gz archive",
        hint=f"to check single ELF files use: otp-gate elf {path}",
    )


def _build_source(req: ScanRequest, environ: Mapping[str, str]) -> RuntimeSource:
    try:
        from gate.acquire.build import SourceBuild, plain_progress
    except ImportError as e:  # the build route ships separately (issue 4)
        raise UsageError(f"building OTP is not available in this installation ({e})") from e
    b = req.build or BuildRequest(None, None)
    return SourceBuild(
        version=req.otp_version or "",
        cflags=b.cflags,
        ldflags=b.ldflags,
        cppflags=b.cppflags,
        configure_args=b.configure_args,
        extra_env=b.extra_env,
        mirror=b.source_mirror,
        sha256=b.sha256,
        # A build takes minutes: it is cached by version and flags (`$OTP_GATE_CACHE`).
        cache_dir=cache_root(environ),
        progress=_log_group_progress if req.group_log else plain_progress,
        names=req.names,
    )


def _log_group_progress(event: BuildProgress) -> None:
    """Build progress as GitHub log groups (one per step, closed with its elapsed time), so a
    minutes-long build reads as `configure`, `make`, `install` in the job log."""
    from gate.report.commands import command

    if event.status == "start":
        title = f"otp-gate build: {event.step}" + (f" ({event.detail})" if event.detail else "")
        print(command("group", title), flush=True)
    elif event.status == "cached":
        print(command("notice", f"otp-gate build: served from the cache ({event.detail})"))
    else:
        print(f"{event.step} {event.status} in {event.elapsed:.1f} s", flush=True)
        print(command("endgroup", ""), flush=True)


def live_options(
    offline: bool,
    environ: Mapping[str, str],
    max_age_days: int,
    clock: Clock,
    builds_mirror: str | None = None,
) -> LiveOptions:
    """Settings of the live release data and advisories (issue 5).

    The data is erlang/otp's, which lives on github.com even when the workflow runs on GitHub
    Enterprise Server, so GITHUB_API_URL is not used as its address. The OTP_GATE_*_URL variables
    point the sources at a mirror (air-gapped setups, and the tests' local server).
    """
    from gate.knowledge.live import LiveOptions

    # A builds.hex.pm mirror the user named for the runtime also serves the release data's
    # builds.txt (an air-gapped runner reaches only the mirror).
    urls: dict[str, Any] = {"builds_base_url": builds_mirror} if builds_mirror else {}
    for var, name in (
        ("OTP_GATE_GITHUB_API_URL", "github_api_url"),
        ("OTP_GATE_RAW_BASE_URL", "raw_base_url"),
        ("OTP_GATE_BUILDS_BASE_URL", "builds_base_url"),
    ):
        if environ.get(var):
            urls[name] = environ[var]
    cache = environ.get("OTP_GATE_CACHE")
    opts = LiveOptions(
        offline=offline,
        max_age_days=max_age_days,
        cache_dir=Path(cache) / "data" if cache else None,
        clock=clock,
        **urls,
    )
    return dataclasses.replace(opts, token=release_data_token(environ, opts.github_api_url))


def release_data_token(environ: Mapping[str, str], data_api_url: str) -> str | None:
    """The token sent with erlang/otp's (public) release data, or None: anonymous requests work.

    `OTP_GATE_RELEASE_DATA_TOKEN` is meant for that host (the action's `release-data-token`).
    `GITHUB_TOKEN` belongs to the workflow's own API host (`GITHUB_API_URL`) and is sent only when
    the release data lives there too: on GitHub Enterprise Server it would otherwise leak to
    api.github.com (issue 11).
    """
    explicit = environ.get("OTP_GATE_RELEASE_DATA_TOKEN")
    if explicit:
        return explicit
    workflow_token = environ.get("GITHUB_TOKEN")
    from gate.outside.github import DEFAULT_API_URL

    home = environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    if workflow_token and same_origin(home, data_api_url):
        return workflow_token
    return None


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs reach the same host (scheme, host and port): where a token may go."""
    from urllib.parse import urlsplit

    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.hostname, x.port) == (y.scheme, y.hostname, y.port)


def release_index(
    offline: bool,
    clock: Clock,
    environ: Mapping[str, str],
    max_age_days: int,
    builds_mirror: str | None = None,
) -> ReleaseIndex:
    """The release index for this run: live sources merged over the bundled snapshot (issue 5).

    A network failure never fails the run or changes its answer: the snapshot stands in and
    `data_notice` says so. `--offline` reads the snapshot only. The data's age is judged by the
    policy (`stale-data-days`).
    """
    if offline:
        # The snapshot alone: no need to load the live-data machinery (start-up time matters).
        from gate.knowledge.snapshot import load_snapshot

        return load_snapshot()
    from gate.knowledge.live import load_index

    return load_index(
        today=clock().date(),
        options=live_options(offline, environ, max_age_days, clock, builds_mirror),
        environ=environ,
    )


def _load_advisories(
    req: ScanRequest, index: ReleaseIndex, environ: Mapping[str, str], clock: Clock
) -> tuple[tuple[Advisory, ...], tuple[SourceStatus, ...]]:
    """Bundled advisories, plus GitHub's and OpenVEX when online, with the status of each source."""
    if req.offline:
        from gate.knowledge.advisories import load_bundled_advisories

        return load_bundled_advisories(), ()
    from gate.knowledge.live import LiveIndex, load_advisories
    from gate.knowledge.releases import supported_lines

    found = load_advisories(
        options=live_options(req.offline, environ, req.config.stale_data_days, clock),
        today=clock().date(),
        lines=supported_lines(index.releases()),
        environ=environ,
        dead_hosts=index.dead_hosts if isinstance(index, LiveIndex) else frozenset(),
    )
    return found.advisories, found.sources


def data_notice(
    index: ReleaseIndex, more: Sequence[SourceStatus], offline_option: str
) -> str | None:
    """The one notice about live sources that failed (None when all answered or none was asked)."""
    from gate.knowledge.live import LiveIndex, fallback_notice

    if not isinstance(index, LiveIndex):
        return None
    fix = (
        "To read live data, let this machine reach api.github.com, raw.githubusercontent.com and "
        "builds.hex.pm, or point OTP_GATE_GITHUB_API_URL, OTP_GATE_RAW_BASE_URL and "
        f"OTP_GATE_BUILDS_BASE_URL at a mirror; {offline_option} skips the live sources."
    )
    as_of = index.snapshot_as_of or index.provenance.as_of
    return fallback_notice((*index.sources, *more), as_of, fix)


def project_workspace(cwd: Path) -> Path | None:
    """The project checkout whose Dockerfile may build OTP: the working directory, when it looks
    like one (a git checkout or a Dockerfile at its top), so a run from $HOME walks nothing."""
    markers = (".git", "Dockerfile", "Containerfile")
    return cwd if any((cwd / m).exists() for m in markers) else None


def run(req: ScanRequest, environ: Mapping[str, str], clock: Clock) -> list[Result]:
    """Acquire, scan and judge what `req` names; every runtime's `(report, verdict)`.

    `clock` is the run's one clock (`gate.clock`): today, data age and cache stamps read it."""
    from gate.errors import AcquireError
    from gate.inspection.ahead import read_ahead

    source = runtime_source(req, environ, clock)
    today = clock().date()
    stale_days = req.config.stale_data_days
    results: list[Result] = []
    # Scratch work (unpacked tarballs, downloaded packages) lives here and is removed afterwards.
    with tempfile.TemporaryDirectory(prefix="otp-gate-") as work:
        trees = source.acquire(Path(work))
        if not trees:
            raise AcquireError("no OTP runtime found in the given input")
        # The first runtime is walked and read on the other core while this one loads the
        # scan and policy code, the release data and advisories (issue 12): imported only here,
        # once the helper runs, so the two processes load at the same time.
        with read_ahead(trees[0]) as first_read:
            from gate.policy import evaluate
            from gate.scan import ScanOptions, import_judges, scan_runtime

            index = release_index(req.offline, clock, environ, stale_days, req.builds_mirror)
            advisories, more = _load_advisories(req, index, environ, clock)
            import_judges()
            ahead = first_read()
        # Offline, nothing live was asked: skip importing the live-data machinery (~40 ms).
        notice = None if req.offline else data_notice(index, more, req.names.offline)
        options = ScanOptions(
            workspace=req.workspace, advisories=advisories, backports=req.backports
        )
        for i, tree in enumerate(trees):
            report = scan_runtime(tree, index, today, options, ahead if i == 0 else None)
            if notice:
                report = dataclasses.replace(report, notices=(*report.notices, notice))
            if req.display_base is not None:
                report = _relative_display(report, req.display_base)
            verdict = evaluate(report, req.config, today, index.releases())
            results.append((report, verdict))
    return results


def judge_pins(
    root: Path, req: ScanRequest, environ: Mapping[str, str], clock: Clock
) -> tuple[PinsReport, Verdict]:
    """Every OTP pin under `root` judged with release data only, no runtime (issue 10): what
    `otp-gate pins` prints and the action annotates in every event."""
    from gate.inspection.pins import find_pins
    from gate.knowledge.pin_status import judge_pins as judge
    from gate.policy import evaluate_pins

    today = clock().date()
    index = release_index(
        req.offline, clock, environ, req.config.stale_data_days, req.builds_mirror
    )
    advisories, more = _load_advisories(req, index, environ, clock)
    # Offline, nothing live was asked: skip importing the live-data machinery (~40 ms, issue 12).
    notice = None if req.offline else data_notice(index, more, req.names.offline)
    display = str(root) if req.display_base is None else "."
    report = judge(find_pins(root), index, advisories, today, display, (notice,) if notice else ())
    return report, evaluate_pins(report, req.config, today, index.releases())


def _relative_display(report: Report, base: Path) -> Report:
    """The report's runtime named relative to `base` (the workspace), as the user knows it."""
    prefix = str(base).rstrip("/") + "/"

    def rel(text: str) -> str:
        return text.replace(prefix, "") if prefix in text else text

    origin = dataclasses.replace(report.origin, description=rel(report.origin.description))
    return dataclasses.replace(report, target=rel(report.target) or ".", origin=origin)
