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

from gitbot.adapters.git import CommitInfo, GitConflictError, GitWorkspace
from gitbot.adapters.git_errors import GitRejectedError
from gitbot.adapters.manifest_types import FieldChange
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.specs import SpecSet, load_repository
from gitbot.adapters.statestore import GitStateStore
from gitbot.core import messages
from gitbot.core.analysis_report import analysis_lines
from gitbot.core.decide import decide
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, RepoChange, RolloutState
from gitbot.drift import check_drift
from gitbot.errors import GitbotError
from gitbot.history import current_run, find_step, tick_history
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
    ) -> None:
        self.ws = workspace
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.store = store
        self.observer = observer
        self.announcer = announcer
        self.clock = clock
        self.crash = crash
        self._reported: frozenset[str] = frozenset()  # problems already logged

    def run_pass(self, only: str | None = None) -> PassReport:
        """Sync the repository, then give every valid canary (or one) one tick."""
        head = self.ws.sync()
        specs = load_repository(self.ws.root, no_cross_namespace_refs=self.no_cross_namespace_refs)
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
        """A failing canary never stops the others: any error is logged once with its cause
        (the traceback at debug level only) and the working copy is reset."""
        try:
            return self.tick(canary, specs)
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
        state, rebuilt = rebuild_state(self.ws, self.store, self.announcer, canary, self.clock())
        if rebuilt is not None:  # a lost run that cannot be proven: roll it back first
            return self._record_and_act(canary, state, rebuilt)
        history = tick_history(self.ws, canary.key, state.step if state.pending else None)
        if state.pending is not None:
            state = self._finish_pending(canary, state, history)
            history = tick_history(self.ws, canary.key, None)
        now = self.clock()
        # drift: a person changed what gitbot manages -> halt / roll back instead of deciding
        drifted = check_drift(self.ws, canary, state, history, now)
        if drifted is not None:
            return self._record_and_act(canary, state, drifted)
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
        editor = ManifestEditor(self.ws.root)
        edits = _apply_edits(editor, canary, change)
        editor.save()
        self.crash("after-edit")
        subject, body, trailers = messages.commit_message(canary, change, state)
        body = _with(_with(body, analysis), _section("Changes:", [str(e) for e in edits]))
        sha = self.ws.commit(subject, body, trailers)
        if sha is None:
            log.info("%s: %s: repository already up to date", canary.key, change.action)
            return ""
        self.crash("after-commit")
        pushed = self.ws.push()
        self.crash("after-push")
        return pushed

    def _rollback(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str
    ) -> str:
        """Revert this run's commits as one commit; when the revert conflicts (or finds nothing
        to revert), write 100/0 and replicas 0 directly, under a subject that says so."""
        commits = current_run(self.ws, canary.key)
        listed = [f"{c.sha[:12]} {c.subject}" for c in commits]
        sha, outcome = None, messages.RevertOutcome.NOTHING_TO_REVERT
        if commits:
            sha, outcome = self._revert(canary, state, change, analysis, commits)
        editor = ManifestEditor(self.ws.root)
        edits = _apply_edits(editor, canary, replace(change, revert=False))
        editor.save()
        self.crash("after-edit")
        if editor.changed_files() or sha is None:
            subject, body, trailers = messages.rollback_written(
                canary, change, state, len(commits), outcome
            )
            body = _with(_with(body, analysis), _section("Changes:", [str(e) for e in edits]))
            body = _with(body, _section(outcome.listing, listed))
            sha = self.ws.commit(subject, body, trailers) or sha
        if sha is None:
            return ""
        self.crash("after-commit")
        pushed = self.ws.push()
        self.crash("after-push")
        return pushed

    def _revert(
        self, canary: Canary, state: RolloutState, change: RepoChange, analysis: str,
        commits: list[CommitInfo],
    ) -> tuple[str | None, messages.RevertOutcome]:
        """One commit reverting `commits` (None when it conflicted or changed nothing)."""
        _, body, trailers = messages.commit_message(canary, change, state)
        listed = [f"{c.sha[:12]} {c.subject}" for c in commits]
        body = _with(_with(body, analysis), _section("Reverts:", listed))
        subject = messages.rollback_subject(canary, len(commits), change.reason)
        try:
            sha = self.ws.revert([c.sha for c in commits], subject, body, trailers)
        except GitConflictError as err:
            log.warning("%s: revert conflicted, writing 100/0 directly: %s", canary.key, err)
            return None, messages.RevertOutcome.CONFLICTED
        if sha is None:
            return None, messages.RevertOutcome.CHANGED_NOTHING
        return sha, messages.RevertOutcome.REVERTED


def _apply_edits(editor: ManifestEditor, canary: Canary, change: RepoChange) -> list[FieldChange]:
    """Apply the desired values of `change`; returns what actually changed."""
    edits: list[FieldChange] = []
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
