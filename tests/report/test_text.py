"""The terminal table: version line on top, one row per file, verdict and fixes below, escaping."""

from __future__ import annotations

from datetime import date

from gate.config import Config
from gate.model.common import Format, Status
from gate.model.runtime import Role
from gate.policy import evaluate
from gate.report import printable, render
from gate.report.text import render as render_text
from tests.report import file_report, files_report, runtime_report

TODAY = date(2026, 5, 1)


def sample() -> tuple[str, list[str]]:
    report = runtime_report(
        (
            file_report(
                "erts-13.1.5/bin/beam.smp",
                role=Role.EMULATOR,
                bind_now=Status.FAIL,
                stack_protector=Status.FAIL,
            ),
            file_report("erts-13.1.5/bin/epmd", bind_now=Status.FAIL, fortify=Status.UNKNOWN),
            file_report(
                "lib/crypto-5.1.4/priv/lib/crypto.so",
                role=Role.OTP_NIF,
                pie=Status.NA,
                fortify=Status.FAIL,
            ),
        ),
        version="25.2.3",
        latest="25.3.2.21",
        behind=20,
        supported=False,
    )
    text = render_text(report, evaluate(report, Config(), TODAY))
    return text, text.splitlines()


def test_version_line_first_then_table() -> None:
    _, lines = sample()
    assert lines[0].startswith("otp-gate: /usr/lib/erlang (otp-install; ")
    assert lines[1].startswith(
        "OTP 25.2.3 (from OTP_VERSION); newest patch of OTP 25: 25.3.2.21, 20 patches behind"
    )
    assert "line 25 is no longer supported (supported: 26, 27, 28)" in lines[1]
    assert "release data: bundled snapshot as of 2026-04-24" in lines[1]
    header = lines[3].split()
    assert header == ["file", "role", "kind", "pie", "ssp", "fortify", "relro", "now", "nx"]


def cells(lines: list[str], path: str) -> list[str]:
    row = next(line for line in lines if line.startswith(path + " "))
    return row.split()


def test_one_row_per_file_with_status_marks() -> None:
    _, lines = sample()
    assert cells(lines, "erts-13.1.5/bin/beam.smp") == [
        "erts-13.1.5/bin/beam.smp",
        "emulator",
        "pie-executable",
        "ok",
        "FAIL",
        "ok",
        "ok",
        "FAIL",
        "ok",
    ]
    assert cells(lines, "erts-13.1.5/bin/epmd")[3:] == ["ok", "ok", "?", "ok", "FAIL", "ok"]
    # fortify is a warning by default: its failure is marked as such, not as a gate failure.
    assert cells(lines, "lib/crypto-5.1.4/priv/lib/crypto.so")[3:] == [
        "-",
        "ok",
        "warn",
        "ok",
        "ok",
        "ok",
    ]


def test_verdict_and_fixes_at_the_bottom() -> None:
    _, lines = sample()
    verdict_at = next(
        n
        for n, line in enumerate(lines)
        if line.startswith("verdict: FAIL (exit 1), 3 files checked")
    )
    table_end = max(n for n, line in enumerate(lines) if line.startswith(("erts-", "lib/")))
    assert verdict_at > table_end
    tail = "\n".join(lines[verdict_at:])
    assert "[error] bind-now fails on 2 files" in tail
    assert "files: erts-13.1.5/bin/beam.smp, erts-13.1.5/bin/epmd" in tail
    assert "[error] stack-protector fails on 1 file" in tail
    assert "evidence: evidence for stack-protector on erts-13.1.5/bin/beam.smp" in tail
    assert "[warning] fortify fails on 1 file" in tail
    assert "[error] OTP 25.2.3 is 20 patches behind 25.3.2.21" in tail
    assert tail.count("fix: ") >= 4


def test_hostile_file_names_are_escaped() -> None:
    evil = "lib/x/priv/\x1b[2J\rfake\nverdict: PASS\u202e.so"
    report = files_report((file_report(evil, pie=Status.FAIL),))
    text = render(Format.TEXT, report, evaluate(report, Config(), TODAY))
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert not any(line.startswith("verdict: PASS") for line in text.splitlines())
    assert printable(evil) in text
    assert printable(evil) == "lib/x/priv/\\x1b[2J\\x0dfake\\x0averdict: PASS\\u202e.so"
    assert printable("a\\x1b") == "a\\\\x1b"  # a literal backslash cannot fake an escape


def test_unreadable_file_row_and_files_mode() -> None:
    report = files_report(
        (file_report("good.so"), file_report("bad.so", error="truncated: 12 bytes"))
    )
    text = render(Format.TEXT, report, evaluate(report, Config(), TODAY))
    lines = text.splitlines()
    assert lines[0] == "otp-gate: ELF files"
    assert not any(line.startswith("OTP ") for line in lines)  # no version part for `elf`
    row = next(line for line in lines if line.startswith("bad.so"))
    assert "ERROR: truncated: 12 bytes" in row
    assert "verdict: FAIL (exit 1)" in text
    assert "[error] bad.so: could not be checked: truncated: 12 bytes" in text
