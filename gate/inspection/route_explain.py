"""Everything a report shows next to the findings: the route, its evidence, the fixes, the Dockerfile diff."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gate.knowledge.dockerfile_fix import suggest_dockerfile_fix
from gate.knowledge.package_db import inside
from gate.knowledge.remediation import cet_expected, exposure_rank, recommended_flags, remediate
from gate.model.common import Status
from gate.model.otp import OtpVersion
from gate.model.report import FileReport
from gate.model.route import (
    BuildRoute,
    DockerfileFix,
    Explanation,
    ExposedFailure,
    RemediationKind,
    RouteFinding,
)
from gate.model.runtime import Role


def route_label(route: BuildRoute) -> str:
    """Human name of a route for reports."""
    return {
        BuildRoute.DEBIAN_PACKAGE: "Debian package",
        BuildRoute.UBUNTU_PACKAGE: "Ubuntu package",
        BuildRoute.ALPINE_PACKAGE: "Alpine package",
        BuildRoute.OFFICIAL_ERLANG_IMAGE: "official erlang image",
        BuildRoute.HEXPM_IMAGE: "hexpm/erlang image",
        BuildRoute.BUILDS_HEX_PM: "builds.hex.pm tarball",
        BuildRoute.KERL_ASDF: "kerl/asdf build",
        BuildRoute.DOCKERFILE_SOURCE_BUILD: "source build in the project's Dockerfile",
        BuildRoute.SOURCE_BUILD: "source build",
        BuildRoute.UNKNOWN: "unknown",
    }[route]


# --- everything a report shows next to the findings --------------------------------------------


def explain(
    route: RouteFinding,
    files: Iterable[FileReport],
    otp_version: OtpVersion | None,
    *,
    workspace: Path | None = None,
    machine: str | None = None,
    glibc: bool = True,
) -> Explanation:
    """Remediations for the failing checks of `files`, most exposed files first, and the Dockerfile fix.

    `workspace` is where `route.dockerfile.path` is read from (the project checkout).
    """
    reports = list(files)
    failing: list[ExposedFailure] = []
    for f in reports:
        ids = tuple(c.id for c in f.checks if c.status == Status.FAIL)
        if ids:
            failing.append(ExposedFailure(f.path, str(f.role), exposure_rank(f.path, f.role), ids))
    failing.sort(key=lambda e: (e.rank, e.path))
    mach = machine or next((f.machine for f in reports if f.machine), None) or "x86_64"
    ids_in_order = tuple(dict.fromkeys(c for e in failing for c in e.check_ids))
    roles = {Role(e.role) for e in failing}
    rems = remediate(
        ids_in_order,
        route.route,
        otp_version,
        roles,
        mach,
        glibc=glibc,
        distro=route.distro,
        dockerfile=route.dockerfile,
    )
    fix: DockerfileFix | None = None
    dockerfile = route.dockerfile
    wants_fix = any(
        r.kind in (RemediationKind.SET_FLAGS, RemediationKind.KEEP_OTP_DEFAULTS) for r in rems
    )
    if (
        dockerfile is not None
        and workspace is not None
        and (wants_fix or dockerfile.disables_hardening)
    ):
        path = workspace / dockerfile.path
        if inside(workspace, path) and path.is_file():
            try:
                text = path.read_text("utf-8", "replace")
                fix = suggest_dockerfile_fix(
                    text, dockerfile, recommended_flags(otp_version, mach, glibc)
                )
            except (OSError, ValueError):
                fix = None  # the file changed since it was parsed: no fix rather than a wrong one
    return Explanation(
        route=route,
        remediations=rems,
        exposed=tuple(failing),
        cet_expected=cet_expected(route.route, route.distro, mach),
        dockerfile_fix=fix,
    )


def explanation_lines(exp: Explanation, max_exposed: int = 5) -> tuple[str, ...]:
    """Plain-text lines a renderer can show as is (Markdown renderers add their own emphasis).

    Route and evidence, the known cause, the recorded flags, the most exposed failing files, then
    each remediation: title, where, the variables.
    """
    r = exp.route
    what = route_label(r.route)
    detail = ", ".join(
        x for x in (r.package and f"{r.package} {r.package_version or ''}".strip(), r.distro) if x
    )
    lines = [
        f"Build route: {what}"
        + (f" ({detail})" if detail else "")
        + (f", {r.confidence} confidence" if r.route != BuildRoute.UNKNOWN else "")
    ]
    if r.evidence:
        lines.append(
            "Evidence: "
            + "; ".join(e.detail + (f" [{e.location}]" if e.location else "") for e in r.evidence)
        )
    if r.cause:
        lines.append(f"Why: {r.cause}")
    lines.append(f"Recorded flags: {r.recorded_flags}")
    lines.extend(r.notes)
    if exp.exposed:
        shown = [f"{e.path} ({', '.join(e.check_ids)})" for e in exp.exposed[:max_exposed]]
        more = len(exp.exposed) - max_exposed
        lines.append(
            "Most exposed failing files: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
        )
    for rem in exp.remediations:
        lines.append(f"Fix ({', '.join(rem.check_ids)}): {rem.title}")
        if rem.where:
            lines.append(f"  where: {rem.where}")
        for name, value in rem.variables:
            lines.append(f"  {name}={value}")
        if rem.note:
            lines.append(f"  note: {rem.note}")
    if exp.dockerfile_fix is not None:
        f = exp.dockerfile_fix
        lines.append(f"Suggested change to {f.path} (lines {f.start_line}-{f.end_line}):")
        lines.extend("  " + d for d in f.diff.splitlines())
    return tuple(lines)
