"""The gate's own check run on the PR's head commit (`check-run: true`), annotations 50 per request.

https://docs.github.com/rest/checks/runs: a create or update takes at most 50 annotations; updates
append to those already sent. Only annotations with a file and a line can be check annotations;
the rest are in the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gate.outside.github import CheckRun, GitHubClient
from gate.report.annotations import Annotation

#: GitHub's per-request annotation limit for check runs.
BATCH = 50
#: A bound on what we send in total: beyond this the summary says the rest.
MAX_ANNOTATIONS = 1000
#: output.summary and output.text are limited to 65,535 characters each.
TEXT_LIMIT = 65535

_LEVEL = {"error": "failure", "warning": "warning", "notice": "notice"}


def check_annotations(annotations: Sequence[Annotation]) -> list[dict[str, Any]]:
    """Annotations that can be placed on a file line, in the Checks API shape."""
    out: list[dict[str, Any]] = []
    for a in annotations:
        if not a.file or not a.line:
            continue
        out.append(
            {
                "path": a.file,
                "start_line": a.line,
                "end_line": a.line,
                "annotation_level": _LEVEL[a.level],
                "title": a.title[:255],
                "message": a.message[:64_000],
            }
        )
    return out[:MAX_ANNOTATIONS]


def _cut(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    note = "\n\n_Cut to fit the check run; the full report is in the job summary._"
    return text[: TEXT_LIMIT - len(note)] + note


def publish_check_run(
    client: GitHubClient,
    name: str,
    head_sha: str,
    passed: bool,
    summary_markdown: str,
    annotations: Sequence[Annotation],
    details_url: str | None = None,
) -> CheckRun:
    """Create a completed check run with the verdict, then send the remaining annotations in batches."""
    items = check_annotations(annotations)
    title = "OTP runtime passes the gate" if passed else "OTP runtime fails the gate"
    base = {"title": title, "summary": _cut(summary_markdown)}
    run = client.create_check_run(
        name,
        head_sha,
        conclusion="success" if passed else "failure",
        output={**base, "annotations": items[:BATCH]},
        details_url=details_url,
    )
    for start in range(BATCH, len(items), BATCH):
        client.update_check_run(
            run.id, output={**base, "annotations": items[start : start + BATCH]}
        )
    return run
