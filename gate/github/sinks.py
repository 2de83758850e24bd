"""Write to the runner's files: the job summary (`GITHUB_STEP_SUMMARY`) and step outputs (`GITHUB_OUTPUT`).

Record framing comes from `github-action-utils` (a random heredoc delimiter that the value cannot
contain), so an output value with newlines cannot forge a second output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from github_action_utils._files import _build_file_input

from gate.errors import ReportError

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


def write_summary(markdown: str, environ: Mapping[str, str]) -> bool:
    """Append `markdown` to the job summary; False when the runner gave no summary file."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    data = (fit_bytes(markdown, SUMMARY_LIMIT_BYTES) + "\n").encode("utf-8")
    try:
        with open(target, "ab") as f:
            f.write(data)
    except OSError as e:
        raise ReportError(
            f"GITHUB_STEP_SUMMARY {target}: cannot write the job summary: {e.strerror or e}"
        ) from e
    return True


def write_outputs(outputs: Mapping[str, str], environ: Mapping[str, str]) -> bool:
    """Append each step output to `GITHUB_OUTPUT`; False when there is no output file."""
    target = environ.get("GITHUB_OUTPUT")
    if not target:
        return False
    record = b"".join(_build_file_input(name, value) for name, value in outputs.items())
    try:
        with open(target, "ab") as f:
            f.write(record)
    except OSError as e:
        raise ReportError(
            f"GITHUB_OUTPUT {target}: cannot write the step outputs: {e.strerror or e}"
        ) from e
    return True


def write_report_file(path: Path, text: str) -> Path:
    """Write one report file (JSON, SARIF) under RUNNER_TEMP, creating its folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"{path}: cannot write the report: {e.strerror or e}") from e
    return path
