"""Machine-code evidence for the ELF reader: stack frames, canary loads and stack-clash probes.

Pure functions over bytes (a memory map and byte ranges of its executable segments); the caller
caps how much code is scanned per file (a hostile segment can span gigabytes of holes).
See docs/checks.md, "How facts are read", for what each pattern stands for.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from gate.model.elf import CANARY_FRAME_BYTES

FRAME_MIN = CANARY_FRAME_BYTES
# Patterns are anchored on their rarer bytes (a leading 0x48 REX prefix makes `re` crawl).
_X86_SUB_SP8 = re.compile(rb"\x83\xec[\x40-\x7f]")  # sub $imm8,%esp/%rsp (64..127)
# sub $imm32,%esp/%rsp with 128 <= imm32 < 8 MiB (smaller values use the imm8 form)
_X86_SUB_SP32 = re.compile(rb"\x81\xec(?:[\x80-\xff].|.[\x01-\xff])[\x00-\x7f]\x00", re.DOTALL)
_X86_ADD_SP_M128 = b"\x83\xc4\x80"  # add $-128,%rsp: gcc's spelling of a 128-byte frame
# mov %fs:0x28,%reg (x86-64) and mov %gs:0x14,%reg (i386): the canary load of a protected function.
_X86_64_CANARY = re.compile(
    rb"\x64[\x48\x4c]\x8b[\x04\x0c\x14\x1c\x24\x2c\x34\x3c]\x25\x28\x00\x00\x00"
)
_I386_CANARY = re.compile(
    rb"\x65\xa1\x14\x00\x00\x00|\x65\x8b[\x0d\x15\x1d\x25\x2d\x35\x3d]\x14\x00\x00\x00"
)
# -fstack-clash-protection: `sub $0x1000,%rsp` directly followed by `orq $0x0,(%rsp)` (or its
# disp8/disp32 form), the page probe gcc emits for big frames and in alloca loops.
_X86_PROBE_SUB = b"\x81\xec\x00\x10\x00\x00"
_X86_PROBE_OR = re.compile(rb"\x83(?:\x0c\x24|\x4c\x24.|\x8c\x24....)\x00", re.DOTALL)

# A small frame whose address escapes: what -fstack-protector-strong guards (an array or an
# address-taken local), for frames below FRAME_MIN. A frame of 16 to 127 bytes (`sub $imm8,%rsp`;
# 8 is only call alignment, as in crti's `_init`) followed within ADDR_WINDOW bytes by an
# instruction that puts a stack address into a register: `mov %rsp,%reg` (not %rbp),
# `lea disp8(%rsp),%reg` with disp inside the frame, or `lea -disp8(%rbp),%reg`.
ADDR_WINDOW = 96
_X86_SMALL_FRAME = re.compile(rb"\x83\xec([\x10-\x7f])")
_X86_STACK_ADDR = re.compile(
    rb"\x89([\xe0-\xe3\xe6\xe7])"  # mov %esp/%rsp,%reg (89 /r, reg field = sp)
    rb"|\x8d[\x44\x4c\x54\x5c\x64\x6c\x74\x7c]\x24(.)"  # lea disp8(%esp/%rsp),%reg
    rb"|\x8d\x04\x24"  # lea (%rsp),%rax
    rb"|\x8d[\x45\x4d\x55\x5d\x65\x6d\x75\x7d]([\x80-\xff])",  # lea -disp8(%ebp/%rbp),%reg
    re.DOTALL,
)
# A parameter spilled to the frame (`mov %edi,0x1c(%rsp)`; rdi, rsi, rdx, rcx, r8, r9) and then
# passed by address is not what -fstack-protector-strong guards (gcc protects local variables,
# not parameters: `f(int x) { g(&x); }` gets no canary), so such a slot is no evidence.
_X86_PARAM_STORE = re.compile(
    rb"[\x88\x89](?:([\x44\x4c\x54\x74\x7c])\x24(.)|[\x04\x0c\x14\x34\x3c]\x24()"
    rb"|([\x45\x4d\x55\x75\x7d])(.))",
    re.DOTALL,
)

# AArch64 (4-byte aligned words): `sub sp, sp, #imm`, `stp x29, x30, [sp, #-N]!`, and the probe
# pair `sub sp, sp, #1, lsl #12; str xzr, [sp, #1024]`.
_A64_SUB_SP = re.compile(rb"\xff..\xd1", re.DOTALL)
_A64_STP_FP = re.compile(rb"\xfd[\x7b\xfb].\xa9", re.DOTALL)
_A64_PROBE = b"\xff\x07\x40\xd1\xff\x03\x02\xf9"
_A64_RETURNS = frozenset({0xD65F03C0, 0xD65F0BFF, 0xD65F0FFF})  # ret, retaa, retab

Buffer = mmap.mmap | bytes


class CodeEvidence(NamedTuple):
    """What the scanned code shows; counts are lower bounds when `complete` is False.

    A NamedTuple rather than a frozen dataclass: an internal record of the reader, made a few
    times per file, and a dataclass costs half a millisecond to define at import (issue 12)."""

    frames: int = 0  # frames of FRAME_MIN+ bytes
    canary_loads: int = 0
    probes: int = 0
    address_taken: int = 0  # small frames whose address is put in a register
    scanned: int = 0  # bytes scanned
    complete: bool = True  # False: the per-file cap cut the scan short

    def plus(self, other: CodeEvidence) -> CodeEvidence:
        return CodeEvidence(
            self.frames + other.frames,
            self.canary_loads + other.canary_loads,
            self.probes + other.probes,
            self.address_taken + other.address_taken,
            self.scanned + other.scanned,
            self.complete and other.complete,
        )


def scan(
    data: Buffer,
    machine: str,
    little: bool,
    regions: Sequence[tuple[int, int]],
    *,
    budget: int,
    canary: bool = True,
    loads: bool = True,
) -> CodeEvidence:
    """Scan byte ranges of executable code, at most `budget` bytes in all (`address_taken` is
    left 0: see `address_taken`). Without `canary`, only stack-clash probes are counted: frames
    and canary loads decide nothing in a file that imports `__stack_chk_fail`, and their
    patterns cost ~10 ms per MiB of code. Without `loads`, canary loads are counted only where
    no large frame was found (a large frame already decides)."""
    total = CodeEvidence()
    for start, end in _capped(regions, budget):
        total = total.plus(_scan_one(data, machine, little, start, end, canary=canary))
        total = total.plus(CodeEvidence(scanned=end - start))
    if canary and (loads or not total.frames):
        for start, end in _capped(regions, budget):
            total = total.plus(CodeEvidence(canary_loads=_canary_loads(data, machine, start, end)))
    return total._replace(complete=_capped_all(regions, budget))


def address_taken(
    data: Buffer, machine: str, little: bool, regions: Sequence[tuple[int, int]], *, budget: int
) -> int:
    """Small frames whose address is put in a register, in the same capped ranges as `scan`.

    The costliest pattern: the reader asks only when nothing else decides the canary check.
    """
    count = 0
    for start, end in _capped(regions, budget):
        if machine in ("x86_64", "i386"):
            count += _x86_small_frames(data, start, end, rex=machine == "x86_64")
        elif machine == "aarch64" and little:
            count += _a64_small_frames(data, start, end)
    return count


def _capped(regions: Sequence[tuple[int, int]], budget: int) -> Iterator[tuple[int, int]]:
    for start, end in regions:
        if budget <= 0:
            return
        cut = min(end, start + budget)
        budget -= cut - start
        yield start, cut


def _capped_all(regions: Sequence[tuple[int, int]], budget: int) -> bool:
    return sum(end - start for start, end in regions) <= budget


def _scan_one(
    data: Buffer, machine: str, little: bool, start: int, end: int, *, canary: bool
) -> CodeEvidence:
    if machine in ("x86_64", "i386"):
        rex = machine == "x86_64"
        probes = _x86_probes(data, start, end, rex=rex)
        if not canary:
            return CodeEvidence(probes=probes)
        return CodeEvidence(frames=_x86_frames(data, start, end, rex=rex), probes=probes)
    if machine == "aarch64" and little:
        frames = _a64_frames(data, start, end) if canary else 0
        return CodeEvidence(frames=frames, probes=_a64_probes(data, start, end))
    return CodeEvidence()


def _rex_ok(data: Buffer, rex: bool) -> Callable[[int], bool]:
    # In 64-bit code every %rsp adjustment carries a REX.W prefix (0x48): require it.
    return (lambda pos: data[pos - 1] == 0x48) if rex else (lambda pos: True)


def _x86_frames(data: Buffer, start: int, end: int, *, rex: bool) -> int:
    ok = _rex_ok(data, rex)
    frames = sum(1 for m in _X86_SUB_SP8.finditer(data, start, end) if ok(m.start()))
    frames += sum(1 for m in _X86_SUB_SP32.finditer(data, start, end) if ok(m.start()))
    return frames + sum(1 for pos in literal_all(data, _X86_ADD_SP_M128, start, end) if ok(pos))


def _canary_loads(data: Buffer, machine: str, start: int, end: int) -> int:
    # AArch64 reads the guard through __stack_chk_guard, an import: no code pattern needed.
    canary = {"x86_64": _X86_64_CANARY, "i386": _I386_CANARY}.get(machine)
    return len(canary.findall(data, start, end)) if canary else 0


def _x86_probes(data: Buffer, start: int, end: int, *, rex: bool) -> int:
    ok = _rex_ok(data, rex)
    probes = 0
    # Searched by its first four bytes: a needle ending in the common 0x00 makes `find` crawl
    # (it skips ahead on the needle's last byte), which cost seconds on a system's libraries.
    for pos in literal_all(data, _X86_PROBE_SUB[:4], start, end):
        if data[pos + 4 : pos + 6] != _X86_PROBE_SUB[4:]:
            continue
        after = pos + len(_X86_PROBE_SUB) + (1 if rex else 0)
        if ok(pos) and (not rex or data[after - 1] == 0x48) and _X86_PROBE_OR.match(data, after):
            probes += 1
    return probes


def _x86_small_frames(data: Buffer, start: int, end: int, *, rex: bool) -> int:
    ok = _rex_ok(data, rex)
    count = 0
    for m in _X86_SMALL_FRAME.finditer(data, start, end):
        if not ok(m.start()):
            continue
        frame = m.group(1)[0]
        # The window ends at the first `ret` byte: the next function may take addresses of its
        # own (glibc's `_start` does `mov %rsp,%rdx` with no frame). A 0xc3 inside a longer
        # instruction only ends the window early: fewer findings, never a false one.
        stop = data.find(b"\xc3", m.end(), min(end, m.end() + ADDR_WINDOW))
        window_end = stop if stop >= 0 else min(end, m.end() + ADDR_WINDOW)
        if _x86_stack_address(data, m.end(), window_end, frame, rex=rex):
            count += 1
    return count


def _x86_stack_address(data: Buffer, start: int, end: int, frame: int, *, rex: bool) -> bool:
    params: set[tuple[str, int]] | None = None
    for m in _X86_STACK_ADDR.finditer(data, start, end):
        # 64-bit pointer arithmetic carries REX.W. `mov %rsp,%reg` may add REX.B (0x49: %r8-%r15
        # as the target), never REX.R (0x4c would make the source %r12); `lea` may add REX.R
        # (0x4c: the target), never REX.B (0x49 would make the base %r12 or %r13).
        allowed = (0x48, 0x49) if m.group(1) is not None else (0x48, 0x4C)
        if rex and data[m.start() - 1] not in allowed:
            continue
        if m.group(2) is not None and m.group(2)[0] >= frame:
            continue  # above this frame: the caller's stack arguments
        if rex:
            if params is None:
                params = _x86_param_slots(data, start, end)
            if _slot(m) in params:
                continue
        return True
    return False


def _slot(m: re.Match[bytes]) -> tuple[str, int]:
    """The stack slot (base register, displacement) an address match of _X86_STACK_ADDR names."""
    if m.group(3) is not None:
        return "bp", m.group(3)[0]
    return "sp", m.group(2)[0] if m.group(2) is not None else 0


def _x86_param_slots(data: Buffer, start: int, end: int) -> set[tuple[str, int]]:
    """Frame slots an argument register is stored to in data[start:end] (x86-64)."""
    slots: set[tuple[str, int]] = set()
    for m in _X86_PARAM_STORE.finditer(data, start, end):
        modrm = m.group(1) or m.group(4)
        # ModRM reg 000 is %r8 only with REX.R (0x44/0x4c); without it, %eax: not an argument.
        if modrm in (b"\x44", b"\x45") and data[m.start() - 1] not in (0x44, 0x4C):
            continue
        if m.group(1) is not None:
            slots.add(("sp", m.group(2)[0]))
        elif m.group(3) is not None:
            slots.add(("sp", 0))
        else:
            slots.add(("bp", m.group(5)[0]))
    return slots


def _a64_words(pattern: re.Pattern[bytes], data: Buffer, start: int, end: int) -> Iterator[int]:
    for m in pattern.finditer(data, start, end):
        if (m.start() - start) % 4 == 0:
            yield int.from_bytes(m.group(), "little")


def _a64_frames(data: Buffer, start: int, end: int) -> int:
    count = 0
    for word in _a64_words(_A64_SUB_SP, data, start, end):
        # sub sp, sp, #imm12 (no shift): sf=1 op=1 S=0 100010 sh=0, Rn=Rd=sp
        if word & 0xFFC003FF == 0xD10003FF and (word >> 10) & 0xFFF >= FRAME_MIN:
            count += 1
    for word in _a64_words(_A64_STP_FP, data, start, end):
        # stp x29, x30, [sp, #-N]! (64-bit pre-index); imm7 is scaled by 8
        if word & 0xFFC07FFF == 0xA9807BFD:
            imm7 = (word >> 15) & 0x7F
            if imm7 & 0x40 and (0x80 - imm7) * 8 >= FRAME_MIN + 16:
                count += 1
    return count


def _a64_small_frames(data: Buffer, start: int, end: int) -> int:
    """`stp x29, x30, [sp, #-N]!` followed within ADDR_WINDOW bytes by `add xN, sp|x29, #imm`."""
    count = 0
    for m in _A64_STP_FP.finditer(data, start, end):
        pos = m.start()
        word = int.from_bytes(m.group(), "little")
        if (pos - start) % 4 or word & 0xFFC07FFF != 0xA9807BFD:
            continue
        if _a64_stack_address(data, pos + 4, min(end, pos + 4 + ADDR_WINDOW)):
            count += 1
    return count


def _a64_stack_address(data: Buffer, start: int, end: int) -> bool:
    """An `add xN, sp|x29, #imm` before this function returns or the next one begins (glibc's
    `_start`, right after `main`, does `add x2, sp, #8` with no frame of its own), naming a slot
    no argument register (x0-x7) was stored to: gcc guards locals, not parameters."""
    params: set[tuple[int, int]] = set()
    for pos in range(start, end - 3, 4):
        word = int.from_bytes(data[pos : pos + 4], "little")
        if word in _A64_RETURNS or word & 0xFFC07FFF == 0xA9807BFD:
            return False
        params |= _a64_param_slots(word)
        if _a64_is_stack_add(word) and ((word >> 5) & 31, (word >> 10) & 0xFFF) not in params:
            return True
    return False


def _a64_param_slots(word: int) -> set[tuple[int, int]]:
    """(base register, offset) slots an argument register is stored to by this instruction."""
    rt, rn = word & 31, (word >> 5) & 31
    if rn not in (29, 31) or rt > 7:
        return set()
    if word & 0xFFC00000 == 0xF9000000:  # str xT, [xN, #imm12*8]
        return {(rn, ((word >> 10) & 0xFFF) * 8)}
    if word & 0xFFC00000 == 0xB9000000:  # str wT, [xN, #imm12*4]
        return {(rn, ((word >> 10) & 0xFFF) * 4)}
    if word & 0xFFC00000 == 0xA9000000 and (word >> 10) & 31 <= 7:  # stp xT, xT2, [xN, #imm7*8]
        offset = ((word >> 15) & 0x7F) * 8
        return {(rn, offset), (rn, offset + 8)}
    return set()


def _a64_is_stack_add(word: int) -> bool:
    # add Xd, Xn, #imm12 (64-bit, no shift): 1001000100 imm12 Rn Rd
    if word & 0xFFC00000 != 0x91000000:
        return False
    rn, rd = (word >> 5) & 31, word & 31
    return rn in (29, 31) and rd not in (29, 31)


def _a64_probes(data: Buffer, start: int, end: int) -> int:
    return sum(1 for pos in literal_all(data, _A64_PROBE, start, end) if (pos - start) % 4 == 0)


_LITERALS: dict[bytes, re.Pattern[bytes]] = {}


def literal_all(data: Buffer, needle: bytes, start: int, end: int) -> Iterator[int]:
    """Offsets of a needle that cannot overlap itself, through `re`: its literal search runs
    about twice as fast as `mmap.find` over machine code."""
    pattern = _LITERALS.get(needle)
    if pattern is None:
        pattern = _LITERALS[needle] = re.compile(re.escape(needle))
    return (m.start() for m in pattern.finditer(data, start, end))


def find_all(data: Buffer, needle: bytes, start: int, end: int) -> Iterator[int]:
    """Every offset of `needle` in data[start:end] (overlapping matches included)."""
    pos = data.find(needle, start, end)
    while pos >= 0:
        yield pos
        pos = data.find(needle, pos + 1, end)
