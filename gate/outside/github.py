"""The only module that imports PyGithub (lazily): REST calls in, plain frozen data out.

It sits in the boundary package (`gate.outside`, see docs/ARCHITECTURE.md) because two stages
talk to GitHub: the release-data reader lists erlang/otp's releases, tags and advisories
(`list_repo_records`, any token or none), and the reporting sinks write comments, issues and check
runs (`GitHubClient`, the workflow's token).

`Github(auth=Auth.Token(...), base_url=GITHUB_API_URL)` so GitHub Enterprise Server works. Retries are
bounded: a few quick retries on 5xx, and a rate-limit wait is capped (`max_rate_limit_wait`) instead of
sleeping until the reset, which can be an hour away; `Retry-After` is not honoured for the same reason.
Every PyGithub exception becomes `GitHubApiError` with its HTTP status, so callers can turn a 403 on a
fork's read-only token into a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from gate.errors import GitHubError
from gate.outside.http import USER_AGENT

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

DEFAULT_API_URL = "https://api.github.com"


class GitHubApiError(GitHubError):
    """A GitHub REST call failed; `status` is the HTTP status (0 when no reply came).

    `network` is True when the host did not answer at all (timeout, refused, DNS).
    """

    def __init__(
        self, message: str, *, status: int, hint: str | None = None, network: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.network = network

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


@dataclass(frozen=True)
class PullRequest:
    number: int
    body: str
    html_url: str


@dataclass(frozen=True)
class FileContent:
    text: str
    sha: str  # the blob sha the contents API needs to replace the file


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
            user_agent=USER_AGENT,
            lazy=True,  # no round trip to fetch the repository before the first real call
        )
        self.repository = repository
        self._repo: Repository = self._gh.get_repo(repository)

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
        given = {"title": title, "body": body, "state": state}
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
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

    # -- pull requests: review suggestions and the pin-bump pull request (issue 10) ----------
    def list_review_comments(self, number: int) -> list[Comment]:
        def run() -> list[Comment]:
            return [_comment(c) for c in self._repo.get_pull(number).get_review_comments()]

        return list(self._call(f"list review comments of #{number}", run))

    def create_review_comment(
        self, number: int, commit: str, path: str, line: int, body: str
    ) -> None:
        def run() -> None:
            pull = self._repo.get_pull(number)
            pull.create_review_comment(
                body, self._repo.get_commit(commit), path, line=line, side="RIGHT"
            )

        self._call(f"review comment on #{number} {path}:{line}", run)

    def default_branch(self) -> str:
        return str(self._call("GET repository", lambda: self._repo.default_branch))

    def branch_sha(self, branch: str) -> str | None:
        """The commit a branch points at; None when there is no such branch."""
        try:
            return str(
                self._call(
                    f"GET branch {branch}",
                    lambda: self._repo.get_git_ref(f"heads/{branch}").object.sha,
                )
            )
        except GitHubApiError as e:
            if e.status == 404:
                return None
            raise

    def set_branch(self, branch: str, sha: str) -> None:
        """Point `branch` at `sha`, creating it or moving it (force)."""

        def run() -> None:
            ref = self._repo.get_git_ref(f"heads/{branch}")
            _ = ref.object  # load it: the loaded ref carries the URL its update goes to
            ref.edit(sha, force=True)

        if self.branch_sha(branch) is None:
            self._call(
                f"create branch {branch}",
                lambda: self._repo.create_git_ref(f"refs/heads/{branch}", sha),
            )
        else:
            self._call(f"move branch {branch}", run)

    def get_file(self, path: str, ref: str) -> FileContent | None:
        def run() -> FileContent | None:
            found = self._repo.get_contents(path, ref=ref)
            if isinstance(found, list):
                return None
            return FileContent(found.decoded_content.decode("utf-8", "replace"), str(found.sha))

        try:
            result: FileContent | None = self._call(f"GET {path}@{ref}", run)
        except GitHubApiError as e:
            if e.status == 404:
                return None
            raise
        return result

    def update_file(self, path: str, message: str, text: str, sha: str, branch: str) -> None:
        self._call(
            f"update {path} on {branch}",
            lambda: self._repo.update_file(path, message, text.encode(), sha, branch=branch),
        )

    def find_pull(self, head_branch: str) -> PullRequest | None:
        def run() -> PullRequest | None:
            head = f"{self.repository.split('/')[0]}:{head_branch}"
            for pr in self._repo.get_pulls(state="open", head=head):
                return PullRequest(int(pr.number), str(pr.body or ""), str(pr.html_url or ""))
            return None

        result: PullRequest | None = self._call(f"list pull requests from {head_branch}", run)
        return result

    def create_pull(self, title: str, body: str, head: str, base: str) -> PullRequest:
        pr = self._call(
            f"create pull request from {head}",
            lambda: self._repo.create_pull(base=base, head=head, title=title, body=body),
        )
        return PullRequest(int(pr.number), str(pr.body or ""), str(pr.html_url or ""))

    def edit_pull(self, number: int, *, title: str, body: str, state: str = "open") -> None:
        self._call(
            f"edit pull request #{number}",
            lambda: self._repo.get_pull(number).edit(title=title, body=body, state=state),
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


# -- read-only listings of a public repository (release data; token optional) ---------------------
@dataclass(frozen=True)
class ListingOptions:
    """How to reach the API for a listing: base URL (GHES or a test server), token, bounds."""

    api_url: str = DEFAULT_API_URL
    token: str | None = None
    repo: str = "erlang/otp"
    timeout: float = 10.0
    retries: int = 1
    max_items: int = (
        1500  # erlang/otp has ~600 OTP release tags; the cap bounds a runaway pagination
    )


def _listing_client(opts: ListingOptions) -> Github:
    from github import Auth, Github
    from urllib3.util.retry import Retry

    # PyGithub's default retry waits out rate limits for minutes; a gate must fail fast and fall
    # back to its bundled data instead, so retry only server errors, a bounded number of times,
    # without sleeping.
    retry = Retry(
        total=opts.retries,
        connect=0,
        read=0,
        status=opts.retries,
        backoff_factor=0,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    return Github(
        base_url=opts.api_url.rstrip("/"),
        auth=Auth.Token(opts.token) if opts.token else None,
        timeout=max(1, round(opts.timeout)),
        retry=retry,
        per_page=100,
        seconds_between_requests=None,
        user_agent=USER_AGENT,
        lazy=True,  # no `GET /repos/{repo}` round trip before the listing
    )


def _str(value: object, field: str) -> str:
    # PyGithub builds objects from any JSON it gets and leaves missing fields as None; a reply
    # that lacks the field GitHub always sends is not the API we asked (an HTML error page).
    if not isinstance(value, str):
        raise ValueError(f"a record without a '{field}' string")
    return value


def _listing(repo: Repository, what: str) -> Iterable[Any]:
    if what == "releases":
        return (
            {
                "tag": _str(r.tag_name, "tag_name"),
                "published_at": r.published_at.isoformat() if r.published_at else None,
                "prerelease": bool(r.prerelease),
                "draft": bool(r.draft),
            }
            for r in repo.get_releases()
        )
    if what == "tags":
        return (_str(t.name, "name") for t in repo.get_tags())
    if what == "security-advisories":
        return (
            dict(a.raw_data) if _str(a.ghsa_id, "ghsa_id") else {}
            for a in repo.get_repository_advisories()
        )
    raise ValueError(f"unknown listing {what!r}")


def list_repo_records(opts: ListingOptions, what: str) -> list[Any]:
    """One paginated listing (`releases`, `tags`, `security-advisories`) as plain JSON values.

    `releases` -> `[{"tag", "published_at", "prerelease", "draft"}]`; `tags` -> tag names;
    `security-advisories` -> GitHub's own advisory records. Every failure -> `GitHubApiError`.
    """
    import github
    import requests

    where = f"{opts.api_url.rstrip('/')}/repos/{opts.repo}/{what}"
    logging.getLogger("github").setLevel(logging.CRITICAL)  # remote text stays out of the log
    try:
        repo = _listing_client(opts).get_repo(opts.repo)
        return list(islice(_listing(repo, what), opts.max_items))
    except github.RateLimitExceededException as e:
        raise GitHubApiError(
            f"{where}: GitHub rate limit reached",
            status=int(e.status or 403),
            hint="pass a token (the action's GITHUB_TOKEN, or GITHUB_TOKEN in the environment) to get a higher limit",
        ) from e
    except github.GithubException as e:
        message = e.data.get("message", "") if isinstance(e.data, dict) else ""
        raise GitHubApiError(
            f"{where}: HTTP {e.status} {str(message)[:200]}", status=int(e.status or 0)
        ) from e
    except requests.exceptions.RequestException as e:
        # requests reports a read timeout under a retry policy as a ConnectionError.
        if isinstance(e, requests.exceptions.Timeout) or "timed out" in str(e):
            raise GitHubApiError(
                f"{where}: timed out after {opts.timeout:g}s", status=0, network=True
            ) from e
        raise GitHubApiError(
            f"{where}: unreachable ({type(e).__name__})", status=0, network=True
        ) from e
    except (KeyError, TypeError, ValueError, AttributeError, AssertionError) as e:
        # A reply that is not the shape GitHub documents (a proxy's HTML page, a truncated body).
        raise GitHubApiError(f"{where}: malformed reply ({type(e).__name__}: {e})", status=0) from e
