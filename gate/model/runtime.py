"""An acquired OTP runtime on disk: its ELF files with their roles, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: acquiring loads this module before the helper starts
    from gate.model.otp import AppVersion
    from gate.model.route import ImageMetadata


class Role(StrEnum):
    """Why a file matters: what part of the runtime it is."""

    EMULATOR = "emulator"  # beam.smp and its variants (beam.emu.smp, beam.debug.smp, ...)
    ERTS_EXECUTABLE = "erts-executable"  # erlexec, epmd, erl_child_setup, inet_gethost, heart, ...
    OTP_NIF = "otp-nif"  # NIFs and drivers of OTP's own applications (lib/*/priv/**.so)
    OTP_PORT_PROGRAM = "otp-port-program"  # lib/*/priv/bin/* of OTP applications
    PROJECT_NIF = "project-nif"  # in a release: any ELF under a non-OTP application's priv/
    OTHER = "other"  # any other ELF file inside the tree
    STANDALONE = "file"  # `otp-gate elf FILE`: no runtime context


class RuntimeKind(StrEnum):
    OTP_INSTALL = "otp-install"  # an OTP root (releases/<major>/OTP_VERSION, erts-*, lib/)
    RELEASE = "release"  # mix release / rebar3 release (erts-*, lib/<app>-<vsn>, no OTP_VERSION)
    FILES = "files"  # loose ELF files


@dataclass(frozen=True)
class Origin:
    """How the runtime was acquired, and what package or image it belongs to."""

    method: str  # "directory", "tarball", "distro", "image", "prebuilt", "build", "files"
    description: str  # human text, e.g. "Debian packages erlang-base 1:25.2.3+dfsg-1+deb12u4"
    package: str | None = None  # distro package owning the OTP, e.g. "erlang-base"
    package_version: str | None = None  # e.g. "1:25.2.3+dfsg-1+deb12u4"
    distro: str | None = None  # e.g. "debian-12", "alpine-3.20"
    image: str | None = None  # image reference, when scanned from an image
    path_in_image: str | None = None
    # The image's config (ENV, labels, layer history): evidence of how the runtime was built.
    image_metadata: ImageMetadata | None = None


@dataclass(frozen=True)
class RuntimeFile:
    """One ELF file of the runtime (identified by its magic bytes, never by its name)."""

    path: str  # POSIX path relative to the runtime root; may hold any byte a file name can
    abs_path: Path
    role: Role
    app: str | None = None  # "crypto-5.1.2" for files under lib/<app>-<vsn>/


@dataclass(frozen=True)
class Runtime:
    """A runtime laid out on disk, ready to inspect."""

    root: Path
    display_root: str  # what reports show as the root (the path in an image, the user's PATH)
    kind: RuntimeKind
    files: tuple[RuntimeFile, ...]
    origin: Origin
    otp_version_file: str | None = None  # raw contents of releases/<major>/OTP_VERSION
    erts_versions: tuple[str, ...] = ()  # from erts-<vsn>/ folders
    applications: tuple[AppVersion, ...] = ()  # from lib/<app>-<vsn>/ folders
    installed_application_versions: tuple[AppVersion, ...] = ()
    start_erl_data: str | None = None  # releases/start_erl.data ("13.1.5 0.1.0")
    problems: tuple[str, ...] = ()  # warnings from the walk (symlink loops, links not followed)
    # (path, why) of files and folders the walk could not read: each is an error finding, since an
    # unreadable entry may be an ELF file the gate never checked (fail closed, issue 14).
    unreadable: tuple[tuple[str, str], ...] = ()
