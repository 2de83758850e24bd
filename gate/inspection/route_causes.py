"""Why a build route gives hardened or unhardened binaries: the known cause of each route."""

from __future__ import annotations

from gate.knowledge.remediation import DISABLE_HARDENING_OPTION, has_hardened_defaults
from gate.model.otp import OtpVersion
from gate.model.route import BuildRoute, DockerfileBuild


def known_cause(
    route: BuildRoute,
    otp_version: OtpVersion | None,
    distro: str | None,
    dockerfile: DockerfileBuild | None = None,
) -> tuple[str | None, bool | None]:
    """(why this route gives (un)hardened binaries, whether it is hardened by default)."""
    modern = has_hardened_defaults(otp_version)
    d = (distro or "").lower()
    if route == BuildRoute.DEBIAN_PACKAGE:
        old_release = d in ("debian-10", "debian-11", "debian-12", "debian-13")
        if modern and not old_release:
            return (
                "Debian's newer erlang packages (OTP 29 in unstable) use Debian's default build "
                "flags (bug #1124853) on top of OTP's own hardening defaults.",
                True,
            )
        return (
            "Debian's erlang packages up to Debian 13 never pass hardening flags: debian/rules "
            "sets CFLAGS=-g -O2 -fno-strict-aliasing itself, never uses dpkg-buildflags, and "
            "passes no LDFLAGS.",
            False,
        )
    if route == BuildRoute.UBUNTU_PACKAGE:
        return (
            "Ubuntu's gcc enables stack protector, fortify, RELRO and BIND_NOW by default.",
            True,
        )
    if route == BuildRoute.ALPINE_PACKAGE:
        return (
            "Alpine's gcc is patched to harden by default (fortify via fortify-headers, so no "
            "__*_chk imports on musl).",
            True,
        )
    if route == BuildRoute.BUILDS_HEX_PM:
        return ("builds.hex.pm builds on Ubuntu, whose gcc hardens by default.", True)
    if route in (BuildRoute.OFFICIAL_ERLANG_IMAGE, BuildRoute.HEXPM_IMAGE):
        if "alpine" in d:
            return ("This image builds OTP on Alpine, whose gcc hardens by default.", True)
        if "ubuntu" in d:
            return ("This image builds OTP on Ubuntu, whose gcc hardens by default.", True)
        if modern:
            return ("OTP >= 28's configure adds the OpenSSF hardening flags by default.", True)
        what = "official erlang" if route == BuildRoute.OFFICIAL_ERLANG_IMAGE else "hexpm"
        return (
            f"The {what} images build OTP <= 27 on Debian with a plain ./configure: no hardening "
            "flags, and Debian's gcc adds none by default.",
            False if otp_version is not None else None,
        )
    if route in (BuildRoute.KERL_ASDF, BuildRoute.DOCKERFILE_SOURCE_BUILD, BuildRoute.SOURCE_BUILD):
        if dockerfile is not None and dockerfile.disables_hardening:
            return (
                f"The Dockerfile passes {DISABLE_HARDENING_OPTION} to configure "
                f"({dockerfile.path}:{dockerfile.configure_line}).",
                False,
            )
        if modern:
            return ("OTP >= 28's configure adds the OpenSSF hardening flags by default.", True)
        who = {
            BuildRoute.KERL_ASDF: "kerl/asdf build",
            BuildRoute.DOCKERFILE_SOURCE_BUILD: "Dockerfile's build",
        }.get(route, "build")
        return (
            f"Before OTP 28 the result is whatever flags the {who} exports; OTP adds none, and "
            "NIFs get LDFLAGS only through the DED_LD* variables.",
            None,
        )
    return (None, None)
