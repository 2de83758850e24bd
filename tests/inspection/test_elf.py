"""`gate.inspection.elf`: facts from gcc-built fixtures, Debian's real OTP files, and bad input."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.errors import ElfError
from gate.inspection import elf_code
from gate.inspection.elf import is_elf, read_facts
from gate.model.elf import ElfKind, Libc
from tests.support.debian_otp import elf_paths

Fixture = Callable[[str], Path]

KINDS = {
    "pie-plain": ElfKind.PIE_EXECUTABLE,
    "nopie": ElfKind.EXECUTABLE,
    "static": ElfKind.STATIC_EXECUTABLE,
    "static-pie": ElfKind.STATIC_PIE,
    "shared": ElfKind.SHARED_OBJECT,
    "textrel": ElfKind.SHARED_OBJECT,
    "object": ElfKind.OTHER,
    "musl": ElfKind.PIE_EXECUTABLE,
    "musl-static": ElfKind.STATIC_EXECUTABLE,
    "nolibc-cet": ElfKind.STATIC_EXECUTABLE,
    "i386-shared": ElfKind.SHARED_OBJECT,
}


@pytest.mark.parametrize(("name", "kind"), KINDS.items())
def test_kind(elf_fixture: Fixture, name: str, kind: ElfKind) -> None:
    assert read_facts(elf_fixture(name)).kind == kind


@pytest.mark.parametrize(
    ("name", "libc"),
    [("pie-plain", Libc.GLIBC), ("static", Libc.GLIBC), ("musl", Libc.MUSL),
     ("musl-static", Libc.MUSL), ("nolibc-cet", Libc.UNKNOWN)],
)  # fmt: skip
def test_libc(elf_fixture: Fixture, name: str, libc: Libc) -> None:
    assert read_facts(elf_fixture(name)).libc == libc


def test_basic_facts_of_a_hardened_pie(elf_fixture: Fixture) -> None:
    f = read_facts(elf_fixture("pie-hardened"))
    assert (f.machine, f.bits, f.elf_type) == ("x86_64", 64, "ET_DYN")
    assert f.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in f.needed
    assert f.pie_flag and f.relro
    assert f.bind_now == "DT_FLAGS BIND_NOW"
    assert f.gnu_stack is False and f.rwx_segments == () and f.textrel is None
    assert f.stack_chk_imports == ("__stack_chk_fail",)
    assert set(f.fortified_imports) == {"__snprintf_chk", "__strcpy_chk"}
    # Importing __stack_chk_fail decides the check: canary evidence is not scanned for.
    assert f.canary_loads == 0 and f.canary_frames == 0
    assert f.code_bytes > 0 and f.symbols_read


def test_the_canary_scanner_sees_protected_functions(elf_fixture: Fixture) -> None:
    data = elf_fixture("pie-hardened").read_bytes()
    found = elf_code.scan(data, "x86_64", True, [(0, len(data))], budget=len(data))
    assert found.canary_loads >= 2  # copy_in() and use() both load the canary
    assert found.frames >= 2 and found.complete


def test_unprotected_code_shows_frames_but_no_canary(elf_fixture: Fixture) -> None:
    f = read_facts(elf_fixture("no-ssp"))
    assert f.stack_chk_imports == () and f.canary_loads == 0
    assert f.canary_frames >= 2  # buf[256] and line[128]
    assert set(f.fortifiable_imports) >= {"strcpy", "snprintf"} and f.fortified_imports == ()
    assert read_facts(elf_fixture("noarray")).canary_frames == 0


def test_dynamic_tags(elf_fixture: Fixture) -> None:
    assert read_facts(elf_fixture("norelro-now")).bind_now == "DT_FLAGS BIND_NOW"
    assert not read_facts(elf_fixture("norelro-now")).relro
    assert read_facts(elf_fixture("pie-plain")).bind_now is None
    assert read_facts(elf_fixture("textrel")).textrel == "DT_TEXTREL"
    assert read_facts(elf_fixture("execstack")).gnu_stack is True
    assert read_facts(elf_fixture("nognustack")).gnu_stack is None
    assert read_facts(elf_fixture("rwx")).rwx_segments[0].startswith("PT_LOAD at 0x")


def test_rpath_and_runpath(elf_fixture: Fixture) -> None:
    rel = read_facts(elf_fixture("rpath-relative"))
    assert rel.rpath == ("lib", "/usr/lib") and rel.runpath == ()
    assert read_facts(elf_fixture("runpath-absolute")).runpath == ("/home/build/otp/lib",)
    assert read_facts(elf_fixture("runpath-origin")).runpath == (
        "$ORIGIN/../lib",
        "/usr/lib/erlang/lib",
    )


def test_gnu_property_note(elf_fixture: Fixture) -> None:
    cet = read_facts(elf_fixture("nolibc-cet")).gnu_property
    assert cet is not None and cet.x86_feature_1 and cet.ibt and cet.shstk
    ibt = read_facts(elf_fixture("nolibc-ibt")).gnu_property
    assert ibt is not None and ibt.ibt and not ibt.shstk
    assert read_facts(elf_fixture("nolibc-nocet")).gnu_property is None
    # Debian's crt files carry no CET property, so -fcf-protection leaves only the ISA note.
    crt = read_facts(elf_fixture("cf-protection")).gnu_property
    assert crt is None or not crt.x86_feature_1


def test_static_binaries_read_the_static_symbol_table(elf_fixture: Fixture) -> None:
    static = read_facts(elf_fixture("static"))
    assert "__stack_chk_fail" in static.stack_chk_defined and static.stack_chk_imports == ()
    assert static.fortified_defined == ()
    assert "__strcpy_chk" in read_facts(elf_fixture("static-fortify")).fortified_defined


def test_stack_clash_probes(elf_fixture: Fixture) -> None:
    assert read_facts(elf_fixture("stack-clash")).stack_clash_probes >= 1
    assert read_facts(elf_fixture("no-stack-clash")).stack_clash_probes == 0


def test_elf32_tables(elf_fixture: Fixture) -> None:
    f = read_facts(elf_fixture("i386-shared"))
    assert (f.machine, f.bits, f.kind) == ("i386", 32, ElfKind.SHARED_OBJECT)
    assert f.fortifiable_imports == ("strcpy",) and f.canary_frames == 1 and f.relro


def _aarch64_elf(words: list[int], feature_bits: int | None) -> bytes:
    """A minimal static AArch64 executable: one R+X PT_LOAD holding `words` as code, a
    PT_GNU_STACK and, optionally, a GNU property note with FEATURE_1_AND = `feature_bits`.
    No AArch64 toolchain is installed here, so the bytes are laid out by hand."""
    phnum = 3 if feature_bits is not None else 2
    note_off = 64 + 56 * phnum
    note = b""
    if feature_bits is not None:
        desc = struct.pack("<III", 0xC0000000, 4, feature_bits) + b"\0" * 4
        note = struct.pack("<III", 4, len(desc), 5) + b"GNU\0" + desc
    code_off = note_off + len(note)
    code = b"".join(struct.pack("<I", w) for w in words)
    size = code_off + len(code)
    base = 0x400000
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr += struct.pack(
        "<HHIQQQIHHHHHH", 2, 183, 1, base + code_off, 64, 0, 0, 64, 56, phnum, 64, 0, 0
    )
    phdrs = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)  # PT_LOAD R+X
    phdrs += struct.pack("<IIQQQQQQ", 0x6474E551, 6, 0, 0, 0, 0, 0, 16)  # PT_GNU_STACK RW
    if feature_bits is not None:
        phdrs += struct.pack(
            "<IIQQQQQQ",
            0x6474E553,
            4,
            note_off,
            base + note_off,
            base + note_off,
            len(note),
            len(note),
            8,
        )
    return ehdr + phdrs + note + code


A64_SUB_SP_256 = 0xD10403FF  # sub sp, sp, #256
A64_STP_FP_96 = 0xA9BA7BFD  # stp x29, x30, [sp, #-96]!
A64_STP_FP_16 = 0xA9BF7BFD  # stp x29, x30, [sp, #-16]!  (a small frame: not counted)
A64_PROBE = [0xD14007FF, 0xF90203FF]  # sub sp, sp, #1, lsl #12; str xzr, [sp, #1024]
A64_RET = 0xD65F03C0


def test_aarch64_code_and_property_note(tmp_path: Path) -> None:
    p = tmp_path / "a64"
    p.write_bytes(
        _aarch64_elf([A64_STP_FP_96, A64_SUB_SP_256, A64_STP_FP_16, *A64_PROBE, A64_RET], 3)
    )
    f = read_facts(p)
    assert (f.machine, f.kind) == ("aarch64", ElfKind.STATIC_EXECUTABLE)
    assert f.canary_frames == 2 and f.stack_clash_probes == 1
    assert f.gnu_property is not None and f.gnu_property.aarch64_feature_1
    assert f.gnu_property.bti and f.gnu_property.pac and not f.gnu_property.ibt
    p.write_bytes(_aarch64_elf([A64_STP_FP_16, A64_RET], 1))
    f = read_facts(p)
    assert f.canary_frames == 0 and f.stack_clash_probes == 0
    assert f.gnu_property is not None and f.gnu_property.bti and not f.gnu_property.pac
    p.write_bytes(_aarch64_elf([A64_RET], None))
    assert read_facts(p).gnu_property is None


def test_relocatable_object(elf_fixture: Fixture) -> None:
    f = read_facts(elf_fixture("object"))
    assert f.elf_type == "ET_REL" and f.kind == ElfKind.OTHER and not f.symbols_read


def test_stripped_section_headers_fall_back_to_the_dynamic_section(
    elf_fixture: Fixture, tmp_path: Path
) -> None:
    # sstrip-like: no section headers at all; .dynsym is found through DT_SYMTAB and DT_GNU_HASH.
    src = elf_fixture("pie-hardened")
    data = bytearray(src.read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", data, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    target = tmp_path / "sstripped"
    target.write_bytes(bytes(data))
    f = read_facts(target)
    assert f.symbols_read and f.stack_chk_imports == ("__stack_chk_fail",)
    assert set(f.fortified_imports) == {"__snprintf_chk", "__strcpy_chk"}


# --- Debian's real OTP 25.2.3 ---------------------------------------------------------------


def _debian_elves(debian_otp: Path) -> list[Path]:
    return sorted(
        p for p in debian_otp.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)
    )


def test_debian_tree_is_pie_or_dso(debian_otp: Path) -> None:
    files = _debian_elves(debian_otp)
    # The gate's ELF sniffing finds exactly what an independent magic-byte walk finds.
    assert {p.relative_to(debian_otp).as_posix() for p in files} == elf_paths(debian_otp)
    assert debian_otp / "erts-13.1.5" / "bin" / "beam.smp" in files
    for p in files:
        f = read_facts(p)
        assert f.kind in (ElfKind.PIE_EXECUTABLE, ElfKind.SHARED_OBJECT), p
        assert f.relro and f.gnu_stack is False and f.bind_now is None, p
        assert f.stack_chk_imports == () and f.fortified_imports == (), p
        assert f.machine == "x86_64"


def test_reading_the_debian_tree_is_cheap(debian_otp: Path) -> None:
    # A guard against slow parsing creeping back (per-symbol objects, as pyelftools builds, take
    # seconds here); CPU time of this process, so other load on the machine matters little.
    files = _debian_elves(debian_otp)
    read_facts(files[0])  # warm the page cache: cold reads are not what this measures
    start = time.process_time()
    for p in files:
        read_facts(p)
    assert time.process_time() - start < 1.0


def test_reading_a_file_loads_no_third_party_parser() -> None:
    code = (
        "import sys, pathlib, gate.inspection.elf as e; e.read_facts(pathlib.Path(sys.executable));"
        " print('elftools' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_debian_beam(debian_otp: Path) -> None:
    beam = next(debian_otp.glob("erts-*/bin/beam.smp"))
    f = read_facts(beam)
    assert f.kind == ElfKind.PIE_EXECUTABLE and f.libc == Libc.GLIBC
    assert len(f.fortifiable_imports) == 20  # unprotected memcpy, snprintf, read, ...
    assert f.canary_frames > 100  # plenty of code that a canary would guard
    assert f.embedded_strings == ("Erlang/OTP 25", "erts-13.1.5")


# --- bad input ------------------------------------------------------------------------------


def test_is_elf_by_magic_not_name(elf_fixture: Fixture, tmp_path: Path) -> None:
    named = tmp_path / "libfake.so"
    named.write_text("not an ELF file\n")
    renamed = tmp_path / "README.txt"
    shutil.copy(elf_fixture("shared"), renamed)
    assert not is_elf(named) and is_elf(renamed)
    assert not is_elf(tmp_path / "missing") and not is_elf(tmp_path)


def _error(path: Path) -> str:
    with pytest.raises(ElfError) as info:
        read_facts(path)
    assert str(path) in info.value.message
    return info.value.message


def test_not_elf(tmp_path: Path) -> None:
    p = tmp_path / "script.sh"
    p.write_text("#!/bin/sh\necho hi\n")
    assert "not an ELF file" in _error(p)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert "not an ELF file" in _error(empty)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "cannot read" in _error(tmp_path / "nope")
    assert "not a regular file" in _error(tmp_path)


def test_fifo_and_device_are_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block forever without a writer
    assert "not a regular file" in _error(fifo)
    assert not is_elf(fifo)
    assert "not a regular file" in _error(Path("/dev/zero"))


def test_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    assert "cannot read" in _error(loop)


def _read_facts_as_nobody(path: Path) -> str:
    """Run read_facts in a forked child that dropped root (root reads files whatever their mode)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            try:
                read_facts(path)
                message = "no error"
            except ElfError as e:
                message = e.message
            except BaseException as e:
                message = f"unexpected {type(e).__name__}: {e}"
            os.write(w, message.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(pid, 0)
    return out


def test_unreadable(elf_fixture: Fixture, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        folder = Path(tempfile.mkdtemp(prefix="elf-unreadable-", dir="/tmp"))
        try:
            folder.chmod(0o755)
            p = folder / "locked"
            shutil.copy(elf_fixture("noarray"), p)
            p.chmod(0)
            message = _read_facts_as_nobody(p)
        finally:
            shutil.rmtree(folder)
    else:
        p = tmp_path / "locked"
        shutil.copy(elf_fixture("noarray"), p)
        p.chmod(0)
        message = _error(p)
    assert message == f"{p}: cannot read file (Permission denied)"


@pytest.mark.parametrize(
    ("cut", "problem"),
    [(10, "truncated ELF file (shorter than an ELF header)"),
     (100, "program headers past end of file"),
     (-200, "section headers past end of file")],
)  # fmt: skip
def test_truncated(elf_fixture: Fixture, tmp_path: Path, cut: int, problem: str) -> None:
    data = elf_fixture("noarray").read_bytes()
    p = tmp_path / "cut"
    p.write_bytes(data[:cut])
    assert problem in _error(p)


def test_corrupt_header_fields(elf_fixture: Fixture, tmp_path: Path) -> None:
    data = bytearray(elf_fixture("noarray").read_bytes())
    bad_class = bytearray(data)
    bad_class[4] = 7  # EI_CLASS
    p = tmp_path / "class"
    p.write_bytes(bytes(bad_class))
    assert "corrupt ELF header" in _error(p)
    huge = bytearray(data)
    struct.pack_into("<Q", huge, 0x20, 1 << 62)  # e_phoff
    p2 = tmp_path / "phoff"
    p2.write_bytes(bytes(huge))
    assert "program headers past end of file" in _error(p2)
