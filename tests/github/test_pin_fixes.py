"""Review suggestions and the pin-bump pull request against the fake GitHub API over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from gate.github.pin_fixes import BRANCH, PullAction, publish_suggestions, sync_pull
from gate.knowledge.pin_status import judge_pins
from gate.knowledge.snapshot import load_snapshot
from gate.model.pin import Pin, PinKind
from gate.outside.github import GitHubApiError, GitHubClient
from gate.report.suggestions import apply_edits, bump_line, edit_for
from tests.github.fake_github import READ_ONLY, FakeGitHub
from tests.support.fake_http import Response

PR = 7
SHA = "a" * 40
FILES = {
    ".tool-versions": "elixir 1.18.3-otp-27\nerlang 27.3.3\n",
    "Dockerfile": "ARG OTP_VERSION=27.1.2\nFROM hexpm/erlang:${OTP_VERSION}-alpine-3.20.3\n",
    ".github/workflows/ci.yml": "      - uses: erlef/setup-beam@v1\n        with:\n          otp-version: '28.0.2'\n",
}
PINS = [
    Pin(".tool-versions", 2, "27.3.3", True, PinKind.TOOL_VERSIONS),
    Pin("Dockerfile", 1, "27.1.2", True, PinKind.DOCKERFILE_ARG),
    Pin(".github/workflows/ci.yml", 3, "28.0.2", True, PinKind.WORKFLOW),
    Pin("mise.toml", 1, "27", False, PinKind.MISE),  # floating: never bumped
]


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.pulls_state.branches["main"] = fake.pulls_state.commit(None, dict(FILES))
        yield fake


def client(gh: FakeGitHub) -> GitHubClient:
    return GitHubClient("ghs_x", gh.repo, api_url=gh.url, seconds_between_writes=0, retries=0)


def _edits(files: dict[str, str] = FILES):  # type: ignore[no-untyped-def]
    report = judge_pins(PINS, load_snapshot(), (), date(2026, 8, 1))
    edits = []
    for j in report.judgements:
        raw = files.get(j.pin.path, "").splitlines()
        e = edit_for(j, raw[j.pin.line - 1]) if len(raw) >= j.pin.line else None
        if e is not None:
            edits.append(e)
    return report, edits


def test_bump_changes_only_the_version() -> None:
    assert bump_line("erlang 27.3.3", "27.3.3", "27.3.4.15") == "erlang 27.3.4.15"
    assert bump_line("  otp: ['26.2.5', '27.3.3']", "27.3.3", "27.3.4.15") == (
        "  otp: ['26.2.5', '27.3.4.15']"
    )
    assert bump_line("FROM erlang:27.3.3.1", "27.3.3", "27.3.4") is None  # not the same version
    assert bump_line("x 27.3.3 27.3.3", "27.3.3", "27.3.4") is None  # ambiguous: leave it


def test_suggestions_are_posted_once_and_outside_the_diff_counted(gh: FakeGitHub) -> None:
    gh.pulls_state.diff_lines[PR] = {(".tool-versions", 2), ("Dockerfile", 1)}
    gh.add_issue("PR", "", [], pull_request=True, number=PR)
    report, edits = _edits()
    assert [(e.path, e.new_line) for e in edits] == [
        (".tool-versions", "erlang 27.3.4.15"),
        ("Dockerfile", "ARG OTP_VERSION=27.3.4.15"),
        (".github/workflows/ci.yml", "          otp-version: '28.5.0.4'"),
    ]
    c = client(gh)
    gh.pulls_state.pulls[PR] = {
        "number": PR,
        "state": "open",
        "title": "t",
        "body": "",
        "head": {"ref": "feature", "sha": SHA},
        "base": {"ref": "main", "sha": SHA},
    }
    out = publish_suggestions(c, PR, SHA, edits, report.judgements)
    assert (out.posted, out.already, out.outside_diff) == (2, 0, 1)
    first = gh.pulls_state.review_comments[PR][0]
    assert (first["path"], first["line"], first["side"], first["commit_id"]) == (
        ".tool-versions",
        2,
        "RIGHT",
        SHA,
    )
    assert "```suggestion\nerlang 27.3.4.15\n```" in first["body"]
    assert "Fixed since 27.3.3" not in first["body"] or "CVE-" in first["body"]
    again = publish_suggestions(c, PR, SHA, edits, report.judgements)
    assert (again.posted, again.already) == (0, 2)
    assert len(gh.pulls_state.review_comments[PR]) == 2


def test_one_pull_request_created_then_updated_then_closed(gh: FakeGitHub) -> None:
    report, edits = _edits()
    c = client(gh)
    opened = sync_pull(c, report, edits)
    assert opened.action == PullAction.OPENED
    files = gh.pulls_state.files_of(BRANCH)
    assert files[".tool-versions"] == "elixir 1.18.3-otp-27\nerlang 27.3.4.15\n"
    assert files["Dockerfile"].startswith("ARG OTP_VERSION=27.3.4.15\n")
    assert "otp-version: '28.5.0.4'" in files[".github/workflows/ci.yml"]
    assert gh.pulls_state.files_of("main") == FILES  # the default branch is untouched
    [pr] = gh.pulls_state.pulls.values()
    assert (
        pr["head"]["ref"] == BRANCH
        and "| `.tool-versions` | 2 | 27.3.3 | 27.3.4.15 |" in pr["body"]
    )

    # The default branch moves on: the branch is rebuilt from it, the same pull request updated.
    moved = dict(FILES, **{"README.md": "hi\n"})
    gh.pulls_state.branches["main"] = gh.pulls_state.commit(gh.pulls_state.branches["main"], moved)
    again = sync_pull(c, report, edits)
    assert (again.action, again.number) == (PullAction.UPDATED, opened.number)
    assert len(gh.pulls_state.pulls) == 1
    assert gh.pulls_state.files_of(BRANCH)["README.md"] == "hi\n"

    closed = sync_pull(c, report, [])
    assert closed.action == PullAction.CLOSED and pr["state"] == "closed"
    assert sync_pull(c, report, []).action == PullAction.NONE


def test_read_only_token_raises_forbidden(gh: FakeGitHub) -> None:
    report, edits = _edits()
    gh.fail("POST", r".*/git/refs", Response(403, READ_ONLY), times=10)
    with pytest.raises(GitHubApiError) as e:
        sync_pull(client(gh), report, edits)
    assert e.value.forbidden


def test_apply_edits_skips_a_line_that_changed() -> None:
    _, edits = _edits()
    changed = FILES[".tool-versions"].replace("27.3.3", "27.3.4")
    assert apply_edits(changed, edits[:1]) == changed
