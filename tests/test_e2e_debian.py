"""`otp-gate scan` end to end on Debian 12's real OTP 25.2.3 packages and a mix-release-like tree.

What the issue requires the gate to say about these binaries: PIE, NX and GNU_RELRO everywhere, but
no BIND_NOW, no stack protector and no fortify; OTP 25.2.3; line 25 no longer supported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gate.cli import main
from tests.support.debian_otp import elf_paths

ENV = {"OTP_GATE_TODAY": "2026-11-29"}


def scan_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["scan", *argv, "--format", "json", "--offline"], ENV)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def test_debian_installed_otp(debian_otp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = scan_json([str(debian_otp)], capsys)
    assert code == 1
    assert doc["runtime_kind"] == "otp-install"
    assert doc["otp"]["version"] == "25.2.3"
    assert doc["otp"]["source"] == "OTP_VERSION"
    assert doc["otp"]["line"] == 25
    assert doc["otp"]["supported"] is False
    assert 25 not in doc["otp"]["supported_lines"]
    assert doc["otp"]["latest_patch"].startswith("25.3.2.")
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == elf_paths(debian_otp)
    assert all(not p.startswith("/") for p in files)  # relative to the scanned root
    assert all(f["error"] is None for f in files.values())

    erts_exes = [f for f in files.values() if f["role"] == "erts-executable"]
    assert erts_exes
    for f in erts_exes:
        assert f["checks"]["pie"]["status"] == "pass", f["path"]
    for f in files.values():
        assert f["checks"]["relro"]["status"] == "pass", f["path"]
        assert f["checks"]["nx"]["status"] == "pass", f["path"]
        assert f["checks"]["bind-now"]["status"] == "fail", f["path"]
    # Debian 12 builds without _FORTIFY_SOURCE: every file that calls a libc function with a
    # checked variant fails; dyntrace.so calls none, so it cannot tell (unknown), never pass.
    fortify = {p: f["checks"]["fortify"]["status"] for p, f in files.items()}
    assert {p for p, s in fortify.items() if s != "fail"} == {
        "lib/runtime_tools-1.19/priv/lib/dyntrace.so"
    }
    assert fortify["lib/runtime_tools-1.19/priv/lib/dyntrace.so"] == "unknown"
    beam = files["erts-13.1.5/bin/beam.smp"]
    assert beam["role"] == "emulator"
    assert beam["checks"]["stack-protector"]["status"] == "fail"
    assert beam["build_flags"]["ldflags"] == ""
    assert "-O2" in beam["build_flags"]["cflags"]

    codes = {(r["code"], r["check"]) for r in doc["verdict"]["reasons"]}
    assert ("check-failed", "bind-now") in codes
    assert ("check-failed", "stack-protector") in codes
    assert ("unsupported-line", "otp-supported-line") in codes
    assert ("version-behind", "otp-latest-patch") in codes
    assert doc["verdict"]["exit_code"] == 1 and doc["verdict"]["result"] == "fail"


def test_debian_text_and_sarif(debian_otp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", str(debian_otp), "--offline"], ENV)
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[1].startswith("OTP 25.2.3 (from OTP_VERSION)")
    assert "line 25 is no longer supported" in out
    assert f"verdict: FAIL (exit 1), {len(elf_paths(debian_otp))} files checked" in out
    code = main(["scan", str(debian_otp), "--offline", "--format", "sarif"], ENV)
    sarif = json.loads(capsys.readouterr().out)
    rule_ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert {"bind-now", "stack-protector", "otp-supported-line"} <= rule_ids
    assert "pie" not in rule_ids and "nx" not in rule_ids


def test_release_tree_is_inferred(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.release_tree import NIF_PATH, build_release_tree

    root = build_release_tree(debian_otp, tmp_path / "rel")
    assert not list(root.glob("releases/*/OTP_VERSION"))
    code, doc = scan_json([str(root)], capsys)
    assert code == 1
    assert doc["runtime_kind"] == "release"
    assert doc["otp"]["source"] == "inferred"
    assert "25.2.3" in doc["otp"]["candidates"]
    # Inferred from erts-13.1.5 and the application set: exactly one release matches.
    assert doc["otp"]["candidates"] == ["25.2.3"]
    assert doc["otp"]["version"] == "25.2.3" and doc["otp"]["judged_version"] == "25.2.3"
    assert doc["otp"]["erts_version"] == "13.1.5"
    files = {f["path"]: f for f in doc["files"]}
    assert files[NIF_PATH]["role"] == "project-nif"
    assert files["erts-13.1.5/bin/beam.smp"]["checks"]["bind-now"]["status"] == "fail"


def test_release_tarball(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tarfile

    from tests.support.release_tree import build_release_tree

    root = build_release_tree(debian_otp, tmp_path / "rel", with_nif=False)
    archive = tmp_path / "myapp-0.1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(root.iterdir()):
            tar.add(p, arcname=p.name)
    code, doc = scan_json([str(archive)], capsys)
    assert code == 1
    assert doc["otp"]["source"] == "inferred"
    assert "25.2.3" in doc["otp"]["candidates"]
    assert any(f["path"] == "erts-13.1.5/bin/beam.smp" for f in doc["files"])


def test_unreadable_elf_in_a_runtime_fails_closed(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.release_tree import build_release_tree

    root = build_release_tree(debian_otp, tmp_path / "rel", with_nif=False)
    bad = root / "lib" / "myapp-0.1.0" / "priv" / "broken.so"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes((root / "erts-13.1.5" / "bin" / "epmd").read_bytes()[:200])  # a truncated ELF
    code, doc = scan_json([str(root)], capsys)
    assert code == 1
    broken = next(f for f in doc["files"] if f["path"] == "lib/myapp-0.1.0/priv/broken.so")
    assert broken["error"] and broken["checks"] == {}
    reasons = [r for r in doc["verdict"]["reasons"] if r["code"] == "inspect-error"]
    assert [r["path"] for r in reasons] == ["lib/myapp-0.1.0/priv/broken.so"]


def test_debian_route_fixes_and_advisories(
    debian_otp: Path, capsys: pytest.CaptureFixture[str], debian_version: str
) -> None:
    code, doc = scan_json([str(debian_otp)], capsys)
    assert code == 1
    exp = doc["explanation"]
    assert exp["route"] == "debian-package"
    assert exp["package_version"] == debian_version
    assert exp["recorded_flags"].endswith("LDFLAGS= (empty)")
    assert exp["most_exposed"][0]["path"] == "erts-13.1.5/bin/beam.smp"
    flags = next(r for r in exp["remediations"] if r["kind"] == "set-flags")
    assert "-z,now" in flags["variables"]["LDFLAGS"] and "-O2" in flags["variables"]["CFLAGS"]
    adv = doc["advisories"]
    rce = next(f for f in adv["findings"] if f["id"] == "CVE-2025-32433")
    # Debian backports the fix without changing OTP_VERSION: listed, but the upstream verdict stands.
    assert rce["status"] == "affected"
    assert rce["application"] == "ssh" and rce["installed_version"] == "4.15.2"
    assert rce["backported_in"] == f"debian erlang {debian_version}"
    assert "backports" in adv["notes"][0]
    code, trusted = scan_json([str(debian_otp), "--distro-backports", "trust"], capsys)
    rce = next(f for f in trusted["advisories"]["findings"] if f["id"] == "CVE-2025-32433")
    assert rce["status"] == "not-affected"


def test_debian_text_and_markdown_explain(
    debian_otp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["scan", str(debian_otp), "--offline"], ENV)
    out = capsys.readouterr().out
    assert "security advisories: upgrading to 25.3.2.21 fixes" in out
    assert "  CVE-2025-32433 [critical] ssh-4.15.2, fixed in OTP 25.3.2.20" in out
    assert "why, and how to fix it:" in out
    assert "  Build route: Debian package" in out
    assert "    DED_LD=gcc" in out
    main(["scan", str(debian_otp), "--offline", "--format", "markdown"], ENV)
    md = capsys.readouterr().out
    assert "#### Security advisories" in md and "#### Why, and how to fix it" in md
    assert "```sh" in md and "export CFLAGS=" in md
    assert md.count("```") % 2 == 0


DOCKERFILE = """FROM debian:bookworm AS build
ARG OTP_VERSION=25.2.3
RUN apt-get update && apt-get install -y build-essential libssl-dev libncurses-dev
WORKDIR /src
RUN curl -fsSL https://github.com/erlang/otp/releases/download/OTP-${OTP_VERSION}/otp_src_${OTP_VERSION}.tar.gz | tar xz --strip-components=1 \\
 && ./configure --prefix=/usr/local \\
 && make -j4 && make install
"""


def test_project_dockerfile_gets_the_findings_and_a_fix(
    debian_otp: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.report.test_sarif import validate_sarif
    from tests.support.release_tree import build_release_tree

    root = build_release_tree(debian_otp, tmp_path / "rel", with_nif=False)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "Dockerfile").write_text(DOCKERFILE)
    monkeypatch.chdir(workspace)
    code = main(["scan", str(root), "--offline", "--format", "sarif"], ENV)
    sarif = json.loads(capsys.readouterr().out)
    assert code == 1
    validate_sarif(sarif)
    hardening = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "bind-now"]
    assert len(hardening) == 1  # one alert on the RUN line, naming the files
    assert "erts-13.1.5/bin/beam.smp" in hardening[0]["message"]["text"]
    for r in hardening:
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "Dockerfile" and loc["region"]["startLine"] == 5
        (change,) = r["fixes"][0]["artifactChanges"]
        assert change["artifactLocation"]["uri"] == "Dockerfile"
        (rep,) = change["replacements"]
        start, length = rep["deletedRegion"]["charOffset"], rep["deletedRegion"]["charLength"]
        assert DOCKERFILE[start : start + length].startswith("RUN curl")
        assert "ENV CFLAGS=" in rep["insertedContent"]["text"]
    main(["scan", str(root), "--offline", "--format", "markdown"], ENV)
    md = capsys.readouterr().out
    assert "Suggested change to `Dockerfile`" in md and "```diff" in md


def test_run_scan_returns_reports_verdicts_and_details(debian_otp: Path) -> None:
    from gate.cli import run_scan

    ((report, verdict),) = run_scan(["scan", str(debian_otp), "--offline"], ENV)
    assert report.otp.version is not None and str(report.otp.version) == "25.2.3"
    assert verdict.exit_code == 1
    assert report.details.explanation is not None and report.details.advisory_summary


def _legacy_image_archive(debian_otp: Path, dest: Path) -> Path:
    """A `docker save` (legacy layout) whose one layer holds part of Debian's /usr/lib/erlang."""
    import hashlib
    import io
    import tarfile

    keep = ("erts-13.1.5", "releases", "lib/kernel-", "lib/stdlib-", "lib/crypto-")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as layer:
        for path in sorted(debian_otp.rglob("*")):
            rel = path.relative_to(debian_otp).as_posix()
            if rel.startswith(keep) and (path.is_file() or path.is_dir()) and not path.is_symlink():
                layer.add(path, arcname=f"usr/lib/erlang/{rel}", recursive=False)
    layer_bytes = buf.getvalue()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Env": ["LANG=C.UTF-8"]}}
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_id = hashlib.sha256(layer_bytes).hexdigest()
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["test/otp:25"], "Layers": [f"{layer_id}/layer.tar"]}]
    ).encode()
    out = dest / "image.tar"
    with tarfile.open(out, "w") as tar:
        for name, data in (
            ("manifest.json", manifest),
            (config_name, config),
            (f"{layer_id}/layer.tar", layer_bytes),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_image_archive(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _legacy_image_archive(debian_otp, tmp_path)
    code, doc = scan_json(["--image-archive", str(archive)], capsys)
    assert code == 1
    assert doc["origin"]["method"] == "image"
    assert doc["origin"]["path_in_image"] == "/usr/lib/erlang"
    assert doc["otp"]["version"] == "25.2.3"
    paths = {f["path"] for f in doc["files"]}
    assert "erts-13.1.5/bin/beam.smp" in paths
    assert "lib/crypto-5.1.2/priv/lib/crypto.so" in paths
    code = main(
        ["scan", "--image-archive", str(archive), "--platform", "linux/arm64", "--offline"], ENV
    )
    err = capsys.readouterr().err
    assert code == 2 and "arm64" in err


def test_prebuilt_from_a_mirror(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib
    import platform

    from gate.acquire.prebuilt import normalize_arch
    from tests.acquire.test_prebuilt import BASE, VERSION, _builds_txt, _otp_tarball
    from tests.support.fake_http import FakeServer, Response

    # The mirror serves this machine's architecture path, as builds.hex.pm would.
    base = BASE.replace("/amd64/", f"/{normalize_arch(platform.machine())}/")
    tarball = _otp_tarball(debian_otp, f"OTP-{VERSION}")
    digest = hashlib.sha256(tarball).hexdigest()
    env = {**ENV, "OTP_GATE_CACHE": str(tmp_path / "cache"), "ImageOS": "ubuntu24"}
    with FakeServer() as srv:
        srv.route("GET", f"{base}/builds.txt", Response(200, _builds_txt(f"OTP-{VERSION}", digest)))
        srv.route("GET", f"{base}/OTP-{VERSION}.tar.gz", Response(200, tarball))
        argv = [
            "scan",
            "--otp-version",
            VERSION,
            "--builds-mirror",
            srv.url,
            "--offline",
            "--format",
            "json",
        ]
        code = main(argv, env)
        out, err = capsys.readouterr()
        assert code == 1, err
        doc = json.loads(out)
        assert doc["origin"]["method"] == "prebuilt"
        assert doc["otp"]["version"] == VERSION
        assert any(f["path"] == "erts-13.1.5/bin/beam.smp" for f in doc["files"])
        # A tarball whose digest does not match builds.txt is refused, with exit code 2.
        srv.route(
            "GET", f"{base}/builds.txt", Response(200, _builds_txt(f"OTP-{VERSION}", "0" * 64))
        )
        code = main(argv, {**env, "OTP_GATE_CACHE": str(tmp_path / "cache2")})
        err = capsys.readouterr().err
        assert code == 2 and "sha256" in err.lower()


def test_live_data_failure_falls_back_and_says_so(
    debian_otp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every live source answers 500: the gate falls back to the bundled data, says so, and the
    # verdict is the same as offline (a network failure never turns a failure into a pass).
    from tests.support.fake_http import FakeServer, Response

    with FakeServer() as srv:
        srv.route("GET", r"/.*", Response(500, {"message": "Server Error"}))
        env = {
            **ENV,
            "OTP_GATE_CACHE": str(tmp_path / "cache"),
            "OTP_GATE_GITHUB_API_URL": srv.url,
            "OTP_GATE_RAW_BASE_URL": srv.url,
            "OTP_GATE_BUILDS_BASE_URL": srv.url,
        }
        code = main(["scan", str(debian_otp), "--format", "json"], env)
        assert srv.requests, "the live sources were not consulted"
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    assert doc["otp"]["version"] == "25.2.3" and doc["otp"]["supported"] is False
    # One notice, no finding: the answer is the offline one (issue 11).
    [notice] = doc["notices"]
    assert "unavailable" in notice and "HTTP 500" in notice and "--offline skips" in notice
    assert doc["warnings"] == []
    assert not any(r["code"] == "scan-warning" for r in doc["verdict"]["reasons"])
    assert doc["advisories"]["findings"]  # the bundled advisories remain
    assert main(["scan", str(debian_otp), "--format", "json", "--offline"], ENV) == code
    offline = json.loads(capsys.readouterr().out)
    assert offline["verdict"] == doc["verdict"] and offline["notices"] == []
