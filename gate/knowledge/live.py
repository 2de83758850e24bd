"""Live release and advisory data merged over the bundled snapshot, with per-source provenance.

Sources: GitHub releases and tags of erlang/otp (PyGithub), builds.hex.pm's builds.txt, the raw
`otp_versions.table` of master and the maint branches, and GitHub's repository advisories. Each goes
through the cache; a source that fails falls back to a stale cached copy, then to the snapshot, and
the index says so. `offline=True` reads the snapshot only. Data older than `max_age_days` yields a
warning: the gate never passes silently on old data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from gate.clock import Clock, fixed_clock
from gate.errors import KnowledgeError
from gate.knowledge import github_source as gh
from gate.knowledge.advisories import (
    load_bundled_advisories,
    merge_advisories,
    parse_github_advisory,
    parse_openvex,
)
from gate.knowledge.cache import DEFAULT_TTL, FileCache
from gate.knowledge.fetch import Fetched, FetchError, Origin, fetch_document, http_document
from gate.knowledge.hexpm import (
    DEFAULT_BUILDS_BASE,
    DEFAULT_BUILDS_TARGET,
    builds_url,
    parse_builds,
)
from gate.knowledge.interface import ReleaseIndex
from gate.knowledge.snapshot import SNAPSHOT_SOURCE
from gate.knowledge.tables import (
    DEFAULT_RAW_BASE,
    branches_for,
    merge_tables,
    parse_table,
    table_url,
)
from gate.model.advisory import Advisory
from gate.model.otp import AppVersion, DataProvenance, OtpVersion, Release
from gate.outside.cache import cache_root
from gate.outside.github import DEFAULT_API_URL, ListingOptions

if TYPE_CHECKING:
    from gate.knowledge.snapshot import BuildEntry, TableLine

T = TypeVar("T")

DEFAULT_MAX_AGE_DAYS = 30
SNAPSHOT = "snapshot"
_SKIPPED = "did not answer an earlier request"
FAILED = "failed"


@dataclass(frozen=True)
class LiveOptions:
    """Every knob of live data; the CLI and the action build one from their inputs."""

    offline: bool = False
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    cache_dir: Path | None = None  # None: `data` in the boundary's cache folder
    ttl: timedelta = DEFAULT_TTL
    github_api_url: str = DEFAULT_API_URL
    token: str | None = None
    raw_base_url: str = DEFAULT_RAW_BASE
    builds_base_url: str = DEFAULT_BUILDS_BASE
    builds_target: str = DEFAULT_BUILDS_TARGET
    timeout: float = 10.0
    use_tables: bool = True
    use_openvex: bool = True
    # The run's clock (gate.clock) for cache stamps and freshness; None: midnight UTC of `today`,
    # so a library caller that passes only `today` still gets one consistent clock.
    clock: Clock | None = None


@dataclass(frozen=True)
class SourceStatus:
    """What one source contributed: where from (`live`, `cache`, `stale-cache`, `failed`) and when."""

    name: str
    origin: str
    as_of: date | None
    url: str | None = None
    error: str | None = None

    def describe(self, today: date) -> str:
        age = f", {(today - self.as_of).days} days old" if self.as_of else ""
        if self.origin == FAILED:
            return f"{self.name}: unavailable ({self.error}); the bundled snapshot stands in"
        if self.origin == Origin.STALE_CACHE:
            return f"{self.name}: cached copy of {self.as_of}{age} (refresh failed: {self.error})"
        if self.origin == Origin.CACHE:
            return f"{self.name}: cached copy of {self.as_of}{age}"
        if self.origin == SNAPSHOT:
            return f"{self.name}: bundled snapshot as of {self.as_of}{age}"
        return f"{self.name}: fetched {self.as_of}"

    def trouble(self) -> str | None:
        """What went wrong with this source, or None when it answered (or was not asked)."""
        if self.origin == FAILED:
            return f"{self.name} unavailable: {self.error}"
        if self.origin == Origin.STALE_CACHE:
            return (
                f"{self.name}: using a cached copy of {self.as_of} (refresh failed: {self.error})"
            )
        return None


@dataclass(frozen=True)
class LiveIndex:
    """A `ReleaseIndex` over merged live and bundled data, with the status of every source."""

    provenance: DataProvenance
    release_list: tuple[Release, ...]
    application_sets: Mapping[OtpVersion, tuple[AppVersion, ...]]
    sources: tuple[SourceStatus, ...] = ()
    warnings: tuple[str, ...] = ()
    snapshot_as_of: date | None = None  # the bundled data's date, which fills in for failures
    # Hosts that did not answer: the advisories of the same run skip them instead of waiting again.
    dead_hosts: frozenset[str] = frozenset()

    def releases(self) -> tuple[Release, ...]:
        return self.release_list

    def applications(self) -> Mapping[OtpVersion, tuple[AppVersion, ...]]:
        return self.application_sets


@dataclass(frozen=True)
class AdvisorySet:
    """Advisories (bundled, plus GitHub's and OpenVEX when live) and where they came from."""

    advisories: tuple[Advisory, ...]
    sources: tuple[SourceStatus, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _snapshot() -> ReleaseIndex:
    # Imported late: the snapshot parses ~300 kB of tables, and tests inject their own index.
    from gate.knowledge.snapshot import load_snapshot

    return load_snapshot()


def _cache(opts: LiveOptions, environ: Mapping[str, str] | None, today: date) -> FileCache:
    clock = opts.clock or fixed_clock(today)
    directory = opts.cache_dir or cache_root(environ or {}) / "data"
    return FileCache(directory, opts.ttl, clock)


@dataclass
class _Fetching:
    """One run's fetching: the cache, the status of each source asked, and the hosts that did not
    answer (so the advisories of the same run can skip them)."""

    cache: FileCache
    dead_hosts: set[str] = field(default_factory=set)
    statuses: list[SourceStatus] = field(default_factory=list)

    def fetch(
        self,
        name: str,
        key: str,
        url: str,
        download: Callable[[], bytes],
        parse: Callable[[bytes], T],
    ) -> Fetched[T] | None:
        """Fetch one source, record its status; None when it failed (the caller falls back).

        A host that did not answer once is not asked again in this run (a black-holed network
        would otherwise cost one timeout per document); a cached copy can still stand in.
        """
        host = urlsplit(url).netloc
        if host in self.dead_hosts:

            def download() -> bytes:
                raise FetchError(f"{url}: skipped, {host} {_SKIPPED}", network=True)

        try:
            got = fetch_document(key, url, download, parse, self.cache)
        except KnowledgeError as e:
            if isinstance(e, FetchError) and e.network:
                self.dead_hosts.add(host)
            self.statuses.append(SourceStatus(name, FAILED, None, url, e.message))
            return None
        status = SourceStatus(name, got.origin.value, got.fetched_at.date(), got.url, got.error)
        self.statuses.append(status)
        return got

    def warnings(self) -> list[str]:
        return [w for s in self.statuses if (w := s.trouble()) is not None]


@dataclass(frozen=True)
class _Lists:
    """The three release listings of one run; None where a source failed."""

    releases: Fetched[tuple[Release, ...]] | None
    tags: Fetched[tuple[OtpVersion, ...]] | None
    builds: Fetched[tuple[BuildEntry, ...]] | None

    def answered(self) -> list[Fetched[Any]]:
        return [g for g in (self.releases, self.tags, self.builds) if g is not None]


def load_index(
    *,
    today: date,
    options: LiveOptions = LiveOptions(),  # frozen, so one shared default is safe
    snapshot: ReleaseIndex | None = None,
    environ: Mapping[str, str] | None = None,
) -> LiveIndex:
    """The release index for this run: live sources merged over the snapshot, or the snapshot.

    Never raises for network trouble: each failed source is named in `sources`, `warnings` and the
    provenance notes. Raises `KnowledgeError` only if the bundled snapshot itself is unreadable.
    """
    base = snapshot or _snapshot()
    if options.offline:
        return _offline_index(base)
    run = _Fetching(_cache(options, environ, today))
    # What a shared cache or a tampered copy made the gate ignore (issue 14): said in the notes.
    concerns = [t] if (t := run.cache.trust_problem()) else []
    lists = _fetch_lists(run, options)
    releases = _listed_releases(lists, base, concerns)
    apps: dict[OtpVersion, tuple[AppVersion, ...]] = dict(base.applications())
    if options.use_tables:
        _add_tables(run, options, releases, apps, base.applications())
    return _merged_index(base, run, lists, releases, apps, concerns, today)


def _offline_index(base: ReleaseIndex) -> LiveIndex:
    snap = base.provenance
    notes = (*snap.notes, "offline: live sources were not consulted")
    provenance = DataProvenance(snap.source, snap.as_of, False, notes)
    statuses = (SourceStatus("release data", SNAPSHOT, snap.as_of),)
    return LiveIndex(
        provenance, base.releases(), MappingProxyType(dict(base.applications())), statuses
    )


def _fetch_lists(run: _Fetching, opts: LiveOptions) -> _Lists:
    """GitHub's releases and tags of erlang/otp, and builds.hex.pm's builds.txt."""
    ghopts = ListingOptions(opts.github_api_url, opts.token, timeout=opts.timeout)
    api = opts.github_api_url.rstrip("/")
    repo = f"{api}/repos/{gh.OTP_REPO}"
    rel = run.fetch(
        "GitHub releases of erlang/otp",
        f"github:{api}:releases",
        f"{repo}/releases",
        lambda: gh.fetch_releases(ghopts),
        gh.parse_releases,
    )
    tags = run.fetch(
        "GitHub tags of erlang/otp",
        f"github:{api}:tags",
        f"{repo}/tags",
        lambda: gh.fetch_tags(ghopts),
        gh.parse_tags,
    )
    burl = builds_url(opts.builds_base_url, opts.builds_target)
    builds = run.fetch(
        "builds.hex.pm builds.txt",
        f"builds:{burl}",
        burl,
        lambda: http_document(burl, opts.timeout),
        lambda b: parse_builds(b, burl),
    )
    return _Lists(rel, tags, builds)


def _listed_releases(
    lists: _Lists, base: ReleaseIndex, concerns: list[str]
) -> dict[OtpVersion, Release]:
    """Dates: GitHub's publication date first; the snapshot's image dates fill the gaps.
    builds.txt only says a version exists (its `built_at` is a rebuild time)."""
    releases: dict[OtpVersion, Release] = {}
    for r in _published_by(lists.releases, concerns) if lists.releases else ():
        releases[r.version] = r
    _merge_snapshot_dates(releases, base.releases())
    for v in lists.tags.value if lists.tags else ():
        releases.setdefault(v, Release(v))
    for b in lists.builds.value if lists.builds else ():
        if b.version is not None:
            releases.setdefault(b.version, Release(b.version))
    return releases


def _add_tables(
    run: _Fetching,
    opts: LiveOptions,
    releases: dict[OtpVersion, Release],
    apps: dict[OtpVersion, tuple[AppVersion, ...]],
    history: Mapping[OtpVersion, tuple[AppVersion, ...]],
) -> None:
    """The `otp_versions.table` of each supported branch: application sets of new versions."""
    from gate.knowledge.releases import supported_lines

    tables = []
    for branch in branches_for(supported_lines(releases.values())):
        turl = table_url(opts.raw_base_url, branch)
        got = run.fetch(
            f"otp_versions.table ({branch})",
            f"table:{turl}",
            turl,
            lambda u=turl: http_document(u, opts.timeout),  # type: ignore[misc]
            lambda b, u=turl: parse_table(b, u),  # type: ignore[misc]
        )
        if got:
            tables.append(got.value)
    _merge_table_lines(apps, releases, merge_tables(*tables), history)


def _merged_index(
    base: ReleaseIndex,
    run: _Fetching,
    lists: _Lists,
    releases: dict[OtpVersion, Release],
    apps: dict[OtpVersion, tuple[AppVersion, ...]],
    concerns: list[str],
    today: date,
) -> LiveIndex:
    snap = base.provenance
    statuses = tuple(run.statuses)
    warnings = (*concerns, *run.warnings())
    described = (*(s.describe(today) for s in statuses), *concerns)
    dead = frozenset(run.dead_hosts)
    answered = lists.answered()
    if not answered:
        # The snapshot stands in for the release list: the answer is exactly the offline one
        # (same data, same provenance), and the failed sources are a notice, not a finding.
        provenance = DataProvenance(snap.source, snap.as_of, False, (*snap.notes, *described))
        return LiveIndex(
            provenance,
            base.releases(),
            MappingProxyType(apps),
            statuses,
            warnings,
            snap.as_of,
            dead,
        )
    # The release list is as current as its most recent source that answered; its age is judged
    # by the policy (`stale-data-days`), once.
    as_of = max(g.fetched_at.date() for g in answered)
    live = any(g.origin is not Origin.STALE_CACHE for g in answered)
    used = [s.name for s in statuses if s.origin != FAILED]
    source = " + ".join([*used, SNAPSHOT_SOURCE])
    notes = (*described, f"{SNAPSHOT_SOURCE} as of {snap.as_of}")
    provenance = DataProvenance(source, as_of, live, notes)
    ordered = tuple(sorted(releases.values(), key=lambda r: r.version))
    return LiveIndex(
        provenance, ordered, MappingProxyType(apps), statuses, warnings, snap.as_of, dead
    )


def fallback_notice(
    sources: Sequence[SourceStatus], snapshot_as_of: date, how_to_fix: str
) -> str | None:
    """One notice for every live source that failed or fell back to a cached copy, or None.

    It is a notice, not a finding: the bundled data stands in, so the answer is the offline one
    (issue 11); the notice says which sources failed, how old the stand-in is, and the fix.
    """
    failed = [s for s in sources if s.origin == FAILED]
    stale = [s for s in sources if s.origin == Origin.STALE_CACHE]
    if not failed and not stale:
        return None
    parts: list[str] = []
    if failed:
        names = ", ".join(s.name for s in failed)
        # A host that did not answer is asked once: the sources skipped after it add no news.
        errors = list(
            dict.fromkeys(s.error or "no reply" for s in failed if _SKIPPED not in (s.error or ""))
        )
        shown = "; ".join(errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
        parts.append(
            f"Live release data unavailable: {names} ({shown}). The bundled snapshot of "
            f"{snapshot_as_of} stands in for them."
        )
    if stale:
        copies = ", ".join(f"{s.name} ({s.as_of})" for s in stale)
        parts.append(f"Refresh failed, cached copies used: {copies}.")
    parts.append(how_to_fix)
    return " ".join(parts)


def _merge_snapshot_dates(releases: dict[OtpVersion, Release], snapshot: Sequence[Release]) -> None:
    """The snapshot's image dates fill the gaps in GitHub's. A snapshot date earlier than GitHub's
    wins: the snapshot saw the release shipped that day, so it cannot have been published later
    (a later date, from a tampered copy, would stretch grace-days; issue 14)."""
    for r in snapshot:
        known = releases.get(r.version)
        if known is None or (known.released is None and r.released is not None):
            releases[r.version] = Release(known.version if known else r.version, r.released)
        elif known.released is not None and r.released is not None and r.released < known.released:
            releases[r.version] = Release(known.version, r.released)


def _merge_table_lines(
    apps: dict[OtpVersion, tuple[AppVersion, ...]],
    releases: dict[OtpVersion, Release],
    lines: Sequence[TableLine],
    history: Mapping[OtpVersion, tuple[AppVersion, ...]],
) -> None:
    """Add the fetched table's versions. Released history never changes: for a version the
    snapshot knows, its application versions win, so a tampered table cannot re-map a runtime's
    applications to a fake newer release (identification would then see two candidates and judge
    the older one; issue 14)."""
    for line in lines:
        if line.version not in history:
            apps[line.version] = line.applications
        releases.setdefault(line.version, Release(line.version))


def _published_by(got: Fetched[tuple[Release, ...]], warnings: list[str]) -> list[Release]:
    """The releases of a GitHub listing that could exist when it was fetched.

    A copy (cached, possibly tampered with) cannot know a release published after the day it was
    fetched: such a release is dropped and named, never believed (issue 14).
    """
    limit = got.fetched_at.date() + timedelta(days=1)  # time zones: a day of slack
    kept = [r for r in got.value if r.released is None or r.released <= limit]
    dropped = [str(r.version) for r in got.value if r.released is not None and r.released > limit]
    if dropped:
        warnings.append(
            f"GitHub releases copy of {got.fetched_at.date()} lists releases published after it "
            f"was fetched ({', '.join(dropped[:5])}); ignored as tampered or corrupt"
        )
    return kept


def load_advisories(
    *,
    options: LiveOptions,
    today: date,
    lines: Sequence[int] = (),
    environ: Mapping[str, str] | None = None,
    dead_hosts: frozenset[str] = frozenset(),
) -> AdvisorySet:
    """Bundled advisories, plus erlang/otp's GitHub repository advisories and the OpenVEX files of
    `lines` when online. A failed source is a warning; the bundled set always remains.
    """
    bundled = load_bundled_advisories()
    if options.offline:
        return AdvisorySet(
            bundled,
            (SourceStatus("advisories", SNAPSHOT, None),),
            (),
            ("offline: bundled advisories only",),
        )
    run = _Fetching(_cache(options, environ, today), set(dead_hosts))
    ghopts = ListingOptions(options.github_api_url, options.token, timeout=options.timeout)
    api = options.github_api_url.rstrip("/")
    groups: list[tuple[Advisory, ...]] = [bundled]
    got = run.fetch(
        "GitHub repository advisories of erlang/otp",
        f"github:{api}:advisories",
        f"{api}/repos/{gh.OTP_REPO}/security-advisories",
        lambda: gh.fetch_advisories(ghopts),
        _parse_gh_advisories,
    )
    if got:
        groups.append(got.value)
    if options.use_openvex:
        for n in sorted(set(lines), reverse=True):
            url = f"{options.raw_base_url.rstrip('/')}/master/vex/otp-{n}.openvex.json"
            vex = run.fetch(
                f"OpenVEX otp-{n}",
                f"vex:{url}",
                url,
                lambda u=url: http_document(u, options.timeout),  # type: ignore[misc]
                lambda b, u=url, n=n: _parse_vex(b, u, n),  # type: ignore[misc]
            )
            if vex:
                groups.append(vex.value)
    statuses = tuple(run.statuses)
    notes = tuple(s.describe(today) for s in statuses)
    return AdvisorySet(merge_advisories(*groups), statuses, tuple(run.warnings()), notes)


def _parse_gh_advisories(data: bytes) -> tuple[Advisory, ...]:
    return tuple(
        parse_github_advisory(r, "GitHub advisories") for r in gh.parse_advisory_records(data)
    )


def _parse_vex(data: bytes, url: str, line: int) -> tuple[Advisory, ...]:
    import json

    try:
        doc: Any = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise KnowledgeError(f"{url}: not JSON ({e})") from e
    except RecursionError:  # nested past the parser's stack: a damaged or hostile copy
        raise KnowledgeError(f"{url}: JSON nested too deeply to be an OpenVEX document") from None
    if not isinstance(doc, dict):
        raise KnowledgeError(f"{url}: not an OpenVEX document")
    return parse_openvex(doc, url, line)
