"""Find the OTP a user would run: the `erl` on PATH, else the usual install roots.

Nothing is executed: the `erl` script's text and symlinks are read to find its ROOTDIR.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gate.acquire.directory import DirectorySource, find_runtime_root
from gate.errors import AcquireError
from gate.model.otp import OtpVersion

# Where OTP lands when built from source (`make install`) and where distributions put it.
SYSTEM_ROOTS = (Path("/usr/local/lib/erlang"), Path("/usr/lib/erlang"), Path("/usr/lib64/erlang"))

_ELF_MAGIC = b"\x7fELF"
_MAX_SCRIPT = 256 * 1024
# `ROOTDIR="/usr/local/lib/erlang"` in OTP's erl script; `ROOTDIR=/usr/lib/erlang` in Debian's.
_ROOTDIR_RE = re.compile(r"""^\s*(?:export\s+)?ROOTDIR=(["']?)(/[^"'\s;`$]*)\1\s*$""", re.MULTILINE)


@dataclass(frozen=True)
class Found:
    """A runtime root and how it was found (shown in the report's origin)."""

    root: Path
    how: str


def rootdirs_in_script(text: str) -> list[Path]:
    """Literal absolute ROOTDIR assignments in an `erl` shell script, last one first."""
    return [Path(m.group(2)) for m in reversed(list(_ROOTDIR_RE.finditer(text)))]


def from_erl(erl: Path, environ: Mapping[str, str]) -> Found | None:
    """The OTP root an `erl` on PATH belongs to, without running it.

    Order: `$ERL_ROOTDIR` (the script honours it), the folder the resolved script sits in
    (`<root>/bin/erl` or `<root>/erts-*/bin/erl`: OTP's script prefers its own location when the
    install was moved), then the ROOTDIR literals in the script.
    """
    env_root = environ.get("ERL_ROOTDIR")
    if env_root and (root := find_runtime_root(Path(env_root))):
        return Found(root, f"$ERL_ROOTDIR of {erl}")
    try:
        real = erl.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        return None
    for up in (real.parent.parent, real.parent.parent.parent):
        if up.name.startswith("erts-") or not (root := find_runtime_root(up)):
            continue
        if root == up:
            return Found(root, f"erl on PATH ({erl})")
    try:
        with real.open("rb") as f:
            head = f.read(_MAX_SCRIPT)
    except OSError:
        return None
    if head.startswith(_ELF_MAGIC):
        return None  # a binary erl (rebar3 copies dyn_erl): only its location could tell
    for candidate in rootdirs_in_script(head.decode("utf-8", errors="replace")):
        if root := find_runtime_root(candidate):
            return Found(root, f"ROOTDIR of the erl script on PATH ({erl})")
    return None


def _version_key(path: Path) -> tuple[int, OtpVersion]:
    version = OtpVersion.try_parse(path.name.removeprefix("OTP-").removeprefix("otp-"))
    return (1, version) if version else (0, OtpVersion((0,)))


def manager_installs(environ: Mapping[str, str], home: Path) -> Iterator[Found]:
    """Installs of asdf, mise and kerl, newest version first within each manager."""
    data_home = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    managers = (
        ("asdf", Path(environ.get("ASDF_DATA_DIR") or home / ".asdf") / "installs" / "erlang"),
        ("mise", Path(environ.get("MISE_DATA_DIR") or data_home / "mise") / "installs" / "erlang"),
    )
    for name, base in managers:
        yield from _installs_in(name, base)
    kerl_base = Path(environ.get("KERL_BASE_DIR") or home / ".kerl")
    kerl_dirs: list[Path] = []
    try:
        # `kerl list installations` reads this file: one `<build name> <path>` per line.
        listing = (kerl_base / "otp_installations").read_text(encoding="utf-8", errors="replace")
        kerl_dirs = [Path(p) for line in listing.splitlines() for p in line.split()[1:2]]
    except OSError:
        pass
    if environ.get("KERL_DEFAULT_INSTALL_DIR"):
        kerl_dirs += _subdirs(Path(environ["KERL_DEFAULT_INSTALL_DIR"]))
    kerl_dirs += _subdirs(kerl_base / "installs")
    for path in sorted(dict.fromkeys(kerl_dirs), key=_version_key, reverse=True):
        if root := find_runtime_root(path):
            yield Found(root, f"kerl install {path}")


def _subdirs(base: Path) -> list[Path]:
    try:
        return [p for p in base.iterdir() if p.is_dir()]
    except OSError:
        return []


def _installs_in(manager: str, base: Path) -> Iterator[Found]:
    for path in sorted(_subdirs(base), key=_version_key, reverse=True):
        if root := find_runtime_root(path):
            yield Found(root, f"{manager} install {path}")


def discover(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    system_roots: Sequence[Path] = SYSTEM_ROOTS,
) -> list[Found]:
    """Every runtime found, in the order `default_source` prefers them."""
    env = os.environ if environ is None else environ
    if home is None:
        try:
            home = Path(env.get("HOME") or Path.home())
        except (RuntimeError, KeyError):  # no HOME and no passwd entry (some containers)
            home = None
    found: list[Found] = []
    erl = shutil.which("erl", path=env.get("PATH", ""))
    if erl and (hit := from_erl(Path(erl), env)):
        found.append(hit)
    for root in system_roots:
        if hit_root := find_runtime_root(root):
            found.append(Found(hit_root, f"install root {root}"))
    if home is not None:
        found += manager_installs(env, home)
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.root.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def default_source(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    system_roots: Sequence[Path] = SYSTEM_ROOTS,
) -> DirectorySource:
    """The runtime `otp-gate scan` checks when no PATH is given; raises when there is none."""
    found = discover(environ, home, system_roots)
    if not found:
        raise AcquireError(
            "no Erlang/OTP found; pass a PATH or --distro",
            hint="looked for erl on PATH, "
            + ", ".join(str(r) for r in system_roots)
            + ", and asdf, mise and kerl installs",
        )
    first = found[0]
    others = f" (also found: {', '.join(str(f.root) for f in found[1:])})" if found[1:] else ""
    return DirectorySource(first.root, description=f"{first.how}{others}")
