"""A fast pull-request-mode rollout: a real bare remote, gitbot's real app (`build_app`), the
stand-in Prometheus (gitbot/sim/promstub.py), the recording chat inbox, and either the local
forge or the GitHub API test server (tests/githubapi.py) over real HTTP.

Imported by tests/test_pr_people.py, test_pr_github_people.py and test_pr_restart.py (and
prworld.py, for the GitHub API test server and its users).
`stop_at(point)` makes the next pass stop at a landing point (e.g. "after-open": the PR is opened
and recorded, not merged), as a killed process would; the rollout stages those tests start from
(`waiting_step`, `waiting_promotion`) and what people do on either forge have helpers here.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from githubapi import GitHubAPI

from gitbot.adapters.forges import PRState, PullRequest
from gitbot.adapters.forges.local import LocalForge
from gitbot.config import load_settings
from gitbot.core.state import RolloutState
from gitbot.landing_pr import PullRequestLanding
from gitbot.pullrequests import PullRequestDriver
from gitbot.reconciler import PassReport
from gitbot.sim.gitops import CanaryOptions, Developer, create_gitops_repo
from gitbot.sim.inbox import Inbox
from gitbot.sim.promstub import PromStub
from gitbot.status import status_object
from gitbot.wiring import App, build_app

KEY = "test/podinfo"
NOTE_SUBJECT = "routing: say who sets the weights"  # a person's push conflicting with a step
ROUTING = "apps/podinfo/podinfo-routing.yaml"
TARGET = "apps/podinfo/deployment.yaml"
PRIMARY = "apps/podinfo/podinfo-primary.yaml"
BOT = "gitbot-bot"
USERS = {"tok-bot": BOT, "tok-dana": "dana", "tok-eve": "eve", "tok-max": "max"}
PERMISSIONS = {BOT: "write", "dana": "write", "eve": "read", "max": "maintain"}

CONFIG = """\
git:
  url: {remote}
  branch: main
  mode: pull-request
  workdir: {workdir}
  author:
    name: gitbot
    email: gitbot@example.com
prometheus:
  url: {prometheus}
  timeout: 5
"""
GITHUB = """\
forge:
  type: github
  github:
    apiUrl: {url}
    repository: acme/gitops
    tokenFile: {token}
"""


class Stopped(Exception):
    """The pass stopped at a landing point (a stand-in for a killed process)."""


@dataclass
class FastPR:
    kind: str
    dev: Developer
    inbox: Inbox
    app: App
    api: GitHubAPI | None = None
    armed: list[str] = field(default_factory=list)

    # --- gitbot ----------------------------------------------------------------------------

    def reconcile(self) -> PassReport:
        return self.app.reconciler.run_pass()

    def stop_at(self, point: str) -> PassReport:
        """One pass that stops at `point` (the tick fails there, as if killed)."""
        self.armed.append(point)
        report = self.reconcile()
        assert not self.armed, f"the pass never reached {point}"
        return report

    def until(self, done: Callable[[], bool], passes: int = 20) -> list[PassReport]:
        reports = []
        for _ in range(passes):
            reports.append(self.reconcile())
            if done():
                return reports
        raise AssertionError(f"not reached in {passes} passes; events: {self.events()[-6:]}")

    def release(self) -> None:
        """Initialize podinfo (one pass), then the developer releases 6.0.1."""
        self.reconcile()
        self.dev.release("6.0.1")

    def at_weight(self, weight: int) -> None:
        """Released and stepped until the canary is at `weight` with no step in flight."""
        self.release()
        self.until(lambda: self.state().canary_weight == weight and self.state().pending is None)

    def waiting_step(self) -> PullRequest:
        """The weight-20 step's PR, opened and recorded, not merged (the pass stopped there)."""
        self.at_weight(10)
        self.stop_at("after-open")
        ref = self.state().pull_request
        assert ref is not None and ref.action == "advance" and ref.number
        assert self.state().pending is not None
        return self.open_pr()

    def waiting_promotion(self) -> PullRequest:
        """The promotion PR, waiting for a review."""
        self.release()
        self.until(lambda: self.phase() == "WaitingPromotion")
        return self.open_pr()

    def state(self) -> RolloutState:
        return self.app.store.load(KEY) or RolloutState()

    def phase(self) -> str:
        return self.state().phase.value

    def events(self) -> list[str]:
        return [e["message"] for e in status_object("podinfo", "test", self.state())["events"]]

    def posted_events(self) -> list[str]:
        """The event messages sent to the `events` event webhook (`fast_pr(..., events=True)`)."""
        assert self.app.reconciler.announcer.flush(10)
        return [m["metadata"]["eventMessage"] for m in self.inbox.messages("/events")]

    def chat(self) -> list[str]:
        assert self.app.reconciler.announcer.flush(10)
        return [m["attachments"][0]["text"] for m in self.inbox.messages("/slack")]

    @property
    def github(self) -> GitHubAPI:
        """The GitHub API test server (`fast_pr(..., "github")` only)."""
        assert self.api is not None, "not a GitHub rig"
        return self.api

    @property
    def driver(self) -> PullRequestDriver:
        landing = self.app.reconciler.landing
        assert isinstance(landing, PullRequestLanding)
        return landing.driver

    def open_pr(self) -> PullRequest:
        ref = self.state().pull_request
        assert ref is not None, "no pull request in flight"
        found = self.driver.forge.find(ref.branch)
        assert found is not None
        return found

    def comments(self, pr: PullRequest) -> list[str]:
        return [c.body for c in self.driver.forge.comments(pr)]

    def pr_state(self, branch: str) -> PRState:
        found = self.driver.forge.find(branch)
        assert found is not None, f"no pull request from {branch}"
        return found.state

    def superseded(self, old: PullRequest) -> str:
        """`old` is closed; its last comment (the one naming what superseded it)."""
        assert self.pr_state(old.branch) is PRState.CLOSED
        return self.comments(old)[-1]

    def mainline(self) -> list[str]:
        """The subjects on main's first-parent line, newest first."""
        return self.dev.log_subjects()

    # --- people ----------------------------------------------------------------------------

    def comment(self, pr: PullRequest, body: str, user: str = "dana") -> None:
        if self.api is not None:
            assert self.api.comment(pr.number, user, body)[0] == 201
        else:
            self._local().add_comment(pr, user, body)

    def approve(self, pr: PullRequest, user: str = "dana") -> None:
        if self.api is not None:
            assert self.api.review(pr.number, user, "APPROVE")[0] == 200
        else:
            self._local().add_review(pr, user, "APPROVED")

    def red_check(self, pr: PullRequest) -> None:
        """A failing `ci` status on the PR head: gitbot does not merge a red PR."""
        if self.api is not None:
            self.api.status(pr.head_sha, "ci", "failure")
        else:
            self._local().add_status(pr, "ci", "failure", "tests failed")

    def green_check(self, pr: PullRequest) -> None:
        if self.api is not None:
            self.api.status(self.open_pr().head_sha, "ci", "success")
        else:
            self._local().add_status(self.open_pr(), "ci", "success", "tests passed")

    def note_weights(self) -> str:
        """A person pushes to main a comment on each weight line (conflicts with a step PR)."""
        noted = re.sub(r"(weight: \d+)", r"\1  # set by gitbot", self.dev.read(ROUTING))
        return self.dev.commit_files({ROUTING: noted}, NOTE_SUBJECT)

    def set_weights(self, primary: int, canary: int, message: str) -> str:
        text = self.dev.read(ROUTING)
        weights = iter((primary, canary))
        edited = re.sub(r"weight: \d+", lambda _m: f"weight: {next(weights)}", text)
        return self.dev.commit_files({ROUTING: edited}, message)

    def push_onto(self, branch: str, rel: str, text: str, message: str) -> str:
        """A person commits onto gitbot's PR branch and pushes (never forced)."""
        clone = self.dev.clone
        git(clone, "fetch", "-q", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
        git(clone, "checkout", "-q", "-B", "onto", f"origin/{branch}")
        (clone / rel).write_text(text, encoding="utf-8")
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", message)
        git(clone, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        sha = git(clone, "rev-parse", "HEAD")
        git(clone, "checkout", "-q", self.dev.branch)
        return sha

    def _local(self) -> LocalForge:
        forge = self.driver.forge
        assert isinstance(forge, LocalForge)
        return forge


def conflicting(sha: str, subject: str) -> str:
    """How the comment closing a PR that Dana's push `sha` to main conflicts with starts."""
    return (f'Superseded by {sha[:12]} (Dana Developer: "{subject}"), pushed to `main`; it '
            "conflicts with this change.")


def resuming(pr: PullRequest) -> str:
    """The event a `/gitbot resume` on `pr` is told by."""
    return f"Resuming podinfo.test advancement: /gitbot resume on pull request #{pr.number}"


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "dana", "GIT_AUTHOR_EMAIL": "dana@example.com",
           "GIT_COMMITTER_NAME": "dana", "GIT_COMMITTER_EMAIL": "dana@example.com",
           "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def github_forge(stack: ExitStack, remote: Path, tmp_path: Path) -> tuple[GitHubAPI, str]:
    """The GitHub API test server on `remote` (USERS, PERMISSIONS; stopped with `stack`) and
    the `forge:` config naming it, with gitbot's token in tmp_path/github-token."""
    (tmp_path / "gh").mkdir(exist_ok=True)
    api = stack.enter_context(GitHubAPI(remote, tmp_path / "gh", users=dict(USERS),
                                        permissions=dict(PERMISSIONS)))
    token = tmp_path / "github-token"
    token.write_text("tok-bot\n", encoding="utf-8")
    return api, GITHUB.format(url=api.url, token=token)


@contextmanager
def fast_pr(tmp_path: Path, kind: str = "local", extra: str = "", *, events: bool = False
            ) -> Iterator[FastPR]:
    """`events`: the canary also has an event webhook posting to the inbox's `/events`."""
    with ExitStack() as stack:
        inbox = stack.enter_context(Inbox())
        hooks = [{"name": "events", "type": "event", "url": f"{inbox.url}/events",
                  "timeout": "5s"}] if events else []
        dev = create_gitops_repo(tmp_path, options=CanaryOptions(
            alert_url=f"{inbox.url}/slack", webhooks=hooks))
        prom = stack.enter_context(PromStub(dev.remote))
        text = CONFIG.format(remote=dev.remote, workdir=tmp_path / "work", prometheus=prom.url)
        api = None
        if kind == "github":
            api, forge = github_forge(stack, dev.remote, tmp_path)
            text += forge
        config = tmp_path / "config.yaml"
        config.write_text(text + extra, encoding="utf-8")
        armed: list[str] = []

        def crash(point: str) -> None:
            if armed and armed[0] == point:
                armed.pop(0)
                raise Stopped(point)

        app = build_app(load_settings(config), crash=crash)
        stack.callback(app.close)
        yield FastPR(kind, dev, inbox, app, api, armed)
