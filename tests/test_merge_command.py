"""`otp-gate merge`: many runtimes (a matrix of images or architectures), one answer. The reports
are written by the real JSON renderer, read back by the one reader of that format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.cli import main
from gate.report.json_report import render_many
from tests.github.reports import make_report, make_verdict

ENV = {"OTP_GATE_TODAY": "2026-08-01"}


def _reports(tmp_path: Path) -> list[Path]:
    amd = make_report("27.3.4.1", "27.3.4.1", supported=True, target="/amd64/usr/local/lib/erlang")
    arm = make_report("25.2.3", "25.3.2.21", supported=False, target="/arm64/usr/local/lib/erlang")
    paths = []
    for name, report, failing in (("amd64", amd, False), ("arm64", arm, True)):
        p = tmp_path / name / "report.json"
        p.parent.mkdir()
        p.write_text(render_many([(report, make_verdict(report, failing=failing))]))
        paths.append(p)
    # An image holding two runtimes is one document with `runtimes[]`.
    both = tmp_path / "two.json"
    both.write_text(
        render_many(
            [(amd, make_verdict(amd, failing=False)), (amd, make_verdict(amd, failing=False))]
        )
    )
    return [*paths, both]


def test_merge_gives_one_answer_with_the_worst_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [str(p) for p in _reports(tmp_path)]
    assert main(["merge", *paths, "--format", "json"], ENV) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [r["result"] for r in doc["runtimes"]] == ["pass", "fail", "pass", "pass"]
    assert doc["verdict"] == {"result": "fail", "exit_code": 1}
    arm = doc["runtimes"][1]
    assert (arm["otp_version"], arm["latest_patch"], arm["supported"]) == (
        "25.2.3",
        "25.3.2.21",
        False,
    )
    assert any(r["check"] == "stack-protector" for r in arm["reasons"])
    assert main(["merge", paths[0], paths[2], "--format", "markdown"], ENV) == 0
    md = capsys.readouterr().out
    assert md.startswith("### OTP hardening gate: ✅ pass (3 runtimes)")
    assert main(["merge", *paths], ENV) == 1
    assert "unsupported line" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON report"),
        ('{"schema": 99}', "not an otp-gate JSON report"),
        ('{"schema": 1, "target": "x", "verdict": {"exit_code": 7}}', "not 0, 1 or 2"),
        ('{"schema": 1, "otp": [], "verdict": {"exit_code": 0}}', "field 'otp' has the wrong type"),
        (
            '{"schema": 1, "verdict": {"exit_code": 1, "reasons": [{"severity": "loud"}]}}',
            "unknown severity",
        ),
    ],
)
def test_a_bad_report_is_a_usage_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["merge", str(bad)], ENV) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err
    assert main(["merge", str(tmp_path / "missing.json")], ENV) == 2
    assert main(["merge", str(bad), "--format", "sarif"], ENV) == 2
