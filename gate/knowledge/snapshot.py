"""The release index bundled in the package, for offline runs and as the fallback of live data.

Three files in `gate/knowledge/data/` (provenance in `SNAPSHOT.md` there) are merged:
`otp_versions.table` (application sets), `builds.txt` (builds.hex.pm refs) and
`release_dates.txt` (dates the official Docker images moved to each version). The parsers are
public so that live sources can reuse them on fetched text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from operator import methodcaller
from types import MappingProxyType
from typing import NamedTuple

from gate.errors import KnowledgeError
from gate.knowledge import DATA_DIR
from gate.model.otp import AppVersion, DataProvenance, OtpVersion, Release

SNAPSHOT_SOURCE = "bundled snapshot"
TABLE_FILE = "otp_versions.table"
BUILDS_FILE = "builds.txt"
DATES_FILE = "release_dates.txt"

# An application token of the table: `erts-13.1.5`, `cosEvent-2.1.15`. The version starts at the
# first `-` followed by a digit, so names with underscores keep them.
_APP_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d[0-9A-Za-z.+~_-]*)$")
_SPLIT_APP = methodcaller("split", "-", 1)
_DATE_LINE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+(\S+)\s*$")


class TableLine(NamedTuple):
    """One line of `otp_versions.table`: the release, the apps it changed and all its apps."""

    version: OtpVersion
    changed: tuple[AppVersion, ...]
    applications: tuple[AppVersion, ...]


@dataclass(frozen=True)
class StaticReleaseIndex:
    """A `ReleaseIndex` over data already in memory (the snapshot, or parsed live data)."""

    provenance: DataProvenance
    release_list: tuple[Release, ...]
    application_sets: Mapping[OtpVersion, tuple[AppVersion, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    changed_sets: Mapping[OtpVersion, tuple[AppVersion, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def releases(self) -> tuple[Release, ...]:
        return self.release_list

    def applications(self) -> Mapping[OtpVersion, tuple[AppVersion, ...]]:
        return self.application_sets

    def changed_applications(self) -> Mapping[OtpVersion, tuple[AppVersion, ...]]:
        """The applications each release changed (left of `#` in the table)."""
        return self.changed_sets


def parse_app(token: str) -> AppVersion | None:
    """`ssh-4.15.2` -> AppVersion("ssh", "4.15.2"); None when the token is not `<name>-<vsn>`."""
    m = _APP_RE.match(token)
    return AppVersion(m.group(1), m.group(2)) if m else None


def parse_otp_versions_table(text: str, source: str = TABLE_FILE) -> tuple[TableLine, ...]:
    """Parse `OTP-<v> : <changed apps> # <unchanged apps> :` lines; blank lines are skipped.

    Raises `KnowledgeError` naming the source and line number on anything else, since a table we
    misread would silently give wrong version answers.
    """
    lines: list[TableLine] = []
    seen: dict[str, AppVersion] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        head, sep, rest = line.partition(":")
        version = OtpVersion.try_parse(head.strip())
        if not sep or version is None:
            raise KnowledgeError(
                f"{source}:{number}: expected 'OTP-<version> : <apps> # <apps> :', got {raw[:80]!r}",
                hint="the OTP versions table is damaged; reinstall the package or refresh the data",
            )
        # The line ends with a lone ':'; tolerate its absence.
        rest = rest.strip()
        if rest.endswith(":"):
            rest = rest[:-1]
        changed_text, _, unchanged_text = rest.partition("#")
        changed_tokens = changed_text.split()
        tokens = {*changed_tokens, *unchanged_text.split()}
        _parse_apps(tokens, source, number, seen)
        # Tokens are deduplicated, sorted and mapped as strings, in C: hashing or sorting ~20,000
        # AppVersion dataclasses in Python was most of the parse (start-up time, issue 12).
        # `name-version` strings sort by name, since `-` sorts before every character a name
        # may hold ([A-Za-z0-9_]).
        changed = tuple(map(seen.__getitem__, changed_tokens))
        apps = tuple(map(seen.__getitem__, sorted(tokens)))
        lines.append(TableLine(version, changed, apps))
    return tuple(lines)


def _parse_apps(tokens: set[str], source: str, number: int, seen: dict[str, AppVersion]) -> None:
    """Parse every token not yet in `seen` into it (most repeat on hundreds of lines).

    In C where it can be (`map`): ~2,600 tokens are new on the table's first lines, and a loop
    in Python made that most of the parse. A name holds no `-` ([A-Za-z0-9_]), so a valid
    token splits on its first one."""
    new = tokens.difference(seen)  # in C: the common case is nothing new
    if not new:
        return
    if not all(map(_APP_RE.match, new)):
        bad = min(t for t in new if not _APP_RE.match(t))
        raise KnowledgeError(
            f"{source}:{number}: {bad!r} is not an '<application>-<version>' entry",
            hint="the OTP versions table is damaged; reinstall the package or refresh the data",
        )
    seen.update(zip(new, map(AppVersion._make, map(_SPLIT_APP, new)), strict=True))


@dataclass(frozen=True)
class BuildEntry:
    """One line of builds.hex.pm's `builds.txt`: `<ref> <sha> <built_at> [<sha256>]`.

    `built_at` is when builds.hex.pm built the tarball, not when OTP released it: old versions were
    all rebuilt in April 2026, so it is never used as a release date.
    """

    ref: str
    version: OtpVersion | None  # None for branch refs such as `maint-28` or `master`
    git_sha: str
    built_at: datetime
    sha256: str | None  # older indexes have no fourth column; the prebuilt source requires it
    line: int = field(default=0, compare=False)  # where it stands in its file, for errors


def parse_builds_txt(text: str, source: str = BUILDS_FILE) -> tuple[BuildEntry, ...]:
    """Parse builds.txt; raises `KnowledgeError` naming the source and line on a malformed line.

    The one reader of the format: the bundled snapshot, the live index and the prebuilt source
    (which also requires each line's sha256 and a full git sha) all use it.
    """
    entries: list[BuildEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) not in (3, 4):
            raise KnowledgeError(
                f"{source}:{number}: expected '<ref> <sha> <built_at> [<sha256>]', got {raw[:80]!r}"
            )
        try:
            built = datetime.fromisoformat(fields[2].replace("Z", "+00:00"))
        except ValueError as e:
            raise KnowledgeError(f"{source}:{number}: bad date {fields[2]!r}") from e
        ref = fields[0]
        version = OtpVersion.try_parse(ref) if ref.startswith("OTP-") else None
        entries.append(
            BuildEntry(
                ref, version, fields[1], built, fields[3] if len(fields) == 4 else None, number
            )
        )
    return tuple(entries)


def parse_release_dates(text: str, source: str = DATES_FILE) -> dict[OtpVersion, date]:
    """Parse `YYYY-MM-DD <version>` lines (`== <major>` headers and blanks are skipped).

    A version listed twice keeps its earliest date: the first image that carried it.
    """
    dates: dict[OtpVersion, date] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("=="):
            continue
        m = _DATE_LINE_RE.match(line)
        version = OtpVersion.try_parse(m.group(2)) if m else None
        if m is None or version is None:
            raise KnowledgeError(
                f"{source}:{number}: expected 'YYYY-MM-DD <version>', got {raw[:80]!r}"
            )
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError as e:
            raise KnowledgeError(f"{source}:{number}: bad date {m.group(1)!r}") from e
        if version not in dates or day < dates[version]:
            dates[version] = day
    return dates


def merge_releases(
    table: Iterable[TableLine],
    builds: Iterable[BuildEntry],
    dates: Mapping[OtpVersion, date],
) -> tuple[Release, ...]:
    """Every version named by any source, with the release date where one is known."""
    versions: dict[OtpVersion, OtpVersion] = {}
    for v in [*(t.version for t in table), *(b.version for b in builds if b.version), *dates]:
        versions.setdefault(v, v)  # keep the first spelling of equal versions (28.5 == 28.5.0)
    return tuple(
        sorted((Release(v, dates.get(v)) for v in versions.values()), key=lambda r: r.version)
    )


def snapshot_as_of(builds: Iterable[BuildEntry], dates: Mapping[OtpVersion, date]) -> date:
    """The newest date anywhere in the data: the snapshot cannot know of anything after it.

    The table has no dates, so only builds.txt (`built_at`) and the release dates count.
    """
    days = [b.built_at.date() for b in builds] + list(dates.values())
    if not days:
        raise KnowledgeError("the bundled release data has no dates; cannot tell how old it is")
    return max(days)


def _read(name: str) -> str:
    try:
        return (DATA_DIR / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KnowledgeError(
            f"cannot read the bundled release data gate/knowledge/data/{name}: {e}",
            hint="reinstall otp-hardening-gate; the package data is missing or damaged",
        ) from e


@cache
def load_snapshot() -> StaticReleaseIndex:
    """The release index bundled with the package (cached: the data never changes at run time)."""
    table = parse_otp_versions_table(_read(TABLE_FILE))
    builds = parse_builds_txt(_read(BUILDS_FILE))
    dates = parse_release_dates(_read(DATES_FILE))
    releases = merge_releases(table, builds, dates)
    newest_in_table = max(t.version for t in table)
    newest = max(r.version for r in releases)
    provenance = DataProvenance(
        source=SNAPSHOT_SOURCE,
        as_of=snapshot_as_of(builds, dates),
        live=False,
        notes=(
            f"application sets from otp_versions.table up to OTP-{newest_in_table}; "
            f"newer releases (up to OTP-{newest}) are known from builds.txt and image history only",
            "release dates are the days the official erlang Docker images moved to each version",
        ),
    )
    return StaticReleaseIndex(
        provenance=provenance,
        release_list=releases,
        application_sets=MappingProxyType({t.version: t.applications for t in table}),
        changed_sets=MappingProxyType({t.version: t.changed for t in table}),
    )
