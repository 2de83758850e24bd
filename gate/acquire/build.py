"""Build OTP from its source tarball with the team's flags, install it into a cached prefix, scan that.

This runs OTP's own build system (`./configure`, `make`, `make install`): the user asked for a build.
The built runtime itself is never run. Flags are exported to configure *and* make, because OTP's
NIFs and drivers only get LDFLAGS when make sees them too (`../shared/notes/hardening-flags.md`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gate.acquire.download import (
    DEFAULT_TIMEOUT,
    Download,
    fetch_verified,
    get_index,
    is_sha256,
    unpack_tarball,
)
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError, UsageError
from gate.knowledge.remediation import EEF_CFLAGS, EEF_LDFLAGS
from gate.model.options import CLI_OPTIONS, OptionNames
from gate.model.otp import OtpVersionFile
from gate.model.runtime import Origin
from gate.outside.cache import cache_root

GITHUB_RELEASES = "https://github.com/erlang/otp/releases/download"
INSTALL_PREFIX = "/usr/local"  # what `make install` assumes; the files land under DESTDIR
# Bump when the build recipe changes, so old cache entries are not reused for a different recipe.
_RECIPE = "1"
# Variables that change what the compiler or linker does: inherited values would make the build
# differ from what the user asked for (and from the cache key), so they are dropped first.
_FLAG_VARS = ("CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "LIBS", "ERL_TOP", "MAKEFLAGS", "MFLAGS")
_DED_PREFIX = "DED_"
_VERSION_RX = re.compile(r"\d+(?:\.\d+)*(?:-rc\d+)?")
_TAIL_LINES = 30

Step = Literal["download", "unpack", "configure", "make", "install"]
# "environment": exported for configure and make (kerl, a Dockerfile's ENV): what the gate advises.
# "configure": `./configure CFLAGS=... LDFLAGS=...` only, as the EEF guide and many Dockerfiles do;
# make then never sees LDFLAGS, so NIFs and drivers miss BIND_NOW. Building both ways shows why.
FlagsVia = Literal["environment", "configure"]


@dataclass(frozen=True)
class BuildProgress:
    """One progress event: a step starts, ends, or is served from the cache."""

    step: Step | Literal["build"]
    status: Literal["start", "done", "failed", "cached"]
    elapsed: float = 0.0  # seconds, for "done"/"failed"
    detail: str = ""  # one line for humans (the URL, the digest, a note)


ProgressFn = Callable[[BuildProgress], None]


def plain_progress(event: BuildProgress) -> None:
    """Default progress: plain lines on stderr (the CLI passes a GitHub log-group printer instead)."""
    if event.status == "start":
        line = f"[otp-gate build] {event.step} ..."
    elif event.status == "cached":
        line = f"[otp-gate build] {event.step}: cached"
    else:
        line = f"[otp-gate build] {event.step}: {event.status} in {event.elapsed:.1f} s"
    if event.detail:
        line += f" ({event.detail})"
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SourceBuild:
    """`RuntimeSource` that builds OTP `version` from source with the given flags.

    `cflags`/`ldflags`/`cppflags` = None leaves the variable unset (OTP's own defaults);
    `extra_env` carries e.g. the `DED_LD*` trio; `flags_via` says how they are passed. `source_url` overrides the GitHub release asset
    (`mirror` replaces only its base). The download is verified against `sha256` when given, else
    against the release's `SHA256.txt`; only a bare `source_url` without `sha256` goes unverified.
    """

    version: str
    cflags: str | None = EEF_CFLAGS
    ldflags: str | None = EEF_LDFLAGS
    cppflags: str | None = None
    configure_args: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    source_url: str | None = None
    sha256: str | None = None
    mirror: str | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    flags_via: FlagsVia = "environment"
    progress: ProgressFn = plain_progress
    names: OptionNames = CLI_OPTIONS  # how hints name the user's options

    def __post_init__(self) -> None:
        version = self.version.removeprefix("OTP-")
        if not _VERSION_RX.fullmatch(version):
            raise UsageError(
                f"{self.names.otp_version} {self.version!r} is not an OTP version like 27.3.4"
            )
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "configure_args", tuple(self.configure_args))
        object.__setattr__(self, "extra_env", dict(self.extra_env))
        # OTP's configure stops when CFLAGS has no -O; the EEF guide's literal flags hit this.
        if self.cflags is not None and not re.search(r"(^|\s)-O", self.cflags):
            raise UsageError(
                f"CFLAGS {self.cflags!r} has no -O flag: OTP's configure stops without one",
                hint=f'add "-O2 -g", e.g. {self.names.cflags} "-O2 -g {self.cflags}"',
            )
        if self.flags_via not in ("environment", "configure"):
            raise UsageError(f"flags-via {self.flags_via!r} is not one of: environment, configure")
        for name in self.extra_env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise UsageError(f"build environment variable name {name!r} is not valid")
        for arg in self.configure_args:
            if (
                arg.startswith("--prefix")
                or arg.startswith("CFLAGS=")
                or arg.startswith("LDFLAGS=")
            ):
                raise UsageError(
                    f"configure argument {arg!r} is set by the builder; pass flags with "
                    f"{self.names.cflags}/{self.names.ldflags}"
                )

    # -- public -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.source_url:
            return self.source_url
        base = (self.mirror or GITHUB_RELEASES).rstrip("/")
        return f"{base}/OTP-{self.version}/otp_src_{self.version}.tar.gz"

    def build_env(self) -> dict[str, str]:
        """The variables this build sets (exported for configure and make alike)."""
        env: dict[str, str] = {}
        if self.cflags is not None:
            env["CFLAGS"] = self.cflags
        if self.cppflags is not None:
            env["CPPFLAGS"] = self.cppflags
        if self.ldflags is not None:
            env["LDFLAGS"] = self.ldflags
        env.update(self.extra_env)
        return env

    @property
    def checksums_url(self) -> str | None:
        """The release's `SHA256.txt` (OTP publishes one beside each release's assets)."""
        if self.source_url:
            return None
        return self.url.rsplit("/", 1)[0] + "/SHA256.txt"

    def expected_sha256(self) -> str | None:
        """The digest to verify: given, else from the release's SHA256.txt; None for a bare URL."""
        if self.sha256:
            return self.sha256
        sums_url = self.checksums_url
        if sums_url is None:
            return None
        name = f"otp_src_{self.version}.tar.gz"
        try:
            text = get_index(
                sums_url, timeout=DEFAULT_TIMEOUT, mirror_option=self.names.source_mirror
            ).decode("utf-8", "replace")
        except AcquireError as e:
            hint = (
                f"pass the tarball's sha256 ({self.names.sha256}) if the mirror has no SHA256.txt"
                if self.names.sha256
                else f"use a {self.names.source_mirror} that serves the release's SHA256.txt"
            )
            raise AcquireError(f"cannot verify {self.url}: {e.message}", hint=hint) from e
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[1].lstrip("*") == name and is_sha256(fields[0].lower()):
                return fields[0].lower()
        raise AcquireError(
            f"{sums_url} has no sha256 for {name}",
            hint=f"pass the tarball's sha256 ({self.names.sha256}) to build anyway"
            if self.names.sha256
            else f"use a {self.names.source_mirror} that lists it in SHA256.txt",
        )

    def cache_key(self) -> str:
        """Identifies version + source + flags + configure arguments (not `jobs`: same output)."""
        ident = {
            "recipe": _RECIPE,
            "version": self.version,
            "source": self.sha256 or self.url,
            "env": sorted(self.build_env().items()),
            "configure": list(self.configure_args),
        }
        if self.flags_via != "environment":  # absent for the default: earlier keys stay valid
            ident["flags_via"] = self.flags_via
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]

    def build_dir(self) -> Path:
        # Absolute: make runs in many subfolders, and a relative DESTDIR would scatter the install.
        # The CLI always passes cache_dir (from its environ); the process environment is the
        # library default only.
        base = (self.cache_dir or cache_root(os.environ)).resolve()
        return base / "builds" / f"OTP-{self.version}-{self.cache_key()}"

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        """Build (or reuse a cached build) and return the installed `lib/erlang` root.

        `workdir` is unused: the build lives in the cache, since a build takes minutes.
        """
        del workdir
        bdir = self.build_dir()
        root = bdir / "destdir" / INSTALL_PREFIX.lstrip("/") / "lib" / "erlang"
        manifest = bdir / "manifest.json"
        if manifest.is_file() and root.is_dir():
            self.progress(BuildProgress("build", "cached", detail=str(bdir)))
            return (self._tree(root, json.loads(manifest.read_text())),)
        info = self._build(bdir, root)
        manifest.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return (self._tree(root, info),)

    # -- the build ----------------------------------------------------------------------------
    def _tree(self, root: Path, info: Mapping[str, object]) -> AcquiredTree:
        flags = " ".join(f"{k}={v!r}" for k, v in self.build_env().items()) or "no flags"
        if self.build_env() and self.flags_via == "configure":
            flags += " (configure arguments only)"
        args = " ".join(self.configure_args)
        desc = f"OTP {self.version} built from {self.url} with {flags}"
        if args:
            desc += f", configure {args}"
        if info.get("notes"):
            desc += f" ({'; '.join(str(n) for n in info['notes'])})"  # type: ignore[attr-defined]
        return AcquiredTree(
            root=root,
            display_root=f"{INSTALL_PREFIX}/lib/erlang",
            origin=Origin(method="build", description=desc),
        )

    def _build(self, bdir: Path, root: Path) -> dict[str, object]:
        # A half-finished earlier attempt is discarded: make on a stale tree hides failures.
        for stale in ("src", "destdir"):
            shutil.rmtree(bdir / stale, ignore_errors=True)
        bdir.mkdir(parents=True, exist_ok=True)
        log = bdir / "build.log"
        log.write_text("")
        timings: dict[str, float] = {}
        notes: list[str] = []
        dl = self._download(timings)
        top = self._unpack(dl.path, bdir, timings)
        configure_args = self._configure_args(top, notes)
        env = self._process_env()
        flag_args: list[str] = []
        if self.flags_via == "configure":
            flag_args = [f"{k}={v}" for k, v in self.build_env().items()]
        jobs = str(self.jobs or os.cpu_count() or 1)
        steps: tuple[tuple[Step, list[str]], ...] = (
            (
                "configure",
                ["./configure", f"--prefix={INSTALL_PREFIX}", *configure_args, *flag_args],
            ),
            ("make", ["make", f"-j{jobs}"]),
            ("install", ["make", "install", f"DESTDIR={bdir / 'destdir'}"]),
        )
        for step, argv in steps:
            timings[step] = self._run(step, argv, top, env, log)

        if not root.is_dir() or not any(root.glob("erts-*/bin")):
            raise AcquireError(
                f"the build of OTP {self.version} installed no {root}/erts-*/bin",
                hint=f"see the build log: {log}",
            )
        # The build tree is big (~1.5 GB) and no longer needed: the scan reads the installed files.
        shutil.rmtree(bdir / "src", ignore_errors=True)
        return {
            "version": self.version,
            "url": self.url,
            "sha256": dl.sha256,
            "env": self.build_env(),
            "flags_via": self.flags_via,
            "configure_args": configure_args,
            "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "notes": notes,
        }

    def _download(self, timings: dict[str, float]) -> Download:
        t0 = time.monotonic()
        self.progress(BuildProgress("download", "start", detail=self.url))
        name = self.url.rsplit("/", 1)[-1] or f"otp_src_{self.version}.tar.gz"
        expected = self.expected_sha256()
        dl = fetch_verified(
            self.url,
            self.build_dir().parent.parent / "sources",
            sha256=expected,
            filename=name,
            mirror_option=self.names.source_mirror,
        )
        timings["download"] = time.monotonic() - t0
        self.progress(
            BuildProgress(
                "download",
                "done",
                timings["download"],
                f"sha256 {dl.sha256}" + (" verified" if expected else " (no checksum to verify)"),
            )
        )
        return dl

    def _unpack(self, tarball: Path, bdir: Path, timings: dict[str, float]) -> Path:
        """Unpack the source into `bdir/src`; its top folder, checked to hold the requested OTP."""
        t0 = time.monotonic()
        self.progress(BuildProgress("unpack", "start"))
        unpack_tarball(tarball, bdir / "src", label=self.url)
        top = _source_top(bdir / "src", self.url)
        found = OtpVersionFile.parse((top / "OTP_VERSION").read_text(errors="replace")).text
        if found != self.version:
            raise AcquireError(
                f"{self.url}: the tarball holds OTP {found!r}, not the requested {self.version}",
                hint=f"pass the matching {self.names.otp_version} or the right source",
            )
        timings["unpack"] = time.monotonic() - t0
        self.progress(BuildProgress("unpack", "done", timings["unpack"], str(top)))
        return top

    def _configure_args(self, top: Path, notes: list[str]) -> list[str]:
        configure_args = list(self.configure_args)
        # Debian's DFSG tarball drops common_test's bundled jQuery; `make install` then fails in
        # common_test. Building without common_test keeps every ELF file of the runtime.
        ct_priv = top / "lib" / "common_test" / "priv"
        if (ct_priv.is_dir() and not (ct_priv / "jquery-latest.js").exists()
                and "--without-common_test" not in configure_args):  # fmt: skip
            configure_args.append("--without-common_test")
            notes.append("common_test skipped: the source lacks its jquery files (DFSG tarball)")
        return configure_args

    def _process_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _FLAG_VARS and not k.startswith(_DED_PREFIX)
        }
        env["LC_ALL"] = "C"  # English compiler messages in the log
        if self.flags_via == "environment":
            env.update(self.build_env())
        return env

    def _run(
        self, step: Step, argv: list[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> float:
        t0 = time.monotonic()
        self.progress(BuildProgress(step, "start", detail=" ".join(argv)))
        with log.open("a") as out:
            out.write(f"\n===== {step}: {' '.join(argv)}\n")
            out.flush()
            try:
                # Own session, so an interrupted build takes its whole make tree down with it.
                proc = subprocess.Popen(
                    argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
                try:
                    returncode = proc.wait()
                except BaseException:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait()
                    raise
            except OSError as e:
                raise AcquireError(
                    f"{step} of OTP {self.version}: cannot run {argv[0]}: {e}"
                ) from e
        elapsed = time.monotonic() - t0
        if returncode != 0:
            self.progress(BuildProgress(step, "failed", elapsed))
            raise AcquireError(
                f"{step} of OTP {self.version} failed (exit {returncode}) after {elapsed:.0f} s; "
                f"last lines of {log}:\n{_tail(log)}",
                hint=f"the full build log is {log}",
            )
        self.progress(BuildProgress(step, "done", elapsed))
        return elapsed


def _source_top(src: Path, label: str) -> Path:
    """The tarball's single top folder holding `configure` and `OTP_VERSION`."""
    candidates = [p for p in src.iterdir() if p.is_dir() and not p.is_symlink()]
    tops = [
        p
        for p in [src, *candidates]
        if (p / "configure").is_file() and (p / "OTP_VERSION").is_file()
    ]
    if len(tops) != 1:
        raise AcquireError(
            f"{label}: not an OTP source tarball (expected one folder with configure and OTP_VERSION)"
        )
    return tops[0]


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()[-_TAIL_LINES:]
    return "\n".join("  " + line for line in lines)
