"""Hostile inputs to the CLI itself (issue 14): configs, unwritable outputs, surprises, many files.

Every one ends in a clear `otp-gate: ...` line and exit 2 (or a report and exit 1), never a
traceback, never exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate.cli import main
from gate.config import MAX_CONFIG_BYTES, load_config_file
from gate.errors import ConfigError

ENV = {"OTP_GATE_TODAY": "2026-05-01"}
LS = Path("/bin/ls").resolve()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv, ENV)
    out, err = capsys.readouterr()
    return code, out, err


def test_config_on_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config_file(fifo)  # would block forever in open() without O_NONBLOCK


def test_config_on_a_device_is_refused_before_reading() -> None:
    with pytest.raises(ConfigError, match=r"/dev/zero: .*not a regular file"):
        load_config_file(Path("/dev/zero"))


def test_config_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text('fail-on = "' + "x" * MAX_CONFIG_BYTES + '"\n')
    with pytest.raises(ConfigError, match="larger than"):
        load_config_file(big)


def test_deeply_nested_config_is_a_config_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config_file(deep)


@pytest.mark.parametrize(
    "text",
    [
        'fail-on = "never"\nfail_on = "error"\n',
        "grace_days = 1\ngrace-days = 2\n",
        '[[waiver]]\ncheck = "pie"\nreason = "x"\npath = "a"\npath = "b"\n',
    ],
)
def test_a_key_given_in_both_spellings_is_refused(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "dup.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"given twice|defined|overwrite|Cannot"):
        load_config_file(cfg)


def test_a_huge_config_value_is_cut_in_the_message(tmp_path: Path) -> None:
    cfg = tmp_path / "huge.toml"
    cfg.write_text('stale-data-days = "' + "y" * 500_000 + '"\n')
    with pytest.raises(ConfigError) as info:
        load_config_file(cfg)
    assert len(info.value.message) < 400
    assert "500002 characters" in info.value.message


def test_elf_reports_every_file_and_names_each_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncated = tmp_path / "truncated"
    truncated.write_bytes(LS.read_bytes()[:200])
    notelf = tmp_path / "notelf"
    notelf.write_text("hello")
    long_name = tmp_path / ("n" * 300)  # over NAME_MAX: ENAMETOOLONG, not a traceback
    argv = ["elf", str(truncated), str(LS), str(notelf), str(long_name), "--format", "json"]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert "Traceback" not in err
    files = {f["path"]: f for f in json.loads(out)["files"]}
    assert files[str(LS)]["error"] is None and files[str(LS)]["checks"]
    for bad in (truncated, notelf, long_name):
        assert files[str(bad)]["error"], bad
        assert str(bad)[:60] in err


def test_unforeseen_exception_is_an_internal_error_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gate.scan

    def boom(*_: object, **__: object) -> None:
        raise ValueError("something nobody foresaw")

    monkeypatch.setattr(gate.scan, "scan_files", boom)
    code, _, err = run(["elf", str(LS)], capsys)
    assert code == 2
    assert err.startswith("otp-gate: internal error: ValueError: something nobody foresaw")
    assert "Traceback" not in err


@pytest.mark.parametrize("exc", [MemoryError, RecursionError])
def test_memory_and_recursion_errors_exit_2(
    exc: type[BaseException], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gate.scan

    def boom(*_: object, **__: object) -> None:
        raise exc()

    monkeypatch.setattr(gate.scan, "scan_files", boom)
    code, _, err = run(["elf", str(LS)], capsys)
    assert code == 2 and "internal error" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("to_file", [False, True])
def test_report_to_a_full_disk_is_a_report_error(to_file: bool) -> None:
    args = [sys.executable, "-m", "gate", "elf", str(LS)]
    if to_file:
        args += ["--output", "/dev/full"]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            args, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, check=False
        )
    assert proc.returncode == 2, proc.stderr
    assert "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr


def _deep_dirs(top: Path, depth: int = 20) -> None:
    """Folders nested past PATH_MAX (4096 bytes), made relative to descriptors; an ELF at the end."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d" * 250, dir_fd=fd)
            nxt = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open("hidden.so", os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=fd)
        with open(out, "wb") as f:
            f.write(LS.read_bytes())
    finally:
        os.close(fd)


def test_a_tree_the_gate_cannot_fully_read_fails_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "otp"
    (root / "erts-13.2" / "bin").mkdir(parents=True)
    (root / "erts-13.2" / "bin" / "beam.smp").write_bytes(LS.read_bytes())
    cfg = tmp_path / "gate.toml"
    # /bin/ls lacks BIND_NOW on most distros: make that a warning so the clean tree passes.
    cfg.write_text('version-policy = "off"\n[severity]\nbind-now = "warning"\nfortify = "off"\n')
    argv = ["scan", str(root), "--offline", "--config", str(cfg), "--format", "json"]
    code, out, err = run(argv, capsys)
    assert code == 0, (out, err)
    _deep_dirs(root)
    code, out, err = run(argv, capsys)
    assert code == 1, err
    reasons = json.loads(out)["verdict"]["reasons"]
    errors = [r for r in reasons if r["code"] == "inspect-error"]
    assert len(errors) == 1 and "File name too long" in errors[0]["message"]
    shutil.rmtree(root / ("d" * 250))


def _as_nobody(argv: list[str]) -> tuple[int, str]:
    """`main(argv)` in a forked child that drops to `nobody` when run as root (root reads
    anything); returns (exit code, stdout). Modules are already imported by the caller's first run,
    since the interpreter's own files may not be readable by `nobody`."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 97
        try:
            os.close(r)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            sys.stdout = os.fdopen(w, "w")
            code = main(argv, ENV)
            sys.stdout.flush()
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


def test_mode_000_file_and_folder_fail_closed_for_a_normal_user(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The real thing, not a monkeypatch: a mode-000 file and a mode-000 folder in the tree."""
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="otp-gate-perm-"))
    try:
        root = top / "otp"
        (root / "erts-13.2" / "bin").mkdir(parents=True)
        (root / "erts-13.2" / "bin" / "beam.smp").write_bytes(LS.read_bytes())
        (root / "lib" / "x-1" / "priv").mkdir(parents=True)
        secret = root / "lib" / "x-1" / "priv" / "secret.so"
        secret.write_bytes(LS.read_bytes())
        locked = root / "locked"
        locked.mkdir()
        (locked / "hidden.so").write_bytes(LS.read_bytes())
        cfg = top / "gate.toml"
        cfg.write_text(
            'version-policy = "off"\n[severity]\nbind-now = "warning"\nfortify = "off"\n'
        )
        for p in (top, *top.rglob("*")):
            p.chmod(0o755 if p.is_dir() else 0o644)
        argv = ["scan", str(root), "--offline", "--config", str(cfg), "--format", "json"]
        assert main(argv, ENV) == 0, capsys.readouterr()  # readable: passes (and warms imports)
        capsys.readouterr()
        secret.chmod(0o000)
        locked.chmod(0o000)
        code, out = _as_nobody(argv)
        assert code == 1, out
        reasons = json.loads(out)["verdict"]["reasons"]
        errors = sorted(r["path"] for r in reasons if r["code"] == "inspect-error")
        assert errors == ["lib/x-1/priv/secret.so", "locked"]
    finally:
        for p in (top, *top.rglob("*")):
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(top)


LONG_NAME = "n" * 300  # over NAME_MAX (255)
LONG_PATH = "/".join(["d" * 250] * 20)  # over PATH_MAX (4,096)


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", LONG_PATH],
        ["scan", LONG_NAME],
        ["scan", LONG_NAME + ".tar.gz"],
        ["scan", "--image-archive", LONG_NAME],
        ["elf", str(LS), "--output", LONG_PATH + "/r.json"],
    ],
    ids=["scan-path", "scan-name", "scan-tarball", "image-archive", "output"],
)
def test_names_the_system_cannot_look_up_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([*argv, "--offline"], capsys)
    assert code == 2, err
    assert "File name too long" in err and "internal error" not in err
    assert len(err) < 1000  # the 5 kB path is cut in the message


@pytest.mark.parametrize(
    "argv",
    [["elf", "a\x00b"], ["elf", str(LS), "--config", "\x00"], ["scan", "x\x00", "--offline"]],
)
def test_a_nul_byte_in_an_argument_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2 and "NUL byte" in err and "internal error" not in err


def test_merge_refuses_a_fifo_instead_of_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    code, _, err = run(["merge", str(fifo)], capsys)
    assert code == 2 and "not a regular file" in err
