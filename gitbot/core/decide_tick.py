"""The working record of one `decide` call: new state, events, alerts and the one change.

`Tick` is created by `gitbot.core.decide.decide`, filled by the phase handlers in
`gitbot.core.decide_idle`, `gitbot.core.decide_run` and `gitbot.core.strategies`, and turned
into the immutable `Decision` by `Tick.finish`. It also holds the helpers every handler shares:
timestamps, the session-affinity cookie, desired traffic, gate hooks and the rollback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gitbot.core import messages
from gitbot.core.spec import Canary, Severity, WebhookType
from gitbot.core.state import (
    AlertMessage,
    Decision,
    Event,
    HookResult,
    Observation,
    Phase,
    Readiness,
    RepoChange,
    RolloutState,
    Traffic,
)

_COOKIE_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def rfc3339(now: datetime) -> str:
    """`2026-11-22T10:00:00Z` (naive datetimes are taken as UTC)."""
    aware = now if now.tzinfo else now.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_since(stamp: str, now: datetime) -> float:
    """Seconds from an RFC 3339 stamp to `now` (0 when the stamp is empty)."""
    if not stamp:
        return 0.0
    aware = now if now.tzinfo else now.replace(tzinfo=UTC)
    return (aware - datetime.fromisoformat(stamp)).total_seconds()


def cookie_value(rollout_id: str) -> str:
    """Ten letters derived from the rollout id: stable across restarts, new for every run."""
    digest = hashlib.sha256(rollout_id.encode()).digest()
    return "".join(_COOKIE_LETTERS[b % len(_COOKIE_LETTERS)] for b in digest[:10])


def rollout_id(revision: str, run: int) -> str:
    return f"{revision[:12]}-{run}"


def first_failure(results: tuple[HookResult, ...]) -> HookResult | None:
    return next((r for r in results if not r.passed), None)


@dataclass
class Tick:
    """Accumulates one tick's outcome; handlers mutate it, `finish` freezes it."""

    spec: Canary
    obs: Observation
    now: datetime
    old: RolloutState
    state: RolloutState
    events: list[Event] = field(default_factory=list)
    alerts: list[AlertMessage] = field(default_factory=list)
    change: RepoChange | None = None
    post_rollout: str = ""
    log: str = ""

    @property
    def stamp(self) -> str:
        return rfc3339(self.now)

    @property
    def phase(self) -> Phase:
        return self.state.phase

    def update(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def normal(self, message: str) -> None:
        self.events.append(Event(self.stamp, "Normal", message))

    def warning(self, message: str) -> None:
        self.events.append(Event(self.stamp, "Warning", message))

    def alert(self, severity: Severity, message: str, metadata: bool = False) -> None:
        self.alerts.append(AlertMessage(severity, message, metadata))

    def commit(self, change: RepoChange) -> None:
        """Decide the tick's single repository change (a second one is a programming error)."""
        if self.change is not None:
            raise AssertionError(f"two changes in one tick: {self.change.action}, {change.action}")
        self.change = change

    def traffic(self, primary: int, canary: int, mirror: bool = False) -> Traffic:
        """Desired traffic, with the session-affinity cookie of this run while canary > 0."""
        current = self.state.traffic
        affinity = self.spec.analysis.session_affinity
        if affinity is None:
            return Traffic(primary, canary, mirror)
        if canary == 0:
            previous = current.session_cookie or current.previous_cookie
            return Traffic(primary, canary, mirror, "", previous)
        cookie = f"{affinity.cookie_name}={cookie_value(self.state.rollout_id)}"
        primary_cookie = ""
        if affinity.primary_cookie_name:
            value = cookie_value(f"{self.state.rollout_id}/primary")
            primary_cookie = f"{affinity.primary_cookie_name}={value}"
        return Traffic(primary, canary, mirror, cookie, current.previous_cookie, primary_cookie)

    def muted(self, kind: WebhookType, hook: str) -> bool:
        """True when the named webhook of that type has `muteAlert`."""
        return any(h.name == hook and h.mute_alert for h in self.spec.analysis.hooks(kind))

    def finish(self) -> Decision:
        state = self.state
        if self.change is not None:
            state = replace(state, step=state.step + 1, pending=self.change)
        if _comparable(state) != _comparable(self.old):
            state = replace(state, last_transition_time=self.stamp)
        state = state.with_events(*self.events)
        return Decision(
            state=state,
            change=self.change,
            events=tuple(self.events),
            alerts=tuple(self.alerts),
            post_rollout=self.post_rollout,
            log=self.log,
        )


def _comparable(state: RolloutState) -> RolloutState:
    return replace(state, events=(), last_transition_time="")


def readiness_gate(
    tick: Tick, readiness: Readiness, on_deadline: Callable[[Tick, str], None]
) -> bool:
    """True when ready. Otherwise hold (Warning event) or, past the deadline, call `on_deadline`.

    Unknown readiness (kube-state-metrics silent) holds without running the deadline clock:
    gitbot does not roll back because monitoring is down.
    """
    if readiness.ready:
        return True
    detail = readiness.message or "readiness unknown: kube-state-metrics series missing"
    if not readiness.known:
        tick.warning(detail)
        tick.log = f"holding {tick.spec.key}: {detail}"
        return False
    since = tick.state.not_ready_since or tick.stamp
    tick.update(not_ready_since=since)
    if seconds_since(since, tick.now) > tick.spec.progress_deadline_seconds:
        on_deadline(tick, detail)
    else:
        tick.warning(detail)
    return False


def rollback(tick: Tick, reason: str) -> None:
    """Flagger's `rollback`: all traffic to primary, canary to 0, phase Failed; one revert."""
    spec = tick.spec
    failed = tick.state.failed_checks
    if failed >= spec.analysis.threshold:
        tick.warning(messages.rolling_back_threshold(spec, failed))
        tick.alert(Severity.ERROR, messages.alert_threshold(failed))
    tick.warning(messages.canary_failed(spec))
    traffic = tick.traffic(100, 0)
    tick.commit(
        RepoChange(
            action="rollback",
            subject=f"rollback ({reason})",
            traffic=traffic,
            target_replicas=0,
            revert=True,
            reason=reason,
        )
    )
    tick.update(phase=Phase.FAILED, traffic=traffic, iterations=0, not_ready_since="")
    tick.post_rollout = "Failed"


def deadline_rollback(tick: Tick, detail: str) -> None:
    """Progress deadline exceeded during a run: event, error alert, rollback."""
    tick.warning(messages.rolling_back_deadline(tick.spec, detail))
    tick.alert(Severity.ERROR, messages.alert_deadline(detail))
    rollback(tick, "progress deadline exceeded")


def begin_run(tick: Tick, event: str) -> Traffic:
    """Start (or restart) a run for the observed revision: traffic to the primary, counters at
    0, a new rollout id. Returns the traffic the run's first commit declares."""
    revision = tick.obs.target_revision
    run = tick.state.run + 1
    tick.normal(event)
    traffic = tick.traffic(100, 0)
    tick.update(
        phase=Phase.PROGRESSING,
        traffic=traffic,
        failed_checks=0,
        iterations=0,
        run=run,
        rollout_id=rollout_id(revision, run),
        last_applied_spec=revision,
        not_ready_since="",
    )
    return traffic


def approval_gate(
    tick: Tick,
    kind: WebhookType,
    waiting: Phase,
    halt: Callable[[str], str],
    alert: str,
    what: str,
) -> bool:
    """The confirm-rollout / confirm-promotion gates: True when every hook of `kind` passed.

    A refusal enters `waiting`, telling people once (the Halt event, and the alert unless the
    hook mutes it); later refusals only leave a log line."""
    refused = first_failure(tick.obs.hook_results(kind))
    if refused is None:
        return True
    if tick.phase is not waiting:
        tick.update(phase=waiting)
        tick.warning(halt(refused.name))
        if not tick.muted(kind, refused.name):
            tick.alert(Severity.WARN, alert)
    tick.log = f"{tick.spec.key}: {what} waits for {refused.name}"
    return False
