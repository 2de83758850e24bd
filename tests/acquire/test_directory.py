"""DirectorySource: OTP roots, releases, prefixes above them, and clear errors naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.acquire.directory import DirectorySource, find_runtime_root, is_runtime_root
from gate.errors import AcquireError
from tests.support.release_tree import build_release_tree


def test_installed_otp_root(debian_otp: Path, tmp_path: Path) -> None:
    (tree,) = DirectorySource(debian_otp).acquire(tmp_path)
    assert tree.root == debian_otp.resolve()
    assert tree.display_root == str(debian_otp)
    assert tree.origin.method == "directory"
    assert str(debian_otp) in tree.origin.description
    assert list(tmp_path.iterdir()) == []  # scanned in place: nothing copied


def test_prefix_above_the_root(debian_root: Path, tmp_path: Path) -> None:
    # The folder `dpkg -x` made: the OTP root is usr/lib/erlang below it.
    (tree,) = DirectorySource(debian_root).acquire(tmp_path)
    assert tree.root == (debian_root / "usr" / "lib" / "erlang").resolve()
    assert tree.display_root == f"{debian_root}/usr/lib/erlang"


def test_symlinked_root_keeps_the_users_path(debian_otp: Path, tmp_path: Path) -> None:
    link = tmp_path / "erlang"
    link.symlink_to(debian_otp)
    (tree,) = DirectorySource(link).acquire(tmp_path)
    assert tree.root == debian_otp.resolve() and tree.display_root == str(link)


def test_release_folder(debian_otp: Path, tmp_path: Path) -> None:
    rel = build_release_tree(debian_otp, tmp_path / "rel", ("kernel", "stdlib"), with_nif=False)
    (tree,) = DirectorySource(rel).acquire(tmp_path)
    assert tree.root == rel.resolve()


def test_release_without_erts(tmp_path: Path) -> None:
    # `include_erts: false`: lib/ and releases/ only.
    (tmp_path / "rel" / "lib" / "myapp-0.1.0").mkdir(parents=True)
    (tmp_path / "rel" / "releases" / "0.1.0").mkdir(parents=True)
    assert is_runtime_root(tmp_path / "rel")
    assert find_runtime_root(tmp_path) is None


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(AcquireError) as info:
        DirectorySource(missing).acquire(tmp_path)
    assert info.value.diagnostics().startswith(f"{missing}: no such file or directory")
    assert "hint:" in info.value.diagnostics()


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(AcquireError, match="dangling: is a broken symbolic link"):
        DirectorySource(link).acquire(tmp_path)


def test_not_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "beam.smp"
    f.write_bytes(b"\x7fELF")
    with pytest.raises(AcquireError) as info:
        DirectorySource(f).acquire(tmp_path)
    assert f"{f}: not a directory" in info.value.diagnostics()
    assert "otp-gate elf" in info.value.diagnostics()


def test_folder_without_a_runtime(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(AcquireError) as info:
        DirectorySource(tmp_path).acquire(tmp_path / "work")
    message = info.value.diagnostics()
    assert f"{tmp_path}: no Erlang/OTP runtime found here" in message


def test_erts_symlink_does_not_count(tmp_path: Path, debian_otp: Path) -> None:
    # A folder whose only erts-* is a symlink elsewhere is not a runtime of its own.
    (tmp_path / "erts-13.1.5").symlink_to(debian_otp / "erts-13.1.5")
    assert not is_runtime_root(tmp_path)
