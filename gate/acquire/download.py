"""Downloads for the prebuilt and source-build sources: timeouts, size caps, sha256, a cache by digest.

Everything fetched here is untrusted: the digest is checked before a file enters the cache, and a
cached file is re-hashed before use, so a truncated or tampered cache entry is never trusted.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gate import __version__ as _gate_version
from gate.acquire.archive import ArchiveLimits, GiB
from gate.acquire.extract import extract_all
from gate.errors import AcquireError

DEFAULT_TIMEOUT = 60.0  # seconds per socket operation (connect, each read), not for the whole file
MAX_DOWNLOAD_BYTES = 1 << 30  # an OTP tarball is 50-120 MB; more than 1 GiB is not an OTP tarball
_CHUNK = 1 << 16
_SHA256_RX = re.compile(r"[0-9a-f]{64}")


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """`$OTP_GATE_CACHE`, else `$XDG_CACHE_HOME/otp-gate`, else `$HOME/.cache/otp-gate`.

    Read from the run's environment (from `main(argv, environ)`), not the process's: a caller that
    says OTP_GATE_CACHE gets exactly that folder (issue 9).
    """
    explicit = environ.get("OTP_GATE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "otp-gate"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache" / "otp-gate"


def is_sha256(value: str) -> bool:
    return bool(_SHA256_RX.fullmatch(value))


def _request(url: str) -> urllib.request.Request:
    return urllib.request.Request(
        url, headers={"User-Agent": f"otp-hardening-gate/{_gate_version}"}
    )


def fetch_bytes(url: str, *, timeout: float = DEFAULT_TIMEOUT, limit: int = 16 << 20) -> bytes:
    """GET a small document (an index) into memory; AcquireError naming the URL on any failure."""
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as resp:
            data: bytes = resp.read(limit + 1)
    except urllib.error.HTTPError as e:
        raise AcquireError(f"{url}: HTTP {e.code} {e.reason}", hint=_http_hint(e.code)) from e
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        raise AcquireError(f"{url}: {_reason(e)}", hint=_NET_HINT) from e
    if len(data) > limit:
        raise AcquireError(f"{url}: larger than {limit} bytes; this is not the expected index")
    return data


@dataclass(frozen=True)
class Download:
    path: Path  # the verified file in the cache
    sha256: str
    cached: bool  # True when no request was made


def fetch_verified(
    url: str,
    cache_dir: Path,
    *,
    sha256: str | None,
    filename: str,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Download:
    """Fetch `url` into `cache_dir/<sha256>/<filename>`, refusing a digest other than `sha256`.

    With a known digest a valid cache entry is used without any request. Without one (a source
    URL the user gave no checksum for) the file is always fetched and its digest returned, so the
    caller can show it.
    """
    if sha256 is not None:
        sha256 = sha256.lower()
        if not is_sha256(sha256):
            raise AcquireError(f"{url}: expected checksum {sha256!r} is not a sha256 hex digest")
        cached = cache_dir / sha256 / filename
        if cached.is_file() and _file_sha256(cached) == sha256:
            return Download(cached, sha256, cached=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=cache_dir)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(_request(url), timeout=timeout) as resp,
            ):
                while chunk := resp.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise AcquireError(
                            f"{url}: larger than {max_bytes} bytes; refusing to download more",
                            hint="raise the limit only if this really is an OTP tarball",
                        )
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as e:
            raise AcquireError(f"{url}: HTTP {e.code} {e.reason}", hint=_http_hint(e.code)) from e
        except (TimeoutError, urllib.error.URLError, OSError) as e:
            raise AcquireError(f"{url}: {_reason(e)}", hint=_NET_HINT) from e
        got = digest.hexdigest()
        if sha256 is not None and got != sha256:
            raise AcquireError(
                f"{url}: sha256 mismatch: expected {sha256}, got {got}",
                hint="the file changed or was tampered with in transit; nothing was unpacked",
            )
        final = cache_dir / got / filename
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        return Download(final, got, cached=False)
    finally:
        tmp.unlink(missing_ok=True)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# An OTP source tree is ~13,000 files and ~350 MB unpacked, an installed OTP ~500 MB: 4 GiB and
# 100,000 members leave room for growth while still stopping a bomb early.
TARBALL_LIMITS = ArchiveLimits(max_members=100_000, max_total_bytes=4 * GiB)


def unpack_tarball(archive: Path, dest: Path, *, label: str) -> None:
    """Unpack a (gzip/xz/bzip2) tarball into `dest` with the shared safe extractor.

    `gate.acquire.archive` refuses absolute and `..` paths, links leaving `dest`, device files,
    and stops at the caps; `label` (the URL) names the archive in errors.
    """
    extract_all(archive, dest, TARBALL_LIMITS, name=label)


_NET_HINT = "check the URL and your network; an air-gapped setup can point the mirror option at a local copy"


def _http_hint(code: int) -> str | None:
    if code == 404:
        return "no such file on the server: check the OTP version, architecture and mirror URL"
    return None


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError):
        inner = e.reason
        if isinstance(inner, (socket.timeout, TimeoutError)):
            return "timed out"
        return str(inner)
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(e) or type(e).__name__
