"""The only module that imports PyGithub (lazily): REST calls in, plain frozen data out.

`Github(auth=Auth.Token(...), base_url=GITHUB_API_URL)` so GitHub Enterprise Server works. Retries are
bounded: a few quick retries on 5xx, and a rate-limit wait is capped (`max_rate_limit_wait`) instead of
sleeping until the reset, which can be an hour away; `Retry-After` is not honoured for the same reason.
Every PyGithub exception becomes `GitHubApiError` with its HTTP status, so callers can turn a 403 on a
fork's read-only token into a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gate.errors import GitHubError

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

DEFAULT_API_URL = "https://api.github.com"


class GitHubApiError(GitHubError):
    """A GitHub REST call failed; `status` is the HTTP status (0 when no reply came)."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status

    @property
    def forbidden(self) -> bool:
        """The token may not do this (read-only fork token, missing `permissions:` scope)."""
        return self.status in (401, 403)


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    author_is_bot: bool


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    author: str
    author_is_bot: bool


@dataclass(frozen=True)
class CheckRun:
    id: int
    html_url: str


def _error(what: str, e: Exception) -> GitHubApiError:
    from github import GithubException

    if isinstance(e, GithubException):
        data = e.data if isinstance(e.data, dict) else {}
        message = str(data.get("message") or e.message or "") if data else str(e.message or e)
        return GitHubApiError(
            f"GitHub API: {what}: HTTP {e.status}: {message}", status=int(e.status or 0)
        )
    return GitHubApiError(f"GitHub API: {what}: {type(e).__name__}: {e}", status=0)


class GitHubClient:
    """A small, typed view of the REST calls the gate makes, for one repository."""

    def __init__(
        self,
        token: str,
        repository: str,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: int = 15,
        retries: int = 2,
        max_rate_limit_wait: float = 10.0,
        seconds_between_writes: float = 0.5,
    ) -> None:
        import logging

        from github import Auth, Github, GithubRetry

        # PyGithub logs each failed request (with URLs and reply text) at INFO and above; the gate
        # reports failures itself, escaped, so keep remote text out of the raw log.
        logging.getLogger("github").setLevel(logging.CRITICAL)

        if not token:
            raise GitHubError(
                "github-token: empty",
                hint="pass `github-token: ${{ github.token }}` (the default) or a token with access to the repository",
            )
        if repository.count("/") != 1:
            raise GitHubError(f"GITHUB_REPOSITORY: {repository!r} is not owner/name")
        retry = GithubRetry(
            total=retries,
            backoff_factor=0.2,
            backoff_max=2.0,
            respect_retry_after_header=False,
            raise_on_status=False,  # hand the last reply to PyGithub: a GithubException with its status
            max_rate_limit_wait=max_rate_limit_wait,
            secondary_rate_wait=min(5.0, max_rate_limit_wait),
        )
        self._gh: Github = Github(
            auth=Auth.Token(token),
            base_url=api_url.rstrip("/"),
            timeout=timeout,
            retry=retry,
            per_page=100,
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes or None,
            lazy=True,
            user_agent="otp-hardening-gate",
        )
        self.repository = repository
        self._repo: Repository = self._gh.get_repo(repository, lazy=True)

    def close(self) -> None:
        self._gh.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from github import GithubException

        try:
            return fn(*args, **kwargs)
        except GithubException as e:
            raise _error(what, e) from e
        except (OSError, ValueError) as e:  # connection refused, timeouts, bad JSON
            raise _error(what, e) from e

    # -- identity ------------------------------------------------------------------------------
    def login(self) -> str | None:
        """The token's user login, or None for installation tokens (`GITHUB_TOKEN`), which may not read `/user`."""
        try:
            return str(self._call("GET /user", lambda: self._gh.get_user().login))
        except GitHubApiError as e:
            if e.status in (401, 403, 404):
                return None
            raise

    # -- issue comments ------------------------------------------------------------------------
    def list_comments(self, number: int) -> list[Comment]:
        def run() -> list[Comment]:
            issue = self._repo.get_issue(number)
            return [_comment(c) for c in issue.get_comments()]

        return list(self._call(f"list comments of #{number}", run))

    def create_comment(self, number: int, body: str) -> Comment:
        return _comment(
            self._call(
                f"comment on #{number}", lambda: self._repo.get_issue(number).create_comment(body)
            )
        )

    def edit_comment(self, number: int, comment_id: int, body: str) -> None:
        self._call(
            f"edit comment {comment_id} on #{number}",
            lambda: self._repo.get_issue(number).get_comment(comment_id).edit(body),
        )

    def delete_comment(self, number: int, comment_id: int) -> None:
        self._call(
            f"delete comment {comment_id} on #{number}",
            lambda: self._repo.get_issue(number).get_comment(comment_id).delete(),
        )

    # -- issues --------------------------------------------------------------------------------
    def list_issues(self, label: str, state: str = "open") -> list[Issue]:
        def run() -> list[Issue]:
            found = self._repo.get_issues(state=state, labels=[label])
            # The issues endpoint also lists pull requests; they are not tracking issues.
            return [_issue(i) for i in found if i.pull_request is None]

        return list(self._call(f"list issues labelled {label}", run))

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        return _issue(
            self._call(
                "create issue",
                lambda: self._repo.create_issue(title=title, body=body, labels=list(labels)),
            )
        )

    def edit_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if body is not None:
            changes["body"] = body
        if state is not None:
            changes["state"] = state
            if state == "closed":
                changes["state_reason"] = "completed"
        self._call(f"edit issue #{number}", lambda: self._repo.get_issue(number).edit(**changes))

    # -- check runs ----------------------------------------------------------------------------
    def create_check_run(
        self,
        name: str,
        head_sha: str,
        *,
        conclusion: str,
        output: dict[str, Any],
        details_url: str | None = None,
    ) -> CheckRun:
        def run() -> CheckRun:
            extra: dict[str, Any] = {"details_url": details_url} if details_url else {}
            cr = self._repo.create_check_run(
                name=name,
                head_sha=head_sha,
                status="completed",
                conclusion=conclusion,
                output=output,
                **extra,
            )
            return CheckRun(int(cr.id), str(cr.html_url or ""))

        result: CheckRun = self._call(f"create check run {name!r}", run)
        return result

    def update_check_run(self, check_run_id: int, *, output: dict[str, Any]) -> None:
        self._call(
            f"update check run {check_run_id}",
            lambda: self._repo.get_check_run(check_run_id).edit(output=output),
        )


def _comment(c: Any) -> Comment:
    user = c.user
    return Comment(
        id=int(c.id),
        body=str(c.body or ""),
        author=str(user.login if user else ""),
        author_is_bot=bool(user and user.type == "Bot"),
    )


def _issue(i: Any) -> Issue:
    user = i.user
    return Issue(
        number=int(i.number),
        title=str(i.title or ""),
        body=str(i.body or ""),
        state=str(i.state or ""),
        labels=tuple(str(label.name) for label in i.labels),
        author=str(user.login if user else ""),
        author_is_bot=bool(user and user.type == "Bot"),
    )
