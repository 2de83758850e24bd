"""DistroSource: what apt would install, fetched with apt-get download and unpacked by gate.acquire.deb."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from gate.acquire.distro import (
    Candidate,
    DistroSource,
    candidate_of,
    distro_name,
    parse_stanzas,
    prune_unused,
    read_os_release,
    select_packages,
)
from gate.clock import fixed_clock, system_clock
from gate.errors import AcquireError
from gate.inspection.runtime import load_runtime
from gate.model.runtime import Role
from tests.support.debian_otp import DEBIAN_OTP_PACKAGES, elf_paths

SHOW = """\
Package: erlang-base
Source: erlang
Version: 1:25.2.3+dfsg-1+deb12u4
Architecture: amd64
Description: Erlang/OTP virtual machine
 and base applications

Package: erlang-uuid
Source: erlang-uuid (0.4.6-2)
Version: 0.4.6-2+b1
Architecture: amd64

Package: erlang-crypto
Source: erlang
Version: 1:25.2.3+dfsg-1+deb12u4
Architecture: amd64

Package: erlang-doc
Source: erlang
Version: 1:25.2.3+dfsg-1+deb12u4
Architecture: all

Package: erlang-ssh
Source: erlang
Version: 1:25.2.3+dfsg-1
Architecture: amd64

Package: erlang-base-dbgsym
Source: erlang
Version: 1:25.2.3+dfsg-1+deb12u4
Architecture: amd64

Package: erlang-jiffy
Version: 1.1.1-1
Architecture: amd64
"""


@cache
def apt_knows_erlang() -> bool:
    """apt-cache is slow on a busy machine: ask it once per test run."""
    if not shutil.which("apt-cache"):
        return False
    try:
        DistroSource(clock=system_clock).packages()
    except AcquireError:
        return False
    return True


def test_parse_stanzas_and_candidates() -> None:
    stanzas = parse_stanzas(SHOW)
    assert len(stanzas) == 7
    assert stanzas[0]["Description"] == "Erlang/OTP virtual machine\nand base applications"
    uuid = candidate_of(stanzas[1])
    assert uuid == Candidate("erlang-uuid", "0.4.6-2+b1", "erlang-uuid", "amd64")
    # No Source field: the source has the package's name.
    assert candidate_of(stanzas[6]) == Candidate("erlang-jiffy", "1.1.1-1", "erlang-jiffy", "amd64")
    assert candidate_of({"Package": "x"}) is None


def test_select_same_source_same_version_arch_specific() -> None:
    cands = [c for c in map(candidate_of, parse_stanzas(SHOW)) if c]
    base = cands[0]
    chosen = select_packages(base, [*cands, base])
    assert [c.package for c in chosen] == ["erlang-base", "erlang-crypto"]


def test_os_release(tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
        "# comment\nVERSION_CODENAME=bookworm\nBROKEN='unterminated\n"
    )
    values = read_os_release(f)
    assert values["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert distro_name(values) == "debian-12"
    assert distro_name({"ID": "debian", "VERSION_CODENAME": "trixie"}) == "debian-trixie"
    assert distro_name({"ID": "ubuntu", "VERSION_ID": "24.04"}) == "ubuntu-24.04"
    assert distro_name({}) is None
    assert read_os_release(tmp_path / "missing") == {}


def test_missing_tools_are_named(tmp_path: Path) -> None:
    with pytest.raises(AcquireError) as info:
        DistroSource(clock=system_clock, apt_get="no-such-apt-get-here").acquire(tmp_path)
    message = info.value.diagnostics()
    assert "'no-such-apt-get-here' was not found" in message and "Debian or Ubuntu" in message
    with pytest.raises(AcquireError, match="no-such-dpkg"):
        DistroSource(clock=system_clock, dpkg="no-such-dpkg").acquire(tmp_path)


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_apt_without_erlang(tmp_path: Path) -> None:
    # An apt-cache that knows no erlang-base, as on a machine without the repository.
    cache = _script(tmp_path / "apt-cache", "echo 'E: No packages found' >&2\nexit 100\n")
    with pytest.raises(AcquireError) as info:
        DistroSource(clock=system_clock, apt_cache=cache).acquire(tmp_path)
    assert "no erlang-base package" in info.value.diagnostics()
    assert "apt-get update" in info.value.diagnostics()


def test_download_failure_is_reported(tmp_path: Path) -> None:
    if not apt_knows_erlang():
        pytest.skip("apt-cache on this machine does not list erlang-base")
    apt_get = _script(
        tmp_path / "apt-get",
        "echo 'E: Failed to fetch http://deb.example/erlang-base.deb' >&2\nexit 100\n",
    )
    with pytest.raises(AcquireError) as info:
        DistroSource(clock=system_clock, apt_get=apt_get).acquire(tmp_path / "work")
    message = info.value.diagnostics()
    count = len(
        DistroSource(clock=system_clock).packages()
    )  # what apt lists today: moves with the release
    assert f"apt-get download of {count} Erlang packages failed" in message
    assert "Failed to fetch" in message and "erlang-base=" in message


def test_packages_match_the_erlang_source() -> None:
    if not apt_knows_erlang():
        pytest.skip("apt-cache on this machine does not list erlang-base")
    packages = DistroSource(clock=system_clock).packages()
    assert packages[0].package == "erlang-base"
    assert {p.source for p in packages} == {"erlang"}
    assert len({p.version for p in packages}) == 1
    # The product finds by itself the list the test fixture spells out.
    assert {p.package for p in packages} == set(DEBIAN_OTP_PACKAGES)


_NETWORK_TROUBLE = ("Temporary failure resolving", "Could not resolve", "Unable to connect")


def test_real_download_and_scan(tmp_path: Path) -> None:
    if not apt_knows_erlang():
        pytest.skip("apt-cache on this machine does not list erlang-base")
    source = DistroSource(clock=system_clock)
    try:
        (tree,) = source.acquire(tmp_path)
    except AcquireError as e:
        # Only an unreachable archive is the machine's problem (and fails under CI all the same);
        # any other download error is the gate's.
        if any(n in e.message for n in _NETWORK_TROUBLE):
            pytest.skip(f"apt cannot reach its archive here: {e.message[:200]}")
        raise
    base = source.packages()[0]
    assert tree.origin.method == "distro"
    assert tree.origin.package == "erlang-base"
    assert tree.origin.package_version == base.version
    assert tree.origin.distro == distro_name(read_os_release(Path("/etc/os-release")))
    assert tree.root == tmp_path / "root" / "usr" / "lib" / "erlang"
    runtime = load_runtime(tree)
    assert runtime.files  # every ELF of the packages
    assert next(f.path for f in runtime.files if f.role == Role.EMULATOR).endswith("beam.smp")
    assert {f.path for f in runtime.files} == elf_paths(tree.root)
    if "25.2.3" in base.version:  # Debian 12
        assert runtime.otp_version_file == "25.2.3"


def test_unpack_failure_names_the_package(tmp_path: Path) -> None:
    if not apt_knows_erlang():
        pytest.skip("apt-cache on this machine does not list erlang-base")
    # apt-get "downloads" a file that is not a Debian package; the .deb reader must refuse it.
    apt_get = _script(tmp_path / "apt-get", "echo garbage > erlang-base_1_amd64.deb\n")
    with pytest.raises(AcquireError) as info:
        DistroSource(clock=system_clock, apt_get=apt_get).acquire(tmp_path / "work")
    assert "erlang-base_1_amd64.deb: not a Debian package" in info.value.diagnostics()


def _aged(path: Path, now: datetime, days: float) -> Path:
    stamp = (now - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp), follow_symlinks=False)
    return path


def test_prune_removes_only_what_no_run_used_lately(tmp_path: Path) -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    folder = tmp_path / "trees"
    (folder / "old" / "usr").mkdir(parents=True)
    (folder / "recent").mkdir()
    (folder / "kept").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "link").symlink_to(outside)
    for name in ("old", "kept"):
        _aged(folder / name, now, 30)
    _aged(folder / "recent", now, 3)
    _aged(folder / "link", now, 30)
    removed = prune_unused(folder, now - timedelta(days=14), keep=[folder / "kept"])
    assert removed == ["link", "old"]
    assert sorted(p.name for p in folder.iterdir()) == ["kept", "recent"]
    assert outside.is_dir()  # a link is removed as a link, never followed
    assert prune_unused(tmp_path / "missing", now) == []


def test_a_cached_run_marks_its_tree_and_downloads_and_prunes_the_rest(tmp_path: Path) -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    distro = tmp_path / "distro"
    trees, debs = distro / "trees", distro / "debs"
    for name in ("current", "stale", "fresh", "key.partial-99999"):
        (trees / name).mkdir(parents=True)
    debs.mkdir()
    for name in ("aaaa", "bbbb", "cccc"):
        (debs / f"{name}.deb").write_bytes(b"!<arch>\n")
    for path in (trees / "current", trees / "stale", trees / "key.partial-99999"):
        _aged(path, now, 40)
    _aged(trees / "fresh", now, 2)
    _aged(debs / "aaaa.deb", now, 40)  # this run's package: kept and marked, however old
    _aged(debs / "bbbb.deb", now, 40)
    _aged(debs / "cccc.deb", now, 2)
    source = DistroSource(cache_dir=tmp_path, clock=fixed_clock(now.date()))
    package = Candidate("erlang-base", "1:25.2.3", "erlang", "amd64", sha256="aaaa")
    source._mark_and_prune(trees / "current", [package])
    assert sorted(p.name for p in trees.iterdir()) == ["current", "fresh"]
    assert sorted(p.name for p in debs.iterdir()) == ["aaaa.deb", "cccc.deb"]
    assert (trees / "current").stat().st_mtime == now.timestamp()
    assert (debs / "aaaa.deb").stat().st_mtime == now.timestamp()
    # A run whose clock is pinned to a past day does not make a tree look old to the next run.
    DistroSource(cache_dir=tmp_path, clock=fixed_clock(date(2020, 1, 1)))._mark_and_prune(
        trees / "current", [package]
    )
    assert (trees / "current").stat().st_mtime == now.timestamp()
