"""Pull-request mode: each change gitbot decides becomes a branch and a pull request.

The reconciler (once wired) commits a change in its working copy as in push mode, then:

- `propose(key, step, action, sha, title, body)` pushes that commit to
  `gitbot/<namespace>/<name>/<step>-<action>` (never forcing over a person's commit), opens the
  PR with labels `gitbot`, the action and `canary:<ns>/<name>` (or adopts the one already open
  for that branch after a restart: never a duplicate) and sets the `gitbot/analysis` status;
- `advance(pr, action, ...)` every tick: auto-merges when mergeable with green checks unless the
  action is in `pullRequests.review`; for those it reports approved (then merges) / rejected /
  waiting, from approving reviews by people other than gitbot's own account, `/gitbot promote`
  or `/gitbot abort` comments by people with write access, and the local `gitbot approve`.
  `/gitbot pause|resume` come back as `Progress.suspend`. A rollback (`urgent`) merges at once.
  What stops a merge is told apart: a conflict (`Progress.conflict`), a head only behind a base
  whose protection wants it up to date (`Progress.behind`; both are proposed again from the new
  base), red or pending checks, and a required check that has not reported (`Progress.held`:
  GitHub refused once; no merge is asked again while it still says "blocked" for the same head
  and checks);
- `close(pr, why)` / `supersede(pr, by)` close an open PR with a comment saying why.

A merged PR's branch is deleted with a lease on its head, so a person's later commit is kept.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitbot.adapters.forges import (
    Checks,
    CheckState,
    Forge,
    ForgeSetup,
    GitHubSetup,
    PRState,
    PullRequest,
    RemoteBranches,
    make_forge,
)
from gitbot.adapters.statestore import BranchFiles
from gitbot.config import Settings
from gitbot.core.pr_held import held_key, held_reason
from gitbot.pr_verdict import Verdict, judge

__all__ = ["Outcome", "Policy", "Progress", "Proposal", "PullRequestDriver", "Verdict",
           "branch_name", "build_driver", "judge", "labels_for"]

_CLEAN = frozenset({"clean", "has_hooks"})
CONFLICT = "conflicts with the base branch"
PAUSED = "paused by `/gitbot pause`; `/gitbot resume` lets it merge"


def branch_name(key: str, step: int, action: str, attempt: int = 1) -> str:
    """`gitbot/<namespace>/<name>/<step>-<action>`: one branch per change; a change proposed
    again after a person's push superseded its PR gets `-r<attempt>` (a new branch, so the
    superseded PR and its branch stay as they were)."""
    suffix = f"-r{attempt}" if attempt > 1 else ""
    return f"gitbot/{key}/{step}-{action}{suffix}"


def labels_for(key: str, action: str) -> list[str]:
    return ["gitbot", action, f"canary:{key}"]


@dataclass(frozen=True)
class Policy:
    """`pullRequests`: the actions that wait for people, approvals needed, merge method."""

    review: frozenset[str] = frozenset({"promote"})
    approvals: int = 1
    merge_method: str = "merge"


class Outcome(enum.Enum):
    MERGED = "merged"
    WAITING = "waiting"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Proposal:
    pr: PullRequest
    fresh: bool  # opened just now (nothing can have happened to it yet)
    foreign: bool = False  # a person's commits sit on the PR branch (kept in the merge)


@dataclass(frozen=True)
class Progress:
    outcome: Outcome
    pr: PullRequest
    merged_sha: str = ""
    reason: str = ""
    approved_by: tuple[str, ...] = ()
    suspend: bool | None = None  # /gitbot pause -> True, /gitbot resume -> False
    foreign: bool = False
    conflict: bool = False  # the PR conflicts with the base branch (a person pushed there)
    behind: bool = False  # no conflict, but the base moved and must be in the head (GitHub)
    held: str = ""  # GitHub refused the merge: a required check has not reported (`held_key`)
    refused: str = ""  # GitHub's answer when it refused the merge just now
    added: tuple[tuple[str, str, str], ...] = ()  # merged: people's commits (sha, author, subject)

    @property
    def again(self) -> bool:
        """Only a PR proposed again from the new base can merge (a conflict, or behind)."""
        return self.conflict or self.behind


class PullRequestDriver:
    """Proposes, advances and closes gitbot's PRs on one forge; see the module docstring."""

    def __init__(
        self, forge: Forge, branches: RemoteBranches, base: str, policy: Policy
    ) -> None:
        self.forge = forge
        self._branches = branches
        self._base = base
        self._policy = policy

    def propose(
        self, key: str, step: int, action: str, sha: str, title: str, body: str,
        *, status: tuple[str, str] = ("success", "analysis passed"), known: bool = False,
        attempt: int = 1,
    ) -> Proposal:
        """Push and open (or adopt) the PR of one change.

        `known`: the state branch recorded this PR before a restart, so look it up even when
        the branch had to be pushed anew (it is deleted after a merge); otherwise a freshly
        created branch cannot have a PR yet and the lookup request is saved.
        """
        branch = branch_name(key, step, action, attempt)
        pr = self.forge.find(branch) if known else None
        if pr is not None and pr.state is PRState.CLOSED and pr.head_sha != sha:
            pr = None  # an earlier change's PR under a reused step number, not this commit's
        if pr is not None and pr.state is not PRState.OPEN:
            return Proposal(pr, fresh=False)  # merged or closed already: never a second PR
        pushed = self._branches.push(sha, branch)
        if pr is None and not pushed.created:
            pr = self.forge.find(branch)
        fresh = pr is None
        if pr is None:
            pr = self.forge.open(branch, self._base, title, body, labels_for(key, action))
        if pr.state is PRState.OPEN and status:
            self.forge.set_status(pr, *status)
        return Proposal(pr, fresh=fresh, foreign=pushed.foreign)

    def find(self, key: str, step: int, action: str) -> PullRequest | None:
        """The PR of a change after a restart (any state), by its branch."""
        return self.forge.find(branch_name(key, step, action))

    def advance(
        self, pr: PullRequest, action: str, *, fresh: bool = False, urgent: bool = False,
        local_approval: str = "", gitbot_sha: str = "", held: str = "",
    ) -> Progress:
        """One tick of a PR: merged, waiting (and why) or rejected (and by whom). `held`: where
        GitHub last refused it for a required check that has not reported (`Progress.held`)."""
        if not fresh:
            pr = self.forge.get(pr)
        foreign = bool(gitbot_sha) and pr.head_sha != gitbot_sha
        if pr.state is PRState.MERGED:
            return Progress(Outcome.MERGED, pr, pr.merged_sha, "merged", foreign=foreign)
        if pr.state is PRState.CLOSED:
            return Progress(Outcome.REJECTED, pr, reason="closed without merging",
                            foreign=foreign)
        if pr.mergeable is False:  # the forge knows already: no review or merge can help
            return Progress(Outcome.WAITING, pr, reason=CONFLICT, foreign=foreign, conflict=True)
        review = action in self._policy.review and not urgent
        verdict = Verdict()
        if review or not fresh:
            verdict = self._judge(pr, local_approval)
            if verdict.rejected_by:
                return Progress(Outcome.REJECTED, pr, reason=f"/gitbot abort by "
                                f"{verdict.rejected_by}", suspend=verdict.suspend)
            if review and not verdict.approved_by:
                return Progress(Outcome.WAITING, pr, reason=self._waiting_text(),
                                suspend=verdict.suspend, foreign=foreign)
            if verdict.suspend and not urgent:  # paused: nothing merges until /gitbot resume
                return Progress(Outcome.WAITING, pr, reason=PAUSED, suspend=True,
                                approved_by=verdict.approved_by, foreign=foreign)
        checks = None
        if not (fresh or urgent):
            blocked, checks = self._blocked(pr)
            still = not blocked and self._still_held(pr, held, checks)
            if blocked or still:
                return Progress(Outcome.WAITING, pr, reason=blocked or held_reason(),
                                approved_by=verdict.approved_by, suspend=verdict.suspend,
                                held=held if still else "")
        return self._merge(pr, verdict, foreign, gitbot_sha or pr.head_sha, checks)

    def check(self, pr: PullRequest, local_approval: str = "") -> Progress:
        """What people did to a PR that waits for review, without merging it.

        MERGED when a person merged it, REJECTED when closed unmerged or `/gitbot abort`,
        otherwise WAITING (with `approved_by` once approved, and any `/gitbot pause|resume`).
        """
        pr = self.forge.get(pr)
        if pr.state is PRState.MERGED:
            return Progress(Outcome.MERGED, pr, pr.merged_sha, "merged by a person")
        if pr.state is PRState.CLOSED:
            return Progress(Outcome.REJECTED, pr, reason="closed without merging")
        conflict = pr.mergeable is False
        verdict = self._judge(pr, local_approval)
        if verdict.rejected_by:
            return Progress(Outcome.REJECTED, pr, reason=f"/gitbot abort by {verdict.rejected_by}",
                            suspend=verdict.suspend)
        reason = "approved" if verdict.approved_by else self._waiting_text()
        return Progress(Outcome.WAITING, pr, reason=CONFLICT if conflict else reason,
                        approved_by=verdict.approved_by, suspend=verdict.suspend,
                        conflict=conflict)

    def report_analysis(self, pr: PullRequest, passed: bool, summary: str) -> None:
        """The `gitbot/analysis` status of the PR head: this tick's verdict (e.g. while waiting)."""
        self.forge.set_status(pr, "success" if passed else "failure", summary)

    def close(self, pr: PullRequest, why: str) -> None:
        """Close an open PR with a comment saying why (a failed analysis, a rollback)."""
        self.forge.close(pr, why)
        self._branches.delete(pr.branch, pr.head_sha)

    def supersede(self, pr: PullRequest, replaced_by: str) -> None:
        self.close(pr, f"Superseded by {replaced_by}; gitbot closed this pull request.")

    # --- inside ----------------------------------------------------------------------------

    def _judge(self, pr: PullRequest, local_approval: str) -> Verdict:
        verdict = judge(self.forge.reviews(pr), self.forge.comments(pr), self.forge.own_login(),
                        self.forge.can_write, self._policy.approvals)
        if local_approval and not verdict.approved_by and not verdict.rejected_by:
            return Verdict((local_approval,), "", verdict.suspend, verdict.ignored)
        return verdict

    def _waiting_text(self) -> str:
        n = self._policy.approvals
        return (f"waiting for {n} approving review{'s' if n > 1 else ''} by people other than "
                "gitbot, a `/gitbot promote` comment, or `gitbot approve`")

    def _blocked(self, pr: PullRequest) -> tuple[str, Checks | None]:
        """Red or pending checks ("" otherwise), and the checks read to tell."""
        if pr.mergeable_state in _CLEAN:
            return "", None
        checks = self.forge.checks(pr)
        if checks.state is not CheckState.GREEN:
            return f"checks {checks.state.value}: {', '.join(checks.details)}", checks
        return "", checks

    @staticmethod
    def _still_held(pr: PullRequest, held: str, checks: Checks | None) -> bool:
        """GitHub refused the merge for a required check that had not reported, and nothing
        it answers by has changed since: still "blocked", the same head, the same checks."""
        return (bool(held) and checks is not None and pr.mergeable_state == "blocked"
                and held == held_key(pr.head_sha, checks.reported))

    def _merge(self, pr: PullRequest, verdict: Verdict, foreign: bool, sha: str,
               checks: Checks | None = None) -> Progress:
        """Merge with gitbot's commit message (subject + body + trailers) on the merge commit."""
        title, _, message = self._branches.message(sha).partition("\n")
        if not title:  # a person's commit we do not have locally: GitHub's default message
            title, message = pr.title, ""
        added = tuple(self._branches.added(sha, pr.branch)) if foreign else ()
        result = self.forge.merge(pr, self._policy.merge_method, f"{title} (#{pr.number})",
                                  message.strip())
        if result.merged:
            self._branches.delete(pr.branch, pr.head_sha)
            return Progress(Outcome.MERGED, pr, result.sha, "merged",
                            approved_by=verdict.approved_by, suspend=verdict.suspend,
                            foreign=foreign, added=added)
        reason, held = result.reason or "not mergeable", ""
        if result.stale:
            reason = f"the branch moved since it was read ({reason}); read again next tick"
        if result.checks_required:  # where GitHub refused: no merge until that changes
            held = held_key(pr.head_sha, (checks or self.forge.checks(pr)).reported)
            reason = held_reason(reason)
        return Progress(Outcome.WAITING, pr, reason=reason, approved_by=verdict.approved_by,
                        suspend=verdict.suspend, foreign=foreign, conflict=result.conflict,
                        behind=result.behind, held=held, refused=result.reason)


def build_driver(
    settings: Settings,
    files: BranchFiles,
    repo_dir: Path,
    git_env: Mapping[str, str],
    *,
    secrets: Callable[[], list[str]] = list,
) -> PullRequestDriver:
    """The driver for `settings` (the entry point for the wiring).

    `files` is the workspace (state branch), `repo_dir` its working copy (where gitbot's commits
    are), `git_env` the workspace's git environment (`workspace_env(...)`). The local forge
    merges in its own clone next to the working copy (`<workdir>-forge`).
    """
    forge = settings.forge
    github = None
    if forge.type == "github" and forge.github is not None:
        gh = forge.github
        github = GitHubSetup(gh.api_url, gh.repository, gh.read_token(settings.base_dir),
                             read=lambda: gh.read_token(settings.base_dir))
    workdir = settings.workdir()
    setup = ForgeSetup(
        kind=forge.type, url=settings.git.url, state_branch=settings.git.state_branch,
        files=files, git_env=git_env, scratch_dir=workdir.with_name(workdir.name + "-forge"),
        user=settings.git.author.name, github=github, secrets=secrets,
    )
    prs = settings.pull_requests
    policy = Policy(frozenset(prs.review), prs.approvals, prs.merge_method)
    branches = RemoteBranches(repo_dir, git_env, secrets=secrets)
    return PullRequestDriver(make_forge(setup), branches, settings.git.branch, policy)
