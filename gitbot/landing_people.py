"""Pull-request mode: what people's commits do to gitbot's open pull request.

Called by `gitbot.landing_pr.PullRequestLanding`:

- `Watch.drifted`: while a step PR waits, a person's push to the base branch may change what
  gitbot manages. That is judged against what is merged (`pr_supersede.merged_view`), never
  against the PR's unmerged values, so a waiting PR is no drift. On drift the PR is superseded
  (closed with a comment naming the commit) and the drift rules decide (`gitbot.drift`).
- `Watch.culprit`: the person's commit that a conflicting PR must give way to.
- `kept`: a PR merged with people's commits on top of gitbot's: the event and chat naming them.
- `Earlier.close`: a crash between opening the `-r<n>` PR and closing the PR it replaces leaves
  both open; after the restart the earlier attempts of the same step still open on the forge are
  closed with the same comment, once (checked once per process for each `-r<n>` branch).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.forges import PRState, PullRequest
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.core import pr_supersede
from gitbot.core.drift import PersonCommit
from gitbot.core.drift_decide import drift_decision
from gitbot.core.drift_messages import findings_text
from gitbot.core.spec import Canary, Severity
from gitbot.core.state import (
    ACTIVE_PHASES,
    AlertMessage,
    Decision,
    Event,
    PullRequestRef,
    RepoChange,
    RolloutState,
)
from gitbot.drift import DriftWatch
from gitbot.errors import GitbotError
from gitbot.pullrequests import PullRequestDriver, branch_name

log = logging.getLogger("gitbot.reconciler")

#: Changes whose merged state is the same run at the previous step (drift is checked against it).
#: A run's start (scale-up, restart) or an initialization waits with the canary still at zero.
DRIFT_CHECKED = frozenset({"advance", "mirror", "route-to-canary", "promote", "route-to-primary",
                           "advance-primary", "scale-down"})


@dataclass(frozen=True)
class Superseded:
    """A person's push changed what gitbot manages while its PR waited."""

    state: RolloutState  # the state as merged (the PR's change dropped)
    decision: Decision  # what the drift rules do
    comment: str  # the closing comment for the PR
    reason: str  # the state branch's commit subject


class Watch:
    """Reads the working copy (synced to the remote) for one pass."""

    def __init__(self, ws: GitWorkspace, flux: FluxSpecs | None) -> None:
        self._drift = DriftWatch(ws, flux)
        self._base = ws.branch

    def drifted(
        self, canary: Canary, state: RolloutState, change: RepoChange, ref: PullRequestRef,
        history: list[CommitInfo], now: datetime,
    ) -> Superseded | None:
        """The drift a person's commit caused while `ref` waits (None: none, or not judged)."""
        if change.revert or change.action not in DRIFT_CHECKED or ref.base_traffic is None:
            return None
        merged = pr_supersede.merged_view(state, ref)
        if merged.phase not in ACTIVE_PHASES or canary.suspend:
            return None
        found = self._drift.find(canary, merged, history)
        if found is None:
            return None
        drift, declared = found
        comment = pr_supersede.superseded_comment(
            self._base, drift.culprit, findings=findings_text(drift), action=drift.action)
        reason = f"pull request #{ref.number} superseded by " + pr_supersede.commit_text(
            drift.culprit)
        log.warning("%s: %s: %s", canary.key, reason, findings_text(drift))
        decision = drift_decision(canary, merged, drift, declared, now)
        return Superseded(merged, decision, comment, reason)

    def culprit(self, canary: Canary, history: list[CommitInfo]) -> PersonCommit | None:
        return self._drift.person_commit(canary, history)


def kept(
    canary: Canary, state: RolloutState, number: int, added: tuple[tuple[str, str, str], ...],
    head: str, now: str,
) -> tuple[RolloutState, Event, AlertMessage]:
    """`state` with the event naming the people's commits kept in PR `number`'s merge."""
    commits = [PersonCommit(*row) for row in added] or [PersonCommit(head, "a person", "")]
    event = Event(now, "Normal", pr_supersede.kept_event(number, commits))
    alert = AlertMessage(Severity.WARN, pr_supersede.kept_chat(canary, number, commits))
    return state.with_events(event), event, alert


class Earlier:
    """The earlier attempts of a step proposed again (`-r<n>`) that a crash left open."""

    def __init__(self, driver: PullRequestDriver) -> None:
        self._driver = driver
        self._settled: set[str] = set()  # `-r<n>` branches whose earlier attempts are closed

    def settled(self, ref: PullRequestRef) -> None:
        """`ref` closed the PR it replaces itself (no crash in between)."""
        self._settled.add(ref.branch)

    def close(self, key: str, ref: PullRequestRef, comment: Callable[[], str]) -> list[int]:
        """Close the earlier attempts of `ref`'s step still open, with `comment()` unless it is
        on the PR already (a crash between commenting and closing); the numbers closed."""
        if ref.attempt < 2 or not ref.number or ref.branch in self._settled:
            return []
        forge, closed = self._driver.forge, []
        try:
            for attempt in range(1, ref.attempt):
                pr = forge.find(branch_name(key, ref.step, ref.action, attempt))
                if pr is None or pr.state is not PRState.OPEN:
                    continue
                self._driver.close(pr, "" if self._told(pr, ref.number) else comment())
                closed.append(pr.number)
        except GitbotError as err:  # the forge is unreachable: try again next tick
            log.warning("%s: could not close the pull request #%d replaces: %s", key,
                        ref.number, err)
            return closed
        self._settled.add(ref.branch)
        return closed

    def _told(self, pr: PullRequest, number: int) -> bool:
        own, said = self._driver.forge.own_login(), re.compile(rf" as #{number}\b")
        return any(c.user == own and c.body.startswith("Superseded by ") and said.search(c.body)
                   for c in self._driver.forge.comments(pr))
