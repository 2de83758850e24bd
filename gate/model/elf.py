"""Plain facts about one ELF file, produced by `gate.inspection.elf` (the one ELF reader).

Checks read these facts, so most check tests need no binary at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# A stack frame this large almost always holds an array or an address-taken aggregate, which is
# what -fstack-protector-strong guards: `ElfFacts.canary_frames` counts frames of at least this size.
CANARY_FRAME_BYTES = 64


class ElfKind(StrEnum):
    """The class of an ELF file, decided before any check runs."""

    PIE_EXECUTABLE = "pie-executable"
    EXECUTABLE = "executable"  # ET_EXEC, dynamically linked: not PIE
    STATIC_EXECUTABLE = "static-executable"
    STATIC_PIE = "static-pie"
    SHARED_OBJECT = "shared-object"
    OTHER = "other"  # relocatable objects, core files: not checked


class Libc(StrEnum):
    GLIBC = "glibc"
    MUSL = "musl"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GnuProperties:
    """Feature bits of the `.note.gnu.property` note (x86 and AArch64)."""

    ibt: bool = False
    shstk: bool = False
    bti: bool = False
    pac: bool = False
    # Whether the FEATURE_1_AND property itself is there: without it the bits above say nothing
    # (the linker drops it when any input object, e.g. a C runtime crt file, lacks it).
    x86_feature_1: bool = False
    aarch64_feature_1: bool = False


@dataclass(frozen=True)
class RecordedBuildFlags:
    """The CFLAGS/LDFLAGS strings beam.smp records (`erts_build_flags_*`); None = not recorded."""

    cflags: str | None
    ldflags: str | None


@dataclass(frozen=True)
class ElfFacts:
    """Everything the checks need to know about one ELF file, as plain values.

    Evidence strings name the tag, symbol, segment or note that decided a fact.
    """

    machine: str  # "x86_64", "aarch64", "i386", ...
    bits: int
    elf_type: str  # "ET_EXEC", "ET_DYN", "ET_REL", "ET_CORE"
    kind: ElfKind
    interpreter: str | None
    libc: Libc
    needed: tuple[str, ...]
    pie_flag: bool  # DF_1_PIE
    relro: bool  # a PT_GNU_RELRO segment exists
    bind_now: str | None  # "DT_BIND_NOW", "DT_FLAGS BIND_NOW", "DT_FLAGS_1 NOW", or None
    gnu_stack: bool | None  # last PT_GNU_STACK is executable? None when there is none
    rwx_segments: tuple[str, ...]  # descriptions of loadable W+X segments
    textrel: str | None  # "DT_TEXTREL" / "DT_FLAGS TEXTREL" or None
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    stack_chk_imports: tuple[str, ...]  # imported __stack_chk_fail / __stack_chk_guard
    stack_chk_defined: tuple[str, ...]  # the same names defined in this file (libc, static)
    fortified_imports: tuple[str, ...]  # imported __*_chk
    fortifiable_imports: tuple[str, ...]  # imported plain functions that have a _chk twin
    fortified_defined: tuple[str, ...]  # __*_chk defined here (static binaries)
    # Canary evidence is scanned for only where it can decide: in files that import neither
    # __stack_chk_fail nor __stack_chk_guard (both counts are 0 otherwise); canary loads only in
    # static binaries and where no large frame was found.
    canary_frames: int  # stack frames of >= CANARY_FRAME_BYTES (heuristic evidence)
    canary_loads: int  # loads of the canary from TLS (x86-64 `mov %fs:0x28`)
    stack_clash_probes: int  # probe instructions such as `orq $0x0,(%rsp)`
    gnu_property: GnuProperties | None  # None: no GNU property note
    build_flags: RecordedBuildFlags | None  # None: not an emulator or not recorded
    embedded_strings: tuple[
        str, ...
    ] = ()  # version strings in beam ("Erlang/OTP 25", "erts-13.1.5")
    symbols_read: bool = True  # False: no dynamic or static symbol table was found
    code_bytes: int = 0  # bytes of executable PT_LOAD segments scanned (capped per file)
    # Small frames (< CANARY_FRAME_BYTES) that put a stack address in a register: an array or an
    # address-taken local, what -fstack-protector-strong guards. Counted only without a
    # __stack_chk_fail import.
    address_taken_frames: int = 0
    code_scan_complete: bool = True  # False: the per-file cap left code unscanned
