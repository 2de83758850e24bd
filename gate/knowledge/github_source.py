"""Read erlang/otp's releases, tags and repository advisories from the GitHub REST API.

The REST calls go through `gate.outside.github` (the one PyGithub importer, imported lazily: it costs
0.2-0.3 s); this module keeps the bytes the cache stores and the parsers that turn them into model
types. Retries and timeouts are bounded, so a slow or failing API costs seconds, not minutes.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from gate.knowledge.fetch import FetchError
from gate.model.otp import OtpVersion, Release
from gate.outside.github import ListingOptions

OTP_REPO = "erlang/otp"


def _collect(opts: ListingOptions, what: str) -> bytes:
    """Run one listing through the GitHub boundary and return its records as JSON bytes."""
    from gate.outside.github import GitHubApiError, list_repo_records

    try:
        records = list_repo_records(opts, what)
    except GitHubApiError as e:
        raise FetchError(e.message, hint=e.hint, network=e.network) from e
    return json.dumps(records).encode()


def fetch_releases(opts: ListingOptions) -> bytes:
    """`GET /repos/{repo}/releases`, as `[{"tag", "published_at", "prerelease", "draft"}]`."""
    return _collect(opts, "releases")


def fetch_tags(opts: ListingOptions) -> bytes:
    """`GET /repos/{repo}/tags`, as a list of tag names (tags carry no date)."""
    return _collect(opts, "tags")


def fetch_advisories(opts: ListingOptions) -> bytes:
    """`GET /repos/{repo}/security-advisories` (published ones), as GitHub's own JSON records."""
    return _collect(opts, "security-advisories")


# -- parsers (pure: bytes from the cache or the network -> model types) --------------------------
def _records(data: bytes, what: str) -> list[Any]:
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FetchError(f"cached GitHub {what} are not JSON: {e}") from e
    except RecursionError:  # `[[[[...` nested past the parser's stack: not a listing
        raise FetchError(f"cached GitHub {what} are nested too deeply to be a listing") from None
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
        out.setdefault(version, Release(version, _published_day(r.get("published_at"), tag)))
    if not out:
        raise FetchError("GitHub listed no OTP-<version> releases; the reply is not usable")
    return tuple(sorted(out.values(), key=lambda r: r.version))


def _published_day(published: object, tag: str) -> date | None:
    """A release's publication day; a malformed date makes the whole reply unusable (a damaged or
    poisoned cache is then treated as absent, never a crash)."""
    if published is None:
        return None
    if not isinstance(published, str):
        raise FetchError(f"GitHub release {tag[:40]!r}: published_at is not a date")
    try:
        return datetime.fromisoformat(published.replace("Z", "+00:00")).date()
    except ValueError:
        raise FetchError(
            f"GitHub release {tag[:40]!r}: published_at {published[:40]!r} is not a date"
        ) from None


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
