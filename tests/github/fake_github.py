"""A fake GitHub REST API on `FakeServer`: issue comments, issues, check runs, with GitHub's shapes.

State lives in plain dicts so tests can seed it and assert on it, and on `server.requests`. Shapes
follow https://docs.github.com/rest (issue comments, issues, check runs); pagination uses Link
headers like GitHub. Error replies are injected with `fail(...)`, which answers the next N matching
requests with a given status and body (403 read-only token, 404, 422 body too long, 500, rate limit).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.github.fake_pulls import PullRoutes, PullsState
from tests.support.fake_http import FakeServer, Request, Response

BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
HUMAN = {"login": "octocat", "id": 583231, "type": "User"}

READ_ONLY = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    "status": "403",
}
BODY_TOO_LONG = {
    "message": "Validation Failed",
    "errors": [
        {
            "resource": "IssueComment",
            "code": "custom",
            "field": "body",
            "message": "body is too long (maximum is 65536 characters)",
        }
    ],
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    "status": "422",
}
SERVER_ERROR = {"message": "Server Error"}
NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}


def rate_limited(reset_in: int = 3600) -> Response:
    """GitHub's primary rate-limit reply: 403 with remaining 0 and a reset far away."""
    return Response(
        403,
        {
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
        },
        headers={
            "X-RateLimit-Limit": "1000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + reset_in),
        },
    )


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    response: Response
    times: int
    apply_then_fail: bool  # do the write, then answer with the error (a reply lost on the way back)


@dataclass
class FakeGitHub:
    """`with FakeGitHub() as gh: GitHubClient(token, gh.repo, api_url=gh.url)`."""

    repo: str = "acme/app"
    token_user: dict[str, Any] = field(default_factory=lambda: dict(BOT))
    installation_token: bool = True  # GITHUB_TOKEN cannot read /user
    per_page_cap: int = 100
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    before_create_comment: Callable[[FakeGitHub, int], None] | None = None
    pulls_state: PullsState = field(default_factory=PullsState)

    def __post_init__(self) -> None:
        self.server = FakeServer()
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._failures: list[_Failure] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> FakeGitHub:
        self.server.__enter__()
        self._install_routes()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def requests_to(self, method: str, pattern: str) -> list[Request]:
        return self.server.requests_to(method, pattern)

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]

    # -- seeding -------------------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def add_comment(
        self, number: int, body: str, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            cid = self.next_id()
            c = {
                "id": cid,
                "node_id": f"IC_{cid}",
                "url": f"{self.url}/repos/{self.repo}/issues/comments/{cid}",
                "html_url": f"https://github.com/{self.repo}/pull/{number}#issuecomment-{cid}",
                "issue_url": f"{self.url}/repos/{self.repo}/issues/{number}",
                "body": body,
                "user": dict(user or self.token_user),
                "created_at": "2026-11-29T12:00:00Z",
                "updated_at": "2026-11-29T12:00:00Z",
                "author_association": "NONE",
            }
            self.comments.setdefault(number, []).append(c)
            return c

    def add_issue(
        self,
        title: str,
        body: str,
        labels: list[str],
        state: str = "open",
        user: dict[str, Any] | None = None,
        pull_request: bool = False,
        number: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            number = number or max([0, *self.issues]) + 1
            i = {
                "id": self.next_id(),
                "number": number,
                "title": title,
                "body": body,
                "state": state,
                "state_reason": None,
                "labels": [
                    {"id": n, "name": name, "color": "ededed"} for n, name in enumerate(labels)
                ],
                "user": dict(user or self.token_user),
                "url": f"{self.url}/repos/{self.repo}/issues/{number}",
                "html_url": f"https://github.com/{self.repo}/issues/{number}",
                "comments_url": f"{self.url}/repos/{self.repo}/issues/{number}/comments",
                "comments": 0,
            }
            if pull_request:
                i["pull_request"] = {"url": f"{self.url}/repos/{self.repo}/pulls/{number}"}
            self.issues[number] = i
            return i

    def fail(
        self,
        method: str,
        pattern: str,
        response: Response,
        times: int = 1,
        apply_then_fail: bool = False,
    ) -> None:
        """Answer the next `times` requests matching METHOD and the path regex with `response`."""
        with self._lock:
            self._failures.append(
                _Failure(method.upper(), re.compile(pattern), response, times, apply_then_fail)
            )

    def read_only(self) -> None:
        """A fork's `GITHUB_TOKEN`: every write is refused with 403."""
        for method in ("POST", "PATCH", "DELETE"):
            self.fail(method, r"/repos/.*", Response(403, READ_ONLY), times=10_000)

    def bot_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.get(number, []) if c["user"]["type"] == "Bot"]

    # -- routing -------------------------------------------------------------------------------
    def _failure_for(self, req: Request) -> _Failure | None:
        with self._lock:
            for f in self._failures:
                if f.times > 0 and f.method == req.method and f.pattern.fullmatch(req.path):
                    f.times -= 1
                    return f
        return None

    def _wrap(
        self, handler: Callable[[Request, re.Match[str]], Response]
    ) -> Callable[[Request, re.Match[str]], Response]:
        def run(req: Request, m: re.Match[str]) -> Response:
            if req.headers.get("authorization", "") == "":
                return Response(401, {"message": "Requires authentication"})
            failure = self._failure_for(req)
            if failure is not None and not failure.apply_then_fail:
                return failure.response
            reply = handler(req, m)
            return failure.response if failure is not None else reply

        return run

    def _install_routes(self) -> None:
        r = re.escape(self.repo)
        routes: list[tuple[str, str, Callable[[Request, re.Match[str]], Response]]] = [
            ("GET", r"/user", self._get_user),
            ("GET", rf"/repos/{r}", self._get_repo),
            ("GET", rf"/repos/{r}/issues/(\d+)/comments", self._list_comments),
            ("POST", rf"/repos/{r}/issues/(\d+)/comments", self._create_comment),
            ("GET", rf"/repos/{r}/issues/comments/(\d+)", self._get_comment),
            ("PATCH", rf"/repos/{r}/issues/comments/(\d+)", self._edit_comment),
            ("DELETE", rf"/repos/{r}/issues/comments/(\d+)", self._delete_comment),
            ("GET", rf"/repos/{r}/issues", self._list_issues),
            ("POST", rf"/repos/{r}/issues", self._create_issue),
            ("GET", rf"/repos/{r}/issues/(\d+)", self._get_issue),
            ("PATCH", rf"/repos/{r}/issues/(\d+)", self._edit_issue),
            ("POST", rf"/repos/{r}/check-runs", self._create_check_run),
            ("GET", rf"/repos/{r}/check-runs/(\d+)", self._get_check_run),
            ("PATCH", rf"/repos/{r}/check-runs/(\d+)", self._edit_check_run),
        ]
        routes += PullRoutes(self).routes(r)
        for method, pattern, handler in routes:
            self.server.route(method, pattern, self._wrap(handler))

    # -- handlers ------------------------------------------------------------------------------
    def _get_user(self, req: Request, m: re.Match[str]) -> Response:
        if self.installation_token:
            return Response(403, READ_ONLY)
        return Response(
            200, {**self.token_user, "url": f"{self.url}/users/{self.token_user['login']}"}
        )

    def _get_repo(self, req: Request, m: re.Match[str]) -> Response:
        owner, name = self.repo.split("/")
        return Response(
            200,
            {
                "id": 1,
                "name": name,
                "full_name": self.repo,
                "owner": {"login": owner},
                "url": f"{self.url}/repos/{self.repo}",
                "default_branch": self.pulls_state.default_branch,
            },
        )

    def _page(self, req: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(int(req.query.get("per_page", ["30"])[0]), self.per_page_cap)
        page = int(req.query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{self.url}{req.path}"
        keep = "&".join(
            f"{k}={v[0]}" for k, v in sorted(req.query.items()) if k not in ("page", "per_page")
        )
        extra = f"&{keep}" if keep else ""
        if page < last:
            links.append(f'<{base}?per_page={per_page}&page={page + 1}{extra}>; rel="next"')
            links.append(f'<{base}?per_page={per_page}&page={last}{extra}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?per_page={per_page}&page=1{extra}>; rel="first"')
            links.append(f'<{base}?per_page={per_page}&page={page - 1}{extra}>; rel="prev"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, chunk, headers=headers)

    def _list_comments(self, req: Request, m: re.Match[str]) -> Response:
        number = int(m.group(1))
        with self._lock:
            if number not in self.comments and number not in self.issues:
                return Response(404, NOT_FOUND)
            items = sorted(self.comments.get(number, []), key=lambda c: c["id"])
        return self._page(req, items)

    def _create_comment(self, req: Request, m: re.Match[str]) -> Response:
        number = int(m.group(1))
        body = req.json().get("body", "")
        if len(body) > 65536:
            return Response(422, BODY_TOO_LONG)
        if self.before_create_comment is not None:
            self.before_create_comment(self, number)
        return Response(201, self.add_comment(number, body))

    def _find_comment(self, cid: int) -> dict[str, Any] | None:
        for items in self.comments.values():
            for c in items:
                if c["id"] == cid:
                    return c
        return None

    def _get_comment(self, req: Request, m: re.Match[str]) -> Response:
        with self._lock:
            c = self._find_comment(int(m.group(1)))
        return Response(200, c) if c else Response(404, NOT_FOUND)

    def _edit_comment(self, req: Request, m: re.Match[str]) -> Response:
        body = req.json().get("body", "")
        if len(body) > 65536:
            return Response(422, BODY_TOO_LONG)
        with self._lock:
            c = self._find_comment(int(m.group(1)))
            if c is None:
                return Response(404, NOT_FOUND)
            if c["user"]["login"] != self.token_user["login"]:
                return Response(403, READ_ONLY)
            c["body"] = body
            c["updated_at"] = "2026-11-29T12:30:00Z"
        return Response(200, c)

    def _delete_comment(self, req: Request, m: re.Match[str]) -> Response:
        with self._lock:
            for items in self.comments.values():
                for c in list(items):
                    if c["id"] == int(m.group(1)):
                        items.remove(c)
                        return Response(204, b"")
        return Response(404, NOT_FOUND)

    def _list_issues(self, req: Request, m: re.Match[str]) -> Response:
        state = req.query.get("state", ["open"])[0]
        labels = [x for x in req.query.get("labels", [""])[0].split(",") if x]
        with self._lock:
            items = [
                i
                for _, i in sorted(self.issues.items())
                if (state == "all" or i["state"] == state)
                and all(lbl in [x["name"] for x in i["labels"]] for lbl in labels)
            ]
        return self._page(req, items)

    def _create_issue(self, req: Request, m: re.Match[str]) -> Response:
        data = req.json()
        if len(data.get("body") or "") > 65536:
            return Response(422, BODY_TOO_LONG)
        return Response(
            201,
            self.add_issue(data["title"], data.get("body") or "", list(data.get("labels") or [])),
        )

    def _get_issue(self, req: Request, m: re.Match[str]) -> Response:
        i = self.issues.get(int(m.group(1)))
        return Response(200, i) if i else Response(404, NOT_FOUND)

    def _edit_issue(self, req: Request, m: re.Match[str]) -> Response:
        data = req.json()
        with self._lock:
            i = self.issues.get(int(m.group(1)))
            if i is None:
                return Response(404, NOT_FOUND)
            if len(data.get("body") or "") > 65536:
                return Response(422, BODY_TOO_LONG)
            for key in ("title", "body", "state", "state_reason"):
                if key in data:
                    i[key] = data[key]
        return Response(200, i)

    def _check_run_json(self, cid: int) -> dict[str, Any]:
        cr = self.check_runs[cid]
        return {
            "id": cid,
            "name": cr["name"],
            "head_sha": cr["head_sha"],
            "status": cr.get("status", "queued"),
            "conclusion": cr.get("conclusion"),
            "url": f"{self.url}/repos/{self.repo}/check-runs/{cid}",
            "html_url": f"https://github.com/{self.repo}/runs/{cid}",
            "output": {
                "title": cr["output"].get("title"),
                "summary": cr["output"].get("summary"),
                "text": cr["output"].get("text"),
                "annotations_count": len(cr["annotations"]),
            },
        }

    def _validate_output(self, output: dict[str, Any]) -> Response | None:
        annotations = output.get("annotations") or []
        if len(annotations) > 50:
            return Response(
                422,
                {
                    "message": "Validation Failed",
                    "errors": ["Only 50 annotations are allowed per request"],
                },
            )
        if len(output.get("summary") or "") > 65535 or len(output.get("text") or "") > 65535:
            return Response(
                422,
                {
                    "message": "Validation Failed",
                    "errors": ["output summary/text is too long (maximum is 65535 characters)"],
                },
            )
        for a in annotations:
            if not {"path", "start_line", "end_line", "annotation_level", "message"} <= set(a):
                return Response(
                    422,
                    {"message": "Validation Failed", "errors": [f"annotation missing fields: {a}"]},
                )
            if a["annotation_level"] not in ("notice", "warning", "failure"):
                return Response(
                    422, {"message": "Validation Failed", "errors": ["bad annotation_level"]}
                )
        return None

    def _create_check_run(self, req: Request, m: re.Match[str]) -> Response:
        data = req.json()
        output = data.get("output") or {}
        bad = self._validate_output(output)
        if bad:
            return bad
        if not re.fullmatch(r"[0-9a-f]{40}", data.get("head_sha", "")):
            return Response(
                422, {"message": "Validation Failed", "errors": ["head_sha is not a commit SHA"]}
            )
        with self._lock:
            cid = self.next_id()
            self.check_runs[cid] = {
                **data,
                "output": output,
                "annotations": list(output.get("annotations") or []),
            }
        return Response(201, self._check_run_json(cid))

    def _get_check_run(self, req: Request, m: re.Match[str]) -> Response:
        cid = int(m.group(1))
        return (
            Response(200, self._check_run_json(cid))
            if cid in self.check_runs
            else Response(404, NOT_FOUND)
        )

    def _edit_check_run(self, req: Request, m: re.Match[str]) -> Response:
        cid = int(m.group(1))
        data = req.json()
        output = data.get("output") or {}
        bad = self._validate_output(output)
        if bad:
            return bad
        with self._lock:
            if cid not in self.check_runs:
                return Response(404, NOT_FOUND)
            cr = self.check_runs[cid]
            # GitHub appends annotations sent on update to those already on the run.
            cr["annotations"].extend(output.get("annotations") or [])
            cr["output"] = {
                **cr["output"],
                **{k: v for k, v in output.items() if k != "annotations"},
            }
            for key in ("status", "conclusion"):
                if key in data:
                    cr[key] = data[key]
        return Response(200, self._check_run_json(cid))
