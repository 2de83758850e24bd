"""Run `otp-gate` on many hostile inputs under resource limits, one forked child per input.

    python -m tests.fuzz.harness CASES.json  ->  one JSON line of results per case on stdout

The driver imports the gate once, caps its address space (RLIMIT_AS, inherited by every child),
then forks a child per case: the child runs `gate.cli.main(argv, env)` in the case's folder with
stdout and stderr sent to files and an alarm as its time limit; the parent collects the exit
status, wall time and peak resident memory (`wait4`'s rusage). A fork per case costs milliseconds,
a fresh interpreter ~0.3 s: that difference is what lets a campaign of hundreds run in CI.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

#: Address-space cap of the driver and every case (the issue: "a few hundred MB").
ADDRESS_SPACE = 1024 * 1024 * 1024
#: The hard limit above it: a case may raise its own soft limit up to this (`address_space`), e.g.
#: to map a 4 GiB sparse file, where only resident memory (measured) is the point.
ADDRESS_SPACE_HARD = 16 * ADDRESS_SPACE
#: Seconds a case may run before SIGALRM ends it (a hang is a finding, not a stuck CI job).
TIME_LIMIT = 30


def _child(case: dict[str, Any], out_dir: Path) -> None:
    """Runs in the forked child; never returns."""
    code = 99
    try:
        os.chdir(case["cwd"])
        out = os.open(out_dir / "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(out_dir / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        if "address_space" in case:
            resource.setrlimit(resource.RLIMIT_AS, (case["address_space"], ADDRESS_SPACE_HARD))
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(case.get("timeout", TIME_LIMIT))
        from gate.cli import main

        code = main(case["argv"], case["env"])
    except BaseException:  # an escaped exception is exactly what the campaign looks for
        traceback.print_exc()
        code = 98
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # a full-disk case: the exit code still tells
            pass
        os._exit(code)


def run_case(case: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(case, out_dir)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - started
    # os.waitstatus_to_exitcode: negative for a signal (the alarm, the kernel's OOM killer).
    code = os.waitstatus_to_exitcode(status)
    return {
        "id": case["id"],
        "exit": code,
        "seconds": round(elapsed, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "stdout": str(out_dir / "stdout"),
        "stderr": str(out_dir / "stderr"),
    }


def main(argv: list[str]) -> int:
    cases = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE_HARD))
    # Import everything a case may load before forking, so children share the pages.
    import gate.cli
    import gate.report.json_report
    import gate.report.sarif
    import gate.report.text
    import gate.scan  # noqa: F401

    results_dir = Path(argv[1])
    for n, case in enumerate(cases):
        result = run_case(case, results_dir / f"{n:04d}")
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
