"""Live release and advisory data against a local server shaped like GitHub, builds.hex.pm and
raw.githubusercontent.com: healthy, cached, slow, failing and malformed replies."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from gate.knowledge.advisories import missed_fixes
from gate.knowledge.live import FAILED, LiveOptions, load_advisories, load_index
from gate.knowledge.releases import version_status
from gate.knowledge.snapshot import load_snapshot
from gate.model.advisory import AdvisorySeverity, FindingStatus
from gate.model.otp import OtpIdentity, OtpVersion
from tests.support.fake_http import FakeServer, Request, Response

DATA = resources.files("gate.knowledge").joinpath("data")
TODAY = date(2026, 11, 29)
NEW = "OTP-29.1"  # a release newer than the bundled snapshot, known only to the live sources
NEW_TABLE_LINE = (
    "OTP-29.1 : erts-17.1 ssh-6.1 # asn1-5.5 compiler-10.0 crypto-6.0 inets-10.0 kernel-11.0 "
    "public_key-1.21.5 ssl-11.8 stdlib-8.1 :"
)
ADVISORY = {
    "ghsa_id": "GHSA-37cp-fgq5-7wc2",
    "cve_id": "CVE-2025-32433",
    "summary": "Unauthenticated Remote Code Execution in Erlang/OTP SSH",
    "severity": "critical",
    "published_at": "2025-04-16T12:00:00Z",
    "html_url": "https://github.com/erlang/otp/security/advisories/GHSA-37cp-fgq5-7wc2",
    "cvss": {"score": 10.0},
    "vulnerabilities": [
        {
            "package": {"ecosystem": "other", "name": "erlang/otp"},
            "vulnerable_version_range": "<= OTP-27.3.2",
            "patched_versions": "OTP-27.3.3, OTP-26.2.5.11, OTP-25.3.2.20",
        }
    ],
}


def _release_items() -> list[dict[str, object]]:
    lines = DATA.joinpath("release_dates.txt").read_text(encoding="utf-8").splitlines()
    items: list[dict[str, object]] = [
        {
            "id": 1,
            "tag_name": NEW,
            "published_at": "2026-11-20T10:00:00Z",
            "draft": False,
            "prerelease": False,
        },
        {"id": 2, "tag_name": "OTP-29.2", "published_at": None, "draft": True, "prerelease": False},
    ]
    for n, line in enumerate(lines, start=3):
        m = re.match(r"(\d{4}-\d\d-\d\d) (\S+)$", line.strip())
        if m:
            items.append(
                {
                    "id": n,
                    "tag_name": f"OTP-{m[2]}",
                    # GitHub's dates differ from the image dates: a day earlier, to tell them apart.
                    "published_at": f"{date.fromisoformat(m[1]) - timedelta(days=1)}T09:00:00Z",
                    "draft": False,
                    "prerelease": "rc" in m[2],
                }
            )
    return items


class Internet:
    """One FakeServer playing GitHub's API, builds.hex.pm and raw.githubusercontent.com."""

    def __init__(self, srv: FakeServer) -> None:
        self.srv = srv
        self.releases = _release_items()
        table = DATA.joinpath("otp_versions.table").read_text(encoding="utf-8")
        builds = DATA.joinpath("builds.txt").read_text(encoding="utf-8")
        builds += f"{NEW} {'a' * 40} 2026-11-20T12:00:00Z {'b' * 64}\n"
        srv.route("GET", r"/api/repos/erlang/otp/releases", self._releases)
        srv.route(
            "GET",
            r"/api/repos/erlang/otp/tags",
            Response(200, [{"name": NEW}, {"name": "OTP-28.4.2"}, {"name": "nightly"}]),
        )
        srv.route("GET", r"/api/repos/erlang/otp/security-advisories", Response(200, [ADVISORY]))
        srv.route("GET", r"/builds/otp/amd64/ubuntu-24\.04/builds\.txt", Response(200, builds))
        srv.route("GET", r"/raw/erlang/otp/master/otp_versions\.table", Response(200, table))
        srv.route(
            "GET",
            r"/raw/erlang/otp/maint-29/otp_versions\.table",
            Response(200, NEW_TABLE_LINE + "\n"),
        )
        srv.route("GET", r"/raw/erlang/otp/maint-2[78]/otp_versions\.table", Response(200, table))
        srv.route(
            "GET",
            r"/raw/erlang/otp/master/vex/otp-\d+\.openvex\.json",
            Response(200, {"statements": []}),
        )

    def _releases(self, req: Request, _m: re.Match[str]) -> Response:
        # Two pages joined by a Link header, as GitHub paginates.
        page = int(req.query.get("page", ["1"])[0])
        half = len(self.releases) // 2
        if page == 1:
            link = f'<{self.srv.url}/api/repos/erlang/otp/releases?per_page=100&page=2>; rel="next"'
            return Response(200, self.releases[:half], {"Link": link})
        return Response(200, self.releases[half:])

    def options(self, cache: Path, **kw: object) -> LiveOptions:
        base = LiveOptions(
            cache_dir=cache,
            github_api_url=f"{self.srv.url}/api",
            raw_base_url=f"{self.srv.url}/raw/erlang/otp",
            builds_base_url=self.srv.url,
            timeout=1.0,
        )
        return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture
def net() -> Iterator[Internet]:
    with FakeServer() as srv:
        yield Internet(srv)


def test_healthy_sources_merge_over_the_snapshot(net: Internet, tmp_path: Path) -> None:
    index = load_index(today=TODAY, options=net.options(tmp_path, token="t0ken"))
    assert index.warnings == ()
    assert {s.origin for s in index.sources} == {"live"}
    assert len(index.sources) == 7  # releases, tags, builds, master + maint-29/28/27 tables
    by_version = {r.version: r for r in index.releases()}
    new = OtpVersion.parse("29.1")
    assert by_version[new].released == date(2026, 11, 20)
    assert OtpVersion.parse("29.2") not in by_version  # drafts are not releases
    # GitHub's publication date wins over the snapshot's image date.
    assert by_version[OtpVersion.parse("29.0.4")].released == date(2026, 7, 27)
    assert {a.name: a.version for a in index.applications()[new]}["ssh"] == "6.1"
    assert index.provenance.live and index.provenance.as_of == TODAY  # the one clock: `today`
    # Both pages were read, with the token.
    pages = net.srv.requests_to("GET", r"/api/repos/erlang/otp/releases")
    assert [p.query.get("page") for p in pages] == [None, ["2"]]
    assert all(p.headers.get("authorization") == "token t0ken" for p in pages)
    status = version_status(OtpVersion.parse("29.0.4"), index, TODAY)
    assert status.latest_patch == new and status.patches_behind == 1


def test_unauthenticated_and_cached(net: Internet, tmp_path: Path) -> None:
    load_index(today=TODAY, options=net.options(tmp_path))
    assert all("authorization" not in r.headers for r in net.srv.requests)
    before = len(net.srv.requests)
    again = load_index(today=TODAY, options=net.options(tmp_path))
    assert len(net.srv.requests) == before  # within the TTL: no request at all
    assert {s.origin for s in again.sources} == {"cache"}
    assert OtpVersion.parse("29.1") in {r.version for r in again.releases()}


def test_failing_github_falls_back_and_says_so(net: Internet, tmp_path: Path) -> None:
    net.srv.route("GET", r"/api/repos/erlang/otp/.*", Response(500, {"message": "Server Error"}))
    index = load_index(today=TODAY, options=net.options(tmp_path))
    failed = [s for s in index.sources if s.origin == FAILED]
    assert [s.name for s in failed] == [
        "GitHub releases of erlang/otp",
        "GitHub tags of erlang/otp",
    ]
    assert all("HTTP 500" in (s.error or "") for s in failed)
    assert any("GitHub releases of erlang/otp unavailable" in w for w in index.warnings)
    assert any("unavailable" in n for n in index.provenance.notes)
    # builds.txt still answered: the new release is known, dated by nothing (built_at is no date).
    by_version = {r.version: r for r in index.releases()}
    assert by_version[OtpVersion.parse("29.1")].released is None
    assert by_version[OtpVersion.parse("29.0.4")].released == date(
        2026, 7, 28
    )  # the snapshot's date
    # 500s are retried once, boundedly.
    assert len(net.srv.requests_to("GET", r"/api/repos/erlang/otp/releases")) == 2


def test_a_slow_host_times_out_once_then_is_skipped(net: Internet, tmp_path: Path) -> None:
    # Here every source lives on one host (the test server): after one timeout, the others are
    # not asked, so a black-holed network costs one timeout, not seven.
    net.srv.route("GET", r"/api/repos/erlang/otp/releases", Response(200, "too late", delay=3.0))
    start = time.monotonic()
    index = load_index(today=TODAY, options=net.options(tmp_path))
    assert time.monotonic() - start < 4.5  # one 1 s timeout (+ imports), not several
    errors = {s.name: s.error or "" for s in index.sources if s.origin == FAILED}
    assert "timed out after 1s" in errors["GitHub releases of erlang/otp"]
    assert "did not answer an earlier request" in errors["builds.hex.pm builds.txt"]
    assert net.srv.requests_to("GET", r"/builds/.*") == []
    assert index.releases() == load_snapshot().releases()  # the snapshot stands in
    # The snapshot stands in with its own provenance: the answer is the offline one (issue 11).
    assert index.provenance.source == load_snapshot().provenance.source
    assert index.provenance.as_of == load_snapshot().provenance.as_of


def test_a_slow_download_over_urllib_times_out(net: Internet, tmp_path: Path) -> None:
    net.srv.route("GET", r"/builds/.*", Response(200, "too late", delay=3.0))
    start = time.monotonic()
    index = load_index(today=TODAY, options=net.options(tmp_path, use_tables=False))
    assert time.monotonic() - start < 4.5  # one 1 s timeout (+ imports), not several
    errors = {s.name: s.error or "" for s in index.sources if s.origin == FAILED}
    assert (
        list(errors) == ["builds.hex.pm builds.txt"]
        and "timed out" in errors["builds.hex.pm builds.txt"]
    )
    assert OtpVersion.parse("29.1") in {r.version for r in index.releases()}  # GitHub answered


def test_malformed_replies_are_rejected_and_never_cached(net: Internet, tmp_path: Path) -> None:
    net.srv.route(
        "GET", r"/api/repos/erlang/otp/releases", Response(200, "<html>proxy login</html>")
    )
    net.srv.route("GET", r"/api/repos/erlang/otp/tags", Response(200, {"unexpected": "object"}))
    net.srv.route("GET", r"/builds/.*", Response(200, "<html>\n<body>oops</body>\n</html>\n"))
    net.srv.route(
        "GET", r"/raw/erlang/otp/master/otp_versions\.table", Response(200, "garbage line\n")
    )
    index = load_index(today=TODAY, options=net.options(tmp_path))
    errors = {s.name: s.error or "" for s in index.sources if s.origin == FAILED}
    assert "malformed reply" in errors["GitHub releases of erlang/otp"]
    assert "malformed reply" in errors["GitHub tags of erlang/otp"]
    assert "builds.txt" in errors["builds.hex.pm builds.txt"]
    assert ":1:" in errors["otp_versions.table (master)"]
    # The snapshot stands in with its own provenance: the answer is the offline one (issue 11).
    assert index.provenance.source == load_snapshot().provenance.source
    assert index.provenance.as_of == load_snapshot().provenance.as_of
    assert index.provenance.as_of == load_snapshot().provenance.as_of and not index.provenance.live
    # Nothing malformed was cached: a healthy server now gives live data.
    Internet(net.srv)  # the healthy routes again
    index2 = load_index(today=TODAY, options=net.options(tmp_path))
    origins = {s.name: s.origin for s in index2.sources}
    assert {origins[name] for name in errors} == {"live"}
    assert origins["otp_versions.table (maint-28)"] == "cache"  # it was good the first time


def test_stale_cache_is_used_when_the_network_fails(net: Internet, tmp_path: Path) -> None:
    load_index(today=TODAY, options=net.options(tmp_path))
    net.srv.route("GET", r".*", Response(503, "down"))
    index = load_index(
        today=TODAY + timedelta(days=40), options=net.options(tmp_path, ttl=timedelta(0))
    )
    assert {s.origin for s in index.sources} == {"stale-cache"}
    assert OtpVersion.parse("29.1") in {r.version for r in index.releases()}
    assert any("using a cached copy" in w and "HTTP 503" in w for w in index.warnings)
    # 40 days old: judged by the policy's stale-data finding
    assert (TODAY + timedelta(days=40) - index.provenance.as_of).days == 40
    assert not index.provenance.live


def test_offline_uses_the_snapshot_only(net: Internet, tmp_path: Path) -> None:
    snap = load_snapshot().provenance
    index = load_index(
        today=snap.as_of + timedelta(days=5), options=net.options(tmp_path, offline=True)
    )
    assert net.srv.requests == []
    assert index.releases() == load_snapshot().releases()
    assert index.warnings == ()
    assert "offline: live sources were not consulted" in index.provenance.notes
    old = load_index(
        today=snap.as_of + timedelta(days=31),
        options=LiveOptions(offline=True, max_age_days=30, cache_dir=tmp_path),
    )
    # The data's age is judged once, by the policy (`stale-data`), not warned about here too.
    assert old.warnings == () and old.provenance.as_of == snap.as_of


def test_live_github_advisory_merges_with_the_bundle(net: Internet, tmp_path: Path) -> None:
    adv = load_advisories(options=net.options(tmp_path), today=TODAY, lines=(29, 28, 27))
    assert adv.warnings == ()
    rce = next(a for a in adv.advisories if a.id == "CVE-2025-32433")
    assert "github-advisory" in rce.sources and rce.severity is AdvisorySeverity.CRITICAL
    assert len(net.srv.requests_to("GET", r"/raw/erlang/otp/master/vex/.*")) == 3
    identity = OtpIdentity(OtpVersion.parse("27.3.2"), "OTP_VERSION")
    (finding,) = [f for f in missed_fixes(identity, [rce], load_snapshot())]
    assert finding.status is FindingStatus.AFFECTED and finding.fixed_otp == "27.3.3"


def test_advisory_source_failure_keeps_the_bundle(net: Internet, tmp_path: Path) -> None:
    net.srv.route(
        "GET", r"/api/repos/erlang/otp/security-advisories", Response(404, {"message": "Not Found"})
    )
    net.srv.route("GET", r"/raw/erlang/otp/master/vex/.*", Response(200, "not json"))
    adv = load_advisories(options=net.options(tmp_path), today=TODAY, lines=(28,))
    assert any(
        "repository advisories of erlang/otp unavailable" in w and "HTTP 404" in w
        for w in adv.warnings
    )
    assert any("OpenVEX otp-28 unavailable" in w for w in adv.warnings)
    assert len(adv.advisories) == 38


def test_host_gone_uses_stale_copies_then_the_snapshot(tmp_path: Path) -> None:
    with FakeServer() as srv:
        opts = Internet(srv).options(tmp_path, ttl=timedelta(0))
        load_index(today=TODAY, options=opts)
    # The server is gone: nothing listens on its port any more.
    index = load_index(today=TODAY, options=opts)
    assert {s.origin for s in index.sources} == {"stale-cache"}
    assert any("unreachable" in (s.error or "") for s in index.sources)
    assert OtpVersion.parse("29.1") in {r.version for r in index.releases()}
    empty = load_index(today=TODAY, options=replace(opts, cache_dir=tmp_path / "empty"))
    assert {s.origin for s in empty.sources} == {FAILED}
    assert empty.releases() == load_snapshot().releases()


def test_an_injected_clock_stamps_and_ages_the_cache(net: Internet, tmp_path: Path) -> None:
    # The cache reads the run's clock, never the wall clock: a stamp from "the future" of the
    # scan's `today` could otherwise make a fresh copy look stale or a stale one fresh (issue 9).
    moment = datetime(2031, 2, 3, 4, 5, tzinfo=UTC)
    opts = net.options(tmp_path, clock=lambda: moment)
    load_index(today=moment.date(), options=opts)
    stamps = {json.loads(p.read_text())["fetched_at"] for p in tmp_path.glob("*.json")}
    assert stamps == {moment.isoformat()}
    net.srv.route("GET", r".*", Response(503, "down"))
    later = moment + timedelta(hours=5)  # within the 6 h TTL: served from the cache, no request
    before = len(net.srv.requests)
    index = load_index(today=later.date(), options=replace(opts, clock=lambda: later))
    assert {s.origin for s in index.sources} == {"cache"}
    assert len(net.srv.requests) == before


def test_main_stamps_the_cache_with_otp_gate_today(net: Internet, tmp_path: Path) -> None:
    # The scenario of issue 9 through `main`: the cache and the data age both follow OTP_GATE_TODAY.
    from gate.cli import main

    root = tmp_path / "otp"
    (root / "erts-13.1.5" / "bin").mkdir(parents=True)
    (root / "releases" / "25").mkdir(parents=True)
    (root / "releases" / "25" / "OTP_VERSION").write_text("25.2.3\n")
    env = {
        "HOME": str(tmp_path / "home"),
        "OTP_GATE_CACHE": str(tmp_path / "cache"),
        "OTP_GATE_GITHUB_API_URL": f"{net.srv.url}/api",
        "OTP_GATE_RAW_BASE_URL": f"{net.srv.url}/raw/erlang/otp",
        "OTP_GATE_BUILDS_BASE_URL": net.srv.url,
        "OTP_GATE_TODAY": "2031-02-03",
    }
    out = tmp_path / "report.json"
    main(["scan", str(root), "--format", "json", "--output", str(out)], env)
    stamps = {json.loads(p.read_text())["fetched_at"] for p in (tmp_path / "cache").rglob("*.json")}
    assert stamps == {"2031-02-03T00:00:00+00:00"}
    net.srv.route("GET", r".*", Response(503, "down"))
    env["OTP_GATE_TODAY"] = "2031-03-15"
    main(["scan", str(root), "--format", "json", "--output", str(out)], env)
    assert "40 days old" in out.read_text()


def test_advisories_skip_a_host_the_release_index_found_dead(net: Internet, tmp_path: Path) -> None:
    # One black-holed host costs one timeout per run, not one for the index and one for the
    # advisories (issue 11: a bad network must stay cheap).
    net.srv.route("GET", r"/api/repos/erlang/otp/.*", Response(200, "too late", delay=3.0))
    opts = net.options(tmp_path)
    index = load_index(today=TODAY, options=opts)
    assert index.dead_hosts
    start = time.monotonic()
    adv = load_advisories(options=opts, today=TODAY, lines=(28,), dead_hosts=index.dead_hosts)
    assert time.monotonic() - start < 1.0
    errors = {s.name: s.error or "" for s in adv.sources}
    assert (
        "did not answer an earlier request" in errors["GitHub repository advisories of erlang/otp"]
    )
