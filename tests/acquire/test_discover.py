"""default_source: the erl on PATH (read, never run), the install roots, asdf/mise/kerl installs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.acquire.discover import default_source, discover, from_erl, rootdirs_in_script
from gate.errors import AcquireError


def fake_install(path: Path, version: str = "27.3.4", erts: str = "15.2.7") -> Path:
    """A minimal OTP root: erts-<vsn>/bin and releases/<major>/OTP_VERSION."""
    (path / f"erts-{erts}" / "bin").mkdir(parents=True)
    major = version.split(".")[0]
    (path / "releases" / major).mkdir(parents=True)
    (path / "releases" / major / "OTP_VERSION").write_text(version + "\n")
    return path


def env_for(tmp_path: Path, bin_dir: Path | None = None) -> dict[str, str]:
    return {"PATH": str(bin_dir or tmp_path / "empty-bin"), "HOME": str(tmp_path / "home")}


def test_erl_symlink_on_path(debian_otp: Path, tmp_path: Path) -> None:
    # Debian: /usr/bin/erl -> ../lib/erlang/bin/erl.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "erl").symlink_to(debian_otp / "bin" / "erl")
    source = default_source(env_for(tmp_path, bin_dir), system_roots=())
    (tree,) = source.acquire(tmp_path)
    assert tree.root == debian_otp.resolve()
    assert "erl on PATH" in tree.origin.description


def test_copied_erl_script_is_read_for_rootdir(debian_otp: Path, tmp_path: Path) -> None:
    # A wrapper elsewhere whose ROOTDIR lines point at the install; if it ran, it would leave a mark.
    mark = tmp_path / "EXECUTED"
    text = (debian_otp / "bin" / "erl").read_text().replace("/usr/lib/erlang", str(debian_otp))
    bin_dir = tmp_path / "wrapper" / "bin"
    bin_dir.mkdir(parents=True)
    erl = bin_dir / "erl"
    erl.write_text(text.replace("#!/bin/sh\n", f"#!/bin/sh\ntouch {mark}\n", 1))
    erl.chmod(0o755)
    assert rootdirs_in_script(erl.read_text())[0] == debian_otp
    found = discover(env_for(tmp_path, bin_dir), system_roots=())
    assert found[0].root == debian_otp
    assert "ROOTDIR" in found[0].how
    assert not mark.exists()


def test_upstream_style_rootdir_line() -> None:
    script = 'if [ -z "$ERL_ROOTDIR" ]\nthen\n    ROOTDIR="/opt/otp"\nelse\n    ROOTDIR="$ERL_ROOTDIR"\nfi\n'
    assert rootdirs_in_script(script) == [Path("/opt/otp")]


def test_erl_rootdir_environment(tmp_path: Path) -> None:
    root = fake_install(tmp_path / "otp")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "erl").write_text("#!/bin/sh\n")
    (bin_dir / "erl").chmod(0o755)
    found = from_erl(bin_dir / "erl", {"ERL_ROOTDIR": str(root)})
    assert found is not None and found.root == root


def test_erl_in_erts_bin(tmp_path: Path) -> None:
    root = fake_install(tmp_path / "rel")
    erl = root / "erts-15.2.7" / "bin" / "erl"
    erl.write_bytes(b"\x7fELF" + b"\0" * 60)  # rebar3 ships a binary erl
    erl.chmod(0o755)
    found = from_erl(erl, {})
    assert found is not None and found.root == root


def test_symlink_loop_on_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "erl").symlink_to(bin_dir / "erl2")
    (bin_dir / "erl2").symlink_to(bin_dir / "erl")
    assert from_erl(bin_dir / "erl", {}) is None


def test_system_roots(tmp_path: Path) -> None:
    root = fake_install(tmp_path / "usr-local-lib-erlang")
    source = default_source(env_for(tmp_path), system_roots=(tmp_path / "missing", root))
    (tree,) = source.acquire(tmp_path)
    assert tree.root == root.resolve()
    assert "install root" in tree.origin.description


def test_asdf_shim_falls_back_to_installs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shims = home / ".asdf" / "shims"
    shims.mkdir(parents=True)
    (shims / "erl").write_text('#!/usr/bin/env bash\nexec asdf exec "erl" "$@"\n')
    (shims / "erl").chmod(0o755)
    for v in ("26.2.5", "27.3.4", "25.3.2.9"):
        fake_install(home / ".asdf" / "installs" / "erlang" / v, v)
    found = discover({"PATH": str(shims), "HOME": str(home)}, system_roots=())
    assert [f.root.name for f in found] == ["27.3.4", "26.2.5", "25.3.2.9"]
    source = default_source({"PATH": str(shims), "HOME": str(home)}, system_roots=())
    assert source.description is not None
    assert "asdf install" in source.description and "also found" in source.description


def test_mise_and_kerl_installs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mise = fake_install(
        home / ".local" / "share" / "mise" / "installs" / "erlang" / "28.0.1", "28.0.1"
    )
    kerl_dir = fake_install(tmp_path / "kerl-installs" / "26.2", "26.2")
    (home / ".kerl").mkdir(parents=True)
    (home / ".kerl" / "otp_installations").write_text(f"26.2 {kerl_dir}\nbroken-line\n")
    found = discover({"PATH": "", "HOME": str(home)}, system_roots=())
    assert [(f.root, f.how.split()[0]) for f in found] == [(mise, "mise"), (kerl_dir, "kerl")]


def test_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(AcquireError) as info:
        default_source(env_for(tmp_path), system_roots=(tmp_path / "none",))
    assert info.value.message == "no Erlang/OTP found; pass a PATH or --distro"
    assert str(tmp_path / "none") in info.value.diagnostics()
