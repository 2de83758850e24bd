"""A poisoned cache (issue 14): records of the wrong shape never crash a run; an invalid cached
copy is treated as absent, so the next source (network, then the bundled data) is used."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gate.clock import fixed_clock
from gate.errors import KnowledgeError
from gate.knowledge import github_source as gh
from gate.knowledge.advisories import parse_github_advisory, parse_openvex
from gate.knowledge.cache import FileCache
from gate.knowledge.fetch import FetchError, Origin, fetch_document

GOOD_ADVISORY: dict[str, Any] = {
    "ghsa_id": "GHSA-37cp-fgq5-7wc2",
    "cve_id": "CVE-2025-32433",
    "severity": "critical",
    "cvss": {"score": 10.0},
    "vulnerabilities": [
        {"package": {"name": "erlang/otp"}, "patched_versions": "OTP-27.3.3"},
    ],
}


def _gh_parse(data: bytes) -> tuple[Any, ...]:
    return tuple(parse_github_advisory(r) for r in gh.parse_advisory_records(data))


def _vex_parse(data: bytes) -> tuple[Any, ...]:
    return parse_openvex(json.loads(data), "otp-27.openvex.json", 27)


POISONINGS = [
    pytest.param(
        gh.parse_releases,
        [{"tag": "OTP-28.9.9", "published_at": "2026-13-45T00:00:00Z"}],
        id="bad-release-date",
    ),
    pytest.param(
        gh.parse_releases, [{"tag": "OTP-28.9.9", "published_at": 20261231}], id="date-a-number"
    ),
    pytest.param(_vex_parse, {"statements": [["not", "a", "dict"]]}, id="openvex-statement-list"),
    pytest.param(
        _vex_parse,
        {"statements": [{"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": [1]}]},
        id="openvex-product-int",
    ),
    pytest.param(_gh_parse, [{**GOOD_ADVISORY, "cvss": [9.8]}], id="cvss-list"),
    pytest.param(_gh_parse, [{**GOOD_ADVISORY, "vulnerabilities": ["x"]}], id="ghsa-vuln-str"),
    pytest.param(
        _gh_parse,
        [{**GOOD_ADVISORY, "vulnerabilities": [{"package": "erlang/otp"}]}],
        id="ghsa-package-str",
    ),
    pytest.param(_gh_parse, ["not a record"], id="ghsa-record-str"),
]


@pytest.mark.parametrize(("parse", "doc"), POISONINGS)
def test_a_record_of_the_wrong_shape_is_a_knowledge_error(parse: Any, doc: object) -> None:
    with pytest.raises(KnowledgeError):
        parse(json.dumps(doc).encode())


def test_good_records_still_parse() -> None:
    (adv,) = _gh_parse(json.dumps([GOOD_ADVISORY]).encode())
    assert adv.id == "CVE-2025-32433" and adv.score == 10.0
    (rel,) = gh.parse_releases(
        json.dumps([{"tag": "OTP-27.3.3", "published_at": "2025-04-16T12:00:00Z"}]).encode()
    )
    assert str(rel.version) == "27.3.3" and str(rel.released) == "2025-04-16"


class Clock:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(("parse", "doc"), POISONINGS)
def test_a_poisoned_cached_copy_is_treated_as_absent(
    tmp_path: Path, parse: Any, doc: object
) -> None:
    cache = FileCache(tmp_path / "cache", timedelta(hours=6), Clock())
    cache.put("k", "https://api.github.com/x", json.dumps(doc).encode())  # fresh, hash matches

    def offline() -> bytes:
        raise FetchError("network down", network=True)

    # Fresh but invalid: not used; the network fails; the stale path rejects it too: an error the
    # caller turns into "source failed, bundled data used", never a crash and never the poison.
    with pytest.raises(FetchError, match="network down"):
        fetch_document("k", "https://api.github.com/x", offline, parse, cache)


def test_a_poisoned_copy_is_replaced_by_a_good_download(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache", timedelta(hours=6), Clock())
    cache.put("k", "u", json.dumps([{**GOOD_ADVISORY, "cvss": [1]}]).encode())
    got = fetch_document("k", "u", lambda: json.dumps([GOOD_ADVISORY]).encode(), _gh_parse, cache)
    assert got.origin == Origin.LIVE and got.value[0].score == 10.0


# -- a cache written by someone else on the same runner user: content rules ----------------------

DEAD = "http://127.0.0.1:9"  # nothing listens: every source must come from the cache


TODAY = date(2026, 11, 29)


def _plant(cache_dir: Path, key: str, data: bytes) -> None:
    # Stamped by the run's clock (a pinned day), as the gate's own writes are.
    FileCache(cache_dir, timedelta(hours=6), fixed_clock(TODAY)).put(key, "planted", data)


def test_a_cached_copy_cannot_rewrite_history_or_list_releases_from_after_its_fetch(
    tmp_path: Path,
) -> None:
    from gate.knowledge.live import LiveOptions, load_index
    from gate.knowledge.snapshot import load_snapshot
    from gate.knowledge.tables import table_url
    from gate.model.otp import OtpVersion

    snap = load_snapshot()
    real = OtpVersion.parse("28.4.2")
    real_apps = snap.applications()[real]
    fake = OtpVersion.parse("28.9.9")
    cache = tmp_path / "cache"
    future = f"{TODAY + timedelta(days=30)}T00:00:00Z"
    _plant(
        cache,
        f"github:{DEAD}:releases",
        json.dumps(
            [
                {"tag": "OTP-28.4.2", "published_at": "2026-01-01T00:00:00Z"},
                {"tag": "OTP-28.9.8", "published_at": future},  # after the copy was made
            ]
        ).encode(),
    )
    # The table maps the runtime's real applications to a fake newest release and re-maps the
    # real release to something else, so that identification would pick the fake one.
    real_line = " ".join(str(a) for a in real_apps)
    table = f"OTP-28.9.9 : {real_line} # :\nOTP-28.4.2 : erts-99.0 # :\n"
    _plant(cache, f"table:{table_url(DEAD, 'master')}", table.encode())
    options = LiveOptions(
        cache_dir=cache,
        github_api_url=DEAD,
        raw_base_url=DEAD,
        builds_base_url=DEAD,
        timeout=0.5,
        use_openvex=False,
    )
    index = load_index(today=TODAY, options=options, snapshot=snap)
    versions = {r.version for r in index.releases()}
    assert OtpVersion.parse("28.9.8") not in versions  # published after the copy: dropped ...
    assert any("published after it was fetched" in w for w in index.warnings)  # ... and said
    assert index.applications()[real] == real_apps  # history stays the snapshot's
    assert fake in versions  # a new version may still be added (it then ties, see below)
    # Both now carry the runtime's application set: identification sees two candidates and
    # the gate judges the older one (scan.scan_runtime), so the fake cannot make it pass.
    same = [v for v, apps in index.applications().items() if set(apps) == set(real_apps)]
    assert real in same


@pytest.mark.parametrize(
    "parse", [gh.parse_releases, gh.parse_tags, _gh_parse], ids=["releases", "tags", "ghsa"]
)
def test_json_nested_past_the_parser_stack_is_invalid_not_a_crash(parse: Any) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(KnowledgeError, match="nested too deeply"):
        parse(deep)


def test_deeply_nested_openvex_is_invalid_not_a_crash() -> None:
    from gate.knowledge.live import _parse_vex

    with pytest.raises(KnowledgeError, match="nested too deeply"):
        _parse_vex(b"[" * 100_000 + b"]" * 100_000, "otp-27.openvex.json", 27)


def test_a_shared_writable_cache_is_named_in_the_release_data_notes(tmp_path: Path) -> None:
    from gate.knowledge.live import LiveOptions, load_index

    cache = tmp_path / "shared"
    _plant(cache, f"github:{DEAD}:releases", b'[{"tag": "OTP-25.9.9"}]')
    cache.chmod(0o777)
    options = LiveOptions(
        cache_dir=cache,
        github_api_url=DEAD,
        raw_base_url=DEAD,
        builds_base_url=DEAD,
        timeout=0.5,
        use_openvex=False,
    )
    index = load_index(today=TODAY, options=options)
    assert any("is not used" in w and str(cache) in w for w in index.warnings)
    assert not any(str(r.version) == "25.9.9" for r in index.releases())
