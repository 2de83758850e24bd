"""Fixtures for the action tests: the private Docker engine and the Debian Erlang image from
`tests/support/dockerd.py`."""

from tests.support.dockerd import bookworm_erlang_image, docker_engine  # noqa: F401
