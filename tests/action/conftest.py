"""Fixtures for the action tests: the private Docker engine from `tests/support/dockerd.py`."""

from tests.support.dockerd import docker_engine  # noqa: F401
