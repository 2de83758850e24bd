"""Recorded build flags (`erts_build_flags_*`) and version strings, read without running the file."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.inspection.elf import read_facts
from gate.model.elf import RecordedBuildFlags

Fixture = Callable[[str], Path]
FIXTURE_FLAGS = RecordedBuildFlags(
    cflags="-g -O2 -fno-strict-aliasing -DTEST_FIXTURE", ldflags="-Wl,-z,now"
)


@pytest.mark.parametrize("name", ["buildflags-pie", "buildflags-nopie"])
def test_flags_of_a_test_built_emulator(elf_fixture: Fixture, name: str) -> None:
    facts = read_facts(elf_fixture(name))
    assert facts.build_flags == FIXTURE_FLAGS
    assert facts.embedded_strings == ("Erlang/OTP 26", "erts-14.2.5")


def _readelf(*args: str) -> str:
    return subprocess.run(
        ["readelf", "-W", *args], capture_output=True, text=True, check=True
    ).stdout


def _relocs_at_symbol(path: Path, symbol: str) -> list[str]:
    value = next(
        int(line.split()[1], 16)
        for line in _readelf("--dyn-syms", str(path)).splitlines()
        if line.endswith(f" {symbol}")
    )
    return [
        line.split()[2]
        for line in _readelf("-r", str(path)).splitlines()
        if line[:1] in "0123456789abcdef" and line.split() and int(line.split()[0], 16) == value
    ]


def test_pie_pointer_goes_through_a_relative_relocation(elf_fixture: Fixture) -> None:
    # The two builds exercise both paths of the reader: the addend of an R_X86_64_RELATIVE
    # relocation (PIE) and the address stored in the slot itself (non-PIE).
    assert _relocs_at_symbol(elf_fixture("buildflags-pie"), "erts_build_flags_CFLAGS") == [
        "R_X86_64_RELATIVE"
    ]
    assert _relocs_at_symbol(elf_fixture("buildflags-nopie"), "erts_build_flags_CFLAGS") == []


def test_emulator_without_recorded_flags_still_gives_its_version(elf_fixture: Fixture) -> None:
    facts = read_facts(elf_fixture("emulator-noflags"))
    assert facts.build_flags is None  # reports say "not recorded", never a guess
    assert facts.embedded_strings == ("Erlang/OTP 26", "erts-14.2.5")


def test_files_without_the_symbols_record_nothing(elf_fixture: Fixture) -> None:
    for name in ("pie-plain", "shared", "static"):
        facts = read_facts(elf_fixture(name))
        assert facts.build_flags is None and facts.embedded_strings == ()


def test_debian_beam_flags(debian_otp: Path) -> None:
    beam = next(debian_otp.glob("erts-*/bin/beam.smp"))
    flags = read_facts(beam).build_flags
    assert flags is not None
    assert flags.cflags is not None and "-g -O2 -fno-strict-aliasing" in flags.cflags
    assert "-fstack-protector" not in flags.cflags and "_FORTIFY_SOURCE" not in flags.cflags
    assert flags.ldflags == ""  # Debian passes no LDFLAGS: hence no BIND_NOW
    # Other erts executables do not export the symbols.
    assert read_facts(beam.with_name("erlexec")).build_flags is None
