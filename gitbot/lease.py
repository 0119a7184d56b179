"""One active instance: the lease on the state branch (`lease.json`), kept by compare-and-swap.

Built by gitbot.wiring; the daemon calls `LeaseKeeper.step` on a timer and `ensure` before each
tick (passive instances keep serving /healthz and /metrics), `reconcile` wraps its pass in
`held_for_pass`. The rules are pure (gitbot.core.lease); here is the I/O around them:

- read the state branch's head and `lease.json` there, decide, and write the new record as a
  commit on exactly that head, pushed without force: when the remote moved (another instance
  wrote first) the push is rejected and the round is decided again on the new head;
- the fence: once this process has taken part, its rollout-state writes (`canaries/...`) are
  refused when the commit they would build on names another holder (`FencedFiles`), so an
  instance that lost its lease mid-tick cannot record, and therefore cannot act.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Gauge

from gitbot.adapters.branch_snapshot import GuardedFiles
from gitbot.adapters.git_branches import Guard, ReadAt
from gitbot.config import LeaseConfig
from gitbot.core.lease import (
    LeaseDecision,
    LeaseError,
    LeaseRecord,
    Verdict,
    decide_lease,
    expiry,
    leads,
    release,
    renew_due,
    stamp,
)
from gitbot.errors import GitbotError, RetryableError

log = logging.getLogger("gitbot.lease")

LEASE_PATH = "lease.json"
_ROUNDS = 3  # compare-and-swap attempts per step


class LeaseHeldError(GitbotError):
    """Another instance holds a live lease: this one must not act."""


class LeaseLostError(RetryableError):
    """A state write was refused: the state branch names another lease holder."""


class LeaseFiles(Protocol):
    """The part of `GitWorkspace` the lease needs."""

    def read_branch_file_versioned(
        self, branch: str, path: str
    ) -> tuple[str | None, str | None]: ...

    def swap_branch_file(
        self, branch: str, path: str, content: str, subject: str, expected: str | None
    ) -> str | None: ...


def instance_identity() -> str:
    """`<hostname>/<pid>/<random>`: the pod name in Kubernetes, unique per process."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


def one_shot_identity(workdir: str) -> str:
    """`<hostname>/reconcile/<hash of the working copy>`: the same for every one-shot pass from
    one working copy, so a pass killed while holding the lease does not lock the next run from
    the same place out until the lease expires (a daemon's identity is unique per process)."""
    digest = hashlib.sha256(workdir.encode()).hexdigest()[:8]
    return f"{socket.gethostname()}/reconcile/{digest}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LeaseKeeper:
    """This process's view of the lease; not thread-safe (use it on the git thread)."""

    def __init__(
        self,
        files: LeaseFiles,
        branch: str,
        *,
        duration: float,
        skew: float,
        enabled: bool = True,
        identity: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.files = files
        self.branch = branch
        self.duration = duration
        self.skew = skew
        self.enabled = enabled
        self.identity = identity or instance_identity()
        self.clock = clock
        self.record: LeaseRecord | None = None  # the last version seen or written
        self._seen: tuple[tuple[str, datetime] | None, datetime] | None = None
        self.engaged = False  # True once this process took part (the fence is then active)
        self.error = ""  # why the last lease round failed (the remote refused, unreachable)

    # --- rounds ------------------------------------------------------------------------

    def step(self, *, one_shot: bool = False) -> bool:
        """One round: read, decide, compare-and-swap; True when this instance leads after it.

        A daemon judges another holder's expiry also by how long it has itself seen the same
        renewal (from its first sight); a `one_shot` pass never watched and judges by the
        record alone (gitbot.core.lease)."""
        if not self.enabled:
            return True
        self.engaged = True
        for _round in range(_ROUNDS):
            head, record = self._read()
            now = self.clock()
            seen = None if one_shot else self._seen_since(record, now)
            decision = decide_lease(record, self.identity, now, duration=self.duration,
                                    skew=self.skew, seen_since=seen)
            if decision.verdict is Verdict.WAIT:
                self._observe(record, decision)
                return False
            if decision.verdict is Verdict.RENEW and not renew_due(record, self.identity, now):
                self.record = record
                return True
            if self._swap(head, decision):
                return True
            log.info("lease: the state branch moved while writing the lease; deciding again")
        return leads(self.record, self.identity, self.clock())

    def ensure(self) -> bool:
        """Before acting: True when this instance leads with at least half the duration left
        (renewing first when less is left)."""
        if not self.enabled:
            return True
        if leads(self.record, self.identity, self.clock(), margin=self.duration / 2):
            return True
        return self.step() and leads(self.record, self.identity, self.clock(),
                                     margin=self.duration / 2)

    def keep(self) -> None:
        """The daemon's timer job: `step`, logging (never raising) a failure to reach Git."""
        try:
            self.step()
            self.error = ""
        except Exception as err:  # the daemon outlives a remote outage
            self.error = f"cannot renew or check the lease: {err}"
            log.warning("lease: %s", self.error)

    def may_act(self) -> bool:
        """The daemon's guard before a tick: `ensure`, False (and logged) when Git fails."""
        try:
            allowed = self.ensure()
            self.error = ""
            return allowed
        except Exception as err:  # no lease, no action
            self.error = f"cannot confirm the lease before a tick: {err}"
            log.warning("lease: %s; skipping the tick", self.error)
            return False

    def leading(self) -> bool:
        return not self.enabled or leads(self.record, self.identity, self.clock())

    def release(self) -> None:
        """Hand the lease back (on a clean stop), so a follower takes over at once."""
        if not self.enabled or not self.engaged:
            return
        head, record = self._read()
        released = release(record, self.identity, self.clock())
        if released is None:
            return
        subject = f"lease: released by {self.identity}"
        if self.files.swap_branch_file(self.branch, LEASE_PATH, _dump(released), subject, head):
            self.record = released
            log.info("lease released")

    def keep_released(self) -> None:
        """`release` on shutdown, logging (never raising) a failure to reach Git."""
        try:
            self.release()
        except Exception as err:  # the follower then takes over after expiry
            log.warning("lease: cannot release the lease: %s", err)

    # --- the fence ---------------------------------------------------------------------

    def fence(self, read_at: ReadAt) -> None:
        """Guard for state writes: refuse when the commit built on names another holder."""
        if not self.enabled or not self.engaged:
            return
        record = _parse(read_at(LEASE_PATH))
        if record is None or record.holder != self.identity:
            holder = record.holder if record is not None and record.holder else "nobody"
            raise LeaseLostError(
                f"not writing rollout state: the lease is held by {holder}, not by this "
                f"instance ({self.identity})"
            )

    # --- reporting ---------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Who leads, for /leader and messages."""
        record = self.record
        return {
            "enabled": self.enabled,
            "identity": self.identity,
            "leading": self.leading(),
            "holder": record.holder if record is not None else "",
            "expires": stamp(expiry(record, self.skew)) if record is not None else "",
        }

    def refusal(self) -> str:
        record = self.record
        if record is None:
            return "the lease could not be taken (the state branch kept moving)"
        until = stamp(expiry(record, self.skew))
        return f"another gitbot instance leads: {record.holder} holds the lease until {until}"

    # --- internals ---------------------------------------------------------------------

    def _read(self) -> tuple[str | None, LeaseRecord | None]:
        head, text = self.files.read_branch_file_versioned(self.branch, LEASE_PATH)
        return head, _parse(text)

    def _seen_since(self, record: LeaseRecord | None, now: datetime) -> datetime:
        """When this process first saw this version of the record."""
        version = (record.holder, record.renewed) if record is not None else None
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, now)
        return self._seen[1]

    def _observe(self, record: LeaseRecord | None, decision: LeaseDecision) -> None:
        before = self.record.holder if self.record is not None else None
        self.record = record
        if record is not None and record.holder != before:
            log.info("lease: passive, %s", decision.reason)

    def _swap(self, head: str | None, decision: LeaseDecision) -> bool:
        new = decision.record
        assert new is not None
        subject = f"lease: {decision.verdict.value} by {new.holder} until {stamp(new.expires())}"
        if self.files.swap_branch_file(self.branch, LEASE_PATH, _dump(new), subject,
                                       head) is None:
            return False
        if decision.verdict is not Verdict.RENEW:
            log.info("lease: this instance (%s) leads now: %s", self.identity, decision.reason)
        self.record = new
        return True


class FencedFiles:
    """The state store's branch files with the lease's fence on rollout-state writes."""

    def __init__(self, workspace: GuardedFiles, keeper: LeaseKeeper) -> None:
        self._ws = workspace
        self._keeper = keeper

    def read_branch_file(self, branch: str, path: str) -> str | None:
        return self._ws.read_branch_file(branch, path)

    def write_branch_file(self, branch: str, path: str, content: str, subject: str) -> str:
        if not path.startswith("canaries/"):
            return self._ws.write_branch_file(branch, path, content, subject)
        return self._ws.write_branch_file_guarded(branch, path, content, subject,
                                                  self._keeper.fence)

    def write_branch_files(self, branch: str, files: dict[str, str], subject: str) -> str:
        """Several state files in one commit, under the fence (`GitStateStore.save_many`)."""
        return self._ws.write_branch_files(branch, files, subject, self._fence(files))

    def push_with_branch(self, branch: str, files: dict[str, str], subject: str) -> str:
        """The working branch and these state files in one atomic push, under the fence."""
        return self._ws.push_with_branch(branch, files, subject, self._fence(files))

    def _fence(self, files: dict[str, str]) -> Guard | None:
        return self._keeper.fence if any(p.startswith("canaries/") for p in files) else None

    def refresh(self, fetched: bool = False) -> None:
        """A pass begins (the wrapped files may keep a per-pass snapshot)."""
        refresh = getattr(self._ws, "refresh", None)
        if callable(refresh):
            refresh(fetched)

    def release(self) -> None:
        release = getattr(self._ws, "release", None)
        if callable(release):
            release()


@contextmanager
def held_for_pass(keeper: LeaseKeeper | None, identity: str = "") -> Iterator[None]:
    """A one-shot pass (`reconcile`): take the lease or raise `LeaseHeldError`; release after.
    `identity` (see `one_shot_identity`) replaces the per-process one."""
    if keeper is None or not keeper.enabled:
        yield
        return
    if identity:
        keeper.identity = identity
    if not keeper.step(one_shot=True):
        raise LeaseHeldError(keeper.refusal())
    try:
        yield
    finally:
        keeper.keep_released()


def _parse(text: str | None) -> LeaseRecord | None:
    if text is None:
        return None
    try:
        return LeaseRecord.from_json(json.loads(text))
    except (ValueError, LeaseError) as err:
        log.warning("lease: %s; treating the lease as free", err)
        return None


def _dump(record: LeaseRecord) -> str:
    return json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"


def build_lease(settings: LeaseConfig, files: LeaseFiles, branch: str) -> LeaseKeeper:
    """The keeper for `lease:` in config.yaml."""
    duration, skew = settings.seconds()
    return LeaseKeeper(files, branch, duration=duration, skew=skew, enabled=settings.enabled)


def register_leader_gauge(registry: CollectorRegistry, keeper: LeaseKeeper) -> None:
    """`gitbot_lease_leader`: 1 while this instance holds the lease (read at scrape time)."""
    gauge = Gauge("gitbot_lease_leader", "1 while this instance holds the lease and acts, "
                  "0 while it is passive", registry=registry)
    gauge.set_function(lambda: 1.0 if keeper.leading() else 0.0)
