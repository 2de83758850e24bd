"""The slow proofs' shared parts: the flag sets, one build call, the product's scan, hardening-check."""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gate.acquire.build import FlagsVia, SourceBuild
from gate.acquire.interface import AcquiredTree
from gate.knowledge.remediation import EEF_CFLAGS, EEF_LDFLAGS
from gate.model.common import Status
from gate.model.report import FileReport, Report
from gate.model.runtime import Role

# No wxWidgets here: debugger/observer/et/reltool need wx (debugger then fails on warnings as
# errors), javac/odbc add nothing ELF. megaco stays: its flex scanner is a driver worth scanning
# when flex is installed.
CONFIGURE_ARGS: tuple[str, ...] = (
    "--without-javac",
    "--without-wx",
    "--without-odbc",
    "--without-debugger",
    "--without-observer",
    "--without-et",
    "--without-reltool",
)

ERTS_ROLES = (Role.EMULATOR, Role.ERTS_EXECUTABLE)
OTP_ROLES = (Role.EMULATOR, Role.ERTS_EXECUTABLE, Role.OTP_NIF, Role.OTP_PORT_PROGRAM)
# The checks a flag set decides; cet/bti/stack-clash are notes (unknown without a marker).
HARDENING_CHECKS = ("pie", "stack-protector", "fortify", "relro", "bind-now", "nx")


@dataclass(frozen=True)
class FlagSet:
    name: str
    cflags: str | None
    ldflags: str | None
    cppflags: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    flags_via: FlagsVia = "environment"
    configure_args: tuple[str, ...] = ()  # beyond CONFIGURE_ARGS


EEF = FlagSet("eef", EEF_CFLAGS, EEF_LDFLAGS)
NO_FLAGS = FlagSet("none", None, None)
# The EEF guide's literal flags plus the -O2 configure insists on, given the guide's way: as
# configure arguments, so make never sees LDFLAGS.
EEF_CONFIGURE_ONLY = FlagSet("eef-configure", EEF_CFLAGS, EEF_LDFLAGS, flags_via="configure")


def recommended(version: str) -> FlagSet:
    """What the gate recommends for this OTP version on this machine (gate.knowledge.remediation)."""
    from gate.knowledge.remediation import recommended_flags
    from gate.model.otp import OtpVersion

    fs = recommended_flags(OtpVersion.parse(version), platform.machine())
    env = fs.as_env()
    return FlagSet(
        "recommended",
        env.pop("CFLAGS", None),
        env.pop("LDFLAGS", None),
        env.pop("CPPFLAGS", None),
        env,
        # By default (`--with-ssl-rpath=yes`) crypto.so gets a RUNPATH of ~40 guessed OpenSSL
        # folders (/usr/local/openssl/lib, /opt/homebrew/...), which the rpath check rightly flags;
        # Debian's own build passes `--with-ssl-rpath=no` (debian/rules). Not a flag, so not in
        # FlagSet: the proof adds it, and the remediation should say so for crypto.so.
        configure_args=("--with-ssl-rpath=no",),
    )


def build(flags: FlagSet, url: str, version: str, sha256: str, cache: Path) -> SourceBuild:
    return SourceBuild(
        version,
        cflags=flags.cflags,
        ldflags=flags.ldflags,
        cppflags=flags.cppflags,
        extra_env=flags.extra_env,
        flags_via=flags.flags_via,
        configure_args=CONFIGURE_ARGS + flags.configure_args,
        source_url=url,
        sha256=sha256,
        cache_dir=cache,
        jobs=2,  # two cores, shared: more only thrashes
    )


def scan(tree: AcquiredTree) -> Report:
    """The product's own scan of the built tree (reads files, never runs them)."""
    from gate.knowledge.snapshot import load_snapshot
    from gate.scan import scan_runtime

    snapshot = load_snapshot()
    # The snapshot's own day, not the wall clock: the proofs judge build flags, on any day.
    return scan_runtime(tree, snapshot, snapshot.provenance.as_of)


def by_name(report: Report) -> dict[str, FileReport]:
    return {f.path: f for f in report.files}


def statuses(report: Report, roles: tuple[Role, ...], check: str) -> dict[str, Status]:
    out: dict[str, Status] = {}
    for f in report.files:
        c = f.check(check)
        if f.role in roles and c is not None:
            out[f.path] = c.status
    return out


def failures(report: Report, roles: tuple[Role, ...]) -> list[str]:
    """`path: check (evidence)` for every failing check on files of these roles."""
    return [
        f"{f.path}: {c.id} ({c.evidence})"
        for f in report.files
        if f.role in roles
        for c in f.checks
        if c.status == Status.FAIL
    ] + [f"{f.path}: unreadable ({f.error})" for f in report.files if f.error]


def table(reports: Mapping[str, Report], roles: tuple[Role, ...]) -> str:
    """Pass counts per check for each build: the difference at a glance (shown with -s)."""
    lines = [f"{'check':<16}" + "".join(f"{name:>18}" for name in reports)]
    for check in HARDENING_CHECKS:
        row = f"{check:<16}"
        for report in reports.values():
            st = statuses(report, roles, check)
            row += f"{sum(s == Status.PASS for s in st.values()):>9}/{len(st):<3} pass"
        lines.append(row)
    return "\n".join(lines)


def hardening_check(path: Path) -> dict[str, str]:
    """Debian's `hardening-check` verdicts for one file: an independent second opinion."""
    exe = shutil.which("hardening-check")
    if exe is None:
        return {}
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, check=False)
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines()[1:]:
        key, _, value = line.strip().partition(":")
        out[key.strip()] = value.strip().split(" ")[0].rstrip(",")
    return out
