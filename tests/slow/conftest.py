"""Fixtures for the slow end-to-end builds: Debian's real OTP source, served from 127.0.0.1.

`apt-get source --download-only erlang` needs a `deb-src` line; the machine's own sources are
left alone: a private sources list and lists folder under the test cache hold it instead.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.debian_otp import cache_dir
from tests.support.fake_http import FakeServer, Response

_DEB822_SOURCES = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
_ONE_LINE_SOURCES = Path("/etc/apt/sources.list")


def _deb_src_lines() -> list[str]:
    """`deb-src` lines for the machine's own Debian mirror and suites (main only)."""
    lines: list[str] = []
    for path in _DEB822_SOURCES:
        for stanza in path.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for raw in stanza.splitlines():
                if raw.startswith("#") or ":" not in raw:
                    continue
                key, _, value = raw.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or "uris" not in fields:
                continue
            for suite in fields.get("suites", "").split():
                opts = f"[signed-by={fields['signed-by']}] " if "signed-by" in fields else ""
                lines.append(
                    f"deb-src {opts}{fields['uris']} {suite} {fields.get('components', 'main')}"
                )
    if _ONE_LINE_SOURCES.exists():
        for raw in _ONE_LINE_SOURCES.read_text().splitlines():
            if raw.startswith("deb "):
                lines.append("deb-src " + raw[len("deb ") :])
    return lines


@dataclass(frozen=True)
class DebianOtpSource:
    tarball: Path  # erlang_<v>+dfsg.orig.tar.xz
    version: str  # upstream OTP version, e.g. "25.2.3"
    sha256: str


def fetch_debian_otp_source() -> DebianOtpSource | str:
    """Download Debian's `erlang` orig tarball once into the test cache; a skip reason on failure."""
    dest = cache_dir() / "debian-otp-src"
    files = dest / "files"
    if not (files / ".complete").exists():
        if not shutil.which("apt-get"):
            return "apt-get not available: Debian's OTP source cannot be fetched"
        lines = _deb_src_lines()
        if not lines:
            return "no Debian mirror found in /etc/apt: cannot add a private deb-src entry"
        apt = dest / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text("\n".join(lines) + "\n")
        opts = [
            "-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={apt / 'lists'}",
        ]  # fmt: skip
        update = subprocess.run(
            ["apt-get", *opts, "update"], capture_output=True, text=True, check=False
        )
        if update.returncode != 0:
            return f"apt-get update (private deb-src) failed: {update.stderr.strip()[-300:]}"
        files.mkdir(parents=True, exist_ok=True)
        got = subprocess.run(
            ["apt-get", *opts, "source", "--download-only", "erlang"],
            cwd=files,
            capture_output=True,
            text=True,
            check=False,
        )
        if got.returncode != 0:
            return f"apt-get source --download-only erlang failed: {got.stderr.strip()[-300:]}"
        (files / ".complete").write_text("ok\n")
    origs = sorted(files.glob("erlang_*.orig.tar.*"))
    if not origs:
        return f"no erlang_*.orig.tar.* in {files}"
    orig = origs[-1]
    m = re.match(r"erlang_(\d+(?:\.\d+)*)", orig.name)
    if not m:
        return f"cannot read the OTP version from {orig.name}"
    digest = hashlib.sha256(orig.read_bytes()).hexdigest()
    return DebianOtpSource(orig, m.group(1), digest)


@pytest.fixture(scope="session")
def debian_otp_source() -> DebianOtpSource:
    result = fetch_debian_otp_source()
    if isinstance(result, str):
        pytest.skip(result)
    return result


@dataclass(frozen=True)
class ServedSource:
    url: str
    source: DebianOtpSource


@pytest.fixture(scope="session")
def served_otp_source(debian_otp_source: DebianOtpSource) -> Iterator[ServedSource]:
    """The orig tarball on a local HTTP server, so the builder's real download code runs."""
    data = debian_otp_source.tarball.read_bytes()
    with FakeServer() as srv:
        srv.route("GET", r"/src/[^/]+", Response(200, data))
        yield ServedSource(f"{srv.url}/src/{debian_otp_source.tarball.name}", debian_otp_source)


@pytest.fixture(scope="session")
def build_cache() -> Path:
    """Where the slow tests keep their builds: reruns reuse a build of the same version and flags."""
    path = cache_dir() / "otp-builds"
    path.mkdir(parents=True, exist_ok=True)
    return path
