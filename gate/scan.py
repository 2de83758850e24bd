"""Compose inspection for one acquired runtime (or loose ELF files) into a `Report`.

acquire -> `load_runtime` -> `read_facts` per ELF file -> `evaluate_checks` -> `identify` ->
`version_status`; in `Report.details`: the build route and its fixes (`detect_route`,
`explain`) and the advisories the runtime misses (`missed_fixes`, distro backports). A file that
cannot be read becomes a `FileReport` with `error` set and the scan goes on (the policy fails
closed on it). Inspection modules are imported inside the functions that need them so that
`otp-gate --help` stays fast and nothing heavy loads at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from gate.acquire.interface import AcquiredTree
from gate.errors import GateError, UsageError
from gate.knowledge.interface import ReleaseIndex
from gate.model.advisory import Advisory
from gate.model.common import BackportPolicy
from gate.model.elf import ElfFacts
from gate.model.otp import OtpIdentity, VersionStatus
from gate.model.report import Details, FileReport, Report
from gate.model.route import Explanation
from gate.model.runtime import Origin, Role, Runtime, RuntimeFile, RuntimeKind

if TYPE_CHECKING:
    from gate.inspection.ahead import ReadAhead
    from gate.inspection.batch import Outcome


class ScanOptions(NamedTuple):
    """What a scan looks at beyond the hardening checks."""

    version: bool = True  # identify the OTP version and compare it with the release index
    explain: bool = True  # build route, recorded flags and route-specific fixes (issue 6)
    workspace: Path | None = None  # the project checkout, whose Dockerfile may build OTP
    advisories: tuple[Advisory, ...] | None = None  # judge these against the runtime (issue 5)
    backports: BackportPolicy = BackportPolicy.IGNORE  # trust a distro changelog's CVE fixes?


DEFAULT_OPTIONS = ScanOptions()  # immutable, so one shared default is safe


def _emulator_first(files: Sequence[RuntimeFile]) -> RuntimeFile | None:
    """The emulator whose embedded strings best identify the version: `beam.smp` before variants."""
    emulators = [f for f in files if f.role == Role.EMULATOR]
    plain = [f for f in emulators if PurePosixPath(f.path).name == "beam.smp"]
    chosen = plain or emulators
    return chosen[0] if chosen else None


def import_judges() -> None:
    """Import the modules that judge a runtime, ahead of `scan_runtime` (which imports them where
    it uses them, so `otp-gate elf` loads none of them). `engine.run` calls this while its helper
    reads the runtime's files: the imports then share the time with that reading instead of
    adding to the run after it (issue 12)."""
    import gate.inspection.checks
    import gate.inspection.elf
    import gate.inspection.otp_version
    import gate.inspection.route
    import gate.inspection.route_explain
    import gate.inspection.runtime
    import gate.knowledge.advisories
    import gate.knowledge.distro_backports
    import gate.knowledge.releases  # noqa: F401


def _inspect_all(
    files: Sequence[RuntimeFile], known: Mapping[Path, Outcome] | None = None
) -> list[tuple[FileReport, ElfFacts | None]]:
    """Read and check every file (on several cores when there are many: `read_many`); `known`
    holds outcomes read ahead (`gate.inspection.ahead`), the rest is read now."""
    from gate.inspection.batch import read_many

    known = known or {}
    todo = [f.abs_path for f in files if f.abs_path not in known]
    outcomes = dict(known) | dict(zip(todo, read_many(todo), strict=True))
    return [_inspect(f, outcomes[f.abs_path]) for f in files]


def _inspect(file: RuntimeFile, facts: ElfFacts | str) -> tuple[FileReport, ElfFacts | None]:
    from gate.inspection.checks import evaluate_checks

    if isinstance(facts, str):  # the file could not be read: a per-file error, the scan goes on
        return FileReport(file.path, file.role, None, None, (), error=facts), None
    report = FileReport(
        path=file.path,
        role=file.role,
        kind=facts.kind,
        machine=facts.machine,
        checks=tuple(evaluate_checks(facts)),
        build_flags=facts.build_flags,
    )
    return report, facts


def _explain(
    runtime: Runtime,
    files: Sequence[FileReport],
    identity: OtpIdentity,
    beam_facts: ElfFacts | None,
    options: ScanOptions,
) -> tuple[Explanation | None, str | None]:
    """The build route and its fixes; a problem here is a warning, never a failed scan."""
    from gate.inspection.route import detect_route
    from gate.inspection.route_explain import explain

    try:
        route = detect_route(
            runtime.root,
            origin=runtime.origin,
            image=runtime.origin.image_metadata,
            workspace=options.workspace,
            otp_version=identity.version,
            build_flags=beam_facts.build_flags if beam_facts else None,
        )
        return explain(route, files, identity.version, workspace=options.workspace), None
    except (GateError, OSError) as e:
        message = e.message if isinstance(e, GateError) else str(e)
        return None, f"build route not determined: {message}"


def _advisories(
    runtime: Runtime,
    identity: OtpIdentity,
    status: VersionStatus | None,
    index: ReleaseIndex,
    advisories: tuple[Advisory, ...],
    backport_policy: BackportPolicy,
) -> tuple[Details, str | None]:
    from gate.knowledge.advisories import missed_fixes, summarize
    from gate.knowledge.distro_backports import apply_backports, find_backports

    try:
        findings = missed_fixes(identity, advisories, index)
        backports = find_backports(runtime.root)
    except (GateError, OSError) as e:
        message = e.message if isinstance(e, GateError) else str(e)
        return Details(), f"security advisories not judged: {message}"
    findings = apply_backports(findings, backports, backport_policy)
    target = status.latest_patch if status is not None else None
    notes: tuple[str, ...] = ()
    if backports is not None:
        notes = (
            f"{backports.distro} package {backports.package} {backports.version} backports "
            f"{len(backports.fixed_cves)} CVE fixes ({backports.source}); "
            f"distro-backports={backport_policy.value}",
        )
    return Details(
        advisories=findings, advisory_summary=summarize(findings, target), advisory_notes=notes
    ), None


def scan_runtime(
    tree: AcquiredTree,
    index: ReleaseIndex,
    today: date,
    options: ScanOptions = DEFAULT_OPTIONS,
    ahead: ReadAhead | None = None,
) -> Report:
    """Inspect the runtime and judge its version, with the build route, its fixes and the missed
    security fixes in `Report.details`. `ahead`: the tree already walked and read (`gate.inspection.ahead`)."""
    from gate.inspection.checks import judge_fortify_across_build
    from gate.inspection.runtime import load_runtime

    walk, known = ahead if ahead is not None else (None, None)
    runtime = load_runtime(tree, walk=walk)
    inspected = _inspect_all(runtime.files, known)
    files: list[FileReport] = []
    facts_by_path: dict[str, ElfFacts] = {}
    for f, (file_report, facts) in zip(runtime.files, inspected, strict=True):
        files.append(file_report)
        if facts is not None:
            facts_by_path[f.path] = facts
    files.extend(
        FileReport(rel, Role.OTHER, None, None, (), error=why) for rel, why in runtime.unreadable
    )
    # Fortify is judged per build, not only per file (a fortified build can leave a file plain).
    files = list(judge_fortify_across_build(files))

    identity = OtpIdentity(version=None, source="none")
    status = None
    beam = _emulator_first(runtime.files)
    beam_facts = facts_by_path.get(beam.path) if beam is not None else None
    if options.version:
        from gate.inspection.otp_version import identify
        from gate.knowledge.releases import version_status

        identity = identify(runtime, index, beam_facts.embedded_strings if beam_facts else ())
        # Several inferred candidates and no single answer: judge the oldest, so that an
        # ambiguity can never turn "behind" into a pass.
        judged = identity.version or (min(identity.candidates) if identity.candidates else None)
        status = version_status(judged, index, today)

    warnings = list(runtime.problems)
    details = Details()
    if options.advisories is not None and runtime.kind != RuntimeKind.FILES:
        details, problem = _advisories(
            runtime, identity, status, index, options.advisories, options.backports
        )
        if problem:
            warnings.append(problem)
    if options.explain:
        explanation, problem = _explain(runtime, files, identity, beam_facts, options)
        details = dataclasses.replace(details, explanation=explanation)
        if problem:
            warnings.append(problem)

    return Report(
        target=runtime.display_root,
        runtime_kind=runtime.kind,
        origin=runtime.origin,
        files=tuple(files),
        otp=identity,
        version_status=status,
        warnings=tuple(warnings),
        details=details,
    )


def _named_file_problem(path: Path) -> str | None:
    """Why a file named on the command line cannot be checked as ELF, or None when it can."""
    from gate.inspection.elf import is_elf

    try:
        if path.is_dir():
            return "is a directory (use: otp-gate scan)"
        if path.is_symlink() and not path.exists():
            return "a broken symbolic link (or a symlink loop)"
        if not path.exists():
            return "no such file"
        if not is_elf(path):
            return "not an ELF file (no ELF magic bytes)"
    except OSError as e:  # e.g. a name over 255 bytes (ENAMETOOLONG), a folder without +x
        return f"cannot read: {e.strerror or e}"
    return None


def scan_files(paths: Sequence[Path]) -> Report:
    """`otp-gate elf FILE...`: check loose ELF files, with no runtime or version context.

    A file that cannot be checked (missing, not ELF, corrupt) is a `FileReport` with `error` set
    and the others are still checked, so one bad file does not hide the report on the rest; the
    CLI exits 2 when any named file could not be checked.
    """
    if not paths:
        raise UsageError("no files given", hint="usage: otp-gate elf FILE...")
    # Each named file in order: its error report now, or the file to inspect (all at once, below).
    slots: list[FileReport | RuntimeFile] = []
    for path in paths:
        shown = str(path)
        problem = _named_file_problem(path)
        if problem is not None:
            slots.append(FileReport(shown, Role.STANDALONE, None, None, (), error=problem))
        else:
            slots.append(RuntimeFile(path=shown, abs_path=path, role=Role.STANDALONE))
    named = [s for s in slots if isinstance(s, RuntimeFile)]
    inspected = iter([report for report, _ in _inspect_all(named)])
    files = [next(inspected) if isinstance(s, RuntimeFile) else s for s in slots]
    return Report(
        target="files",
        runtime_kind=RuntimeKind.FILES,
        origin=Origin(method="files", description="ELF files named on the command line"),
        files=tuple(files),
        otp=OtpIdentity(version=None, source="none"),
        version_status=None,
    )
