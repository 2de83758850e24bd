"""Issue 6's proof: the flags the gate recommends really harden erts *and* the NIFs; the EEF guide's
literal flags (plus the -O2 configure needs), given as configure arguments, leave crypto.so
without BIND_NOW. Builds Debian's real OTP source: `python -m pytest -m slow tests/slow -q`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.acquire.interface import AcquiredTree
from gate.model.common import Status
from gate.model.report import Report
from gate.model.runtime import Role
from tests.slow.conftest import ServedSource
from tests.slow.support import (
    EEF_CONFIGURE_ONLY,
    ERTS_ROLES,
    OTP_ROLES,
    failures,
    hardening_check,
    recommended,
    scan,
    statuses,
    table,
)
from tests.slow.test_build_from_source import _built

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proven(served_otp_source: ServedSource, build_cache: Path) -> tuple[AcquiredTree, Report]:
    flags = recommended(served_otp_source.source.version)
    print(f"\nrecommended flags: {flags}")
    tree = _built(flags, served_otp_source, build_cache, build_cache)
    return tree, scan(tree)


@pytest.fixture(scope="module")
def eef_configure(
    served_otp_source: ServedSource, build_cache: Path
) -> tuple[AcquiredTree, Report]:
    tree = _built(EEF_CONFIGURE_ONLY, served_otp_source, build_cache, build_cache)
    return tree, scan(tree)


def _crypto_nif(report: Report) -> str:
    paths = [
        f.path for f in report.files if f.role == Role.OTP_NIF and f.path.endswith("/crypto.so")
    ]
    assert len(paths) == 1, paths
    return paths[0]


def test_recommended_flags_leave_no_hardening_failure(
    proven: tuple[AcquiredTree, Report], eef_configure: tuple[AcquiredTree, Report]
) -> None:
    from gate.inspection.elf import read_facts

    tree, report = proven
    print(table({"recommended": report, "EEF configure": eef_configure[1]}, OTP_ROLES))
    nifs = [f for f in report.files if f.role == Role.OTP_NIF]
    assert len([f for f in report.files if f.role in ERTS_ROLES]) >= 10
    assert len(nifs) >= 5, [f.path for f in nifs]
    # No check fails (or does not apply) on erts, NIFs, drivers and port programs.
    assert failures(report, OTP_ROLES) == []
    for check in ("relro", "bind-now", "nx"):
        bad = {p: s for p, s in statuses(report, OTP_ROLES, check).items() if s != Status.PASS}
        assert not bad, f"{check}: {bad}"
    assert Status.FAIL not in statuses(report, OTP_ROLES, "stack-protector").values()
    # fortify passes on every erts executable ...
    assert set(statuses(report, ERTS_ROLES, "fortify").values()) == {Status.PASS}
    # ... and on NIFs and port programs wherever the imports can show it. The rest import no
    # __*_chk at all: -D_FORTIFY_SOURCE=3 did reach them (OTP's configure builds DED_CFLAGS from
    # "$CFLAGS $CPPFLAGS"; siblings built by the same rules pass), but gcc could not see the size
    # of any of their buffers, so every call stayed plain, exactly as in the build without
    # fortify. Their own imports cannot tell them from unfortified files (hardening-check says
    # "no"); the gate judges fortify across the build and says "unknown", naming a sibling.
    fortify = statuses(report, (Role.OTP_NIF, Role.OTP_PORT_PROGRAM), "fortify")
    assert Status.PASS in fortify.values()
    unprovable = sorted(p for p, s in fortify.items() if s == Status.UNKNOWN)
    print(f"fortify not provable from the file's own imports: {unprovable}")
    for path in unprovable:
        with_fortify = read_facts(tree.root / path)
        without = read_facts(eef_configure[0].root / path)
        assert with_fortify.fortified_imports == () == without.fortified_imports, path
        assert set(with_fortify.fortifiable_imports) == set(without.fortifiable_imports), path
        evidence = next(f for f in report.files if f.path == path).check("fortify")
        assert evidence is not None
        if with_fortify.fortifiable_imports:  # 0/0 files were unknown on their own already
            assert "of this OTP build import __*_chk" in evidence.evidence, path
    # The build without fortify keeps its failures: no sibling shows the macro was set.
    unfortified = statuses(eef_configure[1], OTP_ROLES, "fortify")
    assert Status.FAIL in unfortified.values() and Status.PASS not in unfortified.values()
    crypto = _crypto_nif(report)
    for check in ("stack-protector", "relro", "bind-now", "nx", "rpath"):
        assert statuses(report, (Role.OTP_NIF,), check)[crypto] == Status.PASS, check
    verdict = hardening_check(tree.root / crypto)
    if verdict:
        assert verdict["Immediate binding"] == "yes", verdict
        assert verdict["Stack protected"] == "yes", verdict
    beam = next(f for f in report.files if f.path.endswith("/beam.smp"))
    verdict = hardening_check(tree.root / beam.path)
    if verdict:
        assert verdict["Fortify Source functions"] == "yes", verdict
        assert verdict["Immediate binding"] == "yes", verdict
    assert beam.build_flags is not None and beam.build_flags.cflags is not None
    assert "-D_FORTIFY_SOURCE=3" in beam.build_flags.cflags


def test_eef_literal_flags_as_configure_arguments_miss_bind_now_in_crypto(
    eef_configure: tuple[AcquiredTree, Report],
) -> None:
    tree, report = eef_configure
    # erts gets LDFLAGS from configure ...
    assert Status.FAIL not in statuses(report, ERTS_ROLES, "bind-now").values()
    # ... the NIFs do not: make never saw LDFLAGS, and DED_LDFLAGS has no -z now.
    crypto = _crypto_nif(report)
    assert statuses(report, (Role.OTP_NIF,), "bind-now")[crypto] == Status.FAIL
    assert statuses(report, (Role.OTP_NIF,), "stack-protector")[crypto] == Status.PASS
    verdict = hardening_check(tree.root / crypto)
    if verdict:
        assert verdict["Immediate binding"] == "no", verdict
