"""Hostile tar headers and members (issue 14): sparse members, oversized and chained extended
headers, long names, hard links onto folders, full disks and truncation. Each is refused quickly,
before anything large is read or written, with an error naming the archive."""

from __future__ import annotations

import errno
import gzip
import io
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from gate.acquire import extract
from gate.acquire.archive import ArchiveLimits
from gate.acquire.extract import extract_all
from gate.acquire.tarheaders import MAX_HEADER_CHAIN, MAX_LONGNAME_BYTES, MAX_PAX_BYTES
from gate.errors import AcquireError, UnsafeArchiveError

GiB = 1024**3


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _reg(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def _dir(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, b""


def _unpack(tmp: Path, data: bytes, *, gz: bool = True) -> Exception:
    archive = tmp / ("a.tar.gz" if gz else "a.tar")
    archive.write_bytes(gzip.compress(data) if gz else data)
    started = time.monotonic()
    with pytest.raises(AcquireError) as info:
        extract_all(archive, tmp / "out", ArchiveLimits())
    assert time.monotonic() - started < 10
    assert str(archive) in info.value.message
    return info.value


def _header(type_: bytes, size: int, name: str = "././@PaxHeader") -> bytes:
    """One raw header block claiming `size` bytes of data that never follow."""
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


@pytest.mark.parametrize(
    ("type_", "size"),
    [
        (tarfile.XHDTYPE, 3_000_000_000),
        (tarfile.XGLTYPE, MAX_PAX_BYTES + 1),
        (tarfile.GNUTYPE_LONGNAME, 3_000_000_000),
        (tarfile.GNUTYPE_LONGLINK, MAX_LONGNAME_BYTES + 1),
    ],
)
def test_an_oversized_extended_header_is_refused_before_it_is_read(
    tmp_path: Path, type_: bytes, size: int
) -> None:
    # The header claims gigabytes; a tarfile that trusted it would try to read them all.
    data = _header(type_, size) + b"k" * 4096
    e = _unpack(tmp_path, data)
    assert isinstance(e, UnsafeArchiveError)
    assert f"extended header of {size} bytes" in e.message


def test_a_real_long_pax_name_over_the_cap_is_refused(tmp_path: Path) -> None:
    info, body = _reg("a/" + "n" * (MAX_PAX_BYTES + 10))
    e = _unpack(tmp_path, _tar([(info, body)]))
    assert isinstance(e, UnsafeArchiveError) and "extended header" in e.message


def test_ordinary_long_names_still_unpack(tmp_path: Path) -> None:
    # A 200-character path (PAX) and a GNU long name: what real OTP trees hold.
    long = "lib/" + "d" * 100 + "/" + "f" * 95
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        archive = tmp_path / f"ok-{fmt}.tar"
        archive.write_bytes(_tar([_reg(long, b"hello")], fmt))
        out = tmp_path / f"out-{fmt}"
        extract_all(archive, out)
        assert (out / long).read_bytes() == b"hello"


def test_a_chain_of_extended_headers_is_refused(tmp_path: Path) -> None:
    carrier = tarfile.TarInfo("x")
    carrier.pax_headers = {"comment": "c"}
    pax = carrier.tobuf(format=tarfile.PAX_FORMAT)[:1024]  # the `x` header and its one data block
    assert pax[156:157] == tarfile.XHDTYPE
    member = _tar([_reg("f")])[:1024]  # the file's header and data block
    data = pax * (MAX_HEADER_CHAIN + 2) + member + b"\0" * 1024
    e = _unpack(tmp_path, data)
    assert "chained headers" in e.message


def _sparse_file(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    f = src / "holes.bin"
    with f.open("wb") as out:
        out.truncate(4 * GiB)  # 4 GiB of holes, a few bytes of data
        out.seek(GiB)
        out.write(b"\x7fELF data in the middle")
    return f


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_sparse_members_are_refused_not_expanded(tmp_path: Path, fmt: str) -> None:
    f = _sparse_file(tmp_path)
    archive = tmp_path / f"sparse-{fmt}.tar.gz"
    subprocess.run(
        ["tar", f"--format={fmt}", "-S", "-czf", str(archive), "-C", str(f.parent), f.name],
        check=True,
        capture_output=True,
    )
    f.unlink()
    assert archive.stat().st_size < 64 * 1024
    started = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match="sparse member"):
        extract_all(archive, tmp_path / "out")
    assert time.monotonic() - started < 10
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == 0


def test_a_hard_link_onto_a_folder_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("d")
    link.type = tarfile.LNKTYPE
    link.linkname = "f"
    data = _tar([_reg("f"), _dir("d"), (link, b"")])
    e = _unpack(tmp_path, data, gz=False)
    assert isinstance(e, UnsafeArchiveError) and "would replace a folder" in e.message


@pytest.mark.parametrize(
    "name",
    ["n" * 300, "/".join(["d" * 250] * 20) + "/f"],
    ids=["name-over-255-bytes", "path-over-4096-bytes"],
)
def test_names_the_file_system_cannot_hold_are_acquire_errors(tmp_path: Path, name: str) -> None:
    e = _unpack(tmp_path, _tar([_reg(name)]))
    assert "File name too long" in e.message


def test_a_full_disk_while_unpacking_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(extract, "write_file", full)
    e = _unpack(tmp_path, _tar([_reg("f")]))
    assert "No space left on device" in e.message and e.hint and "TMPDIR" in e.hint


@pytest.mark.parametrize("gz", [False, True])
def test_every_truncation_is_an_error(tmp_path: Path, gz: bool) -> None:
    """Cut anywhere inside the members (not only in the last one): never a quiet partial unpack."""
    data = _tar([_reg("a", b"A" * 3000), _dir("d"), _reg("d/b", b"B" * 700), _reg("c", b"C")])
    end = len(data.rstrip(b"\0"))  # the end-of-archive padding may go without loss
    raw = gzip.compress(data) if gz else data
    cuts = range(1, len(raw) - 8, 97) if gz else range(1, end, 97)
    for n, cut in enumerate(cuts):
        archive = tmp_path / f"cut{n}.tar{'.gz' if gz else ''}"
        archive.write_bytes(raw[:cut])
        with pytest.raises(AcquireError):
            extract_all(archive, tmp_path / f"out{n}")


def _links(pairs: list[tuple[str, str]], first: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        f = tarfile.TarInfo("a0")
        f.size = len(first)
        tar.addfile(f, io.BytesIO(first))
        for name, target in pairs:
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    return buf.getvalue()


def test_a_long_symlink_chain_is_refused_quickly(tmp_path: Path) -> None:
    # os.path.realpath recursed once per link: 2,000 links took 8 s and ended in RecursionError.
    chain = [(f"a{i}", f"a{i - 1}") for i in range(1, 3000)]
    e = _unpack(tmp_path, _links(chain), gz=False)
    assert "needs more than 40 links" in e.message


def test_short_chains_and_links_into_folders_still_unpack(tmp_path: Path) -> None:
    pairs = [(f"a{i}", f"a{i - 1}") for i in range(1, 30)] + [("d/up", "../a29")]
    archive = tmp_path / "ok.tar"
    buf = io.BytesIO(_links(pairs))
    archive.write_bytes(buf.getvalue())
    extract_all(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "up").read_bytes() == b"x"


def test_a_chain_that_climbs_out_through_other_links_is_refused(tmp_path: Path) -> None:
    e = _unpack(tmp_path, _links([("d/l", ".."), ("x", "d/l/..")]), gz=False)
    assert "leads outside the archive through other links" in e.message
    assert not (tmp_path / "out" / "x").exists()  # nothing of it was created


def test_a_link_maze_is_bounded(tmp_path: Path) -> None:
    # Every link points at a path through the others: the total resolution work is capped.
    n = 4000
    pairs = [(f"m{i}", "/".join(f"m{(i + k) % n}" for k in range(1, 3))) for i in range(n)]
    started = time.monotonic()
    e = _unpack(tmp_path, _links(pairs), gz=False)
    assert time.monotonic() - started < 10
    assert "links to resolve" in e.message or "steps to resolve" in e.message


def test_a_tarball_holds_at_most_the_tarball_member_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gate.acquire import tarball

    # 100,000 by default (an OTP install has a few thousand files); shrunk here to stay fast.
    assert tarball.TARBALL_LIMITS.max_members == 100_000
    monkeypatch.setattr(tarball, "TARBALL_LIMITS", ArchiveLimits(max_members=10))
    archive = tmp_path / "many.tar"
    archive.write_bytes(_tar([_reg(f"f{i}") for i in range(20)]))
    with pytest.raises(UnsafeArchiveError, match="more than 10 members"):
        tarball.TarballSource(archive).acquire(tmp_path / "work")
