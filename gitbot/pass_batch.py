"""One pass, one push (push mode): every canary's step and state of a pass published together.

Wired by `gitbot.wiring` and driven by `gitbot.reconciler.Reconciler.run_pass`. During a pass
each canary's change is edited and committed locally by `BatchedPushLanding` (one commit per
step, with its trailers incl. `Gitbot-Cluster`, as `PushLanding` makes them) and every state the
reconciler saves is held back by `StagedFiles` (reads see it). At the end of the pass `publish`
makes it all public in ONE `git push --atomic`: the branch with every canary's commits and one
commit on the state branch (`gitbot/state` or the cluster's own) with every changed state,
under the lease's fence. Both land or neither does, so no crash point can leave a state that
claims a step the branch lacks, or a step without its state:

- a crash before the push leaves nothing public: the next pass decides the same steps again;
- a lost race rebases the branch and rebuilds the state commit on the new heads, then retries
  (`GitWorkspace.push_with_branch`); no step is lost or made twice;
- a canary whose tick fails is cut out: its local commits are dropped (the branch is reset to
  the commit before its tick), its held states are forgotten; the others go on;
- a remote without atomic pushes gets the states first, each landed change still `pending`,
  then the branch; the next pass finds the steps by their `Gitbot-Step` trailer and clears it.

The announcements of the pass wait for the push (they name the pushed commits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from gitbot.adapters.git import AtomicPushUnsupportedError, GitWorkspace
from gitbot.adapters.git_errors import GitRejectedError
from gitbot.adapters.statestore import GitStateStore, dump_state
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, RepoChange, RolloutState
from gitbot.errors import GitbotError
from gitbot.history import find_step
from gitbot.landing import Landed, PushLanding

if TYPE_CHECKING:
    from gitbot.reconciler import Reconciler, TickReport

log = logging.getLogger("gitbot.reconciler")

STATE_PREFIX = "canaries/"


class PublishingFiles(Protocol):
    """What `StagedFiles` wraps (`gitbot.lease.FencedFiles` over the workspace)."""

    def read_branch_file(self, branch: str, path: str) -> str | None: ...

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str: ...

    def write_branch_files(self, branch: str, files: dict[str, str], subject: str) -> str: ...

    def push_with_branch(self, branch: str, files: dict[str, str], subject: str) -> str: ...


class StagedFiles:
    """The state store's files; during a pass, rollout-state writes wait for `publish`."""

    def __init__(self, inner: PublishingFiles) -> None:
        self._inner = inner
        self._staged: dict[str, dict[str, str]] = {}  # branch -> path -> content
        self._subjects: list[str] = []
        self.active = False

    # -- BranchFiles --------------------------------------------------------------------
    def read_branch_file(self, branch: str, path: str) -> str | None:
        held = self._staged.get(branch, {})
        return held[path] if path in held else self._inner.read_branch_file(branch, path)

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str:
        if not self.active or not path.startswith(STATE_PREFIX):
            return self._inner.write_branch_file(branch, path, content, subject)
        self._staged.setdefault(branch, {})[path] = content
        self._subjects.append(subject)
        return ""

    def refresh(self, fetched: bool = False) -> None:
        refresh = getattr(self._inner, "refresh", None)
        if callable(refresh):
            refresh(fetched)

    def release(self) -> None:
        _call(self._inner, "release")

    # -- the pass -----------------------------------------------------------------------
    def begin(self) -> None:
        self._staged, self._subjects, self.active = {}, [], True

    def end(self) -> None:
        self._staged, self._subjects, self.active = {}, [], False

    def mark(self) -> dict[str, dict[str, str]]:
        """What is held now (`restore` goes back to it when a canary's tick fails)."""
        return {branch: dict(files) for branch, files in self._staged.items()}

    def restore(self, mark: dict[str, dict[str, str]]) -> None:
        self._staged = {branch: dict(files) for branch, files in mark.items()}

    def held(self) -> bool:
        return any(self._staged.values())

    def publish(self, with_branch: bool, pending: dict[str, str] | None = None) -> str:
        """Write what is held: with the working branch in one atomic push (`with_branch`), or
        alone. `pending` (path -> content) replaces held files for the non-atomic fallback."""
        subject = self._subject()
        result = ""
        for branch, files in self._staged.items():
            files = {**files, **(pending or {})}
            if with_branch:
                result = self._inner.push_with_branch(branch, files, subject)
                with_branch = False
            elif files:
                self._inner.write_branch_files(branch, files, subject)
        return result

    def _subject(self) -> str:
        keys = sorted({p[len(STATE_PREFIX):-len(".json")] for files in self._staged.values()
                       for p in files})
        if len(self._subjects) == 1 or len(keys) == 1:
            return self._subjects[-1] if self._subjects else "state"
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        return f"state of {len(keys)} canaries: {', '.join(keys[:3])}{more}"


@dataclass
class Deferred:
    """An announcement waiting for the pass' push."""

    canary: Canary
    state: RolloutState
    decision: Decision
    report: TickReport


class BatchedPushLanding(PushLanding):
    """Push mode's landing; during a pass (`batch` set) it commits without pushing."""

    def __init__(self, ws: GitWorkspace, crash: Callable[[str], None]) -> None:
        super().__init__(ws, crash)
        self.batch: PassBatch | None = None

    def land(
        self, canary: Canary, before: RolloutState, state: RolloutState, change: RepoChange,
        analysis: str = "",
    ) -> Landed:
        if self.batch is None:
            return super().land(canary, before, state, change, analysis)
        sha, _edits = self.committer.commit(canary, state, change, analysis)
        done = replace(state, pending=None)
        if sha is None:
            return Landed(done)
        self.crash("after-commit")
        self.batch.landed.append((canary.key, replace(state, pending=change)))
        return Landed(done, sha, self.committer.last_subject)


@dataclass
class PassBatch:
    """What the ticks of one pass did, not yet public."""

    landed: list[tuple[str, RolloutState]] = field(default_factory=list)  # key, pending state
    deferred: list[Deferred] = field(default_factory=list)

    def drop(self, key: str) -> None:
        """Forget a canary whose tick failed (its commits are reset away by the caller)."""
        self.deferred = [d for d in self.deferred if d.canary.key != key]
        self.landed = [(k, s) for k, s in self.landed if k != key]


def publish(rec: Reconciler, staging: StagedFiles, batch: PassBatch) -> None:
    """Make the pass public (see the module docstring); an error goes to every tick's report
    and nothing is announced."""
    local = rec.repo.head
    try:
        if batch.landed:
            try:
                head = staging.publish(with_branch=True)
            except AtomicPushUnsupportedError as err:
                log.warning("the remote cannot push atomically (%s): states first, then the "
                            "branch", err)
                head = _publish_in_order(rec, staging, batch)
            rec.crash("after-push")
            rec.moved(head)
        elif staging.held():
            staging.publish(with_branch=False)
    except GitbotError as err:
        log.error("pass of %d canaries not published: %s", len(batch.deferred), err)
        rec.repo.forget()
        rec.moved(rec.ws.sync())
        for item in batch.deferred:
            item.report.error, item.report.commit, item.report.subject = str(err), "", ""
            item.report.refused = isinstance(err, GitRejectedError)
        return
    rebased = rec.repo.head != local
    for item in batch.deferred:
        if rebased and item.report.commit:  # the rebase made new commits: find ours by trailer
            found = find_step(rec.history_of(item.canary), item.canary.key,
                              item.decision.state.step)
            item.report.commit = found.sha if found is not None else ""
        rec.announcer.announce(item.canary, item.state, item.decision, item.report.commit,
                               item.report.subject)


def _publish_in_order(rec: Reconciler, staging: StagedFiles, batch: PassBatch) -> str:
    pending = {GitStateStore.path_for(key): dump_state(state) for key, state in batch.landed}
    staging.publish(with_branch=False, pending=pending)
    return rec.ws.push()


def _call(obj: object, name: str) -> None:
    method = getattr(obj, name, None)
    if callable(method):
        method()
