"""The shared Markdown (job summary and PR comment): content, escaping, and cutting to a limit."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

from gate.config import Config
from gate.model.common import Status
from gate.model.runtime import Role
from gate.policy import evaluate
from gate.report.markdown import escape, render
from tests.report import file_report, files_report, runtime_report

TODAY = date(2026, 5, 1)


def sample(n_nifs: int = 2):  # type: ignore[no-untyped-def]
    files = [file_report("erts-13.1.5/bin/beam.smp", role=Role.EMULATOR, bind_now=Status.FAIL)]
    files += [
        file_report(
            f"lib/app{n}-1.0/priv/lib/nif{n}.so",
            role=Role.PROJECT_NIF,
            pie=Status.NA,
            fortify=Status.FAIL,
        )
        for n in range(n_nifs)
    ]
    report = runtime_report(
        tuple(files), version="25.2.3", latest="25.3.2.21", behind=20, supported=False
    )
    return report, evaluate(report, Config(), TODAY)


def test_verdict_version_fixes_and_table() -> None:
    text = render(*sample())
    lines = text.splitlines()
    assert lines[0] == "### ❌ OTP hardening gate: fail"
    assert any(line.startswith("**Version:** OTP 25.2.3 (from OTP\\_VERSION)") for line in lines)
    assert "20 patches behind" in text
    fixes_at = lines.index("#### What to fix")
    table_at = lines.index("#### Files")
    assert fixes_at < table_at
    assert any("**bind-now fails on 1 file**" in line for line in lines[fixes_at:table_at])
    header = lines[table_at + 2]
    assert (
        header
        == "| file | role | `pie` | `stack-protector` | `fortify` | `relro` | `bind-now` | `nx` |"
    )
    beam_row = next(line for line in lines if line.startswith("| erts-13.1.5/bin/beam.smp"))
    assert beam_row.count("|") == 9
    assert beam_row.endswith("| ✅ | ✅ | ✅ | ✅ | ❌ | ✅ |")
    nif_row = next(line for line in lines if line.startswith("| lib/app0-1.0/priv/lib/nif0.so |"))
    assert "⚠️" in nif_row and "\u2796" in nif_row


def test_passing_report() -> None:
    report = files_report((file_report("nif.so"),))
    text = render(report, evaluate(report, Config(), TODAY))
    assert text.startswith("### ✅ OTP hardening gate: pass")
    assert "What to fix" not in text
    assert "**Version:**" not in text


def test_untrusted_text_is_inert() -> None:
    evil = "lib/x/priv/@org/team|<img src=x onerror=alert(1)>[link](http://e)\n## heading.so"
    assert escape(evil) == (
        "lib/x/priv/\\@org/team\\|\\<img src=x onerror=alert(1)\\>\\[link\\](http\\://e)"
        "\\\\x0a\\#\\# heading.so"
    )
    report = files_report((file_report(evil, pie=Status.FAIL),))
    text = render(report, evaluate(report, Config(), TODAY))
    assert not re.search(r"(?<!\\)[<@\[]", text.replace("<!--", ""))  # every one escaped
    assert "\n## heading" not in text
    assert escape("-rf") == "\\-rf" and escape("+x") == "\\+x"


def test_max_chars_cuts_rows_first_with_a_note() -> None:
    report, verdict = sample(n_nifs=400)
    full = render(report, verdict)
    assert len(full) > 20_000
    cut = render(report, verdict, max_chars=8_000, cut_note="See the job summary.")
    assert len(cut) <= 8_000
    assert cut.startswith("### ❌ OTP hardening gate: fail")
    assert "#### What to fix" in cut  # fixes are kept, rows go
    shown = sum(1 for line in cut.splitlines() if line.startswith("| lib/"))
    assert 0 < shown < 400
    assert f"_{400 - shown} more file(s) not shown. See the job summary._" in cut
    # Never cut inside a table row.
    assert all(line.endswith("|") for line in cut.splitlines() if line.startswith("| "))
    assert render(report, verdict, max_chars=len(full)) == full


def test_tiny_limit_still_says_it_was_cut() -> None:
    report, verdict = sample()
    cut = render(report, verdict, max_chars=120, cut_note="cut")
    assert len(cut) <= 120
    assert cut.rstrip().endswith("_cut_")


def test_code_fences_cannot_be_closed_by_their_content() -> None:
    from gate.report.markdown import _fence

    fenced = _fence("RUN echo ```\nline with ```` four", "diff")
    assert fenced[0] == "`````diff" and fenced[-1] == "`````"
    assert _fence("plain")[0] == "```"


def test_a_cut_never_leaves_a_code_block_open() -> None:
    from gate.model.report import Details
    from gate.model.route import (
        BuildRoute,
        Confidence,
        Explanation,
        Remediation,
        RemediationKind,
        RouteFinding,
    )

    snippet = "\n".join(f'export VAR{n}="-O2 -g -fstack-protector-strong"' for n in range(200))
    route = RouteFinding(BuildRoute.KERL_ASDF, Confidence.HIGH, (), None, None, "not recorded")
    exp = Explanation(
        route,
        (
            Remediation(
                RemediationKind.SET_FLAGS, ("bind-now",), "Export the flags", snippet=snippet
            ),
        ),
        (),
        cet_expected=False,
    )
    report, verdict = sample()
    report = dataclasses.replace(report, details=Details(explanation=exp))
    for limit in (1_500, 3_000, 6_000):
        text = render(report, verdict, max_chars=limit)
        assert len(text) <= limit
        fences = [line.strip() for line in text.splitlines() if line.strip().startswith("```")]
        assert len(fences) % 2 == 0, (limit, fences)
        assert text.rstrip().endswith("_")  # the cut note is there, outside any block
