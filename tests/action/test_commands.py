"""Workflow-command formatting and escaping (`gate.report.commands`) and annotation choice."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.inspection.pins import Pin, PinKind
from gate.report.annotations import RUNNER_LIMIT, build, choose, render
from gate.report.commands import command, file_command_record, stop_commands
from tests.github.reports import make_report, make_verdict


def test_command_escapes_percent_first_then_cr_lf_in_data() -> None:
    assert command("error", "100%\r\n::x") == "::error::100%25%0D%0A::x"


def test_command_escapes_colon_and_comma_in_properties() -> None:
    line = command("warning", "m", {"file": "a,b:c%\n", "line": 3, "title": "t:1"})
    assert line == "::warning file=a%2Cb%3Ac%25%0A,line=3,title=t%3A1::m"


def test_unknown_command_or_property_is_refused() -> None:
    with pytest.raises(ValueError):
        command("set-output", "x")
    with pytest.raises(ValueError):
        command("error", "x", {"bogus": "1"})


@given(st.text(), st.text(min_size=1))
def test_any_text_stays_on_one_line(message: str, path: str) -> None:
    line = command("error", message, {"file": path, "title": path})
    assert "\n" not in line and "\r" not in line
    # Properties end at the first `::`; nothing the caller gave can contain a raw `,` or `:` there.
    head = line.split("::", 2)[1]
    assert head.count(",") == 1 and ":" not in head


def _records(data: bytes) -> list[tuple[str, str]]:
    """Read `name<<delim` records back the way the runner does (LF framing on Linux)."""
    lines = data.decode().split("\n")
    out, i = [], 0
    while i < len(lines) and lines[i]:
        name, _, delim = lines[i].partition("<<")
        end = lines.index(delim, i + 1)
        out.append((name, "\n".join(lines[i + 1 : end])))
        i = end + 1
    return out


@given(st.text(alphabet=st.characters(blacklist_characters="\r\x00", blacklist_categories=("Cs",))))
def test_file_record_round_trips_any_value(value: str) -> None:
    # A value holding newlines or a `x<<y` line cannot forge a second record.
    assert _records(file_command_record("report", value)) == [("report", value)]


def test_file_record_delimiter_is_redrawn_when_the_value_holds_it() -> None:
    first = file_command_record("n", "v").decode().split("\n")[0].split("<<")[1]
    data = file_command_record("n", f"a\n{first}\nb=forged").decode()
    assert data.split("\n")[0] != f"n<<{first}"
    assert _records(data.encode()) == [("n", f"a\n{first}\nb=forged")]


@pytest.mark.parametrize("name", ["", "a=b", "a<<b", "a\nb", "a\rb", "a\x00b"])
def test_file_record_refuses_names_that_could_frame_another_record(name: str) -> None:
    with pytest.raises(ValueError):
        file_command_record(name, "v")


def test_stop_commands_token_is_random_and_not_in_text() -> None:
    a = stop_commands("x")
    b = stop_commands("x")
    token_a = a.splitlines()[0].split("::")[2]
    assert token_a != b.splitlines()[0].split("::")[2]
    assert a.splitlines()[-1] == f"::{token_a}::"
    assert re.fullmatch(r"otp-gate-[0-9a-f]{32}", token_a)


def test_stop_commands_redraws_a_token_the_text_contains() -> None:
    text = "::otp-gate-aaaa::"
    wrapped = stop_commands(text, token="otp-gate-aaaa")
    assert not wrapped.startswith("::stop-commands::otp-gate-aaaa\n")


def test_version_finding_is_annotated_on_exact_pins_only() -> None:
    report = make_report()
    pins = [
        Pin(".tool-versions", 1, "25.2.3", True, PinKind.TOOL_VERSIONS),
        Pin(".github/workflows/ci.yml", 9, "25", False, PinKind.WORKFLOW),
    ]
    notes = build(report, make_verdict(report), pins)
    version = [a for a in notes if a.title == "otp-gate: version-behind"]
    assert [(a.file, a.line) for a in version] == [(".tool-versions", 1)]


def test_hardening_finding_points_at_the_dockerfile_from_line() -> None:
    report = make_report(paths=("a", "b"))
    pins = [
        Pin("Dockerfile", 1, "26.2.5", True, PinKind.DOCKERFILE),  # a build stage
        Pin("Dockerfile", 3, "25.2.3", True, PinKind.DOCKERFILE, produces_runtime=True),
    ]
    notes = build(report, make_verdict(report), pins)
    grouped = [a for a in notes if a.title == "otp-gate: stack-protector"]
    assert len(grouped) == 1 and grouped[0].file == "Dockerfile" and grouped[0].line == 3
    assert "2 files" in grouped[0].message
    # The line the Dockerfile model names wins (a final stage that pins no OTP, an ARG line).
    notes = build(report, make_verdict(report), pins, runtime_at=("deploy/Dockerfile", 9))
    grouped = [a for a in notes if a.title == "otp-gate: stack-protector"]
    assert (grouped[0].file, grouped[0].line) == ("deploy/Dockerfile", 9)


def test_at_most_ten_per_type_with_one_summary_annotation() -> None:
    report = make_report()
    from gate.model.common import ExitCode, Severity
    from gate.model.report import Reason, Verdict

    reasons = tuple(Reason("scan-warning", Severity.WARNING, f"w{i}") for i in range(25)) + tuple(
        Reason("inspect-error", Severity.ERROR, f"e{i}", path=f"f{i}") for i in range(3)
    )
    notes = choose(build(report, Verdict(ExitCode.FAIL, reasons)))
    warnings = [a for a in notes if a.level == "warning"]
    assert len(warnings) == RUNNER_LIMIT
    assert warnings[-1].message == "16 more warning findings: see the job summary."
    assert len([a for a in notes if a.level == "error"]) == 3
    lines = render(report, Verdict(ExitCode.FAIL, reasons))
    assert all(line.startswith(("::error", "::warning")) for line in lines)


def test_the_limit_holds_across_several_runtimes() -> None:
    from gate.model.common import ExitCode, Severity
    from gate.model.report import Reason, Verdict
    from gate.report.annotations import render_all

    report = make_report()
    verdict = Verdict(
        ExitCode.FAIL,
        tuple(Reason("inspect-error", Severity.ERROR, f"e{i}", path=f"f{i}") for i in range(7)),
    )
    lines = render_all([(report, verdict), (report, verdict)])
    assert len(lines) == RUNNER_LIMIT
    assert lines[-1].endswith("5 more error findings: see the job summary.")


def test_floating_pins_get_one_notice_each_and_are_never_blamed() -> None:
    from gate.inspection.pins import parse_tool_versions, parse_workflow
    from gate.model.common import ExitCode, Severity
    from gate.model.report import Reason, Verdict
    from gate.report.annotations import render_all

    pins = [
        *parse_tool_versions("erlang 25\n", ".tool-versions"),
        *parse_workflow(
            "jobs:\n  t:\n    steps:\n      - uses: erlef/setup-beam@v1\n        with:\n"
            "          otp-version: '25.2.3'\n",
            ".github/workflows/ci.yml",
        )[0],
    ]
    assert [p.exact for p in pins] == [False, True]
    report = make_report()
    behind = Reason("version-behind", Severity.ERROR, "OTP 25.2.3 is 3 patches behind 25.3.2.21")
    lines = render_all([(report, Verdict(ExitCode.FAIL, (behind,)))] * 2, pins)
    notices = [line for line in lines if line.startswith("::notice")]
    # One notice for the floating pin although two runtimes were scanned; the exact pin carries
    # the error, the floating one does not.
    assert len(notices) == 1 and "file=.tool-versions,line=1" in notices[0]
    assert "floats" in notices[0]
    errors = [line for line in lines if line.startswith("::error")]
    assert errors and all(".tool-versions" not in line for line in errors)
    assert any("file=.github/workflows/ci.yml" in line for line in errors)
