"""`gate.inspection.checks`: the exact status of every check on every gcc fixture, plus
fact-level cases no local toolchain can build (AArch64, odd RPATHs), and the registry itself."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.inspection.checks import (
    CHECK_IDS,
    CHECKS,
    check_by_id,
    evaluate_checks,
    markdown_table,
    rpath_problem,
)
from gate.inspection.elf import is_elf, read_facts
from gate.model.common import Severity, Status
from gate.model.elf import ElfFacts, ElfKind, GnuProperties, Libc

REPO = Path(__file__).resolve().parents[2]
P, F, U, N = "pass", "fail", "unknown", "n/a"

# Columns follow CHECK_IDS:
#  pie stack-protector fortify relro bind-now nx rwx textrel rpath cet bti stack-clash
EXPECTED: dict[str, tuple[str, ...]] = {
    "pie-hardened":     (P, P, P, P, P, P, P, P, P, U, N, U),
    "pie-plain":        (P, F, F, P, F, P, P, P, P, U, N, U),
    "nopie":            (F, F, F, P, F, P, P, P, P, U, N, U),
    "static":           (F, U, U, P, N, P, P, P, P, U, N, U),
    "static-fortify":   (F, U, P, P, N, P, P, P, P, U, N, U),
    "static-pie":       (P, U, U, P, F, P, P, P, P, U, N, U),
    "shared":           (N, F, F, P, F, P, P, P, P, U, N, U),
    "shared-hardened":  (N, P, P, P, P, P, P, P, P, U, N, U),
    "execstack":        (P, U, U, P, F, F, P, P, P, U, N, U),
    "nognustack":       (P, U, U, P, F, F, P, P, P, U, N, U),
    "norelro":          (P, U, U, F, F, P, P, P, P, U, N, U),
    "norelro-now":      (P, U, U, F, P, P, P, P, P, U, N, U),
    "rpath-relative":   (P, U, U, P, F, P, P, P, F, U, N, U),
    "runpath-absolute": (P, U, U, P, F, P, P, P, F, U, N, U),
    "runpath-origin":   (P, U, U, P, F, P, P, P, P, U, N, U),
    "ssp-strong":       (P, P, F, P, F, P, P, P, P, U, N, U),
    "no-ssp":           (P, F, F, P, F, P, P, P, P, U, N, U),
    "noarray":          (P, U, U, P, F, P, P, P, P, U, N, U),
    "noarray-ssp":      (P, U, U, P, F, P, P, P, P, U, N, U),
    "fortify":          (P, F, P, P, F, P, P, P, P, U, N, U),
    "cf-protection":    (P, F, F, P, F, P, P, P, P, U, N, U),
    "nolibc-cet":       (F, U, U, F, N, P, P, P, P, P, N, U),
    "nolibc-ibt":       (F, U, U, F, N, P, P, P, P, F, N, U),
    "nolibc-nocet":     (F, U, U, F, N, P, P, P, P, U, N, U),
    "stack-clash":      (P, F, F, P, F, P, P, P, P, U, N, P),
    "stack-clash-vla":  (P, F, F, P, F, P, P, P, P, U, N, P),
    "no-stack-clash":   (P, F, F, P, F, P, P, P, P, U, N, U),
    "textrel":          (N, U, U, P, F, P, P, F, P, U, N, U),
    "rwx":              (P, U, U, P, F, P, F, P, P, U, N, U),
    "buildflags-pie":   (P, U, F, P, F, P, P, P, P, U, N, U),
    "buildflags-nopie": (F, U, F, P, F, P, P, P, P, U, N, U),
    "emulator-noflags": (P, U, F, P, F, P, P, P, P, U, N, U),
    "i386-shared":      (N, F, F, P, F, P, P, P, P, U, N, U),
    "object":           (N, N, N, N, N, N, N, N, N, N, N, N),
    "musl":             (P, F, N, P, F, P, P, P, P, U, N, U),
    "musl-static":      (F, U, N, P, N, P, P, P, P, U, N, U),
    # issue 12: a char[16] is enough to need a canary; nothing to guard stays unknown
    "smallbuf-nossp":   (P, F, F, P, F, P, P, P, P, U, N, U),
    "smallbuf-ssp":     (P, P, F, P, F, P, P, P, P, U, N, U),
    "paramaddr":        (P, U, U, P, F, P, P, P, P, U, N, U),
    "i386-smallbuf":    (N, F, F, P, F, P, P, P, P, U, N, U),
    "a64-smallbuf-nossp": (P, F, F, P, F, P, P, P, P, N, U, U),
    "a64-smallbuf-ssp": (P, P, F, P, F, P, P, P, P, N, U, U),
    "a64-noarray":      (P, U, U, P, F, P, P, P, P, N, U, U),
    "a64-paramaddr":    (P, U, U, P, F, P, P, P, P, N, U, U),
    # -z force-bti: BTI without PAC passes; BTI and PAC from a file with no crt objects
    "a64-force-bti":    (P, U, U, P, F, P, P, P, P, N, P, U),
    "a64-nolibc-bti-pac": (F, U, U, F, N, P, P, P, P, N, P, U),
}  # fmt: skip


@pytest.mark.parametrize("name", EXPECTED)
def test_every_check_on_every_fixture(elf_fixture: Callable[[str], Path], name: str) -> None:
    results = evaluate_checks(read_facts(elf_fixture(name)))
    assert tuple(r.id for r in results) == CHECK_IDS
    got = {r.id: r.status.value for r in results}
    assert got == dict(zip(CHECK_IDS, EXPECTED[name], strict=True))
    for r in results:
        assert r.evidence, f"{name}: {r.id} has no evidence"


def test_every_fixture_has_expectations() -> None:
    from tests.fixtures.elf.build import FIXTURES

    assert {fx.name for fx in FIXTURES} == set(EXPECTED)


def test_evidence_names_what_decided(elf_fixture: Callable[[str], Path]) -> None:
    def ev(name: str, check: str) -> str:
        result = next(r for r in evaluate_checks(read_facts(elf_fixture(name))) if r.id == check)
        return result.evidence

    assert ev("pie-hardened", "bind-now") == "DT_FLAGS BIND_NOW (with PT_GNU_RELRO: full RELRO)"
    assert "not full RELRO" in ev("norelro-now", "bind-now")
    assert ev("pie-hardened", "stack-protector") == "imports __stack_chk_fail"
    assert ev("pie-hardened", "fortify").startswith("2/2 fortifiable functions checked")
    assert ev("no-ssp", "fortify").startswith(
        "0/2 fortifiable functions checked; unchecked: snprintf, strcpy"
    )
    assert "'lib' is relative" in ev("rpath-relative", "rpath")
    assert "'/home/build/otp/lib' is outside" in ev("runpath-absolute", "rpath")
    assert ev("nolibc-ibt", "cet") == "IBT: yes, SHSTK: no"
    for small in ("smallbuf-nossp", "i386-smallbuf", "a64-smallbuf-nossp"):
        assert "1 stack frame under 64 bytes pass their own address on" in ev(
            small, "stack-protector"
        )
    assert "nothing a canary would guard" in ev("noarray", "stack-protector")
    assert "nothing a canary would guard" in ev("paramaddr", "stack-protector")
    assert ev("a64-force-bti", "bti").startswith("BTI: yes, PAC: no (the PAC property is cleared")
    assert ev("a64-nolibc-bti-pac", "bti") == "BTI: yes, PAC: yes"
    assert "PT_LOAD at 0x" in ev("rwx", "rwx")


# --- Debian's real OTP 25.2.3: what issue 2 says the gate must report -----------------------


def test_debian_otp_statuses(debian_otp: Path) -> None:
    files = sorted(
        p for p in debian_otp.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)
    )
    by_name: dict[str, dict[str, str]] = {}
    for p in files:
        got = {r.id: r.status.value for r in evaluate_checks(read_facts(p))}
        by_name[p.name] = got
        assert got["pie"] in (P, N), p
        assert (got["relro"], got["nx"], got["bind-now"], got["rwx"], got["textrel"]) == (
            P,
            P,
            F,
            P,
            P,
        ), p
        assert got["stack-protector"] in (F, U), p  # never pass: no protector anywhere
        assert got["fortify"] in (F, U), p
        assert got["cet"] == U and got["bti"] == N, p  # Debian's crt files have no CET note
    assert by_name["beam.smp"]["stack-protector"] == F
    assert by_name["beam.smp"]["fortify"] == F
    assert by_name["epmd"]["stack-protector"] == F


# --- facts no local toolchain builds ------------------------------------------------------------


def _facts(**changes: object) -> ElfFacts:
    base = ElfFacts(
        machine="x86_64", bits=64, elf_type="ET_DYN", kind=ElfKind.PIE_EXECUTABLE,
        interpreter="/lib64/ld-linux-x86-64.so.2", libc=Libc.GLIBC, needed=("libc.so.6",),
        pie_flag=True, relro=True, bind_now="DT_FLAGS_1 NOW", gnu_stack=False, rwx_segments=(),
        textrel=None, rpath=(), runpath=(), stack_chk_imports=("__stack_chk_fail",),
        stack_chk_defined=(), fortified_imports=("__memcpy_chk",), fortifiable_imports=("memcpy",),
        fortified_defined=(), canary_frames=3, canary_loads=3, stack_clash_probes=0,
        gnu_property=None, build_flags=None,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _status(check: str, facts: ElfFacts) -> str:
    return check_by_id(check).evaluate(facts).status.value


def test_small_frames_decide_only_with_nothing_reading_the_canary() -> None:
    bare = _facts(stack_chk_imports=(), canary_frames=0, canary_loads=0)
    assert _status("stack-protector", bare) == U
    assert _status("stack-protector", dataclasses.replace(bare, address_taken_frames=2)) == F
    # A canary read somewhere, or code left unscanned by the per-file cap: cannot decide.
    read = dataclasses.replace(bare, address_taken_frames=2, canary_loads=1)
    assert _status("stack-protector", read) == U
    assert "1 canary read in the code" in check_by_id("stack-protector").evaluate(read).evidence
    capped = dataclasses.replace(bare, address_taken_frames=2, code_scan_complete=False)
    assert _status("stack-protector", capped) == U


def test_bti_on_aarch64() -> None:
    both = GnuProperties(bti=True, pac=True, aarch64_feature_1=True)
    bti_only = GnuProperties(bti=True, aarch64_feature_1=True)
    assert _status("bti", _facts(machine="aarch64", gnu_property=both)) == P
    pac_only = GnuProperties(pac=True, aarch64_feature_1=True)
    assert _status("bti", _facts(machine="aarch64", gnu_property=bti_only)) == P
    assert (
        "PAC: no"
        in check_by_id("bti").evaluate(_facts(machine="aarch64", gnu_property=bti_only)).evidence
    )
    assert _status("bti", _facts(machine="aarch64", gnu_property=pac_only)) == F
    assert _status("bti", _facts(machine="aarch64", gnu_property=None)) == U
    assert _status("cet", _facts(machine="aarch64", gnu_property=both)) == N
    # An x86 note never counts on AArch64 and the other way round.
    assert _status("cet", _facts(gnu_property=both)) == U


def test_stack_protector_defined_symbol_proves_nothing() -> None:
    libc_like = _facts(
        kind=ElfKind.SHARED_OBJECT, stack_chk_imports=(), stack_chk_defined=("__stack_chk_fail",)
    )
    assert _status("stack-protector", libc_like) == U
    assert _status("stack-protector", _facts(stack_chk_imports=(), symbols_read=False)) == U
    guard = _facts(stack_chk_imports=("__stack_chk_guard",), machine="aarch64")
    assert _status("stack-protector", guard) == P


def test_fortify_counts() -> None:
    assert _status("fortify", _facts(fortified_imports=(), fortifiable_imports=())) == U
    ev = check_by_id("fortify").evaluate(
        _facts(fortified_imports=("__memcpy_chk",), fortifiable_imports=("memcpy", "read"))
    )
    assert ev.status == Status.PASS and ev.evidence.startswith("1/2 fortifiable functions checked")


def test_bind_now_tag_is_named() -> None:
    ev = check_by_id("bind-now").evaluate(_facts(bind_now="DT_BIND_NOW"))
    assert ev.evidence.startswith("DT_BIND_NOW")


@pytest.mark.parametrize(
    ("entry", "bad"),
    [("", True), ("lib", True), ("./lib", True), ("/tmp/x", True), ("/usr/lib/../../tmp", True),
     ("/home/u/otp/lib", True), ("/usr/lib", False), ("/usr/lib/x86_64-linux-gnu", False),
     ("$ORIGIN/../lib", False), ("${ORIGIN}", False), ("/usr/$LIB", False), ("/usr/local/lib/erlang", False)],
)  # fmt: skip
def test_rpath_entries(entry: str, bad: bool) -> None:
    assert (rpath_problem(entry) is not None) == bad


# --- the registry -------------------------------------------------------------------------------


def test_registry() -> None:
    assert CHECK_IDS == (
        "pie", "stack-protector", "fortify", "relro", "bind-now", "nx", "rwx", "textrel",
        "rpath", "cet", "bti", "stack-clash",
    )  # fmt: skip
    severities = {c.id: c.default_severity for c in CHECKS}
    for cid in ("pie", "stack-protector", "relro", "bind-now", "nx", "rwx", "textrel"):
        assert severities[cid] == Severity.ERROR
    assert severities["fortify"] == severities["rpath"] == Severity.WARNING
    assert severities["cet"] == severities["bti"] == severities["stack-clash"] == Severity.NOTE
    for c in CHECKS:
        assert c.title and c.description and c.fix
        if "CFLAGS" in c.fix:  # OTP's configure stops without an -O flag
            assert re.search(r'CFLAGS="-O2 ', c.fix), c.id
    with pytest.raises(KeyError, match="known: pie"):
        check_by_id("nope")


def test_docs_table_matches_registry() -> None:
    text = (REPO / "docs" / "checks.md").read_text()
    begin, end = "<!-- checks-table:begin -->\n", "<!-- checks-table:end -->"
    table = text[text.index(begin) + len(begin) : text.index(end)]
    assert table == markdown_table(), "regenerate with: python -m gate.inspection.checks > table"


def test_fortify_is_judged_across_one_otp_build() -> None:
    # A fortified build leaves a file plain when gcc can size none of its calls (the slow proof
    # build: asn1rt_nif.so, crypto.so, cpu_sup); its neighbours show the macro was set.
    from gate.inspection.checks import judge_fortify_across_build
    from gate.model.report import CheckResult, FileReport
    from gate.model.runtime import Role

    def file(path: str, role: Role, status: Status) -> FileReport:
        return FileReport(
            path, role, ElfKind.SHARED_OBJECT, "x86_64",
            (CheckResult("fortify", status, "0/3 fortifiable functions checked"),),
        )  # fmt: skip

    beam = file("erts/bin/beam.smp", Role.EMULATOR, Status.PASS)
    crypto = file("lib/crypto/priv/lib/crypto.so", Role.OTP_NIF, Status.FAIL)
    mine = file("lib/myapp/priv/native.so", Role.PROJECT_NIF, Status.FAIL)
    judged = {f.path: f.check("fortify") for f in judge_fortify_across_build([beam, crypto, mine])}
    got = judged["lib/crypto/priv/lib/crypto.so"]
    assert got is not None and got.status == Status.UNKNOWN
    assert "erts/bin/beam.smp" in got.evidence and got.evidence.startswith("0/3")
    # The project's own NIF is built by rebar3/mix with its own flags: still a failure.
    assert judged["lib/myapp/priv/native.so"].status == Status.FAIL  # type: ignore[union-attr]
    # A build with no fortified file at all (Debian's) keeps every failure.
    unfortified = [file("erts/bin/beam.smp", Role.EMULATOR, Status.FAIL), crypto]
    assert [f.check("fortify").status for f in judge_fortify_across_build(unfortified)] == [  # type: ignore[union-attr]
        Status.FAIL,
        Status.FAIL,
    ]
