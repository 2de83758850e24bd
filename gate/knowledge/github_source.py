"""Read erlang/otp's releases, tags and repository advisories from the GitHub REST API (PyGithub).

PyGithub is imported lazily (it costs 0.2-0.3 s) and never leaves this module: each function returns
plain JSON bytes of plain records, which the cache stores and `parse_*` turn into model types. Retries
and timeouts are bounded, so a slow or failing API costs seconds, not minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from gate.knowledge.fetch import FetchError
from gate.model.otp import OtpVersion, Release

if TYPE_CHECKING:
    from github import Github

DEFAULT_API_URL = "https://api.github.com"
OTP_REPO = "erlang/otp"
PER_PAGE = 100
MAX_ITEMS = 1500  # erlang/otp has ~600 OTP release tags; the cap bounds a runaway pagination


@dataclass(frozen=True)
class GithubOptions:
    """How to reach the API: base URL (GHES or a test server), optional token, bounds."""

    api_url: str = DEFAULT_API_URL
    token: str | None = None
    repo: str = OTP_REPO
    timeout: float = 10.0
    retries: int = 1
    max_items: int = MAX_ITEMS


def _client(opts: GithubOptions) -> Github:
    from github import Auth, Github
    from urllib3.util.retry import Retry

    # PyGithub's default retry waits out rate limits for minutes; a gate must fail fast and fall
    # back instead, so retry only server errors, a bounded number of times, without sleeping.
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
        per_page=PER_PAGE,
        seconds_between_requests=None,
        user_agent="otp-hardening-gate",
        lazy=True,  # no `GET /repos/erlang/otp` round trip before the listing
    )


def _collect(
    opts: GithubOptions,
    what: str,
    items: Callable[[Any], Iterable[Any]],
    convert: Callable[[Any], Any],
) -> bytes:
    """Run one paginated listing and return its records as JSON; every failure -> FetchError."""
    import github
    import requests

    where = f"{opts.api_url.rstrip('/')}/repos/{opts.repo}/{what}"
    try:
        repo = _client(opts).get_repo(opts.repo)
        records = [convert(x) for x in islice(items(repo), opts.max_items)]
    except github.RateLimitExceededException as e:
        raise FetchError(
            f"{where}: GitHub rate limit reached",
            hint="pass a token (the action's GITHUB_TOKEN, or --github-token) to get a higher limit",
        ) from e
    except github.GithubException as e:
        raise FetchError(f"{where}: HTTP {e.status} {_message(e.data)}") from e
    except requests.exceptions.RequestException as e:
        # requests reports a read timeout under a retry policy as a ConnectionError.
        if isinstance(e, requests.exceptions.Timeout) or "timed out" in str(e):
            raise FetchError(f"{where}: timed out after {opts.timeout:g}s", network=True) from e
        raise FetchError(f"{where}: unreachable ({type(e).__name__})", network=True) from e
    except (KeyError, TypeError, ValueError, AttributeError, AssertionError) as e:
        # A reply that is not the shape GitHub documents (a proxy's HTML page, a truncated body).
        raise FetchError(f"{where}: malformed reply ({type(e).__name__}: {e})") from e
    return json.dumps(records).encode()


def _message(data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:200]
    return ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _str(value: object, field: str) -> str:
    # PyGithub builds objects from any JSON it gets and leaves missing fields as None; a reply
    # that lacks the field GitHub always sends is not the API we asked (an HTML error page).
    if not isinstance(value, str):
        raise ValueError(f"a record without a '{field}' string")
    return value


def fetch_releases(opts: GithubOptions) -> bytes:
    """`GET /repos/{repo}/releases`, as `[{"tag", "published_at", "prerelease", "draft"}]`."""
    return _collect(
        opts,
        "releases",
        lambda repo: repo.get_releases(),
        lambda r: {
            "tag": _str(r.tag_name, "tag_name"),
            "published_at": _iso(r.published_at),
            "prerelease": bool(r.prerelease),
            "draft": bool(r.draft),
        },
    )


def fetch_tags(opts: GithubOptions) -> bytes:
    """`GET /repos/{repo}/tags`, as a list of tag names (tags carry no date)."""
    return _collect(opts, "tags", lambda repo: repo.get_tags(), lambda t: _str(t.name, "name"))


def fetch_advisories(opts: GithubOptions) -> bytes:
    """`GET /repos/{repo}/security-advisories` (published ones), as GitHub's own JSON records."""
    return _collect(
        opts,
        "security-advisories",
        lambda repo: repo.get_repository_advisories(),
        lambda a: dict(a.raw_data) if _str(a.ghsa_id, "ghsa_id") else {},
    )


# -- parsers (pure: bytes from the cache or the network -> model types) --------------------------
def _records(data: bytes, what: str) -> list[Any]:
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FetchError(f"cached GitHub {what} are not JSON: {e}") from e
    if not isinstance(value, list):
        raise FetchError(f"cached GitHub {what} are not a list")
    return value


def parse_releases(data: bytes) -> tuple[Release, ...]:
    """OTP releases (`OTP-<v>` tags, drafts skipped) with their publication dates."""
    out: dict[OtpVersion, Release] = {}
    for r in _records(data, "releases"):
        if not isinstance(r, dict) or r.get("draft"):
            continue
        tag = str(r.get("tag", ""))
        version = OtpVersion.try_parse(tag) if tag.startswith("OTP-") else None
        if version is None:
            continue
        published = r.get("published_at")
        day = datetime.fromisoformat(published).date() if isinstance(published, str) else None
        out.setdefault(version, Release(version, day))
    if not out:
        raise FetchError("GitHub listed no OTP-<version> releases; the reply is not usable")
    return tuple(sorted(out.values(), key=lambda r: r.version))


def parse_tags(data: bytes) -> tuple[OtpVersion, ...]:
    """OTP versions named by `OTP-<v>` tags."""
    versions = {
        v
        for t in _records(data, "tags")
        if isinstance(t, str) and t.startswith("OTP-") and (v := OtpVersion.try_parse(t))
    }
    if not versions:
        raise FetchError("GitHub listed no OTP-<version> tags; the reply is not usable")
    return tuple(sorted(versions))


def parse_advisory_records(data: bytes) -> tuple[dict[str, Any], ...]:
    """Repository advisory records, checked to be objects (parsed further by `advisories`)."""
    records = _records(data, "advisories")
    if not all(isinstance(r, dict) and r.get("ghsa_id") for r in records):
        raise FetchError("GitHub advisories reply has records without 'ghsa_id'")
    return tuple(records)
