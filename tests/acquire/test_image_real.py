"""Real images from a private dockerd: Debian's erlang-base, scanned through the socket and `docker save`."""

from __future__ import annotations

import pytest

from tests.support.dockerd import (  # noqa: F401  (fixtures are used by name)
    DockerEngine,
    bookworm_erlang_image,
    docker_engine,
    trixie_erlang_image,
)

pytestmark = pytest.mark.docker


def test_private_engine_builds_a_real_erlang_image(
    docker_engine: DockerEngine, bookworm_erlang_image: str
) -> None:
    out = docker_engine.docker(
        "run", "--rm", "--network", "none", bookworm_erlang_image,
        "sh", "-c", "ls -d /usr/lib/erlang/erts-*/bin/beam.smp",
    ).stdout  # fmt: skip
    assert out.strip() == "/usr/lib/erlang/erts-13.1.5/bin/beam.smp"
