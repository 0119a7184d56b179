"""Commit statuses and check runs of the GitHub API test server (mixed into its `Model`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from githubapi_answers import Answer, error_answer
from githubapi_git import BareRepo

NOW = "2026-11-22T10:00:00Z"
_SHA = re.compile(r"^[0-9a-f]{40}$")



class ChecksMixin:
    """`POST statuses/{sha}`, `GET commits/{ref}/status`, `GET commits/{ref}/check-runs`."""

    git: BareRepo
    full_name: str
    api: Callable[[str], str]
    statuses: dict[str, list[dict[str, Any]]]
    runs: dict[str, list[dict[str, Any]]]

    _id: Callable[[], int]  # the Model's
    user_json: Callable[[str], dict[str, Any]]
    repo_json: Callable[[], dict[str, Any]]

    def _resolve(self, ref: str) -> str | None:
        if _SHA.match(ref):
            return ref if self.git.exists(ref) else None
        return self.git.head(ref)

    def create_status(self, sha: str, user: str, data: dict[str, Any]) -> Answer:
        if not self.git.exists(sha):
            return error_answer(422, f"No commit found for SHA: {sha}")
        state = data.get("state")
        if state not in ("error", "failure", "pending", "success"):
            return error_answer(422, "Validation Failed",
                          [{"resource": "Status", "field": "state", "code": "custom"}])
        status = {"id": self._id(), "state": state, "context": data.get("context") or "default",
                  "description": data.get("description"), "target_url": data.get("target_url"),
                  "created_at": NOW, "updated_at": NOW, "creator": self.user_json(user),
                  "url": self.api(f"/repos/{self.full_name}/statuses/{sha}")}
        self.statuses.setdefault(sha, []).append(status)
        return 201, status

    def combined_status(self, ref: str) -> Answer:
        sha = self._resolve(ref)
        if sha is None:
            return error_answer(422, f"No commit found for SHA: {ref}")
        latest: dict[str, dict[str, Any]] = {}
        for status in self.statuses.get(sha, []):
            latest[status["context"]] = status
        states = [s["state"] for s in latest.values()]
        if any(s in ("error", "failure") for s in states):
            combined = "failure"
        elif not states or "pending" in states:
            combined = "pending"
        else:
            combined = "success"
        return 200, {"state": combined, "statuses": list(latest.values()), "sha": sha,
                     "total_count": len(latest), "repository": self.repo_json(),
                     "commit_url": self.api(f"/repos/{self.full_name}/commits/{sha}"),
                     "url": self.api(f"/repos/{self.full_name}/commits/{sha}/status")}

    def add_check_run(self, sha: str, name: str, status: str, conclusion: str | None) -> None:
        runs = [r for r in self.runs.get(sha, []) if r["name"] != name]
        runs.append({"id": self._id(), "head_sha": sha, "name": name, "status": status,
                     "conclusion": conclusion, "started_at": NOW,
                     "completed_at": NOW if status == "completed" else None,
                     "url": self.api(f"/repos/{self.full_name}/check-runs/{name}"),
                     "html_url": "https://github.test/runs", "details_url": "",
                     "external_id": "", "node_id": "CR",
                     "output": {"title": name, "summary": "", "text": None,
                                "annotations_count": 0, "annotations_url": ""},
                     "app": {"id": 1, "slug": "ci", "name": "CI"}})
        self.runs[sha] = runs

    def check_runs(self, ref: str) -> Answer:
        sha = self._resolve(ref)
        if sha is None:
            return error_answer(422, f"No commit found for SHA: {ref}")
        runs = self.runs.get(sha, [])
        return 200, {"total_count": len(runs), "check_runs": runs}
