"""An image in a Docker engine, exported through its API (`GET /images/{name}/get`)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from gate.acquire.archive import ArchiveLimits
from gate.acquire.image.docker_cli import export_with_cli
from gate.acquire.image.platforms import Platform
from gate.acquire.image.source import DISK_FULL_ERRNOS, ImageArchiveSource, disk_errors
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError, UnsafeArchiveError, UsageError

DEFAULT_SOCKET = "/var/run/docker.sock"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _connection(host: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(host)
    if parts.scheme == "unix":
        return _UnixHTTPConnection(parts.path, timeout)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        return http.client.HTTPConnection(parts.hostname, parts.port or 2375, timeout=timeout)
    raise UsageError(
        f"DOCKER_HOST {host!r}: only unix:// sockets and plain tcp:// are supported",
        hint="mount the engine's socket (-v /var/run/docker.sock:/var/run/docker.sock)",
    )


def _export_path(ref: str, platform: Platform | None) -> str:
    path = f"/images/{quote(ref, safe='')}/get"
    if platform is not None:
        # API >= 1.48 exports one platform of a multi-platform image; older engines ignore it.
        plat = {"os": platform.os, "architecture": platform.architecture}
        if platform.variant:
            plat["variant"] = platform.variant
        path += "?platform=" + quote(json.dumps(plat, separators=(",", ":")), safe="")
    return path


def _refusal(resp: http.client.HTTPResponse, ref: str, host: str) -> AcquireError:
    """The engine's answer to a failed export, as an error naming the image and the engine."""
    body = resp.read(64 * 1024)
    try:
        msg = str(json.loads(body).get("message", body[:200]))
    except (ValueError, AttributeError):
        msg = body[:200].decode(errors="replace")
    if resp.status == 404:
        return AcquireError(
            f"image {ref!r} is not in the Docker engine at {host}: {msg}",
            hint="pull or build it first (docker pull REF), or pass --image-archive",
        )
    return AcquireError(
        f"the Docker engine at {host} refused to export {ref!r} (HTTP {resp.status}): {msg}"
    )


@dataclass(frozen=True)
class DockerImageSource:
    """An image in a Docker engine, exported through its API (`GET /images/{name}/get`)."""

    ref: str
    platform: Platform | None = None
    docker_host: str | None = None
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    timeout: float = 600.0
    environ: Mapping[str, str] | None = None  # the caller's environment (default: this process's)

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    @property
    def host(self) -> str:
        return self.docker_host or self.env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"

    def acquire(self, workdir: Path) -> Sequence[AcquiredTree]:
        workdir.mkdir(parents=True, exist_ok=True)
        spool = workdir / ".image-export.tar"
        try:
            with disk_errors(f"image {self.ref}", workdir):
                self.export(spool)
            label = f"image {self.ref} (exported from {self.host})"
            source = ImageArchiveSource(spool, self.platform, self.ref, self.limits, label)
            return source.acquire(workdir)
        finally:
            spool.unlink(missing_ok=True)

    def export(self, out: Path) -> None:
        """Spool the engine's export of the image to `out` (streamed, never held in memory)."""
        try:
            self._export_api(out)
        except OSError as e:
            if e.errno in DISK_FULL_ERRNOS:
                raise
            reason = f"cannot reach the Docker engine at {self.host}: {e.strerror or e}"
            hint = (
                "mount the engine's socket (-v /var/run/docker.sock:/var/run/docker.sock), set "
                "DOCKER_HOST, or save the image and pass --image-archive FILE"
            )
            if not shutil.which("docker", path=self.env.get("PATH")):
                raise AcquireError(reason, hint=hint) from e
            # The CLI may know the engine through a context the socket path does not.
            try:
                export_with_cli(self.ref, out, self.docker_host, self.timeout, self.env)
            except AcquireError as cli:
                raise AcquireError(f"{reason}; {cli.message}", hint=hint) from e

    def _export_api(self, out: Path) -> None:
        conn = _connection(self.host, self.timeout)
        try:
            conn.request(
                "GET",
                _export_path(self.ref, self.platform),
                headers={"Accept": "application/x-tar"},
            )
            resp = conn.getresponse()
            if resp.status != 200:
                raise _refusal(resp, self.ref, self.host)
            self._stream(resp, out)
        except http.client.HTTPException as e:
            raise AcquireError(
                f"the Docker engine at {self.host} broke off the export of {self.ref!r}: {e}"
            ) from e
        finally:
            conn.close()

    def _stream(self, resp: http.client.HTTPResponse, out: Path) -> None:
        written = 0
        with out.open("wb") as f:
            while chunk := resp.read(1024 * 1024):
                written += len(chunk)
                if written > self.limits.max_stream_bytes:
                    raise UnsafeArchiveError(
                        f"image {self.ref!r}: the export exceeds {self.limits.max_stream_bytes} bytes"
                    )
                f.write(chunk)
