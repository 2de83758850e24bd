"""Container images: a saved archive (docker save, OCI layout, podman/skopeo) or an image in a Docker engine.

One module per concern (see docs/ARCHITECTURE.md); this package exports what callers use. The
exports load on first use (PEP 562): scanning a saved archive then never imports the Docker engine
client and its http.client, ssl and email modules (~15 ms of start-up, issue 12).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gate.acquire.image.engine import DockerImageSource
    from gate.acquire.image.platforms import Platform
    from gate.acquire.image.source import ImageArchiveSource, is_image_archive

__all__ = ["DockerImageSource", "ImageArchiveSource", "Platform", "is_image_archive"]

_HOMES = {
    "DockerImageSource": "gate.acquire.image.engine",
    "ImageArchiveSource": "gate.acquire.image.source",
    "Platform": "gate.acquire.image.platforms",
    "is_image_archive": "gate.acquire.image.source",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
