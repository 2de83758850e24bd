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
    """Look one fixture up by name; skips the test (with the reason) when it could not be built."""

    def get(name: str) -> Path:
        result = elf_fixtures[name]
        if isinstance(result, str):
            pytest.skip(result)
        return result

    return get
