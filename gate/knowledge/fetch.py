"""Fetch one remote document through the cache: fresh copy, else network, else a stale copy.

Every outcome says where the data came from and how old it is; a failure raises `FetchError` with
the reasons, and the caller falls back to the bundled snapshot. Nothing here turns a failure into
silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from gate.errors import KnowledgeError
from gate.knowledge.cache import FileCache
from gate.outside.http import HttpError, get

T = TypeVar("T")


class FetchError(KnowledgeError):
    """A remote source could not be read (network, HTTP status, or unusable content).

    `network` is True when the host did not answer at all (timeout, refused, DNS): the caller then
    skips that host's other documents instead of waiting for each to time out.
    """

    def __init__(self, message: str, *, hint: str | None = None, network: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.network = network


def http_document(url: str, timeout: float) -> bytes:
    """One document through the boundary's GET; a failure is a `FetchError` the caller falls back on."""
    try:
        return get(url, timeout=timeout)
    except HttpError as e:
        raise FetchError(e.message, network=e.network) from e


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
