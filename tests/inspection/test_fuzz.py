"""Fuzz `read_facts` with mutated and truncated real ELF files: it returns facts or raises
`ElfError`, never another exception, and never hangs."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.errors import ElfError
from gate.inspection.checks import evaluate_checks
from gate.inspection.elf import read_facts

BASES = ("noarray", "pie-hardened", "shared-hardened", "buildflags-pie", "nolibc-cet", "textrel")
TIME_LIMIT = 5.0  # seconds per example; a parse takes milliseconds


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"read_facts took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def bases(elf_fixture: Callable[[str], Path]) -> list[bytes]:
    return [elf_fixture(name).read_bytes() for name in BASES]


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="elf-fuzz-") as d:
        yield Path(d)


# Mutations aimed at the structures a parser trusts: header, program headers, and anywhere.
mutation = st.tuples(
    st.one_of(st.integers(0, 0x40), st.integers(0x40, 0x400), st.integers(0, 1 << 20)),
    st.sampled_from([1, 2, 4, 8]),
    st.one_of(st.integers(0, 255), st.sampled_from([0, 0xFFFFFFFF, 0x7FFFFFFF, 1 << 63, 0x1000])),
)


@settings(
    max_examples=400,
    deadline=None,  # timing is enforced by time_limit(); the machine is shared
    database=None,  # write nothing outside .work/ and temp folders
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.integers(0, len(BASES) - 1),
    mutations=st.lists(mutation, max_size=12),
    truncate=st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_mutated_files_never_crash(
    bases: list[bytes],
    scratch: Path,
    which: int,
    mutations: list[tuple[int, int, int]],
    truncate: int | None,
) -> None:
    data = bytearray(bases[which])
    for offset, width, value in mutations:
        at = offset % len(data)
        data[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    if truncate is not None:
        del data[truncate % (len(data) + 1) :]
    target = scratch / "mutant"
    target.write_bytes(bytes(data))
    with time_limit(TIME_LIMIT):
        try:
            facts = read_facts(target)
        except ElfError as e:
            assert str(target) in e.message
            return
        # Whatever the parser accepted, the checks must be able to judge.
        assert len(evaluate_checks(facts)) == 12


def test_every_prefix_of_a_small_file(elf_fixture: Callable[[str], Path], scratch: Path) -> None:
    """Truncation at every 97th byte of a real executable: facts or ElfError, nothing else."""
    data = elf_fixture("noarray").read_bytes()
    target = scratch / "prefix"
    for cut in range(0, len(data), 97):
        target.write_bytes(data[:cut])
        with time_limit(TIME_LIMIT), suppress(ElfError):
            read_facts(target)
