"""The hostile inputs of the campaign, made fresh in a temp folder from a fixed seed.

Every case is a dict for `harness.py`: `id`, `argv`, `env`, `cwd`, and `expect` (allowed exit
codes; never 0: each input is broken, hostile, or a runtime that fails the policy).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ELF = Path("/bin/true").resolve()
TODAY = "2026-11-29"
FAIL_OR_ERROR = (1, 2)
Case = dict[str, Any]

#: Names that would be workflow commands or live Markdown if printed raw.
HOSTILE_NAMES = [
    "::add-mask::otp-gate",
    "::stop-commands::x",
    "::error title=Forged::pwned",
    " ::warning::indented",
    "##[error]legacy",
    "a##[set-output name=x]y",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
]


class Campaign:
    """Builds inputs under `top` and yields the cases that exercise them."""

    def __init__(self, top: Path, seed: int = 14) -> None:
        self.top = top
        self.rng = random.Random(seed)
        self.cwd = top / "cwd"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.env = {"OTP_GATE_TODAY": TODAY, "HOME": str(top / "home")}
        self.tree = self._tree(top / "otp", [])

    def case(self, id_: str, argv: list[str], expect: tuple[int, ...] = FAIL_OR_ERROR) -> Case:
        return {
            "id": id_,
            "argv": argv,
            "env": dict(self.env),
            "cwd": str(self.cwd),
            "expect": expect,
        }

    def scan(self, id_: str, path: Path, *extra: str) -> Case:
        return self.case(id_, ["scan", str(path), "--offline", *extra])

    # -- a small OTP root that fails the policy (old, unsupported line; no BIND_NOW) ------------
    def _tree(self, root: Path, names: list[str]) -> Path:
        (root / "erts-13.2" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy(ELF, root / "erts-13.2" / "bin" / "beam.smp")
        (root / "releases" / "25").mkdir(parents=True, exist_ok=True)
        (root / "releases" / "25" / "OTP_VERSION").write_text("25.3.2.3\n")
        for name in names:
            shutil.copy(ELF, root / name)
        return root

    def _tar_bytes(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
            tar.add(self.tree, arcname="otp")
        return buf.getvalue()

    # -- tarballs -------------------------------------------------------------------------------
    def tarballs(self, mutants: int = 40, cuts: int = 10) -> Iterator[Case]:
        plain = self._tar_bytes()
        packed = gzip.compress(plain, mtime=0)
        d = self.top / "tar"
        d.mkdir()
        for name, data in (("base.tar", plain), ("base.tar.gz", packed)):
            (d / name).write_bytes(data)
            yield self.scan(f"tar/{name}", d / name)
        for n in range(mutants):
            for name, data in (("plain.tar", plain), ("gz.tar.gz", packed)):
                raw = bytearray(data)
                for _ in range(self.rng.randint(1, 8)):
                    # Mostly header fields (the first 512 bytes of a block), sometimes anywhere.
                    if self.rng.random() < 0.7 and name == "plain.tar":
                        pos = self.rng.randrange(0, len(raw) // 512) * 512 + self.rng.randrange(512)
                    else:
                        pos = self.rng.randrange(len(raw))
                    raw[pos] = self.rng.randrange(256)
                path = d / f"m{n}-{name}"
                path.write_bytes(bytes(raw))
                yield self.scan(f"tar/mutant-{n}-{name}", path)
        for n in range(cuts):
            for name, data in (("plain.tar", plain), ("gz.tar.gz", packed)):
                path = d / f"cut{n}-{name}"
                path.write_bytes(data[: self.rng.randrange(1, len(data) - 1024)])
                yield self.scan(f"tar/cut-{n}-{name}", path)
        yield from self._crafted_tarballs(d)

    def _crafted_tarballs(self, d: Path) -> Iterator[Case]:
        def header(type_: bytes, size: int) -> bytes:
            info = tarfile.TarInfo("././@LongLink")
            info.type, info.size = type_, size
            return info.tobuf(format=tarfile.GNU_FORMAT)

        crafted: dict[str, bytes] = {
            "pax-3gb.tar.gz": gzip.compress(header(tarfile.XHDTYPE, 3 * 10**9) + b"k" * 65536),
            "longname-3gb.tar.gz": gzip.compress(
                header(tarfile.GNUTYPE_LONGNAME, 3 * 10**9) + b"n" * 65536
            ),
            "empty.tar.gz": b"",
            "one-byte.tar": b"\x00",
            "zstd.tar": b"\x28\xb5\x2f\xfd" + b"\0" * 100,
            "garbage.tar.gz": gzip.compress(os.urandom(4096)),
            "gzip-then-garbage.tar.gz": gzip.compress(self._tar_bytes()) + b"garbage",
            "bomb.tar.gz": self._bomb(),
        }
        for members, name in (
            ([("otp/../../escape", b"x")], "dotdot.tar"),
            ([("/abs/path", b"x")], "absolute.tar"),
            ([("n" * 300, b"x")], "name-300.tar"),
            ([("/".join(["d" * 250] * 20), b"x")], "path-5000.tar"),
        ):
            crafted[name] = self._simple_tar(members)
        crafted["hardlink-onto-dir.tar"] = self._hardlink_onto_dir()
        crafted["chardev.tar"] = self._special(tarfile.CHRTYPE)
        crafted["fifo.tar"] = self._special(tarfile.FIFOTYPE)
        crafted["pax-chain.tar"] = self._pax_chain()
        crafted["symlink-chain.tar"] = self._symlinks(
            [(f"a{i}", f"a{i - 1}") for i in range(1, 3000)]
        )
        crafted["symlink-maze.tar"] = self._symlinks(
            [(f"m{i}", f"m{(i + 1) % 3000}/m{(i + 2) % 3000}") for i in range(3000)]
        )
        crafted["symlink-long-target.tar"] = self._symlinks([("l", "x/.." * 20_000 + "/a0")])
        for name, data in crafted.items():
            (d / name).write_bytes(data)
            yield self.scan(f"tar/{name}", d / name)
        if shutil.which("tar"):
            yield from self._sparse(d)

    def _simple_tar(self, members: list[tuple[str, bytes]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def _symlinks(self, pairs: list[tuple[str, str]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            f = tarfile.TarInfo("a0")
            f.size = 1
            tar.addfile(f, io.BytesIO(b"x"))
            for name, target in pairs:
                link = tarfile.TarInfo(name)
                link.type, link.linkname = tarfile.SYMTYPE, target
                tar.addfile(link)
        return buf.getvalue()

    def _hardlink_onto_dir(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            f = tarfile.TarInfo("f")
            f.size = 1
            tar.addfile(f, io.BytesIO(b"x"))
            dd = tarfile.TarInfo("d")
            dd.type = tarfile.DIRTYPE
            tar.addfile(dd)
            link = tarfile.TarInfo("d")
            link.type, link.linkname = tarfile.LNKTYPE, "f"
            tar.addfile(link)
        return buf.getvalue()

    def _special(self, type_: bytes) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("otp/dev")
            info.type = type_
            tar.addfile(info)
        return buf.getvalue()

    def _pax_chain(self) -> bytes:
        carrier = tarfile.TarInfo("x")
        carrier.pax_headers = {"comment": "c"}
        pax = carrier.tobuf(format=tarfile.PAX_FORMAT)[:1024]
        return pax * 50 + self._simple_tar([("f", b"x")])

    def _bomb(self) -> bytes:
        """80 MB of zeros in one member: ~80 kB compressed, far past the 200:1 ratio cap."""
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            info = tarfile.TarInfo("otp/zeros")
            info.size = 80 * 1024 * 1024
            gz.write(info.tobuf(format=tarfile.GNU_FORMAT))
            block = b"\0" * (1024 * 1024)
            for _ in range(80):
                gz.write(block)
            gz.write(b"\0" * 1024)
        return buf.getvalue()

    def _sparse(self, d: Path) -> Iterator[Case]:
        src = d / "sparse-src"
        (src / "otp" / "erts-13.2" / "bin").mkdir(parents=True)
        holes = src / "otp" / "erts-13.2" / "bin" / "beam.smp"
        with holes.open("wb") as f:
            f.write(ELF.read_bytes()[:64])
            f.truncate(4 * 1024**3)  # 4 GiB of holes behind an ELF header
        for fmt in ("gnu", "posix"):
            out = d / f"sparse-{fmt}.tar.gz"
            subprocess.run(
                ["tar", f"--format={fmt}", "-S", "-czf", str(out), "-C", str(src), "otp"],
                check=True,
                capture_output=True,
            )
            yield self.scan(f"tar/sparse-{fmt}", out)
        shutil.rmtree(src)

    # -- configs --------------------------------------------------------------------------------
    def configs(self, random_ones: int = 20) -> Iterator[Case]:
        d = self.top / "cfg"
        d.mkdir()
        texts: dict[str, bytes] = {
            "deep.toml": b"a = " + b"[" * 100_000 + b"]" * 100_000,
            "deep-table.toml": b"a = " + b"{b = " * 50_000 + b"1" + b"}" * 50_000,
            "dup.toml": b'fail-on = "never"\nfail_on = "error"\n',
            "huge-value.toml": b'fail-on = "' + b"x" * 900_000 + b'"\n',
            "over-cap.toml": b'fail-on = "' + b"x" * 2_000_000 + b'"\n',
            "latin1.toml": b'fail-on = "\xe9"\n',
            "types.toml": b"fail-on = 1\nstale-data-days = true\nwaiver = 3\n",
            "waiver.toml": b'[[waiver]]\ncheck = "*"\n',
            "unknown.toml": b'fail-no = "never"\n',
            "severity.toml": b'[severity]\npie = ["off"]\n',
        }
        # Mutants of a valid config: characters TOML cares about, dropped in at random places.
        valid = 'fail-on = "warning"\n[severity]\npie = "off"\n[[waiver]]\ncheck = "pie"\npath = "*"\nreason = "r"\nexpires = 2027-01-31\n'
        alphabet = "[]{}=\"'#.,-_\n\\ 0123456789aefnrtu\x00\xe9"
        for n in range(random_ones):
            text = list(valid)
            for _ in range(self.rng.randint(1, 6)):
                text[self.rng.randrange(len(text))] = self.rng.choice(alphabet)
            texts[f"mutant-{n}.toml"] = "".join(text).encode("utf-8", "surrogateescape")
        texts["random-bytes.toml"] = bytes(self.rng.randrange(256) for _ in range(300))
        paths = {name: d / name for name in texts}
        for name, data in texts.items():
            paths[name].write_bytes(data)
        fifo = d / "fifo.toml"
        os.mkfifo(fifo)
        paths["fifo.toml"] = fifo
        paths["dev-zero"] = Path("/dev/zero")
        paths["folder"] = d
        paths["absent"] = d / "absent.toml"
        for name, path in paths.items():
            # A mutant may still be a valid config (a changed reason): then /bin/true fails (1).
            expect = FAIL_OR_ERROR if name.startswith("mutant-") else (2,)
            yield self.case(f"config/{name}", ["elf", str(ELF), "--config", str(path)], expect)

    # -- names ----------------------------------------------------------------------------------
    def names(self) -> Iterator[Case]:
        root = self._tree(self.top / "names" / "otp", [n.replace("/", "_") for n in HOSTILE_NAMES])
        (root / "bad\udcffname").write_bytes(ELF.read_bytes())
        deep = root
        for _ in range(20):  # a path over PATH_MAX: an error finding, never a silent skip
            deep = deep / ("d" * 250)
        with _at(deep) as fd:
            out = os.open("hidden.so", os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=fd)
            os.write(out, ELF.read_bytes())
            os.close(out)
        for fmt in ("text", "json", "sarif", "markdown"):
            c = self.scan(f"names/{fmt}", root, "--format", fmt)
            c["no_commands"] = True
            yield c
        long_path = "/".join(["d" * 250] * 20)
        for n, arg in enumerate((long_path, "n" * 300, "n" * 300 + ".tar.gz")):
            yield self.case(f"names/scan-long-{n}", ["scan", arg, "--offline"], (2,))
        yield self.case("names/image-long", ["scan", "--image-archive", "n" * 300], (2,))
        files = [str(root / n.replace("/", "_")) for n in HOSTILE_NAMES]
        c = self.case("names/elf", ["elf", *files, str(root / "absent"), str(root / ("n" * 300))])
        c["no_commands"] = True
        yield c

    # -- a poisoned cache, online against a host that does not answer ----------------------------
    def caches(self) -> Iterator[Case]:
        from gate.clock import fixed_clock
        from gate.knowledge.cache import FileCache

        def planted(directory: Path) -> FileCache:
            # Stamped with the run's pinned day, as the gate's own writes would be.
            return FileCache(directory, timedelta(hours=6), fixed_clock(date.fromisoformat(TODAY)))

        dead = "http://127.0.0.1:9"
        future = f"{date.fromisoformat(TODAY) + timedelta(days=40)}T00:00:00Z"
        poisons: dict[str, tuple[str, bytes]] = {
            "bad-date": ("releases", b'[{"tag": "OTP-28.9.9", "published_at": "2026-13-45"}]'),
            "future-release": (
                "releases",
                f'[{{"tag": "OTP-25.9.9", "published_at": "{future}"}}]'.encode(),
            ),
            "ghsa-cvss-list": ("advisories", b'[{"ghsa_id": "GHSA-x", "cvss": [9.8]}]'),
            "ghsa-vuln-str": ("advisories", b'[{"ghsa_id": "GHSA-x", "vulnerabilities": ["x"]}]'),
            "tags-fake": ("tags", b'["OTP-25.9.9", "OTP-28.9.9"]'),
            "not-json": ("releases", b"\xff\xfe not json"),
            "deep-json": ("advisories", b"[" * 100_000 + b"]" * 100_000),
            # Just under the cache's 8 MiB read cap: the most a planted listing can cost.
            "big-listing": ("tags", b"[" + b",".join([b'"OTP-1.0"'] * 800_000) + b"]"),
        }
        for name, (what, data) in poisons.items():
            cache = self.top / "cache" / name
            planted(cache / "data").put(f"github:{dead}:{what}", "planted", data)
            env = {
                **self.env,
                "OTP_GATE_CACHE": str(cache),
                "OTP_GATE_GITHUB_API_URL": dead,
                "OTP_GATE_RAW_BASE_URL": dead,
                "OTP_GATE_BUILDS_BASE_URL": dead,
            }
            c = self.case(f"cache/{name}", ["scan", str(self.tree)])
            c["env"] = env
            yield c
        # A world-writable cache folder: not trusted, never a crash.
        shared = self.top / "cache" / "world-writable" / "data"
        planted(shared).put(f"github:{dead}:releases", "planted", b'[{"tag": "OTP-25.9.9"}]')
        shared.chmod(0o777)
        c = self.case("cache/world-writable", ["scan", str(self.tree)])
        c["env"] = {
            **self.env,
            "OTP_GATE_CACHE": str(shared.parent),
            "OTP_GATE_GITHUB_API_URL": dead,
            "OTP_GATE_RAW_BASE_URL": dead,
            "OTP_GATE_BUILDS_BASE_URL": dead,
        }
        yield c

    # -- image archives (the image reader is another engineer's; this is only the harness) --------
    def images(self, mutants: int = 20) -> Iterator[Case]:
        from tests.acquire.test_image_formats import E, layer, legacy

        d = self.top / "img"
        d.mkdir()
        elf = ELF.read_bytes()
        entries = [
            E("usr/local/lib/erlang/erts-13.2/bin/beam.smp", elf),
            E("usr/local/lib/erlang/releases/25/OTP_VERSION", b"25.3.2.3\n"),
        ]
        for name, compress in (("plain", False), ("gz", True)):
            base = legacy(d / f"base-{name}.tar", [layer(*entries, compress=compress)], ["x:1"])
            yield self.case(
                f"image/base-{name}", ["scan", "--offline", "--image-archive", str(base)]
            )
            data = base.read_bytes()
            for n in range(mutants):
                raw = bytearray(data)
                for _ in range(self.rng.randint(1, 8)):
                    raw[self.rng.randrange(len(raw))] = self.rng.randrange(256)
                path = d / f"m{n}-{name}.tar"
                path.write_bytes(bytes(raw))
                argv = ["scan", "--offline", "--image-archive", str(path)]
                yield self.case(f"image/mutant-{n}-{name}", argv)

    # -- ELF mutants (the reader is another engineer's; this is only the harness) -----------------
    def elves(self, mutants: int = 40) -> Iterator[Case]:
        d = self.top / "elf"
        d.mkdir()
        data = ELF.read_bytes()
        paths = []
        for n in range(mutants):
            raw = bytearray(data)
            for _ in range(self.rng.randint(1, 16)):
                # Headers and tables live in the first few kB: mutate there most of the time.
                hi = 4096 if self.rng.random() < 0.8 else len(raw)
                raw[self.rng.randrange(hi)] = self.rng.randrange(256)
            p = d / f"m{n}"
            p.write_bytes(bytes(raw))
            paths.append(p)
        for n, cut in enumerate((4, 16, 52, 64, 200, 1000, len(data) // 2)):
            p = d / f"cut{n}"
            p.write_bytes(data[:cut])
            paths.append(p)
        # One run per ten files, as `otp-gate elf a b c ...` (a bad one must not stop the rest).
        for i in range(0, len(paths), 10):
            chunk = paths[i : i + 10]
            yield self.case(f"elf/batch-{i // 10}", ["elf", *map(str, chunk), "--format", "json"])


def _sparse_elf(path: Path, patch: str) -> Path:
    """/bin/true patched so one count or size reaches across 1 GiB of holes (a few kB on disk)."""
    import struct

    raw = bytearray(ELF.read_bytes())
    phoff, shoff = struct.unpack_from("<QQ", raw, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", raw, 0x36)
    size = (
        1024**3
    )  # the issue used 4 GiB; 1 GiB shows the same unbounded work at a quarter the cost
    if patch == "rx-span":  # one R+X segment spanning the file: scanned whole for evidence
        for i in range(phnum):
            at = phoff + i * phentsize
            p_type, p_flags, p_offset = struct.unpack_from("<IIQ", raw, at)
            if p_type == 1 and p_flags & 1:
                struct.pack_into("<QQ", raw, at + 32, size - p_offset, size - p_offset)
    elif patch == "gnu-hash":  # DT_GNU_HASH with a huge nbuckets
        for i in range(shnum):
            at = shoff + i * shentsize
            if struct.unpack_from("<I", raw, at + 4)[0] == 0x6FFFFFF6:
                offset = struct.unpack_from("<Q", raw, at + 0x18)[0]
                struct.pack_into("<I", raw, offset, 0x3FFFFFFF)
    elif patch == "shnum-0":  # extended section count: e_shnum 0, section 0's sh_size trusted
        struct.pack_into("<H", raw, 0x3C, 0)
        struct.pack_into("<Q", raw, shoff + 0x20, 0xFFFFFFFF)
    with path.open("wb") as f:
        f.write(raw)
        f.truncate(size)
    return path


def sparse_elf_cases(campaign: Campaign) -> Iterator[Case]:
    """The ELF reader's own bounds (issue 14 item 1, the engine's part): 1 GiB sparse files."""
    d = campaign.top / "sparse-elf"
    d.mkdir()
    for patch in ("rx-span", "gnu-hash", "shnum-0"):
        path = _sparse_elf(d / patch, patch)
        case = campaign.case(f"sparse-elf/{patch}", ["elf", str(path)])
        # Room to map the 1 GiB file (under 1 GiB the mapping alone fails, which would hide the
        # problem): what counts is the time and the resident memory, both measured.
        case["timeout"] = 6
        case["address_space"] = 3 * 1024**3
        yield case
    # ELF magic with a broken e_type: once every check was n/a and the file passed (item 4).
    raw = bytearray(ELF.read_bytes())
    raw[16:18] = b"\x09\x00"
    (d / "bad-e-type").write_bytes(bytes(raw))
    yield campaign.case("elf-reader/bad-e-type", ["elf", str(d / "bad-e-type")])


class _at:
    """Create nested folders whose path exceeds PATH_MAX, relative to descriptors."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __enter__(self) -> int:
        parts = self.target.parts
        base = Path(*parts[: len(parts) - 20])
        fd = os.open(base, os.O_RDONLY)
        for part in parts[len(parts) - 20 :]:
            os.mkdir(part, dir_fd=fd)
            nxt = os.open(part, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        self.fd = fd
        return fd

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)
