"""A release laid out like `mix release` (include_erts), built from Debian's real OTP files.

What `mix release` and `rebar3 release` produce with Debian 12's OTP (see
`../shared/notes/otp-build.md`): `erts-13.1.5/`, `lib/<app>-<vsn>/` for the applications the
release needs, `releases/<relvsn>/` and `releases/start_erl.data`, and no `OTP_VERSION` file.
A project application `lib/myapp-0.1.0/` carries a NIF built here with gcc.

    from tests.support.release_tree import build_release_tree
    root = build_release_tree(debian_otp, tmp_path / "rel")
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# OTP applications a typical Phoenix-style release ships; crypto brings NIFs, os_mon port programs.
DEFAULT_APPS = (
    "kernel",
    "stdlib",
    "sasl",
    "compiler",
    "crypto",
    "asn1",
    "public_key",
    "ssl",
    "os_mon",
    "runtime_tools",
)
PROJECT_APP = "myapp"
PROJECT_VSN = "0.1.0"
NIF_PATH = f"lib/{PROJECT_APP}-{PROJECT_VSN}/priv/native.so"

NIF_SOURCE = r"""
/* A stand-in for a project's NIF: a function with a stack buffer, so hardening flags matter. */
#include <stdio.h>
#include <string.h>

int myapp_native_format(const char *name, char *out, size_t size)
{
    char buf[64];
    snprintf(buf, sizeof buf, "hello %s", name);
    strncpy(out, buf, size);
    return (int)strlen(buf);
}
"""


def _erts_dir(otp_root: Path) -> Path:
    found = sorted(otp_root.glob("erts-*"))
    if not found:
        raise FileNotFoundError(f"{otp_root}: no erts-* folder")
    return found[0]


def build_release_tree(
    otp_root: Path,
    dest: Path,
    apps: tuple[str, ...] = DEFAULT_APPS,
    *,
    with_nif: bool = True,
) -> Path:
    """Build the release under `dest` (created) from an OTP root; returns `dest`.

    Needs gcc for the project NIF (`with_nif=False` skips it).
    """
    dest.mkdir(parents=True, exist_ok=True)
    erts = _erts_dir(otp_root)
    erts_vsn = erts.name.removeprefix("erts-")
    shutil.copytree(erts, dest / erts.name, symlinks=True)

    lib = dest / "lib"
    lib.mkdir(exist_ok=True)
    for app in apps:
        (src,) = sorted(otp_root.glob(f"lib/{app}-[0-9]*"))
        shutil.copytree(src, lib / src.name, symlinks=True)

    project = lib / f"{PROJECT_APP}-{PROJECT_VSN}"
    (project / "ebin").mkdir(parents=True, exist_ok=True)
    (project / "ebin" / f"{PROJECT_APP}.app").write_text(
        f'{{application,{PROJECT_APP},[{{vsn,"{PROJECT_VSN}"}},{{applications,[kernel,stdlib]}}]}}.\n'
    )
    if with_nif:
        priv = project / "priv"
        priv.mkdir(exist_ok=True)
        source = priv.parent / "c_src" / "native.c"
        source.parent.mkdir(exist_ok=True)
        source.write_text(NIF_SOURCE)
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O2", "-o", str(priv / "native.so"), str(source)],
            check=True,
            capture_output=True,
        )

    rel = dest / "releases" / PROJECT_VSN
    rel.mkdir(parents=True, exist_ok=True)
    app_vsns = [p.name.split("-", 1) for p in sorted(lib.iterdir())]
    rel_apps = ",\n  ".join(f'{{{name},"{vsn}"}}' for name, vsn in app_vsns)
    (rel / f"{PROJECT_APP}.rel").write_text(
        f'{{release,{{"{PROJECT_APP}","{PROJECT_VSN}"}},{{erts,"{erts_vsn}"}},\n [{rel_apps}]}}.\n'
    )
    shutil.copy(otp_root / "releases" / _major(otp_root) / "start_clean.boot", rel / "start.boot")
    (rel / "vm.args").write_text("-name myapp@127.0.0.1\n")
    (rel / "sys.config").write_text("[].\n")
    (dest / "releases" / "COOKIE").write_text("not-a-secret\n")
    (dest / "releases" / "start_erl.data").write_text(f"{erts_vsn} {PROJECT_VSN}\n")

    bin_dir = dest / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / PROJECT_APP
    script.write_text(
        '#!/bin/sh\nRELEASE_ROOT="$(dirname "$0")/.."\nexec "$RELEASE_ROOT/erts-'
        + erts_vsn
        + '/bin/erl" "$@"\n'
    )
    script.chmod(0o755)
    return dest


def _major(otp_root: Path) -> str:
    majors = [p.name for p in (otp_root / "releases").iterdir() if p.name.isdigit()]
    return max(majors, key=int)
