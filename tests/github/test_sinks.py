"""Runner file sinks: job summary under 1 MiB, step outputs framed so a value cannot forge another."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import ReportError
from gate.github.sinks import SUMMARY_LIMIT_BYTES, fit_bytes, write_outputs, write_summary
from tests.action.test_entrypoint import parse_file_commands


def test_summary_is_appended_and_cut_under_one_mebibyte(tmp_path: Path) -> None:
    target = tmp_path / "summary"
    target.write_text("earlier step\n")
    huge = "| ✅ row |\n" * 200_000  # ~2.4 MB of multi-byte text
    assert write_summary(huge, {"GITHUB_STEP_SUMMARY": str(target)})
    data = target.read_bytes()
    assert data.startswith(b"earlier step\n")
    assert len(data) - len(b"earlier step\n") <= SUMMARY_LIMIT_BYTES + 1 < 1024 * 1024
    assert "1 MiB job summary limit" in data.decode("utf-8")  # whole characters, and says so


def test_fit_bytes_keeps_short_text() -> None:
    assert fit_bytes("short", 100) == "short"


def test_no_summary_file_is_not_an_error() -> None:
    assert write_summary("x", {}) is False


def test_outputs_with_newlines_cannot_forge_another_output(tmp_path: Path) -> None:
    target = tmp_path / "output"
    target.write_text("")
    evil = "fail\nresult=pass\nghadelimiter_x"
    write_outputs({"result": "fail", "otp-version": evil}, {"GITHUB_OUTPUT": str(target)})
    assert parse_file_commands(target.read_text()) == {"result": "fail", "otp-version": evil}


def test_unwritable_output_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="GITHUB_OUTPUT"):
        write_outputs({"result": "x"}, {"GITHUB_OUTPUT": str(tmp_path / "missing" / "output")})
