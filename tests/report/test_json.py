"""The JSON report is a public contract: field names, types and values."""

from __future__ import annotations

import json
from datetime import date

from gate.config import Config
from gate.model.common import Format, Status
from gate.model.report import SCHEMA_VERSION
from gate.model.runtime import Role
from gate.policy import evaluate
from gate.report import render, render_many
from tests.report import file_report, files_report, runtime_report

TODAY = date(2026, 5, 1)


def test_contract_fields() -> None:
    report = runtime_report(
        (
            file_report("erts-13.1.5/bin/beam.smp", role=Role.EMULATOR, bind_now=Status.FAIL),
            file_report("lib/x/priv/lib/bad.so", role=Role.PROJECT_NIF, error="not an ELF file"),
        ),
        version="25.2.3",
        latest="25.3.2.21",
        behind=20,
        supported=False,
    )
    doc = json.loads(render(Format.JSON, report, evaluate(report, Config(), TODAY)))
    assert doc["schema"] == SCHEMA_VERSION
    assert doc["tool"]["name"] == "otp-gate"
    assert doc["target"] == "/usr/lib/erlang"
    assert doc["runtime_kind"] == "otp-install"
    beam, bad = doc["files"]
    assert beam["path"] == "erts-13.1.5/bin/beam.smp"
    assert beam["role"] == "emulator"
    assert beam["kind"] == "pie-executable"
    assert beam["error"] is None
    assert beam["checks"]["bind-now"] == {
        "status": "fail",
        "evidence": "evidence for bind-now on erts-13.1.5/bin/beam.smp",
    }
    assert beam["checks"]["pie"]["status"] == "pass"
    assert bad == {
        "path": "lib/x/priv/lib/bad.so",
        "role": "project-nif",
        "kind": None,
        "machine": None,
        "error": "not an ELF file",
        "checks": {},
        "build_flags": None,
    }
    otp = doc["otp"]
    assert otp["version"] == "25.2.3"
    assert otp["source"] == "OTP_VERSION"
    assert otp["candidates"] == []
    assert otp["latest_patch"] == "25.3.2.21"
    assert otp["patches_behind"] == 20
    assert otp["line"] == 25
    assert otp["supported"] is False
    assert otp["supported_lines"] == [26, 27, 28]
    assert otp["data"] == {
        "source": "bundled snapshot",
        "as_of": "2026-04-24",
        "live": False,
        "notes": [],
    }
    assert doc["summary"]["files"] == 2
    assert doc["summary"]["unreadable"] == 1
    assert doc["summary"]["checks"]["bind-now"] == {"pass": 0, "fail": 1, "unknown": 0, "n/a": 0}
    verdict = doc["verdict"]
    assert verdict["result"] == "fail"
    assert verdict["exit_code"] == 1
    assert [r["code"] for r in verdict["reasons"]] == [
        "check-failed",
        "inspect-error",
        "version-behind",
        "unsupported-line",
    ]
    first = verdict["reasons"][0]
    assert set(first) == {"code", "severity", "message", "check", "path", "fix"}
    assert first["check"] == "bind-now" and first["severity"] == "error" and first["fix"]
    assert verdict["waived"] == []


def test_files_mode_has_no_otp_part() -> None:
    report = files_report((file_report("nif.so", pie=Status.NA),))
    doc = json.loads(render(Format.JSON, report, evaluate(report, Config(), TODAY)))
    assert doc["otp"] is None
    assert doc["runtime_kind"] == "files"
    assert doc["verdict"] == {"result": "pass", "exit_code": 0, "reasons": [], "waived": []}


def test_several_runtimes_share_one_document() -> None:
    ok = runtime_report((file_report("a"),), target="/usr/local/lib/erlang")
    bad = runtime_report((file_report("b", pie=Status.FAIL),), target="/app")
    doc = json.loads(
        render_many(
            Format.JSON,
            [(ok, evaluate(ok, Config(), TODAY)), (bad, evaluate(bad, Config(), TODAY))],
        )
    )
    assert [r["target"] for r in doc["runtimes"]] == ["/usr/local/lib/erlang", "/app"]
    assert doc["verdict"]["exit_code"] == 1
    assert doc["verdict"]["result"] == "fail"
    assert [r["path"] for r in doc["verdict"]["reasons"]] == ["b"]


def test_odd_file_names_stay_valid_json() -> None:
    name = "lib/x/priv/a\nb\udcff\x1b.so"  # a newline, a non-UTF-8 byte (surrogate escape), ESC
    report = files_report((file_report(name),))
    text = render(Format.JSON, report, evaluate(report, Config(), TODAY))
    assert text.isascii()
    # The non-UTF-8 byte is written as the text `\xff` (Python's backslashreplace), not as a lone
    # surrogate escape that strict parsers (Go, Rust, jq) reject: every string encodes as UTF-8.
    path = json.loads(text)["files"][0]["path"]
    assert path == "lib/x/priv/a\nb\\xff\x1b.so"
    assert "\\udc" not in text
    json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")  # no surrogate survives


def test_json_never_carries_a_legacy_workflow_command() -> None:
    name = "lib/x/priv/##[error]forged.so"
    report = files_report((file_report(name),))
    text = render(Format.JSON, report, evaluate(report, Config(), TODAY))
    assert "##[" not in text
    assert json.loads(text)["files"][0]["path"] == name
