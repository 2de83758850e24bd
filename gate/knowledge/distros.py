"""Distro release facts as data: Debian and Ubuntu codenames, and the release a package names.

Tables, not logic: a new release is one line here. Sources: https://wiki.debian.org/DebianReleases
and https://wiki.ubuntu.com/Releases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEBIAN_CODENAMES = {
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "sid": "unstable",
    "unstable": "unstable",
    "experimental": "unstable",
}
UBUNTU_CODENAMES = {
    "bionic": "18.04",
    "focal": "20.04",
    "jammy": "22.04",
    "noble": "24.04",
    "oracular": "24.10",
    "plucky": "25.04",
    "questing": "25.10",
}


def debian_release(version: str, dist: str | None, osr: Mapping[str, str]) -> str | None:
    """`12` from os-release, a `+deb12u4` version suffix, or a changelog's `bookworm-security`."""
    if osr.get("ID") == "debian":
        if osr.get("VERSION_ID"):
            return osr["VERSION_ID"]
        codename = osr.get("VERSION_CODENAME", "")
        if codename in DEBIAN_CODENAMES:
            return DEBIAN_CODENAMES[codename]
    m = re.search(r"deb(\d+)u\d+", version)
    if m:
        return m.group(1)
    base = (dist or "").split("-")[0]
    return DEBIAN_CODENAMES.get(base)


def is_ubuntu(version: str, dist: str | None, osr: Mapping[str, str]) -> bool:
    """Does os-release, the package version or its changelog's distribution say Ubuntu?"""
    return (
        osr.get("ID") == "ubuntu"
        or "ubuntu" in version
        or (dist or "").split("-")[0] in UBUNTU_CODENAMES
    )


def ubuntu_release(dist: str | None, osr: Mapping[str, str]) -> str | None:
    """`24.04` from os-release or a changelog distribution such as `noble-updates`."""
    if osr.get("ID") == "ubuntu" and osr.get("VERSION_ID"):
        return osr["VERSION_ID"]
    return UBUNTU_CODENAMES.get((dist or "").split("-")[0])
