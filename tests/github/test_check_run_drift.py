"""Check runs (50 annotations per request) and the drift tracking issue, against the fake GitHub API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gate.github.check_run import BATCH, publish_check_run
from gate.github.drift import LABEL, MARKER, DriftAction, gaps, sync
from gate.model.otp import OtpVersion
from gate.model.pin import Pin, PinJudgement, PinKind, PinStatus
from gate.outside.github import GitHubApiError, GitHubClient
from gate.report.annotations import Annotation
from tests.github.fake_github import HUMAN, FakeGitHub
from tests.github.reports import make_report
from tests.support.fake_http import Response

SHA = "d" * 40


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def client(gh: FakeGitHub) -> GitHubClient:
    return GitHubClient("ghs_test", gh.repo, api_url=gh.url, seconds_between_writes=0)


def notes(n: int, with_file: bool = True) -> list[Annotation]:
    return [
        Annotation(
            "error" if i % 2 else "warning",
            f"t{i}",
            f"m{i}",
            "Dockerfile" if with_file else None,
            i + 1 if with_file else None,
        )
        for i in range(n)
    ]


def test_check_run_sends_annotations_fifty_per_request(gh: FakeGitHub) -> None:
    run = publish_check_run(
        client(gh), "otp-hardening-gate", SHA, False, "## fails", notes(120), "https://x/runs/1"
    )
    [create] = gh.requests_to("POST", r"/repos/acme/app/check-runs")
    updates = gh.requests_to("PATCH", rf"/repos/acme/app/check-runs/{run.id}")
    body = create.json()
    assert (
        body["head_sha"] == SHA
        and body["conclusion"] == "failure"
        and body["status"] == "completed"
    )
    assert body["details_url"] == "https://x/runs/1"
    assert [len(r.json()["output"]["annotations"]) for r in [create, *updates]] == [50, 50, 20]
    assert all(len(r.json()["output"]["annotations"]) <= BATCH for r in [create, *updates])
    stored = gh.check_runs[run.id]["annotations"]
    assert (
        len(stored) == 120
        and stored[0]["annotation_level"] == "warning"
        and stored[1]["annotation_level"] == "failure"
    )


def test_check_run_passes_and_skips_fileless_annotations(gh: FakeGitHub) -> None:
    run = publish_check_run(
        client(gh), "otp-hardening-gate", SHA, True, "ok", notes(3, with_file=False)
    )
    data = gh.requests_to("POST", r".*/check-runs")[0].json()
    assert data["conclusion"] == "success" and data["output"]["annotations"] == []
    assert gh.requests_to("PATCH", r".*") == [] and run.id in gh.check_runs


def test_check_run_summary_is_cut_to_the_api_limit(gh: FakeGitHub) -> None:
    publish_check_run(client(gh), "g", SHA, False, "x\n" * 50_000, [])
    assert len(gh.requests_to("POST", r".*/check-runs")[0].json()["output"]["summary"]) <= 65535


def test_check_run_without_permission_is_403(gh: FakeGitHub) -> None:
    gh.fail(
        "POST",
        r".*/check-runs",
        Response(403, {"message": "Resource not accessible by integration"}),
    )
    with pytest.raises(GitHubApiError) as e:
        publish_check_run(client(gh), "g", SHA, False, "s", [])
    assert e.value.forbidden


BEHIND = make_report("25.2.3", "25.3.2.21", supported=False)
CURRENT = make_report("27.3.4.1", "27.3.4.1", supported=True)


def _judged(
    version: str, exact: bool, status: PinStatus, path: str = ".tool-versions"
) -> PinJudgement:
    pin = Pin(path, 1, version, exact, PinKind.TOOL_VERSIONS)
    latest = (
        OtpVersion.parse("25.3.2.21") if version.startswith("25") else OtpVersion.parse("27.3.4.1")
    )
    return PinJudgement(pin, status, OtpVersion.try_parse(version), latest, 3, (29, 28, 27))


def test_gaps_lists_runtime_and_exact_pins_only() -> None:
    pins = [
        _judged("25.2.3", True, PinStatus.UNSUPPORTED),
        _judged("25", False, PinStatus.UNSUPPORTED, "ci.yml"),
    ]
    found = gaps([BEHIND], pins)
    assert any("25.2.3" in g and "no longer a supported line" in g for g in found)
    assert any(".tool-versions" in g and "line 1" in g and "unsupported" in g for g in found)
    assert not any("ci.yml" in g for g in found)
    assert gaps([CURRENT], [_judged("27.3.4.1", True, PinStatus.CURRENT)]) == []


def test_drift_issue_lists_every_pin_and_closes_when_all_are_current(gh: FakeGitHub) -> None:
    c = client(gh)
    behind = _judged("27.3.3", True, PinStatus.BEHIND)
    floating = _judged("27", False, PinStatus.CURRENT, "ci.yml")
    assert sync(c, [CURRENT], [behind, floating], None).action == DriftAction.OPENED
    [issue] = gh.issues.values()
    assert "| `.tool-versions` | 1 | exact | 27.3.3 |" in issue["body"]
    assert "| `ci.yml` | 1 | floating |" in issue["body"]  # listed, never a gap
    assert "27.3.4.1, the newest patch" in issue["body"]  # the runtime is listed too
    # Without a runtime (acquisition failed) the issue is never closed on missing evidence.
    current = _judged("27.3.4.1", True, PinStatus.CURRENT)
    assert sync(c, [], [current], None).action == DriftAction.UNCHANGED
    assert sync(c, [CURRENT], [current, floating], None).action == DriftAction.CLOSED
    assert issue["state"] == "closed"


def test_drift_opens_updates_then_closes_one_issue(gh: FakeGitHub) -> None:
    c = client(gh)
    opened = sync(c, [BEHIND], [], "https://github.com/acme/app/actions/runs/1")
    assert opened.action == DriftAction.OPENED
    [issue] = gh.issues.values()
    assert (
        issue["labels"][0]["name"] == LABEL and MARKER in issue["body"] and issue["state"] == "open"
    )
    assert [r.json()["labels"] for r in gh.requests_to("POST", r"/repos/acme/app/issues")] == [
        [LABEL]
    ]

    again = sync(c, [BEHIND], [], "https://github.com/acme/app/actions/runs/1")
    assert again.action == DriftAction.UNCHANGED and len(gh.issues) == 1

    later = sync(c, [BEHIND], [], "https://github.com/acme/app/actions/runs/2")
    assert later.action == DriftAction.UPDATED and "runs/2" in issue["body"] and len(gh.issues) == 1

    closed = sync(c, [CURRENT], [], "https://github.com/acme/app/actions/runs/3")
    assert closed.action == DriftAction.CLOSED and closed.number == issue["number"]
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    [comment] = gh.comments[issue["number"]]
    assert comment["body"].startswith("The gap is gone")

    assert sync(c, [CURRENT], [], None).action == DriftAction.NONE
    assert len(gh.issues) == 1


def test_drift_ignores_issues_without_marker_or_by_humans(gh: FakeGitHub) -> None:
    gh.add_issue("Upgrade OTP", "please", [LABEL])  # our label, no marker
    gh.add_issue("quoted", f"{MARKER} copied", [LABEL], user=HUMAN)  # a human's
    gh.add_issue("a PR", MARKER, [LABEL], pull_request=True)  # the issues API lists PRs too
    result = sync(client(gh), [BEHIND], [], None)
    assert result.action == DriftAction.OPENED and result.number == 4
    assert [i["state"] for i in gh.issues.values()] == ["open", "open", "open", "open"]


def test_drift_folds_a_duplicate_into_the_oldest(gh: FakeGitHub) -> None:
    first = gh.add_issue("t", f"{MARKER}\nold", [LABEL])
    second = gh.add_issue("t", f"{MARKER}\nolder race", [LABEL])
    result = sync(client(gh), [BEHIND], [], None)
    assert result.number == first["number"] and result.action == DriftAction.UPDATED
    assert second["state"] == "closed" and first["state"] == "open"
    assert gh.comments[second["number"]][0]["body"] == f"Duplicate of #{first['number']}. Closing."


def test_drift_issues_listing_is_paginated(gh: FakeGitHub) -> None:
    gh.per_page_cap = 5
    for i in range(12):
        gh.add_issue(f"other {i}", "", [LABEL])
    ours = gh.add_issue("t", f"{MARKER}\nx", [LABEL])
    assert sync(client(gh), [BEHIND], [], None).number == ours["number"]
    assert len(gh.requests_to("GET", r"/repos/acme/app/issues")) == 3


def test_drift_without_issues_permission_is_403(gh: FakeGitHub) -> None:
    gh.fail(
        "POST",
        r"/repos/acme/app/issues",
        Response(403, {"message": "Resource not accessible by integration"}),
    )
    with pytest.raises(GitHubApiError) as e:
        sync(client(gh), [BEHIND], [], None)
    assert e.value.forbidden


def test_drift_is_not_closed_when_the_version_is_unknown(gh: FakeGitHub) -> None:
    c = client(gh)
    sync(c, [BEHIND], [], None)
    unknown = make_report(None, None)
    assert sync(c, [unknown], [], None).action == DriftAction.UNCHANGED
    assert [i["state"] for i in gh.issues.values()] == ["open"]
