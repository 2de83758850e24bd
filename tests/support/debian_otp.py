"""Debian's real Erlang/OTP binaries, fetched with `apt-get download` and unpacked with `dpkg -x`.

Cached under `.work/debian-otp/<suite>` in the checkout (or `$OTP_GATE_TEST_CACHE`), so the
network is touched once; tests that need the packages skip with a reason when apt cannot fetch them.
"""

from __future__ import annotations

import os
import re
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


DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SUITE = "bookworm"  # Debian 12: OTP 25.2.3 (erts-13.1.5), whatever the host runs


def debian_mirrors() -> tuple[str, str]:
    """(archive, security) URLs: the host's own on Debian (a local mirror or proxy), else Debian's."""
    release = Path("/etc/os-release")
    if "ID=debian" not in (release.read_text(errors="replace") if release.exists() else ""):
        return DEFAULT_MIRROR, DEFAULT_SECURITY  # Ubuntu's mirrors do not carry Debian
    main, security = DEFAULT_MIRROR, DEFAULT_SECURITY
    texts = [
        p.read_text(errors="replace") for p in Path("/etc/apt/sources.list.d").glob("*.sources")
    ]
    for text in texts:
        for stanza in text.split("\n\n"):
            fields = dict(
                (k.strip().lower(), v.strip())
                for k, sep, v in (line.partition(":") for line in stanza.splitlines())
                if sep and not k.startswith("#")
            )
            uri = fields.get("uris", "").split(" ")[0]
            if uri and "security" in fields.get("suites", ""):
                security = uri
            elif uri:
                main = uri
    legacy = Path("/etc/apt/sources.list")
    for line in legacy.read_text(errors="replace").splitlines() if legacy.exists() else ():
        m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if m and "security" in m.group(1) + m.group(2):
            security = m.group(1)
        elif m:
            main = m.group(1)
    return main, security


def _private_apt(state: Path) -> list[str]:
    """apt options for a private Debian 12 package list under `state`: the host's own sources (an
    Ubuntu runner's, say) do not matter, so every machine tests the same OTP build."""
    main, security = debian_mirrors()
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    signed = f"[arch={arch} signed-by={KEYRING}]"
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "cache").mkdir(exist_ok=True)
    (state / "parts").mkdir(exist_ok=True)
    (state / "sources.list").write_text(
        f"deb {signed} {main} {SUITE} main\ndeb {signed} {main} {SUITE}-updates main\n"
        f"deb {signed} {security} {SUITE}-security main\n"
    )
    return [
        "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o", f"Dir::Etc::SourceParts={state / 'parts'}",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        "-o", f"APT::Architectures={arch}",
    ]  # fmt: skip


def _run_apt(args: list[str], cwd: Path) -> str | None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else proc.stderr.strip()[-300:] or proc.stdout[-300:]


def debian_otp_root() -> Path | str:
    """Return the unpacked tree's root (containing usr/lib/erlang), or a skip reason."""
    dest = cache_dir() / "debian-otp"
    done = dest / ".complete"
    if done.exists():
        return dest / "root"
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        return "apt-get/dpkg not available: Debian's OTP packages cannot be fetched"
    if not KEYRING.is_file():
        return f"{KEYRING} is missing (apt-get install debian-archive-keyring)"
    debs = dest / "debs"
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir(parents=True)
    apt = ["apt-get", "-q", *_private_apt(dest / "apt")]
    error = _run_apt([*apt, "update"], dest) or _run_apt(
        [*apt, "download", *DEBIAN_OTP_PACKAGES], debs
    )
    if error:
        return f"apt-get could not fetch Debian {SUITE}'s erlang packages: {error}"
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
