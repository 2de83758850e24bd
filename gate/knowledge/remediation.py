"""What to change so a failing hardening check passes, for the route and OTP version at hand.

Pure knowledge, no I/O. The flag set is the one proven on OTP 27.3.4.1 and 25.2.3 with gcc 12 on
x86_64 (erts and crypto.so fully hardened, the JIT runs, a hardened NIF loads); see
`docs/remediation.md` and the slow proof test. OTP's build system facts it relies on:
`HOWTO/INSTALL.md` ("Dynamic Erlang Driver Linking": set all `DED_LD*` variables or none) and
erlang/otp PR #9441 (OTP 28 adds the OpenSSF hardening flags unless
`--disable-security-hardening-flags`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable
from typing import NamedTuple

from gate.model.otp import OtpVersion
from gate.model.route import BuildRoute, DockerfileBuild, FlagSet, Remediation, RemediationKind
from gate.model.runtime import Role

#: configure adds OpenSSF hardening flags by default from this major on (erlang/otp PR #9441).
OTP_HARDENED_DEFAULTS_MAJOR = 28
DISABLE_HARDENING_OPTION = "--disable-security-hardening-flags"

OPENSSF_GUIDE = "https://best.openssf.org/Compiler-Hardening-Guides/Compiler-Options-Hardening-Guide-for-C-and-C++"
EEF_GUIDE = "https://security.erlef.org/secure_coding_and_deployment_hardening/installing"
OTP_INSTALL = "https://github.com/erlang/otp/blob/master/HOWTO/INSTALL.md"
OTP_PR_9441 = "https://github.com/erlang/otp/pull/9441"
DEBIAN_BUG = "https://bugs.debian.org/1124853"

# The EEF guide's flags, as its "Installing" page gives them (EEF_GUIDE): the one definition that
# the source builder's defaults and the remediation text share.
EEF_GUIDE_CFLAGS = "-fpie -fstack-protector-strong"
EEF_LDFLAGS = "-pie -z now"
# OTP's configure stops when CFLAGS has no -O flag, so the guide's literal CFLAGS need one; `-g`
# as the build notes advise (`add "-O2 -g"`).
EEF_CFLAGS = f"-O2 -g {EEF_GUIDE_CFLAGS}"

#: Routes where the team runs OTP's configure itself, so configure arguments are theirs to change.
_CONFIGURE_ROUTES = frozenset(
    {
        BuildRoute.KERL_ASDF,
        BuildRoute.DOCKERFILE_SOURCE_BUILD,
        BuildRoute.SOURCE_BUILD,
        BuildRoute.UNKNOWN,
    }
)

# Checks a compiler flag fixes, checks a linker flag fixes. rwx, textrel and rpath are not caused by
# a missing flag of the tested set: their generic `fix` in gate.inspection.checks applies.
COMPILE_CHECKS = frozenset({"stack-protector", "fortify", "stack-clash", "cet", "bti"})
LINK_CHECKS = frozenset({"pie", "relro", "bind-now", "nx"})
FLAG_CHECKS = COMPILE_CHECKS | LINK_CHECKS

_CHECK_VARIABLE = {
    "stack-protector": "CFLAGS",
    "stack-clash": "CFLAGS",
    "cet": "CFLAGS",
    "bti": "CFLAGS",
    "fortify": "CPPFLAGS",
    "pie": "LDFLAGS",
    "relro": "LDFLAGS",
    "bind-now": "LDFLAGS",
    "nx": "LDFLAGS",
}
_DED_TRIO = ("DED_LD", "DED_LDFLAGS", "DED_LD_FLAG_RUNTIME_LIBRARY_PATH")
_VARIABLE_ORDER = ("CFLAGS", "CPPFLAGS", "LDFLAGS", *_DED_TRIO)

_MACHINE_ALIASES = {
    "amd64": "x86_64",
    "x86-64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "i686": "i386",
    "i586": "i386",
    "x86": "i386",
}
# gcc implements -fstack-clash-protection on these (gcc 8 release notes).
_STACK_CLASH_MACHINES = frozenset({"x86_64", "i386", "aarch64", "ppc64", "ppc64le", "s390x"})
_X86 = frozenset({"x86_64", "i386"})


def normalize_machine(machine: str) -> str:
    """`amd64`/`x64` -> `x86_64`, `arm64` -> `aarch64`; anything else lower-cased."""
    m = machine.strip().lower()
    return _MACHINE_ALIASES.get(m, m)


def has_hardened_defaults(otp_version: OtpVersion | None) -> bool:
    """True when OTP's own configure adds the hardening flags (OTP >= 28, PR #9441)."""
    return otp_version is not None and otp_version.major >= OTP_HARDENED_DEFAULTS_MAJOR


def recommended_flags(
    otp_version: OtpVersion | None,
    machine: str,
    glibc: bool = True,
    *,
    fortify_level: int = 3,
) -> FlagSet:
    """The tested build variables for this OTP version and machine.

    OTP >= 28 only needs `CFLAGS=-O2 -g` and its defaults. Before, or when the version is unknown,
    the full set: CFLAGS (with the `-O` configure insists on), CPPFLAGS for fortify, LDFLAGS for the
    erts executables and the `DED_LD*` trio, without which NIFs and drivers miss BIND_NOW.
    """
    if fortify_level not in (1, 2, 3):
        raise ValueError(f"fortify_level must be 1, 2 or 3, not {fortify_level!r}")
    m = normalize_machine(machine)
    if has_hardened_defaults(otp_version):
        return FlagSet(
            variables=(("CFLAGS", "-O2 -g"),),
            notes=(
                f"OTP {otp_version} adds the OpenSSF hardening flags itself ({OTP_PR_9441}): keep "
                f"the defaults and never pass {DISABLE_HARDENING_OPTION}. If you set CFLAGS at "
                "all, `-O2 -g` is enough; PIE still comes from the toolchain's default.",
            ),
            never_pass=(DISABLE_HARDENING_OPTION,),
        )
    notes: list[str] = [
        "Keep an -O flag in CFLAGS: OTP's configure stops without one (the EEF guide's literal "
        "CFLAGS hit this).",
        "Set all the DED_LD* variables or none (HOWTO/INSTALL.md, Dynamic Erlang Driver "
        "Linking); DED_LD is the compiler driver that links NIFs: use your CC if it is not gcc.",
        "PIE comes from the toolchain's default (Debian, Ubuntu, Alpine and Fedora gcc build PIE); "
        "`-pie` in LDFLAGS keeps it on the erts executables.",
    ]
    cflags = ["-O2", "-g", "-fstack-protector-strong"]
    if m in _STACK_CLASH_MACHINES:
        cflags.append("-fstack-clash-protection")
    else:
        notes.append(f"-fstack-clash-protection is left out: gcc does not implement it on {m}.")
    if m in _X86:
        # Marks the C code only; never enforce CET at run time for a JIT build (see cet_advice).
        cflags.append("-fcf-protection=full")
    elif m == "aarch64":
        cflags.append("-mbranch-protection=standard")
    variables: list[tuple[str, str]] = [("CFLAGS", " ".join(cflags))]
    if glibc:
        variables.append(("CPPFLAGS", f"-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE={fortify_level}"))
        if fortify_level == 3:
            notes.append(
                "_FORTIFY_SOURCE=3 needs gcc >= 12 and glibc >= 2.34 (Debian 12, Ubuntu 22.04 "
                "and later); with an older toolchain use -D_FORTIFY_SOURCE=2."
            )
    else:
        notes.append(
            "musl has no __*_chk functions: fortification comes from fortify-headers, which "
            "Alpine's toolchain enables by default, so CPPFLAGS is not set and the fortify check "
            "reads n/a."
        )
    variables += [
        ("LDFLAGS", "-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack"),
        ("DED_LD", "gcc"),
        ("DED_LDFLAGS", "-shared -Wl,-Bsymbolic -Wl,-z,relro,-z,now -Wl,-z,noexecstack"),
        ("DED_LD_FLAG_RUNTIME_LIBRARY_PATH", "-Wl,-R"),
    ]
    if otp_version is None:
        notes.append(
            "The OTP version is unknown: this is the set for OTP <= 27; on OTP >= 28 `-O2 -g` "
            f"and OTP's defaults are enough (never pass {DISABLE_HARDENING_OPTION})."
        )
    return FlagSet(
        variables=tuple(variables), notes=tuple(notes), never_pass=(DISABLE_HARDENING_OPTION,)
    )


def eef_literal_flags() -> FlagSet:
    """The EEF guide's literal flags plus the `-O2` configure needs: a known-incomplete set.

    The proof test builds with it to show what it misses: NIFs such as crypto.so lack BIND_NOW
    (their link uses DED_LDFLAGS, not LDFLAGS) and nothing sets _FORTIFY_SOURCE.
    """
    return FlagSet(
        variables=(
            ("CFLAGS", EEF_CFLAGS),
            ("LDFLAGS", EEF_LDFLAGS),
        ),
        notes=(f"The guide ({EEF_GUIDE}) gives CFLAGS without -O, which makes configure stop.",),
    )


# --- rendering the variables ------------------------------------------------------------------


def _quote(value: str) -> str:
    # Double quotes work in sh, ~/.kerlrc (sourced by sh) and Dockerfile ENV alike; the values of
    # the tested set hold no characters that need escaping, but stay correct if one ever does.
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
    )
    return f'"{escaped}"'


def shell_exports(variables: Iterable[tuple[str, str]]) -> str:
    """`export NAME="value"` lines (for a shell, a CI step or ~/.kerlrc)."""
    return "".join(f"export {k}={_quote(v)}\n" for k, v in variables)


def dockerfile_env(variables: Iterable[tuple[str, str]], indent: str = "") -> str:
    """One `ENV` instruction setting every variable, one per continuation line."""
    pairs = [f"{k}={_quote(v)}" for k, v in variables]
    if not pairs:
        return ""
    body = (" \\\n" + indent + "    ").join(pairs)
    return f"{indent}ENV {body}\n"


# --- which variables a set of failing checks needs ---------------------------------------------


def needs_ded_trio(failing_check_ids: Collection[str], role_set: Collection[Role]) -> bool:
    """NIFs/drivers of OTP fail a link check: LDFLAGS does not reach them, the DED_LD* trio does."""
    return Role.OTP_NIF in role_set and bool(LINK_CHECKS & set(failing_check_ids))


def variables_for(
    failing_check_ids: Collection[str],
    flags: FlagSet,
    role_set: Collection[Role],
) -> tuple[tuple[str, str], ...]:
    """The tested variables (whole values, never fragments) that fix these checks, in order."""
    wanted = {_CHECK_VARIABLE[c] for c in failing_check_ids if c in _CHECK_VARIABLE}
    if needs_ded_trio(failing_check_ids, role_set):
        wanted.update(_DED_TRIO)
    present = dict(flags.variables)
    if len(present) == 1 and "CFLAGS" in present:  # OTP >= 28: OTP's defaults do the rest
        wanted = {"CFLAGS"}
    return tuple((k, present[k]) for k in _VARIABLE_ORDER if k in wanted and k in present)


# --- CET, exposure -----------------------------------------------------------------------------

_UBUNTU_BUILT = frozenset({BuildRoute.UBUNTU_PACKAGE, BuildRoute.BUILDS_HEX_PM})


def cet_expected(route: BuildRoute, distro: str | None = None, machine: str = "x86_64") -> bool:
    """Whether a missing IBT/SHSTK marking is a real finding for this route.

    False for Debian-built binaries: Debian's crt objects carry no CET property, so the linker drops
    the marking from every binary (checked here on Debian 12); also false where the toolchain is
    unknown. True only where it marks everything by default: Ubuntu's gcc enables -fcf-protection
    on amd64 (Ubuntu wiki, ToolChain/CompilerFlags; read, not verified here). Never true off x86.
    """
    if normalize_machine(machine) not in _X86:
        return False
    return route in _UBUNTU_BUILT or (distro or "").lower().startswith("ubuntu")


CET_ADVICE = (
    "Mark the C code at compile time with -fcf-protection=full (in CFLAGS above); do not enforce "
    "IBT or shadow stacks at run time for a JIT build: the x86 JIT emits no ENDBR64 and switches "
    "native stacks per Erlang process, so its generated code is not CET-clean."
)

# Lower is more exposed. Why: beam.smp runs all code and parses distribution and external-term
# data; epmd listens on the network (port 4369); inet_gethost parses DNS replies; erl_child_setup
# forks every port program. NIFs that decode untrusted input (asn1, crypto) come next.
_EXPOSURE_BY_NAME = {
    "epmd": 1,
    "inet_gethost": 2,
    "erl_child_setup": 3,
    "erlexec": 10,
    "heart": 10,
    "run_erl": 11,
    "to_erl": 11,
    "dyn_erl": 12,
    "asn1rt_nif.so": 13,
    "crypto.so": 13,
    "crypto_callback.so": 14,
}
_DEV_TOOLS = frozenset(
    {
        "typer",
        "dialyzer",
        "erlc",
        "escript",
        "ct_run",
        "yielding_c_fun",
        "erl_call",
        "snmpc",
        "diameterc",
        "erl",
        "start",
        "start_erl",
        "erl_etp",
    }
)


def exposure_rank(path: str, role: Role) -> int:
    """How exposed a file is (0 = most); sort findings by `(exposure_rank(...), path)`."""
    name = posixpath.basename(path)
    if role == Role.EMULATOR or name.startswith("beam."):
        return 0
    if name in _EXPOSURE_BY_NAME:
        return _EXPOSURE_BY_NAME[name]
    if name in _DEV_TOOLS:
        return 60
    return {
        Role.ERTS_EXECUTABLE: 20,
        Role.PROJECT_NIF: 15,
        Role.OTP_NIF: 25,
        Role.OTP_PORT_PROGRAM: 30,
        Role.OTHER: 40,
        Role.STANDALONE: 40,
    }.get(role, 40)


# --- remediation per route ---------------------------------------------------------------------

_SCOPE_TRAP = (
    "Setting them on the configure command alone (`CFLAGS=... ./configure`) is not enough: make "
    "must see LDFLAGS too, and NIFs and drivers are linked with DED_LDFLAGS, so without the DED_LD* "
    "trio crypto.so and friends miss BIND_NOW."
)


def _where(route: BuildRoute, dockerfile: DockerfileBuild | None) -> tuple[str, str]:
    """(where to put the variables, a short name of the snippet's format)."""
    if route == BuildRoute.KERL_ASDF:
        return (
            "~/.kerlrc (or exported in the shell that runs `kerl build` / `asdf install erlang`), "
            "not KERL_CONFIGURE_OPTIONS: kerl word-splits that variable and passes it to configure "
            "only",
            "kerlrc",
        )
    if route == BuildRoute.DOCKERFILE_SOURCE_BUILD:
        at = f" in {dockerfile.path} (line {dockerfile.run_line})" if dockerfile else ""
        return (
            f"ENV (or ARG) lines before the `RUN ./configure ... && make && make install`{at}, so "
            "configure and make both see them",
            "dockerfile",
        )
    return (
        "exported in the shell (or CI step) that runs ./configure *and* make, e.g. `export` lines "
        "before the build; not `VAR=... ./configure` on one command",
        "shell",
    )


def _snippet(variables: tuple[tuple[str, str], ...], fmt: str) -> str:
    if fmt == "dockerfile":
        return dockerfile_env(variables)
    if fmt == "kerlrc":
        return "# ~/.kerlrc\n" + shell_exports(variables)
    return shell_exports(variables)


def _set_flags(
    ids: tuple[str, ...],
    route: BuildRoute,
    otp_version: OtpVersion | None,
    role_set: Collection[Role],
    machine: str,
    glibc: bool,
    dockerfile: DockerfileBuild | None,
    title: str,
) -> Remediation:
    flags = recommended_flags(otp_version, machine, glibc)
    variables = variables_for(ids, flags, role_set)
    where, fmt = _where(route, dockerfile)
    note_parts = [*flags.notes]
    if not has_hardened_defaults(otp_version):
        note_parts.insert(0, _SCOPE_TRAP)
    return Remediation(
        kind=RemediationKind.SET_FLAGS,
        check_ids=ids,
        title=title,
        variables=variables,
        where=where,
        snippet=_snippet(variables, fmt),
        note=" ".join(note_parts),
        links=(OTP_INSTALL, OPENSSF_GUIDE),
    )


def _upgrade(ids: tuple[str, ...], otp_version: OtpVersion | None) -> Remediation:
    now = f"OTP {otp_version}" if otp_version else "this OTP"
    return Remediation(
        kind=RemediationKind.UPGRADE_OTP,
        check_ids=ids,
        title="Move to OTP >= 28 and keep its defaults",
        note=(
            f"{now} predates OTP 28, whose configure adds the OpenSSF hardening flags by default "
            f"({OTP_PR_9441}); keep them: never pass {DISABLE_HARDENING_OPTION}."
        ),
        links=(OTP_PR_9441,),
    )


def _keep_defaults(
    ids: tuple[str, ...], otp_version: OtpVersion | None, dockerfile: DockerfileBuild | None
) -> Remediation:
    where = (
        f"remove {DISABLE_HARDENING_OPTION} from the ./configure line in {dockerfile.path} "
        f"(line {dockerfile.configure_line})"
        if dockerfile is not None and dockerfile.disables_hardening
        else f"the configure options (KERL_CONFIGURE_OPTIONS, the ./configure line): drop "
        f"{DISABLE_HARDENING_OPTION} and any CFLAGS/LDFLAGS that replace OTP's"
    )
    return Remediation(
        kind=RemediationKind.KEEP_OTP_DEFAULTS,
        check_ids=ids,
        title="Keep OTP's own hardening defaults",
        variables=(("CFLAGS", "-O2 -g"),),
        where=where,
        note=(
            f"OTP {otp_version} adds the hardening flags itself unless configure is given "
            f"{DISABLE_HARDENING_OPTION}; `CFLAGS=-O2 -g` is enough."
        ),
        links=(OTP_PR_9441,),
    )


def _change_source(ids: tuple[str, ...], route: BuildRoute, distro: str | None) -> Remediation:
    if route == BuildRoute.DEBIAN_PACKAGE:
        title = (
            "Use a hardened OTP build: Debian's packages of this release have no hardening flags"
        )
        note = (
            "Debian's erlang packages up to Debian 13 set CFLAGS=-g -O2 -fno-strict-aliasing in "
            "debian/rules, never use dpkg-buildflags and pass no LDFLAGS, so nothing is hardened. "
            "Hardened alternatives: the erlang packages of Debian unstable (OTP 29, built with "
            f"Debian's default hardening flags, {DEBIAN_BUG}), builds.hex.pm tarballs "
            "(setup-beam, mise) or hexpm/erlang Ubuntu-based images; or build OTP yourself with "
            "the flags given here."
        )
        links: tuple[str, ...] = (DEBIAN_BUG,)
    elif route in (BuildRoute.OFFICIAL_ERLANG_IMAGE, BuildRoute.HEXPM_IMAGE):
        title = "Use a hardened image: this image builds OTP with a plain ./configure"
        note = (
            "The official erlang images and the Debian-based hexpm/erlang|elixir images of OTP <= 27 "
            "run ./configure without hardening flags. Hardened alternatives: an OTP >= 28 tag, a "
            "hexpm/erlang *-ubuntu-* tag or an -alpine tag (the Ubuntu and Alpine compilers harden "
            "by default), or build OTP in your own Dockerfile with the flags given here."
        )
        links = ()
    else:
        where_from = {
            BuildRoute.UBUNTU_PACKAGE: "Ubuntu's gcc hardens by default",
            BuildRoute.ALPINE_PACKAGE: "Alpine's gcc hardens by default",
            BuildRoute.BUILDS_HEX_PM: "builds.hex.pm builds on Ubuntu, whose gcc hardens by default",
        }.get(route, "this route hardens by default")
        title = "Update or replace this build: it is expected to be hardened"
        note = (
            f"{where_from}, so a failure here is unusual{f' ({distro})' if distro else ''}: update "
            "to the newest package or tarball, and report it to its maintainers if it persists."
        )
        links = ()
    return Remediation(
        kind=RemediationKind.CHANGE_SOURCE, check_ids=ids, title=title, note=note, links=links
    )


def _project_nif(ids: tuple[str, ...]) -> Remediation:
    return Remediation(
        kind=RemediationKind.PROJECT_NIF,
        check_ids=ids,
        title="Build your own NIFs with hardening flags",
        variables=(
            ("CFLAGS", "-O2 -g -fstack-protector-strong -fstack-clash-protection"),
            ("CPPFLAGS", "-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3"),
            ("LDFLAGS", "-Wl,-z,relro,-z,now -Wl,-z,noexecstack"),
        ),
        where=(
            "the environment of the step that compiles the NIFs (rebar3 port compiler, mix with "
            "elixir_make, cargo for rustler), and check that "
            "their Makefile passes $(CFLAGS)/$(LDFLAGS) through"
        ),
        note=(
            "Third-party NIFs (rebar3, mix, elixir_make, rustler) are built with their own flags, "
            "not OTP's: every priv/**/*.so of your release is scanned."
        ),
    )


_PACKAGE_ROUTES = frozenset(
    {
        BuildRoute.DEBIAN_PACKAGE,
        BuildRoute.UBUNTU_PACKAGE,
        BuildRoute.ALPINE_PACKAGE,
        BuildRoute.BUILDS_HEX_PM,
    }
)
_IMAGE_ROUTES = frozenset({BuildRoute.OFFICIAL_ERLANG_IMAGE, BuildRoute.HEXPM_IMAGE})

# Found by the slow proof build (docs/build.md): OTP's default --with-ssl-rpath=yes bakes some 40
# guessed OpenSSL folders (/usr/local/openssl/lib, /opt/homebrew/...) into crypto.so's RUNPATH,
# whatever CFLAGS/LDFLAGS say. Debian's package passes =no.
_SSL_RPATH = Remediation(
    kind=RemediationKind.ADVICE,
    check_ids=("rpath",),
    title="Configure OTP with --with-ssl-rpath=no",
    where="the ./configure arguments (kerl: KERL_CONFIGURE_OPTIONS is fine for this one)",
    snippet="./configure --with-ssl-rpath=no ...",
    note="OTP's default (--with-ssl-rpath=yes) writes a RUNPATH of guessed OpenSSL "
    "folders into crypto.so; any of them that an attacker can write to would supply "
    "libcrypto. With =no, crypto.so finds OpenSSL through the system's library path.",
    links=(OTP_INSTALL,),
)


class _Target(NamedTuple):
    """What every remediation of one runtime depends on."""

    route: BuildRoute
    otp_version: OtpVersion | None
    roles: frozenset[Role]  # roles of the failing OTP files (project NIFs left out)
    machine: str
    glibc: bool
    distro: str | None
    dockerfile: DockerfileBuild | None

    def set_flags(self, ids: tuple[str, ...], route: BuildRoute, title: str) -> Remediation:
        dockerfile = self.dockerfile if route == self.route else None
        return _set_flags(
            ids, route, self.otp_version, self.roles, self.machine, self.glibc, dockerfile, title
        )


def _flag_fixes(ids: tuple[str, ...], t: _Target) -> list[Remediation]:
    """Fixes for compiler/linker flag checks of OTP's own files, by who controls the build."""
    modern = has_hardened_defaults(t.otp_version)
    if t.route in _PACKAGE_ROUTES:
        return [
            _change_source(ids, t.route, t.distro),
            t.set_flags(
                ids, BuildRoute.SOURCE_BUILD, "Or build OTP yourself with the tested flags"
            ),
        ]
    if t.route in _IMAGE_ROUTES:
        first = (
            [_change_source(ids, BuildRoute.UNKNOWN, t.distro)]
            if modern
            else [_upgrade(ids, t.otp_version), _change_source(ids, t.route, t.distro)]
        )
        title = "Or build OTP in your Dockerfile with the tested flags"
        return [*first, t.set_flags(ids, BuildRoute.DOCKERFILE_SOURCE_BUILD, title)]
    # Routes where the team runs configure: kerl/asdf, Dockerfile, source, unknown.
    if modern:
        return [_keep_defaults(ids, t.otp_version, t.dockerfile)]
    title = "Export the tested flags for configure and make"
    return [t.set_flags(ids, t.route, title), _upgrade(ids, t.otp_version)]


def _cet_advice(cet_real: bool) -> Remediation:
    note = CET_ADVICE
    if not cet_real:
        note += (
            " The gate does not count this as a finding here: binaries built on Debian (or "
            "with an unknown toolchain, or off x86) cannot be expected to carry the marking, "
            "since Debian's C runtime objects have no CET property."
        )
    return Remediation(
        kind=RemediationKind.ADVICE,
        check_ids=("cet",),
        title="CET: compile-time marking only",
        note=note,
    )


def remediate(
    failing_check_ids: Iterable[str],
    route: BuildRoute,
    otp_version: OtpVersion | None,
    role_set: Collection[Role],
    machine: str,
    *,
    glibc: bool = True,
    distro: str | None = None,
    dockerfile: DockerfileBuild | None = None,
) -> tuple[Remediation, ...]:
    """The changes that fix the failing checks, most direct first, for this route and version.

    `role_set` holds the roles of the files that fail. Checks the tested flag set does not govern
    (rwx, textrel, rpath) get their generic `fix`, except OTP's own crypto RUNPATH, which a
    configure argument removes. A `cet` failure
    where `cet_expected` is false only gets advice (policy downgrades it).
    """
    failing = tuple(dict.fromkeys(failing_check_ids))
    cet_real = cet_expected(route, distro, machine)
    flag_ids = tuple(c for c in failing if c in FLAG_CHECKS and (c != "cet" or cet_real))
    otp_roles = frozenset(role_set) - {Role.PROJECT_NIF}
    target = _Target(route, otp_version, otp_roles, machine, glibc, distro, dockerfile)
    out: list[Remediation] = []
    if flag_ids and otp_roles:
        out += _flag_fixes(flag_ids, target)
    project_ids = tuple(c for c in failing if c in FLAG_CHECKS)
    if project_ids and Role.PROJECT_NIF in role_set:
        out.append(_project_nif(project_ids))
    if "rpath" in failing and Role.OTP_NIF in role_set and route in _CONFIGURE_ROUTES:
        out.append(_SSL_RPATH)
    if "cet" in failing:
        out.append(_cet_advice(cet_real))
    return tuple(out)


def remediations_for(check_id: str, remediations: Iterable[Remediation]) -> tuple[Remediation, ...]:
    """The remediations that name `check_id`, in their order."""
    return tuple(r for r in remediations if check_id in r.check_ids)
