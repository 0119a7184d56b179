"""Pagination of the GitHub API test server's lists, as GitHub pages them.

https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api: `per_page`
(default 30, at most 100) and `page` (from 1); a `Link` header with absolute URLs for `next`,
`last`, `prev` and `first`; a list inside an object (`check_runs`, `statuses`) is paged the same
way while `total_count` counts them all. Called by `GitHubAPI.handle` for every GET answer.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

_REPO = r"^/repos/[^/]+/[^/]+"
# path -> the key of the paged list inside the answer ("" for a plain JSON array)
_PAGED = [
    (re.compile(_REPO + r"/pulls$"), ""),
    (re.compile(_REPO + r"/pulls/\d+/reviews$"), ""),
    (re.compile(_REPO + r"/issues/\d+/comments$"), ""),
    (re.compile(_REPO + r"/commits/[^/]+/check-runs$"), "check_runs"),
    (re.compile(_REPO + r"/commits/[^/]+/status$"), "statuses"),
]


def paginate(url: str, path: str, query: dict[str, list[str]], payload: Any) -> tuple[Any, str]:
    """The page `query` asks for, and the Link header ("" when everything fits one page)."""
    key = next((k for pattern, k in _PAGED if pattern.match(path)), None)
    if key is None:
        return payload, ""
    items = payload[key] if key else payload
    per_page = max(1, min(int(query.get("per_page", ["30"])[0]), 100))
    page = max(1, int(query.get("page", ["1"])[0]))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    paged = {**payload, key: chunk} if key else chunk
    links = []
    for rel, number in (("prev", page - 1), ("next", page + 1), ("first", 1), ("last", last)):
        if 1 <= number <= last and (rel in ("next", "prev") or last > 1):
            params = {k: v[0] for k, v in query.items()} | {"per_page": per_page, "page": number}
            links.append(f'<{url}{path}?{urlencode(params)}>; rel="{rel}"')
    return paged, ", ".join(links) if last > 1 else ""
