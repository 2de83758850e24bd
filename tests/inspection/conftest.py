"""Fixtures of the inspection tests: gcc-built ELF files (built once per session, cached)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.elf.build import build_all


@pytest.fixture(scope="session")
def elf_fixtures() -> dict[str, Path | str]:
    """Every fixture name -> its built file, or the reason it could not be built."""
    return build_all()


@pytest.fixture(scope="session")
def elf_fixture(elf_fixtures: dict[str, Path | str]) -> Callable[[str], Path]:
    """Look one fixture up by name; a missing compiler skips (naming it), a failed build fails."""

    def get(name: str) -> Path:
        result = elf_fixtures[name]
        if isinstance(result, str):
            if "is not installed" in result:
                pytest.skip(result)  # names the package to install (a failure under CI)
            # The compiler is there and the build broke: a real problem, never a silent skip.
            pytest.fail(result)
        return result

    return get
