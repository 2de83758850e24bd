"""Container images: a saved archive (docker save, OCI layout, podman/skopeo) or an image in a Docker engine.

One module per concern (see docs/ARCHITECTURE.md); this package exports what callers use.
"""

from gate.acquire.image.engine import DockerImageSource
from gate.acquire.image.platforms import Platform
from gate.acquire.image.source import ImageArchiveSource, is_image_archive

__all__ = ["DockerImageSource", "ImageArchiveSource", "Platform", "is_image_archive"]
