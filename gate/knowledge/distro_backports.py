"""CVE fixes a distro backported without changing OTP_VERSION, read from the package changelog.

Debian 12 ships OTP 25.2.3 and patches it (`1:25.2.3+dfsg-1+deb12u4` carries the fix for
CVE-2025-32433 and 13 others), so the upstream verdict alone overstates the risk and a blind trust
in the changelog would understate it. The `distro-backports` policy decides: `ignore` (default)
keeps the upstream verdict and lists the backports beside it; `trust` marks them not affected.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from gate.errors import KnowledgeError
from gate.knowledge.packages import CVE_RE, parse_debian_changelog
from gate.model.advisory import AdvisoryFinding, BackportInfo, FindingStatus
from gate.model.common import BackportPolicy

# A changelog bigger than this is not a changelog: refuse instead of reading it all (gzip bombs).
MAX_CHANGELOG_BYTES = 8 * 1024 * 1024
# Binary packages whose doc folder carries the `erlang` source package's changelog.
DEBIAN_DOC_PACKAGES = ("erlang-base", "erlang-base-hipe", "erlang-nox", "erlang-ssh")


def backports_for(
    text: str, version: str | None = None, source: str = "changelog", distro: str = "debian"
) -> BackportInfo:
    """The CVEs the changelog says are fixed in `version` (default: the newest entry) or earlier.

    A changelog lists newest first, so the entries from `version` down are what the package holds.
    """
    entries = parse_debian_changelog(text, source)
    start = 0
    if version is not None:
        found = [i for i, e in enumerate(entries) if e.version == version]
        if not found:
            raise KnowledgeError(f"{source}: no entry for version {version}")
        start = found[0]
    held = entries[start:]
    notes: list[str] = []
    if start:
        notes.append(f"{start} newer changelog entries ignored (the runtime is {held[0].version})")
    return BackportInfo(
        distro=distro,
        package=held[0].package,
        version=held[0].version,
        fixed_cves=tuple(sorted({c for e in held for c in e.cves})),
        source=source,
        notes=tuple(notes),
    )


def patch_list_cves(names: Iterable[str]) -> tuple[str, ...]:
    """CVE ids named by `debian/patches/` file names (corroborating evidence for the changelog)."""
    return tuple(sorted({c for n in names for c in CVE_RE.findall(n)}))


def _read_changelog(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read(MAX_CHANGELOG_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise KnowledgeError(f"{path}: cannot read the package changelog: {e}") from e
    if len(data) > MAX_CHANGELOG_BYTES:
        raise KnowledgeError(f"{path}: larger than {MAX_CHANGELOG_BYTES} bytes; not read")
    return data.decode("utf-8", errors="replace")


def find_backports(root: Path) -> BackportInfo | None:
    """Backport facts of a Debian/Ubuntu OTP tree (the unpacked packages or `/`), or None.

    `root` may be the tree's top or its `usr/lib/erlang`. A changelog that is a symlink leaving the
    tree is not followed: the scanned tree is untrusted data.
    """
    tops = [root]
    if root.parts[-3:] == ("usr", "lib", "erlang"):
        tops.append(root.parents[2])
    for top in tops:
        for pkg in DEBIAN_DOC_PACKAGES:
            for name in ("changelog.Debian.gz", "changelog.Debian"):
                path = top / "usr" / "share" / "doc" / pkg / name
                if not path.is_file():
                    continue
                real = path.resolve()
                if not real.is_relative_to(top.resolve()):
                    continue
                info = backports_for(_read_changelog(real), source=str(path.relative_to(top)))
                return info if info.package == "erlang" else None
    return None


def apply_backports(
    findings: Iterable[AdvisoryFinding], info: BackportInfo | None, policy: BackportPolicy
) -> tuple[AdvisoryFinding, ...]:
    """Mark findings the distro says it fixed; with `trust`, they no longer count as affected."""
    result = []
    fixed = set(info.fixed_cves) if info else set()
    for f in findings:
        if info is None or not ({f.advisory_id, *f.aliases} & fixed):
            result.append(f)
            continue
        f = replace(f, backported_in=f"{info.distro} {info.package} {info.version}")
        if policy is BackportPolicy.TRUST and f.status is FindingStatus.AFFECTED:
            f = replace(
                f,
                status=FindingStatus.NOT_AFFECTED,
                reason=f"fixed by the {info.distro} package {info.version} ({info.source}); "
                f"upstream verdict: {f.reason}",
            )
        result.append(f)
    return tuple(result)
