"""The `docker save` fallback, for engines the CLI reaches through a context the socket path does not."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from gate.errors import AcquireError


def export_with_cli(
    ref: str, out: Path, docker_host: str | None, timeout: float, environ: Mapping[str, str]
) -> None:
    """`docker save -o out ref` in the caller's environment, DOCKER_HOST set when it named one."""
    env = dict(environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    proc = subprocess.run(
        ["docker", "save", "-o", str(out), ref],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AcquireError(
            f"docker save {ref} failed: {proc.stderr.strip()[-400:]}",
            hint="check the image name (docker images) and that the engine is reachable",
        )
