"""GitHub's JSON as gitbot's values, and GitHub's limits on what gitbot sends (used by the
GitHub forge, `github.py`)."""

from __future__ import annotations

import hashlib
from typing import Any

from gitbot.adapters.forges.base import PRState, PullRequest

_LABEL_MAX = 50
BODY_MAX = 65536  # GitHub refuses a longer PR or comment body (422 "Body is too long")
_CUT = "\n\n… (cut to GitHub's 65,536 characters)"


def shape(raw: dict[str, Any]) -> PullRequest:
    """A PR from GitHub's JSON, whole (`GET /pulls/{n}`) or listed (no `merged`, `mergeable`:
    https://docs.github.com/en/rest/pulls/pulls#list-pull-requests); both have `merged_at`."""
    merged = bool(raw.get("merged") or raw.get("merged_at"))
    state = PRState.MERGED if merged else PRState(raw.get("state", "open"))
    return PullRequest(
        number=int(raw["number"]), branch=raw["head"]["ref"], base=raw["base"]["ref"],
        head_sha=raw["head"]["sha"], state=state, url=raw.get("html_url") or "",
        title=raw.get("title") or "", author=(raw.get("user") or {}).get("login", ""),
        merged_sha=(raw.get("merge_commit_sha") or "") if merged else "",
        mergeable=raw.get("mergeable"), mergeable_state=raw.get("mergeable_state") or "",
    )


def fit_label(label: str) -> str:
    """GitHub refuses label names longer than 50 characters (422; semantic-release/github#518):
    a longer one keeps its start and a digest of the whole, so it stays distinct."""
    if len(label) <= _LABEL_MAX:
        return label
    digest = hashlib.sha1(label.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{label[:_LABEL_MAX - 9]}~{digest}"


def iso(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def fit_body(text: str) -> str:
    """`text` within GitHub's 65,536 characters, saying so when cut."""
    return text if len(text) <= BODY_MAX else text[:BODY_MAX - len(_CUT)] + _CUT
