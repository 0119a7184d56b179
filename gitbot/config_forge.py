"""The pull-request sections of `config.yaml`: `forge` (local or GitHub, the token by reference)
and `pullRequests` (which actions wait for review, how many approvals, the merge method).

Called by gitbot/config.py (the `Settings.forge` and `Settings.pull_requests` fields); the
pull-request flow reads them through `Settings`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gitbot.config_section import StrictSection
from gitbot.errors import InvalidInputError

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Actions whose pull request may wait for people (`pullRequests.review`); a rollback never waits.
REVIEWABLE_ACTIONS = (
    "initialize", "scale-up", "advance", "mirror", "route-to-canary", "promote",
    "route-to-primary", "scale-down", "restart",
)


class GithubForgeConfig(StrictSection):
    """`forge.github`: the API, the repository behind git.url, the token by reference."""

    api_url: str = Field(default="https://api.github.com", alias="apiUrl",
                         description="GitHub's API; GitHub Enterprise: https://HOST/api/v3.")
    repository: str = Field(description="owner/name of the repository behind git.url.")
    token_env: str = Field(default="", alias="tokenEnv",
                           description="Environment variable holding the token (set exactly "
                           "one of tokenEnv and tokenFile).")
    token_file: str = Field(default="", alias="tokenFile",
                            description="File holding the token (relative to the config).")

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        head, sep, rest = url.partition("://")
        if head not in ("http", "https") or not sep or not rest:
            raise ValueError("must be an http(s) URL, e.g. https://api.github.com or "
                             "https://HOST/api/v3")
        if "@" in rest.split("/", 1)[0]:
            raise ValueError("must not carry credentials; name the token with tokenEnv or "
                             "tokenFile")
        return url.rstrip("/")

    @field_validator("repository")
    @classmethod
    def _owner_name(cls, repository: str) -> str:
        if not _REPOSITORY.match(repository):
            raise ValueError("must be owner/name, e.g. acme/gitops")
        return repository

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        if name and not _ENV_NAME.match(name):
            raise ValueError("must name an environment variable (never the token itself)")
        return name

    @model_validator(mode="after")
    def _one_token(self) -> GithubForgeConfig:
        if bool(self.token_env) == bool(self.token_file):
            raise ValueError("set exactly one of tokenEnv and tokenFile")
        return self

    def read_token(self, base_dir: Path) -> str:
        """The token (never log it); InvalidInputError naming the source when it is empty."""
        if self.token_env:
            token = os.environ.get(self.token_env, "").strip()
            where = f"environment variable {self.token_env}"
        else:
            path = base_dir / self.token_file
            try:
                token = path.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise InvalidInputError(
                    f"forge.github.tokenFile: cannot read {path}: {err.strerror}") from None
            where = f"file {path}"
        if not token:
            raise InvalidInputError(f"forge.github: the {where} holds no token")
        return token


class ForgeConfig(StrictSection):
    """Where pull requests live (`git.mode: pull-request`)."""

    type: Literal["local", "github"] = Field(
        default="local", description="local: branches and gitbot's own record; github: GitHub.")
    github: GithubForgeConfig | None = Field(
        default=None, description="GitHub or GitHub Enterprise; only for type github.")

    @model_validator(mode="after")
    def _github_needs_settings(self) -> ForgeConfig:
        if self.type == "github" and self.github is None:
            raise ValueError("type github needs a `github:` section (repository, tokenEnv or "
                             "tokenFile)")
        return self


class PullRequestsConfig(StrictSection):
    """`pullRequests`: which PRs wait for people, how many approvals, how gitbot merges."""

    review: tuple[str, ...] = Field(
        default=("promote",), description="Actions whose pull request waits for people; "
        "gitbot merges the others itself (a rollback is always merged at once).")
    approvals: int = Field(default=1, ge=1, le=10, description="Approving reviews needed, "
                           "never counting gitbot's own account.")
    merge_method: Literal["merge", "squash", "rebase"] = Field(
        default="merge", alias="mergeMethod", description="How gitbot merges: merge, squash "
        "or rebase.")

    @field_validator("review")
    @classmethod
    def _known_actions(cls, review: tuple[str, ...]) -> tuple[str, ...]:
        for action in review:
            if action == "rollback":
                raise ValueError("rollback cannot wait for review: it is merged at once")
            if action not in REVIEWABLE_ACTIONS:
                raise ValueError(
                    f"unknown action {action!r}; one of {', '.join(REVIEWABLE_ACTIONS)}")
        return review

