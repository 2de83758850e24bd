"""Which image of a saved archive to scan: index.json (OCI) or manifest.json (docker save) -> layers.

Indexes may nest (multi-platform images, attestations); a hostile archive can make a small file
name thousands of manifests, so the total number read is bounded, not only the nesting depth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from gate.acquire.archive import Budget, TarReader
from gate.acquire.image.outer import OuterArchive
from gate.acquire.image.platforms import Platform
from gate.errors import AcquireError

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class Layer:
    member: str  # path of the layer blob inside the archive
    media_type: str | None = None


@dataclass(frozen=True)
class ImageManifest:
    """One image of the archive: its layers (bottom first), platform and names."""

    layers: tuple[Layer, ...]
    platform: Platform | None
    names: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict, compare=False)


def _blob(digest: Any, label: str) -> str:
    if not isinstance(digest, str) or not re.fullmatch(r"sha(256|512):[0-9a-f]{32,128}", digest):
        raise AcquireError(f"{label}: bad digest {digest!r} in the image index")
    algo, hexd = digest.split(":")
    return f"blobs/{algo}/{hexd}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# A real multi-platform save names a few dozen manifests; 30 KB of indexes that reuse one blob
# (fan-out 40, depth 4) would name 2.5 million. Count every descriptor followed and every JSON
# byte read, so such an archive is refused in milliseconds instead of filling memory.
MAX_DEPTH = 4
MAX_DESCRIPTORS = 1000


@dataclass
class _IndexWalk:
    """One walk down index.json and the indexes it names, bounded in depth, count and bytes."""

    outer: OuterArchive
    missing: list[str] = field(default_factory=list)
    visited: int = 0
    bytes_read: int = 0

    def images(self, index: Any, depth: int = 0) -> list[ImageManifest]:
        label = self.outer.label
        if depth > MAX_DEPTH:
            raise AcquireError(f"{label}: image indexes nested more than {MAX_DEPTH} deep")
        if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
            raise AcquireError(f"{label}: an image index has no 'manifests' list")
        found: list[ImageManifest] = []
        for desc in index["manifests"]:
            self.count()
            if isinstance(desc, dict):
                found += self._descriptor(desc, depth)
        return found

    def count(self) -> None:
        self.visited += 1
        if self.visited > MAX_DESCRIPTORS:
            raise AcquireError(
                f"{self.outer.label}: the image indexes name more than {MAX_DESCRIPTORS} "
                "manifests in all",
                hint="save one image per archive (docker save IMAGE -o FILE); "
                "this archive may be hostile",
            )

    def read(self, blob: str, what: str) -> Any:
        info = self.outer.find(blob)
        self.bytes_read += info.size if info is not None else 0
        limit = self.outer.budget.limits.max_metadata_bytes
        if self.bytes_read > limit:
            raise AcquireError(
                f"{self.outer.label}: the image indexes and manifests exceed {limit} bytes in all",
                hint="this archive may be hostile",
            )
        return self.outer.read_json(blob, what)

    def _descriptor(self, desc: dict[str, Any], depth: int) -> list[ImageManifest]:
        annotations = _dict(desc.get("annotations"))
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            return []  # build provenance, not a runnable image
        plat = Platform.from_json(desc.get("platform"))
        if plat is not None and plat.os == "unknown":
            return []
        blob = _blob(desc.get("digest"), self.outer.label)
        if self.outer.find(blob) is None:
            # Multi-arch indexes list every platform; a save holds blobs for some of them only.
            self.missing.append(str(plat) if plat else blob)
            return []
        doc = self.read(blob, "manifest")
        if not isinstance(doc, dict):
            raise AcquireError(f"{self.outer.label}: manifest {blob} is not a JSON object")
        media = desc.get("mediaType") or doc.get("mediaType")
        if media in _INDEX_TYPES or "manifests" in doc:
            return self.images(doc, depth + 1)
        return [self._image(blob, doc, plat, annotations)]

    def _image(
        self, blob: str, doc: dict[str, Any], plat: Platform | None, annotations: dict[str, Any]
    ) -> ImageManifest:
        label = self.outer.label
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise AcquireError(f"{label}: manifest {blob} has no 'layers' list")
        config: dict[str, Any] = {}
        cfg_desc = doc.get("config")
        if isinstance(cfg_desc, dict) and self.outer.find(_blob(cfg_desc.get("digest"), label)):
            loaded = self.read(_blob(cfg_desc.get("digest"), label), "image config")
            config = loaded if isinstance(loaded, dict) else {}
        names = tuple(
            str(annotations[k])
            for k in ("io.containerd.image.name", "org.opencontainers.image.ref.name")
            if k in annotations
        )
        return ImageManifest(
            layers=tuple(
                Layer(_blob(d.get("digest"), label), _str(d.get("mediaType")))
                for d in layers
                if isinstance(d, dict)
            ),
            platform=plat or Platform.from_json(config),
            names=names,
            config=config,
        )


def _legacy_images(walk: _IndexWalk, manifest: Any) -> list[ImageManifest]:
    outer = walk.outer
    if not isinstance(manifest, list):
        raise AcquireError(f"{outer.label}: manifest.json is not a list of images")
    found = []
    for entry in manifest:
        walk.count()
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise AcquireError(f"{outer.label}: manifest.json has an entry without 'Layers'")
        config: dict[str, Any] = {}
        cfg = entry.get("Config")
        if isinstance(cfg, str) and outer.find(cfg) is not None:
            loaded = walk.read(cfg, "image config")
            config = loaded if isinstance(loaded, dict) else {}
        found.append(
            ImageManifest(
                layers=tuple(Layer(p) for p in entry["Layers"] if isinstance(p, str)),
                platform=Platform.from_json(config),
                names=tuple(t for t in _list(entry.get("RepoTags")) if isinstance(t, str)),
                config=config,
            )
        )
    return found


def select_image(
    outer: OuterArchive, requested: Platform | None, ref: str | None = None
) -> ImageManifest:
    """The one image of the archive to scan: the requested platform, else this machine's."""
    walk = _IndexWalk(outer)
    missing = walk.missing
    if outer.find("index.json") is not None:
        images = walk.images(outer.read_json("index.json", "index"))
        # Docker >= 25 also writes manifest.json; it names the tags the index may not.
        if outer.find("manifest.json") is not None and not any(i.names for i in images):
            legacy = _legacy_images(walk, outer.read_json("manifest.json", "manifest"))
            if len(legacy) == len(images) == 1:
                images = [
                    ImageManifest(
                        images[0].layers, images[0].platform, legacy[0].names, images[0].config
                    )
                ]
    elif outer.find("manifest.json") is not None:
        images = _legacy_images(walk, outer.read_json("manifest.json", "manifest"))
    else:
        raise AcquireError(
            f"{outer.label}: not an image archive (neither index.json nor manifest.json inside)",
            hint="create it with `docker save IMAGE -o FILE`, `podman save` or `skopeo copy ... oci-archive:FILE`",
        )
    if ref is not None and len(images) > 1:
        named = [i for i in images if _ref_matches(ref, i.names)]
        images = named or images
    want = requested or Platform.host()
    matching = [i for i in images if i.platform is None or want.matches(i.platform)]
    if requested is None and not matching and len(images) == 1:
        matching = images  # a single-platform image: scanning it needs no emulation
    seen = ", ".join(sorted({str(i.platform) for i in images if i.platform})) or "none"
    if not matching:
        extra = f" (listed without their layers: {', '.join(missing)})" if missing else ""
        raise AcquireError(
            f"{outer.label}: no image for platform {want}; the archive has: {seen}{extra}",
            hint=f"pick one of them with --platform, e.g. --platform {seen.split(', ')[0]}"
            if images and seen != "none"
            else "the archive lists no platform whose layers it holds",
        )
    if len(matching) > 1:
        names = "; ".join(", ".join(i.names) or "(untagged)" for i in matching)
        raise AcquireError(
            f"{outer.label}: holds {len(matching)} images for {want}: {names}",
            hint="save one image per archive (docker save IMAGE -o FILE)",
        )
    return matching[0]


def _ref_matches(ref: str, names: Sequence[str]) -> bool:
    variants = {ref, f"{ref}:latest", f"docker.io/{ref}", f"docker.io/library/{ref}"}
    return any(n in variants or n.endswith("/" + ref) for n in names)


def open_layer(outer: OuterArchive, layer: Layer, n: int, total: int, budget: Budget) -> TarReader:
    info = outer.find(layer.member)
    label = f"{outer.label}: layer {n + 1}/{total} ({layer.member})"
    if info is None:
        raise AcquireError(f"{label} is missing from the archive")
    if layer.media_type and "zstd" in layer.media_type:
        raise AcquireError(
            f"{label} is zstd-compressed, which this gate cannot read",
            hint="save the image with gzip or uncompressed layers (docker save does)",
        )
    return TarReader.open(cast(BinaryIO, outer.open(info)), label, budget)
