"""Walking a runtime: ELF by magic bytes, roles, version files, and hostile trees."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from gate.acquire.interface import AcquiredTree
from gate.errors import InspectError
from gate.inspection.runtime import classify, load_runtime, otp_application_names
from gate.model.otp import AppVersion
from gate.model.runtime import Origin, Role, Runtime, RuntimeKind
from tests.support.debian_otp import elf_paths
from tests.support.release_tree import NIF_PATH, build_release_tree

ORIGIN = Origin("directory", "test tree")
OTP_APPS = otp_application_names()


def load(root: Path) -> Runtime:
    return load_runtime(AcquiredTree(root, str(root), ORIGIN))


@pytest.fixture(scope="module")
def release_root(debian_otp: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release_tree(debian_otp, tmp_path_factory.mktemp("release") / "myapp")


@pytest.fixture
def an_elf(debian_otp: Path) -> Path:
    return debian_otp / "erts-13.1.5" / "bin" / "epmd"


def test_debian_tree_roles(debian_otp: Path) -> None:
    rt = load(debian_otp)
    roles = {f.path: f.role for f in rt.files}
    # Every ELF file of the tree, by an independent walk (the count moves with Debian's packaging).
    assert set(roles) == elf_paths(debian_otp)
    counts = Counter(roles.values())
    assert counts[Role.EMULATOR] == 1
    assert counts[Role.ERTS_EXECUTABLE] > 0 and counts[Role.OTP_NIF] > 0
    assert roles["erts-13.1.5/bin/beam.smp"] == Role.EMULATOR
    for name in ("epmd", "erlexec", "erl_child_setup", "inet_gethost", "heart", "dyn_erl"):
        assert roles[f"erts-13.1.5/bin/{name}"] == Role.ERTS_EXECUTABLE
    assert roles["bin/erlc"] == Role.ERTS_EXECUTABLE
    assert roles["lib/erl_interface-5.3/bin/erl_call"] == Role.ERTS_EXECUTABLE
    assert roles["lib/crypto-5.1.2/priv/lib/crypto.so"] == Role.OTP_NIF
    assert roles["lib/wx-2.2.1/priv/wxe_driver.so"] == Role.OTP_NIF
    assert roles["lib/wx-2.2.1/priv/erl_gl.so"] == Role.OTP_NIF
    ports = {p for p, r in roles.items() if r == Role.OTP_PORT_PROGRAM}
    assert ports == {
        "lib/odbc-2.14/priv/bin/odbcserver",
        "lib/os_mon-2.8/priv/bin/cpu_sup",
        "lib/os_mon-2.8/priv/bin/memsup",
    }
    # bin/epmd is a symlink to erts-13.1.5/bin/epmd: not followed, not counted twice.
    assert "bin/epmd" not in roles
    crypto = next(f for f in rt.files if f.path.endswith("crypto.so"))
    assert crypto.app == "crypto-5.1.2"
    assert crypto.abs_path == debian_otp / crypto.path


def test_debian_tree_version_files(debian_otp: Path) -> None:
    rt = load(debian_otp)
    assert rt.kind == RuntimeKind.OTP_INSTALL
    assert rt.otp_version_file == "25.2.3"
    assert rt.erts_versions == ("13.1.5",)
    assert rt.start_erl_data == "13.1.5 25"
    assert AppVersion("kernel", "8.5.3") in rt.installed_application_versions
    assert AppVersion("erts", "13.1.5") in rt.installed_application_versions
    assert AppVersion("ssl", "10.8.7") in rt.applications
    assert len(rt.applications) == 36
    # Debian's dangling jquery symlinks point outside the tree: skipped, not problems.
    assert rt.problems == ()
    assert rt.origin == ORIGIN


def test_release_tree(release_root: Path) -> None:
    rt = load(release_root)
    assert rt.kind == RuntimeKind.RELEASE
    assert rt.otp_version_file is None
    assert rt.start_erl_data == "13.1.5 0.1.0"
    assert rt.erts_versions == ("13.1.5",)
    roles = {f.path: f.role for f in rt.files}
    assert roles[NIF_PATH] == Role.PROJECT_NIF
    assert roles["erts-13.1.5/bin/beam.smp"] == Role.EMULATOR
    assert roles["lib/crypto-5.1.2/priv/lib/crypto.so"] == Role.OTP_NIF
    assert AppVersion("myapp", "0.1.0") in rt.applications
    assert [f.app for f in rt.files if f.role == Role.PROJECT_NIF] == ["myapp-0.1.0"]


def test_elf_found_by_magic_not_by_name(tmp_path: Path, an_elf: Path) -> None:
    priv = tmp_path / "lib" / "myapp-1.0" / "priv"
    priv.mkdir(parents=True)
    shutil.copy(an_elf, priv / "README.txt")  # an ELF with a text name
    (priv / "fake.so").write_bytes(b"not an ELF at all")
    bin_dir = tmp_path / "erts-13.1.5" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "beam.smp").write_text("#!/bin/sh\n")  # a script named like the emulator
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "short").write_bytes(b"\x7fEL")
    rt = load(tmp_path)
    assert [(f.path, f.role) for f in rt.files] == [
        ("lib/myapp-1.0/priv/README.txt", Role.PROJECT_NIF)
    ]
    assert rt.kind == RuntimeKind.RELEASE


def test_symlink_loops_do_not_hang_and_are_reported(tmp_path: Path, an_elf: Path) -> None:
    shutil.copy(an_elf, tmp_path / "prog")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to("..")  # a directory loop through a symlink
    (tmp_path / "outside").symlink_to(an_elf)  # an ELF outside the root
    rt = load(tmp_path)
    assert [f.path for f in rt.files] == ["prog"]
    assert sorted(rt.problems) == [
        "symlink loop at a (not followed)",
        "symlink loop at b (not followed)",
    ]
    assert rt.kind == RuntimeKind.FILES
    assert rt.files[0].role == Role.OTHER


def test_fifo_and_hard_links(tmp_path: Path, an_elf: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # opening it would block: it must be skipped
    shutil.copy(an_elf, tmp_path / "one")
    os.link(tmp_path / "one", tmp_path / "two")
    rt = load(tmp_path)
    assert [f.path for f in rt.files] == ["one", "two"]


def test_unreadable_files_are_errors_naming_the_file(
    tmp_path: Path, an_elf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where chmod 000 does not stop reads: make the open itself fail.
    (tmp_path / "lib" / "x-1" / "priv").mkdir(parents=True)
    secret = tmp_path / "lib" / "x-1" / "priv" / "secret.so"
    shutil.copy(an_elf, secret)
    shutil.copy(an_elf, tmp_path / "fine")
    real_open = os.open

    def deny(path: os.PathLike[str] | str, flags: int, *args: int) -> int:
        if Path(path) == secret:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    rt = load(tmp_path)
    assert [f.path for f in rt.files] == ["fine"]
    assert rt.problems == ()
    assert rt.unreadable == (("lib/x-1/priv/secret.so", "cannot read: Permission denied"),)


def test_unreadable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def deny(path: Path) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny)
    rt = load(tmp_path)
    assert rt.unreadable == (("locked", "cannot read the folder: Permission denied"),)


def test_a_path_over_path_max_is_an_error_not_a_skip(tmp_path: Path, an_elf: Path) -> None:
    # Build a chain of folders whose absolute path exceeds PATH_MAX (4096), relative to a
    # folder descriptor so the kernel accepts it; the walk cannot open its deepest folders.
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(20):
            os.mkdir("d" * 250, dir_fd=fd)
            nxt = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        with open(os.open("hidden.so", os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=fd), "wb") as f:
            f.write(an_elf.read_bytes())
    finally:
        os.close(fd)
    rt = load(tmp_path)
    assert rt.files == ()
    assert len(rt.unreadable) == 1
    path, why = rt.unreadable[0]
    assert path.startswith("d" * 250) and "File name too long" in why
    # Clean up with descriptors too: shutil.rmtree handles long paths itself.
    shutil.rmtree(tmp_path / ("d" * 250))


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InspectError, match="nothing-here: not a directory"):
        load_runtime(AcquiredTree(tmp_path / "nothing-here", "nothing-here", ORIGIN))


def test_newest_otp_version_file_wins(tmp_path: Path) -> None:
    for major, text in (("24", "24.3.4\n"), ("25", "25.2.3\n")):
        (tmp_path / "releases" / major).mkdir(parents=True)
        (tmp_path / "releases" / major / "OTP_VERSION").write_text(text)
    (tmp_path / "releases" / "25" / "installed_application_versions").write_text(
        "erts-13.1.5\nnot an app\nkernel-8.5.3\n"
    )
    rt = load(tmp_path)
    assert rt.otp_version_file == "25.2.3"
    assert rt.installed_application_versions == (
        AppVersion("erts", "13.1.5"),
        AppVersion("kernel", "8.5.3"),
    )


@pytest.mark.parametrize(
    ("rel", "role", "app"),
    [
        ("erts-15.2/bin/beam.smp", Role.EMULATOR, None),
        ("erts-15.2/bin/beam.debug.smp", Role.EMULATOR, None),
        ("erts-15.2/bin/erlexec", Role.ERTS_EXECUTABLE, None),
        ("erts-15.2/lib/internal/x", Role.OTHER, None),
        ("bin/erl", Role.ERTS_EXECUTABLE, None),
        ("lib/os_mon/priv/bin/memsup", Role.OTP_PORT_PROGRAM, "os_mon"),
        ("lib/crypto-5.5/priv/lib/crypto.so", Role.OTP_NIF, "crypto-5.5"),
        ("lib/jason-1.4.1/priv/x/y.so", Role.PROJECT_NIF, "jason-1.4.1"),
        ("lib/rustler_app-0.1.0-dev/priv/native/lib.so", Role.PROJECT_NIF, "rustler_app-0.1.0-dev"),
        ("lib/myapp-1.0/bin/tool", Role.OTHER, "myapp-1.0"),
        ("usr/bin/thing", Role.OTHER, None),
    ],
)
def test_classify(rel: str, role: Role, app: str | None) -> None:
    assert classify(rel, OTP_APPS) == (role, app)


def test_version_files_behind_symlinks_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "27").mkdir(parents=True)
    (outside / "27" / "OTP_VERSION").write_text("27.3.4\n")
    root = tmp_path / "root"
    (root / "releases" / "25").mkdir(parents=True)
    (root / "releases" / "25" / "OTP_VERSION").symlink_to(outside / "27" / "OTP_VERSION")
    rt = load(root)
    assert rt.otp_version_file is None
    assert rt.problems == (
        "releases/25/OTP_VERSION is a symbolic link; not followed, so releases/25/OTP_VERSION "
        "was not read",
    )
    # A whole releases/ folder that is a symlink out of the tree is not read either.
    other = tmp_path / "other"
    other.mkdir()
    (other / "releases").symlink_to(outside)
    (other / "lib").symlink_to(outside)
    rt = load(other)
    assert rt.otp_version_file is None and rt.applications == ()


def test_undecodable_file_names(tmp_path: Path, an_elf: Path) -> None:
    priv = tmp_path / "lib" / "myapp-1.0" / "priv"
    priv.mkdir(parents=True)
    name = os.fsdecode(b"nif-\xff.so")
    shutil.copy(an_elf, priv / name)
    rt = load(tmp_path)
    assert [f.path for f in rt.files] == [f"lib/myapp-1.0/priv/{name}"]
    assert rt.files[0].role == Role.PROJECT_NIF
