"""Time `otp-gate scan` and `hardening-check` on Debian's OTP tree (39 ELF files) in one run.

Usage: python bench/bench_scan.py [--runs N] [--min-ratio R]
Both tools run as fresh processes (Python start-up included); the best of N runs is compared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.debian_otp import debian_otp_root  # noqa: E402

# The inspection core alone (no runtime walk, policy or report), for when the CLI is not there.
CORE = """
import sys
from pathlib import Path
from gate.inspection.checks import evaluate_checks
from gate.inspection.elf import read_facts
for name in sys.argv[1:]:
    evaluate_checks(read_facts(Path(name)))
"""


def elf_files(root: Path) -> list[Path]:
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            if not p.is_symlink() and p.is_file():
                with open(p, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        found.append(p)
    return sorted(found)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_of(runs: int, cmd: list[str], ok_codes: tuple[int, ...]) -> tuple[float, float]:
    """Best wall-clock and best CPU (user+sys, children included) time of `runs` runs.

    CPU time is printed too because it is far less sensitive to other load on the machine."""
    walls, cpus = [], []
    env = {**os.environ, "PYTHONPATH": str(REPO), "LANG": "C"}
    for _ in range(runs):
        cpu0, start = _children_cpu(), time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu0)
        if proc.returncode not in ok_codes:
            sys.exit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-600:]}")
    return min(walls), min(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min-ratio", type=float, default=0.0, help="exit 1 when the ratio is lower")
    args = ap.parse_args()

    root = debian_otp_root()
    if isinstance(root, str):
        sys.exit(f"cannot get Debian's OTP packages: {root}")
    otp = root / "usr" / "lib" / "erlang"
    files = elf_files(otp)
    hc = shutil.which("hardening-check")
    if hc is None:
        sys.exit("hardening-check is not installed (apt-get install devscripts)")

    print(f"tree: {otp} ({len(files)} ELF files); load average {os.getloadavg()[0]:.2f}")
    core = best_of(args.runs, [sys.executable, "-c", CORE, *map(str, files)], (0,))
    print(
        f"inspection core (python -c, read_facts + checks): {core[0]:.3f} s wall, {core[1]:.3f} s CPU"
    )
    gate_label = "otp-gate scan"
    cli = REPO / "gate" / "cli.py"
    if cli.exists():
        # hardening-check reads only the files: compare with the gate's offline mode (bundled
        # release data, no network). Exit code 1 is the expected verdict on Debian's OTP.
        offline = ["--offline"] if "--offline" in cli.read_text() else []
        cmd = [sys.executable, "-m", "gate", "scan", *offline, str(otp)]
        gate = best_of(args.runs, cmd, (0, 1))
    else:
        gate_label, gate = "inspection core", core
    print(f"{gate_label}: {gate[0]:.3f} s wall, {gate[1]:.3f} s CPU")
    theirs = best_of(max(1, args.runs // 2), [hc, *map(str, files)], (0, 1))
    print(f"hardening-check: {theirs[0]:.3f} s wall, {theirs[1]:.3f} s CPU")
    ratio = theirs[0] / gate[0]
    print(
        f"ratio hardening-check / {gate_label}: {ratio:.1f}x wall, {theirs[1] / gate[1]:.1f}x CPU "
        f"(inspection core: {theirs[0] / core[0]:.1f}x wall, {theirs[1] / core[1]:.1f}x CPU)"
    )
    return 1 if ratio < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
