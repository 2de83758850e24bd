"""The hardening checks: small objects that read `ElfFacts` and return a `CheckResult`.

`CHECKS` is the one ordered registry; docs/checks.md's table is generated from it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple, Protocol

from gate.model.common import Severity, Status
from gate.model.elf import CANARY_FRAME_BYTES, ElfFacts, ElfKind, Libc
from gate.model.report import CheckResult, FileReport
from gate.model.runtime import Role

Outcome = tuple[Status, str]

STATIC_KINDS = (ElfKind.STATIC_EXECUTABLE, ElfKind.STATIC_PIE)
# Directories only root can write to on a Debian-like system; RPATH entries under them are safe.
SYSTEM_DIRS = (
    "/lib", "/lib32", "/lib64", "/libx32",
    "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32", "/usr/local/lib",
)  # fmt: skip
FRAME_MIN = CANARY_FRAME_BYTES


class Check(Protocol):
    """One hardening check; `fix` is the exact flags that make it pass (keeping `-O2`)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def default_severity(self) -> Severity: ...
    @property
    def description(self) -> str: ...
    @property
    def fix(self) -> str: ...

    def evaluate(self, facts: ElfFacts) -> CheckResult: ...


class RuleCheck(NamedTuple):
    """A check whose decision is one pure function of the facts."""

    id: str
    title: str
    default_severity: Severity
    description: str  # when it passes, in one line (the docs table's "pass when")
    fix: str
    rule: Callable[[ElfFacts], Outcome]

    def evaluate(self, facts: ElfFacts) -> CheckResult:
        if facts.kind == ElfKind.OTHER:
            return CheckResult(
                self.id, Status.NA, f"{facts.elf_type} file: not a linked program or library"
            )
        status, evidence = self.rule(facts)
        return CheckResult(self.id, status, evidence)


def _pie(f: ElfFacts) -> Outcome:
    if f.kind == ElfKind.SHARED_OBJECT:
        return Status.NA, "shared object: PIE applies to executables"
    if f.kind == ElfKind.PIE_EXECUTABLE:
        how = "ET_DYN with PT_INTERP" + (" and DF_1_PIE" if f.pie_flag else "")
        return Status.PASS, how
    if f.kind == ElfKind.STATIC_PIE:
        return Status.PASS, "static-pie: ET_DYN with DF_1_PIE and no interpreter"
    if f.kind == ElfKind.STATIC_EXECUTABLE:
        return Status.FAIL, "static ET_EXEC: always loaded at the same address"
    return Status.FAIL, "ET_EXEC: always loaded at the same address"


def _stack_protector(f: ElfFacts) -> Outcome:
    if f.stack_chk_imports:
        return Status.PASS, f"imports {', '.join(f.stack_chk_imports)}"
    if f.kind in STATIC_KINDS:
        return Status.UNKNOWN, (
            "static binary: the C library linked into it brings its own __stack_chk_fail and "
            f"canaries ({f.canary_loads} canary loads), so the program's own code cannot be told apart"
        )
    if not f.symbols_read:
        return Status.UNKNOWN, "no symbol table to look for __stack_chk_fail in"
    if f.stack_chk_defined:
        return Status.UNKNOWN, (
            f"defines {', '.join(f.stack_chk_defined)} itself (a C library?): a defined symbol "
            "proves nothing"
        )
    if f.canary_frames:
        return Status.FAIL, (
            f"no __stack_chk_fail import, yet {_n(f.canary_frames, 'stack frame')} of {FRAME_MIN}+ bytes "
            "(arrays or buffers -fstack-protector-strong would guard)"
        )
    if f.address_taken_frames and not f.canary_loads and f.code_scan_complete:
        # A small frame whose address is passed on holds an array or an address-taken local,
        # which -fstack-protector-strong guards; and no function reads the canary (issue 12).
        return Status.FAIL, (
            f"no __stack_chk_fail import and no canary read, yet "
            f"{_n(f.address_taken_frames, 'stack frame')} under {FRAME_MIN} bytes pass their "
            "own address on (an array or address-taken local -fstack-protector-strong would guard)"
        )
    if f.canary_loads:
        # A protected function that never returns (a main loop) reads the canary but never
        # checks it, so the file may not import __stack_chk_fail at all (seen: X11's listres).
        return Status.UNKNOWN, (
            f"no __stack_chk_fail import, but {_n(f.canary_loads, 'canary read')} in the code: "
            "built with a stack protector whose check never runs"
        )
    return Status.UNKNOWN, (
        "no __stack_chk_fail import, and no stack frame that holds an array or an address-taken "
        "local (nothing a canary would guard)"
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _fortify(f: ElfFacts) -> Outcome:
    if f.libc == Libc.MUSL:
        return Status.NA, "musl: there are no __*_chk functions (Alpine fortifies inline)"
    if f.kind in STATIC_KINDS:
        if f.fortified_defined:
            return Status.PASS, (
                f"static binary defines {len(f.fortified_defined)} __*_chk functions, linked in "
                f"only because its code calls them: {', '.join(f.fortified_defined[:5])}"
            )
        return (
            Status.UNKNOWN,
            "static binary: libc calls are linked in, not imported; none is a __*_chk",
        )
    if not f.symbols_read:
        return Status.UNKNOWN, "no symbol table to count fortified calls in"
    checked = sorted({n[2:-4] for n in f.fortified_imports})
    fortifiable = sorted(set(checked) | set(f.fortifiable_imports))
    counts = f"{len(checked)}/{len(fortifiable)} fortifiable functions checked"
    if checked:
        return Status.PASS, f"{counts}: {', '.join(f.fortified_imports[:6])}"
    if fortifiable:
        return Status.FAIL, f"{counts}; unchecked: {', '.join(fortifiable[:8])}"
    return Status.UNKNOWN, "0/0: imports no libc function that has a checked variant"


def _relro(f: ElfFacts) -> Outcome:
    if f.relro:
        return Status.PASS, "PT_GNU_RELRO segment"
    return Status.FAIL, "no PT_GNU_RELRO segment: relocated data stays writable"


def _bind_now(f: ElfFacts) -> Outcome:
    if f.kind == ElfKind.STATIC_EXECUTABLE:
        return Status.NA, "static executable: no dynamic loader binds anything lazily"
    if f.bind_now:
        if f.relro:
            return Status.PASS, f"{f.bind_now} (with PT_GNU_RELRO: full RELRO)"
        return Status.PASS, f"{f.bind_now}, but no PT_GNU_RELRO: not full RELRO"
    return Status.FAIL, "no DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW: the GOT stays writable"


def _nx(f: ElfFacts) -> Outcome:
    if f.gnu_stack is None:
        # Linux >= 5.8 gives a 64-bit x86 process without PT_GNU_STACK a non-executable stack,
        # but older kernels and 32-bit processes make all readable memory executable, and
        # glibc's loader gives a library without one an executable stack: fail, as checksec does.
        return Status.FAIL, "no PT_GNU_STACK: loaders and older kernels assume an executable stack"
    if f.gnu_stack:
        return Status.FAIL, "PT_GNU_STACK is executable (RWX stack)"
    return Status.PASS, "PT_GNU_STACK is not executable"


def _rwx(f: ElfFacts) -> Outcome:
    if f.rwx_segments:
        return Status.FAIL, "; ".join(f.rwx_segments)
    return Status.PASS, "no `PT_LOAD` segment is both writable and executable"


def _textrel(f: ElfFacts) -> Outcome:
    if f.textrel:
        return Status.FAIL, f"{f.textrel}: the loader must write into the code"
    return Status.PASS, "no DT_TEXTREL or DF_TEXTREL"


def rpath_problem(entry: str) -> str | None:
    """Why one RPATH/RUNPATH entry is unsafe, or None when it is a system or $ORIGIN path."""
    if entry == "":
        return "is empty (searches the working directory)"
    if entry.startswith(("$ORIGIN", "${ORIGIN}")):
        return None
    if not entry.startswith("/"):
        return "is relative (resolved against the working directory)"
    path = posixpath.normpath(entry.replace("${LIB}", "lib").replace("$LIB", "lib"))
    if any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS):
        return None
    return "is outside the system library directories"


def _rpath(f: ElfFacts) -> Outcome:
    entries = [("RPATH", e) for e in f.rpath] + [("RUNPATH", e) for e in f.runpath]
    if not entries:
        return Status.PASS, "no RPATH or RUNPATH"
    bad = [f"{tag} entry '{e}' {why}" for tag, e in entries if (why := rpath_problem(e))]
    if bad:
        return Status.FAIL, "; ".join(bad)
    listed = ", ".join(f"{tag} {e}" for tag, e in entries)
    return Status.PASS, f"{listed} (system and $ORIGIN paths only)"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cet(f: ElfFacts) -> Outcome:
    if f.machine not in ("x86_64", "i386"):
        return Status.NA, f"{f.machine}: CET is x86 only"
    p = f.gnu_property
    if p is None or not p.x86_feature_1:
        return Status.UNKNOWN, (
            "no x86 feature property (the linker drops it when any object, such as the C "
            "runtime's crt files, lacks it)"
        )
    evidence = f"IBT: {_yes(p.ibt)}, SHSTK: {_yes(p.shstk)}"
    return (Status.PASS if p.ibt and p.shstk else Status.FAIL), evidence


def _bti(f: ElfFacts) -> Outcome:
    if f.machine != "aarch64":
        return Status.NA, f"{f.machine}: BTI and PAC are AArch64 only"
    p = f.gnu_property
    if p is None or not p.aarch64_feature_1:
        return Status.UNKNOWN, (
            "no AArch64 feature property (the linker drops it when any object lacks it)"
        )
    evidence = f"BTI: {_yes(p.bti)}, PAC: {_yes(p.pac)}"
    if p.bti and not p.pac:
        # The kernel enforces the BTI bit; the PAC bit only records that every input object was
        # marked, so one unmarked C runtime object clears it even when the program's own code
        # signs its return addresses (`-z force-bti` links show exactly this): pass, and say so.
        return Status.PASS, (
            f"{evidence} (the PAC property is cleared by any unmarked object, such as the C "
            "runtime's crt files; return-address signing cannot be read from the note)"
        )
    return (Status.PASS if p.bti else Status.FAIL), evidence


def _stack_clash(f: ElfFacts) -> Outcome:
    if f.kind in STATIC_KINDS:
        return Status.UNKNOWN, (
            f"static binary: {f.stack_clash_probes} probes, but they may come from the C library"
        )
    if f.stack_clash_probes:
        return Status.PASS, f"{f.stack_clash_probes} stack probe sequences (sub $0x1000 + or $0)"
    return Status.UNKNOWN, (
        "no stack probe found: probes appear only in frames over a page or alloca, so their "
        "absence proves nothing"
    )


CFLAGS_O2 = 'CFLAGS="-O2 -g'

CHECKS: tuple[Check, ...] = (
    RuleCheck(
        "pie", "Position-independent executable", Severity.ERROR,
        "executables are `ET_DYN` with `PT_INTERP` or `DF_1_PIE` (static-pie counts); n/a for shared objects",
        f'{CFLAGS_O2} -fPIE" LDFLAGS="-pie"', _pie,
    ),
    RuleCheck(
        "stack-protector", "Stack protector", Severity.ERROR,
        "imports `__stack_chk_fail` or `__stack_chk_guard`; fails only when code has frames that need a canary (an array or address-taken local) and none reads it",
        f'{CFLAGS_O2} -fstack-protector-strong"', _stack_protector,
    ),
    RuleCheck(
        "fortify", "Fortify source", Severity.WARNING,
        "imports at least one `__*_chk` function (counts checked/fortifiable); 0/0 is unknown; n/a on musl",
        f'{CFLAGS_O2}" CPPFLAGS="-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3" (=2 with glibc < 2.34 or gcc < 12)',
        _fortify,
    ),
    RuleCheck(
        "relro", "Read-only relocations", Severity.ERROR,
        "a `PT_GNU_RELRO` segment",
        'LDFLAGS="-Wl,-z,relro" (NIFs: DED_LDFLAGS="-shared -Wl,-Bsymbolic -Wl,-z,relro,-z,now")',
        _relro,
    ),
    RuleCheck(
        "bind-now", "Immediate binding", Severity.ERROR,
        "`DT_BIND_NOW`, `DF_BIND_NOW` or `DF_1_NOW` (full RELRO needs `relro` too); n/a for static executables",
        'LDFLAGS="-Wl,-z,relro,-z,now" (NIFs: DED_LD=gcc DED_LDFLAGS="-shared -Wl,-Bsymbolic '
        '-Wl,-z,relro,-z,now -Wl,-z,noexecstack" DED_LD_FLAG_RUNTIME_LIBRARY_PATH="-Wl,-R")',
        _bind_now,
    ),
    RuleCheck(
        "nx", "Non-executable stack", Severity.ERROR,
        "the last `PT_GNU_STACK` is not executable (a missing `PT_GNU_STACK` fails)",
        'LDFLAGS="-Wl,-z,noexecstack"', _nx,
    ),
    RuleCheck(
        "rwx", "No writable and executable segment", Severity.ERROR,
        "no `PT_LOAD` segment is both writable and executable",
        'drop -Wl,-N/--omagic and "awx" sections; LDFLAGS="-Wl,--error-rwx-segments" stops such links',
        _rwx,
    ),
    RuleCheck(
        "textrel", "No text relocations", Severity.ERROR,
        "no `DT_TEXTREL` and no `DF_TEXTREL`",
        f'{CFLAGS_O2} -fPIC" LDFLAGS="-Wl,-z,text"', _textrel,
    ),
    RuleCheck(
        "rpath", "Safe library search path", Severity.WARNING,
        "every `RPATH`/`RUNPATH` entry is under a system library directory or starts with `$ORIGIN`",
        "remove -Wl,-rpath entries outside system paths, or use LDFLAGS=\"-Wl,-rpath,'$ORIGIN/../lib'\"",
        _rpath,
    ),
    RuleCheck(
        "cet", "Intel CET (IBT and SHSTK)", Severity.NOTE,
        "x86: the GNU property note has both IBT and SHSTK; no note is unknown; n/a elsewhere",
        f'{CFLAGS_O2} -fcf-protection=full" (compile time only: never enforce CET for the JIT)',
        _cet,
    ),
    RuleCheck(
        "bti", "AArch64 BTI and PAC", Severity.NOTE,
        "AArch64: the GNU property note has BTI (PAC is reported, not required); no note is unknown; n/a elsewhere",
        f'{CFLAGS_O2} -mbranch-protection=standard"', _bti,
    ),
    RuleCheck(
        "stack-clash", "Stack clash protection", Severity.NOTE,
        "stack probe sequences found in the code; otherwise unknown (never fail on absence)",
        f'{CFLAGS_O2} -fstack-clash-protection"', _stack_clash,
    ),
)  # fmt: skip

CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CHECKS)
_BY_ID = {c.id: c for c in CHECKS}


def check_by_id(check_id: str) -> Check:
    """The registered check with this id; KeyError names the known ids."""
    try:
        return _BY_ID[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}; known: {', '.join(CHECK_IDS)}") from None


def evaluate_checks(facts: ElfFacts) -> tuple[CheckResult, ...]:
    """Every registered check on one file, in registry order."""
    return tuple(c.evaluate(facts) for c in CHECKS)


#: Files one OTP build compiles with the same CFLAGS/CPPFLAGS: erts, and OTP's own NIFs, drivers
#: and port programs (configure builds DED_CFLAGS from "$CFLAGS $CPPFLAGS"). A project's NIFs are
#: built by rebar3/mix with their own flags and are never judged by their neighbours.
OTP_BUILD_ROLES = frozenset(
    {Role.EMULATOR, Role.ERTS_EXECUTABLE, Role.OTP_NIF, Role.OTP_PORT_PROGRAM}
)


def judge_fortify_across_build(files: Sequence[FileReport]) -> tuple[FileReport, ...]:
    """Turn `fortify` fail into unknown on OTP files whose build is shown to be fortified.

    `_FORTIFY_SOURCE` is a preprocessor macro for a whole build, and it leaves a call plain when
    the compiler cannot size its buffer. So a file with fortifiable imports and no `__*_chk` is
    either unfortified or fortified with nothing gcc could size; its imports cannot tell which
    (the slow proof build found three such files: docs/build.md). When other files of the same
    OTP build do import `__*_chk`, the macro was set, and `fail` would be a false finding.
    """
    fortified = [
        f.path
        for f in files
        if f.role in OTP_BUILD_ROLES and (c := f.check("fortify")) and c.status == Status.PASS
    ]
    if not fortified:
        return tuple(files)
    note = (
        f"; but {len(fortified)} other file{'s' if len(fortified) != 1 else ''} of this OTP build "
        f"import __*_chk functions (e.g. {fortified[0]}), so it was built with _FORTIFY_SOURCE and "
        "the compiler could size none of these calls"
    )
    out: list[FileReport] = []
    for f in files:
        c = f.check("fortify")
        if f.role in OTP_BUILD_ROLES and c is not None and c.status == Status.FAIL:
            judged = CheckResult(c.id, Status.UNKNOWN, c.evidence + note)
            f = replace(f, checks=tuple(judged if x.id == c.id else x for x in f.checks))
        out.append(f)
    return tuple(out)


def markdown_table() -> str:
    """The checks table of docs/checks.md (a test keeps the two equal)."""
    rows = [
        "| id | check | default severity | passes when | fix |",
        "|---|---|---|---|---|",
    ]
    for c in CHECKS:
        cells = (f"`{c.id}`", c.title, c.default_severity.value, c.description, f"`{c.fix}`")
        rows.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
