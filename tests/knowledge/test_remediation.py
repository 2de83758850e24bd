"""The tested flag set and the remediation chosen for each route and OTP version."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.knowledge.remediation import (
    DISABLE_HARDENING_OPTION,
    FLAG_CHECKS,
    cet_expected,
    dockerfile_env,
    eef_literal_flags,
    exposure_rank,
    recommended_flags,
    remediate,
    remediations_for,
    shell_exports,
)
from gate.model.otp import OtpVersion
from gate.model.route import BuildRoute, DockerfileBuild, RemediationKind
from gate.model.runtime import Role

V25 = OtpVersion.parse("25.2.3")
V27 = OtpVersion.parse("27.3.4.1")
V28 = OtpVersion.parse("28.1")
V29 = OtpVersion.parse("29.1.2")

# The set proven on OTP 27.3.4.1 / 25.2.3, gcc 12, x86_64 (shared/notes/hardening-flags.md).
TESTED_X86_64 = {
    "CFLAGS": "-O2 -g -fstack-protector-strong -fstack-clash-protection -fcf-protection=full",
    "CPPFLAGS": "-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3",
    "LDFLAGS": "-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack",
    "DED_LD": "gcc",
    "DED_LDFLAGS": "-shared -Wl,-Bsymbolic -Wl,-z,relro,-z,now -Wl,-z,noexecstack",
    "DED_LD_FLAG_RUNTIME_LIBRARY_PATH": "-Wl,-R",
}
DED_TRIO = {"DED_LD", "DED_LDFLAGS", "DED_LD_FLAG_RUNTIME_LIBRARY_PATH"}
ALL_FLAG_CHECKS = sorted(FLAG_CHECKS)


def test_recommended_flags_otp27_x86_64_is_the_tested_set() -> None:
    flags = recommended_flags(V27, "x86_64")
    assert flags.as_env() == TESTED_X86_64
    assert flags.names == tuple(TESTED_X86_64)  # the order in which they are documented
    assert DISABLE_HARDENING_OPTION in flags.never_pass
    assert any("_FORTIFY_SOURCE=2" in n and "glibc >= 2.34" in n for n in flags.notes)


def test_recommended_flags_arm64_uses_branch_protection() -> None:
    flags = recommended_flags(V25, "arm64")
    cflags = flags.get("CFLAGS") or ""
    assert "-mbranch-protection=standard" in cflags.split()
    assert "-fcf-protection=full" not in cflags
    assert flags.get("DED_LDFLAGS") == TESTED_X86_64["DED_LDFLAGS"]


def test_recommended_flags_otp28_keeps_the_defaults() -> None:
    flags = recommended_flags(V28, "x86_64")
    assert flags.variables == (("CFLAGS", "-O2 -g"),)
    assert flags.never_pass == (DISABLE_HARDENING_OPTION,)
    assert any("keep" in n and DISABLE_HARDENING_OPTION in n for n in flags.notes)


def test_unknown_version_gets_the_full_set_and_says_so() -> None:
    flags = recommended_flags(None, "amd64")
    assert flags.as_env() == TESTED_X86_64
    assert any("unknown" in n for n in flags.notes)


def test_musl_and_older_toolchains() -> None:
    musl = recommended_flags(V27, "x86_64", glibc=False)
    assert musl.get("CPPFLAGS") is None
    assert any("musl" in n for n in musl.notes)
    assert recommended_flags(V27, "x86_64", fortify_level=2).get("CPPFLAGS") == (
        "-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2"
    )
    with pytest.raises(ValueError, match="fortify_level"):
        recommended_flags(V27, "x86_64", fortify_level=4)


def test_riscv_gets_no_x86_or_arm_only_flags() -> None:
    cflags = recommended_flags(V27, "riscv64").get("CFLAGS") or ""
    assert "-fcf-protection" not in cflags and "-mbranch-protection" not in cflags
    assert "-fstack-clash-protection" not in cflags


@given(
    st.one_of(
        st.none(),
        st.builds(lambda a, b: OtpVersion((a, b)), st.integers(17, 40), st.integers(0, 5)),
    ),
    st.sampled_from(["x86_64", "aarch64", "i686", "riscv64", "ppc64le", "s390x", "amd64"]),
    st.booleans(),
)
def test_cflags_always_hold_an_optimisation_level(
    version: OtpVersion | None, machine: str, glibc: bool
) -> None:
    # OTP's configure stops when CFLAGS has no -O flag (the EEF guide's literal flags fail).
    cflags = recommended_flags(version, machine, glibc).get("CFLAGS")
    assert cflags is not None and "-O2" in cflags.split() and "-g" in cflags.split()


def test_eef_literal_flags_are_the_known_incomplete_set() -> None:
    eef = eef_literal_flags()
    assert (
        eef.get(
            "CFLAGS",
        )
        == "-O2 -g -fpie -fstack-protector-strong"
    )
    assert not DED_TRIO & set(eef.names)


def test_exports_are_sourced_by_sh_to_the_exact_values(tmp_path: Path) -> None:
    script = tmp_path / "kerlrc"
    script.write_text(shell_exports(recommended_flags(V27, "x86_64").variables))
    for name, value in TESTED_X86_64.items():
        out = subprocess.run(
            ["sh", "-c", f'. "$1"; printf %s "${name}"', "sh", str(script)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out == value


def test_dockerfile_env_block_shape() -> None:
    block = dockerfile_env((("CFLAGS", "-O2 -g"), ("LDFLAGS", "-pie")), indent="  ")
    assert block == '  ENV CFLAGS="-O2 -g" \\\n      LDFLAGS="-pie"\n'
    assert dockerfile_env(()) == ""


# --- remediate ---------------------------------------------------------------------------------

NIF_AND_ERTS = {Role.EMULATOR, Role.ERTS_EXECUTABLE, Role.OTP_NIF}


def test_debian_package_gets_another_source_then_the_flags() -> None:
    rems = remediate(
        ["bind-now", "stack-protector", "fortify", "cet"],
        BuildRoute.DEBIAN_PACKAGE,
        V25,
        NIF_AND_ERTS,
        "x86_64",
        distro="debian-12",
    )
    kinds = [r.kind for r in rems]
    assert kinds[0] == RemediationKind.CHANGE_SOURCE
    assert "Debian unstable" in (rems[0].note or "") and "builds.hex.pm" in (rems[0].note or "")
    flags = next(r for r in rems if r.kind == RemediationKind.SET_FLAGS)
    assert dict(flags.variables) == TESTED_X86_64  # bind-now on NIFs: the DED trio is included
    assert "cet" not in flags.check_ids  # Debian-built: the marking cannot appear
    cet = remediations_for("cet", rems)
    assert [r.kind for r in cet] == [RemediationKind.ADVICE]


def test_ded_trio_only_when_nifs_fail_a_link_check() -> None:
    erts_only = remediate(
        ["bind-now"], BuildRoute.SOURCE_BUILD, V27, {Role.ERTS_EXECUTABLE}, "x86_64"
    )
    flags = next(r for r in erts_only if r.kind == RemediationKind.SET_FLAGS)
    assert dict(flags.variables) == {"LDFLAGS": TESTED_X86_64["LDFLAGS"]}
    nif = remediate(["bind-now"], BuildRoute.SOURCE_BUILD, V27, {Role.OTP_NIF}, "x86_64")
    flags = next(r for r in nif if r.kind == RemediationKind.SET_FLAGS)
    assert set(dict(flags.variables)) == {"LDFLAGS", *DED_TRIO}
    assert flags.variables[-3:] == tuple(
        (k, TESTED_X86_64[k]) for k in ("DED_LD", "DED_LDFLAGS", "DED_LD_FLAG_RUNTIME_LIBRARY_PATH")
    )
    compile_only = remediate(["fortify"], BuildRoute.SOURCE_BUILD, V27, {Role.OTP_NIF}, "x86_64")
    flags = next(r for r in compile_only if r.kind == RemediationKind.SET_FLAGS)
    assert flags.variables == (("CPPFLAGS", TESTED_X86_64["CPPFLAGS"]),)


def test_source_build_exports_for_configure_and_make() -> None:
    rems = remediate(["stack-protector"], BuildRoute.SOURCE_BUILD, V27, {Role.EMULATOR}, "x86_64")
    flags = rems[0]
    assert flags.kind == RemediationKind.SET_FLAGS
    assert "configure *and* make" in (flags.where or "")
    assert flags.snippet == f'export CFLAGS="{TESTED_X86_64["CFLAGS"]}"\n'
    assert rems[1].kind == RemediationKind.UPGRADE_OTP
    assert "OTP >= 28" in rems[1].title


def test_kerl_uses_kerlrc_not_configure_options() -> None:
    rems = remediate(["bind-now"], BuildRoute.KERL_ASDF, V27, {Role.OTP_NIF}, "x86_64")
    flags = rems[0]
    assert flags.where is not None and flags.where.startswith("~/.kerlrc")
    assert "not KERL_CONFIGURE_OPTIONS" in flags.where
    assert flags.snippet is not None and flags.snippet.startswith("# ~/.kerlrc\nexport LDFLAGS=")
    assert "KERL_CONFIGURE_OPTIONS" not in flags.snippet


def test_dockerfile_route_gets_env_before_the_run() -> None:
    build = DockerfileBuild(
        path="Dockerfile",
        run_line=5,
        configure_line=11,
        run_text="RUN ...",
        configure_args=(),
        flags_in_env=(),
        scoped_to_configure=("CFLAGS",),
        disables_hardening=False,
    )
    rems = remediate(
        ["bind-now", "relro"],
        BuildRoute.DOCKERFILE_SOURCE_BUILD,
        V27,
        NIF_AND_ERTS,
        "x86_64",
        dockerfile=build,
    )
    flags = rems[0]
    assert flags.snippet is not None and flags.snippet.startswith('ENV LDFLAGS="')
    assert "Dockerfile (line 5)" in (flags.where or "")
    assert "misses BIND_NOW" in (flags.note or "") or "miss BIND_NOW" in (flags.note or "")


def test_otp28_builds_keep_the_defaults() -> None:
    build = DockerfileBuild(
        path="Dockerfile",
        run_line=3,
        configure_line=3,
        run_text="RUN ./configure",
        configure_args=(DISABLE_HARDENING_OPTION,),
        flags_in_env=(),
        scoped_to_configure=(),
        disables_hardening=True,
    )
    rems = remediate(
        ["bind-now"],
        BuildRoute.DOCKERFILE_SOURCE_BUILD,
        V28,
        NIF_AND_ERTS,
        "x86_64",
        dockerfile=build,
    )
    assert [r.kind for r in rems] == [RemediationKind.KEEP_OTP_DEFAULTS]
    assert rems[0].variables == (("CFLAGS", "-O2 -g"),)
    assert f"remove {DISABLE_HARDENING_OPTION}" in (rems[0].where or "")
    assert "line 3" in (rems[0].where or "")


@pytest.mark.parametrize("route", [BuildRoute.OFFICIAL_ERLANG_IMAGE, BuildRoute.HEXPM_IMAGE])
def test_images_before_28_upgrade_or_change_image(route: BuildRoute) -> None:
    rems = remediate(["bind-now"], route, V27, NIF_AND_ERTS, "x86_64", distro="debian")
    assert [r.kind for r in rems] == [
        RemediationKind.UPGRADE_OTP,
        RemediationKind.CHANGE_SOURCE,
        RemediationKind.SET_FLAGS,
    ]
    assert "ubuntu" in (rems[1].note or "")
    assert (rems[2].snippet or "").startswith("ENV ")
    modern = remediate(["bind-now"], route, V28, NIF_AND_ERTS, "x86_64")
    assert RemediationKind.UPGRADE_OTP not in [r.kind for r in modern]


def test_project_nifs_get_their_own_advice() -> None:
    rems = remediate(["bind-now"], BuildRoute.DEBIAN_PACKAGE, V25, {Role.PROJECT_NIF}, "x86_64")
    assert [r.kind for r in rems] == [RemediationKind.PROJECT_NIF]
    assert "rebar3" in (rems[0].note or "")


def test_checks_outside_the_flag_set_get_no_route_remediation() -> None:
    assert remediate(["rwx", "textrel"], BuildRoute.SOURCE_BUILD, V27, NIF_AND_ERTS, "x86_64") == ()


def test_crypto_runpath_gets_the_configure_argument_where_configure_is_yours() -> None:
    # The slow proof build found it: OTP's default --with-ssl-rpath=yes puts guessed OpenSSL
    # folders into crypto.so's RUNPATH (docs/build.md).
    (rem,) = remediate(["rpath"], BuildRoute.SOURCE_BUILD, V27, NIF_AND_ERTS, "x86_64")
    assert rem.check_ids == ("rpath",) and "--with-ssl-rpath=no" in rem.title
    assert remediate(["rpath"], BuildRoute.KERL_ASDF, V27, {Role.OTP_NIF}, "x86_64")
    # Not where the team cannot run configure, nor for the project's own NIFs.
    assert remediate(["rpath"], BuildRoute.DEBIAN_PACKAGE, V25, NIF_AND_ERTS, "x86_64") == ()
    assert remediate(["rpath"], BuildRoute.SOURCE_BUILD, V27, {Role.PROJECT_NIF}, "x86_64") == ()


def test_cet_is_a_finding_only_where_the_toolchain_marks_everything() -> None:
    assert not cet_expected(BuildRoute.DEBIAN_PACKAGE)
    assert not cet_expected(BuildRoute.OFFICIAL_ERLANG_IMAGE, "debian")
    assert not cet_expected(BuildRoute.UNKNOWN)
    assert cet_expected(BuildRoute.UBUNTU_PACKAGE)
    assert cet_expected(BuildRoute.HEXPM_IMAGE, "ubuntu")
    assert not cet_expected(BuildRoute.UBUNTU_PACKAGE, machine="aarch64")
    rems = remediate(["cet"], BuildRoute.UBUNTU_PACKAGE, V27, {Role.EMULATOR}, "x86_64")
    assert any(r.kind == RemediationKind.SET_FLAGS and "cet" in r.check_ids for r in rems)


_CET_ENFORCEMENT = (
    "GLIBC_TUNABLES",
    "x86_ibt",
    "x86_shstk",
    "cet-report",
    "-z,ibt",
    "-z,shstk",
    "-z ibt",
    "-z shstk",
    "ibt=on",
    "shstk=on",
)


@given(
    st.lists(st.sampled_from([*ALL_FLAG_CHECKS, "rwx", "rpath"]), min_size=1, max_size=6),
    st.sampled_from(list(BuildRoute)),
    st.sampled_from([None, V25, V27, V28, V29]),
    st.sets(st.sampled_from(list(Role)), min_size=1),
    st.sampled_from(["x86_64", "aarch64"]),
    st.sampled_from([None, "debian-12", "ubuntu-24.04", "alpine-3.20"]),
)
def test_no_remediation_enforces_cet_at_run_time(
    checks: list[str],
    route: BuildRoute,
    version: OtpVersion | None,
    roles: set[Role],
    machine: str,
    distro: str | None,
) -> None:
    rems = remediate(checks, route, version, roles, machine, distro=distro)
    for r in rems:
        actionable = " ".join(
            [*(f"{k}={v}" for k, v in r.variables), r.snippet or "", r.where or ""]
        )
        assert not any(bad in actionable for bad in _CET_ENFORCEMENT), r
        assert set(r.check_ids) <= set(checks)
        if any(k == "CFLAGS" for k, _ in r.variables):
            assert "-O2" in dict(r.variables)["CFLAGS"].split()
        if DED_TRIO & {k for k, _ in r.variables}:
            assert {k for k, _ in r.variables} >= DED_TRIO  # all DED_LD* or none
    if "cet" in checks:
        assert any(
            r.kind == RemediationKind.ADVICE and "do not enforce" in (r.note or "") for r in rems
        )


# --- exposure ----------------------------------------------------------------------------------


def test_exposure_rank_leads_with_the_exposed_files(debian_otp: Path) -> None:
    files = [
        (
            p.relative_to(debian_otp).as_posix(),
            Role.EMULATOR if p.name.startswith("beam") else Role.ERTS_EXECUTABLE,
        )
        for p in debian_otp.glob("erts-*/bin/*")
        if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"
    ]
    files += [
        (p.relative_to(debian_otp).as_posix(), Role.OTP_NIF)
        for p in debian_otp.glob("lib/*/priv/lib/*.so")
    ]
    assert len(files) > 20
    ordered = [
        posix.rsplit("/", 1)[-1]
        for posix, _ in sorted(files, key=lambda f: (exposure_rank(f[0], f[1]), f[0]))
    ]
    assert ordered[:4] == ["beam.smp", "epmd", "inet_gethost", "erl_child_setup"]
    assert ordered.index("typer") > ordered.index("crypto.so")
    assert ordered.index("crypto.so") > ordered.index("erlexec")
