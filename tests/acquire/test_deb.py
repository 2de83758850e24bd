"""The .deb reader (ar container, data member through the safe tar extraction) and the --distro
caches: downloads kept by apt's SHA256, unpacked trees reused while apt names the same packages."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from gate.acquire.deb import ArMember, ar_members, unpack_deb
from gate.acquire.distro import DistroSource
from gate.clock import system_clock
from gate.errors import AcquireError, UnsafeArchiveError


def ar(out: Path, members: list[tuple[str, bytes]]) -> Path:
    """An `ar` archive, as dpkg-deb writes it (names padded to 16, odd sizes padded)."""
    body = b"!<arch>\n"
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        body += header + data + (b"\n" if len(data) % 2 else b"")
    out.write_bytes(body)
    return out


def data_tar(
    files: dict[str, bytes], links: dict[str, str] | None = None, mode: str = "w:xz"
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o755
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def deb(out: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    control = data_tar({"./control": b"Package: x\n"}, mode="w:gz")
    return ar(
        out,
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", control),
            ("data.tar.xz", data_tar(files, links)),
        ],
    )


OTP = {
    "./usr/lib/erlang/releases/25/OTP_VERSION": b"25.2.3\n",
    "./usr/lib/erlang/erts-13.1.5/bin/beam.smp": b"\x7fELF" + b"\0" * 60,
}


def test_unpacks_the_data_member(tmp_path: Path) -> None:
    pkg = deb(
        tmp_path / "erlang-base.deb",
        OTP,
        {"./usr/lib/erlang/bin/erl": "../erts-13.1.5/bin/beam.smp"},
    )
    result = unpack_deb(pkg, tmp_path / "root")
    assert (tmp_path / "root/usr/lib/erlang/releases/25/OTP_VERSION").read_bytes() == b"25.2.3\n"
    assert (tmp_path / "root/usr/lib/erlang/bin/erl").is_symlink()
    assert result.members >= 2


def test_member_escaping_the_root_is_refused(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "evil.deb", {"./usr/../../escape": b"x"})
    with pytest.raises(UnsafeArchiveError, match=r"evil\.deb:data\.tar\.xz"):
        unpack_deb(pkg, tmp_path / "root")
    assert not (tmp_path / "escape").exists()


def test_link_outside_is_not_made(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "p.deb", OTP, {"./usr/lib/erlang/passwd": "/etc/passwd"})
    result = unpack_deb(pkg, tmp_path / "root")
    assert result.skipped_links == ("usr/lib/erlang/passwd -> /etc/passwd",)
    assert not (tmp_path / "root/usr/lib/erlang/passwd").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage\n", "not a Debian package"),
        (
            b"!<arch>\ndebian-binary   0           0     0     100644  99999     `\n2.0\n",
            "truncated",
        ),
        (
            b"!<arch>\ndebian-binary   0           0     0     100644  -4        `\n",
            "corrupt ar member header",
        ),
        (
            b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n",
            "no data.tar member",
        ),
    ],
)
def test_broken_packages_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    pkg = tmp_path / "broken.deb"
    pkg.write_bytes(content)
    with pytest.raises(AcquireError, match=message) as info:
        unpack_deb(pkg, tmp_path / "root")
    assert "broken.deb" in info.value.message


def test_cut_off_data_member_is_an_error(tmp_path: Path) -> None:
    whole = deb(tmp_path / "whole.deb", OTP).read_bytes()
    data = ar_members_of(tmp_path / "whole.deb")[-1]
    # An honest ar header (half the size) over half of the xz stream: the tar inside is cut.
    half = data.size // 2
    cut = bytearray(whole[: data.offset + half])
    cut[data.offset - 12 : data.offset - 2] = f"{half:<10}".encode()
    (tmp_path / "cut.deb").write_bytes(bytes(cut))
    with pytest.raises(AcquireError, match=r"truncated|corrupt"):
        unpack_deb(tmp_path / "cut.deb", tmp_path / "root")


def ar_members_of(path: Path) -> list[ArMember]:
    with path.open("rb") as f:
        return ar_members(f.fileno(), path.stat().st_size, path.name)


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is not installed")
@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_packages_built_by_dpkg_deb(tmp_path: Path, compression: str) -> None:
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        "Package: erlang-base\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n"
    )
    for rel, content in OTP.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(content)
    built = tmp_path / "erlang-base.deb"
    done = subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(tree), str(built)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"dpkg-deb cannot build {compression}: {done.stderr[-200:]!r}")
    unpack_deb(built, tmp_path / "root")
    assert (tmp_path / "root/usr/lib/erlang/releases/25/OTP_VERSION").read_bytes() == b"25.2.3\n"


# -- the --distro caches, with a stand-in apt ----------------------------------------------------


def fake_apt(tmp_path: Path, pkg: Path, served: Path | None = None) -> tuple[str, str, Path]:
    """apt-cache listing `pkg` (with its SHA256) and apt-get serving `served` (default `pkg`),
    logging each download to the returned file."""
    sha = hashlib.sha256(pkg.read_bytes()).hexdigest()
    log = tmp_path / "downloads.log"
    show = f"Package: erlang-base\nSource: erlang\nVersion: 1:25.2.3-1\nArchitecture: amd64\nSHA256: {sha}\n"
    (tmp_path / "show.txt").write_text(show)
    cache = tmp_path / "apt-cache"
    cache.write_text(
        "#!/bin/sh\nfor a; do case $a in pkgnames) echo erlang-base; exit 0;; "
        f"show) cat {tmp_path / 'show.txt'}; exit 0;; esac; done\nexit 100\n"
    )
    get = tmp_path / "apt-get"
    get.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\ncp {served or pkg} ./erlang-base_1%3a25.2.3-1_amd64.deb\n'
    )
    for script in (cache, get):
        script.chmod(0o755)
    return str(cache), str(get), log


def test_second_run_reuses_the_unpacked_tree(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "served.deb", OTP)
    apt_cache, apt_get, log = fake_apt(tmp_path, pkg)
    cache = tmp_path / "cache"
    source = DistroSource(clock=system_clock, apt_cache=apt_cache, apt_get=apt_get, cache_dir=cache)
    (first,) = source.acquire(tmp_path / "work1")
    (second,) = source.acquire(tmp_path / "work2")
    assert len(log.read_text().splitlines()) == 1  # downloaded once
    assert first.root == second.root and cache in first.root.parents
    assert (second.root / "releases/25/OTP_VERSION").read_text() == "25.2.3\n"
    assert second.origin.package_version == "1:25.2.3-1"
    # apt's options keep its package cache in ours (Docker's Debian images switch apt's off).
    assert "Dir::Cache::pkgcache=" in log.read_text()


def test_cached_download_is_checked_against_apt(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "served.deb", OTP)
    apt_cache, apt_get, log = fake_apt(tmp_path, pkg)
    cache = tmp_path / "cache"
    source = DistroSource(clock=system_clock, apt_cache=apt_cache, apt_get=apt_get, cache_dir=cache)
    source.acquire(tmp_path / "work1")
    shutil.rmtree(cache / "distro" / "trees")
    (kept,) = (cache / "distro" / "debs").iterdir()
    kept.write_bytes(b"tampered")  # no longer the package apt names: fetched again, not used
    (tree,) = source.acquire(tmp_path / "work2")
    assert len(log.read_text().splitlines()) == 2
    assert (tree.root / "releases/25/OTP_VERSION").read_text() == "25.2.3\n"


def test_download_that_is_not_apts_package_is_refused(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "listed.deb", OTP)
    other = deb(tmp_path / "other.deb", {**OTP, "./usr/lib/erlang/extra": b"x"})
    apt_cache, apt_get, _ = fake_apt(tmp_path, pkg, served=other)
    source = DistroSource(
        clock=system_clock, apt_cache=apt_cache, apt_get=apt_get, cache_dir=tmp_path / "cache"
    )
    with pytest.raises(AcquireError, match="SHA256 is not the one apt lists for erlang-base"):
        source.acquire(tmp_path / "work")
    assert not list((tmp_path / "cache" / "distro").glob("trees/*"))


def test_failed_unpack_leaves_no_cached_tree(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "evil.deb", {"./usr/../../escape": b"x"})
    apt_cache, apt_get, _ = fake_apt(tmp_path, pkg)
    source = DistroSource(
        clock=system_clock, apt_cache=apt_cache, apt_get=apt_get, cache_dir=tmp_path / "cache"
    )
    with pytest.raises(UnsafeArchiveError):
        source.acquire(tmp_path / "work")
    assert not list((tmp_path / "cache" / "distro" / "trees").iterdir())


def test_a_cache_folder_that_cannot_be_made_is_done_without(tmp_path: Path) -> None:
    pkg = deb(tmp_path / "served.deb", OTP)
    apt_cache, apt_get, log = fake_apt(tmp_path, pkg)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    source = DistroSource(
        clock=system_clock, apt_cache=apt_cache, apt_get=apt_get, cache_dir=blocker / "cache"
    )
    (tree,) = source.acquire(tmp_path / "work")
    assert tree.root == tmp_path / "work" / "root" / "usr" / "lib" / "erlang"
    assert "Dir::Cache::pkgcache" not in log.read_text()
