"""The shared parsers of package metadata, on the real formats (dpkg status, os-release, apk db)."""

from __future__ import annotations

from gate.knowledge.packages import (
    deb822_paragraphs,
    distro_name,
    parse_apk_installed,
    parse_os_release,
)

DPKG_STATUS = """Package: erlang-base
Status: install ok installed
Version: 1:25.2.3+dfsg-1+deb12u4
Description: Erlang/OTP virtual machine and base applications
 The runtime system and the kernel,
 stdlib and sasl applications.

Package: libc6:amd64
Status: install ok unpacked
Version: 2.36-9+deb12u9
"""

APK_DB = """C:Q1abc=
P:erlang
V:26.2.5.2-r0
F:usr/lib/erlang/erts-14.2.5.2/bin
R:beam.smp
R:epmd
F:usr/lib/erlang/lib/crypto-5.4.2.1/priv/lib
R:crypto.so

P:musl
V:1.2.5-r0
F:lib
R:ld-musl-x86_64.so.1
"""


def test_deb822_joins_continuations_and_keeps_each_paragraph() -> None:
    first, second = deb822_paragraphs(DPKG_STATUS)
    assert first["Package"] == "erlang-base" and first["Version"] == "1:25.2.3+dfsg-1+deb12u4"
    assert first["Description"].endswith("stdlib and sasl applications.")
    assert second == {
        "Package": "libc6:amd64",
        "Status": "install ok unpacked",
        "Version": "2.36-9+deb12u9",
    }


def test_os_release_quotes_comments_and_distro_names() -> None:
    text = '# comment\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    values = parse_os_release(text)
    assert values["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert distro_name(values) == "debian-12"
    assert distro_name({"ID": "debian", "VERSION_CODENAME": "trixie"}) == "debian-trixie"
    assert distro_name({"ID": "alpine", "VERSION_ID": "3.20.3"}) == "alpine-3.20"
    assert distro_name({}) is None
    assert parse_os_release('ID="unterminated\n') == {"ID": "unterminated"}


def test_apk_database_files_are_joined_to_their_folder() -> None:
    erlang, musl = parse_apk_installed(APK_DB)
    assert (erlang.name, erlang.version) == ("erlang", "26.2.5.2-r0")
    assert "usr/lib/erlang/erts-14.2.5.2/bin/beam.smp" in erlang.files
    assert "usr/lib/erlang/lib/crypto-5.4.2.1/priv/lib/crypto.so" in erlang.files
    assert erlang.dirs[0] == "usr/lib/erlang/erts-14.2.5.2/bin"
    assert musl.files == ("lib/ld-musl-x86_64.so.1",)
