"""Helpers for the pull-request-mode end-to-end tests: a World in pull-request mode on the local
forge or against the GitHub API test server, and what a person does on either.

Imported by tests/test_e2e_pullrequests*.py; `wait_for_promotion` brings a World to the
promotion PR, checking every step landed by its own merged PR.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from e2e_helpers import STEP_SUBJECTS, head, initialize
from githubapi import GitHubAPI
from prfast import github_forge

from gitbot.adapters.forges import PRState, PullRequest
from gitbot.adapters.forges.local import LocalForge
from gitbot.landing_pr import PullRequestLanding
from gitbot.pullrequests import PullRequestDriver
from gitbot.sim.gitops import IMAGE, CanaryOptions
from gitbot.sim.world import World


@dataclass
class PRWorld:
    world: World
    kind: str
    api: GitHubAPI | None = None

    @property
    def driver(self) -> PullRequestDriver:
        landing = self.world.app.reconciler.landing
        assert isinstance(landing, PullRequestLanding)
        return landing.driver

    def open_pr(self) -> PullRequest:
        """The canary's PR in flight, as the forge reports it now."""
        ref = self.world.state().pull_request
        assert ref is not None, "no pull request in flight"
        found = self.driver.forge.find(ref.branch)
        assert found is not None
        return found

    def approve(self, pr: PullRequest, user: str = "dana") -> None:
        if self.api is not None:
            status, body = self.api.review(pr.number, user, "APPROVE")
            assert status == 200, body
        else:
            forge = self.driver.forge
            assert isinstance(forge, LocalForge)
            forge.add_review(pr, user, "APPROVED")

    def comment(self, pr: PullRequest, body: str, user: str = "dana") -> None:
        if self.api is not None:
            assert self.api.comment(pr.number, user, body)[0] == 201
        else:
            forge = self.driver.forge
            assert isinstance(forge, LocalForge)
            forge.add_comment(pr, user, body)

    def close(self, pr: PullRequest) -> None:
        """A person closes the PR unmerged (on a plain remote: deletes its branch)."""
        if self.api is not None:
            assert self.api.close(pr.number, "dana")[0] == 200
        else:
            git(self.world.dev.remote, "update-ref", "-d", f"refs/heads/{pr.branch}")

    def red_check(self, pr: PullRequest, context: str = "ci") -> None:
        if self.api is not None:
            self.api.model.required_contexts = [context]
            self.api.status(pr.head_sha, context, "failure")
        else:
            forge = self.driver.forge
            assert isinstance(forge, LocalForge)
            forge.add_status(pr, context, "failure", "tests failed")

    def green_check(self, pr: PullRequest, context: str = "ci") -> None:
        if self.api is not None:
            self.api.status(pr.head_sha, context, "success")
        else:
            forge = self.driver.forge
            assert isinstance(forge, LocalForge)
            forge.add_status(pr, context, "success", "tests passed")

    def pr_state(self, branch: str) -> PRState:
        found = self.driver.forge.find(branch)
        assert found is not None, branch
        return found.state

    def mainline(self) -> list[str]:
        """Subjects of gitbot's changes on main (first parent), oldest first."""
        return self.world.gitbot_subjects()

    def body(self, sha: str = "main") -> str:
        return git(self.world.dev.remote, "log", "-1", "--format=%B", sha)


def plain(subjects: list[str]) -> list[str]:
    """Subjects without the merge's ` (#N)` suffix."""
    return [s.rsplit(" (#", 1)[0] for s in subjects]


def wait_for_promotion(prw: PRWorld) -> None:
    world = prw.world
    initialize(world)
    world.dev.release("6.0.1")
    world.run_until({"WaitingPromotion"})
    subjects = prw.mainline()
    assert plain(subjects[1:]) == STEP_SUBJECTS
    assert all(s.endswith(")") and " (#" in s for s in subjects), subjects
    status = world.status()
    assert status["phase"] == "WaitingPromotion"
    pr = status["pullRequest"]
    assert pr is not None and pr["action"] == "promote" and pr["state"] == "open"
    assert head(world).primary_image == f"{IMAGE}:6.0.0"  # not promoted yet


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


LOCAL_CONFIG = "forge:\n  type: local\n"
MERGE_METHOD = "pullRequests:\n  mergeMethod: {method}\n"


@contextmanager
def pr_world(tmp_path: Path, kind: str = "local", *, method: str = "merge",
             options: CanaryOptions | None = None, pace: float = 3.0) -> Iterator[PRWorld]:
    with ExitStack() as stack:
        holder: dict[str, GitHubAPI] = {}

        def config(world: World) -> str:
            if kind == "local":
                return LOCAL_CONFIG + MERGE_METHOD.format(method=method)
            holder["api"], forge = github_forge(stack, world.dev.remote, tmp_path)
            return forge + MERGE_METHOD.format(method=method)

        world = stack.enter_context(World(tmp_path, options=options, mode="pull-request",
                                          extra_config=config, pace=pace))
        yield PRWorld(world, kind, holder.get("api"))
