"""builds.hex.pm prebuilt OTP: a local server serves builds.txt and a tarball of Debian's real OTP."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from gate.acquire.prebuilt import (
    DEFAULT_UBUNTU,
    PrebuiltSource,
    normalize_arch,
    normalize_ubuntu,
    parse_index,
)
from gate.errors import AcquireError, UnsafeArchiveError, UsageError
from tests.support.fake_http import FakeServer, Response

# The real builds.txt snapshot bundled with the package (copied from shared/data/otp/), so the
# test stands alone in a clone without ../shared.
REAL_BUILDS_TXT = Path(__file__).resolve().parents[2] / "gate" / "knowledge" / "data" / "builds.txt"
VERSION = "25.2.3"
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"
BASE = "/builds/otp/amd64/ubuntu-24.04"
# What setup-beam would run; the gate must never run it. If it ever did, this marker would appear.
INSTALL_SCRIPT = b'#!/bin/sh\ntouch "$(dirname "$0")/INSTALL-WAS-RUN"\n'


def _otp_tarball(debian_otp: Path, top: str) -> bytes:
    """Debian's real OTP root in the layout of a builds.hex.pm tarball: `<top>/{Install,erts-*,lib,...}`.

    Only erts, crypto and the release files go in, to keep the test quick; Debian's symlinks to
    /usr/share/javascript are left out (they point outside the tree and real tarballs have files).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(f"{top}/Install")
        info.size = len(INSTALL_SCRIPT)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(INSTALL_SCRIPT))
        for sub in ("bin", "releases", *(p.name for p in debian_otp.glob("erts-*"))):
            tar.add(debian_otp / sub, f"{top}/{sub}")
        for app in debian_otp.glob("lib/crypto-*"):
            tar.add(app, f"{top}/lib/{app.name}")
    return buf.getvalue()


def _builds_txt(name: str, sha256: str) -> str:
    # Two real lines around ours, so the parser sees the real format, not only our line.
    real = REAL_BUILDS_TXT.read_text().splitlines()
    return "\n".join([real[0], f"{name} {GIT_SHA} 2026-04-24T21:11:44Z {sha256}", real[-1]]) + "\n"


@dataclass
class Mirror:
    srv: FakeServer
    tarball: bytes
    sha256: str

    @property
    def url(self) -> str:
        return self.srv.url


@pytest.fixture(scope="module")
def otp_tarball(debian_otp: Path) -> bytes:
    return _otp_tarball(debian_otp, f"OTP-{VERSION}")


@pytest.fixture
def mirror(otp_tarball: bytes) -> Iterator[Mirror]:
    digest = hashlib.sha256(otp_tarball).hexdigest()
    with FakeServer() as srv:
        srv.route("GET", f"{BASE}/builds.txt", Response(200, _builds_txt(f"OTP-{VERSION}", digest)))
        srv.route("GET", f"{BASE}/OTP-{VERSION}.tar.gz", Response(200, otp_tarball))
        yield Mirror(srv, otp_tarball, digest)


def _source(mirror: Mirror, tmp_path: Path, **kw: object) -> PrebuiltSource:
    args: dict[str, object] = {
        "version": VERSION,
        "mirror": mirror.url,
        "arch": "amd64",
        "ubuntu": "ubuntu-24.04",
        "cache_dir": tmp_path / "cache",
        "timeout": 5.0,
        "environ": {},
    }
    args.update(kw)
    return PrebuiltSource(**args)  # type: ignore[arg-type]


def test_verified_download_unpacks_debian_files_without_running_install(
    mirror: Mirror, tmp_path: Path, debian_otp: Path
) -> None:
    (tree,) = _source(mirror, tmp_path).acquire(tmp_path / "work")
    assert tree.root == tmp_path / "work" / f"prebuilt-OTP-{VERSION}" / f"OTP-{VERSION}"
    erts = next(debian_otp.glob("erts-*")).name
    got = tree.root / erts / "bin" / "beam.smp"
    assert got.read_bytes() == (debian_otp / erts / "bin" / "beam.smp").read_bytes()
    assert (tree.root / "releases" / "25" / "OTP_VERSION").read_text().strip() == VERSION
    assert not (tree.root / "INSTALL-WAS-RUN").exists()
    assert tree.origin.method == "prebuilt"
    assert mirror.sha256 in tree.origin.description
    assert tree.display_root == f"{mirror.url}{BASE}/OTP-{VERSION}.tar.gz"
    # Cached under its digest, byte for byte.
    cached = tmp_path / "cache" / "prebuilt" / mirror.sha256 / f"OTP-{VERSION}.tar.gz"
    assert cached.read_bytes() == mirror.tarball


def test_the_cache_follows_the_given_environment(mirror: Mirror, tmp_path: Path) -> None:
    # OTP_GATE_CACHE from main(environ), not the process environment, says where downloads go.
    env = {"OTP_GATE_CACHE": str(tmp_path / "given"), "HOME": str(tmp_path / "home")}
    _source(mirror, tmp_path, cache_dir=None, environ=env).acquire(tmp_path / "w")
    assert (tmp_path / "given" / "prebuilt" / mirror.sha256 / f"OTP-{VERSION}.tar.gz").is_file()
    home_only = {"HOME": str(tmp_path / "home")}
    _source(mirror, tmp_path, cache_dir=None, environ=home_only).acquire(tmp_path / "w2")
    assert (tmp_path / "home" / ".cache" / "otp-gate" / "prebuilt" / mirror.sha256).is_dir()


def test_accepts_otp_prefixed_version(mirror: Mirror, tmp_path: Path) -> None:
    (tree,) = _source(mirror, tmp_path, version=f"OTP-{VERSION}").acquire(tmp_path / "w")
    assert tree.root.name == f"OTP-{VERSION}"


def test_cache_hit_makes_no_second_tarball_request(mirror: Mirror, tmp_path: Path) -> None:
    src = _source(mirror, tmp_path)
    src.acquire(tmp_path / "w1")
    (tree,) = src.acquire(tmp_path / "w2")
    assert (tree.root / "lib").is_dir()
    assert len(mirror.srv.requests_to("GET", rf"{BASE}/OTP-{VERSION}\.tar\.gz")) == 1
    # The index is read each time: its digest is what says the cached file is still current.
    assert len(mirror.srv.requests_to("GET", rf"{BASE}/builds\.txt")) == 2


def test_tampered_cache_entry_is_fetched_again(mirror: Mirror, tmp_path: Path) -> None:
    src = _source(mirror, tmp_path)
    src.acquire(tmp_path / "w1")
    cached = tmp_path / "cache" / "prebuilt" / mirror.sha256 / f"OTP-{VERSION}.tar.gz"
    cached.write_bytes(b"not the tarball")
    src.acquire(tmp_path / "w2")
    assert len(mirror.srv.requests_to("GET", rf"{BASE}/OTP-{VERSION}\.tar\.gz")) == 2
    assert cached.read_bytes() == mirror.tarball


def test_wrong_checksum_is_refused_and_nothing_unpacked(mirror: Mirror, tmp_path: Path) -> None:
    wrong = "ab" * 32
    mirror.srv.route(
        "GET", f"{BASE}/builds.txt", Response(200, _builds_txt(f"OTP-{VERSION}", wrong))
    )
    with pytest.raises(AcquireError) as err:
        _source(mirror, tmp_path).acquire(tmp_path / "w")
    msg = err.value.diagnostics()
    assert f"{mirror.url}{BASE}/OTP-{VERSION}.tar.gz" in msg
    assert wrong in msg and mirror.sha256 in msg
    assert not (tmp_path / "w").exists()
    assert not list((tmp_path / "cache" / "prebuilt").rglob("*.tar.gz"))


def test_unknown_version_names_the_index_and_nearby_versions(
    mirror: Mirror, tmp_path: Path
) -> None:
    with pytest.raises(AcquireError) as err:
        _source(mirror, tmp_path, version="25.9.9").acquire(tmp_path / "w")
    assert f"{BASE}/builds.txt has no build of OTP '25.9.9'" in err.value.message
    assert err.value.hint is not None and f"OTP-{VERSION}" in err.value.hint


def test_404_on_tarball_names_url(mirror: Mirror, tmp_path: Path) -> None:
    mirror.srv.route("GET", f"{BASE}/OTP-{VERSION}.tar.gz", Response(404, b"nope"))
    with pytest.raises(AcquireError) as err:
        _source(mirror, tmp_path).acquire(tmp_path / "w")
    assert err.value.message == f"{mirror.url}{BASE}/OTP-{VERSION}.tar.gz: HTTP 404 Not Found"
    assert err.value.hint and "mirror" in err.value.hint


def test_404_on_index_for_another_ubuntu(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(AcquireError) as err:
        _source(mirror, tmp_path, ubuntu="22.04").acquire(tmp_path / "w")
    assert "/builds/otp/amd64/ubuntu-22.04/builds.txt: HTTP 404" in err.value.message


def test_slow_reply_times_out(mirror: Mirror, tmp_path: Path) -> None:
    mirror.srv.route("GET", f"{BASE}/OTP-{VERSION}.tar.gz", Response(200, b"x", delay=2.0))
    with pytest.raises(AcquireError) as err:
        _source(mirror, tmp_path, timeout=0.3).acquire(tmp_path / "w")
    assert err.value.message == f"{mirror.url}{BASE}/OTP-{VERSION}.tar.gz: timed out"


def test_slow_index_times_out(mirror: Mirror, tmp_path: Path) -> None:
    mirror.srv.route("GET", f"{BASE}/builds.txt", Response(200, "", delay=2.0))
    with pytest.raises(AcquireError, match=r"builds\.txt: timed out"):
        _source(mirror, tmp_path, timeout=0.3).acquire(tmp_path / "w")


@pytest.mark.parametrize(
    "line",
    [
        "<html>Not a builds index</html>",
        f"OTP-{VERSION} {GIT_SHA} 2026-04-24T21:11:44Z",  # no sha256
        f"OTP-{VERSION} {GIT_SHA} 2026-04-24T21:11:44Z {'z' * 64}",  # not hex
    ],
)
def test_malformed_builds_txt_names_url_and_line(mirror: Mirror, tmp_path: Path, line: str) -> None:
    real = REAL_BUILDS_TXT.read_text().splitlines()[0]
    mirror.srv.route("GET", f"{BASE}/builds.txt", Response(200, f"{real}\n{line}\n"))
    with pytest.raises(AcquireError) as err:
        _source(mirror, tmp_path).acquire(tmp_path / "w")
    assert err.value.message.startswith(f"{mirror.url}{BASE}/builds.txt:2: ")


def test_empty_builds_txt(mirror: Mirror, tmp_path: Path) -> None:
    mirror.srv.route("GET", f"{BASE}/builds.txt", Response(200, "\n"))
    with pytest.raises(AcquireError, match=r"empty builds\.txt"):
        _source(mirror, tmp_path).acquire(tmp_path / "w")


def _serve_tarball(mirror: Mirror, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    mirror.srv.route(
        "GET", f"{BASE}/builds.txt", Response(200, _builds_txt(f"OTP-{VERSION}", digest))
    )
    mirror.srv.route("GET", f"{BASE}/OTP-{VERSION}.tar.gz", Response(200, data))


def test_hostile_tarball_with_matching_digest_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    # A digest only proves the mirror served what its index says, not that the file is safe.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("OTP-x/../../escaped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    _serve_tarball(mirror, buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match=r"OTP-25\.2\.3\.tar\.gz: .*escaped"):
        _source(mirror, tmp_path).acquire(tmp_path / "w")
    assert not (tmp_path / "escaped").exists()


def test_truncated_tarball_with_matching_digest(mirror: Mirror, tmp_path: Path) -> None:
    _serve_tarball(mirror, mirror.tarball[: len(mirror.tarball) // 2])
    with pytest.raises(AcquireError, match=r"OTP-25\.2\.3\.tar\.gz: "):
        _source(mirror, tmp_path).acquire(tmp_path / "w")


def test_tarball_without_erts_is_not_an_otp_build(mirror: Mirror, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("OTP-x/lib/README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    _serve_tarball(mirror, buf.getvalue())
    with pytest.raises(AcquireError, match="no folder with erts-\\*/bin and lib/"):
        _source(mirror, tmp_path).acquire(tmp_path / "w")


# -- the index format and the platform names ------------------------------------------------------
def test_parses_the_real_builds_txt() -> None:
    text = REAL_BUILDS_TXT.read_text()
    index = parse_index(text, "fixture")
    assert len(index) == len(text.splitlines()) == 99
    entry = index["OTP-27.3.4"]
    line = next(x for x in text.splitlines() if x.startswith("OTP-27.3.4 "))
    name, git_sha, built_at, sha256 = line.split()
    assert (entry.ref, entry.git_sha, entry.sha256) == (name, git_sha, sha256)
    assert entry.built_at == datetime.fromisoformat(built_at.replace("Z", "+00:00"))
    assert {"maint", "master", "maint-27"} <= set(index)


def test_build_name_for_branch_builds(mirror: Mirror, tmp_path: Path) -> None:
    index = parse_index(REAL_BUILDS_TXT.read_text(), "fixture")
    assert _source(mirror, tmp_path, version="maint-27").build_name(index) == "maint-27"
    assert _source(mirror, tmp_path, version="27.3.4").build_name(index) == "OTP-27.3.4"


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        ("24.04", {}, "ubuntu-24.04"),
        ("ubuntu-22.04", {}, "ubuntu-22.04"),
        ("ubuntu20", {}, "ubuntu-20.04"),
        (None, {"ImageOS": "ubuntu22"}, "ubuntu-22.04"),
        (None, {"ImageOS": "macos14"}, DEFAULT_UBUNTU),
        (None, {}, DEFAULT_UBUNTU),
    ],
)
def test_normalize_ubuntu(given: str | None, environ: dict[str, str], expected: str) -> None:
    assert normalize_ubuntu(given, environ) == expected


def test_default_mirror_is_builds_hex_pm() -> None:
    src = PrebuiltSource("27.3.4", None, arch="arm64", ubuntu="22.04")
    assert src.base_url == "https://builds.hex.pm/builds/otp/arm64/ubuntu-22.04"


def test_bad_platform_names_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"ubuntu-24\.04"):
        normalize_ubuntu("debian-12", {})
    with pytest.raises(UsageError, match="amd64 or arm64"):
        normalize_arch("riscv64")
    assert normalize_arch("x86_64") == "amd64"
    assert normalize_arch("aarch64") == "arm64"
