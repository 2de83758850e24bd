"""Build route detection against Debian's real packages, image roots, kerl and Dockerfiles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.acquire.interface import AcquiredTree
from gate.inspection.route import detect_route
from gate.inspection.route_dockerfile import dockerfile_otp_build, find_dockerfile_build
from gate.inspection.route_explain import explain, explanation_lines
from gate.inspection.route_flags import (
    analyse_recorded_flags,
    hardening_defaults_disabled,
    render_recorded_flags,
)
from gate.knowledge.package_db import upstream_version
from gate.knowledge.packages import image_metadata_from_config
from gate.model.dockerfile import parse_instructions
from gate.model.elf import RecordedBuildFlags
from gate.model.otp import OtpVersion
from gate.model.report import FileReport
from gate.model.route import BuildRoute, Confidence, ImageMetadata, RemediationKind
from gate.model.runtime import Origin, Role

# A sample the synthetic databases below carry; tests of the real package read its version
# from the downloaded .deb (the `debian_version` fixture): the revision moves with point releases.
DEBIAN_VERSION = "1:25.2.3+dfsg-1+deb12u4"


def _deb(debian_root: Path, name: str) -> Path:
    debs = sorted((debian_root.parent / "debs").glob(f"{name}_*.deb"))
    if not debs:
        pytest.skip(f"the {name} .deb is not in the test cache")
    return debs[0]


def _image_root(tmp_path: Path, debian_root: Path) -> Path:
    """An image-like root: Debian's real OTP tree plus the dpkg database `dpkg -i` would leave.

    The status paragraph is the real control file of erlang-base with an installed Status, and the
    file list is the real list of paths in the .deb, as dpkg writes them to info/<pkg>.list.
    """
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is not available")
    root = tmp_path / "image"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/erlang").symlink_to(debian_root / "usr/lib/erlang")
    deb = _deb(debian_root, "erlang-base")
    control = subprocess.run(
        ["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    control = control.replace(
        "Package: erlang-base\n", "Package: erlang-base\nStatus: install ok installed\n", 1
    )
    listing = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True
    ).stdout
    names = subprocess.run(
        ["tar", "-t"], input=listing, capture_output=True, check=True
    ).stdout.decode()
    paths = ["/" + n.lstrip("./").rstrip("/") for n in names.splitlines() if n.strip("./")]
    dpkg = root / "var/lib/dpkg"
    (dpkg / "info").mkdir(parents=True)
    other = "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n\n"
    (dpkg / "status").write_text(other + control.rstrip("\n") + "\n")
    (dpkg / "info/erlang-base:amd64.list").write_text("/.\n" + "\n".join(paths) + "\n")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
        "VERSION_CODENAME=bookworm\n"
    )
    return root


# --- Debian's real tree ------------------------------------------------------------------------


def test_unpacked_debian_packages_are_the_debian_route(
    debian_otp: Path, debian_version: str
) -> None:
    finding = detect_route(debian_otp)
    assert finding.route == BuildRoute.DEBIAN_PACKAGE
    assert finding.confidence == Confidence.HIGH
    assert finding.package == "erlang-base"
    assert finding.package_version == debian_version
    assert finding.distro == "debian-12"
    assert finding.expected_hardened is False
    assert finding.cause is not None and "never pass hardening flags" in finding.cause
    assert any(
        e.location == "usr/share/doc/erlang-base/changelog.Debian.gz" for e in finding.evidence
    )


def test_debian_real_beam_recorded_flags_are_rendered(debian_otp: Path) -> None:
    from gate.inspection.elf import read_facts  # the one ELF reader

    beam = next(debian_otp.glob("erts-*/bin/beam.smp"))
    flags = read_facts(beam).build_flags
    assert flags is not None
    finding = detect_route(debian_otp, build_flags=flags)
    text = finding.recorded_flags
    assert text.startswith("built with CFLAGS=")
    assert "-g -O2 -fno-strict-aliasing" in text
    assert text.endswith(", LDFLAGS= (empty)")
    assert "  " not in text  # whitespace squashed for display
    analysis = analyse_recorded_flags(flags)
    assert analysis is not None
    assert "-fstack-protector*" in analysis.missing and "-z now" in analysis.missing
    assert any(e.source == "recorded-flags" for e in finding.evidence)  # Debian's build path


def test_image_root_with_dpkg_database(
    tmp_path: Path, debian_root: Path, debian_version: str
) -> None:
    root = _image_root(tmp_path, debian_root)
    finding = detect_route(root / "usr/lib/erlang", system_root=root)
    assert finding.route == BuildRoute.DEBIAN_PACKAGE
    assert finding.confidence == Confidence.HIGH
    assert finding.package_version == debian_version
    assert finding.distro == "debian-12"
    sources = {e.source: e for e in finding.evidence}
    assert sources["dpkg-status"].location == "var/lib/dpkg/status"
    assert sources["dpkg-list"].location == "var/lib/dpkg/info/erlang-base:amd64.list"


def test_real_dpkg_database_written_by_dpkg_itself(
    tmp_path: Path, debian_root: Path, debian_version: str
) -> None:
    """Debian 12's real minbase database, plus erlang-base registered by `dpkg --unpack`."""
    from tests.support.dockerd import debian_rootfs_tarball

    # Made here when missing (debootstrap, cached under .work/): no dependence on test order.
    tarball = debian_rootfs_tarball("bookworm")
    if isinstance(tarball, str):
        pytest.skip(tarball)
    if not shutil.which("dpkg"):
        pytest.skip("dpkg is not installed (apt-get install dpkg)")
    root = tmp_path / "rootfs"
    root.mkdir()
    members = ["./var/lib/dpkg", "./etc/os-release", "./usr/lib/os-release"]
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(root), *members], check=True)
    subprocess.run(
        ["dpkg", f"--root={root}", "--force-depends", "--force-not-root", "--no-triggers",
         "--unpack", str(_deb(debian_root, "erlang-base"))],
        capture_output=True, check=True,
    )  # fmt: skip
    assert (root / "etc/os-release").is_symlink()  # ../usr/lib/os-release, resolved inside root
    finding = detect_route(root / "usr/lib/erlang")
    assert finding.route == BuildRoute.DEBIAN_PACKAGE
    assert finding.confidence == Confidence.HIGH
    assert finding.package_version == debian_version
    assert finding.distro == "debian-12"
    sources = {e.source: e.location for e in finding.evidence}
    assert sources["dpkg-list"] == "var/lib/dpkg/info/erlang-base.list"
    assert sources["changelog"] == "usr/share/doc/erlang-base/changelog.Debian.gz"


def test_package_database_beats_a_dockerfile(tmp_path: Path, debian_root: Path) -> None:
    root = _image_root(tmp_path, debian_root)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "Dockerfile").write_text(OFFICIAL_LIKE)
    finding = detect_route(root / "usr/lib/erlang", system_root=root, workspace=ws)
    assert finding.route == BuildRoute.DEBIAN_PACKAGE
    assert finding.dockerfile is None
    assert any("also seen" in n and "Dockerfile" in n for n in finding.notes)


def test_a_source_build_next_to_the_debian_package_is_not_the_package(
    tmp_path: Path, debian_root: Path
) -> None:
    root = _image_root(tmp_path, debian_root)
    (root / "usr/local/lib/erlang").mkdir(parents=True)
    finding = detect_route(root / "usr/local/lib/erlang", system_root=root)
    assert finding.route == BuildRoute.SOURCE_BUILD
    assert finding.package is None


def test_removed_package_is_not_evidence(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "usr/lib/erlang").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        f"Package: erlang-base\nStatus: deinstall ok config-files\nVersion: {DEBIAN_VERSION}\n"
    )
    assert detect_route(root / "usr/lib/erlang").route == BuildRoute.UNKNOWN


def test_symlinked_database_outside_the_root_is_ignored(tmp_path: Path) -> None:
    outside = tmp_path / "outside-status"
    outside.write_text(
        f"Package: erlang-base\nStatus: install ok installed\nVersion: {DEBIAN_VERSION}\n"
    )
    root = tmp_path / "r"
    (root / "usr/lib/erlang").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").symlink_to(outside)
    assert detect_route(root / "usr/lib/erlang").route == BuildRoute.UNKNOWN


def test_ubuntu_package(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "usr/lib/erlang").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: erlang-base\nStatus: install ok installed\nVersion: 1:25.3.2.8+dfsg-1ubuntu4\n"
    )
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=ubuntu\nVERSION_ID="24.04"\n')
    finding = detect_route(root / "usr/lib/erlang")
    assert finding.route == BuildRoute.UBUNTU_PACKAGE
    assert finding.distro == "ubuntu-24.04"
    assert finding.expected_hardened is True


def test_debian_unstable_otp29_is_hardened_and_flags_not_recorded(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "usr/lib/erlang").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: erlang-base\nStatus: install ok installed\nVersion: 1:29.1.2+dfsg-1\n"
    )
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text("ID=debian\nVERSION_CODENAME=sid\n")
    finding = detect_route(root / "usr/lib/erlang", build_flags=None)
    assert finding.route == BuildRoute.DEBIAN_PACKAGE
    assert finding.distro == "debian-unstable"
    assert finding.expected_hardened is True
    assert (
        finding.recorded_flags
        == "build flags not recorded (OTP 29 and later do not record them in beam.smp)"
    )


def test_alpine_package(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "usr/lib/erlang").mkdir(parents=True)
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text(
        "C:Q1abc=\nP:musl\nV:1.2.5-r0\n\n"
        "C:Q1def=\nP:erlang\nV:27.3.4-r0\nF:usr/lib/erlang/erts-15.2.7/bin\nR:beam.smp\n\n"
    )
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text("ID=alpine\nVERSION_ID=3.22.1\n")
    finding = detect_route(root / "usr/lib/erlang")
    assert finding.route == BuildRoute.ALPINE_PACKAGE
    assert finding.confidence == Confidence.HIGH
    assert finding.distro == "alpine-3.22"
    assert finding.package_version == "27.3.4-r0"


def test_upstream_version_of_package_versions() -> None:
    assert upstream_version(DEBIAN_VERSION) == OtpVersion.parse("25.2.3")
    assert upstream_version("27.3.4.1-r0") == OtpVersion.parse("27.3.4.1")
    assert upstream_version("1:27.3.4.1+dfsg-1") == OtpVersion.parse("27.3.4.1")
    assert upstream_version("garbage") is None


# --- images ------------------------------------------------------------------------------------


def test_image_metadata_from_an_image_config() -> None:
    config = {
        "config": {
            "Env": ["PATH=/usr/local/bin", "OTP_VERSION=27.3.4.1", "REBAR3_VERSION=3.24.0"],
            "Labels": {"b": "2", "a": "1"},
        },
        "history": [
            {"created_by": "/bin/sh -c #(nop) ENV OTP_VERSION=27.3.4.1"},
            {"created_by": 'RUN /bin/sh -c set -xe && OTP_DOWNLOAD_SHA256="abc" && ./configure'},
            {"empty_layer": True},
        ],
    }
    meta = image_metadata_from_config(config)
    assert meta.env_value("OTP_VERSION") == "27.3.4.1"
    assert meta.labels == (("a", "1"), ("b", "2"))
    assert len(meta.history) == 3
    finding = detect_route(Path("/nonexistent/usr/local/lib/erlang"), image=meta)
    assert finding.route == BuildRoute.OFFICIAL_ERLANG_IMAGE
    assert finding.confidence == Confidence.HIGH


@pytest.mark.parametrize(
    ("reference", "route", "distro"),
    [
        ("hexpm/erlang:27.1-debian-bookworm-20240926", BuildRoute.HEXPM_IMAGE, "debian"),
        (
            "docker.io/hexpm/elixir:1.17.3-erlang-27.1-ubuntu-noble-20240801",
            BuildRoute.HEXPM_IMAGE,
            "ubuntu",
        ),
        ("erlang:27", BuildRoute.OFFICIAL_ERLANG_IMAGE, "debian"),
        ("docker.io/library/erlang:26-alpine", BuildRoute.OFFICIAL_ERLANG_IMAGE, "alpine"),
        ("elixir:1.17@sha256:" + "0" * 64, BuildRoute.OFFICIAL_ERLANG_IMAGE, "debian"),
    ],
)
def test_image_references(reference: str, route: BuildRoute, distro: str) -> None:
    finding = detect_route(
        Path("/nonexistent/usr/local/lib/erlang"),
        image=ImageMetadata(reference=reference),
        otp_version=OtpVersion.parse("27.1"),
    )
    assert finding.route == route
    assert finding.distro == distro
    expected = distro in ("ubuntu", "alpine")
    assert finding.expected_hardened is expected


def test_official_image_otp28_is_hardened_by_default() -> None:
    finding = detect_route(
        Path("/nonexistent/usr/local/lib/erlang"),
        image=ImageMetadata(reference="erlang:28"),
        otp_version=OtpVersion.parse("28.1"),
    )
    assert finding.expected_hardened is True


def test_unrelated_image_is_not_guessed() -> None:
    finding = detect_route(
        Path("/nonexistent/opt/erlang"), image=ImageMetadata(reference="myorg/app:1")
    )
    assert finding.route == BuildRoute.UNKNOWN
    assert finding.confidence == Confidence.NONE
    assert finding.recorded_flags == "build flags not recorded"


# --- kerl, builds.hex.pm, source builds --------------------------------------------------------


def test_kerl_activate_marker(tmp_path: Path) -> None:
    root = tmp_path / "kerl" / "27.3"
    root.mkdir(parents=True)
    (root / "activate").write_text("# credits to virtualenv and kerl\n")
    finding = detect_route(root)
    assert finding.route == BuildRoute.KERL_ASDF
    assert finding.confidence == Confidence.HIGH


def test_asdf_install_path(tmp_path: Path) -> None:
    root = tmp_path / "home/.asdf/installs/erlang/26.2.5"
    root.mkdir(parents=True)
    assert detect_route(root).route == BuildRoute.KERL_ASDF


def test_setup_beam_tool_cache_is_builds_hex_pm(tmp_path: Path) -> None:
    root = tmp_path / "opt/hostedtoolcache/otp/ubuntu-22.04/OTP-27.3/x64"
    root.mkdir(parents=True)
    finding = detect_route(root)
    assert finding.route == BuildRoute.BUILDS_HEX_PM
    assert finding.expected_hardened is True


def test_origin_of_a_prebuilt_download(tmp_path: Path) -> None:
    origin = Origin(method="prebuilt", description="builds.hex.pm OTP-27.3 ubuntu-22.04")
    assert detect_route(tmp_path, origin=origin).route == BuildRoute.BUILDS_HEX_PM


def test_usr_local_prefix_is_a_likely_source_build(tmp_path: Path) -> None:
    root = tmp_path / "usr/local/lib/erlang"
    root.mkdir(parents=True)
    finding = detect_route(root)
    assert finding.route == BuildRoute.SOURCE_BUILD
    assert finding.confidence == Confidence.LOW


# --- OTP >= 28 defaults and recorded flags -----------------------------------------------------

OTP28_DEFAULT = RecordedBuildFlags(
    cflags="-g -O2 -fstack-clash-protection -fcf-protection=full -fstack-protector-strong "
    "-D_FORTIFY_SOURCE=3",
    ldflags="-Wl,-z,relro,-z,now -Wl,-z,noexecstack",
)
OTP28_DISABLED = RecordedBuildFlags(cflags="-g -O2", ldflags="")


def test_otp28_disabled_hardening_is_reported(tmp_path: Path) -> None:
    v28 = OtpVersion.parse("28.0.2")
    assert hardening_defaults_disabled(OTP28_DISABLED, v28)
    assert not hardening_defaults_disabled(OTP28_DEFAULT, v28)
    assert not hardening_defaults_disabled(OTP28_DISABLED, OtpVersion.parse("27.3"))
    assert not hardening_defaults_disabled(None, v28)  # not recorded: never guess
    root = tmp_path / "usr/local/lib/erlang"
    root.mkdir(parents=True)
    finding = detect_route(root, otp_version=v28, build_flags=OTP28_DISABLED)
    assert finding.hardening_defaults_disabled
    assert finding.expected_hardened is False
    assert any("--disable-security-hardening-flags" in n for n in finding.notes)
    assert finding.recorded_flags == "built with CFLAGS=-g -O2, LDFLAGS= (empty)"


def test_render_recorded_flags_variants() -> None:
    assert render_recorded_flags(None) == "build flags not recorded"
    assert render_recorded_flags(RecordedBuildFlags(None, None), OtpVersion.parse("29.1")) == (
        "build flags not recorded (OTP 29 and later do not record them in beam.smp)"
    )
    assert render_recorded_flags(RecordedBuildFlags(" -O2\n -g ", None)) == (
        "built with CFLAGS=-O2 -g, LDFLAGS not recorded"
    )


# --- the project's Dockerfile ------------------------------------------------------------------

OFFICIAL_LIKE = """\
FROM debian:bookworm AS build
ENV OTP_VERSION="27.3.4.1"
RUN apt-get update && apt-get install -y build-essential libssl-dev libncurses-dev curl
# Fetch and build OTP
RUN set -xe \\
  && curl -fSL -o otp-src.tar.gz "https://github.com/erlang/otp/archive/OTP-${OTP_VERSION}.tar.gz" \\
  && mkdir -vp /usr/src/otp-src \\
  && tar -xzf otp-src.tar.gz -C /usr/src/otp-src --strip-components=1 \\
  && cd /usr/src/otp-src \\
  # a comment inside the RUN, as the official Dockerfile has
  && CFLAGS="-O2 -g" ./configure --build=x86_64-linux-gnu --without-javac \\
  && make -j"$(nproc)" \\
  && make install

FROM debian:bookworm-slim
COPY --from=build /usr/local /usr/local
"""


def test_dockerfile_otp_build_is_found(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "Dockerfile.prod").write_text(OFFICIAL_LIKE)
    build = find_dockerfile_build(tmp_path)
    assert build is not None
    assert build.path == "deploy/Dockerfile.prod"
    assert build.run_line == 5
    assert build.configure_line == 11
    assert build.configure_args == ("--build=x86_64-linux-gnu", "--without-javac")
    assert build.scoped_to_configure == ("CFLAGS",)
    assert not build.disables_hardening
    finding = detect_route(tmp_path / "no-such-root", workspace=tmp_path)
    assert finding.route == BuildRoute.DOCKERFILE_SOURCE_BUILD
    assert finding.dockerfile == build
    assert any(e.location == "deploy/Dockerfile.prod:11" for e in finding.evidence)
    assert any("NIFs and drivers miss BIND_NOW" in n for n in finding.notes)


def test_dockerfile_that_builds_something_else_is_not_otp() -> None:
    text = "FROM debian\nRUN cd /src/openssl && ./configure --prefix=/opt/ssl && make install\n"
    assert dockerfile_otp_build(text, "Dockerfile") is None


def test_dockerfile_flags_in_env_and_disable_option() -> None:
    text = (
        "FROM debian AS base\nENV CFLAGS=-O0\n"
        'FROM debian\nARG OTP_VERSION=28.1\nENV LDFLAGS="-Wl,-z,now" CPPFLAGS=-DX\n'
        "WORKDIR /usr/src/otp\n"
        "RUN ./otp_build configure --disable-security-hardening-flags && make && make install\n"
    )
    build = dockerfile_otp_build(text, "Dockerfile")
    assert build is not None
    assert build.flags_in_env == ("LDFLAGS", "CPPFLAGS")  # FROM reset the first stage's CFLAGS
    assert build.disables_hardening
    assert build.run_line == build.configure_line == 7
    finding_cause = "passes --disable-security-hardening-flags"
    from gate.inspection.route_causes import known_cause

    cause, hardened = known_cause(
        BuildRoute.DOCKERFILE_SOURCE_BUILD, OtpVersion.parse("28.1"), None, build
    )
    assert cause is not None and finding_cause in cause and hardened is False


def test_dockerfiles_in_dependency_folders_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "deps" / "x").mkdir(parents=True)
    (tmp_path / "deps" / "x" / "Dockerfile").write_text(OFFICIAL_LIKE)
    assert find_dockerfile_build(tmp_path) is None


def test_parse_instructions_line_numbers() -> None:
    ins = parse_instructions(OFFICIAL_LIKE)
    assert [(i.keyword, i.line) for i in ins] == [
        ("FROM", 1),
        ("ENV", 2),
        ("RUN", 3),
        ("RUN", 5),
        ("FROM", 15),
        ("COPY", 16),
    ]
    assert "a comment inside" not in ins[3].text


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("RUN ./configure otp\\\n\"'#=&|;ENVFROMAG-x")), max_size=300
    )
)
def test_dockerfile_parsing_never_crashes_on_untrusted_text(text: str) -> None:
    build = dockerfile_otp_build(text, "Dockerfile")
    if build is not None:
        lines = text.splitlines()
        assert lines[build.run_line - 1].lstrip().upper().startswith("RUN")
        assert build.run_line <= build.configure_line


# --- explain: route + remediation + exposure on Debian's real files ---------------------------


def _debian_file_reports(debian_otp: Path) -> list[FileReport]:
    from gate.inspection.checks import evaluate_checks
    from gate.inspection.elf import read_facts
    from gate.inspection.runtime import load_runtime

    tree = AcquiredTree(debian_otp, "/usr/lib/erlang", Origin("directory", "Debian's packages"))
    out = []
    for f in load_runtime(tree).files:
        facts = read_facts(f.abs_path)
        out.append(
            FileReport(
                f.path,
                f.role,
                facts.kind,
                facts.machine,
                evaluate_checks(facts),
                build_flags=facts.build_flags,
            )
        )
    return out


@pytest.fixture(scope="module")
def debian_reports(debian_otp: Path) -> list[FileReport]:
    return _debian_file_reports(debian_otp)


def test_explain_debian_leads_with_exposed_files_and_gives_the_full_set(
    debian_otp: Path, debian_reports: list[FileReport]
) -> None:
    beam = next(r for r in debian_reports if r.path.endswith("/beam.smp"))
    route = detect_route(debian_otp, build_flags=beam.build_flags)
    exp = explain(route, debian_reports, OtpVersion.parse("25.2.3"))
    names = [e.path.rsplit("/", 1)[-1] for e in exp.exposed]
    assert names[:4] == ["beam.smp", "epmd", "inet_gethost", "erl_child_setup"]
    assert "bind-now" in exp.exposed[0].check_ids
    crypto = next(e for e in exp.exposed if e.path.endswith("/crypto.so"))
    assert "bind-now" in crypto.check_ids and crypto.role == Role.OTP_NIF
    assert exp.remediations[0].kind == RemediationKind.CHANGE_SOURCE
    flags = next(r for r in exp.remediations if r.kind == RemediationKind.SET_FLAGS)
    # Debian's NIFs lack BIND_NOW, so the fix names the DED_LD* trio as well.
    assert {"LDFLAGS", "DED_LD", "DED_LDFLAGS", "DED_LD_FLAG_RUNTIME_LIBRARY_PATH"} <= set(
        dict(flags.variables)
    )
    assert exp.cet_expected is False
    assert exp.dockerfile_fix is None


def test_explain_dockerfile_route_suggests_the_fix(
    tmp_path: Path, debian_reports: list[FileReport]
) -> None:
    (tmp_path / "Dockerfile").write_text(OFFICIAL_LIKE)
    route = detect_route(tmp_path / "no-root", workspace=tmp_path)
    exp = explain(route, debian_reports, OtpVersion.parse("27.3.4.1"), workspace=tmp_path)
    assert exp.dockerfile_fix is not None
    assert exp.dockerfile_fix.start_line == 5
    assert "+ENV CFLAGS=" in exp.dockerfile_fix.diff
    assert '-  && CFLAGS="-O2 -g" ./configure' in exp.dockerfile_fix.diff
    assert exp.remediations[0].kind == RemediationKind.SET_FLAGS
    assert (exp.remediations[0].snippet or "").startswith("ENV ")


def test_explanation_lines_read_top_down(
    debian_otp: Path, debian_reports: list[FileReport], debian_version: str
) -> None:
    beam = next(r for r in debian_reports if r.path.endswith("/beam.smp"))
    route = detect_route(debian_otp, build_flags=beam.build_flags)
    lines = explanation_lines(explain(route, debian_reports, OtpVersion.parse("25.2.3")))
    assert lines[0] == (
        f"Build route: Debian package (erlang-base {debian_version}, debian-12), high confidence"
    )
    assert any(line.startswith("Why: Debian's erlang packages up to Debian 13") for line in lines)
    recorded = next(line for line in lines if line.startswith("Recorded flags: "))
    assert recorded.endswith("LDFLAGS= (empty)")
    exposed = next(line for line in lines if line.startswith("Most exposed failing files: "))
    assert exposed.index("beam.smp") < exposed.index("epmd") < exposed.index("inet_gethost")
    assert "  DED_LDFLAGS=-shared -Wl,-Bsymbolic -Wl,-z,relro,-z,now -Wl,-z,noexecstack" in lines


@pytest.mark.parametrize(
    ("tree", "image", "origin", "expected"),
    [
        # The project's Dockerfile builds OTP, but the scanned tree says where it came from.
        ("opt/hostedtoolcache/otp/ubuntu-22.04/OTP-27.3/x64", None, None, BuildRoute.BUILDS_HEX_PM),
        ("home/u/.asdf/installs/erlang/27.3", None, None, BuildRoute.KERL_ASDF),
        ("cache/lib/erlang", None, Origin("build", "OTP 27.3 built by otp-gate"), BuildRoute.SOURCE_BUILD),
        ("img/usr/local/lib/erlang", ImageMetadata(reference="hexpm/erlang:27.3-ubuntu-noble-20250101"),
         None, BuildRoute.HEXPM_IMAGE),
        # Nothing about the tree itself: the Dockerfile wins over a prefix or copied ENV.
        ("img/usr/local/lib/erlang", None, None, BuildRoute.DOCKERFILE_SOURCE_BUILD),
        ("img/usr/local/lib/erlang", ImageMetadata(env=(("OTP_VERSION", "27.3"),)), None,
         BuildRoute.DOCKERFILE_SOURCE_BUILD),
    ],
)  # fmt: skip
def test_tree_evidence_beats_the_workspace_dockerfile(
    tmp_path: Path,
    tree: str,
    image: ImageMetadata | None,
    origin: Origin | None,
    expected: BuildRoute,
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "Dockerfile").write_text(OFFICIAL_LIKE)
    root = tmp_path / tree
    root.mkdir(parents=True)
    finding = detect_route(root, workspace=ws, image=image, origin=origin)
    assert finding.route == expected
    assert (finding.dockerfile is not None) == (expected == BuildRoute.DOCKERFILE_SOURCE_BUILD)
