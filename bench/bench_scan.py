"""Time otp-gate against hardening-check, checksec.py and pwntools on the same files, in one run.

Usage: python bench/bench_scan.py [--runs N] [--workload otp|system|fixtures|distro|all]
                                  [--min-ratio R]

Workloads (issue 12):
  otp       Debian's OTP tree (39 ELF files): `otp-gate scan --offline ROOT`
  system    about 1,550 ELF files of this machine (/usr/bin, /usr/sbin, /usr/lib/<triplet>):
            `otp-gate elf FILE...`
  fixtures  the gcc-built test fixtures: `otp-gate elf FILE...`
  distro    `otp-gate scan --distro --offline` (Debian/Ubuntu with apt): once with an empty cache
            (downloads and unpacks), then N times with the cache filled; no peer does this
Every tool runs as a fresh process (start-up included) on the same files, in rounds (one run of
each tool per round: a shared machine's slow spells then fall on every tool alike), from a neutral working
folder (run from a checkout, the gate would also read that project's Dockerfiles: not the
workload); the median of N runs is compared (wall clock, CPU time of the process and its
children; the minimum is shown too, since other work on a shared machine only ever adds time), with
peak resident memory. A peer
that is not installed is named in the output and left out. checksec.py and pwntools live in their
own virtualenv (they pin old dependencies): `python -m venv .work/peers &&
.work/peers/bin/pip install checksec.py pwntools`, or point PEERS_VENV at one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.debian_otp import debian_otp_root  # noqa: E402

SYSTEM_ROOTS = ("/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
SYSTEM_FILES = 1550
PWNTOOLS = """
import sys
from pwn import ELF, context
context.log_level = "error"
for name in sys.argv[1:]:
    try:
        ELF(name, checksec=False).checksec()
    except Exception as e:
        print(name, e, file=sys.stderr)
"""


@dataclass(frozen=True)
class Timing:
    wall: float  # median
    cpu: float  # median
    rss_mib: int  # the highest
    fastest: float = 0.0  # the minimum wall time


def elf_files(roots: Sequence[str | Path], limit: int | None = None) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                p = Path(dirpath) / name
                try:
                    if not p.is_symlink() and p.is_file():
                        with open(p, "rb") as f:
                            if f.read(4) == b"\x7fELF":
                                found.append(p)
                except OSError:
                    continue
    found.sort()
    return found[:limit] if limit else found


NEUTRAL_CWD = tempfile.mkdtemp(prefix="otp-gate-bench-")


def run_once(
    cmd: Sequence[str], ok_codes: tuple[int, ...], extra_env: dict[str, str] | None = None
) -> Timing:
    """One run, measured through wait4 (this child only, its own children included)."""
    # Byte-code is written and reused, as an installed package has it (a session that sets
    # PYTHONDONTWRITEBYTECODE would make every run compile the gate again: ~0.1 s).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(REPO), LANG="C", **(extra_env or {}))
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        cwd=NEUTRAL_CWD,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_codes:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {err[-600:]}")
    # ru_maxrss of wait4 covers the process; its own children are waited by it.
    return Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024)


def summarize(times: Sequence[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in times),
        statistics.median(t.cpu for t in times),
        max(t.rss_mib for t in times),
        min(t.wall for t in times),
    )


def median_of(
    runs: int, cmd: Sequence[str], ok_codes: tuple[int, ...], env: dict[str, str] | None = None
) -> Timing:
    return summarize([run_once(cmd, ok_codes, env) for _ in range(runs)])


def interleaved(
    runs: int, commands: Sequence[tuple[Sequence[str], int]], ok_codes: tuple[int, ...]
) -> list[Timing]:
    """Each command's runs, taken in rounds (one run of each command per round, while it has
    runs left) rather than one command after the other: a shared machine drifts between faster
    and slower spells, and rounds let every tool meet the same spells, so the ratios hold."""
    for cmd, _ in commands:
        run_once(cmd, ok_codes)  # untimed: the files and the tool in the page cache for all
    times: list[list[Timing]] = [[] for _ in commands]
    for i in range(runs):
        for j, (cmd, count) in enumerate(commands):
            if i < count:
                times[j].append(run_once(cmd, ok_codes))
    return [summarize(t) for t in times]


def peers_python() -> Path | None:
    venv = Path(os.environ.get("PEERS_VENV", REPO / ".work" / "peers"))
    python = venv / "bin" / "python"
    return python if python.exists() else None


def checksec_py() -> list[str] | None:
    """The checksec.py command (its script is called `checksec`, like checksec.sh: check it)."""
    python = peers_python()
    script = python.parent / "checksec" if python else None
    if script is None or not script.exists():
        return None
    probe = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    return [str(script)] if "checksec.py" in probe.stdout else None


def has_pwntools() -> bool:
    python = peers_python()
    if python is None:
        return False
    probe = subprocess.run([str(python), "-c", "import pwn"], capture_output=True, check=False)
    return probe.returncode == 0


def compare(
    label: str, gate_cmd: list[str], files: list[Path], runs: int, *, slow_peers: bool = True
) -> float:
    """Run every tool on `files`; print the table; return hardening-check's ratio (or 0)."""
    names = [str(p) for p in files]
    print(f"\n== {label}: {len(files)} ELF files; load average {os.getloadavg()[0]:.2f}")
    peers: list[tuple[str, list[str] | None, str]] = [
        ("hardening-check", _which("hardening-check"), "apt-get install devscripts"),
        ("checksec.py", checksec_py(), "pip install checksec.py into .work/peers"),
        (
            "pwntools",
            [str(peers_python()), "-c", PWNTOOLS] if has_pwntools() else None,
            "pip install pwntools into .work/peers",
        ),
    ]
    left_out: dict[str, str] = {}
    commands: list[tuple[Sequence[str], int]] = [(gate_cmd, runs)]
    timed_peers: list[str] = []
    for name, cmd, how in peers:
        if name == "hardening-check" and not slow_peers:
            left_out[name] = "left out: it takes many minutes here (--slow-peers to include)"
        elif cmd is None:
            left_out[name] = f"not installed here ({how}): left out"
        else:
            commands.append(([*cmd, *names], max(1, runs // 2)))
            timed_peers.append(name)
    timings = interleaved(runs, commands, (0, 1))
    ours = timings[0]
    measured = dict(zip(timed_peers, timings[1:], strict=True))
    rows: list[tuple[str, Timing | str]] = [("otp-gate", ours)]
    rows += [(name, measured.get(name) or left_out[name]) for name, _, _ in peers]
    hc = measured.get("hardening-check")
    hc_ratio = hc.wall / ours.wall if hc else 0.0
    print(f"  {'':16} {'median':>7}   {'fastest':>7}   {'CPU':>7}")
    for name, row in rows:
        if isinstance(row, str):
            print(f"  {name:16} {row}")
            continue
        ratio = "" if row is ours else f"  {row.wall / ours.wall:5.1f}x otp-gate's wall time"
        print(
            f"  {name:16} {row.wall:7.3f} s {row.fastest:7.3f} s {row.cpu:7.3f} s "
            f"{row.rss_mib:5d} MiB peak{ratio}"
        )
    timed = [(n, t) for n, t in rows if isinstance(t, Timing) and t is not ours]
    print(
        f"  summary: otp-gate {ours.wall:.3f} s (median of {runs}); "
        + "; ".join(f"{n} {t.wall / ours.wall:.1f}x slower" for n, t in timed)
    )
    return hc_ratio


def distro(runs: int) -> None:
    """`scan --distro`: a cold run (empty cache: download and unpack), then warm runs."""
    if not shutil.which("apt-get"):
        print("\n== scan --distro: left out (no apt-get here)")
        return
    cache = REPO / ".work" / "bench" / "distro-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, "-m", "gate", "scan", "--distro", "--offline"]
    env = {"OTP_GATE_CACHE": str(cache)}
    print(f"\n== scan --distro; load average {os.getloadavg()[0]:.2f}")
    cold = run_once(cmd, (0, 1), env)
    warm = median_of(runs, cmd, (0, 1), env)
    print(f"  empty cache (download + unpack): {cold.wall:6.2f} s wall, {cold.rss_mib} MiB peak")
    print(
        f"  packages seen before: {warm.wall:6.2f} s median, {warm.fastest:.2f} s fastest, "
        f"{warm.rss_mib} MiB peak (target <= 2 s)"
    )


def _which(tool: str) -> list[str] | None:
    path = shutil.which(tool)
    return [path] if path else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument(
        "--workload", choices=("otp", "system", "fixtures", "distro", "all"), default="all"
    )
    ap.add_argument(
        "--slow-peers", action="store_true", help="run hardening-check on the system workload too"
    )
    ap.add_argument(
        "--min-ratio", type=float, default=0.0, help="exit 1 when hardening-check/otp-gate is lower"
    )
    args = ap.parse_args()
    gate = [sys.executable, "-m", "gate"]
    ratios = []
    if args.workload in ("otp", "all"):
        root = debian_otp_root()
        if isinstance(root, str):
            sys.exit(f"cannot get Debian's OTP packages: {root}")
        otp = root / "usr" / "lib" / "erlang"
        files = elf_files([otp])
        ratios.append(
            compare("Debian's OTP tree", [*gate, "scan", "--offline", str(otp)], files, args.runs)
        )
    if args.workload in ("system", "all"):
        files = elf_files([r for r in SYSTEM_ROOTS if Path(r).is_dir()], SYSTEM_FILES)
        cmd = [*gate, "elf", *map(str, files)]
        slow = args.slow_peers
        ratios.append(compare("system ELF files", cmd, files, args.runs, slow_peers=slow))
    if args.workload in ("fixtures", "all"):
        from tests.fixtures.elf.build import build_all

        files = [p for n, p in build_all().items() if isinstance(p, Path) and n != "object"]
        ratios.append(compare("test fixtures", [*gate, "elf", *map(str, files)], files, args.runs))
    if args.workload in ("distro", "all"):
        distro(args.runs)
    measured = [r for r in ratios if r]  # 0: hardening-check left out
    return 1 if measured and min(measured) < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
