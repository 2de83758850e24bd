"""`otp-gate` through `main(argv)`: exit codes, formats, outputs, and bad inputs that name the file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.cli import main
from tests.support.debian_otp import elf_paths

C_SOURCE = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[64];
    strcpy(buf, argc > 1 ? argv[1] : "x");
    printf("%s\n", buf);
    return 0;
}
"""

HARDENED = [
    "-O2",
    "-fPIE",
    "-pie",
    "-fstack-protector-strong",
    "-D_FORTIFY_SOURCE=2",
    "-Wl,-z,relro,-z,now",
    "-Wl,-z,noexecstack",
]
WEAK = ["-O2", "-fno-PIE", "-no-pie", "-fno-stack-protector", "-Wl,-z,norelro", "-Wl,-z,lazy"]
ENV = {"OTP_GATE_TODAY": "2026-05-01"}


def gcc(tmp: Path, name: str, flags: list[str]) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed (apt-get install gcc)")
    src = tmp / "prog.c"
    src.write_text(C_SOURCE)
    out = tmp / name
    subprocess.run(["gcc", *flags, "-o", str(out), str(src)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("elf")
    return {"hardened": gcc(tmp, "hardened", HARDENED), "weak": gcc(tmp, "weak", WEAK)}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv, ENV)
    out, err = capsys.readouterr()
    return code, out, err


def test_elf_hardened_binary_passes(
    binaries: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["elf", str(binaries["hardened"]), "--format", "json"], capsys)
    assert code == 0, out + err
    doc = json.loads(out)
    (f,) = doc["files"]
    assert f["path"] == str(binaries["hardened"])
    assert f["role"] == "file"
    assert f["kind"] == "pie-executable"
    for check in ("pie", "stack-protector", "relro", "bind-now", "nx"):
        assert f["checks"][check]["status"] == "pass", (check, f["checks"][check])
    assert doc["otp"] is None
    assert doc["verdict"]["exit_code"] == 0


def test_elf_weak_binary_fails(
    binaries: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["elf", str(binaries["weak"]), str(binaries["hardened"])], capsys)
    assert code == 1
    assert "verdict: FAIL (exit 1), 2 files checked" in out
    row = next(line for line in out.splitlines() if line.startswith(str(binaries["weak"])))
    assert "executable" in row and "FAIL" in row
    failing = {r.split()[1] for r in out.splitlines() if r.strip().startswith("[error]")}
    assert {"pie", "relro", "bind-now"} <= failing


def test_output_file_and_stderr_line(
    binaries: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "report.sarif"
    code, out, err = run(
        ["elf", str(binaries["weak"]), "--format", "sarif", "--output", str(target)], capsys
    )
    assert code == 1
    assert out == ""
    assert f"report written to {target}" in err
    doc = json.loads(target.read_text())
    assert doc["version"] == "2.1.0"
    assert {r["ruleId"] for r in doc["runs"][0]["results"]} >= {"pie", "relro", "bind-now"}


def test_markdown_format(binaries: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["elf", str(binaries["hardened"]), "--format", "markdown"], capsys)
    assert code == 0
    assert out.startswith("### ✅ OTP hardening gate: pass")


def test_fail_on_never_and_config_file(
    binaries: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["elf", str(binaries["weak"]), "--fail-on", "never"], capsys)[0] == 0
    cfg = tmp_path / "gate.toml"
    cfg.write_text('[[waiver]]\ncheck = "*"\npath = "*weak"\nreason = "legacy test binary"\n')
    code, out, _ = run(["elf", str(binaries["weak"]), "--config", str(cfg)], capsys)
    assert code == 0, out
    assert "waived:" in out


def test_default_config_is_read_from_the_working_directory(
    binaries: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / ".otp-gate.toml").write_text('fail-on = "never"\n')
    monkeypatch.chdir(tmp_path)
    assert run(["elf", str(binaries["weak"])], capsys)[0] == 0


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["elf", "{tmp}/absent"], ["{tmp}/absent", "no such file"]),
        (["elf", "{tmp}/notelf"], ["{tmp}/notelf", "not an ELF file"]),
        (["elf", "{tmp}/truncated"], ["{tmp}/truncated"]),
        (["elf", "{tmp}"], ["{tmp}", "is a directory"]),
        (["elf", "{tmp}/loop"], ["{tmp}/loop", "symlink loop"]),
        (["scan", "{tmp}/loop"], ["{tmp}/loop", "symlink loop"]),
        (["scan", "{tmp}/absent"], ["{tmp}/absent", "no such file or directory"]),
        (["scan", "{tmp}/notelf"], ["{tmp}/notelf", "not a directory or a .tar.gz"]),
        (
            ["elf", "{tmp}/hardened", "--format", "xml"],
            ["--format", "'xml'", "text, json, sarif, markdown"],
        ),
        (
            ["elf", "{tmp}/hardened", "--fail-on", "sometimes"],
            ["--fail-on", "error, warning, never"],
        ),
        (["elf", "{tmp}/hardened", "--version-policy", "x"], ["--version-policy", "latest-patch"]),
        (
            ["elf", "{tmp}/hardened", "--config", "{tmp}/none.toml"],
            ["{tmp}/none.toml", "not found"],
        ),
        (
            ["elf", "{tmp}/hardened", "--config", "{tmp}/bad.toml"],
            ["{tmp}/bad.toml", "fail-on", "error, warning, never"],
        ),
        (
            ["elf", "{tmp}/hardened", "--output", "{tmp}/notelf/x.json"],
            ["{tmp}/notelf/x.json", "cannot write"],
        ),
        (["scan", "--distro", "{tmp}"], ["PATH and --distro"]),
        (["scan", "{tmp}", "--platform", "linux/arm64"], ["--platform"]),
        (["build", "--otp-version", "27.3.4", "--cflags=-fpie"], ["'-fpie' has no -O flag"]),
        (["build", "--otp-version", "not-a-version"], ["not-a-version"]),
        (["frobnicate"], ["invalid choice", "frobnicate"]),
        ([], ["required"]),
        (["elf"], ["FILE"]),
    ],
)
def test_bad_input_exits_2_naming_it(
    argv: list[str],
    needles: list[str],
    binaries: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notelf").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "truncated").write_bytes(binaries["hardened"].read_bytes()[:100])
    (tmp_path / "hardened").write_bytes(binaries["hardened"].read_bytes())
    (tmp_path / "bad.toml").write_text('fail-on = "maybe"\n')
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(args, capsys)
    assert code == 2, (out, err)
    assert err.startswith("otp-gate: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle.replace("{tmp}", str(tmp_path)) in err, err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert (
        code == 0 and "Exit codes: 0 the policy passes, 1 it fails, 2 usage or tool error." in out
    )
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("otp-gate ")
    code, out, _ = run(["scan", "--help"], capsys)
    assert code == 0 and "--image-archive" in out and "--otp-version" in out


def test_error_messages_escape_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "a\x1b[31mred\nfake"
    evil.write_text("not elf")
    code, _, err = run(["elf", str(evil)], capsys)
    assert code == 2
    assert "\x1b" not in err
    assert "a\\x1b[31mred\\x0afake" in err


def test_bad_today_override(binaries: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["elf", str(binaries["hardened"])], {"OTP_GATE_TODAY": "tomorrow"})
    err = capsys.readouterr().err
    assert code == 2 and "OTP_GATE_TODAY" in err


def test_no_path_and_no_otp_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    from gate.acquire import discover

    # The machine's own system-wide OTP (if any) is out of the picture: roots that do not exist.
    none = (tmp_path / "no-otp-here",)
    monkeypatch.setattr(
        discover, "default_source", functools.partial(discover.default_source, system_roots=none)
    )
    code = main(["scan", "--offline"], {"PATH": str(tmp_path), "HOME": str(tmp_path), **ENV})
    err = capsys.readouterr().err
    assert code == 2
    assert "no Erlang/OTP found" in err and "--distro" in err


def test_erl_on_path_is_found(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "erl").symlink_to(debian_otp / "bin" / "erl")
    code = main(
        ["scan", "--offline", "--format", "json"],
        {"PATH": str(bin_dir), "HOME": str(tmp_path), **ENV},
    )
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    assert doc["otp"]["version"] == "25.2.3"
    assert {f["path"] for f in doc["files"]} == elf_paths(debian_otp)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["scan", "--image-archive", "{tmp}/none.tar"], "{tmp}/none.tar: no such image archive"),
        (["scan", "--image-archive", "{tmp}/img.tar", "--platform", "amd64"], "expected os/arch"),
        (["scan", "--builds-mirror", "http://127.0.0.1:9"], "--builds-mirror only applies"),
        (["build", "--otp-version", "27.3.4", "--no-flags", "--cflags=-O2"], "--no-flags"),
        (["build", "--otp-version", "27.3.4", "--env", "NOEQUALS"], "NAME=VALUE"),
        (["build", "--otp-version", "27.3.4", "--configure-args", "'open"], "--configure-args"),
    ],
)
def test_source_arguments_are_checked(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "img.tar").write_bytes(b"")
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(args, ENV)
    err = capsys.readouterr().err
    assert code == 2
    assert needle.replace("{tmp}", str(tmp_path)) in err, err


def test_scan_directory_with_hostile_names(
    binaries: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A release-like tree whose project NIF has a name built to forge terminal output.
    root = tmp_path / "tree"
    (root / "erts-13.1.5" / "bin").mkdir(parents=True)
    priv = root / "lib" / "myapp-0.1.0" / "priv"
    priv.mkdir(parents=True)
    evil = "weak\x1b[2J\nverdict: PASS (exit 0)"
    (priv / evil).write_bytes(binaries["weak"].read_bytes())
    code = main(["scan", str(root), "--offline"], ENV)
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in out
    assert not any(line.startswith("verdict: PASS") for line in out.splitlines())
    assert "weak\\x1b[2J\\x0averdict: PASS (exit 0)" in out


def _failing_source_tarball() -> bytes:
    """An OTP source tarball whose configure fails at once."""
    import io
    import tarfile

    script = b"#!/bin/sh\necho 'configure: error: this is a test tarball' >&2\nexit 1\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("configure", "otp_build"):
            info = tarfile.TarInfo(f"otp_src_27.3.4/{name}")
            info.size, info.mode = len(script), 0o755
            tar.addfile(info, io.BytesIO(script))
        info = tarfile.TarInfo("otp_src_27.3.4/OTP_VERSION")
        info.size = 7
        tar.addfile(info, io.BytesIO(b"27.3.4\n"))
    return buf.getvalue()


@pytest.mark.parametrize("in_actions", [False, True])
def test_build_fetches_from_the_mirror_and_points_at_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], in_actions: bool
) -> None:
    # The CLI reaches the builder through --source-mirror, verifies the tarball against the
    # release's SHA256.txt, and reports the failing configure with the build log, exit code 2.
    # In GitHub Actions each step is a log group closed with its elapsed time.
    import hashlib

    from tests.support.fake_http import FakeServer, Response

    tarball = _failing_source_tarball()
    digest = hashlib.sha256(tarball).hexdigest()
    env = {**ENV, "OTP_GATE_CACHE": str(tmp_path / "cache")}
    if in_actions:
        env["GITHUB_ACTIONS"] = "true"
    with FakeServer() as srv:
        srv.route("GET", "/OTP-27.3.4/otp_src_27.3.4.tar.gz", Response(200, tarball))
        srv.route(
            "GET", "/OTP-27.3.4/SHA256.txt", Response(200, f"{digest}  otp_src_27.3.4.tar.gz\n")
        )
        code = main(
            ["build", "--otp-version", "27.3.4", "--source-mirror", srv.url, "--offline"], env
        )
        assert [r.path for r in srv.requests] == [
            "/OTP-27.3.4/SHA256.txt",
            "/OTP-27.3.4/otp_src_27.3.4.tar.gz",
        ]
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert "build.log" in err and str(tmp_path / "cache") in err
    groups = [line for line in captured.out.splitlines() if line.startswith("::group::")]
    if in_actions:
        assert [g.split("::")[2].split(" (")[0] for g in groups] == [
            "otp-gate build: download",
            "otp-gate build: unpack",
            "otp-gate build: configure",
        ]
        assert captured.out.count("::endgroup::") == 3
        assert re.search(r"^configure failed in \d+\.\d s$", captured.out, re.M)
    else:
        assert groups == [] and "[otp-gate build] configure" in err


def test_build_with_a_given_sha256_skips_sha256_txt_and_refuses_a_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    from tests.support.fake_http import FakeServer, Response

    tarball = _failing_source_tarball()
    env = {**ENV, "OTP_GATE_CACHE": str(tmp_path / "cache")}
    argv = ["build", "--otp-version", "27.3.4", "--offline"]
    with FakeServer() as srv:
        srv.route("GET", "/OTP-27.3.4/otp_src_27.3.4.tar.gz", Response(200, tarball))
        right = hashlib.sha256(tarball).hexdigest().upper()
        assert main([*argv, "--source-mirror", srv.url, "--sha256", right], env) == 2
        assert [r.path for r in srv.requests] == ["/OTP-27.3.4/otp_src_27.3.4.tar.gz"]
        assert "configure" in capsys.readouterr().err  # it got as far as building
        wrong = "0" * 64
        env["OTP_GATE_CACHE"] = str(tmp_path / "cache2")
        assert main([*argv, "--source-mirror", srv.url, "--sha256", wrong], env) == 2
        err = capsys.readouterr().err
        assert wrong in err and "otp_src_27.3.4.tar.gz" in err
    assert main([*argv, "--sha256", "abc"], env) == 2
    assert "--sha256 'abc': expected 64 hexadecimal digits" in capsys.readouterr().err


def test_docker_host_comes_from_the_given_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # main(environ)'s DOCKER_HOST is the engine asked, whatever the process environment says.
    sock = tmp_path / "none.sock"
    code = main(
        ["scan", "--image", "local/x:1", "--offline"], {**ENV, "DOCKER_HOST": f"unix://{sock}"}
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot reach the Docker engine at unix://{sock}" in err


def test_build_help_names_the_flags_the_build_uses() -> None:
    # The help spells the defaults out (importing the remediation tables would slow every start);
    # this keeps that copy equal to the one definition the build uses.
    from gate.cli import build_parser
    from gate.knowledge.remediation import EEF_CFLAGS, EEF_LDFLAGS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    build = sub.choices["build"]  # type: ignore[attr-defined]
    helps = {a.dest: a.help or "" for a in build._actions}
    assert f'"{EEF_CFLAGS}"' in helps["cflags"]
    assert f'"{EEF_LDFLAGS}"' in helps["ldflags"]


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--offline", "--format", "json", "/opt/otp"],
        ["scan", "--image", "erlang:27", "--platform", "linux/arm64"],
        ["elf", "a", "b", "--fail-on", "warning"],
        ["pins", "repo", "--offline"],
        ["merge", "a.json", "b.json", "--format", "markdown"],
        ["build", "--otp-version", "27.3", "--no-flags", "--env", "A=1"],
    ],
)
def test_a_run_builds_only_its_command_and_parses_the_same(argv: list[str]) -> None:
    from gate.cli import build_parser

    one = build_parser(argv[0])
    commands = next(a for a in one._actions if a.dest == "command")
    assert list(commands.choices) == [argv[0]]  # type: ignore[attr-defined]
    assert one.parse_args(argv) == build_parser().parse_args(argv)


def test_help_and_an_unknown_command_still_name_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"], {}) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("scan", "elf", "pins", "merge", "build"))
    assert main(["scna", "/x"], {}) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'scna'" in err and "'merge'" in err
