"""Issue 4, end to end: build Debian's real OTP source with the EEF flags and with none, scan both.

Minutes per build (cached afterwards under `.work/test-cache/otp-builds`):
`python -m pytest -m slow tests/slow -q`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gate.acquire.interface import AcquiredTree
from gate.knowledge.remediation import EEF_CFLAGS
from gate.model.common import Status
from gate.model.report import Report
from gate.model.runtime import Role
from tests.slow.conftest import ServedSource
from tests.slow.support import (
    EEF,
    ERTS_ROLES,
    NO_FLAGS,
    FlagSet,
    build,
    by_name,
    failures,
    hardening_check,
    scan,
    statuses,
    table,
)

pytestmark = pytest.mark.slow

# Executables whose hardening matters most (issue 6: exposure ranking).
KEY = ("beam.smp", "erlexec", "epmd", "erl_child_setup", "inet_gethost")


def _built(flags: FlagSet, served: ServedSource, cache: Path, workdir: Path) -> AcquiredTree:
    src = served.source
    builder = build(flags, served.url, src.version, src.sha256, cache)
    t0 = time.monotonic()
    (tree,) = builder.acquire(workdir)
    manifest = json.loads((builder.build_dir() / "manifest.json").read_text())
    print(
        f"\n[{flags.name}] acquire {time.monotonic() - t0:.0f} s; "
        f"build steps (first run): {manifest['timings_s']}"
    )
    return tree


@pytest.fixture(scope="module")
def eef(served_otp_source: ServedSource, build_cache: Path) -> tuple[AcquiredTree, Report]:
    tree = _built(EEF, served_otp_source, build_cache, build_cache)
    return tree, scan(tree)


@pytest.fixture(scope="module")
def none(served_otp_source: ServedSource, build_cache: Path) -> tuple[AcquiredTree, Report]:
    tree = _built(NO_FLAGS, served_otp_source, build_cache, build_cache)
    return tree, scan(tree)


def _key_files(report: Report) -> dict[str, str]:
    """Basename -> path for the exposed erts executables."""
    found = {
        Path(f.path).name: f.path
        for f in report.files
        if f.role in ERTS_ROLES and Path(f.path).name in KEY
    }
    assert set(found) == set(KEY), f"missing erts executables: {set(KEY) - set(found)}"
    return found


def test_scan_shows_the_difference(
    eef: tuple[AcquiredTree, Report], none: tuple[AcquiredTree, Report]
) -> None:
    print("\nerts executables (beam.smp, erlexec, epmd, ...):")
    print(table({"EEF flags": eef[1], "no flags": none[1]}, ERTS_ROLES))
    print("OTP NIFs and drivers:")
    print(table({"EEF flags": eef[1], "no flags": none[1]}, (Role.OTP_NIF,)))
    for check in ("bind-now", "stack-protector"):
        with_eef = statuses(eef[1], ERTS_ROLES, check)
        without = statuses(none[1], ERTS_ROLES, check)
        assert sum(s == Status.PASS for s in with_eef.values()) > sum(
            s == Status.PASS for s in without.values()
        ), check


def test_eef_flags_harden_the_erts_executables(eef: tuple[AcquiredTree, Report]) -> None:
    tree, report = eef
    assert report.otp.version is not None and str(report.otp.version) == "25.2.3"
    erts = [f for f in report.files if f.role in ERTS_ROLES]
    assert len(erts) >= 10
    for check in ("pie", "relro", "bind-now", "nx"):
        bad = {p: s for p, s in statuses(report, ERTS_ROLES, check).items() if s != Status.PASS}
        assert not bad, f"{check}: {bad}"
    # Every erts executable with a frame worth guarding is protected; none fails.
    assert Status.FAIL not in statuses(report, ERTS_ROLES, "stack-protector").values()
    files = by_name(report)
    for name, path in _key_files(report).items():
        assert files[path].check("stack-protector").status == Status.PASS, name  # type: ignore[union-attr]
        # Debian's hardening-check agrees on the same file.
        verdict = hardening_check(tree.root / path)
        if verdict:
            assert verdict["Position Independent Executable"] == "yes", (name, verdict)
            assert verdict["Read-only relocations"] == "yes", (name, verdict)
            assert verdict["Immediate binding"] == "yes", (name, verdict)
    # Exported while make runs, LDFLAGS reach the NIFs and drivers too (crypto.so included).
    nif_bind_now = statuses(report, (Role.OTP_NIF,), "bind-now")
    assert nif_bind_now and set(nif_bind_now.values()) == {Status.PASS}, nif_bind_now
    # Upstream's default --with-ssl-rpath=yes gives crypto.so a RUNPATH of guessed OpenSSL
    # folders outside the system ones; the rpath check flags it (the proof build turns it off).
    crypto = next(f for f in report.files if f.path.endswith("/crypto.so"))
    rpath = crypto.check("rpath")
    assert (
        rpath is not None
        and rpath.status == Status.FAIL
        and "/usr/local/openssl/lib" in rpath.evidence
    )
    # Not asked for, not given: the EEF flags set no _FORTIFY_SOURCE.
    beam = files[_key_files(report)["beam.smp"]]
    assert beam.check("fortify").status == Status.FAIL  # type: ignore[union-attr]
    # The runtime records what it was built with (issue 6: "built with CFLAGS=...").
    assert beam.build_flags is not None and beam.build_flags.cflags is not None
    assert EEF_CFLAGS in beam.build_flags.cflags
    assert beam.build_flags.ldflags is not None and "-z now" in beam.build_flags.ldflags


def test_no_flags_leave_bind_now_and_stack_protector_off(none: tuple[AcquiredTree, Report]) -> None:
    tree, report = none
    files = by_name(report)
    key = _key_files(report)
    for name, path in key.items():
        f = files[path]
        assert f.check("bind-now").status == Status.FAIL, name  # type: ignore[union-attr]
        # PIE and RELRO come from Debian's gcc and binutils defaults, flags or not.
        assert f.check("pie").status == Status.PASS, name  # type: ignore[union-attr]
        assert f.check("relro").status == Status.PASS, name  # type: ignore[union-attr]
        verdict = hardening_check(tree.root / path)
        if verdict:
            assert verdict["Immediate binding"] == "no", (name, verdict)
    beam = files[key["beam.smp"]]
    assert beam.check("stack-protector").status == Status.FAIL  # type: ignore[union-attr]
    assert beam.build_flags is not None and beam.build_flags.ldflags in ("", None)
    assert failures(report, ERTS_ROLES)
