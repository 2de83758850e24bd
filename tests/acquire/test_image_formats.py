"""Image archives built by the tests in every format: legacy docker save, OCI (nested, multi-arch,
gzip and plain layers), Docker >= 25 OCI + manifest.json, podman; whiteouts, opaque folders, links."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.acquire.image import DockerImageSource, ImageArchiveSource, Platform
from gate.errors import AcquireError, GateError, UnsafeArchiveError, UsageError

ELF = b"\x7fELF\x02\x01\x01" + bytes(57)


@dataclass(frozen=True)
class E:
    """One layer member: a file (data), folder (dir=True), symlink (link) or hard link (hard)."""

    name: str
    data: bytes = b""
    link: str | None = None
    hard: str | None = None
    dir: bool = False
    type_: bytes | None = None


def layer(*entries: E, compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode = 0o755
            if e.dir:
                info.type = tarfile.DIRTYPE
            elif e.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, e.link
            elif e.hard is not None:
                info.type, info.linkname = tarfile.LNKTYPE, e.hard
            elif e.type_ is not None:
                info.type = e.type_
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
                continue
            tar.addfile(info)
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


def outer_tar(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def config(arch: str = "amd64", variant: str | None = None) -> bytes:
    doc: dict[str, object] = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers"}}
    if variant:
        doc["variant"] = variant
    return json.dumps(doc).encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def legacy(path: Path, layers: list[bytes], tags: list[str], arch: str = "amd64") -> Path:
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    names = []
    seen: dict[str, str] = {}
    for i, data in enumerate(layers):
        layer_id = sha(data + bytes([i]))
        name = f"{layer_id}/layer.tar"
        if sha(data) in seen:
            # docker save links a layer it already wrote instead of storing it twice.
            links[name] = f"../{seen[sha(data)]}"
        else:
            files[name] = data
            seen[sha(data)] = name
        files[f"{layer_id}/VERSION"] = b"1.0"
        names.append(name)
    cfg = config(arch)
    files[f"{sha(cfg)}.json"] = cfg
    files["manifest.json"] = json.dumps(
        [{"Config": f"{sha(cfg)}.json", "RepoTags": tags, "Layers": names}]
    ).encode()
    return outer_tar(path, files, links)


def podman(path: Path, layers: list[bytes], tags: list[str]) -> Path:
    files = {f"{sha(d)}.tar": d for d in layers}
    cfg = config()
    files[f"{sha(cfg)}.json"] = cfg
    files["manifest.json"] = json.dumps(
        [
            {
                "Config": f"{sha(cfg)}.json",
                "RepoTags": tags,
                "Layers": [f"{sha(d)}.tar" for d in layers],
            }
        ]
    ).encode()
    return outer_tar(path, files)


class Oci:
    """Builds an OCI layout: blobs by digest, manifests, nested indexes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def blob(self, data: bytes) -> str:
        self.blobs[f"blobs/sha256/{sha(data)}"] = data
        return f"sha256:{sha(data)}"

    def manifest(
        self, layers: list[bytes], arch: str = "amd64", variant: str | None = None
    ) -> dict[str, object]:
        cfg = config(arch, variant)
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.blob(cfg),
                "size": len(cfg),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar"
                    + ("+gzip" if d[:2] == b"\x1f\x8b" else ""),
                    "digest": self.blob(d),
                    "size": len(d),
                }
                for d in layers
            ],
        }
        data = json.dumps(doc).encode()
        plat = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        return {
            "mediaType": doc["mediaType"],
            "digest": self.blob(data),
            "size": len(data),
            "platform": plat,
        }

    def index(self, manifests: list[dict[str, object]]) -> dict[str, object]:
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
        data = json.dumps(doc).encode()
        return {"mediaType": doc["mediaType"], "digest": self.blob(data), "size": len(data)}

    def write(
        self, path: Path, top: list[dict[str, object]], extra: dict[str, bytes] | None = None
    ) -> Path:
        files = dict(self.blobs)
        files["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
        files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": top}).encode()
        files.update(extra or {})
        return outer_tar(path, files)


DPKG_STATUS = b"""Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u10

Package: erlang-base
Status: install ok installed
Architecture: amd64
Version: 1:25.2.3+dfsg-1+deb12u4
Description: Erlang/OTP virtual machine
 and base applications
"""

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


def debian_base() -> list[E]:
    return [
        E("etc", dir=True),
        E("usr/lib/os-release", OS_RELEASE),
        E("etc/os-release", link="../usr/lib/os-release"),
        E("etc/passwd", b"root:x:0:0:image root:/root:/bin/sh\n"),
        E("usr/lib/x86_64-linux-gnu/libcrypto.so.3", ELF + b"libcrypto"),
        E("lib", link="usr/lib"),
        E("var/lib/dpkg/status", DPKG_STATUS),
        E("var/lib/dpkg/info/libc6:amd64.list", b"/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n"),
        E(
            "var/lib/dpkg/info/erlang-base.list",
            b"/.\n/usr/lib/erlang\n/usr/lib/erlang/erts-13.1.5/bin/beam.smp\n",
        ),
    ]


def debian_otp() -> list[E]:
    return [
        E("usr/lib/erlang/erts-13.1.5/bin/beam.smp", ELF + b"beam"),
        E("usr/lib/erlang/erts-13.1.5/bin/epmd", ELF + b"epmd"),
        E("usr/lib/erlang/erts-13.1.5/bin/erl_child_setup", ELF + b"ecs"),
        E("usr/lib/erlang/bin/epmd", link="../erts-13.1.5/bin/epmd"),
        E("usr/lib/erlang/releases/25/OTP_VERSION", b"25.2.3\n"),
        E("usr/lib/erlang/lib/crypto-5.1.4/priv/lib/crypto.so", ELF + b"crypto"),
        E(
            "usr/lib/erlang/lib/crypto-5.1.4/priv/lib/libcrypto.so.3",
            link="/lib/x86_64-linux-gnu/libcrypto.so.3",
        ),
        E(
            "usr/lib/erlang/lib/crypto-5.1.4/priv/lib/passwd",
            link="../../../../../../../../etc/passwd",
        ),
        E("usr/lib/erlang/lib/crypto-5.1.4/priv/lib/dangling", link="/nowhere"),
        E("usr/lib/erlang/lib/stdlib-4.2/ebin/stdlib.app", b"{application, stdlib, []}."),
    ]


def release(base: str, erts: str = "erts-15.2.7") -> list[E]:
    return [
        E(f"{base}/{erts}/bin/beam.smp", ELF + b"rel-beam"),
        E(f"{base}/releases/start_erl.data", b"15.2.7 0.1.0\n"),
        E(f"{base}/lib/myapp-0.1.0/priv/myapp_nif.so", ELF + b"nif"),
    ]


def files_under(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def by_root(trees: object) -> dict[str, object]:
    return {t.origin.path_in_image: t for t in trees}  # type: ignore[attr-defined]


# --- formats ---------------------------------------------------------------------------------


def test_legacy_docker_save_multi_layer_whiteouts_opaque_links(tmp_path: Path) -> None:
    l1 = layer(*debian_base(), *debian_otp())
    l2 = layer(
        # A whiteout deletes one file of the lower layer ...
        E("usr/lib/erlang/erts-13.1.5/bin/.wh.erl_child_setup"),
        # ... and a whole folder, with a runtime inside.
        E("opt/.wh.old-otp"),
        *release("app/myrel"),
    )
    l0 = layer(*release("opt/old-otp", "erts-10.0"))
    l3 = layer(
        *release("srv/gone"),
    )
    l4 = layer(
        # An opaque folder hides what lower layers put in /srv, but keeps this layer's entries.
        E("srv/kept/erts-14.0/bin/beam.smp", ELF + b"kept"),
        E("srv/.wh..wh..opq"),
    )
    arc = legacy(tmp_path / "img.tar", [l0, l1, l2, l3, l4, l3], ["local/erl:1"])
    # The last layer repeats l3 (stored once, linked): /srv/gone comes back above the opaque layer.
    trees = by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))
    assert sorted(trees) == ["/app/myrel", "/srv/gone", "/srv/kept", "/usr/lib/erlang"]
    otp = trees["/usr/lib/erlang"]
    got = files_under(otp.root)  # type: ignore[attr-defined]
    assert "erts-13.1.5/bin/beam.smp" in got
    assert "erts-13.1.5/bin/erl_child_setup" not in got
    assert os.readlink(otp.root / "bin/epmd") == "../erts-13.1.5/bin/epmd"  # type: ignore[attr-defined]
    # A link out of the runtime is resolved inside the image (lib -> usr/lib) and its bytes copied.
    crypto = otp.root / "lib/crypto-5.1.4/priv/lib"  # type: ignore[attr-defined]
    assert (crypto / "libcrypto.so.3").read_bytes() == ELF + b"libcrypto"
    assert not (crypto / "libcrypto.so.3").is_symlink()
    # `..` past the image root stays at the image root: the image's passwd, never the host's.
    assert (crypto / "passwd").read_bytes() == b"root:x:0:0:image root:/root:/bin/sh\n"
    assert not os.path.lexists(crypto / "dangling")
    assert "not extracted" in otp.origin.description  # type: ignore[attr-defined]
    o = otp.origin  # type: ignore[attr-defined]
    assert (o.method, o.package, o.package_version, o.distro, o.image) == (
        "image", "erlang-base", "1:25.2.3+dfsg-1+deb12u4", "debian-12", "local/erl:1",
    )  # fmt: skip
    assert otp.display_root == "image:/usr/lib/erlang"  # type: ignore[attr-defined]
    rel = trees["/app/myrel"]
    assert rel.origin.package is None  # type: ignore[attr-defined]
    assert files_under(rel.root) == {  # type: ignore[attr-defined]
        "erts-15.2.7/bin/beam.smp", "releases/start_erl.data", "lib/myapp-0.1.0/priv/myapp_nif.so",
    }  # fmt: skip
    assert files_under(trees["/srv/kept"].root) == {"erts-14.0/bin/beam.smp"}  # type: ignore[attr-defined]
    # Only the runtimes were extracted: nothing else of the image is on disk.
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [f"image-{i}" for i in range(4)]


def test_opaque_folder_hides_lower_runtime(tmp_path: Path) -> None:
    l1 = layer(*release("opt/a"), *release("opt/b"))
    l2 = layer(E("opt/.wh..wh..opq"), *release("opt/c"))
    arc = podman(tmp_path / "img.tar", [l1, l2], ["localhost/x:1"])
    assert sorted(by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))) == ["/opt/c"]


def test_whiteout_of_the_whole_runtime(tmp_path: Path) -> None:
    l1 = layer(*debian_base(), *debian_otp(), *release("app"))
    l2 = layer(E("usr/lib/.wh.erlang"))
    arc = podman(tmp_path / "img.tar", [l1, l2], ["localhost/x:1"])
    assert sorted(by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))) == ["/app"]


def test_merged_usr_layer_writes_through_image_link(tmp_path: Path) -> None:
    # /lib -> usr/lib in the base; a later layer writing lib/erlang/... lands in /usr/lib/erlang.
    l1 = layer(*debian_base())
    l2 = layer(
        E("lib/erlang/erts-13.1.5/bin/beam.smp", ELF),
        E("lib/erlang/releases/25/OTP_VERSION", b"25.2.3\n"),
    )
    arc = legacy(tmp_path / "img.tar", [l1, l2], ["x:1"])
    trees = by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))
    assert sorted(trees) == ["/usr/lib/erlang"]
    assert trees["/usr/lib/erlang"].origin.package == "erlang-base"  # type: ignore[attr-defined]


@pytest.mark.parametrize("compress", [False, True], ids=["plain-layer", "gzip-layer"])
def test_hard_links_inside_and_outside_the_runtime(tmp_path: Path, compress: bool) -> None:
    # Plain layers are read by offset in pass 2, gzip layers streamed again: both must agree.
    l1 = layer(
        E("usr/lib/libfoo.so", ELF + b"foo"),
        E("opt/otp/erts-1/bin/beam.smp", ELF + b"beam"),
        E("opt/otp/erts-1/bin/beam.copy", hard="opt/otp/erts-1/bin/beam.smp"),
        E("opt/otp/lib/x-1/priv/foo.so", hard="usr/lib/libfoo.so"),
        E("etc/os-release", b"ID=debian\nVERSION_ID=13\n"),
        compress=compress,
    )
    arc = legacy(tmp_path / "img.tar", [l1], ["x:1"])
    (tree,) = ImageArchiveSource(arc).acquire(tmp_path / "w")
    assert (tree.root / "erts-1/bin/beam.copy").read_bytes() == ELF + b"beam"
    assert (tree.root / "lib/x-1/priv/foo.so").read_bytes() == ELF + b"foo"
    assert tree.origin.distro == "debian-13"


def test_oci_nested_multi_arch_gzip_and_plain(tmp_path: Path) -> None:
    oci = Oci()
    amd = oci.manifest([layer(*debian_base(), compress=True), layer(*debian_otp())], "amd64")
    arm = oci.manifest([layer(*release("opt/arm"), compress=True)], "arm64", "v8")
    att = oci.manifest([layer(E("attestation.json", b"{}"))], "unknown")
    att["platform"] = {"os": "unknown", "architecture": "unknown"}
    nested = oci.index([amd, arm, att])
    arc = oci.write(tmp_path / "oci.tar", [nested])
    trees = by_root(ImageArchiveSource(arc, Platform.parse("linux/amd64")).acquire(tmp_path / "a"))
    assert sorted(trees) == ["/usr/lib/erlang"]
    assert trees["/usr/lib/erlang"].origin.description.startswith("image oci.tar (linux/amd64)")  # type: ignore[attr-defined]
    trees = by_root(ImageArchiveSource(arc, Platform.parse("linux/arm64")).acquire(tmp_path / "b"))
    assert sorted(trees) == ["/opt/arm"]
    with pytest.raises(
        AcquireError,
        match=r"no image for platform linux/s390x; the archive has: linux/amd64, linux/arm64/v8",
    ):
        ImageArchiveSource(arc, Platform.parse("linux/s390x")).acquire(tmp_path / "c")


def test_default_platform_is_this_machines(tmp_path: Path) -> None:
    oci = Oci()
    host = Platform.host()
    other = "arm64" if host.architecture != "arm64" else "amd64"
    mine = oci.manifest([layer(*release("opt/mine"))], host.architecture)
    theirs = oci.manifest([layer(*release("opt/theirs"))], other)
    arc = oci.write(tmp_path / "oci.tar", [oci.index([theirs, mine])])
    assert sorted(by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))) == ["/opt/mine"]


def test_single_foreign_platform_is_scanned_unless_another_is_asked(tmp_path: Path) -> None:
    oci = Oci()
    arc = oci.write(tmp_path / "oci.tar", [oci.manifest([layer(*release("opt/r"))], "riscv64")])
    assert sorted(by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))) == ["/opt/r"]
    with pytest.raises(AcquireError, match="no image for platform linux/amd64"):
        ImageArchiveSource(arc, Platform.parse("linux/amd64")).acquire(tmp_path / "w2")


def test_docker25_oci_plus_manifest_json_with_missing_platform(tmp_path: Path) -> None:
    oci = Oci()
    layers = [layer(*debian_base()), layer(*debian_otp(), compress=True)]
    amd = oci.manifest(layers, "amd64")
    # A multi-platform index lists arm64 but the save holds only amd64's blobs.
    arm_desc = dict(
        amd, digest="sha256:" + "ab" * 32, platform={"os": "linux", "architecture": "arm64"}
    )
    top = oci.index([amd, arm_desc])
    top["annotations"] = {"io.containerd.image.name": "docker.io/library/erl:27"}
    manifest_json = json.dumps(
        [{"Config": "blobs/sha256/" + sha(config()), "RepoTags": ["erl:27"],
          "Layers": ["blobs/sha256/" + sha(d) for d in layers]}]
    ).encode()  # fmt: skip
    arc = oci.write(tmp_path / "d25.tar", [top], {"manifest.json": manifest_json})
    trees = by_root(ImageArchiveSource(arc).acquire(tmp_path / "w"))
    assert trees["/usr/lib/erlang"].origin.image == "erl:27"  # type: ignore[attr-defined]
    with pytest.raises(AcquireError, match=r"listed without their layers: linux/arm64"):
        ImageArchiveSource(arc, Platform.parse("linux/arm64")).acquire(tmp_path / "w2")


def test_podman_archive_and_gzipped_save(tmp_path: Path) -> None:
    arc = podman(
        tmp_path / "p.tar", [layer(*debian_base()), layer(*debian_otp())], ["localhost/erl:1"]
    )
    gz = tmp_path / "p.tar.gz"
    gz.write_bytes(gzip.compress(arc.read_bytes()))
    for src in (arc, gz):
        (tree,) = ImageArchiveSource(src).acquire(tmp_path / src.name.replace(".", "-"))
        assert tree.origin.image == "localhost/erl:1"
        assert (tree.root / "releases/25/OTP_VERSION").read_text() == "25.2.3\n"
    assert not list(tmp_path.glob("**/.p.tar.gz.tar"))  # the decompressed spool is removed


def test_alpine_apk_origin(tmp_path: Path) -> None:
    apk = (
        b"C:Q1abc=\nP:musl\nV:1.2.5-r0\nF:lib\nR:ld-musl-x86_64.so.1\n\n"
        b"C:Q1def=\nP:erlang\nV:26.2.5-r0\nF:usr/lib/erlang/erts-14.2.5/bin\nR:epmd\nR:beam.smp\n\n"
    )
    l1 = layer(
        E("etc/os-release", b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n'),
        E("lib/apk/db/installed", apk),
        E("usr/lib/erlang/erts-14.2.5/bin/beam.smp", ELF),
    )
    (tree,) = ImageArchiveSource(legacy(tmp_path / "a.tar", [l1], ["alpine-erl"])).acquire(
        tmp_path / "w"
    )
    assert (tree.origin.package, tree.origin.package_version, tree.origin.distro) == (
        "erlang", "26.2.5-r0", "alpine-3.20",
    )  # fmt: skip


# --- hostile and broken archives -------------------------------------------------------------


def test_layer_escaping_path_is_refused(tmp_path: Path) -> None:
    arc = legacy(
        tmp_path / "img.tar", [layer(*release("app")), layer(E("../../etc/evil", b"x"))], ["x"]
    )
    with pytest.raises(UnsafeArchiveError, match=r"layer 2/2 .*'../../etc/evil' climbs out"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")


def test_device_file_in_runtime_is_not_created(tmp_path: Path) -> None:
    arc = legacy(
        tmp_path / "img.tar",
        [layer(*release("app"), E("app/dev-null", type_=tarfile.CHRTYPE))],
        ["x"],
    )
    (tree,) = ImageArchiveSource(arc).acquire(tmp_path / "w")
    assert not os.path.lexists(tree.root / "dev-null")
    assert "special file" in tree.origin.description or "not extracted" in tree.origin.description


def test_hard_link_to_a_missing_member(tmp_path: Path) -> None:
    arc = legacy(
        tmp_path / "img.tar", [layer(*release("app"), E("app/ghost", hard="no/such"))], ["x"]
    )
    (tree,) = ImageArchiveSource(arc).acquire(tmp_path / "w")
    assert not os.path.lexists(tree.root / "ghost")
    assert "1 link(s) or special file(s) not extracted" in tree.origin.description


def test_member_cap_covers_every_layer(tmp_path: Path) -> None:
    from gate.acquire.archive import ArchiveLimits

    arc = legacy(
        tmp_path / "img.tar",
        [layer(*release("app")), layer(*[E(f"f{i}", b"") for i in range(50)])],
        ["x"],
    )
    with pytest.raises(UnsafeArchiveError, match="more than 40 members"):
        ImageArchiveSource(arc, limits=ArchiveLimits(max_members=40)).acquire(tmp_path / "w")


def test_extracted_size_cap(tmp_path: Path) -> None:
    from gate.acquire.archive import ArchiveLimits

    big = E("app/erts-1/bin/beam.smp", ELF + bytes(100_000))
    arc = legacy(tmp_path / "img.tar", [layer(big)], ["x"])
    with pytest.raises(UnsafeArchiveError, match="exceeds the cap of 50000 bytes"):
        ImageArchiveSource(arc, limits=ArchiveLimits(max_total_bytes=50_000)).acquire(
            tmp_path / "w"
        )


def test_gzip_bomb_layer(tmp_path: Path) -> None:
    from gate.acquire.archive import ArchiveLimits

    bomb = layer(*release("app"), E("zeros", bytes(40 * 1024 * 1024)), compress=True)
    arc = legacy(tmp_path / "img.tar", [bomb], ["x"])
    with pytest.raises(UnsafeArchiveError, match=r"layer 1/1 .*ratio above 100:1"):
        ImageArchiveSource(
            arc, limits=ArchiveLimits(max_ratio=100, ratio_floor=1024 * 1024)
        ).acquire(tmp_path / "w")


def test_not_an_image_archive(tmp_path: Path) -> None:
    arc = outer_tar(tmp_path / "x.tar", {"hello.txt": b"hi"})
    with pytest.raises(AcquireError, match="not an image archive"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")


def test_missing_layer_and_bad_json(tmp_path: Path) -> None:
    arc = outer_tar(
        tmp_path / "x.tar",
        {"manifest.json": b'[{"Config": "c.json", "Layers": ["nope/layer.tar"]}]'},
    )
    with pytest.raises(AcquireError, match=r"layer 1/1 \(nope/layer.tar\) is missing"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")
    arc = outer_tar(tmp_path / "y.tar", {"manifest.json": b"[{"})
    with pytest.raises(AcquireError, match=r"manifest 'manifest\.json' is not valid JSON"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")


def test_truncated_image_archive(tmp_path: Path) -> None:
    arc = legacy(tmp_path / "img.tar", [layer(*debian_base(), *debian_otp())], ["x"])
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 3])
    with pytest.raises(AcquireError, match="truncated"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")


def test_no_runtime_in_image(tmp_path: Path) -> None:
    arc = legacy(tmp_path / "img.tar", [layer(*debian_base())], ["plain:1"])
    with pytest.raises(AcquireError, match="image plain:1: no OTP runtime inside"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")


def test_bad_platform_and_engine_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected os/arch"):
        Platform.parse("amd64")
    assert str(Platform.parse("linux/x86_64")) == "linux/amd64"
    src = DockerImageSource("x:1", docker_host=f"unix://{tmp_path}/no.sock")
    with pytest.raises(AcquireError, match="cannot reach the Docker engine at unix://") as e:
        src.acquire(tmp_path / "w")
    assert "--image-archive" in (e.value.hint or "")
    with pytest.raises(UsageError, match="only unix:// sockets"):
        DockerImageSource("x", docker_host="ssh://host").acquire(tmp_path / "w")


def test_docker_host_comes_from_the_callers_environment(tmp_path: Path) -> None:
    # Not from this process's: main(argv, environ) passes the environment down; PATH too, so no
    # `docker` CLI is found for the fallback and the error names the socket it tried.
    env = {"DOCKER_HOST": f"unix://{tmp_path}/from-env.sock", "PATH": str(tmp_path)}
    src = DockerImageSource("x:1", environ=env)
    assert src.host == env["DOCKER_HOST"]
    with pytest.raises(AcquireError, match=r"from-env\.sock") as e:
        src.acquire(tmp_path / "w")
    assert "docker save" not in e.value.message


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(["legacy", "oci-gzip"]),
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    truncate=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_damaged_image_archives_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
    fmt: str,
    cuts: list[tuple[int, int]],
    truncate: int | None,
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    if fmt == "legacy":
        arc = legacy(base / "img.tar", [layer(*debian_base()), layer(*debian_otp())], ["x:1"])
    else:
        oci = Oci()
        top = oci.manifest(
            [layer(*debian_base(), compress=True), layer(*debian_otp(), compress=True)]
        )
        arc = oci.write(base / "img.tar", [top])
    data = bytearray(arc.read_bytes())
    for pos, value in cuts:
        data[pos % len(data)] = value
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    arc.write_bytes(bytes(data))
    try:
        trees = ImageArchiveSource(arc).acquire(base / "w")
    except GateError:
        return
    top_dir = os.path.realpath(base / "w")
    for tree in trees:
        for dirpath, dirnames, filenames in os.walk(tree.root):
            for name in dirnames + filenames:
                real = os.path.realpath(os.path.join(dirpath, name))
                assert real.startswith(top_dir + os.sep)


def _pad(n: int) -> bytes:
    return bytes(-n % 512)


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info.tobuf(tarfile.PAX_FORMAT)


def test_huge_image_scans_in_bounded_memory(tmp_path: Path) -> None:
    # A 6 GiB layer member (a sparse file on disk) sits next to a small runtime. Memory and time
    # must not depend on it: pass 1 skips its bytes, pass 2 reads only the runtime.
    huge = 6 * 1024**3
    rest = layer(*release("app"))
    big_header = _header("var/lib/data.bin", huge)
    layer_size = len(big_header) + huge + len(rest)
    arc = tmp_path / "huge.tar"
    cfg = config()
    manifest = json.dumps(
        [{"Config": "c.json", "RepoTags": ["huge:1"], "Layers": ["l/layer.tar"]}]
    ).encode()
    with arc.open("wb") as f:
        f.write(_header("l/layer.tar", layer_size))
        f.write(big_header)
        f.seek(huge, os.SEEK_CUR)
        f.write(rest)
        f.write(_pad(layer_size))
        for name, data in (("c.json", cfg), ("manifest.json", manifest)):
            f.write(_header(name, len(data)) + data + _pad(len(data)))
        f.write(bytes(1024))
    assert arc.stat().st_size > huge
    # VmHWM, not ru_maxrss: the latter survives exec and would count pytest's own memory.
    code = (
        "import re, sys, json\n"
        "from pathlib import Path\n"
        "from gate.acquire.image import ImageArchiveSource\n"
        "trees = ImageArchiveSource(Path(sys.argv[1])).acquire(Path(sys.argv[2]))\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(json.dumps([[t.display_root for t in trees], int(hwm) // 1024]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(arc), str(tmp_path / "w")],
        capture_output=True, text=True, timeout=120, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    roots, rss_mib = json.loads(proc.stdout)
    assert roots == ["image:/app"]
    assert rss_mib < 100


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["manifests", "layers", "Layers", "Config", "RepoTags", "config", "digest",
                         "mediaType", "platform", "annotations", "os", "architecture", "x"]),
        children, max_size=5,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=_JSON, which=st.sampled_from(["manifest.json", "index.json", "blob"]))
def test_malformed_image_metadata_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, doc: object, which: str
) -> None:
    base = tmp_path_factory.mktemp("json")
    data = json.dumps(doc).encode()
    if which == "blob":
        # A well-formed index pointing at a malformed manifest blob.
        digest = "sha256:" + sha(data)
        index = {
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest}
            ]
        }
        arc = outer_tar(
            base / "x.tar",
            {"index.json": json.dumps(index).encode(), f"blobs/sha256/{sha(data)}": data},
        )
    else:
        arc = outer_tar(base / "x.tar", {which: data})
    with pytest.raises(GateError):
        ImageArchiveSource(arc).acquire(base / "w")


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    arc = outer_tar(tmp_path / "x.tar", {"manifest.json": b"[" * 100_000 + b"]" * 100_000})
    with pytest.raises(AcquireError, match=r"'manifest\.json' is not valid JSON"):
        ImageArchiveSource(arc).acquire(tmp_path / "w")


_SAFE_PART = st.sampled_from(
    ["a", "b", "erts-1", "bin", "beam.smp", ".", ".wh.a", ".wh.erts-1", ".wh..wh..opq"]
)
# ".." only now and then, or nearly every archive would be refused before its layers apply.
_PART = st.one_of(_SAFE_PART, _SAFE_PART, _SAFE_PART, _SAFE_PART, st.just(".."))


def _entries(part: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str, str]]:
    return st.builds(
        lambda parts, kind, target: (
            "/".join(parts),
            kind,
            "/".join(target) if kind != "abs" else "/" + "/".join(target),
        ),
        st.lists(part, min_size=1, max_size=5),
        st.sampled_from(["file", "dir", "link", "abs", "hard"]),
        st.lists(part, min_size=0, max_size=4),
    )


_ENTRY = _entries(_PART)


def _entry(name: str, kind: str, target: str) -> E:
    if kind == "file":
        return E(name, ELF)
    if kind == "dir":
        return E(name, dir=True)
    if kind == "hard":
        return E(name, hard=target or "x")
    return E(name, link=target or ".")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layers=st.lists(st.lists(_ENTRY, max_size=12), min_size=1, max_size=4), seeded=st.booleans())
def test_random_layers_never_escape_or_crash(
    tmp_path_factory: pytest.TempPathFactory,
    layers: list[list[tuple[str, str, str]]],
    seeded: bool,
) -> None:
    base = tmp_path_factory.mktemp("layers")
    built = [layer(*(_entry(*e) for e in entries)) for entries in layers]
    if seeded:  # make sure some examples have a runtime to extract
        built.insert(0, layer(*release("a"), *release("b/c")))
    arc = legacy(base / "img.tar", built, ["x:1"])
    try:
        trees = ImageArchiveSource(arc).acquire(base / "w")
    except GateError:
        return
    work = os.path.realpath(base / "w")
    for tree in trees:
        top = os.path.realpath(tree.root)
        assert top.startswith(work + os.sep)
        for dirpath, dirnames, filenames in os.walk(tree.root):
            for name in dirnames + filenames:
                real = os.path.realpath(os.path.join(dirpath, name))
                # Links made for the scan stay inside their runtime's folder.
                assert real == top or real.startswith(top + os.sep), (name, real)


def _dump(arc: Path) -> list[tuple[str, str, int, str]]:
    from gate.acquire.archive import ArchiveLimits, Budget
    from gate.acquire.image.manifest import select_image
    from gate.acquire.image.outer import OuterArchive
    from gate.acquire.image.tree import build_tree

    budget = Budget(ArchiveLimits(), str(arc))
    outer = OuterArchive(arc, str(arc), budget)
    try:
        tree = build_tree(outer, select_image(outer, None), budget)
    finally:
        outer.close()
    return [(p, n.kind, n.layer, n.link) for p, n in tree.walk()]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layers=st.lists(st.lists(_entries(_SAFE_PART), max_size=12), min_size=1, max_size=4))
def test_folder_cache_does_not_change_the_tree(
    tmp_path_factory: pytest.TempPathFactory, layers: list[list[tuple[str, str, str]]]
) -> None:
    # The index remembers the last folder it inserted into; the result must equal a full lookup.
    from gate.acquire.image.tree import ImageTree

    base = tmp_path_factory.mktemp("cache")
    arc = legacy(base / "img.tar", [layer(*(_entry(*e) for e in es)) for es in layers], ["x"])
    try:
        cached = _dump(arc)
    except GateError:
        return
    original = ImageTree.add

    def uncached(self: ImageTree, rel: str, node: object) -> None:
        self._last = None
        original(self, rel, node)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageTree, "add", uncached)
        assert _dump(arc) == cached


def test_whiteout_then_same_folder_again(tmp_path: Path) -> None:
    # Layer 2 deletes /opt/a, then writes /opt/a/b/... again: a fresh folder, not the deleted one.
    l1 = layer(*release("opt/a/b"))
    # Its first member shares its folder with layer 1's last one (the index remembers that folder).
    nif = "opt/a/b/lib/myapp-0.1.0/priv/again.so"
    l2 = layer(E("opt/.wh.a"), E(nif, ELF), E("opt/a/b/erts-2/bin/beam.smp", ELF + b"new"))
    l3 = layer(
        E("opt/a/b/.wh..wh..opq"), E(nif, ELF), E("opt/a/b/erts-3/bin/beam.smp", ELF + b"newer")
    )
    arc = legacy(tmp_path / "img.tar", [l1, l2], ["x"])
    (tree,) = ImageArchiveSource(arc).acquire(tmp_path / "w")
    assert files_under(tree.root) == {"erts-2/bin/beam.smp", "lib/myapp-0.1.0/priv/again.so"}
    arc = legacy(tmp_path / "img3.tar", [l1, l2, l3], ["x"])
    (tree,) = ImageArchiveSource(arc).acquire(tmp_path / "w3")
    assert files_under(tree.root) == {"erts-3/bin/beam.smp", "lib/myapp-0.1.0/priv/again.so"}


def test_image_config_reaches_route_detection(tmp_path: Path) -> None:
    # The image's ENV, labels and layer history travel with the runtime (Origin.image_metadata),
    # so the build route can name the official erlang image's plain ./configure (issue 6).
    from gate.inspection.route import detect_route
    from gate.model.route import BuildRoute

    data = layer(*release("usr/local/lib/erlang", "erts-15.2.7"))
    cfg = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/bin", "OTP_VERSION=27.3.4.1"], "Labels": {}},
            "history": [
                {"created_by": "ENV OTP_VERSION=27.3.4.1"},
                {
                    "created_by": 'RUN set -xe && OTP_DOWNLOAD_SHA256="abc" && ./configure '
                    "&& make -j$(nproc) && make install"
                },
            ],
        }
    ).encode()
    arc = outer_tar(
        tmp_path / "img.tar",
        {
            "l1/layer.tar": data,
            f"{sha(cfg)}.json": cfg,
            "manifest.json": json.dumps(
                [
                    {
                        "Config": f"{sha(cfg)}.json",
                        "RepoTags": ["myapp:pr"],
                        "Layers": ["l1/layer.tar"],
                    }
                ]
            ).encode(),
        },
    )
    (tree,) = ImageArchiveSource(arc).acquire(tmp_path / "w")
    meta = tree.origin.image_metadata
    assert meta is not None and meta.env_value("OTP_VERSION") == "27.3.4.1"
    assert any("OTP_DOWNLOAD_SHA256" in h for h in meta.history)
    route = detect_route(tree.root, origin=tree.origin, image=meta)
    assert route.route == BuildRoute.OFFICIAL_ERLANG_IMAGE
