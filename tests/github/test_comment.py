"""The sticky PR comment against a local GitHub REST server through PyGithub (`base_url`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gate.github.comment import COMMENT_LIMIT, CommentAction, fit_comment, marker, publish, upsert
from gate.outside.github import GitHubApiError, GitHubClient
from tests.github.fake_github import (
    BODY_TOO_LONG,
    HUMAN,
    READ_ONLY,
    SERVER_ERROR,
    FakeGitHub,
    rate_limited,
)
from tests.support.fake_http import Response

PR = 7
MARK = marker("ci/gate/.")


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_issue("a PR", "", [], pull_request=True, number=PR)
        yield fake


def client(gh: FakeGitHub) -> GitHubClient:
    return GitHubClient("ghs_test", gh.repo, api_url=gh.url, seconds_between_writes=0)


def body(text: str) -> str:
    return f"{MARK}\n{text}"


def test_first_run_creates_one_comment_with_the_token(gh: FakeGitHub) -> None:
    result = upsert(client(gh), PR, body("fail"), MARK)
    assert result.action == CommentAction.CREATED
    [c] = gh.comments[PR]
    assert c["body"] == body("fail")
    [post] = gh.requests_to("POST", rf"/repos/{gh.repo}/issues/{PR}/comments")
    assert post.headers["authorization"] == "token ghs_test"
    assert post.json() == {"body": body("fail")}


def test_later_run_edits_in_place(gh: FakeGitHub) -> None:
    first = gh.add_comment(PR, body("old"))
    result = upsert(client(gh), PR, body("new"), MARK)
    assert result.action == CommentAction.UPDATED and result.comment_id == first["id"]
    assert [c["body"] for c in gh.comments[PR]] == [body("new")]
    assert gh.requests_to("POST", r".*/comments") == []
    [patch] = gh.requests_to("PATCH", rf"/repos/{gh.repo}/issues/comments/{first['id']}")
    assert patch.json() == {"body": body("new")}


def test_same_body_is_not_rewritten(gh: FakeGitHub) -> None:
    gh.add_comment(PR, body("same"))
    assert upsert(client(gh), PR, body("same"), MARK).action == CommentAction.UNCHANGED
    assert gh.writes() == []


def test_a_human_quoting_the_marker_is_never_edited(gh: FakeGitHub) -> None:
    gh.add_comment(PR, body("I copied your marker"), user=HUMAN)
    upsert(client(gh), PR, body("report"), MARK)
    assert [c["user"]["login"] for c in gh.comments[PR]] == ["octocat", "github-actions[bot]"]
    assert gh.comments[PR][0]["body"] == body("I copied your marker")


def test_another_bots_marker_for_another_step_is_left_alone(gh: FakeGitHub) -> None:
    other = marker("ci/other-job/.")
    gh.add_comment(PR, f"{other}\nthe other gate")
    upsert(client(gh), PR, body("mine"), MARK)
    assert len(gh.bot_comments(PR)) == 2


def test_finds_its_comment_on_a_later_page(gh: FakeGitHub) -> None:
    gh.per_page_cap = 10
    for i in range(35):
        gh.add_comment(PR, f"chatter {i}", user=HUMAN)
    mine = gh.add_comment(PR, body("old"))
    gh.add_comment(PR, "after", user=HUMAN)
    result = upsert(client(gh), PR, body("new"), MARK)
    assert result.comment_id == mine["id"]
    pages = [
        r.query.get("page", ["1"])[0]
        for r in gh.requests_to("GET", rf"/repos/{gh.repo}/issues/{PR}/comments")
    ]
    assert pages == ["1", "2", "3", "4"]
    assert gh.requests_to("POST", r".*/comments") == []


def test_a_racing_run_leaves_one_comment(gh: FakeGitHub) -> None:
    # Another run posts its comment between our listing and our POST.
    def race(fake: FakeGitHub, number: int) -> None:
        fake.before_create_comment = None
        fake.add_comment(number, body("from the other run"))

    gh.before_create_comment = race
    result = upsert(client(gh), PR, body("ours"), MARK)
    [left] = gh.bot_comments(PR)
    assert left["body"] == body("ours") and left["id"] == result.comment_id
    assert result.removed_duplicates == 1


def test_a_retried_post_leaves_one_comment(gh: FakeGitHub) -> None:
    # GitHub applied the POST but the reply was a 500: PyGithub's bounded retry posts again.
    gh.fail(
        "POST",
        rf"/repos/{gh.repo}/issues/{PR}/comments",
        Response(500, SERVER_ERROR),
        apply_then_fail=True,
    )
    upsert(client(gh), PR, body("once"), MARK)
    assert len(gh.requests_to("POST", r".*/comments")) == 2
    assert [c["body"] for c in gh.bot_comments(PR)] == [body("once")]


def test_two_leftover_duplicates_are_merged_on_the_next_run(gh: FakeGitHub) -> None:
    a = gh.add_comment(PR, body("one"))
    gh.add_comment(PR, body("two"))
    result = upsert(client(gh), PR, body("three"), MARK)
    assert result.comment_id == a["id"] and result.removed_duplicates == 1
    assert [c["body"] for c in gh.bot_comments(PR)] == [body("three")]


def test_on_failure_mode_does_not_create_but_updates(gh: FakeGitHub) -> None:
    assert upsert(client(gh), PR, body("pass"), MARK, create=False).action == CommentAction.SKIPPED
    assert gh.writes() == []
    gh.add_comment(PR, body("fail"))
    assert upsert(client(gh), PR, body("pass"), MARK, create=False).action == CommentAction.UPDATED


def test_fork_read_only_token_raises_forbidden(gh: FakeGitHub) -> None:
    gh.read_only()
    with pytest.raises(GitHubApiError) as e:
        upsert(client(gh), PR, body("x"), MARK)
    assert e.value.forbidden and e.value.status == 403
    assert "Resource not accessible by integration" in e.value.message


def test_rate_limit_does_not_sleep_until_reset(gh: FakeGitHub) -> None:
    gh.fail("GET", r".*/comments", rate_limited(3600), times=5)
    start = time.monotonic()
    with pytest.raises(GitHubApiError) as e:
        upsert(client(gh), PR, body("x"), MARK)
    assert time.monotonic() - start < 5
    assert e.value.status == 403 and "rate limit" in e.value.message


def test_persistent_500_gives_up_after_bounded_retries(gh: FakeGitHub) -> None:
    gh.fail("GET", r".*/comments", Response(500, SERVER_ERROR), times=100)
    with pytest.raises(GitHubApiError) as e:
        upsert(client(gh), PR, body("x"), MARK)
    assert e.value.status == 500
    assert len(gh.requests_to("GET", r".*/comments")) == 3  # one try and two retries


def test_missing_pull_request_is_404(gh: FakeGitHub) -> None:
    with pytest.raises(GitHubApiError) as e:
        upsert(client(gh), 999, body("x"), MARK)
    assert e.value.status == 404


def test_long_report_is_cut_with_a_pointer_to_the_summary(gh: FakeGitHub) -> None:
    text = "\n".join(f"| row {i} | ❌ |" for i in range(20000))
    result = publish(client(gh), PR, text, MARK, "https://github.com/acme/app/actions/runs/1")
    assert result.action == CommentAction.CREATED
    [c] = gh.comments[PR]
    assert len(c["body"]) <= COMMENT_LIMIT
    assert c["body"].startswith(MARK)
    assert "[the job summary](https://github.com/acme/app/actions/runs/1)" in c["body"]


def test_422_body_too_long_retries_with_a_shorter_cut(gh: FakeGitHub) -> None:
    gh.fail("POST", r".*/comments", Response(422, BODY_TOO_LONG))
    text = "\n".join(f"line {i}" for i in range(9000))
    publish(client(gh), PR, text, MARK, None)
    [c] = gh.comments[PR]
    assert len(c["body"]) <= COMMENT_LIMIT // 4 and "job summary" in c["body"]


def test_fit_comment_keeps_short_bodies_whole() -> None:
    assert fit_comment("ok", MARK, None) == f"{MARK}\nok"


def test_marker_requires_body_to_carry_it(gh: FakeGitHub) -> None:
    with pytest.raises(ValueError):
        upsert(client(gh), PR, "no marker", MARK)


def test_read_only_error_names_read_only_payload() -> None:
    assert READ_ONLY["message"].startswith("Resource not accessible")
