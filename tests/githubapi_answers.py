"""What the GitHub API test server's handlers return: `(status, JSON body)`, and GitHub's
error body (`message`, `documentation_url`, optional `errors`), shared by its parts."""

from __future__ import annotations

from typing import Any

Answer = tuple[int, Any]


def error_answer(status: int, message: str, errors: list[Any] | None = None) -> Answer:
    body: dict[str, Any] = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    if errors is not None:
        body["errors"] = errors
    return status, body
