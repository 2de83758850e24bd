"""Debian's real Erlang/OTP binaries, fetched with `apt-get download` and unpacked with `dpkg -x`.

Cached under `.work/debian-otp/<suite>` in the checkout (or `$OTP_GATE_TEST_CACHE`), so the
network is touched once; tests that need the packages skip with a reason when apt cannot fetch them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Every arch-specific binary package of Debian's `erlang` source; ten of them ship ELF files.
DEBIAN_OTP_PACKAGES = [
    "erlang-asn1",
    "erlang-base",
    "erlang-common-test",
    "erlang-crypto",
    "erlang-debugger",
    "erlang-dev",
    "erlang-dialyzer",
    "erlang-diameter",
    "erlang-edoc",
    "erlang-eldap",
    "erlang-erl-docgen",
    "erlang-et",
    "erlang-eunit",
    "erlang-ftp",
    "erlang-inets",
    "erlang-megaco",
    "erlang-mnesia",
    "erlang-observer",
    "erlang-odbc",
    "erlang-os-mon",
    "erlang-parsetools",
    "erlang-public-key",
    "erlang-reltool",
    "erlang-runtime-tools",
    "erlang-snmp",
    "erlang-ssh",
    "erlang-ssl",
    "erlang-syntax-tools",
    "erlang-tftp",
    "erlang-tools",
    "erlang-wx",
    "erlang-xmerl",
]


def cache_dir() -> Path:
    base = os.environ.get("OTP_GATE_TEST_CACHE")
    return Path(base) if base else REPO / ".work" / "test-cache"


def debian_otp_root() -> Path | str:
    """Return the unpacked tree's root (containing usr/lib/erlang), or a skip reason."""
    dest = cache_dir() / "debian-otp"
    done = dest / ".complete"
    if done.exists():
        return dest / "root"
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        return "apt-get/dpkg not available: Debian's OTP packages cannot be fetched"
    debs = dest / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["apt-get", "download", *DEBIAN_OTP_PACKAGES],
        cwd=debs,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return f"apt-get download of Debian's erlang packages failed: {proc.stderr.strip()[-300:]}"
    root = dest / "root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    done.write_text("ok\n")
    return root


def package_version(root: Path, package: str = "erlang-base") -> str:
    """The Version of the downloaded `.deb` itself (`dpkg-deb -f`), e.g. `1:25.2.3+dfsg-1+deb12u4`.

    Debian's point releases move the revision; tests take it from here instead of spelling it.
    """
    debs = sorted((root.parent / "debs").glob(f"{package}_*.deb"))
    if len(debs) != 1:
        raise AssertionError(f"expected one {package} .deb beside {root}, found {debs}")
    out = subprocess.run(
        ["dpkg-deb", "-f", str(debs[0]), "Version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def elf_paths(root: Path) -> set[str]:
    """Every regular ELF file under `root`, relative: an oracle independent of the gate's walk."""
    found: set[str] = set()
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.add(path.relative_to(root).as_posix())
    return found
