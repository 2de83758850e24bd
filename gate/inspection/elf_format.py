"""The ELF format for the reader: constants (ELF gABI, Linux and GNU extensions), the header,
and GNU property notes. Pure functions over bytes; `gate.inspection.elf` does the file access.
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from gate.errors import ElfError
from gate.model.elf import ElfKind, GnuProperties

# Program header types and flags (ELF gABI, Linux extensions).
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
PT_GNU_STACK, PT_GNU_RELRO, PT_GNU_PROPERTY = 0x6474E551, 0x6474E552, 0x6474E553
PF_X, PF_W, PF_R = 1, 2, 4
SHT_SYMTAB, SHT_DYNSYM = 2, 11
SHN_UNDEF = 0

# Dynamic tags.
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SYMTAB = 0, 1, 5, 10, 6
DT_RELA, DT_RELASZ, DT_RPATH, DT_TEXTREL, DT_BIND_NOW = 7, 8, 15, 22, 24
DT_RUNPATH, DT_FLAGS, DT_GNU_HASH, DT_HASH, DT_FLAGS_1 = 29, 30, 0x6FFFFEF5, 4, 0x6FFFFFFB
DF_TEXTREL, DF_BIND_NOW = 0x4, 0x8
DF_1_NOW, DF_1_PIE = 0x1, 0x08000000

# GNU notes.
NT_GNU_ABI_TAG, NT_GNU_PROPERTY_TYPE_0 = 1, 5
GNU_PROPERTY_X86_FEATURE_1_AND = 0xC0000002
GNU_PROPERTY_AARCH64_FEATURE_1_AND = 0xC0000000

# Relocation types whose addend is the target address (a pointer to a string in a PIE).
R_RELATIVE = {"x86_64": 8, "aarch64": 1027}


class Header(NamedTuple):
    """The ELF header fields the reader needs."""

    bits: int
    little: bool
    machine: str
    elf_type: str
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int


# e_type values (gABI); anything else is not a file the gate can judge.
_ELF_TYPES = {1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
# e_machine values (gABI "Machine" table) of the architectures OTP runs on, by the names the
# facts use; the rest keep their number.
_MACHINES = {
    3: "i386", 62: "x86_64", 183: "aarch64", 40: "arm", 8: "mips", 20: "ppc", 21: "ppc64",
    22: "s390", 2: "sparc", 43: "sparcv9", 243: "riscv", 258: "loongarch",
}  # fmt: skip
# Elf32_Ehdr / Elf64_Ehdr after e_ident: type, machine, version, entry, phoff, shoff, flags,
# ehsize, phentsize, phnum, shentsize, shnum, shstrndx.
_EHDR = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
EV_CURRENT = 1


def decode_header(path: Path, head: bytes) -> Header:
    """Decode and validate the ELF header; a header the gate cannot judge raises `ElfError`.

    The reader owns these few lines instead of pyelftools: its public `ELFFile` builds every
    struct of the format per file (about 2.8 ms a file and 75 ms to import, more than a whole
    scan of an OTP tree should take), and the header is all the reader ever asked it for.
    """
    bits = {1: 32, 2: 64}.get(head[4])
    little = {1: True, 2: False}.get(head[5])
    if bits is None:
        raise ElfError(f"{path}: corrupt ELF header (invalid EI_CLASS {head[4]})")
    if little is None:
        raise ElfError(f"{path}: corrupt ELF header (invalid EI_DATA {head[5]})")
    if head[6] != EV_CURRENT:
        raise ElfError(f"{path}: corrupt ELF header (invalid EI_VERSION {head[6]})")
    fmt = ("<" if little else ">") + _EHDR[bits]
    if len(head) < 16 + struct.calcsize(fmt):
        raise ElfError(f"{path}: truncated ELF file (shorter than an ELF header)")
    (etype, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     shentsize, shnum, _shstrndx) = struct.unpack_from(fmt, head, 16)  # fmt: skip
    elf_type = _ELF_TYPES.get(etype)
    if elf_type is None:
        # A zeroed or mangled e_type would otherwise make every check n/a: a file that looks like
        # a program and cannot be judged must be an error, never a pass (issue 14).
        raise ElfError(
            f"{path}: corrupt ELF header (e_type {etype:#x} is not REL, EXEC, DYN or CORE)"
        )
    return Header(
        bits=bits,
        little=little,
        machine=_MACHINES.get(machine, f"machine-{machine}"),
        elf_type=elf_type,
        phoff=phoff,
        phentsize=phentsize,
        phnum=phnum,
        shoff=shoff,
        shentsize=shentsize,
        shnum=shnum,
    )


def up(n: int, align: int) -> int:
    """`n` rounded up to a power-of-two `align`."""
    return (n + align - 1) & ~(align - 1)


def gnu_properties(desc: bytes, h: Header, prev: GnuProperties | None = None) -> GnuProperties:
    """The x86 and AArch64 feature bits of one NT_GNU_PROPERTY_TYPE_0 description, merged with
    what earlier notes said (`prev`)."""
    e = "<" if h.little else ">"
    ibt = shstk = bti = pac = x86 = a64 = False
    pos, align = 0, (8 if h.bits == 64 else 4)
    while pos + 8 <= len(desc):
        ptype, datasz = struct.unpack_from(e + "II", desc, pos)
        if pos + 8 + datasz > len(desc):
            break
        if datasz >= 4 and ptype in (
            GNU_PROPERTY_X86_FEATURE_1_AND,
            GNU_PROPERTY_AARCH64_FEATURE_1_AND,
        ):
            bits = struct.unpack_from(e + "I", desc, pos + 8)[0]
            if ptype == GNU_PROPERTY_X86_FEATURE_1_AND and h.machine in ("x86_64", "i386"):
                x86, ibt, shstk = True, bool(bits & 1), bool(bits & 2)
            elif ptype == GNU_PROPERTY_AARCH64_FEATURE_1_AND and h.machine == "aarch64":
                a64, bti, pac = True, bool(bits & 1), bool(bits & 2)
        pos += 8 + up(datasz, align)
    if prev is not None:  # several notes: keep what any of them says
        ibt, shstk, bti, pac = (
            ibt or prev.ibt,
            shstk or prev.shstk,
            bti or prev.bti,
            pac or prev.pac,
        )
        x86, a64 = x86 or prev.x86_feature_1, a64 or prev.aarch64_feature_1
    return GnuProperties(
        ibt=ibt, shstk=shstk, bti=bti, pac=pac, x86_feature_1=x86, aarch64_feature_1=a64
    )


def has_tag(dyn: list[tuple[int, int]], tag: int) -> bool:
    return any(t == tag for t, _ in dyn)


def last_tag(dyn: list[tuple[int, int]], tag: int) -> int:
    value = 0
    for t, v in dyn:
        if t == tag:
            value = v
    return value


def textrel_evidence(dyn: list[tuple[int, int]], flags: int) -> str | None:
    if has_tag(dyn, DT_TEXTREL):
        return "DT_TEXTREL"
    return "DT_FLAGS TEXTREL" if flags & DF_TEXTREL else None


def bind_now_evidence(dyn: list[tuple[int, int]], flags: int, flags_1: int) -> str | None:
    if has_tag(dyn, DT_BIND_NOW):
        return "DT_BIND_NOW"
    if flags & DF_BIND_NOW:
        return "DT_FLAGS BIND_NOW"
    if flags_1 & DF_1_NOW:
        return "DT_FLAGS_1 NOW"
    return None


def classify(elf_type: str, has_interp: bool, pie_flag: bool) -> ElfKind:
    """Classify the file (see docs/checks.md, "File kinds")."""
    if elf_type == "ET_EXEC":
        # Without an interpreter nothing loads libraries or binds symbols: static in every way
        # that matters to the checks, even when a stray PT_DYNAMIC is present.
        return ElfKind.EXECUTABLE if has_interp else ElfKind.STATIC_EXECUTABLE
    if elf_type == "ET_DYN":
        if has_interp:
            return ElfKind.PIE_EXECUTABLE
        if pie_flag:
            return ElfKind.STATIC_PIE
        return ElfKind.SHARED_OBJECT
    return ElfKind.OTHER


def array_of_words(raw: bytes, little: bool, code: str = "I") -> array.array[int]:
    """32-bit (or, with code "H", 16-bit) words of `raw` in the file's byte order (one C-level
    pass, no tuple of ints)."""
    words = array.array(code, raw[: len(raw) - len(raw) % array.array(code).itemsize])
    if little != (sys.byteorder == "little"):
        words.byteswap()
    return words


# glibc functions that have a `__<name>_chk` twin (the list `hardening-check -F` derives from
# libc.so.6, which the differential test compares against).
FORTIFIABLE = frozenset(
    """asprintf confstr dprintf explicit_bzero fdelt fgets fgets_unlocked fgetws fgetws_unlocked
    fprintf fread fread_unlocked fwprintf getcwd getdomainname getgroups gethostname getlogin_r
    gets getwd longjmp mbsnrtowcs mbsrtowcs mbstowcs memcpy memmove mempcpy memset obstack_printf
    obstack_vprintf poll ppoll pread64 pread printf ptsname_r read readlink readlinkat realpath
    recv recvfrom snprintf sprintf stpcpy stpncpy strcat strcpy strlcat strlcpy strncat strncpy
    swprintf syslog ttyname_r vasprintf vdprintf vfprintf vfwprintf vprintf vsnprintf vsprintf
    vswprintf vsyslog vwprintf wcpcpy wcpncpy wcrtomb wcscat wcscpy wcslcat wcslcpy wcsncat
    wcsncpy wcsnrtombs wcsrtombs wcstombs wctomb wmemcpy wmemmove wmempcpy wmemset wprintf""".split()  # noqa: SIM905 (a word list reads better)
)


def names_at(strtab: bytes, offsets: list[int]) -> Iterator[bytes]:
    """The NUL-terminated names at `offsets` of a string table (an offset past it is skipped)."""
    find, size = strtab.find, len(strtab)
    for off in offsets:
        if off < size:
            end = find(b"\0", off)
            yield strtab[off : end if end >= 0 else size]
