# The GitHub Action's image: the gate and its hashed, pinned runtime dependencies on a slim Python.
#
# The base is pinned by digest (python:3.12-slim, linux/amd64 + linux/arm64 index). Where no registry
# is reachable (CI, tests), build a stand-in and pass `--build-arg BASE_IMAGE=<stand-in>`; the rest of
# this file is used unmodified. Releases publish this image to ghcr.io, and workflows should use that
# (`uses: docker://ghcr.io/...@sha256:...`) instead of rebuilding it on every run (docs/action.md).
ARG BASE_IMAGE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea
FROM ${BASE_IMAGE}

# Only wheels whose hashes are in the lock file install; --no-deps because the lock is complete
# (pip-compile made it, see its header; cryptography is left out on purpose, docs/action.md).
COPY requirements.lock /tmp/requirements.lock
RUN python -m pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
        --only-binary=:all: -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

COPY entrypoint.py /app/entrypoint.py
COPY gate/ /app/gate/
# Byte-compile once here so each run starts fast (the runner starts a fresh container per step).
RUN python -m compileall -q /app/gate

# No USER: the runner mounts the workspace and file-command files owned by the runner's uid and
# expects the container's default user (docs.github.com: "Dockerfile support for GitHub Actions").
# -E -s: ignore PYTHON* variables and user site-packages forwarded from the workflow's environment.
ENTRYPOINT ["/usr/local/bin/python", "-E", "-s", "/app/entrypoint.py"]
