"""SourceBuild's orchestration, fast: a tiny source tarball whose configure and Makefile record what
they were given (the real OTP build is in tests/slow)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.acquire.build import (
    GITHUB_RELEASES,
    BuildProgress,
    SourceBuild,
)
from gate.errors import AcquireError, UsageError
from tests.support.fake_http import FakeServer, Response

VERSION = "25.2.3"

# Records its arguments and the flag variables it sees, then writes a Makefile that records what
# make sees and installs a minimal OTP root under $(DESTDIR).
CONFIGURE = r"""#!/bin/sh
echo "checking for a C compiler... yes"
[ -n "$FAIL_CONFIGURE" ] && { echo "configure: error: no acceptable C compiler found"; exit 1; }
printf '%s\n' "$@" > configure.args
env | grep -E '^(CFLAGS|CPPFLAGS|LDFLAGS|DED_[A-Z_]*)=' | sort > configure.env
cat > Makefile <<'EOF'
all:
	env | grep -E '^(CFLAGS|CPPFLAGS|LDFLAGS|DED_[A-Z_]*)=' | sort > make.env
install:
	mkdir -p $(DESTDIR)/usr/local/lib/erlang/erts-13.1.5/bin $(DESTDIR)/usr/local/lib/erlang/lib
	cp make.env $(DESTDIR)/usr/local/lib/erlang/erts-13.1.5/bin/
EOF
"""


def _source_tarball(
    version: str = VERSION, *, jquery: bool = True, top: str = f"otp-OTP-{VERSION}"
) -> bytes:
    files: dict[str, tuple[bytes, int]] = {
        f"{top}/configure": (CONFIGURE.encode(), 0o755),
        f"{top}/OTP_VERSION": (f"{version}\n".encode(), 0o644),
        f"{top}/lib/common_test/priv/Makefile.in": (b"JS = jquery-latest.js\n", 0o644),
    }
    if jquery:
        files[f"{top}/lib/common_test/priv/jquery-latest.js"] = (b"/* jquery */\n", 0o644)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Host:
    srv: FakeServer
    cache: Path
    events: list[BuildProgress]

    def serve(self, data: bytes, name: str = f"otp_src_{VERSION}.tar.gz") -> tuple[str, str]:
        self.srv.route("GET", f"/dl/{name}", Response(200, data))
        return f"{self.srv.url}/dl/{name}", hashlib.sha256(data).hexdigest()

    def build(self, **kw: object) -> SourceBuild:
        args: dict[str, object] = {"version": VERSION, "cache_dir": self.cache, "jobs": 1}
        args["progress"] = self.events.append
        args.update(kw)
        return SourceBuild(**args)  # type: ignore[arg-type]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    with FakeServer() as srv:
        yield Host(srv, tmp_path / "cache", [])


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_flags_reach_configure_and_make_and_inherited_ones_do_not(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPPFLAGS", "-DINHERITED")
    monkeypatch.setenv("DED_LDFLAGS", "-inherited")
    url, digest = host.serve(_source_tarball())
    extra = {"DED_LD": "gcc", "DED_LDFLAGS": "-shared -Wl,-z,now"}
    (tree,) = host.build(source_url=url, sha256=digest, extra_env=extra).acquire(tmp_path / "w")
    want = {"CFLAGS": "-O2 -g -fpie -fstack-protector-strong", "LDFLAGS": "-pie -z now", **extra}
    assert _env_file(tree.root / "erts-13.1.5" / "bin" / "make.env") == want
    bdir = tree.root.parents[4]
    assert tree.root == bdir / "destdir" / "usr" / "local" / "lib" / "erlang"
    assert tree.display_root == "/usr/local/lib/erlang"
    assert tree.origin.method == "build"
    assert "CFLAGS='-O2 -g -fpie -fstack-protector-strong'" in tree.origin.description
    assert (bdir / "build.log").read_text().count("=====") == 3
    assert not (bdir / "src").exists()  # the build tree is removed once installed


def test_no_flags_means_none_exported(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFLAGS", "-O0 -inherited")
    url, digest = host.serve(_source_tarball())
    b = host.build(source_url=url, sha256=digest, cflags=None, ldflags=None)
    (tree,) = b.acquire(tmp_path / "w")
    assert _env_file(tree.root / "erts-13.1.5" / "bin" / "make.env") == {}
    assert "no flags" in tree.origin.description


def test_flags_via_configure_passes_arguments_and_exports_nothing(
    host: Host, tmp_path: Path
) -> None:
    url, digest = host.serve(_source_tarball())
    b = host.build(source_url=url, sha256=digest, flags_via="configure")
    (tree,) = b.acquire(tmp_path / "w")
    # make sees no flags: the way `./configure CFLAGS=... LDFLAGS=...` leaves NIFs without them.
    assert _env_file(tree.root / "erts-13.1.5" / "bin" / "make.env") == {}
    log = (b.build_dir() / "build.log").read_text()
    configure = "./configure --prefix=/usr/local CFLAGS=-O2 -g -fpie -fstack-protector-strong"
    assert f"{configure} LDFLAGS=-pie -z now\n" in log
    assert "(configure arguments only)" in tree.origin.description
    assert b.cache_key() != host.build(source_url=url, sha256=digest).cache_key()


def test_second_acquire_is_a_cache_hit(host: Host, tmp_path: Path) -> None:
    url, digest = host.serve(_source_tarball())
    b = host.build(source_url=url, sha256=digest)
    (first,) = b.acquire(tmp_path / "w1")
    host.events.clear()
    (second,) = b.acquire(tmp_path / "w2")
    assert first.root == second.root
    assert [(e.step, e.status) for e in host.events] == [("build", "cached")]
    assert len(host.srv.requests_to("GET", r"/dl/.*")) == 1


def test_progress_reports_each_step_with_elapsed_time(host: Host, tmp_path: Path) -> None:
    url, digest = host.serve(_source_tarball())
    host.build(source_url=url, sha256=digest).acquire(tmp_path / "w")
    steps = [(e.step, e.status) for e in host.events]
    assert steps == [
        (s, st)
        for s in ("download", "unpack", "configure", "make", "install")
        for st in ("start", "done")
    ]
    assert all(e.elapsed >= 0 for e in host.events)
    assert digest in host.events[1].detail


def test_cache_key_follows_flags_and_configure_args(host: Host) -> None:
    base = host.build()
    keys = {
        base.cache_key(),
        host.build(cflags="-O2 -g").cache_key(),
        host.build(ldflags=None).cache_key(),
        host.build(cppflags="-D_FORTIFY_SOURCE=2").cache_key(),
        host.build(extra_env={"DED_LD": "gcc"}).cache_key(),
        host.build(configure_args=("--without-wx",)).cache_key(),
        host.build(version="26.0").cache_key(),
    }
    assert len(keys) == 7
    assert host.build(jobs=8).cache_key() == base.cache_key()  # same output, same entry


def test_dfsg_source_without_jquery_skips_common_test(host: Host, tmp_path: Path) -> None:
    url, digest = host.serve(_source_tarball(jquery=False))
    b = host.build(source_url=url, sha256=digest, configure_args=("--without-wx",))
    (tree,) = b.acquire(tmp_path / "w")
    log = (b.build_dir() / "build.log").read_text()
    assert "./configure --prefix=/usr/local --without-wx --without-common_test" in log
    assert "common_test skipped" in tree.origin.description


def test_upstream_source_keeps_common_test(host: Host, tmp_path: Path) -> None:
    url, digest = host.serve(_source_tarball(jquery=True))
    b = host.build(source_url=url, sha256=digest)
    b.acquire(tmp_path / "w")
    assert "--without-common_test" not in (b.build_dir() / "build.log").read_text()


def test_failed_configure_points_to_the_log_and_shows_its_end(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_CONFIGURE", "1")
    url, digest = host.serve(_source_tarball())
    b = host.build(source_url=url, sha256=digest)
    with pytest.raises(AcquireError) as err:
        b.acquire(tmp_path / "w")
    log = b.build_dir() / "build.log"
    assert f"configure of OTP {VERSION} failed (exit 1)" in err.value.message
    assert str(log) in err.value.message and err.value.hint == f"the full build log is {log}"
    assert "configure: error: no acceptable C compiler found" in err.value.message
    assert ("configure", "failed") in [(e.step, e.status) for e in host.events]
    # Not cached: the next attempt builds again.
    monkeypatch.delenv("FAIL_CONFIGURE")
    (tree,) = b.acquire(tmp_path / "w2")
    assert (tree.root / "erts-13.1.5" / "bin" / "make.env").exists()


def test_tarball_of_another_version_is_refused_before_configure(host: Host, tmp_path: Path) -> None:
    url, digest = host.serve(_source_tarball(version="26.0"))
    b = host.build(source_url=url, sha256=digest)
    with pytest.raises(AcquireError) as err:
        b.acquire(tmp_path / "w")
    assert err.value.message == f"{url}: the tarball holds OTP '26.0', not the requested {VERSION}"
    assert "=====" not in (b.build_dir() / "build.log").read_text()


def test_checksum_mismatch_names_url_and_both_digests(host: Host, tmp_path: Path) -> None:
    url, digest = host.serve(_source_tarball())
    with pytest.raises(AcquireError) as err:
        host.build(source_url=url, sha256="00" * 32).acquire(tmp_path / "w")
    assert err.value.message == f"{url}: sha256 mismatch: expected {'00' * 32}, got {digest}"


def test_not_an_otp_source_tarball(host: Host, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("something/README")
        tar.addfile(info, io.BytesIO(b""))
    url, digest = host.serve(buf.getvalue())
    with pytest.raises(AcquireError, match="not an OTP source tarball"):
        host.build(source_url=url, sha256=digest).acquire(tmp_path / "w")


def test_404_names_the_url(host: Host, tmp_path: Path) -> None:
    with pytest.raises(AcquireError) as err:
        host.build(mirror=host.srv.url, sha256="00" * 32).acquire(tmp_path / "w")
    want = f"{host.srv.url}/OTP-{VERSION}/otp_src_{VERSION}.tar.gz: HTTP 404 Not Found"
    assert err.value.message == want


def _release(host: Host, data: bytes, sums: str | None) -> str:
    """Serve `data` in the GitHub release layout, with `sums` as SHA256.txt (None: no such file)."""
    base = f"/releases/download/OTP-{VERSION}"
    host.srv.route("GET", f"{base}/otp_src_{VERSION}.tar.gz", Response(200, data))
    if sums is not None:
        host.srv.route("GET", f"{base}/SHA256.txt", Response(200, sums))
    return f"{host.srv.url}/releases/download"


def test_mirror_download_is_verified_against_the_release_sha256_txt(
    host: Host, tmp_path: Path
) -> None:
    data = _source_tarball()
    digest = hashlib.sha256(data).hexdigest()
    # The real file's format: "<sha256>  <name>" for each asset.
    sums = f"{'1' * 64}  otp_doc_html_{VERSION}.tar.gz\n{digest}  otp_src_{VERSION}.tar.gz\n"
    host.build(mirror=_release(host, data, sums)).acquire(tmp_path / "w")
    assert f"sha256 {digest} verified" in host.events[1].detail


def test_mirror_download_not_matching_sha256_txt_is_refused(host: Host, tmp_path: Path) -> None:
    sums = f"{'2' * 64}  otp_src_{VERSION}.tar.gz\n"
    with pytest.raises(AcquireError, match=f"sha256 mismatch: expected {'2' * 64}"):
        host.build(mirror=_release(host, _source_tarball(), sums)).acquire(tmp_path / "w")


def test_sha256_txt_without_the_source_entry(host: Host, tmp_path: Path) -> None:
    mirror = _release(host, _source_tarball(), f"{'1' * 64}  otp_doc_man_{VERSION}.tar.gz\n")
    with pytest.raises(AcquireError) as err:
        host.build(mirror=mirror).acquire(tmp_path / "w")
    assert err.value.message.endswith(f"SHA256.txt has no sha256 for otp_src_{VERSION}.tar.gz")
    assert err.value.hint is not None and "--sha256" in err.value.hint


def test_mirror_without_sha256_txt_asks_for_a_checksum(host: Host, tmp_path: Path) -> None:
    mirror = _release(host, _source_tarball(), None)
    with pytest.raises(AcquireError) as err:
        host.build(mirror=mirror).acquire(tmp_path / "w")
    assert err.value.message.startswith(f"cannot verify {mirror}/OTP-{VERSION}/otp_src_")
    assert "SHA256.txt: HTTP 404" in err.value.message
    assert not host.srv.requests_to("GET", r".*\.tar\.gz")  # nothing unverified was fetched


def test_bare_source_url_without_checksum_builds_and_shows_the_digest(
    host: Host, tmp_path: Path
) -> None:
    url, digest = host.serve(_source_tarball())
    host.build(source_url=url).acquire(tmp_path / "w")
    assert host.events[1].detail == f"sha256 {digest} (no checksum to verify)"


def test_default_and_mirror_urls() -> None:
    assert SourceBuild("27.3.4").url == f"{GITHUB_RELEASES}/OTP-27.3.4/otp_src_27.3.4.tar.gz"
    assert SourceBuild("OTP-27.3.4", mirror="https://m.example/otp/").url == (
        "https://m.example/otp/OTP-27.3.4/otp_src_27.3.4.tar.gz"
    )
    assert SourceBuild("27.3.4", source_url="https://x/y.tar.gz").url == "https://x/y.tar.gz"


def test_eef_literal_cflags_without_O_are_refused_with_the_fix() -> None:
    with pytest.raises(UsageError) as err:
        SourceBuild("27.3.4", cflags="-fpie -fstack-protector-strong")
    assert "no -O flag" in err.value.message
    assert err.value.hint == 'add "-O2 -g", e.g. --cflags "-O2 -g -fpie -fstack-protector-strong"'


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"version": "latest"}, "not an OTP version"),
        ({"configure_args": ("--prefix=/opt",)}, "set by the builder"),
        ({"configure_args": ("CFLAGS=-O0",)}, "set by the builder"),
        ({"extra_env": {"BAD NAME": "x"}}, "not valid"),
        ({"flags_via": "make"}, "not one of: environment, configure"),
    ],
)
def test_bad_inputs_are_usage_errors(kw: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"version": VERSION, **kw}
    with pytest.raises(UsageError, match=match):
        SourceBuild(**args)  # type: ignore[arg-type]
