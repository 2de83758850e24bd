"""Fetch one remote document through the cache: fresh copy, else network, else a stale copy.

Every outcome says where the data came from and how old it is; a failure raises `FetchError` with
the reasons, and the caller falls back to the bundled snapshot. Nothing here turns a failure into
silence.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from gate.errors import KnowledgeError
from gate.knowledge.cache import FileCache

T = TypeVar("T")

USER_AGENT = "otp-hardening-gate (+https://github.com/erlang/otp data reader)"
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024


class FetchError(KnowledgeError):
    """A remote source could not be read (network, HTTP status, or unusable content).

    `network` is True when the host did not answer at all (timeout, refused, DNS): the caller then
    skips that host's other documents instead of waiting for each to time out.
    """

    def __init__(self, message: str, *, hint: str | None = None, network: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.network = network


class Origin(StrEnum):
    LIVE = "live"  # fetched now
    CACHE = "cache"  # a cached copy younger than the TTL; no request made
    STALE_CACHE = "stale-cache"  # the network failed; an older cached copy stands in


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    origin: Origin
    fetched_at: datetime
    url: str
    error: str | None = None  # why a stale copy was used


def http_get(
    url: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    retries: int = 1,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> bytes:
    """GET `url` with a per-operation timeout and an overall deadline of `timeout` per attempt.

    Server errors (5xx) are retried `retries` times; timeouts are not, so a dead host costs one
    timeout, not several.
    """
    if not url.startswith(("https://", "http://")):
        # urllib would also open file:// and ftp:// URLs; a data source is only ever HTTP(S).
        raise FetchError(f"{url}: only http(s) URLs can be fetched")
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    last: Exception | None = None
    for _attempt in range(retries + 1):
        deadline = time.monotonic() + timeout
        try:
            with urllib.request.urlopen(
                req, timeout=timeout
            ) as resp:  # http(s) only, checked above
                chunks, size = [], 0
                while chunk := resp.read(65536):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"{url}: larger than {max_bytes} bytes; not read")
                    if time.monotonic() > deadline:
                        raise FetchError(f"{url}: no complete reply within {timeout:g}s")
                    chunks.append(chunk)
                return b"".join(chunks)
        except urllib.error.HTTPError as e:
            last = e
            if e.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            last = e
            break
    network = not isinstance(last, urllib.error.HTTPError)
    raise FetchError(f"{url}: {_describe(last)}", network=network) from last


def _describe(e: Exception | None) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        reason = e.reason
        return "timed out" if isinstance(reason, TimeoutError) else f"unreachable ({reason})"
    if isinstance(e, TimeoutError):
        return "timed out"
    return str(e) or type(e).__name__


def fetch_document(
    key: str,
    url: str,
    download: Callable[[], bytes],
    parse: Callable[[bytes], T],
    cache: FileCache,
) -> Fetched[T]:
    """A fresh cached copy, else `download()`, else a stale cached copy; parse before trusting.

    Content that does not parse is never cached, so a malformed reply cannot poison later runs.
    """
    entry = cache.get(key)
    if entry and cache.is_fresh(entry):
        try:
            return Fetched(parse(entry.data), Origin.CACHE, entry.fetched_at, entry.url)
        except KnowledgeError:
            entry = None  # damaged copy: fetch again
    try:
        data = download()
        value = parse(data)
    except KnowledgeError as e:
        failure = e
    else:
        stored = cache.put(key, url, data)
        now = stored.fetched_at if stored else cache.clock()
        return Fetched(value, Origin.LIVE, now, url)
    if entry is not None:
        try:
            return Fetched(
                parse(entry.data), Origin.STALE_CACHE, entry.fetched_at, entry.url, failure.message
            )
        except KnowledgeError:
            pass
    if isinstance(failure, FetchError):
        raise failure
    raise FetchError(failure.message) from failure
