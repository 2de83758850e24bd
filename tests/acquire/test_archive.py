"""Hostile archives, made in each test: every one must fail with a clear error and write nothing outside."""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.acquire.archive import ArchiveLimits, normalize_member, resolve_link
from gate.acquire.extract import extract_all
from gate.errors import AcquireError, GateError, UnsafeArchiveError


def _info(
    name: str, type_: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = size
    info.linkname = link
    info.mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
    return info


def make_tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes]], compress: bool = False
) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return _info(name), data


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    # The scratch folder sits one level down so a write "next to it" would be visible.
    d = tmp_path / "scratch"
    d.mkdir()
    return d


def _nothing_escaped(tmp_path: Path) -> None:
    outside = {p.name for p in tmp_path.iterdir()} - {"scratch", "in.tar", "in.tar.gz"}
    assert outside == set()


def test_good_archive_extracts_files_dirs_links(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(
        tmp_path / "in.tar.gz",
        [
            (_info("top", tarfile.DIRTYPE), b""),
            file("top/bin/tool", b"\x7fELF..."),
            (_info("top/link", tarfile.SYMTYPE, link="bin/tool"), b""),
            (_info("top/hard", tarfile.LNKTYPE, link="top/bin/tool"), b""),
        ],
        compress=True,
    )
    res = extract_all(arc, scratch)
    assert (scratch / "top/bin/tool").read_bytes() == b"\x7fELF..."
    assert os.readlink(scratch / "top/link") == "bin/tool"
    assert (scratch / "top/hard").read_bytes() == b"\x7fELF..."
    assert res.members == 4
    assert res.bytes_written == 7


@pytest.mark.parametrize(
    ("name", "problem"),
    [("../evil", "climbs out"), ("a/../../evil", "climbs out"), ("/etc/evil", "absolute path")],
)
def test_refuses_escaping_member_paths(
    tmp_path: Path, scratch: Path, name: str, problem: str
) -> None:
    arc = make_tar(tmp_path / "in.tar", [file(name)])
    with pytest.raises(UnsafeArchiveError, match=problem) as e:
        extract_all(arc, scratch)
    assert str(arc) in e.value.message and name in e.value.message
    _nothing_escaped(tmp_path)


def test_refuses_symlink_escape_and_write_through_it(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(
        tmp_path / "in.tar",
        [(_info("esc", tarfile.SYMTYPE, link="../.."), b""), file("esc/pwned", b"boom")],
    )
    with pytest.raises(
        UnsafeArchiveError, match="'esc/pwned' would be written through the symlink 'esc'"
    ):
        extract_all(arc, scratch)
    _nothing_escaped(tmp_path)
    assert not (tmp_path.parent / "pwned").exists()


def test_refuses_writing_through_an_inside_symlink(tmp_path: Path, scratch: Path) -> None:
    # Even a link that stays inside must not be written through: a later link swap could redirect it.
    arc = make_tar(
        tmp_path / "in.tar",
        [
            (_info("d", tarfile.DIRTYPE), b""),
            (_info("l", tarfile.SYMTYPE, link="d"), b""),
            file("l/x"),
        ],
    )
    with pytest.raises(UnsafeArchiveError, match="'l/x' would be written through the symlink 'l'"):
        extract_all(arc, scratch)


def test_escaping_symlinks_are_not_created(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(
        tmp_path / "in.tar",
        [
            (_info("etc", tarfile.SYMTYPE, link="/etc"), b""),
            (_info("up", tarfile.SYMTYPE, link="../../x"), b""),
            file("kept"),
        ],
    )
    res = extract_all(arc, scratch)
    assert res.skipped_links == ("etc -> /etc", "up -> ../../x")
    assert not os.path.lexists(scratch / "etc") and not os.path.lexists(scratch / "up")
    assert (scratch / "kept").exists()


def test_refuses_symlink_chain_escape(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(
        tmp_path / "in.tar",
        [
            (_info("d", tarfile.DIRTYPE), b""),
            (_info("d/l", tarfile.SYMTYPE, link=".."), b""),
            (_info("x", tarfile.SYMTYPE, link="d/l/.."), b""),
        ],
    )
    with pytest.raises(UnsafeArchiveError, match=re.escape("'x' -> 'd/l/..' leads outside")):
        extract_all(arc, scratch)
    assert not os.path.lexists(scratch / "x")


def test_refuses_hardlink_escape(tmp_path: Path, scratch: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host file")
    arc = make_tar(tmp_path / "in.tar", [(_info("h", tarfile.LNKTYPE, link="../secret"), b"")])
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        extract_all(arc, scratch)
    arc2 = make_tar(tmp_path / "in.tar", [(_info("h", tarfile.LNKTYPE, link=str(secret)), b"")])
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        extract_all(arc2, scratch)
    assert not os.path.lexists(scratch / "h")


def test_refuses_hardlink_through_symlink(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(
        tmp_path / "in.tar",
        [
            (_info("l", tarfile.SYMTYPE, link="."), b""),
            (_info("h", tarfile.LNKTYPE, link="nothere"), b""),
        ],
    )
    with pytest.raises(UnsafeArchiveError, match="does not name a file extracted earlier"):
        extract_all(arc, scratch)


@pytest.mark.parametrize(
    ("type_", "kind"),
    [
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "fifo"),
    ],
)
def test_refuses_device_files(tmp_path: Path, scratch: Path, type_: bytes, kind: str) -> None:
    arc = make_tar(tmp_path / "in.tar", [(_info("dev/sda", type_), b"")])
    with pytest.raises(UnsafeArchiveError, match=f"'dev/sda' is a {kind}"):
        extract_all(arc, scratch)


def test_member_cap(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(tmp_path / "in.tar", [file(f"f{i}") for i in range(11)])
    with pytest.raises(UnsafeArchiveError, match=r"more than 10 members \(at 'f10'\)"):
        extract_all(arc, scratch, ArchiveLimits(max_members=10))
    extract_all(arc, tmp_path / "ok", ArchiveLimits(max_members=11))


def test_size_cap(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(tmp_path / "in.tar", [file("a", b"1" * 600), file("b", b"2" * 600)])
    with pytest.raises(UnsafeArchiveError, match="extracting 'b' exceeds the cap of 1000 bytes"):
        extract_all(arc, scratch, ArchiveLimits(max_total_bytes=1000))


def test_gzip_bomb_stops_while_streaming(tmp_path: Path, scratch: Path) -> None:
    # 256 MiB of zeros compresses about 1000:1; it is refused long before it is all inflated.
    bomb = tmp_path / "in.tar.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with bomb.open("wb") as out:
        header = _info("zeros", size=256 * 1024 * 1024).tobuf(tarfile.PAX_FORMAT)
        out.write(comp.compress(header))
        chunk = bytes(1024 * 1024)
        for _ in range(256):
            out.write(comp.compress(chunk))
        out.write(comp.flush())
    assert bomb.stat().st_size < 1024 * 1024
    limits = ArchiveLimits(max_ratio=100, ratio_floor=8 * 1024 * 1024)
    with pytest.raises(UnsafeArchiveError, match="ratio above 100:1") as e:
        extract_all(bomb, scratch, limits)
    assert "decompression bomb" in e.value.message
    # The cap is on the decompressed stream too, whatever the ratio.
    with pytest.raises(UnsafeArchiveError, match="decompresses to more than"):
        extract_all(bomb, tmp_path / "s2", ArchiveLimits(max_stream_bytes=4 * 1024 * 1024))


def test_truncated_plain_tar_names_the_member(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(tmp_path / "in.tar", [file("first", b"a" * 100), file("second", b"b" * 5000)])
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(AcquireError, match="'second'") as e:
        extract_all(arc, scratch)
    assert "truncated" in e.value.message
    assert not isinstance(e.value, UnsafeArchiveError)


def test_truncated_gzip_is_reported(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(tmp_path / "in.tar.gz", [file("big", os.urandom(200_000))], compress=True)
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) - 5000])
    with pytest.raises(AcquireError, match="truncated"):
        extract_all(arc, scratch)


def test_truncated_tar_inside_valid_gzip(tmp_path: Path, scratch: Path) -> None:
    plain = make_tar(tmp_path / "in.tar", [file("one", b"1" * 3000), file("two", b"2" * 3000)])
    arc = tmp_path / "in.tar.gz"
    arc.write_bytes(gzip.compress(plain.read_bytes()[:3000]))
    plain.unlink()
    with pytest.raises(AcquireError, match="truncated"):
        extract_all(arc, scratch)


def test_corrupt_gzip_data(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(tmp_path / "in.tar.gz", [file("f", os.urandom(100_000))], compress=True)
    data = bytearray(arc.read_bytes())
    data[2000:2100] = bytes(100)
    arc.write_bytes(bytes(data))
    with pytest.raises(AcquireError, match=r"in\.tar\.gz.*(corrupt|truncated)"):
        extract_all(arc, scratch)


def test_corrupt_header_after_a_member(tmp_path: Path, scratch: Path) -> None:
    arc = make_tar(tmp_path / "in.tar", [file("good", b"g" * 10), file("bad", b"b" * 10)])
    data = bytearray(arc.read_bytes())
    # Second member's header: PAX header block lands first; damage the checksum region of all.
    second = data.find(b"bad")
    data[second - 10 : second + 300] = b"\xff" * 310
    arc.write_bytes(bytes(data))
    with pytest.raises(AcquireError, match="corrupt or truncated header after member 'good'"):
        extract_all(arc, scratch)


def test_not_a_tar(tmp_path: Path, scratch: Path) -> None:
    arc = tmp_path / "in.tar"
    arc.write_bytes(b"hello, this is not an archive" * 100)
    with pytest.raises(AcquireError, match="not a readable tar archive"):
        extract_all(arc, scratch)


def test_setuid_bits_are_dropped(tmp_path: Path, scratch: Path) -> None:
    info = _info("suid")
    info.mode = 0o4755
    arc = make_tar(tmp_path / "in.tar", [(info, b"x")])
    extract_all(arc, scratch)
    assert (scratch / "suid").stat().st_mode & 0o7777 == 0o755


def test_normalize_and_resolve() -> None:
    assert normalize_member("./a//b/./c", "x") == "a/b/c"
    assert normalize_member("./", "x") == ""
    assert resolve_link("usr/bin/erl", "../lib/erlang/bin/erl") == "usr/lib/erlang/bin/erl"
    assert resolve_link("usr/bin/erl", "/usr/lib/erlang") == "usr/lib/erlang"
    assert resolve_link("a", "../x") is None


# Damaged archives of every kind must end in a GateError (or a clean extraction), never a crash.
_SEED_MEMBERS = [
    (_info("d", tarfile.DIRTYPE), b""),
    file("d/a", b"alpha" * 50),
    (_info("d/l", tarfile.SYMTYPE, link="a"), b""),
    (_info("d/h", tarfile.LNKTYPE, link="d/a"), b""),
    file("d/b", os.urandom(3000)),
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    compress=st.booleans(),
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    truncate=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_damaged_archives_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
    compress: bool,
    cuts: list[tuple[int, int]],
    truncate: int | None,
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    arc = make_tar(base / "in.tar", _SEED_MEMBERS, compress=compress)
    data = bytearray(arc.read_bytes())
    for pos, value in cuts:
        data[pos % len(data)] = value
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    arc.write_bytes(bytes(data))
    scratch = base / "scratch"
    try:
        extract_all(arc, scratch, ArchiveLimits(max_total_bytes=10**6))
    except GateError as e:
        assert str(arc) in e.message
    assert sorted(p.name for p in base.iterdir()) == ["in.tar", "scratch"]
    top = os.path.realpath(scratch)
    for dirpath, dirnames, filenames in os.walk(scratch):
        for name in dirnames + filenames:
            real = os.path.realpath(os.path.join(dirpath, name))
            assert real == top or real.startswith(top + os.sep)


def test_concatenated_gzip_members_and_zero_padding(tmp_path: Path, scratch: Path) -> None:
    plain = make_tar(tmp_path / "in.tar", [file("a", os.urandom(70_000)), file("b", b"bee")])
    raw = plain.read_bytes()
    arc = tmp_path / "in.tar.gz"
    # Two gzip members (as `cat a.gz b.gz` makes) and block padding after the last one.
    arc.write_bytes(gzip.compress(raw[:40_000]) + gzip.compress(raw[40_000:]) + bytes(4096))
    plain.unlink()
    extract_all(arc, scratch)
    assert (scratch / "b").read_bytes() == b"bee"


@pytest.mark.parametrize("mode", ["w:xz", "w:bz2"])
def test_xz_and_bzip2_tarballs(tmp_path: Path, scratch: Path, mode: str) -> None:
    arc = tmp_path / "in.tar"
    with tarfile.open(arc, mode) as t:
        info = tarfile.TarInfo("x/y")
        info.size = 3
        t.addfile(info, io.BytesIO(b"why"))
    extract_all(arc, scratch)
    assert (scratch / "x/y").read_bytes() == b"why"
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) - 20])
    with pytest.raises(AcquireError, match=r"in\.tar.*(truncated|corrupt)"):
        extract_all(arc, tmp_path / "again")
