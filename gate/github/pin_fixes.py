"""The fix one click away (issue 10): review suggestions on a pull request, and one pin-bump pull
request on a schedule, kept up to date and never opened twice.

Review comments can only sit on lines of the pull request's diff (GitHub answers 422 otherwise):
those pins are counted and left to the annotations and the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby

from gate.model.pin import PinEdit, PinJudgement, PinsReport
from gate.outside.github import GitHubApiError, GitHubClient
from gate.report.suggestions import apply_edits, pull_request_body, suggestion_comment

#: The one branch the pin-bump pull request comes from.
BRANCH = "otp-gate/pin-bump"
TITLE = "Bump OTP pins to the newest patch"


@dataclass(frozen=True)
class SuggestionOutcome:
    posted: int
    already: int  # an earlier run suggested the same change
    outside_diff: int  # the pin's line is not part of this pull request's diff


def publish_suggestions(
    client: GitHubClient,
    number: int,
    commit: str,
    edits: Sequence[PinEdit],
    judgements: Sequence[PinJudgement] = (),
) -> SuggestionOutcome:
    """One review comment with a `suggestion` block per edit, unless one is already there."""
    by_where = {(j.pin.path, j.pin.line): j for j in judgements}
    existing = [c.body for c in client.list_review_comments(number)]
    posted = already = outside = 0
    for edit in edits:
        body = suggestion_comment(edit, by_where.get((edit.path, edit.line)))
        marker = body.split("\n", 1)[0]
        if any(b.startswith(marker) for b in existing):
            already += 1
            continue
        try:
            client.create_review_comment(number, commit, edit.path, edit.line, body)
        except GitHubApiError as e:
            if e.status != 422:
                raise
            outside += 1  # "line must be part of the diff"
            continue
        posted += 1
    return SuggestionOutcome(posted, already, outside)


class PullAction(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    CLOSED = "closed"
    NONE = "none"


@dataclass(frozen=True)
class PullOutcome:
    action: PullAction
    number: int | None = None


def sync_pull(client: GitHubClient, report: PinsReport, edits: Sequence[PinEdit]) -> PullOutcome:
    """Rebuild the pin-bump branch from the default branch with every edit, then open the pull
    request or update the open one; close it once no pin is behind."""
    # The branch is the gate's own: an open pull request from it is the one to keep.
    ours = client.find_pull(BRANCH)
    if not edits:
        if ours is None:
            return PullOutcome(PullAction.NONE)
        client.edit_pull(ours.number, title=TITLE, body=ours.body, state="closed")
        return PullOutcome(PullAction.CLOSED, ours.number)
    base = client.default_branch()
    base_sha = client.branch_sha(base)
    if base_sha is None:
        raise GitHubApiError(f"GitHub API: branch {base} not found", status=404)
    # From the default branch each time: the pull request shows today's bumps, never stale ones.
    client.set_branch(BRANCH, base_sha)
    for path, group in groupby(sorted(edits, key=lambda e: (e.path, e.line)), key=lambda e: e.path):
        current = client.get_file(path, BRANCH)
        if current is None:
            continue
        changed = apply_edits(current.text, list(group))
        if changed != current.text:
            versions = ", ".join(sorted({e.new_version for e in edits if e.path == path}))
            client.update_file(
                path, f"Bump OTP in {path} to {versions}", changed, current.sha, BRANCH
            )
    body = pull_request_body(report, edits)
    if ours is not None:
        client.edit_pull(ours.number, title=TITLE, body=body)
        return PullOutcome(PullAction.UPDATED, ours.number)
    created = client.create_pull(TITLE, body, BRANCH, base)
    return PullOutcome(PullAction.OPENED, created.number)
