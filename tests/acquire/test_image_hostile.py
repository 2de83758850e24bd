"""Hostile image archives (issue 14 item 2): each is refused within seconds, exit 2, no traceback.

Each archive is scanned by the real CLI in a child process under resource limits (address space,
CPU time, a wall-clock timeout), so a regression shows as a failure, not a hung or killed suite.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from gate.acquire.image.tree import MAX_LINK_TARGET, ImageTree, Node
from tests.acquire.test_image_formats import ELF, E, Oci, layer, legacy, outer_tar, release

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def _limits(fsize: int | None) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1024 * MiB, 1024 * MiB))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
    if fsize is not None:
        # Past this size a write fails with EFBIG, as it would with ENOSPC on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))


def scan(archive: Path, tmp: Path, fsize: int | None = None) -> tuple[int, str, float]:
    """Exit code, stderr and seconds of `otp-gate scan --image-archive` under resource limits."""
    code = "import sys; from gate.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, "scan", "--offline", "--image-archive", str(archive)],
        capture_output=True, text=True, timeout=90, check=False, cwd=REPO, env=env,
        preexec_fn=lambda: _limits(fsize),
    )  # fmt: skip
    return proc.returncode, proc.stderr, time.monotonic() - start


def assert_refused(result: tuple[int, str, float], words: str) -> None:
    rc, err, seconds = result
    assert "Traceback" not in err, err[-2000:]
    assert rc == 2, (rc, err[-2000:])
    assert words in err, err[-2000:]
    assert seconds < 30, seconds


def test_index_fan_out_is_bounded_in_total(tmp_path: Path) -> None:
    # 40 descriptors per index, 4 levels, each level naming one shared blob: a few KB that name
    # 2.5 million manifests. Only the depth was bounded before; the walk grew past 2.7 GB.
    oci = Oci()
    node = oci.manifest([layer(*release("app"))])
    for _ in range(4):
        node = oci.index([node] * 40)
    arc = oci.write(tmp_path / "fan.tar", [node])
    assert arc.stat().st_size < 64 * 1024
    assert_refused(scan(arc, tmp_path), "more than 1000 manifests")


def test_manifest_bytes_are_bounded_in_total(tmp_path: Path) -> None:
    # 100 descriptors (under the count bound) naming one 1 MiB manifest: 100 MiB of JSON to parse.
    oci = Oci()
    desc = oci.manifest([layer(*release("app"))])
    digest = str(desc["digest"]).split(":")[1]
    doc = json.loads(oci.blobs[f"blobs/sha256/{digest}"])
    doc["annotations"] = {"pad": "x" * MiB}
    big = oci.blob(json.dumps(doc).encode())
    arc = oci.write(tmp_path / "big.tar", [{**desc, "digest": big}] * 100)
    assert_refused(scan(arc, tmp_path), "bytes in all")


def test_manifest_json_entries_are_bounded_too(tmp_path: Path) -> None:
    arc = legacy(tmp_path / "l.tar", [layer(*release("app"))], ["x:1"])
    with tarfile.open(arc) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    files["manifest.json"] = json.dumps([entry] * 5000).encode()
    bomb = outer_tar(tmp_path / "bomb.tar", files)
    assert_refused(scan(bomb, tmp_path), "more than 1000 manifests")


def test_huge_symlink_target_is_refused(tmp_path: Path) -> None:
    # `x/../` repeated: 1.2 MB of target took 14 s to resolve (quadratic), 6 MB never ended.
    # The link sits inside the runtime, so planning the extraction resolves it. 40 KB stays
    # under the tar reader's 256 KiB PAX-header cap, so it is the image tree's own bound on a
    # link target that refuses it (a 1.2 MB target would be stopped earlier, by the header cap).
    target = "x/../" * 8_000 + "x"
    entries = [*release("app"), E("app/x", dir=True), E("app/l", link=target)]
    arc = legacy(tmp_path / "long.tar", [layer(*entries)], ["x:1"])
    assert_refused(scan(arc, tmp_path), f"has a target of {len(target)} bytes (the kernel allows")


def test_link_chains_spend_a_bounded_amount_of_work(tmp_path: Path) -> None:
    # 40 links, each a target just under the kernel's limit, chained: every member inserted
    # below `l0` walks 40 x 800 components. Thousands of such members would take minutes.
    pad = "x/../" * ((MAX_LINK_TARGET - 10) // 5)
    links = [E(f"l{k}", link=f"{pad}l{k + 1}") for k in range(39)] + [E("l39", link="real")]
    members = [E(f"l0/d{i}/f", b"data") for i in range(3000)]
    entries = [E("x", dir=True), E("real", dir=True), *links, *members, *release("app")]
    arc = legacy(tmp_path / "chain.tar", [layer(*entries)], ["x:1"])
    assert_refused(scan(arc, tmp_path), "steps")


def test_resolution_is_linear_in_the_path(tmp_path: Path) -> None:
    # 400k components: the old `pop(0)` loop was quadratic and took minutes on this.
    tree = ImageTree()
    assert tree.root.children is not None
    tree.root.children["x"] = Node("d")
    start = time.monotonic()
    found = tree.resolve("x/../" * 200_000 + "x")
    assert found is not None and found[0] == "x"
    assert time.monotonic() - start < 5


def test_full_scratch_disk_is_a_clear_error(tmp_path: Path) -> None:
    # The runtime's files (1 MiB each) cannot be written; exit 2 naming the image, as for tarballs.
    big = ELF + bytes(MiB)
    entries = [E("app/erts-15.2.7/bin/beam.smp", big), E("app/lib/a-1/priv/a.so", big)]
    arc = legacy(tmp_path / "img.tar", [layer(*entries)], ["x:1"])
    work = tmp_path / "scratch"
    work.mkdir()
    assert_refused(scan(arc, work, fsize=256 * 1024), "cannot unpack the image")
