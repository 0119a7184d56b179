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

A change carries `Gitbot-Step: <n>`; after a restart, a pending step found in the branch's log
has landed and is not repeated, one not found is applied again (edits are idempotent).

A state that is missing or unreadable while the branch holds gitbot's commits for the canary is
rebuilt from those commits (`gitbot.core.recovery`): a run in progress resumes, or is rolled back
when the manifests do not show it. Any failure of one canary's tick is logged once and costs
that canary's tick only (`tick_safely`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from gitbot.adapters.flux_specs import FluxSpecs
from gitbot.adapters.forges import ForgeBudgetError
from gitbot.adapters.git import CommitInfo, GitWorkspace
from gitbot.adapters.git_errors import GitRejectedError
from gitbot.adapters.specs import SpecSet, load_repository
from gitbot.adapters.statestore import GitStateStore
from gitbot.core.analysis_report import analysis_lines
from gitbot.core.decide import decide
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, RolloutState
from gitbot.drift import check_drift
from gitbot.errors import GitbotError
from gitbot.history import for_cluster, tick_history
from gitbot.landing import Landing, PushLanding
from gitbot.notify import Announcer
from gitbot.observe import Observer
from gitbot.rebuild import rebuild_state

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
    refused: bool = False  # the remote refused a push (protected branch, hook, permissions)


#: `reconcile --once` exit statuses (CONTRACT.md); 1 (gitbot could not run) is the CLI's
EXIT_OK, EXIT_INVALID, EXIT_REFUSED = 0, 2, 3


@dataclass
class PassReport:
    head: str
    specs: SpecSet
    ticks: list[TickReport] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """3 when a push was refused, else 2 when a document is invalid, else 0."""
        if any(tick.refused for tick in self.ticks):
            return EXIT_REFUSED
        return EXIT_INVALID if self.specs.problems else EXIT_OK


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
        landing: Landing | None = None,
        flux_cluster: str = "",
    ) -> None:
        self.ws = workspace
        self.flux_cluster = flux_cluster  # config flux.cluster ("" = the only cluster)
        self.landing: Landing = landing or PushLanding(workspace, crash)
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
        notes = frozenset(specs.flux.notes()) if specs.flux is not None else frozenset()
        for line in sorted(notes - self._reported):  # Kustomizations of other sources
            log.info("%s", line)
        self._reported = problems | notes
        for canary in specs.canaries:
            if only and only not in (canary.key, canary.name):
                continue
            report.ticks.append(self.tick_safely(canary, specs))
        return report

    def tick_safely(self, canary: Canary, specs: SpecSet) -> TickReport:
        """A failing canary never stops the others: any error is logged once with its cause
        (the traceback at debug level only) and the working copy is reset."""
        try:
            return self.tick(canary, specs)
        except ForgeBudgetError as err:  # the forge's rate limit: the canary waits, no fault
            log.warning("%s: waits: %s", canary.key, err)
            self._reset(canary)
            return TickReport(canary.key, phase="", error=str(err))
        except Exception as err:  # the boundary of one canary's tick
            cause = str(err) or type(err).__name__
            if not isinstance(err, GitbotError | OSError):
                cause = f"{type(err).__name__}: {cause}"
            log.error("%s: tick failed: %s", canary.key, cause,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            self._reset(canary)
            return TickReport(canary.key, phase="", error=cause,
                              refused=isinstance(err, GitRejectedError))

    def _reset(self, canary: Canary) -> None:
        try:
            self.ws.sync()
        except Exception as err:  # reported; the next pass syncs again
            log.error("%s: cannot reset the working copy: %s", canary.key, err)

    def tick(self, canary: Canary, specs: SpecSet) -> TickReport:
        self._flux = specs.flux  # a Flux repository is edited and verified as Flux renders it
        self.landing.committer.flux = specs.flux
        cluster = specs.flux.view.cluster if specs.flux is not None else None
        state, rebuilt = rebuild_state(self.ws, self.store, self.announcer, canary, self.clock(),
                                       cluster)
        if rebuilt is not None:  # a lost run that cannot be proven: roll it back first
            return self._record_and_act(canary, state, rebuilt)
        history = self._history(state.step if state.pending else None, canary)
        if self.landing.unfinished(state):
            state, ended = self._finish(canary, state, history)
            if ended is not None:
                return ended
            history = self._history(None, canary)
        now = self.clock()
        # drift: a person changed what gitbot manages -> halt / roll back instead of deciding
        drifted = check_drift(self.ws, canary, state, history, now, self._flux)
        if drifted is not None:
            return self._record_and_act(canary, state, drifted)
        observation = self.observer.observe(canary, state, specs, history, now)
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
            landed = self.landing.land(canary, before, state, decision.change, analysis)
            state = landed.state
            self.store.save(canary.key, state, landed.reason)
            report.commit, report.subject = landed.sha, landed.subject
            report.phase = state.phase.value
            if landed.quiet:
                decision = replace(decision, events=(), alerts=())
            decision = replace(decision, events=decision.events + landed.events,
                               alerts=decision.alerts + landed.alerts)
        self.announcer.announce(canary, state, decision, report.commit, report.subject)
        return report

    def _finish(
        self, canary: Canary, state: RolloutState, history: list[CommitInfo]
    ) -> tuple[RolloutState, TickReport | None]:
        """Work left from an earlier tick (a crash, a PR not merged yet); a report ends the tick."""
        resumed = self.landing.finish(canary, state, history)
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
        return for_cluster(tick_history(self.ws, canary.key, pending_step, cluster), cluster)


def _reason(decision: Decision) -> str:
    if decision.change is not None:
        return decision.change.subject
    if decision.events:
        return decision.events[-1].message
    return decision.log or "state updated"
