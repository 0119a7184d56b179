"""A pull-request rig for the forge tests: a bare remote, gitbot's clone, a forge, the driver.

Imported by tests/test_forge_*.py. `Rig.commit(...)` makes the commit gitbot would make for a
change (with its trailers) in gitbot's own clone; the `person_*` helpers do what a person does on
each forge (an approving review, a comment, closing the PR, a red check).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gitfixtures import git, make_remote, write
from githubapi import GitHubAPI

from gitbot.adapters.forges import PullRequest, RemoteBranches
from gitbot.adapters.forges.github import GitHubForge
from gitbot.adapters.forges.local import LocalForge
from gitbot.adapters.forges.local_merge import ScratchMerger
from gitbot.adapters.git import GitWorkspace
from gitbot.adapters.git_credentials import workspace_env
from gitbot.pullrequests import Policy, PullRequestDriver

BOT = "gitbot-bot"
TOKENS = {"tok-bot": BOT, "tok-dana": "dana", "tok-eve": "eve"}
PERMISSIONS = {BOT: "write", "dana": "write", "eve": "read"}


@dataclass
class Rig:
    kind: str
    tmp: Path
    bare: Path
    clone: Path
    forge: LocalForge | GitHubForge
    driver: PullRequestDriver
    api: GitHubAPI | None = None
    sleeps: list[float] = field(default_factory=list)

    def commit(self, step: int, action: str, path: str = "apps/podinfo/vs.yaml",
               text: str | None = None, key: str = "test/podinfo") -> str:
        """gitbot's commit for one change, on top of the remote main."""
        git(self.clone, "fetch", "-q", "origin")
        git(self.clone, "checkout", "-q", "-f", "-B", "main", "origin/main")
        write(self.clone, path, text if text is not None else f"step {step} {action}\n")
        git(self.clone, "add", "-A")
        message = (f"podinfo.test: {action} step {step}\n\nWhy: analysis passed\n\n"
                   f"Gitbot-Canary: {key}\nGitbot-Action: {action}\nGitbot-Step: {step}")
        git(self.clone, "-c", "user.name=gitbot", "-c", "user.email=gitbot@localhost",
            "commit", "-q", "-m", message)
        return git(self.clone, "rev-parse", "HEAD")

    def person_approves(self, pr: PullRequest, user: str = "dana") -> None:
        if self.api is not None:
            status, body = self.api.review(pr.number, user, "APPROVE")
            assert status == 200, body
        else:
            assert isinstance(self.forge, LocalForge)
            self.forge.add_review(pr, user, "APPROVED")

    def person_comments(self, pr: PullRequest, body: str, user: str = "dana") -> None:
        if self.api is not None:
            assert self.api.comment(pr.number, user, body)[0] == 201
        else:
            assert isinstance(self.forge, LocalForge)
            self.forge.add_comment(pr, user, body)

    def person_closes(self, pr: PullRequest) -> None:
        if self.api is not None:
            assert self.api.close(pr.number, "dana")[0] == 200
        else:  # on a plain remote a person deletes the PR branch
            git(self.bare, "update-ref", "-d", f"refs/heads/{pr.branch}")

    def red_check(self, pr: PullRequest, context: str = "ci") -> None:
        if self.api is not None:
            self.api.model.required_contexts = [context]
            self.api.status(pr.head_sha, context, "failure")
        else:
            assert isinstance(self.forge, LocalForge)
            self.forge.add_status(pr, context, "failure", "tests failed")

    def green_check(self, pr: PullRequest, context: str = "ci") -> None:
        if self.api is not None:
            self.api.status(pr.head_sha, context, "success")
        else:
            assert isinstance(self.forge, LocalForge)
            self.forge.add_status(pr, context, "success", "tests passed")

    def main_log(self) -> list[str]:
        return git(self.bare, "log", "--format=%s", "main").splitlines()

    def branches(self) -> list[str]:
        out = git(self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/gitbot/")
        return [b for b in out.splitlines() if not b.startswith("gitbot/state")]


@contextmanager
def make_rig(
    kind: str, tmp: Path, policy: Policy | None = None, clock: Callable[[], float] = time.time,
) -> Iterator[Rig]:
    tmp.mkdir(parents=True, exist_ok=True)
    bare = make_remote(tmp)
    clone = tmp / "gitbot-clone"
    git(tmp, "clone", "-q", str(bare), str(clone))
    env = workspace_env(str(bare), "gitbot", "gitbot@localhost", None, None)
    branches = RemoteBranches(clone, env)
    policy = policy or Policy()
    if kind == "local":
        with GitWorkspace(str(bare), "main", tmp / "ws") as ws:
            ws.sync()
            merger = ScratchMerger(str(bare), tmp / "forge-scratch", env)
            forge = LocalForge(ws, "gitbot/state", merger, user="gitbot")
            driver = PullRequestDriver(forge, branches, "main", policy)
            yield Rig(kind, tmp, bare, clone, forge, driver)
        return
    with GitHubAPI(bare, tmp, users=dict(TOKENS), permissions=dict(PERMISSIONS)) as api:
        sleeps: list[float] = []
        gh = GitHubForge(api.url, "acme/gitops", "tok-bot", sleep=sleeps.append, clock=clock,
                         seconds_between_requests=0, seconds_between_writes=0)
        driver = PullRequestDriver(gh, branches, "main", policy)
        try:
            yield Rig(kind, tmp, bare, clone, gh, driver, api, sleeps)
        finally:
            gh.shutdown()
