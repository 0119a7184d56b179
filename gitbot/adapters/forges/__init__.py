"""Forges: where gitbot's pull requests live, behind one small interface (`Forge`).

- `local` (`LocalForge`): any Git remote; PR = branch + record on the state branch; gitbot
  merges with `git`.
- `github` (`GitHubForge`): GitHub or GitHub Enterprise through PyGithub.

`make_forge` picks one by `forge.type`; the wiring calls it, the pull-request driver
(`gitbot.pullrequests`) uses the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitbot.adapters.forges.base import (
    MERGE_METHODS,
    STATUS_CONTEXT,
    Checks,
    CheckState,
    Comment,
    Forge,
    ForgeBudgetError,
    MergeResult,
    PRState,
    PullRequest,
    Review,
    combine_checks,
)
from gitbot.adapters.forges.branches import PushResult, RemoteBranches
from gitbot.adapters.statestore import BranchFiles
from gitbot.errors import InvalidInputError

__all__ = [
    "MERGE_METHODS",
    "STATUS_CONTEXT",
    "CheckState",
    "Checks",
    "Comment",
    "Forge",
    "ForgeBudgetError",
    "ForgeSetup",
    "GitHubSetup",
    "MergeResult",
    "PRState",
    "PullRequest",
    "PushResult",
    "RemoteBranches",
    "Review",
    "combine_checks",
    "make_forge",
]


@dataclass(frozen=True)
class GitHubSetup:
    """What the GitHub forge needs (from `forge.github`, the token already read)."""

    api_url: str
    repository: str
    token: str = field(repr=False)  # never in a log line or a repr
    timeout: int = 10
    max_wait: float = 60.0
    # reads the token again (tokenEnv / tokenFile) for each request: a rotated token is used
    read: Callable[[], str] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ForgeSetup:
    """What `make_forge` needs; `github` only for type github."""

    kind: str  # forge.type
    url: str  # git.url
    state_branch: str  # git.stateBranch
    files: BranchFiles  # the workspace (state branch reads and writes)
    git_env: Mapping[str, str]  # the workspace's git environment (identity, credentials)
    scratch_dir: Path  # the local forge's own clone for merges
    user: str = "gitbot"
    github: GitHubSetup | None = None
    secrets: Callable[[], list[str]] = list


def make_forge(setup: ForgeSetup) -> Forge:
    """The forge `setup.kind` names."""
    if setup.kind == "local":
        from gitbot.adapters.forges.local import LocalForge
        from gitbot.adapters.forges.local_merge import ScratchMerger

        merger = ScratchMerger(setup.url, setup.scratch_dir, setup.git_env,
                               secrets=setup.secrets)
        return LocalForge(setup.files, setup.state_branch, merger, user=setup.user)
    if setup.kind == "github":
        if setup.github is None:
            raise InvalidInputError("forge.github: missing (repository, tokenEnv or tokenFile)")
        from gitbot.adapters.forges.github import GitHubForge

        gh = setup.github
        return GitHubForge(gh.api_url, gh.repository, gh.read or gh.token, timeout=gh.timeout,
                           max_wait=gh.max_wait)
    raise InvalidInputError(f"forge.type: unknown forge {setup.kind!r}; use local or github")
