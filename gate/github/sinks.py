"""Write to the runner's files: the job summary (`GITHUB_STEP_SUMMARY`) and step outputs (`GITHUB_OUTPUT`).

Record framing comes from `gate.report.commands` (a random heredoc delimiter that the value cannot
contain), so an output value with newlines cannot forge a second output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gate.errors import ReportError
from gate.report.commands import file_command_record

#: GitHub rejects a step summary over 1 MiB; stay under it with room for the note we add.
SUMMARY_LIMIT_BYTES = 1024 * 1024 - 4096

_CUT_NOTE = "\n\n> The report was cut to fit the 1 MiB job summary limit; the full report is in the JSON report output.\n"


def fit_bytes(text: str, limit: int, note: str = _CUT_NOTE) -> str:
    """`text` if its UTF-8 form fits in `limit` bytes, else a cut on a line boundary plus `note`."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(note.encode("utf-8")))
    cut = data[:room].decode("utf-8", errors="ignore")
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + note


def _append(variable: str, data: bytes, what: str, environ: Mapping[str, str]) -> bool:
    """Append to the runner file named by `variable`; False when the runner gave none."""
    target = environ.get(variable)
    if not target:
        return False
    try:
        with open(target, "ab") as f:
            f.write(data)
    except OSError as e:
        raise ReportError(f"{variable} {target}: cannot write {what}: {e.strerror or e}") from e
    return True


def write_summary(markdown: str, environ: Mapping[str, str]) -> bool:
    """Append `markdown` to the job summary; False when the runner gave no summary file."""
    data = (fit_bytes(markdown, SUMMARY_LIMIT_BYTES) + "\n").encode("utf-8")
    return _append("GITHUB_STEP_SUMMARY", data, "the job summary", environ)


def write_outputs(outputs: Mapping[str, str], environ: Mapping[str, str]) -> bool:
    """Append each step output to `GITHUB_OUTPUT`; False when there is no output file."""
    record = b"".join(file_command_record(name, value) for name, value in outputs.items())
    return _append("GITHUB_OUTPUT", record, "the step outputs", environ)


def write_report_file(path: Path, text: str) -> Path:
    """Write one report file (JSON, SARIF) under RUNNER_TEMP, creating its folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"{path}: cannot write the report: {e.strerror or e}") from e
    return path
