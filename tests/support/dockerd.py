"""The Docker engine for tests: the machine's own when one answers, else a private one.

An engine already reachable through `$DOCKER_HOST` (unix socket) or `/var/run/docker.sock` (GitHub's
runners have one) is used as it is and never stopped. Otherwise a private dockerd is started per the
recipe in `shared/notes/containers.md`: everything it owns (data-root, exec-root, pidfile, socket) lives in one temp folder, so it
touches nothing else on the machine; it is stopped by its pid, never by name. Base images come from
`debootstrap --variant=minbase` (no registry here); the rootfs tarball is cached under `.work/`.

Use from a test module by importing the fixtures by name::

    from tests.support.dockerd import docker_engine, bookworm_erlang_image  # noqa: F401
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.debian_otp import debian_mirrors

REPO = Path(__file__).resolve().parents[2]

BASE_TAG = "local/debian:{suite}-minbase"
ERLANG_TAG = "local/erlang-base:{suite}"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DockerEngine:
    """A running private dockerd: its socket and the environment a `docker` client needs."""

    root: Path  # the temp folder holding everything below (deleted on stop)
    workdir: Path  # root/<driver>: data-root, exec-root, pidfile, socket, log
    socket: Path
    pid: int  # 0 for the machine's own engine (not ours to stop)
    storage_driver: str

    @property
    def external(self) -> bool:
        return self.pid == 0

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.workdir / "cfg")
        # The engine is 20.10 (API 1.41): the classic builder is the one that always works here.
        env["DOCKER_BUILDKIT"] = "0"
        return env

    def docker(
        self, *args: str, input_path: Path | None = None, timeout: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the `docker` CLI against this engine; raise with its stderr on failure."""
        with contextlib.ExitStack() as stack:
            stdin = stack.enter_context(input_path.open("rb")) if input_path else None
            proc = subprocess.run(
                [docker_cli(), *args],
                env=self.env(),
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        out = proc.stdout.decode(errors="replace")
        err = proc.stderr.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def image_exists(self, ref: str) -> bool:
        proc = subprocess.run(
            [docker_cli(), "image", "inspect", ref],
            env=self.env(),
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0


def docker_cli() -> str:
    return shutil.which("docker") or "/usr/bin/docker"


def cache_dir() -> Path:
    base = os.environ.get("OTP_GATE_TEST_CACHE")
    return Path(base) if base else REPO / ".work" / "test-cache"


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt.startswith(prefix):
                found.append(mnt)
    return found


def _wait_ready(proc: subprocess.Popen[bytes], sock: Path, env: dict[str, str]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if sock.exists():
            ping = subprocess.run(
                [docker_cli(), "version", "--format", "{{.Server.Version}}"],
                env=env,
                capture_output=True,
                check=False,
            )
            if ping.returncode == 0:
                return True
        time.sleep(0.2)
    return False


def _stop_process(pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 15)
    if proc is not None:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            proc.wait(timeout=10)


def _cleanup_dir(workdir: Path) -> None:
    # dockerd leaves the default network namespace bind-mounted; unmount it (and any overlay
    # leftovers) before deleting, so rmtree never walks into a live mount.
    for mnt in sorted(_mounts_under(workdir), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
    if _mounts_under(workdir):
        return  # leave it rather than delete through a mount
    shutil.rmtree(workdir, ignore_errors=True)


def existing_engine() -> DockerEngine | None:
    """The machine's own engine, when its unix socket answers; None otherwise."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://") or not Path(host.removeprefix("unix://")).exists():
        return None
    if not shutil.which("docker") and not Path("/usr/bin/docker").exists():
        return None
    cfg = Path(tempfile.mkdtemp(prefix="gate-docker-cfg-"))
    (cfg / "cfg").mkdir()
    probe = DockerEngine(cfg, cfg, Path(host.removeprefix("unix://")), 0, "")
    info = subprocess.run(
        [docker_cli(), "info", "--format", "{{.Driver}}"],
        env=probe.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if info.returncode != 0:
        shutil.rmtree(cfg, ignore_errors=True)
        return None
    return DockerEngine(cfg, cfg, probe.socket, 0, info.stdout.strip())


def start_engine(workdir: Path | None = None) -> DockerEngine | str:
    """Start a private dockerd (overlay2, falling back to vfs); return it or a reason to skip."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        return "dockerd is not installed (apt-get install -y docker.io)"
    if os.geteuid() != 0:
        return (
            "dockerd needs root here, and the tests do not run as root: run them as root, or give"
            " them a running engine (DOCKER_HOST or /var/run/docker.sock)"
        )
    if not shutil.which("docker") and not Path("/usr/bin/docker").exists():
        return "no docker CLI on PATH"
    # A short path: unix socket paths are limited to 107 bytes.
    work = workdir or Path(tempfile.mkdtemp(prefix="gate-dockerd-"))
    reasons = []
    for driver in ("overlay2", "vfs"):
        run = work / driver
        run.mkdir(parents=True, exist_ok=True)
        (run / "cfg").mkdir(exist_ok=True)
        sock = run / "docker.sock"
        log = (run / "dockerd.log").open("wb")
        proc = subprocess.Popen(
            [
                dockerd,
                "--data-root", str(run / "data"),
                "--exec-root", str(run / "exec"),
                "--pidfile", str(run / "dockerd.pid"),
                "-H", f"unix://{sock}",
                f"--storage-driver={driver}",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        engine = DockerEngine(
            root=work, workdir=run, socket=sock, pid=proc.pid, storage_driver=driver
        )
        if _wait_ready(proc, sock, engine.env()):
            _PROCS[proc.pid] = proc
            return engine
        _stop_process(proc.pid, proc)
        tail = (run / "dockerd.log").read_text(errors="replace").strip().splitlines()[-3:]
        reasons.append(f"{driver}: {' | '.join(tail)[-400:]}")
        _cleanup_dir(run)
    _cleanup_dir(work)
    return "the private dockerd could not start: " + "; ".join(reasons)


_PROCS: dict[int, subprocess.Popen[bytes]] = {}


def stop_engine(engine: DockerEngine) -> None:
    """Stop the engine by its pid, unmount its network namespace, delete its folder.

    The machine's own engine is left running; only the client config folder is removed.
    """
    if engine.external:
        shutil.rmtree(engine.root, ignore_errors=True)
        return
    _stop_process(engine.pid, _PROCS.pop(engine.pid, None))
    _cleanup_dir(engine.root)


def apt_mirror() -> str:
    """The Debian mirror to debootstrap from: the host's own on Debian, else deb.debian.org."""
    return debian_mirrors()[0]


def debian_rootfs_tarball(suite: str) -> Path | str:
    """`debootstrap --variant=minbase` SUITE as a tarball cached under `.work/` (or a skip reason)."""
    dest = cache_dir() / "debian-rootfs"
    dest.mkdir(parents=True, exist_ok=True)
    tarball = dest / f"{suite}-minbase.tar"
    if tarball.exists():
        return tarball
    if not shutil.which("debootstrap"):
        return "debootstrap is not installed (apt-get install -y debootstrap)"
    # Parallel test processes share the cache: one debootstraps, the others wait for it.
    with (dest / f"{suite}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            return tarball
        rootfs = Path(tempfile.mkdtemp(prefix=f"gate-rootfs-{suite}-"))
        try:
            proc = subprocess.run(
                ["debootstrap", "--variant=minbase", suite, str(rootfs), apt_mirror()],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                tail = (proc.stdout + proc.stderr).strip()[-400:]
                return f"debootstrap {suite} failed: {tail}"
            partial = tarball.with_suffix(f".tar.{os.getpid()}")
            subprocess.run(
                [
                    "tar", "--numeric-owner", "-C", str(rootfs),
                    "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
                    "-cf", str(partial), ".",
                ],
                check=True,
            )  # fmt: skip
            partial.rename(tarball)
        finally:
            _cleanup_dir(rootfs)
    return tarball


_IMAGES: dict[tuple[int, str], str] = {}
_CURRENT: list[DockerEngine] = []


def _engine(engine: DockerEngine | None) -> DockerEngine:
    if engine is not None:
        return engine
    if not _CURRENT:
        raise RuntimeError("no private dockerd is running: use the docker_engine fixture first")
    return _CURRENT[-1]


def debian_base_image(suite: str, engine: DockerEngine | None = None) -> str:
    """`local/debian:<suite>-minbase`, imported once per engine; skips the test if unavailable."""
    eng = _engine(engine)
    key = (eng.pid, f"base:{suite}")
    if key in _IMAGES:
        return _IMAGES[key]
    tag = BASE_TAG.format(suite=suite)
    if not eng.image_exists(tag):
        tarball = debian_rootfs_tarball(suite)
        if isinstance(tarball, str):
            pytest.skip(tarball)
        eng.docker("import", str(tarball), tag)
    _IMAGES[key] = tag
    return tag


def erlang_image(suite: str, engine: DockerEngine | None = None) -> str:
    """`local/erlang-base:<suite>`: the minbase image plus Debian's real `erlang-base`."""
    eng = _engine(engine)
    key = (eng.pid, f"erlang:{suite}")
    if key in _IMAGES:
        return _IMAGES[key]
    base = debian_base_image(suite, eng)
    tag = ERLANG_TAG.format(suite=suite)
    if not eng.image_exists(tag):
        ctx = Path(tempfile.mkdtemp(prefix="gate-build-"))
        try:
            (ctx / "Dockerfile").write_text(
                f"FROM {base}\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends erlang-base"
                " && rm -rf /var/lib/apt/lists/*\n"
            )
            try:
                eng.docker("build", "--network", "host", "-t", tag, str(ctx), timeout=900)
            except RuntimeError as e:
                pytest.skip(f"building {tag} failed (apt inside the build?): {e}")
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
    _IMAGES[key] = tag
    return tag


@contextlib.contextmanager
def running_engine() -> Iterator[DockerEngine]:
    """The machine's engine, else a private one, for the `with` block (a skip if neither runs)."""
    engine = existing_engine() or start_engine()
    if isinstance(engine, str):
        pytest.skip(engine)
    old_host = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine.host
    _CURRENT.append(engine)
    try:
        yield engine
    finally:
        _CURRENT.remove(engine)
        if old_host is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old_host
        stop_engine(engine)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A private dockerd for the whole session; `DOCKER_HOST` points at it while it runs."""
    with running_engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def bookworm_erlang_image(docker_engine: DockerEngine) -> str:
    """Debian 12 + erlang-base (OTP 25.2.3, erts-13.1.5)."""
    return erlang_image("bookworm", docker_engine)


@pytest.fixture(scope="session")
def trixie_erlang_image(docker_engine: DockerEngine) -> str:
    """Debian 13 + erlang-base (OTP 27.3.4.1, erts-15.2.7)."""
    return erlang_image("trixie", docker_engine)
