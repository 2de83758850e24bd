"""TarballSource on tarballs made from Debian's real OTP files: layouts, releases, several runtimes."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from gate.acquire.tarball import TarballSource
from gate.errors import AcquireError, UnsafeArchiveError
from gate.inspection.runtime import load_runtime


def tar(out: Path, cwd: Path, *paths: str, flags: str = "czf") -> Path:
    subprocess.run(["tar", f"-{flags}", str(out), "-C", str(cwd), *paths], check=True)
    return out


def test_installed_otp_with_a_top_folder(debian_otp: Path, tmp_path: Path) -> None:
    arc = tar(tmp_path / "otp.tar.gz", debian_otp.parent, "erlang")
    trees = TarballSource(arc).acquire(tmp_path / "work")
    assert [t.display_root for t in trees] == [f"{arc}:/erlang"]
    tree = trees[0]
    assert (tree.root / "erts-13.1.5/bin/beam.smp").is_file()
    assert tree.origin.method == "tarball"
    # Debian links jquery from /usr/share: outside the tarball, so not unpacked, and said so.
    assert "symlink(s) pointing outside it not unpacked" in tree.origin.description
    runtime = load_runtime(tree)
    assert runtime.otp_version_file is not None and runtime.otp_version_file.strip() == "25.2.3"
    assert any(f.path == "erts-13.1.5/bin/beam.smp" for f in runtime.files)
    assert len(runtime.files) > 20


def test_flat_plain_tar(debian_otp: Path, tmp_path: Path) -> None:
    arc = tar(tmp_path / "otp.tar", debian_otp, ".", flags="cf")
    trees = TarballSource(arc).acquire(tmp_path / "work")
    assert [t.display_root for t in trees] == [f"{arc}:/"]
    assert (trees[0].root / "releases/25/OTP_VERSION").read_text().strip() == "25.2.3"


def test_release_and_two_runtimes(debian_otp: Path, tmp_path: Path) -> None:
    # A mix-style release: erts copied in, no OTP_VERSION; next to it, a bare OTP_VERSION tree.
    src = tmp_path / "src"
    rel = src / "app" / "myrel"
    shutil.copytree(debian_otp / "erts-13.1.5", rel / "erts-13.1.5", symlinks=True)
    (rel / "releases" / "0.1.0").mkdir(parents=True)
    (rel / "releases" / "start_erl.data").write_text("13.1.5 0.1.0\n")
    other = src / "opt" / "otp" / "releases" / "26"
    other.mkdir(parents=True)
    (other / "OTP_VERSION").write_text("26.2.5\n")
    arc = tar(tmp_path / "both.tgz", src, "app", "opt")
    trees = TarballSource(arc).acquire(tmp_path / "work")
    assert [t.display_root for t in trees] == [f"{arc}:/app/myrel", f"{arc}:/opt/otp"]
    assert (trees[0].root / "erts-13.1.5/bin/beam.smp").read_bytes()[:4] == b"\x7fELF"


def test_no_runtime_inside(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "README").write_text("hello")
    arc = tar(tmp_path / "x.tar.gz", tmp_path / "src", "README")
    with pytest.raises(AcquireError, match=r"no OTP runtime inside") as e:
        TarballSource(arc).acquire(tmp_path / "work")
    assert str(arc) in e.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AcquireError, match="no such file"):
        TarballSource(tmp_path / "nope.tar.gz").acquire(tmp_path / "work")


def test_hostile_tarball_is_refused(tmp_path: Path) -> None:
    arc = tmp_path / "evil.tar.gz"
    with tarfile.open(arc, "w:gz") as t:
        info = tarfile.TarInfo("../../outside")
        t.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        TarballSource(arc).acquire(tmp_path / "work")
    assert not (tmp_path.parent / "outside").exists()


def test_second_acquire_uses_a_fresh_folder(debian_otp: Path, tmp_path: Path) -> None:
    src = tmp_path / "src" / "releases" / "27"
    src.mkdir(parents=True)
    (src / "OTP_VERSION").write_text("27.3.4\n")
    arc = tar(tmp_path / "o.tgz", tmp_path / "src", "releases")
    a = TarballSource(arc).acquire(tmp_path / "work")
    b = TarballSource(arc).acquire(tmp_path / "work")
    assert a[0].root != b[0].root


def test_an_image_archive_given_as_a_tarball_is_read_as_an_image(tmp_path: Path) -> None:
    from tests.acquire.test_image_formats import layer, legacy, release

    arc = legacy(tmp_path / "app.tar", [layer(*release("app"))], ["app:1"])
    (tree,) = TarballSource(arc).acquire(tmp_path / "w")
    assert tree.display_root == "image:/app"
    assert tree.origin.image == "app:1"
