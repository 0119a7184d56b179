"""Pull-request mode: every change gitbot decides lands through a pull request into git.branch.

Called by the reconciler through the `Landing` interface (`gitbot.landing`). For each change:
commit it in the working copy as push mode would (same trailers and body), record the PR
(branch, head) in the canary's state BEFORE opening it, push the branch and open (or, after a
restart, adopt) the PR, record its number, and try to merge it. Actions in
`pullRequests.review` (default: promote) wait for people in phase WaitingPromotion while the
analysis keeps running every tick; the re-decided promotion re-checks the same PR (never a
second one). People refusing a PR (reject, `/gitbot abort`, closed unmerged) roll the run back;
a rollback closes the waiting PR with the reason and is merged at once; a new change while a PR
is open supersedes it. A person's push to the base while a PR waits supersedes it too
(`gitbot.landing_people`): a drift, judged against what is merged, lets the drift rules decide;
a conflict, or (GitHub) a head only behind a base whose protection wants it up to date, proposes
the same step again from the new base on `...-r<n>`, and the closing comment says which. A
required check that has not reported is told once per head (log and PR comment). A person's
commits on gitbot's PR branch are merged as they are and reported. The local working copy never
keeps an unmerged commit: it is reset to the remote after each proposal. What the forge then
reports about a PR is read by `gitbot.landing_pr_outcome`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from gitbot.adapters.forges import PRState, PullRequest
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.statestore import GitStateStore
from gitbot.core import decide_pr
from gitbot.core.drift import PersonCommit
from gitbot.core.pr_supersede import again_log, merged_view, superseded_comment
from gitbot.core.spec import Canary
from gitbot.core.state import (
    Decision,
    Observation,
    PullRequestRef,
    RepoChange,
    RolloutState,
    Traffic,
)
from gitbot.errors import GitbotError
from gitbot.history import find_step, mainline
from gitbot.landing import Committer, Landed, Resumed
from gitbot.landing_people import Earlier, Watch
from gitbot.landing_pr_outcome import PullRequestOutcomes, tell_held
from gitbot.landing_texts import pr_texts_for
from gitbot.pullrequests import Outcome, Progress, PullRequestDriver, branch_name

log = logging.getLogger("gitbot.reconciler")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PullRequestLanding:
    """See the module docstring."""

    def __init__(
        self, ws: GitWorkspace, store: GitStateStore, driver: PullRequestDriver, *,
        review: frozenset[str], approvals: int = 1, crash: Callable[[str], None],
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.ws = ws
        self.store = store
        self.driver = driver
        self.approvals = approvals
        self.crash = crash
        self.clock = clock
        self.committer = Committer(ws, crash)
        self.earlier = Earlier(driver)
        self.outcomes = PullRequestOutcomes(ws, review, clock)

    # --- the Landing interface -------------------------------------------------------------

    def unfinished(self, state: RolloutState) -> bool:
        return state.pending is not None or state.pull_request is not None

    def note(
        self, canary: Canary, before: RolloutState, decision: Decision, obs: Observation,
        now: datetime,
    ) -> Decision:
        return decide_pr.record_tick(before, decision, obs, now)

    def land(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        analysis: str = "",
    ) -> Landed:
        ref = state.pull_request
        if (ref is not None and ref.number and ref.action == change.action
                and self.outcomes.reviewed(change)):
            self.driver.report_analysis(self._pr(ref), True, "analysis passed this tick")
            progress = self._advance(canary, state, change, ref, fresh=False)
            if progress.again:  # a push to the base: propose it again from there
                return self._again(canary, before, replace(state, step=ref.step), change, ref,
                                   behind=progress.behind)
            return self.outcomes.landed(canary, before, state, change, ref, progress)
        return self._propose(canary, before, state, change, analysis, old=ref,
                             base=before.traffic)

    def finish(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> Resumed:
        ref, pending = state.pull_request, state.pending
        if pending is None:
            assert ref is not None
            progress = self.driver.check(self._pr(ref), self._approval(canary, state))
            return self.outcomes.waiting_review(canary, state, ref, progress)
        if find_step(mainline(history), canary.key, state.step) is not None:
            return Resumed(replace(state, pending=None, pull_request=None))
        same = ref is not None and (ref.step == state.step or bool(
            ref.number and ref.action == pending.action and self.outcomes.reviewed(pending)))
        if ref is None or not same or not ref.number:
            old = None if same else ref
            base = ref.base_traffic if ref is not None and same else None
            landed = self._propose(canary, state, state, pending, "", old=old, known=same,
                                   base=base, attempt=ref.attempt if ref and same else 1)
            return self._resumed(landed)
        self._close_earlier(canary, pending, ref, history)
        progress = self._advance(canary, state, pending, ref, fresh=False)
        if progress.outcome is Outcome.REJECTED and not pending.revert:
            return self.outcomes.rejected(canary, state, progress)
        if progress.outcome is Outcome.WAITING:
            people = self._people_changed(canary, state, pending, ref, history, progress)
            if people is not None:
                return people
        landed = self.outcomes.landed(canary, state, state, pending, ref, progress)
        resumed = self._resumed(landed)
        if resumed.hold and self._revision_changed(canary, state):
            # decide restarts the run from the state as merged; its first change supersedes
            # this PR (drift is never judged against the PR's unmerged values)
            merged = replace(merged_view(landed.state, ref), pull_request=ref)
            return Resumed(merged, f"a new revision supersedes pull request #{ref.number}",
                           events=resumed.events, alerts=resumed.alerts)
        return resumed

    def _people_changed(
        self, canary: Canary, state: RolloutState, change: RepoChange, ref: PullRequestRef,
        history: list[CommitInfo], progress: Progress,
    ) -> Resumed | None:
        """A person's push to the base while the step PR waits: a drift (judged against what
        is merged) supersedes the PR and the drift rules decide; a conflict supersedes it by
        the same step proposed again from the new base. None: neither."""
        watch = Watch(self.ws, self.committer.flux)
        found = watch.drifted(canary, state, change, ref, history, self.clock())
        if found is not None:
            self._close(ref, found.comment)
            return Resumed(found.state, found.reason, decision=found.decision)
        if not progress.again:
            return None
        return self._resumed(self._again(canary, state, state, change, ref, history,
                                         behind=progress.behind))

    def _again(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        ref: PullRequestRef, history: list[CommitInfo] | None = None, *, behind: bool = False,
    ) -> Landed:
        """Propose `ref`'s change again on a new branch from the new base, closing `ref` with a
        comment naming the commit on the base it conflicts with, or (`behind`: nothing
        conflicts, the base's protection wants an up-to-date head) that moved the base ahead.
        Never forcing over it."""
        self.ws.sync()
        by = self._culprit(canary, history, behind=behind)
        log.warning("%s: %s", canary.key, again_log(ref.number, self.ws.branch, by, ref.step,
                                                    behind=behind))
        return self._propose(canary, before, state, change, "", old=ref, base=ref.base_traffic,
                             attempt=ref.attempt + 1, superseded_by=by or _NOBODY,
                             behind=behind)

    def _culprit(self, canary: Canary, history: list[CommitInfo] | None, *,
                 behind: bool) -> PersonCommit | None:
        """The person's commit on the base the PR gives way to; for a PR that is only behind,
        the base's newest commit when no person's commit is newer than gitbot's (e.g. another
        canary's step moved the base ahead)."""
        by = Watch(self.ws, self.committer.flux).culprit(canary, history or self.ws.log(300))
        if by is None and behind:
            head = self.ws.changes("", [], max_count=1)
            by = PersonCommit(head[0].sha, head[0].author, head[0].subject) if head else None
        return by

    # --- proposing and advancing -------------------------------------------------------------

    def _propose(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        analysis: str, *, old: PullRequestRef | None, known: bool = False,
        base: Traffic | None = None, attempt: int = 1, superseded_by: PersonCommit | None = None,
        behind: bool = False,
    ) -> Landed:
        key = canary.key
        if old is not None and old.number and change.revert:
            self._close(old, f"gitbot rolls back `{key}`: {change.reason}. This pull request "
                        "is closed without merging; the rollback's own pull request follows.")
        sha, edits = self.committer.commit(canary, state, change, analysis)
        if sha is None:
            self.ws.sync()
            if old is not None and old.number and superseded_by is not None:
                self._close(old, superseded_comment(self.ws.branch, _named(superseded_by)))
            return Landed(replace(state, pending=None, pull_request=None))
        branch = branch_name(key, state.step, change.action, attempt)
        again = ("behind" if behind else "conflict") if superseded_by is not None else ""
        ref = PullRequestRef(branch, sha, change.action, state.step, attempt=attempt,
                             base_traffic=base, again=again)
        self.store.save(key, replace(state, pull_request=ref), f"proposing {branch}")
        self.crash("after-commit")
        title, body = pr_texts_for(self.ws, canary, state, change, edits,
                                   review=self.outcomes.reviewed(change), approvals=self.approvals)
        proposal = self.driver.propose(key, state.step, change.action, sha, title, body,
                                       known=known, attempt=attempt)
        pr = proposal.pr
        ref = replace(ref, number=pr.number, url=pr.url)
        self.store.save(key, replace(state, pull_request=ref), f"opened pull request #{pr.number}")
        self.crash("after-open")
        if old is not None and old.number and old.branch != ref.branch and not change.revert:
            link = f"#{pr.number} {pr.url}".rstrip()
            if superseded_by is not None:
                self._close(old, superseded_comment(
                    self.ws.branch, _named(superseded_by), conflict=True, behind=behind,
                    replacement=link, step=f"step {state.step} ({change.subject})"))
                self.crash("after-supersede")
                self.earlier.settled(ref)
            else:
                self._close(old, f"Superseded by {link} ({change.subject}); gitbot closed this "
                            "pull request.")
        elif old is None and not change.revert:  # proposed again after a restart
            self._close_earlier(canary, change, ref)
        progress = self._advance(canary, state, change, ref, fresh=proposal.fresh, pr=pr)
        return self.outcomes.landed(canary, before, state, change, ref, progress)

    def _advance(
        self, canary: Canary, state: RolloutState, change: RepoChange, ref: PullRequestRef,
        *, fresh: bool, pr: PullRequest | None = None,
    ) -> Progress:
        progress = self.driver.advance(
            pr or self._pr(ref), change.action, fresh=fresh, urgent=change.revert,
            local_approval=self._approval(canary, state), gitbot_sha=ref.head, held=ref.held,
        )
        tell_held(self.driver, canary, ref, progress)
        return progress

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _resumed(landed: Landed) -> Resumed:
        return Resumed(landed.state, landed.reason, hold=landed.state.pending is not None,
                       events=landed.events, alerts=landed.alerts)

    def _close_earlier(self, canary: Canary, change: RepoChange, ref: PullRequestRef,
                       history: list[CommitInfo] | None = None) -> None:
        """A crash between opening `ref` (`-r<n>`) and closing the PR it replaces: close it now
        with the comment it would have had."""
        def comment() -> str:
            if history is None:  # without gitbot's unmerged commit, which is not the culprit
                self.ws.sync()
            by = self._culprit(canary, history, behind=ref.again == "behind")
            return superseded_comment(
                self.ws.branch, by, conflict=True, behind=ref.again == "behind",
                replacement=f"#{ref.number} {ref.url}".rstrip(),
                step=f"step {ref.step} ({change.subject})")

        for number in self.earlier.close(canary.key, ref, comment):
            log.warning("%s: closed pull request #%d, left open by a restart; #%d replaces it",
                        canary.key, number, ref.number)

    def _pr(self, ref: PullRequestRef) -> PullRequest:
        return PullRequest(number=ref.number, branch=ref.branch, base=self.ws.branch,
                           head_sha=ref.head, state=PRState.OPEN, url=ref.url)

    def _close(self, ref: PullRequestRef, why: str) -> None:
        try:
            self.driver.close(self._pr(ref), why)
        except GitbotError as err:  # best effort: the change that replaces it matters more
            log.warning("could not close pull request #%d: %s", ref.number, err)

    def _approval(self, canary: Canary, state: RolloutState) -> str:
        """`gitbot approve` recorded for this run, by whom ("" when none)."""
        approval = self.store.approval(canary.key)
        if (approval and state.rollout_id and approval.get("rollout") == state.rollout_id
                and approval.get("decision", "approve") == "approve"):
            return approval.get("by", "") or "gitbot approve"
        return ""

    def _revision_changed(self, canary: Canary, state: RolloutState) -> bool:
        revision = ManifestEditor(self.ws.root).target_revision(canary)
        return bool(revision) and revision != state.last_applied_spec


_NOBODY = PersonCommit("", "", "")  # a conflict whose commit could not be named


def _named(commit: PersonCommit) -> PersonCommit | None:
    return commit if commit.sha else None


