"""How a decided change reaches `git.branch`: pushed (push mode) or through a pull request.

The reconciler holds one `Landing` and calls it for every change (`land`), for the work left from
an earlier tick (`unfinished` / `finish`: a crash, or a PR not merged yet), and to let it add to
a decision (`note`: pull-request mode records each analysis tick). `PushLanding` is push mode:
edit, commit with trailers, push; a rollback reverts the run's commits as one commit. The
commit-making helpers here are shared with `gitbot.landing_pr.PullRequestLanding`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.git import CommitInfo, GitConflictError, GitWorkspace
from gitbot.adapters.manifest_types import FieldChange
from gitbot.adapters.manifests import ManifestEditor
from gitbot.core import commit_texts
from gitbot.core.spec import Canary
from gitbot.core.state import (
    AlertMessage,
    Decision,
    Event,
    Observation,
    RepoChange,
    RolloutState,
)
from gitbot.history import CLUSTER_TRAILER, current_run, find_step

log = logging.getLogger("gitbot.reconciler")


@dataclass(frozen=True)
class Landed:
    """The outcome of `land`: the state to record now, and the commit on the branch (if any)."""

    state: RolloutState
    sha: str = ""
    subject: str = ""
    reason: str = "change landed"
    quiet: bool = False  # a re-decided change that still waits: do not announce it again
    events: tuple[Event, ...] = ()  # also in `state`; to announce (e.g. a person's commit kept)
    alerts: tuple[AlertMessage, ...] = ()


@dataclass(frozen=True)
class Resumed:
    """The outcome of `finish`: the state now, and whether the tick goes on.

    `hold`: stop this tick (a PR that must merge first). `decision`: act on it instead of
    deciding (people refused the PR: roll back).
    """

    state: RolloutState
    reason: str = "change landed"
    hold: bool = False
    decision: Decision | None = None
    events: tuple[Event, ...] = ()  # also in `state`; to announce
    alerts: tuple[AlertMessage, ...] = ()


class Landing(Protocol):
    committer: Committer

    def land(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        analysis: str,
    ) -> Landed: ...

    def unfinished(self, state: RolloutState) -> bool: ...

    def finish(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> Resumed: ...

    def note(
        self, canary: Canary, before: RolloutState, decision: Decision, obs: Observation,
        now: datetime,
    ) -> Decision: ...


class Committer:
    """Makes gitbot's commit for a change in the working copy (not pushed)."""

    def __init__(self, ws: GitWorkspace, crash: Callable[[str], None]) -> None:
        self.ws = ws
        self.crash = crash
        self.flux: FluxSpecs | None = None  # set per pass: a Flux repository's rendered view
        # the reconciler's shared picture (`RepoIndex.editor`); a fresh read when not set
        self.editors: Callable[[FluxSpecs | None, Canary | None], ManifestEditor] = \
            lambda flux, canary: editor_for(ws.root, flux, canary)
        self.moved: Callable[[], None] = lambda: None  # told when a revert moved HEAD
        self.last_subject = ""  # the subject of the last commit made

    def editor(self, canary: Canary | None = None) -> ManifestEditor:
        """The editor for this pass: a FluxEditor (render, edit, render, verify) when the
        repository is laid out for Flux (a HelmEditor for a HelmRelease-deployed canary)."""
        return self.editors(self.flux, canary)

    def trailers(self, trailers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """`trailers`, plus `Gitbot-Cluster` in a Flux repository (commits of other clusters are
        then never resumed or reverted here)."""
        if self.flux is None:
            return trailers
        return (*trailers, (CLUSTER_TRAILER, self.flux.view.cluster))

    def cluster(self) -> str | None:
        return self.flux.view.cluster if self.flux is not None else None

    def commit(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str = ""
    ) -> tuple[str | None, list[FieldChange]]:
        """Edit and commit with trailers; (None, []) when the repository already says so."""
        if change.revert:
            return self._revert(canary, state, change, analysis), []
        editor = self.editor(canary)
        edits = apply_edits(editor, canary, change)
        saved = editor.save()
        self.crash("after-edit")
        subject, body, trailers = commit_texts.commit_message(canary, change, state)
        trailers = self.trailers(trailers)
        body = _with(_with(body, analysis), section("Changes:", [str(e) for e in edits]))
        sha = self.ws.commit(subject, body, trailers, paths=saved or None)
        if sha is None:
            log.info("%s: %s: repository already up to date", canary.key, change.action)
        self.last_subject = subject
        return sha, edits

    def _revert(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str
    ) -> str | None:
        """Revert this run's commits as one commit; when the revert conflicts (or finds nothing
        to revert), write 100/0 and replicas 0 directly, under a subject that says so."""
        commits = current_run(self.ws, canary.key, self.cluster())
        listed = [f"{c.sha[:12]} {c.subject}" for c in commits]
        sha, outcome = None, commit_texts.RevertOutcome.NOTHING_TO_REVERT
        if commits:
            sha, outcome = self._revert_commits(canary, state, change, analysis, commits)
            self.moved()  # the revert changed files: the shared picture re-reads them
        editor = self.editor(canary)
        edits = apply_edits(editor, canary, replace(change, revert=False))
        editor.save()
        self.crash("after-edit")
        if editor.changed_files() or sha is None:
            subject, body, trailers = commit_texts.rollback_written(
                canary, change, state, len(commits), outcome
            )
            trailers = self.trailers(trailers)
            body = _with(_with(body, analysis), section("Changes:", [str(e) for e in edits]))
            body = _with(body, section(outcome.listing, listed))
            fixed = self.ws.commit(subject, body, trailers)
            if fixed is not None:
                sha, self.last_subject = fixed, subject
        return sha

    def _revert_commits(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str,
        commits: list[CommitInfo],
    ) -> tuple[str | None, commit_texts.RevertOutcome]:
        """One commit reverting `commits` (None when it conflicted or changed nothing)."""
        _, body, trailers = commit_texts.commit_message(canary, change, state)
        trailers = self.trailers(trailers)
        listed = [f"{c.sha[:12]} {c.subject}" for c in commits]
        body = _with(_with(body, analysis), section("Reverts:", listed))
        subject = commit_texts.rollback_subject(canary, len(commits), change.reason)
        try:
            sha = self.ws.revert([c.sha for c in commits], subject, body, trailers)
        except GitConflictError as err:
            log.warning("%s: revert conflicted, writing 100/0 directly: %s", canary.key, err)
            return None, commit_texts.RevertOutcome.CONFLICTED
        if sha is None:
            return None, commit_texts.RevertOutcome.CHANGED_NOTHING
        self.last_subject = subject
        return sha, commit_texts.RevertOutcome.REVERTED


class PushLanding:
    """Push mode: commit on `git.branch` and push."""

    def __init__(self, ws: GitWorkspace, crash: Callable[[str], None]) -> None:
        self.ws = ws
        self.crash = crash
        self.committer = Committer(ws, crash)

    def land(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        analysis: str = "",
    ) -> Landed:
        sha, _edits = self.committer.commit(canary, state, change, analysis)
        done = replace(state, pending=None)
        if sha is None:
            return Landed(done)
        self.crash("after-commit")
        pushed = self.ws.push()
        self.crash("after-push")
        return Landed(done, pushed, self.committer.last_subject)

    def unfinished(self, state: RolloutState) -> bool:
        return state.pending is not None

    def finish(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> Resumed:
        """Resume after a crash: land the pending change unless it already is on the branch."""
        assert state.pending is not None
        if find_step(history, canary.key, state.step) is None:
            log.info("%s: resuming step %d (%s)", canary.key, state.step, state.pending.action)
            self.land(canary, state, state, state.pending)
        return Resumed(replace(state, pending=None))

    def note(
        self, canary: Canary, before: RolloutState, decision: Decision, obs: Observation,
        now: datetime,
    ) -> Decision:
        return decision


def apply_edits(editor: ManifestEditor, canary: Canary, change: RepoChange) -> list[FieldChange]:
    """Apply the desired values of `change`; returns what actually changed."""
    edits: list[FieldChange] = []
    if change.bootstrap_primary:
        edits += editor.bootstrap_primary(canary)
    if change.update_routing:
        edits += editor.update_routing(canary)
    if change.bootstrap:
        edits += editor.bootstrap(canary)
    if change.promote:
        edits += editor.promote(canary)
    if change.traffic is not None:
        edits += editor.set_traffic(canary, change.traffic)
    if change.target_replicas is not None:
        edits += editor.set_replicas(canary.namespace, canary.target.name, change.target_replicas)
    return edits


def section(title: str, lines: list[str], most: int = 25) -> str:
    """A titled list for a commit body ("" when empty), cut after `most` lines."""
    if not lines:
        return ""
    shown = [f"- {line}" for line in lines[:most]]
    if len(lines) > most:
        shown.append(f"- ... and {len(lines) - most} more")
    return "\n".join([title, *shown])


def _with(body: str, analysis: str) -> str:
    return f"{body}\n\n{analysis}" if analysis else body
