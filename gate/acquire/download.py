"""Downloads for the prebuilt and source-build sources: timeouts, size caps, sha256, a cache by digest.

Everything fetched here is untrusted: the digest is checked before a file enters the cache, and a
cached file is re-hashed before use, so a truncated or tampered cache entry is never trusted.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gate.acquire.archive import ArchiveLimits, GiB
from gate.acquire.extract import extract_all
from gate.errors import AcquireError
from gate.outside.http import HttpError, download, get

DEFAULT_TIMEOUT = 60.0  # seconds per socket operation (connect, each read), not for the whole file
MAX_DOWNLOAD_BYTES = 1 << 30  # an OTP tarball is 50-120 MB; more than 1 GiB is not an OTP tarball
_SHA256_RX = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: str) -> bool:
    return bool(_SHA256_RX.fullmatch(value))


def acquire_error(e: HttpError, mirror_option: str) -> AcquireError:
    """The boundary's GET failure as this stage's error, with a fix naming the user's option."""
    hint = net_hint(mirror_option) if e.network else _http_hint(e.status)
    return AcquireError(e.message, hint=hint)


def get_index(url: str, *, timeout: float, mirror_option: str, limit: int = 16 << 20) -> bytes:
    """A small document (an index, a checksum list) through the boundary's bounded GET."""
    try:
        return get(url, timeout=timeout, max_bytes=limit)
    except HttpError as e:
        raise acquire_error(e, mirror_option) from e


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
    mirror_option: str = "the mirror option",
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
        try:
            with os.fdopen(fd, "wb") as out:
                got = download(url, out, timeout=timeout, max_bytes=max_bytes)
        except HttpError as e:
            raise acquire_error(e, mirror_option) from e
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


def net_hint(mirror_option: str) -> str:
    """The fix for an unreachable download, naming the option of the user's front end."""
    return f"check the URL and your network; an air-gapped setup can point {mirror_option} at a local copy"


def _http_hint(code: int) -> str | None:
    if code == 404:
        return "no such file on the server: check the OTP version, architecture and mirror URL"
    return None
