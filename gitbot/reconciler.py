"""One reconcile tick per canary: observe -> decide -> act -> record -> notify.

Called by the CLI (`reconcile --once`) and the daemon. The decision is pure
(`gitbot.core.decide`); this module does the I/O around it, in an order that survives a crash
at any point:

1. finish the change decided on an earlier tick, if it never landed (`state.pending`);
2. observe (manifests, the cluster's applied revision, readiness, webhooks, metrics);
3. decide;
4. record the new state on the state branch (with the change as `pending`);
5. act: edit the manifests, commit with trailers, push; a rollback reverts the run's commits;
6. record again (`pending` cleared) and notify (best effort).

A change carries `Gitbot-Step: <n>`; after a restart, a pending step found in the branch's log
has landed and is not repeated, one not found is applied again (edits are idempotent).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.git import CommitInfo, GitConflictError, GitWorkspace
from gitbot.adapters.manifest_types import FieldChange
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.specs import SpecSet, load_repository
from gitbot.adapters.statestore import GitStateStore
from gitbot.core import messages
from gitbot.core.analysis_report import analysis_lines
from gitbot.core.decide import decide
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, RepoChange, RolloutState
from gitbot.errors import GitbotError
from gitbot.history import CLUSTER_TRAILER, find_step, for_cluster, run_commits
from gitbot.notify import Announcer
from gitbot.observe import Observer

log = logging.getLogger("gitbot.reconciler")

CrashHook = Callable[[str], None]


def _no_crash(_point: str) -> None:
    return None


def crash_hook_from_env(environ: Mapping[str, str]) -> CrashHook:
    """Test seam: `GITBOT_CRASH_AT=<point>[:<n>]` kills the process (exit 86) at the n-th time
    it reaches `point` (after-state-write, after-edit, after-commit, after-push)."""
    spec = environ.get("GITBOT_CRASH_AT", "")
    if not spec:
        return _no_crash
    point, _, nth = spec.partition(":")
    remaining = [int(nth or "1")]

    def crash(at: str) -> None:
        if at != point:
            return
        remaining[0] -= 1
        if remaining[0] == 0:
            logging.shutdown()
            os._exit(86)

    return crash


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TickReport:
    """What one tick did, for the CLI and the daemon's log."""

    canary: str
    phase: str
    commit: str = ""
    subject: str = ""
    error: str = ""


@dataclass
class PassReport:
    head: str
    specs: SpecSet
    ticks: list[TickReport] = field(default_factory=list)


class Reconciler:
    """Owns one working copy; not thread-safe (one reconciler = one thread)."""

    def __init__(
        self,
        workspace: GitWorkspace,
        store: GitStateStore,
        observer: Observer,
        announcer: Announcer,
        *,
        clock: Callable[[], datetime] = utcnow,
        crash: CrashHook = _no_crash,
        no_cross_namespace_refs: bool = False,
        flux_cluster: str = "",
    ) -> None:
        self.ws = workspace
        self.flux_cluster = flux_cluster  # config flux.cluster ("" = the only cluster)
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.store = store
        self.observer = observer
        self.announcer = announcer
        self.clock = clock
        self.crash = crash
        self._reported: frozenset[str] = frozenset()  # problems already logged
        self._flux: FluxSpecs | None = None  # the rendered Flux view of the current pass

    def run_pass(self, only: str | None = None) -> PassReport:
        """Sync the repository, then give every valid canary (or one) one tick."""
        head = self.ws.sync()
        specs = load_repository(self.ws.root, no_cross_namespace_refs=self.no_cross_namespace_refs,
                                cluster=self.flux_cluster)
        report = PassReport(head=head, specs=specs)
        problems = frozenset(str(p) for p in specs.problems)
        for line in sorted(problems - self._reported):  # each once, until it is fixed
            log.warning("invalid: %s", line)
        self._reported = problems
        for canary in specs.canaries:
            if only and only not in (canary.key, canary.name):
                continue
            report.ticks.append(self.tick_safely(canary, specs))
        return report

    def tick_safely(self, canary: Canary, specs: SpecSet) -> TickReport:
        """A failing canary never stops the others: its error is reported, the repo reset."""
        try:
            return self.tick(canary, specs)
        except GitbotError as err:
            log.error("%s: %s", canary.key, err)
            self.ws.sync()
            return TickReport(canary.key, phase="", error=str(err))

    def tick(self, canary: Canary, specs: SpecSet) -> TickReport:
        self._flux = specs.flux  # a Flux repository is edited and verified as Flux renders it
        state = self.store.load(canary.key) or RolloutState()
        history = self._history()
        if state.pending is not None:
            state = self._finish_pending(canary, state, history)
            history = self._history()
        now = self.clock()
        observation = self.observer.observe(canary, state, specs, history, now)
        decision = decide(canary, state, observation, now)
        if decision.log:
            log.info("%s", decision.log)
        analysis = analysis_lines(canary, observation.metrics)
        return self._record_and_act(canary, state, decision, analysis)

    def _record_and_act(
        self, canary: Canary, before: RolloutState, decision: Decision, analysis: str = ""
    ) -> TickReport:
        state = decision.state
        report = TickReport(canary.key, phase=state.phase.value)
        if state != before:
            self.store.save(canary.key, state, _reason(decision))
            self.crash("after-state-write")
        sha = ""
        if decision.change is not None:
            sha = self._land(canary, state, decision.change, analysis)
            state = replace(state, pending=None)
            self.store.save(canary.key, state, "change landed")
            report.commit = sha
            report.subject = self.ws.log(max_count=1)[0].subject if sha else ""
        self.announcer.announce(canary, state, decision, sha, report.subject)
        return report

    def _finish_pending(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> RolloutState:
        """Resume after a crash: land the pending change unless it already is on the branch."""
        assert state.pending is not None
        if find_step(history, canary.key, state.step) is None:
            log.info("%s: resuming step %d (%s)", canary.key, state.step, state.pending.action)
            self._land(canary, state, state.pending)
        done = replace(state, pending=None)
        self.store.save(canary.key, done, "change landed")
        return done

    def _land(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str = ""
    ) -> str:
        """Make the repository declare `change`: edit, commit with trailers, push."""
        if change.revert:
            return self._rollback(canary, state, change, analysis)
        editor = editor_for(self.ws.root, self._flux)
        edits = _apply_edits(editor, canary, change)
        editor.save()
        self.crash("after-edit")
        subject, body, trailers = messages.commit_message(canary, change, state)
        trailers = self._trailers(trailers)
        body = _with(_with(body, analysis), _section("Changes:", [str(e) for e in edits]))
        sha = self.ws.commit(subject, body, trailers)
        if sha is None:
            log.info("%s: %s: repository already up to date", canary.key, change.action)
            return ""
        self.crash("after-commit")
        pushed = self.ws.push()
        self.crash("after-push")
        return pushed

    def _history(self) -> list[CommitInfo]:
        """The branch log, without the commits gitbot made for another Flux cluster."""
        cluster = self._flux.view.cluster if self._flux is not None else None
        return for_cluster(self.ws.log(max_count=300), cluster)

    def _trailers(self, trailers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        if self._flux is None:
            return trailers
        return (*trailers, (CLUSTER_TRAILER, self._flux.view.cluster))

    def _rollback(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str
    ) -> str:
        """Revert this run's commits as one commit; fall back to a plain edit on conflict."""
        commits = run_commits(self._history(), canary.key)
        _, body, trailers = messages.commit_message(canary, change, state)
        trailers = self._trailers(trailers)
        reverted = [f"{c.sha[:12]} {c.subject}" for c in commits]
        body = _with(_with(body, analysis), _section("Reverts:", reverted))
        subject = messages.rollback_subject(canary, len(commits), change.reason)
        try:
            sha = self.ws.revert([c.sha for c in commits], subject, body, trailers)
        except GitConflictError as err:
            log.warning("%s: revert conflicted, writing 100/0 directly: %s", canary.key, err)
            sha = None
        editor = editor_for(self.ws.root, self._flux)
        _apply_edits(editor, canary, replace(change, revert=False))
        editor.save()
        self.crash("after-edit")
        if editor.changed_files() or sha is None:
            fix = self.ws.commit(subject, body, trailers)
            sha = fix or sha
        if sha is None:
            return ""
        self.crash("after-commit")
        pushed = self.ws.push()
        self.crash("after-push")
        return pushed


def _apply_edits(editor: ManifestEditor, canary: Canary, change: RepoChange) -> list[FieldChange]:
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


def _section(title: str, lines: list[str], most: int = 25) -> str:
    """A titled list for a commit body ("" when empty), cut after `most` lines."""
    if not lines:
        return ""
    shown = [f"- {line}" for line in lines[:most]]
    if len(lines) > most:
        shown.append(f"- ... and {len(lines) - most} more")
    return "\n".join([title, *shown])


def _with(body: str, analysis: str) -> str:
    return f"{body}\n\n{analysis}" if analysis else body


def _reason(decision: Decision) -> str:
    if decision.change is not None:
        return decision.change.subject
    if decision.events:
        return decision.events[-1].message
    return decision.log or "state updated"
