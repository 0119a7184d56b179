"""A GitHub REST API test server: real HTTP on 127.0.0.1, backed by a real bare repository.

    with GitHubAPI(bare, tmp_path, users={"tok-bot": "gitbot-bot", "tok-dana": "dana"}) as api:
        Github(base_url=api.url, auth=Auth.Token("tok-bot"))...
        api.review(1, "dana", "APPROVE")           # what a person does on github.com
        assert api.count("PUT") == 1

Serves exactly the endpoints gitbot's GitHub forge uses, with GitHub's JSON shapes and status
codes: repository, pulls (list by head, create, get, update, merge), issue comments, labels,
reviews, combined status and statuses, check runs, collaborator permission, rate limit headers,
ETags and 304 answers to conditional GETs (which cost no budget, as on GitHub), lists paged
as GitHub pages them (`githubapi_pages`).
A merge is a real `git` merge / squash / rebase on the base branch (tests/githubapi_git.py).
It refuses self-approval (422), a stale merge `sha` (409) and a PR that is not mergeable, whose
required checks are not green or which lacks required approvals (405); `throttle()` answers the
next request with a secondary rate limit (403/429 + Retry-After, the budget untouched);
`spend_budget(reset_in, status)` spends the primary budget: every request is answered 403 (or
429) with `X-RateLimit-Remaining: 0` until the reset time, when the budget is whole again, as on
GitHub (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
Every request is recorded.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from githubapi_answers import Answer
from githubapi_git import BareRepo, MergeConflict
from githubapi_model import Model
from githubapi_pages import paginate
from githubapi_routes import ROUTES


@dataclass(frozen=True)
class Call:
    """One request the server received (path without the API prefix and query)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    user: str


@dataclass
class _Throttle:
    status: int
    retry_after: int | None  # None: no Retry-After header (GitHub: then wait at least a minute)
    message: str = (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    )


@dataclass
class GitHubAPI:
    """The server; see the module docstring."""

    bare: Path
    tmp: Path
    users: dict[str, str]  # token -> login
    permissions: dict[str, str] = field(default_factory=dict)  # login -> admin|write|read
    owner: str = "acme"
    name: str = "gitops"
    prefix: str = ""  # "/api/v3" for GitHub Enterprise
    rate_limit: int = 5000

    def __post_init__(self) -> None:
        self.requests: list[Call] = []
        self.rate_remaining = self.rate_limit
        self.rate_reset = float(_RESET)
        self.rate_status = 403  # GitHub answers a spent primary budget with 403 or 429
        self._throttles: list[_Throttle] = []
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        git = BareRepo(self.bare, self.tmp / "githubapi-scratch")
        self.model = Model(git, f"{self.owner}/{self.name}", self.api, self.permissions)

    # --- running ---------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        """The API base URL (PyGithub's base_url, gitbot's forge.github.apiUrl)."""
        return self.root + self.prefix

    def api(self, path: str) -> str:
        return f"{self.url}{path}"

    def __enter__(self) -> GitHubAPI:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    # --- what the test (or a person on github.com) does ------------------------------------

    def throttle(self, status: int = 403, retry_after: int | None = 1, times: int = 1) -> None:
        with self._lock:
            self._throttles += [_Throttle(status, retry_after) for _ in range(times)]

    def spend_budget(self, reset_in: float, status: int = 403) -> None:
        """The primary budget is spent now and resets `reset_in` seconds from now; requests
        until then are answered `status` (GitHub: 403 or 429)."""
        with self._lock:
            self.rate_remaining = 0
            self.rate_reset = time.time() + reset_in
            self.rate_status = status

    def review(self, number: int, login: str, event: str = "APPROVE", body: str = "") -> Answer:
        with self._lock:
            return self.model.create_review(number, login, {"event": event, "body": body})

    def dismiss(self, number: int, login: str, message: str = "stale") -> Answer:
        """A maintainer dismisses `login`'s latest review of PR `number`."""
        with self._lock:
            mine = [r for r in self.model.reviews.get(number, []) if r["user"]["login"] == login]
            return self.model.dismiss_review(number, mine[-1]["id"], "admin",
                                             {"message": message})

    def edit_comment(self, comment_id: int, body: str) -> Answer:
        with self._lock:
            return self.model.edit_comment(comment_id, {"body": body})

    def comment(self, number: int, login: str, body: str) -> Answer:
        with self._lock:
            return self.model.create_comment(number, login, {"body": body})

    def status(self, sha: str, context: str, state: str) -> Answer:
        with self._lock:
            return self.model.create_status(sha, "ci-bot", {"context": context, "state": state})

    def check_run(self, sha: str, name: str, status: str, conclusion: str | None = None) -> None:
        with self._lock:
            self.model.add_check_run(sha, name, status, conclusion)

    def close(self, number: int, login: str) -> Answer:
        with self._lock:
            return self.model.update_pull(number, login, {"state": "closed"})

    def count(self, method: str | None = None, path: str = "") -> int:
        with self._lock:
            return sum(
                1 for c in self.requests
                if (method is None or c.method == method) and c.path.startswith(path)
            )

    # --- serving ---------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[
        int, Any, dict[str, str]
    ]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        query = parse_qs(parts.query)
        data = json.loads(body) if body else None
        with self._lock:
            user = self._user(headers)
            status, payload = self._answer(method, path, query, data, user)
            link = ""
            if method == "GET" and status == 200:
                payload, link = paginate(self.url, path, query, payload)
            etag = ""
            if method == "GET" and status == 200 and path != "/rate_limit":
                etag = '"' + hashlib.sha1(json.dumps(payload).encode()).hexdigest() + '"'
                if _header(headers, "If-None-Match") == etag:  # a 304 costs no budget
                    status, payload = 304, None
                    self.rate_remaining += 1
            extra = self._rate_headers()
            if etag:
                extra["ETag"] = etag
            if link:
                extra["Link"] = link
            if status in (403, 429) and isinstance(payload, _Throttle):
                if payload.retry_after is not None:
                    extra["Retry-After"] = str(payload.retry_after)
                payload = {"message": payload.message, "documentation_url": _DOCS}
            self.requests.append(
                Call(method, path, query, {k.lower(): v for k, v in headers.items()}, data,
                     status, user or "")
            )
        return status, payload, extra

    def _user(self, headers: dict[str, str]) -> str | None:
        auth = _header(headers, "Authorization")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        return self.users.get(token)

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], data: Any, user: str | None
    ) -> tuple[int, Any]:
        if user is None:
            return 401, {"message": "Bad credentials", "documentation_url": _DOCS}
        if path == "/rate_limit":
            core = {"limit": self.rate_limit, "remaining": self.rate_remaining,
                    "reset": int(self.rate_reset), "used": self.rate_limit - self.rate_remaining}
            return 200, {"resources": {"core": core}, "rate": core}
        if self._throttles:
            throttle = self._throttles.pop(0)
            return throttle.status, throttle
        if self.rate_remaining <= 0 and time.time() >= self.rate_reset:  # the hourly reset
            self.rate_remaining, self.rate_reset = self.rate_limit, time.time() + 3600
        if self.rate_remaining <= 0:
            return self.rate_status, {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub "
                "Support for help, please include the request ID.",
                "documentation_url": _RATE_DOCS}
        self.rate_remaining -= 1
        for pattern, verb, route in ROUTES:
            match = pattern.match(path)
            if match and verb == method:
                groups = match.groupdict()
                owner_repo = f"{groups['o']}/{groups['r']}" if "o" in groups else ""
                if owner_repo and owner_repo.lower() != self.model.full_name.lower():
                    return 404, {"message": "Not Found", "documentation_url": _DOCS}
                return route(self.model, match, user, data, query)
        return 404, {"message": "Not Found", "documentation_url": _DOCS}

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(self.rate_remaining),
            "X-RateLimit-Used": str(self.rate_limit - self.rate_remaining),
            "X-RateLimit-Reset": str(int(self.rate_reset)),
            "X-RateLimit-Resource": "core",
        }


_DOCS = "https://docs.github.com/rest"
_RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")
_RESET = 4102444800  # far in the future: 2100-01-01
def _handler(api: GitHubAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, payload, extra = api.handle(
                    self.command, self.path, dict(self.headers.items()), body
                )
            except MergeConflict:  # pragma: no cover - the model answers 405 itself
                status, payload, extra = 405, {"message": "Pull Request is not mergeable"}, {}
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler
