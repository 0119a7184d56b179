"""The routes of the GitHub API test server (tests/githubapi.py): path pattern, verb, answer.

Exactly the endpoints gitbot's GitHub forge uses; each calls the `Model` with the request's
match, user, JSON body and query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from githubapi_answers import Answer
from githubapi_model import Model

REPO = r"^/repos/(?P<o>[^/]+)/(?P<r>[^/]+)"
Route = Callable[[Model, re.Match[str], str, Any, dict[str, list[str]]], Answer]


def _me(model: Model, user: str) -> Answer:
    """`GET /user`; a GitHub App installation token (its account `<slug>[bot]`) may not read it
    (actions/create-github-app-token#258)."""
    if user.endswith("[bot]"):
        return 403, {"message": "Resource not accessible by integration", "documentation_url":
                     "https://docs.github.com/rest/users/users#get-the-authenticated-user"}
    return 200, model.user_json(user)


def _graphql(user: str, data: Any) -> Answer:
    """Only `query { viewer { login } }`: the account of the token, a bot's too."""
    query = str((data or {}).get("query", ""))
    if re.fullmatch(r"\s*(query\s*)?\{\s*viewer\s*\{\s*login\s*\}\s*\}\s*", query):
        return 200, {"data": {"viewer": {"login": user}}}
    return 200, {"errors": [{"message": "not served by the test server"}]}


def _n(match: re.Match[str]) -> int:
    return int(match.group("n"))


ROUTES: list[tuple[re.Pattern[str], str, Route]] = [
    (re.compile(r"^/user$"), "GET", lambda m, _x, u, _d, _q: _me(m, u)),
    (re.compile(r"^(/api)?/graphql$"), "POST", lambda _m, _x, u, d, _q: _graphql(u, d)),
    (re.compile(REPO + "$"), "GET", lambda m, _x, _u, _d, _q: (200, m.repo_json())),
    (re.compile(REPO + "/pulls$"), "GET", lambda m, _x, _u, _d, q: m.list_pulls(q)),
    (re.compile(REPO + "/pulls$"), "POST", lambda m, _x, u, d, _q: m.create_pull(u, d)),
    (re.compile(REPO + r"/pulls/(?P<n>\d+)$"), "GET", lambda m, x, _u, _d, _q: m.get_pull(_n(x))),
    (re.compile(REPO + r"/pulls/(?P<n>\d+)$"), "PATCH",
     lambda m, x, u, d, _q: m.update_pull(_n(x), u, d)),
    (re.compile(REPO + r"/pulls/(?P<n>\d+)/merge$"), "PUT",
     lambda m, x, u, d, _q: m.merge(_n(x), u, d or {})),
    (re.compile(REPO + r"/pulls/(?P<n>\d+)/reviews$"), "GET",
     lambda m, x, _u, _d, _q: m.list_reviews(_n(x))),
    (re.compile(REPO + r"/pulls/(?P<n>\d+)/reviews/(?P<id>\d+)/dismissals$"), "PUT",
     lambda m, x, u, d, _q: m.dismiss_review(_n(x), int(x.group("id")), u, d)),
    (re.compile(REPO + r"/issues/comments/(?P<id>\d+)$"), "PATCH",
     lambda m, x, _u, d, _q: m.edit_comment(int(x.group("id")), d or {})),
    (re.compile(REPO + r"/pulls/(?P<n>\d+)/reviews$"), "POST",
     lambda m, x, u, d, _q: m.create_review(_n(x), u, d or {})),
    (re.compile(REPO + r"/issues/(?P<n>\d+)/comments$"), "GET",
     lambda m, x, _u, _d, _q: m.list_comments(_n(x))),
    (re.compile(REPO + r"/issues/(?P<n>\d+)/comments$"), "POST",
     lambda m, x, u, d, _q: m.create_comment(_n(x), u, d or {})),
    (re.compile(REPO + r"/issues/(?P<n>\d+)/labels$"), "POST",
     lambda m, x, _u, d, _q: m.add_labels(_n(x), d)),
    (re.compile(REPO + r"/commits/(?P<ref>[^/]+)/status$"), "GET",
     lambda m, x, _u, _d, _q: m.combined_status(x.group("ref"))),
    (re.compile(REPO + r"/commits/(?P<ref>[^/]+)/check-runs$"), "GET",
     lambda m, x, _u, _d, _q: m.check_runs(x.group("ref"))),
    (re.compile(REPO + r"/statuses/(?P<sha>[0-9a-f]{40})$"), "POST",
     lambda m, x, u, d, _q: m.create_status(x.group("sha"), u, d or {})),
    (re.compile(REPO + r"/collaborators/(?P<user>[^/]+)/permission$"), "GET",
     lambda m, x, _u, _d, _q: m.permission(x.group("user"))),
]
