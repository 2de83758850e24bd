"""One bounded HTTP GET for every download: a size cap, a deadline, bounded retries, one User-Agent.

`get` reads a document into memory; `download` streams a large file into an open file and returns
its sha256. Both raise `HttpError` (status 0 and `network=True` when the host did not answer), which
each caller turns into its own stage's error with a fix that fits its user.
"""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import BinaryIO

from gate import __version__
from gate.errors import GateError

USER_AGENT = f"otp-hardening-gate/{__version__} (+https://github.com/erlang/otp data reader)"
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
_CHUNK = 1 << 16


class HttpError(GateError):
    """A GET failed: `status` is the HTTP status (0: no reply); `network` when no host answered."""

    kind = "network"

    def __init__(
        self, message: str, *, status: int = 0, network: bool = False, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.network = network


def _request(url: str, headers: Mapping[str, str] | None) -> urllib.request.Request:
    if not url.startswith(("https://", "http://")):
        # urllib would also open file:// and ftp:// URLs; the gate only ever fetches HTTP(S).
        raise HttpError(f"{url}: only http(s) URLs can be fetched")
    return urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})


def get(
    url: str,
    *,
    timeout: float,
    retries: int = 1,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """GET `url` into memory, refusing more than `max_bytes`; `timeout` bounds each attempt.

    Server errors (5xx) are retried `retries` times; a host that does not answer is not, so a
    dead host costs one timeout, not several.
    """
    req = _request(url, headers)
    last: Exception | None = None
    for _attempt in range(retries + 1):
        deadline = time.monotonic() + timeout
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # http(s) only, see above
                chunks, size = [], 0
                while chunk := resp.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise HttpError(f"{url}: larger than {max_bytes} bytes; not read")
                    if time.monotonic() > deadline:
                        raise HttpError(f"{url}: no complete reply within {timeout:g}s")
                    chunks.append(chunk)
                return b"".join(chunks)
        except urllib.error.HTTPError as e:
            last = e
            if e.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            last = e
            break
    raise _error(url, last)


def download(url: str, out: BinaryIO, *, timeout: float, max_bytes: int) -> str:
    """Stream `url` into `out` (at most `max_bytes`); its sha256. `timeout` is per socket read."""
    req = _request(url, None)
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # http(s) only, see above
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise HttpError(
                        f"{url}: larger than {max_bytes} bytes; refusing to download more"
                    )
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise _error(url, e) from e
    return digest.hexdigest()


def _error(url: str, e: Exception | None) -> HttpError:
    if isinstance(e, urllib.error.HTTPError):
        return HttpError(f"{url}: HTTP {e.code} {e.reason}", status=e.code)
    return HttpError(f"{url}: {_describe(e)}", network=True)


def _describe(e: Exception | None) -> str:
    if isinstance(e, urllib.error.URLError):
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return "timed out"
        return f"unreachable ({reason})"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if e is None:
        return "no reply"
    return str(e) or type(e).__name__
