"""The sticky pull-request comment: one per PR and gate step, found again and edited in place.

A comment is ours only if it holds the hidden marker *and* was written by the token's identity (a
bot, for `GITHUB_TOKEN`), so a human quoting the marker is never edited. Two runs racing, or a POST
that GitHub applied but whose reply was lost and retried, can leave two of ours: after creating one we
list again and keep the oldest, deleting the others, so a PR never keeps a second comment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from gate.outside.github import Comment, GitHubApiError, GitHubClient

#: GitHub's limit for an issue comment body, in characters.
COMMENT_LIMIT = 65536


class CommentAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CommentResult:
    action: CommentAction
    comment_id: int | None
    removed_duplicates: int = 0


def marker(key: str) -> str:
    """The hidden marker; `key` (workflow, job, scanned path) keeps two gate steps on one PR apart."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"<!-- otp-hardening-gate:sticky:{digest} -->"


def fit_comment(
    markdown: str, mark: str, summary_url: str | None, limit: int = COMMENT_LIMIT
) -> str:
    """The comment body: marker first, cut on a line boundary with a pointer to the summary when too long."""
    body = f"{mark}\n{markdown}"
    if len(body) <= limit:
        return body
    where = f"[the job summary]({summary_url})" if summary_url else "the job summary"
    note = f"\n\n---\n_This comment was cut to fit GitHub's {limit:,} character limit. The full report is in {where}._\n"
    cut = body[: limit - len(note)]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + note


def _ours(comments: list[Comment], mark: str, login: str | None) -> list[Comment]:
    def mine(c: Comment) -> bool:
        # With GITHUB_TOKEN the identity cannot be read (`/user` is 403): any bot author counts,
        # which still excludes every human who pasted the marker.
        return c.author == login if login else c.author_is_bot

    return sorted((c for c in comments if mark in c.body and mine(c)), key=lambda c: c.id)


def upsert(
    client: GitHubClient,
    number: int,
    body: str,
    mark: str,
    *,
    create: bool = True,
) -> CommentResult:
    """Create or edit our one comment on issue/PR `number`; `create=False` only edits an existing one.

    `body` must already hold `mark` (see `fit_comment`). Raises `GitHubApiError` for the caller to
    turn into a warning.
    """
    if mark not in body:
        raise ValueError("the comment body must carry the marker")
    login = client.login()
    ours = _ours(client.list_comments(number), mark, login)
    if not ours:
        if not create:
            return CommentResult(CommentAction.SKIPPED, None)
        created = client.create_comment(number, body)
        # Re-list: a concurrent run or a retried POST may have added another of ours meanwhile.
        ours = _ours(client.list_comments(number), mark, login)
        if not ours:  # the listing lags behind the write: trust the reply
            return CommentResult(CommentAction.CREATED, created.id)
        keep = ours[0]
        removed = _remove(client, number, ours[1:])
        if keep.body != body:
            client.edit_comment(number, keep.id, body)
        action = CommentAction.CREATED if keep.id == created.id else CommentAction.UPDATED
        return CommentResult(action, keep.id, removed)
    keep = ours[0]
    removed = _remove(client, number, ours[1:])
    if keep.body == body:
        return CommentResult(CommentAction.UNCHANGED, keep.id, removed)
    client.edit_comment(number, keep.id, body)
    return CommentResult(CommentAction.UPDATED, keep.id, removed)


def _remove(client: GitHubClient, number: int, extra: list[Comment]) -> int:
    removed = 0
    for c in extra:
        try:
            client.delete_comment(number, c.id)
            removed += 1
        except GitHubApiError as e:
            if e.status != 404:  # the racing run deleted it first: that is fine
                raise
    return removed


def publish(
    client: GitHubClient,
    number: int,
    markdown: str,
    mark: str,
    summary_url: str | None,
    *,
    create: bool = True,
) -> CommentResult:
    """Fit `markdown` into a comment and upsert it; on GitHub's 422 "body is too long" try a shorter cut.

    GitHub's limit is in characters, but what it counts may differ from Python's length (some
    characters count twice), so a second, much shorter attempt follows a 422.
    """
    try:
        return upsert(client, number, fit_comment(markdown, mark, summary_url), mark, create=create)
    except GitHubApiError as e:
        if e.status != 422:
            raise
    return upsert(
        client,
        number,
        fit_comment(markdown, mark, summary_url, limit=COMMENT_LIMIT // 4),
        mark,
        create=create,
    )
