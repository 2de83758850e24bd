"""Pull-request routes of the fake GitHub API, in the documented REST shapes: review comments
(https://docs.github.com/en/rest/pulls/comments), git references
(https://docs.github.com/en/rest/git/refs), the contents API
(https://docs.github.com/en/rest/repos/contents) and pull requests
(https://docs.github.com/en/rest/pulls/pulls). Branches hold whole trees of text files."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.support.fake_http import Request, Response

if TYPE_CHECKING:
    from tests.github.fake_github import FakeGitHub

Handler = Callable[[Request, re.Match[str]], Response]
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def _blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class PullsState:
    """Branches (name -> commit), commits (sha -> {path: text}), pulls and review comments."""

    branches: dict[str, str] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    review_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    diff_lines: dict[int, set[tuple[str, int]]] = field(default_factory=dict)
    default_branch: str = "main"

    def commit(self, parent: str | None, files: dict[str, str]) -> str:
        tree = dict(self.trees.get(parent, {})) if parent else {}
        tree.update(files)
        sha = hashlib.sha1(repr((parent, sorted(tree.items()))).encode()).hexdigest()
        self.trees[sha] = tree
        return sha

    def files_of(self, branch: str) -> dict[str, str]:
        return self.trees[self.branches[branch]]


class PullRoutes:
    """Handlers bound to one FakeGitHub (its URL, ids and lock)."""

    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.s: PullsState = gh.pulls_state

    def routes(self, r: str) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", rf"/repos/{r}/pulls/(\d+)", self.get_pull),
            ("PATCH", rf"/repos/{r}/pulls/(\d+)", self.edit_pull),
            ("GET", rf"/repos/{r}/pulls/(\d+)/comments", self.list_review_comments),
            ("POST", rf"/repos/{r}/pulls/(\d+)/comments", self.create_review_comment),
            ("GET", rf"/repos/{r}/pulls", self.list_pulls),
            ("POST", rf"/repos/{r}/pulls", self.create_pull),
            ("GET", rf"/repos/{r}/commits/([0-9a-f]{{40}})", self.get_commit),
            ("GET", rf"/repos/{r}/git/ref/heads/(.+)", self.get_ref),
            ("POST", rf"/repos/{r}/git/refs", self.create_ref),
            ("PATCH", rf"/repos/{r}/git/refs/heads/(.+)", self.update_ref),
            ("GET", rf"/repos/{r}/contents/(.+)", self.get_contents),
            ("PUT", rf"/repos/{r}/contents/(.+)", self.put_contents),
        ]

    # -- pulls -------------------------------------------------------------------------------
    def _pull_json(self, n: int) -> dict[str, Any]:
        p = self.s.pulls[n]
        return {
            **p,
            "url": f"{self.gh.url}/repos/{self.gh.repo}/pulls/{n}",
            "html_url": f"https://github.com/{self.gh.repo}/pull/{n}",
        }

    def get_pull(self, req: Request, m: re.Match[str]) -> Response:
        n = int(m.group(1))
        if n not in self.s.pulls:
            return Response(404, NOT_FOUND)
        return Response(200, self._pull_json(n))

    def edit_pull(self, req: Request, m: re.Match[str]) -> Response:
        n = int(m.group(1))
        if n not in self.s.pulls:
            return Response(404, NOT_FOUND)
        data = req.json()
        for key in ("title", "body", "state"):
            if key in data:
                self.s.pulls[n][key] = data[key]
        return Response(200, self._pull_json(n))

    def list_pulls(self, req: Request, m: re.Match[str]) -> Response:
        state = req.query.get("state", ["open"])[0]
        head = req.query.get("head", [None])[0]
        items = [
            self._pull_json(n)
            for n, p in sorted(self.s.pulls.items())
            if (state == "all" or p["state"] == state)
            and (head is None or f"{self.gh.repo.split('/')[0]}:{p['head']['ref']}" == head)
        ]
        return self.gh._page(req, items)

    def create_pull(self, req: Request, m: re.Match[str]) -> Response:
        data = req.json()
        if data.get("head") not in self.s.branches or data.get("base") not in self.s.branches:
            return Response(422, {"message": "Validation Failed", "errors": [{"field": "head"}]})
        for p in self.s.pulls.values():
            if p["state"] == "open" and p["head"]["ref"] == data["head"]:
                msg = f"A pull request already exists for {self.gh.repo.split('/')[0]}:{data['head']}."
                return Response(422, {"message": "Validation Failed", "errors": [{"message": msg}]})
        n = self.gh.next_id()
        self.s.pulls[n] = {
            "number": n,
            "id": n,
            "title": data["title"],
            "body": data.get("body") or "",
            "state": "open",
            "head": {"ref": data["head"], "sha": self.s.branches[data["head"]]},
            "base": {"ref": data["base"], "sha": self.s.branches[data["base"]]},
            "user": dict(self.gh.token_user),
        }
        return Response(201, self._pull_json(n))

    # -- review comments ---------------------------------------------------------------------
    def list_review_comments(self, req: Request, m: re.Match[str]) -> Response:
        return self.gh._page(req, list(self.s.review_comments.get(int(m.group(1)), [])))

    def create_review_comment(self, req: Request, m: re.Match[str]) -> Response:
        n = int(m.group(1))
        data = req.json()
        missing = {"body", "commit_id", "path", "line"} - set(data)
        if missing or data.get("side", "RIGHT") not in ("LEFT", "RIGHT"):
            return Response(422, {"message": "Validation Failed", "errors": sorted(missing)})
        if (data["path"], data["line"]) not in self.s.diff_lines.get(n, set()):
            return Response(
                422,
                {
                    "message": "Validation Failed",
                    "errors": ["pull_request_review_thread.line must be part of the diff"],
                },
            )
        cid = self.gh.next_id()
        comment = {
            "id": cid,
            "body": data["body"],
            "path": data["path"],
            "line": data["line"],
            "side": data.get("side", "RIGHT"),
            "commit_id": data["commit_id"],
            "user": dict(self.gh.token_user),
            "url": f"{self.gh.url}/repos/{self.gh.repo}/pulls/comments/{cid}",
        }
        self.s.review_comments.setdefault(n, []).append(comment)
        return Response(201, comment)

    def get_commit(self, req: Request, m: re.Match[str]) -> Response:
        sha = m.group(1)
        return Response(
            200, {"sha": sha, "url": f"{self.gh.url}/repos/{self.gh.repo}/commits/{sha}"}
        )

    # -- refs and contents -------------------------------------------------------------------
    def _ref_json(self, branch: str) -> dict[str, Any]:
        return {
            "ref": f"refs/heads/{branch}",
            "url": f"{self.gh.url}/repos/{self.gh.repo}/git/refs/heads/{branch}",
            "object": {"sha": self.s.branches[branch], "type": "commit"},
        }

    def get_ref(self, req: Request, m: re.Match[str]) -> Response:
        branch = m.group(1)
        if branch not in self.s.branches:
            return Response(404, NOT_FOUND)
        return Response(200, self._ref_json(branch))

    def create_ref(self, req: Request, m: re.Match[str]) -> Response:
        data = req.json()
        ref, sha = data.get("ref", ""), data.get("sha", "")
        if not ref.startswith("refs/heads/") or sha not in self.s.trees:
            return Response(422, {"message": "Validation Failed"})
        branch = ref.removeprefix("refs/heads/")
        if branch in self.s.branches:
            return Response(422, {"message": "Reference already exists"})
        self.s.branches[branch] = sha
        return Response(201, self._ref_json(branch))

    def update_ref(self, req: Request, m: re.Match[str]) -> Response:
        branch = m.group(1)
        data = req.json()
        if branch not in self.s.branches:
            return Response(422, {"message": "Reference does not exist"})
        if data.get("sha") not in self.s.trees:
            return Response(422, {"message": "Object does not exist"})
        self.s.branches[branch] = data["sha"]
        return Response(200, self._ref_json(branch))

    def _content_json(self, path: str, text: str) -> dict[str, Any]:
        return {
            "type": "file",
            "encoding": "base64",
            "content": base64.b64encode(text.encode()).decode(),
            "sha": _blob_sha(text),
            "path": path,
            "name": path.rsplit("/", 1)[-1],
            "url": f"{self.gh.url}/repos/{self.gh.repo}/contents/{path}",
        }

    def get_contents(self, req: Request, m: re.Match[str]) -> Response:
        branch = req.query.get("ref", [self.s.default_branch])[0]
        files = self.s.files_of(branch) if branch in self.s.branches else {}
        path = m.group(1)
        if path not in files:
            return Response(404, NOT_FOUND)
        return Response(200, self._content_json(path, files[path]))

    def put_contents(self, req: Request, m: re.Match[str]) -> Response:
        path, data = m.group(1), req.json()
        branch = data.get("branch", self.s.default_branch)
        if branch not in self.s.branches or "message" not in data:
            return Response(422, {"message": "Validation Failed"})
        current = self.s.files_of(branch).get(path)
        if current is not None and data.get("sha") != _blob_sha(current):
            return Response(409, {"message": f"{path} does not match {data.get('sha')}"})
        text = base64.b64decode(data["content"]).decode()
        self.s.branches[branch] = self.s.commit(self.s.branches[branch], {path: text})
        return Response(
            200,
            {"content": self._content_json(path, text), "commit": {"sha": self.s.branches[branch]}},
        )
