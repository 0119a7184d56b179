"""Pull-request mode: what the forge reports about a step's pull request (a `Progress`: merged,
waiting for people or checks, paused, resumed, rejected) turned into the landing's answer to the
reconciler: `Landed` after a proposal or an advance, `Resumed` when a waiting promotion PR is
looked at again.

Called by `gitbot.landing_pr.PullRequestLanding`, which proposes and advances the PRs; this
module only reads the outcome (syncing the working copy to what the remote now holds), tells
a pause or a resume once, a required check that has not reported once (`tell_held`), and
holds a reviewed action's state for review.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from gitbot.adapters.git import GitWorkspace
from gitbot.core import decide_pr, messages
from gitbot.core.pr_held import held_comment, same_head
from gitbot.core.pr_supersede import resumed_event
from gitbot.core.spec import Canary
from gitbot.core.state import AlertMessage, Event, PullRequestRef, RepoChange, RolloutState
from gitbot.errors import GitbotError
from gitbot.landing import Landed, Resumed
from gitbot.landing_people import kept
from gitbot.pullrequests import Outcome, Progress, PullRequestDriver

log = logging.getLogger("gitbot.reconciler")


class PullRequestOutcomes:
    """Reads a step PR's `Progress` for `PullRequestLanding` (see the module docstring)."""

    def __init__(self, ws: GitWorkspace, review: frozenset[str],
                 clock: Callable[[], datetime]) -> None:
        self.ws = ws
        self.review = review
        self.clock = clock

    def reviewed(self, change: RepoChange) -> bool:
        """`change`'s PR waits for people (`pullRequests.review`); a rollback never does."""
        return change.action in self.review and not change.revert

    def landed(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        ref: PullRequestRef, progress: Progress,
    ) -> Landed:
        """After proposing or advancing `ref`: merged, held for review, paused or waiting."""
        if not (ref.paused and progress.suspend is False):
            return self._landed(canary, before, state, change, ref, progress)
        # /gitbot resume on a paused step PR: told once, like the pause (merged now or later)
        event = Event(_stamp(self.clock()), "Normal", resumed_event(canary, ref.number))
        ref = replace(ref, paused=False)
        state = replace(state, pull_request=ref).with_events(event)
        landed = self._landed(canary, before, state, change, ref, progress)
        return replace(landed, events=(event, *landed.events))

    def _landed(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        ref: PullRequestRef, progress: Progress,
    ) -> Landed:
        self.ws.sync()  # the merge, or back to the remote's head without the unmerged commit
        number = f"#{ref.number}"
        if progress.foreign:
            log.warning("%s: pull request %s carries a person's commits on top of gitbot's %s; "
                        "they are kept", canary.key, number, ref.head[:12])
        if progress.outcome is Outcome.MERGED:
            people = ", ".join(progress.approved_by)
            who = f" (approved by {people})" if people else ""
            log.info("%s: merged pull request %s%s", canary.key, number, who)
            done = replace(state, pending=None, pull_request=None)
            told: tuple[tuple[Event, ...], tuple[AlertMessage, ...]] = ((), ())
            if progress.foreign:
                done, event, alert = kept(canary, done, ref.number, progress.added,
                                          progress.pr.head_sha, _stamp(self.clock()))
                told = ((event,), (alert,))
            return Landed(done, progress.merged_sha, self.ws.log(max_count=1)[0].subject,
                          f"merged pull request {number}{who}", events=told[0], alerts=told[1])
        if progress.held:  # told once by the landing; every tick the same
            log.debug("%s: pull request %s: %s", canary.key, number, progress.reason)
        else:
            log.info("%s: pull request %s: %s", canary.key, number, progress.reason)
        ref = replace(ref, held=progress.held)
        if self.reviewed(change):
            held = decide_pr.held_for_review(canary, before, state, ref, self.clock())
            first = held.step == state.step
            return Landed(held, reason=f"pull request {number} waits for review", quiet=not first)
        if progress.suspend and not ref.paused:  # /gitbot pause on a step PR: told once
            event = Event(_stamp(self.clock()), "Normal", messages.SUSPENDED)
            paused = replace(state, pull_request=replace(ref, paused=True)).with_events(event)
            return Landed(paused, reason=f"pull request {number}: /gitbot pause",
                          events=(event,))
        return Landed(replace(state, pull_request=ref),
                      reason=f"pull request {number} waits: {progress.reason}")

    def waiting_review(self, canary: Canary, state: RolloutState, ref: PullRequestRef,
                       progress: Progress) -> Resumed:
        """A promotion PR waits: what did people do? (the analysis then runs as usual)"""
        if progress.outcome is Outcome.REJECTED:
            return self.rejected(canary, state, progress)
        if progress.outcome is Outcome.MERGED:
            self.ws.sync()
            return Resumed(decide_pr.promotion_merged(canary, state, self.clock()),
                           f"pull request #{ref.number} merged by a person")
        if progress.suspend:
            if ref.paused:
                return Resumed(state, hold=True)
            paused = replace(state, pull_request=replace(ref, paused=True))
            event = Event(_stamp(self.clock()), "Normal", messages.SUSPENDED)
            return Resumed(paused.with_events(event), "/gitbot pause", hold=True)
        if ref.paused:
            event = Event(_stamp(self.clock()), "Normal", resumed_event(canary, ref.number))
            resumed = replace(state, pull_request=replace(ref, paused=False))
            return Resumed(resumed.with_events(event), "/gitbot resume", events=(event,))
        return Resumed(state)

    def rejected(self, canary: Canary, state: RolloutState, progress: Progress) -> Resumed:
        ref = state.pull_request
        number = f"#{ref.number}" if ref is not None else "the pull request"
        reason = f"pull request {number} rejected: {progress.reason}"
        log.warning("%s: %s", canary.key, reason)
        return Resumed(state, reason,
                       decision=decide_pr.rejected(canary, state, reason, self.clock()))


def tell_held(driver: PullRequestDriver, canary: Canary, ref: PullRequestRef,
              progress: Progress) -> None:
    """GitHub refused the merge of `ref` for a required check that has not reported: say so
    once per PR head, in the log and on the PR (later ticks are quiet, `_landed`)."""
    if not progress.held or same_head(ref.held, progress.held):
        return
    log.warning("%s: pull request #%d waits: %s", canary.key, ref.number, progress.reason)
    try:
        driver.forge.comment(progress.pr, held_comment(progress.pr.base, progress.refused))
    except GitbotError as err:  # the log said it
        log.warning("could not comment on pull request #%d: %s", ref.number, err)


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
