"""Forged workflow commands and Markdown through file names (issue 14, item 5).

The runner takes a line as a command when it starts with `::` after whitespace, or holds `##[`
anywhere (actions/runner ActionCommand.TryParseV2/TryParse): no output line of the CLI may do either.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from gate.cli import main
from gate.report.commands import neutralize_commands

HOSTILE = [
    "::add-mask::otp-gate",
    "::stop-commands::x",
    "::error title=Forged::pwned",
    "  ::warning::indented",
    "\u00a0::notice::nbsp",
    "##[error]legacy",
    "a##[set-output name=x]y",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
]
# A V2 command: `::name` at the start after whitespace (\s covers what .NET TrimStart trims).
_V2 = re.compile(r"^\s*::")


def is_command(line: str) -> bool:
    return bool(_V2.match(line)) or "##[" in line


@pytest.mark.parametrize("name", HOSTILE)
def test_neutralized_text_has_no_command_line(name: str) -> None:
    text = neutralize_commands(f"{name}  file  pie\nrow\n{name}\r{name}")
    assert not any(is_command(line) for line in re.split(r"\r\n|\r|\n", text))


def test_neutralize_leaves_ordinary_text_alone() -> None:
    text = "otp-gate: /usr/lib/erlang\nfile  role\nerts-13/bin/beam.smp  ok: a::b\n"
    assert neutralize_commands(text) == text


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OTP-looking root whose ELF files carry hostile names (a copy of /bin/true)."""
    root = tmp_path_factory.mktemp("hostile") / "otp"
    (root / "erts-13.2" / "bin").mkdir(parents=True)
    elf = Path("/bin/true").resolve().read_bytes()
    (root / "erts-13.2" / "bin" / "beam.smp").write_bytes(elf)
    for n, name in enumerate(HOSTILE):
        d = root / f"d{n}"
        d.mkdir()
        (d / name.replace("/", "_")).write_bytes(elf)
        # At the top too, so the name starts a row of the text table.
        shutil.copy(d / name.replace("/", "_"), root / name.replace("/", "_"))
    (root / "bad\udcffname").write_bytes(elf)  # not UTF-8
    return root


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown"])
def test_no_output_format_forges_a_command(
    hostile_tree: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scan", str(hostile_tree), "--offline", "--format", fmt], {})
    out, err = capsys.readouterr()
    assert code in (1, 2), err
    assert "Traceback" not in err
    for line in re.split(r"\r\n|\r|\n", out + err):
        assert not is_command(line), line
    if fmt in ("json", "sarif"):
        doc = json.loads(out)
        # Strictly valid UTF-8 for every parser: no lone surrogate survives.
        json.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_sarif_message_text_is_inert_markdown(
    hostile_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["scan", str(hostile_tree), "--offline", "--format", "sarif"], {})
    doc = json.loads(capsys.readouterr().out)
    texts = [r["message"]["text"] for r in doc["runs"][0]["results"]]
    joined = "\n".join(texts)
    assert "javascript" in joined  # the finding is there ...
    # ... but no unescaped `[`, `]` or `<`: no link, image or HTML can open.
    assert not re.search(r"(?<!\\)[\[\]<]", joined)
    assert "\\[click\\](javascript" in joined and "\\<img" in joined


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_pins_output_forges_no_command(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The repository is the pull request's: folder names and pin lines are untrusted too.
    (tmp_path / ".tool-versions").write_text("erlang 26.2.1\n")
    for n, name in enumerate(HOSTILE[:6]):
        d = tmp_path / name.replace("/", "_")
        d.mkdir()
        (d / "Dockerfile").write_text(f"FROM erlang:2{n}.0\n")
    code = main(
        ["pins", str(tmp_path), "--offline", "--format", fmt], {"OTP_GATE_TODAY": "2026-11-29"}
    )
    out, err = capsys.readouterr()
    assert code in (1, 2), err
    for line in re.split(r"\r\n|\r|\n", out + err):
        assert not is_command(line), line
    if fmt == "json":
        doc = json.loads(out)  # still valid JSON, names intact
        assert "##[error]legacy" in json.dumps(doc)
