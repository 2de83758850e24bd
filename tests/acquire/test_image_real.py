"""Real images from a private dockerd: Debian's erlang-base, scanned through the socket and `docker save`."""

# The fixtures are imported by name, which pyflakes reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from gate.acquire.image import DockerImageSource, ImageArchiveSource, Platform
from gate.acquire.interface import AcquiredTree
from gate.errors import AcquireError
from gate.inspection.elf import read_facts
from gate.inspection.runtime import load_runtime
from gate.model.elf import ElfKind
from gate.model.runtime import Role
from tests.support.dockerd import (  # noqa: F401  (fixtures are used by name)
    DockerEngine,
    bookworm_erlang_image,
    debian_base_image,
    docker_engine,
    existing_engine,
    stop_engine,
    trixie_erlang_image,
)

pytestmark = pytest.mark.docker


def _files(tree: AcquiredTree) -> set[str]:
    return {p.relative_to(tree.root).as_posix() for p in tree.root.rglob("*")}


def _check_debian_runtime(tree: AcquiredTree, image: str, otp: str, erts: str, distro: str) -> None:
    assert tree.display_root == "image:/usr/lib/erlang"
    o = tree.origin
    assert (o.method, o.image, o.path_in_image, o.package, o.distro) == (
        "image", image, "/usr/lib/erlang", "erlang-base", distro,
    )  # fmt: skip
    assert o.package_version is not None and o.package_version.startswith(
        f"1:{otp.rsplit('.', 1)[0]}"
    )
    runtime = load_runtime(tree)
    assert runtime.otp_version_file is not None and runtime.otp_version_file.strip() == otp
    assert runtime.erts_versions == (erts,)
    roles = {f.path: f.role for f in runtime.files}
    assert roles[f"erts-{erts}/bin/beam.smp"] == Role.EMULATOR
    assert Role.ERTS_EXECUTABLE in roles.values()
    assert len(roles) >= 8  # beam.smp, erlexec, epmd, erl_child_setup, inet_gethost, NIFs...
    facts = read_facts(tree.root / f"erts-{erts}/bin/beam.smp")
    assert facts.kind == ElfKind.PIE_EXECUTABLE  # Debian builds OTP as PIE


def test_bookworm_through_the_socket_and_from_docker_save(
    docker_engine: DockerEngine, bookworm_erlang_image: str, tmp_path: Path
) -> None:
    # --platform goes to the engine too (API >= 1.48 exports that platform; 20.10 ignores it).
    via_socket = DockerImageSource(
        bookworm_erlang_image, Platform.host(), docker_host=docker_engine.host
    )
    (tree_sock,) = via_socket.acquire(tmp_path / "sock")
    _check_debian_runtime(tree_sock, bookworm_erlang_image, "25.2.3", "13.1.5", "debian-12")
    assert not (tmp_path / "sock" / ".image-export.tar").exists()  # the spool is removed

    saved = tmp_path / "bookworm.tar"
    docker_engine.docker("save", "-o", str(saved), bookworm_erlang_image)
    (tree_arc,) = ImageArchiveSource(saved).acquire(tmp_path / "arc")
    _check_debian_runtime(tree_arc, bookworm_erlang_image, "25.2.3", "13.1.5", "debian-12")
    # Both routes extract the same files, and only the runtime's (a few % of the image).
    assert _files(tree_sock) == _files(tree_arc)
    extracted = sum(
        p.stat().st_size for p in tree_arc.root.rglob("*") if p.is_file() and not p.is_symlink()
    )
    assert extracted < saved.stat().st_size / 3


def test_an_engine_that_answers_is_used_as_it_is(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DOCKER_HOST points at the session's engine, as on a runner with its own: it is used, and
    # "stopping" it only drops the client config, never the engine.
    found = existing_engine()
    assert found is not None and found.external and found.socket == docker_engine.socket
    assert found.storage_driver == docker_engine.storage_driver
    stop_engine(found)
    assert not found.root.exists()
    assert docker_engine.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert existing_engine() is None


def test_image_missing_from_engine(docker_engine: DockerEngine, tmp_path: Path) -> None:
    with pytest.raises(AcquireError, match="'local/nope:1' is not in the Docker engine"):
        DockerImageSource("local/nope:1", docker_host=docker_engine.host).acquire(tmp_path)


def test_docker_host_from_environment(
    docker_engine: DockerEngine, bookworm_erlang_image: str, tmp_path: Path
) -> None:
    # The fixture points DOCKER_HOST at the private engine, as the action's socket mount would.
    (tree,) = DockerImageSource(bookworm_erlang_image).acquire(tmp_path)
    assert tree.origin.package == "erlang-base"


def test_trixie_gives_otp_27(
    docker_engine: DockerEngine, trixie_erlang_image: str, tmp_path: Path
) -> None:
    (tree,) = DockerImageSource(trixie_erlang_image, docker_host=docker_engine.host).acquire(
        tmp_path
    )
    _check_debian_runtime(tree, trixie_erlang_image, "27.3.4.1", "15.2.7", "debian-13")


def test_image_without_otp(docker_engine: DockerEngine, tmp_path: Path) -> None:
    base = debian_base_image("bookworm", docker_engine)
    with pytest.raises(AcquireError, match=f"image {base}: no OTP runtime inside"):
        DockerImageSource(base, docker_host=docker_engine.host).acquire(tmp_path)


@pytest.mark.parametrize(
    ("dest", "flags", "layers"),
    [
        ("oci-archive", [], "gzip"),  # skopeo compresses OCI layers by default
        ("oci-archive", ["--dest-compress-format", "zstd"], "zstd"),
        ("docker-archive", [], "plain"),
    ],
    ids=["oci-gzip", "oci-zstd", "skopeo-docker-archive"],
)
def test_archives_written_by_skopeo(
    docker_engine: DockerEngine,
    bookworm_erlang_image: str,
    tmp_path: Path,
    dest: str,
    flags: list[str],
    layers: str,
) -> None:
    # Real tools' output, not only the archives these tests build by hand.
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (apt-get install -y skopeo)")
    out = tmp_path / "image.tar"
    subprocess.run(
        ["skopeo", "copy", "--src-daemon-host", docker_engine.host, *flags,
         f"docker-daemon:{bookworm_erlang_image}", f"{dest}:{out}"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    with tarfile.open(out) as t:
        big = [m for m in t.getmembers() if m.isfile() and m.size > 1024 * 1024]
        heads = {t.extractfile(m).read(4) for m in big}  # type: ignore[union-attr]
    magic = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}.get(layers)
    # The layers really are in the expected compression, so each code path is exercised.
    assert (
        all(h.startswith(magic) for h in heads)
        if magic
        else not any(h.startswith((b"\x1f\x8b", b"\x28\xb5")) for h in heads)
    )
    source = ImageArchiveSource(out, ref=bookworm_erlang_image)
    if layers == "zstd":
        with pytest.raises(AcquireError, match="zstd-compressed"):
            source.acquire(tmp_path / "w")
        return
    (tree,) = source.acquire(tmp_path / "w")
    _check_debian_runtime(tree, bookworm_erlang_image, "25.2.3", "13.1.5", "debian-12")


def test_real_whiteouts_opaque_folders_and_several_runtimes(
    docker_engine: DockerEngine, bookworm_erlang_image: str, tmp_path: Path
) -> None:
    # Layers written by the engine itself: `rm` makes `.wh.` files; removing and re-creating a
    # folder in one step makes an opaque folder (overlay2); copies make more runtimes.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {bookworm_erlang_image}\n"
        "RUN mkdir -p /app/rel/releases/0.1.0 && cp -a /usr/lib/erlang/erts-13.1.5 /app/rel/"
        " && echo '13.1.5 0.1.0' > /app/rel/releases/start_erl.data\n"
        "RUN mkdir -p /opt/otp && cp -a /usr/lib/erlang/erts-13.1.5 /opt/otp/\n"
        "RUN rm /usr/lib/erlang/erts-13.1.5/bin/epmd\n"
        "RUN rm -rf /opt/otp && mkdir -p /opt/otp/other && echo hi > /opt/otp/other/file\n"
    )
    tag = "local/otp-gate-layers:1"
    docker_engine.docker("build", "--network", "none", "-t", tag, str(ctx))
    saved = tmp_path / "layers.tar"
    docker_engine.docker("save", "-o", str(saved), tag)
    markers = set()
    with tarfile.open(saved) as outer:
        # Layers are `<id>/layer.tar` (legacy save) or `blobs/sha256/<hex>` (OCI, Docker >= 25).
        for m in outer.getmembers():
            if not m.isfile() or m.name.endswith((".json", "oci-layout", "repositories")):
                continue
            try:
                with tarfile.open(fileobj=outer.extractfile(m)) as lt:  # type: ignore[arg-type]
                    markers |= {n.rsplit("/", 1)[-1] for n in lt.getnames() if "/.wh." in n}
            except tarfile.ReadError:
                continue  # a config or manifest blob, not a layer
    assert ".wh.epmd" in markers
    if docker_engine.storage_driver == "overlay2":
        assert ".wh..wh..opq" in markers

    trees = {t.origin.path_in_image: t for t in ImageArchiveSource(saved).acquire(tmp_path / "w")}
    assert sorted(trees) == ["/app/rel", "/usr/lib/erlang"]
    otp = trees["/usr/lib/erlang"]
    assert not (otp.root / "erts-13.1.5/bin/epmd").exists()
    assert not (otp.root / "bin/epmd").exists()  # its link now dangles: not extracted
    assert otp.origin.package == "erlang-base"
    rel = trees["/app/rel"]
    assert rel.origin.package is None  # a copy no package owns
    runtime = load_runtime(rel)
    assert runtime.erts_versions == ("13.1.5",)
    assert runtime.start_erl_data is not None and runtime.start_erl_data.strip() == "13.1.5 0.1.0"
