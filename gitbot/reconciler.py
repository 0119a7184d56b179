"""One reconcile tick per canary: observe -> decide -> act -> record -> notify.

Called by the CLI (`reconcile --once`) and the daemon. The decision is pure
(`gitbot.core.decide`); this module does the I/O around it, in an order that survives a crash
at any point:

1. finish the change decided on an earlier tick, if it never landed (`state.pending`);
2. observe (manifests, the cluster's applied revision, readiness, webhooks, metrics);
3. decide;
4. record the new state on the state branch (with the change as `pending`);
5. act through the landing (`gitbot.landing`): edit the manifests, commit with trailers, push
   (push mode) or propose a pull request (`gitbot.landing_pr`); a rollback reverts the run's
   commits;
6. record again (`pending` cleared, or the PR that waits) and notify (best effort).

A pass (`run_pass`) syncs once and reads through one picture of the repository (`RepoIndex`),
the branch log in memory (`HistoryIndex`: an idle canary's tick reads only its remembered last
commit; trimmed after the pass) and the state branch read once (`BranchSnapshot`). In
push mode the pass' records and commits are held back and published together in one atomic
push at its end, the announcements after it (`gitbot.pass_batch`); a failing canary is cut out.
Webhook gates run concurrently (`gitbot.adapters.hook_runner`): a canary whose gate is still
running waits without a decision and is ticked again after the others as its calls finish.

A change carries `Gitbot-Step: <n>`; after a restart, a pending step found in the branch's log
has landed and is not repeated, one not found is applied again (edits are idempotent).

A state that is missing or unreadable while the branch holds gitbot's commits for the canary is
rebuilt from those commits (`gitbot.core.recovery`): a run in progress resumes, or is rolled back
when the manifests do not show it. Any failure of one canary's tick is logged once and costs
that canary's tick only (`tick_safely`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime

from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.forges import ForgeBudgetError
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.adapters.git_errors import GitRejectedError
from gitbot.adapters.repo_index import RepoIndex
from gitbot.adapters.specs import SpecSet
from gitbot.adapters.statestore import GitStateStore
from gitbot.core.analysis_report import analysis_lines
from gitbot.core.decide import decide
from gitbot.core.spec import Canary
from gitbot.core.state import ACTIVE_PHASES, Decision, RolloutState
from gitbot.drift import check_drift
from gitbot.errors import GitbotError
from gitbot.history import for_cluster, tick_history
from gitbot.history_index import HistoryIndex
from gitbot.landing import Landing
from gitbot.notify import Announcer
from gitbot.observe import Observer
from gitbot.pass_batch import BatchedPushLanding, Deferred, PassBatch, StagedFiles, publish
from gitbot.rebuild import rebuild_state
from gitbot.reports import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REFUSED,
    CrashHook,
    PassReport,
    TickReport,
    crash_hook_from_env,
    no_crash,
    utcnow,
)

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_REFUSED", "CrashHook", "PassReport", "Reconciler",
           "TickReport", "crash_hook_from_env", "utcnow"]

log = logging.getLogger("gitbot.reconciler")

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
        crash: CrashHook = no_crash,
        no_cross_namespace_refs: bool = False,
        landing: Landing | None = None,
        flux_cluster: str = "",
        repo: RepoIndex | None = None,
        staging: StagedFiles | None = None,
    ) -> None:
        self.ws = workspace
        self.flux_cluster = flux_cluster  # config flux.cluster ("" = the only cluster)
        # one parsed picture of the checkout and one in-memory log, shared by every tick
        self.repo = repo or RepoIndex(workspace.root, workspace.changed_paths,
                                      no_cross_namespace_refs=no_cross_namespace_refs,
                                      cluster=flux_cluster)
        self.history = HistoryIndex(workspace)
        self.landing: Landing = landing or BatchedPushLanding(workspace, crash)
        self.landing.committer.editors = self.repo.editor
        self.landing.committer.moved = self.moved
        self.staging = staging  # push mode: states held back for the pass' one push
        self._batch: PassBatch | None = None
        self._clean = False  # the last pass ended without errors: the working copy is clean
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.store = store
        self.observer = observer
        self.announcer = announcer
        self.clock = clock
        self.crash = crash
        self._reported: frozenset[str] = frozenset()  # problems already logged
        self._flux: FluxSpecs | None = None  # the rendered Flux view of the current pass

    def run_pass(self, only: str | Collection[str] | None = None) -> PassReport:
        """Sync the repository, then give every valid canary (or those named in `only`, by
        key or name) one tick."""
        wanted = {only} if isinstance(only, str) else set(only) if only is not None else None
        self.observer.prefetch(wanted)  # Prometheus asked while git fetches (`prom_prefetch`)
        head = self.ws.sync(clean=self._clean)
        self.moved(head)
        specs = self.repo.specs()
        report = PassReport(head=head, specs=specs)
        problems = frozenset(str(p) for p in specs.problems)
        for line in sorted(problems - self._reported):  # each once, until it is fixed
            log.warning("invalid: %s", line)
        notes = frozenset(specs.flux.notes()) if specs.flux is not None else frozenset()
        for line in sorted(notes - self._reported):  # Kustomizations of other sources
            log.info("%s", line)
        self._reported = problems | notes
        ticking = [c for c in specs.canaries if wanted is None or wanted & {c.key, c.name}]
        self.observer.begin_pass(ticking)  # per-pass answers: applied revision, batched metrics
        self.store.refresh(fetched=True)  # the state branch, read once per pass (sync fetched)
        batch = self._begin_batch()
        settled = True
        try:
            # a batch's commits leave the index to the next command that needs it (`git_fast`)
            with self.ws.deferred_index() if batch is not None else nullcontext():
                for canary in ticking:
                    report.ticks.append(self.tick_safely(canary, specs))
                self._settle_hooks(ticking, specs, report)
                if batch is not None and self.staging is not None:
                    publish(self, self.staging, batch)  # one push for the whole pass
        except GitbotError as err:  # publish's sync after a failed push failed too
            log.error("pass not finished: %s; the next pass syncs again", err)
            settled = False
        finally:
            self._end_batch()
            self.store.release()
            self.observer.end_pass()
            self.history.trim()  # the branch log keeps what this pass' lookups needed
        self._clean = settled and not any(tick.error for tick in report.ticks)
        return report

    def _settle_hooks(self, ticking: list[Canary], specs: SpecSet, report: PassReport) -> None:
        """Tick again the canaries that waited on their webhooks, as their calls finish (the
        calls of all of them ran concurrently; the daemon waits only a short bound)."""
        index = {t.canary: i for i, t in enumerate(report.ticks) if t.waiting}
        canaries = {c.key: c for c in ticking}
        for key in self.observer.hooks.settle(list(index)):
            report.ticks[index[key]] = self.tick_safely(canaries[key], specs)

    def _begin_batch(self) -> PassBatch | None:
        """Push mode with a staging store: the pass' steps and states wait for one push."""
        if self.staging is None or not isinstance(self.landing, BatchedPushLanding):
            return None
        self._batch = self.landing.batch = PassBatch()
        self.staging.begin()
        return self._batch

    def _end_batch(self) -> None:
        if self._batch is not None and isinstance(self.landing, BatchedPushLanding):
            self.landing.batch = None
        if self.staging is not None:
            self.staging.end()
        self._batch = None

    def history_of(self, canary: Canary) -> list[CommitInfo]:
        """The canary's history on the branch as it is now (for `pass_batch`)."""
        return self._history(None, canary)

    def sync(self) -> str:
        """Sync the working copy and follow it, outside a pass (the daemon's rescan): a fetch
        only while the working copy is clean, a full reset after a pass with errors."""
        head = self.ws.sync(clean=self._clean)
        self.moved(head)
        return head

    def moved(self, head: str | None = None, ours: bool = False) -> None:
        """The working copy is now at `head` (None: ask git): the picture and the log follow
        (`ours`: gitbot's own commit of the files its editor saved)."""
        head = head or self.ws.head()
        self.repo.refresh(head, ours)
        self.history.update(head)

    def _landed(self, sha: str) -> None:
        """After `land`: in a pass' batch HEAD is its local commit (or unchanged); otherwise it
        was pushed or synced, so HEAD is asked and compared."""
        if self._batch is not None:  # a local commit of the saved files on the known head
            self.moved(sha or self.repo.head, ours=True)
        else:  # pushed (maybe rebased onto others' commits), or a pull request's sync
            self.moved(None)

    def tick_safely(self, canary: Canary, specs: SpecSet) -> TickReport:
        """A failing canary never stops the others: any error is logged once with its cause
        (the traceback at debug level only) and the working copy is reset."""
        started = time.monotonic()
        mark = self.repo.head, self.staging.mark() if self._batch and self.staging else {}
        try:
            report = self.tick(canary, specs)
            report.seconds = time.monotonic() - started
            return report
        except ForgeBudgetError as err:  # the forge's rate limit: the canary waits, no fault
            log.warning("%s: waits: %s", canary.key, err)
            self._reset(canary)
            return TickReport(canary.key, phase="", error=str(err),
                              seconds=time.monotonic() - started)
        except Exception as err:  # the boundary of one canary's tick
            cause = str(err) or type(err).__name__
            if not isinstance(err, GitbotError | OSError):
                cause = f"{type(err).__name__}: {cause}"
            log.error("%s: tick failed: %s", canary.key, cause,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            if self._batch is not None:
                self._cut(canary, *mark)
            else:
                self._reset(canary)
            return TickReport(canary.key, phase="", error=cause,
                              refused=isinstance(err, GitRejectedError),
                              seconds=time.monotonic() - started)

    def _cut(self, canary: Canary, head: str, staged: dict[str, dict[str, str]]) -> None:
        """Cut a failed canary out of the pass' batch: its commits and held states go, the
        other canaries' stay."""
        assert self._batch is not None and self.staging is not None
        self._batch.drop(canary.key)
        self.staging.restore(staged)
        self.repo.forget()
        try:
            self.ws.discard_changes(head)
            self.moved(head)
        except Exception as err:  # reported; the pass' publish syncs on failure
            log.error("%s: cannot reset the working copy: %s", canary.key, err)

    def _reset(self, canary: Canary) -> None:
        self.repo.forget()  # the failed tick may have left edits in memory or on disk
        try:
            self.moved(self.ws.sync())
        except Exception as err:  # reported; the next pass syncs again
            log.error("%s: cannot reset the working copy: %s", canary.key, err)

    def tick(self, canary: Canary, specs: SpecSet) -> TickReport:
        if self._batch is None:  # outside a pass' batch (which tracks HEAD) the picture
            self.moved(self.ws.head())  # follows HEAD (a ref read; a diff if it moved)
        self._flux = specs.flux  # a Flux repository is edited and verified as Flux renders it
        self.landing.committer.flux = specs.flux
        cluster = specs.flux.view.cluster if specs.flux is not None else None
        state, rebuilt = rebuild_state(self.history, self.store, self.announcer, canary,
                                       self.clock(), cluster)
        if rebuilt is not None:  # a lost run that cannot be proven: roll it back first
            return self._record_and_act(canary, state, rebuilt)
        history: list[CommitInfo] = []  # an idle canary's tick reads no history (its drift
        if self.landing.unfinished(state):  # check does not), only its last commit
            history = self._history(state.step if state.pending else None, canary)
            state, ended = self._finish(canary, state, history)
            if ended is not None:
                return ended
            history = self._history(None, canary)
        elif state.phase in ACTIVE_PHASES:
            history = self._history(None, canary)
        now = self.clock()
        # drift: a person changed what gitbot manages -> halt / roll back instead of deciding
        drifted = check_drift(self.ws, canary, state, history, now, self._flux,
                              editor=lambda: self.repo.editor(self._flux))
        if drifted is not None:
            return self._record_and_act(canary, state, drifted)
        last = self.history.last_for(canary.key, cluster)  # what the cluster must have applied
        observation = self.observer.observe(canary, state, specs, last, now)
        if observation.hooks_waiting:
            return TickReport(canary.key, phase=state.phase.value, waiting=True)
        decision = self.landing.note(canary, state, decide(canary, state, observation, now),
                                     observation, now)
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
        if decision.change is not None:
            try:
                landed = self.landing.land(canary, before, state, decision.change, analysis)
            except BaseException:
                self.moved(None)
                raise
            self._landed(landed.sha)
            state = landed.state
            self.store.save(canary.key, state, landed.reason)
            report.commit, report.subject = landed.sha, landed.subject
            report.phase = state.phase.value
            if landed.quiet:
                decision = replace(decision, events=(), alerts=())
            decision = replace(decision, events=decision.events + landed.events,
                               alerts=decision.alerts + landed.alerts)
        if self._batch is not None:  # announced after the pass' push (pass_batch.publish)
            self._batch.deferred.append(Deferred(canary, state, decision, report))
        else:
            self.announcer.announce(canary, state, decision, report.commit, report.subject)
        return report

    def _finish(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> tuple[RolloutState, TickReport | None]:
        """Work left from an earlier tick (a crash, a PR not merged yet); a report ends the tick."""
        try:
            resumed = self.landing.finish(canary, state, history)
        finally:
            self.moved(None)
        if resumed.state != state:
            self.store.save(canary.key, resumed.state, resumed.reason)
        if resumed.events or resumed.alerts:  # e.g. a person's commit kept in a merge
            told = Decision(resumed.state, events=resumed.events, alerts=resumed.alerts)
            self.announcer.announce(canary, resumed.state, told, "", "")
        if resumed.decision is not None:
            return resumed.state, self._record_and_act(canary, resumed.state, resumed.decision)
        if resumed.hold:
            return resumed.state, TickReport(canary.key, phase=resumed.state.phase.value)
        return resumed.state, None

    def _history(self, pending_step: int | None, canary: Canary) -> list[CommitInfo]:
        """Enough of the branch log for one tick, without the commits gitbot made for another
        Flux cluster."""
        cluster = self._flux.view.cluster if self._flux is not None else None
        return for_cluster(tick_history(self.history, canary.key, pending_step, cluster), cluster)


def _reason(decision: Decision) -> str:
    if decision.change is not None:
        return decision.change.subject
    if decision.events:
        return decision.events[-1].message
    return decision.log or "state updated"
