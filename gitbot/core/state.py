"""Rollout state, observations and decisions: the values that flow through one reconcile tick.

`decide(spec, state, observation, now) -> Decision` (in `gitbot.core.decide`) maps these pure
values to each other. `RolloutState` is persisted as JSON (see `to_json` / `from_json`) by the
reconciler, so every field here must survive a restart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gitbot.core.jsonfields import (
    StateFormatError,
    fields_of,
    flag_field,
    list_field,
    number_field,
    only_known,
    text_field,
    whole_field,
)
from gitbot.core.spec import Severity, WebhookType


class Phase(enum.Enum):
    """Flagger's canary phases."""

    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


#: Phases in which a run is under way (Flagger's `shouldAdvance` set).
ACTIVE_PHASES = frozenset(
    {Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING}
)


@dataclass(frozen=True)
class Traffic:
    """What the VirtualService declares: the managed route's weights and the extras.

    For A/B testing the weights are those of the matched route (the fallback route always goes
    to the primary). `session_cookie` is `name=value` while the canary carries weight;
    `previous_cookie` is the cookie of the last run, expired by the sticky route.
    `primary_cookie` is `name=value` of `sessionAffinity.primaryCookieName` while the canary
    carries weight: it keeps the users the primary served on the primary for one interval.
    """

    primary_weight: int = 100
    canary_weight: int = 0
    mirror: bool = False
    session_cookie: str = ""
    previous_cookie: str = ""
    primary_cookie: str = ""


@dataclass(frozen=True)
class RepoChange:
    """One change to the GitOps repository, committed as one commit (or one PR).

    Every field describes a desired value, so applying a change twice is a no-op the second
    time (the reconciler relies on that to resume after a crash).
    """

    action: str  # Gitbot-Action trailer: initialize(-primary), scale-up, advance, mirror,
    #              route-to-canary, promote, route-to-primary, scale-down, rollback, restart,
    #              update-routing
    subject: str  # commit subject after "name.namespace: ", e.g. "advance canary weight 20"
    traffic: Traffic | None = None
    target_replicas: int | None = None  # scale the target (canary) Deployment
    promote: bool = False  # copy the target's template into <target>-primary
    bootstrap: bool = False  # generate primary, services, destination rules, virtual service
    bootstrap_primary: bool = False  # staged initialization: generate the primary (+HPA) only
    update_routing: bool = False  # regenerate the routing objects from the Canary (weights kept)
    revert: bool = False  # revert this rollout's traffic commits (rollback)
    reason: str = ""  # why, for the commit body (e.g. "failed checks threshold reached 5")


@dataclass(frozen=True)
class Event:
    """A Flagger-style event: `Normal` or `Warning`, with Flagger's wording."""

    time: str  # RFC 3339, UTC, e.g. "2026-11-22T10:00:00Z"
    type: str  # "Normal" | "Warning"
    message: str


@dataclass(frozen=True)
class AlertMessage:
    """A chat alert to send through the canary's AlertProviders (filtered by severity)."""

    severity: Severity
    message: str
    with_metadata: bool = False  # add Target / Failed checks threshold / Traffic routing fields


@dataclass(frozen=True)
class PullRequestRef:
    """Pull-request mode: gitbot's open PR for this canary, recorded before it is opened.

    `number` is 0 between "branch pushed" and "PR opened" (a restart then looks the PR up by
    its branch and never opens a second one). `paused`: a `/gitbot pause` on it is in force.
    `attempt`: 2, 3, ... when a person's push to the base branch superseded the earlier PR of
    the same step (the branch name then ends in `-r<attempt>`). `base_traffic`: the traffic the
    base branch declared when the PR was proposed, i.e. what is merged while it waits (drift
    is checked against it, never against the PR's unmerged values).
    """

    branch: str
    head: str  # gitbot's commit on the branch
    action: str
    step: int
    number: int = 0
    url: str = ""
    paused: bool = False
    attempt: int = 1
    base_traffic: Traffic | None = None


@dataclass(frozen=True)
class RolloutState:
    """Everything gitbot must remember about one canary between ticks and across restarts."""

    phase: Phase = Phase.INITIALIZING
    traffic: Traffic = field(default_factory=Traffic)
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str = ""  # revision (template + configs hash) of the current/last run
    last_promoted_spec: str = ""  # revision last copied into the primary
    rollout_id: str = ""  # identifies the current run in commit trailers
    run: int = 0  # runs started so far
    step: int = 0  # repository changes decided so far (Gitbot-Step trailer)
    pending: RepoChange | None = None  # decided, maybe not yet in the repository
    last_transition_time: str = ""
    not_ready_since: str = ""  # when the canary/primary was first seen not ready in this phase
    events: tuple[Event, ...] = ()
    drift: str = ""  # the drift event gitbot halted on (told once); "" when not halted
    pull_request: PullRequestRef | None = None  # pull-request mode: the PR in flight
    ticks: tuple[TickRecord, ...] = ()  # pull-request mode: this run's analysis ticks

    @property
    def canary_weight(self) -> int:
        return self.traffic.canary_weight

    def with_events(self, *new: Event, keep: int = 200) -> RolloutState:
        """Append events, keeping the newest `keep` (the status shows the current run)."""
        return replace(self, events=(self.events + tuple(new))[-keep:])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        data["ticks"] = [_tick_to_json(t) for t in self.ticks]
        return data

    @classmethod
    def from_json(cls, data: Any) -> RolloutState:
        """Parse a stored state; `StateFormatError` names the field that is wrong or missing.

        `phase`, `traffic` and `step` are required (without them a resumed run would go back to
        initialization or reuse step numbers); the other fields default as in older files.
        """
        fields = fields_of(data, "state")
        phase = text_field(fields, "phase")
        try:
            parsed_phase = Phase(phase)
        except ValueError:
            raise StateFormatError(f"phase: {phase!r} is not a valid Phase" if phase
                                   else "phase: missing") from None
        for required in ("traffic", "step"):
            if required not in fields:
                raise StateFormatError(f"{required}: missing")
        pending = fields.get("pending")
        return cls(
            phase=parsed_phase,
            traffic=_traffic(fields["traffic"], "traffic"),
            failed_checks=whole_field(fields, "failed_checks"),
            iterations=whole_field(fields, "iterations"),
            last_applied_spec=text_field(fields, "last_applied_spec"),
            last_promoted_spec=text_field(fields, "last_promoted_spec"),
            rollout_id=text_field(fields, "rollout_id"),
            run=whole_field(fields, "run"),
            step=whole_field(fields, "step"),
            pending=_change(pending) if pending else None,
            last_transition_time=text_field(fields, "last_transition_time"),
            not_ready_since=text_field(fields, "not_ready_since"),
            events=_events(fields.get("events", [])),
            drift=text_field(fields, "drift"),
            pull_request=_pull_request(fields.get("pull_request")),
            ticks=_ticks(fields.get("ticks", [])),
        )


_TRAFFIC_TEXT = ("session_cookie", "previous_cookie", "primary_cookie")


def _traffic(data: Any, where: str) -> Traffic:
    fields = fields_of(data, where)
    prefix = where + "."
    only_known(fields, frozenset({"primary_weight", "canary_weight", "mirror", *_TRAFFIC_TEXT}),
           prefix)
    weights = {k: whole_field(fields, k, prefix) for k in ("primary_weight", "canary_weight")}
    if any(w > 100 for w in weights.values()):
        raise StateFormatError(f"{where}: weights must be 0-100, got {weights}")
    return Traffic(
        primary_weight=weights["primary_weight"] if "primary_weight" in fields else 100,
        canary_weight=weights["canary_weight"],
        mirror=flag_field(fields, "mirror", prefix),
        **{k: text_field(fields, k, prefix) for k in _TRAFFIC_TEXT},
    )


_CHANGE_FLAGS = ("promote", "bootstrap", "bootstrap_primary", "update_routing", "revert")


def _change(data: Any) -> RepoChange:
    fields = fields_of(data, "pending")
    where = "pending."
    only_known(fields, frozenset({"action", "subject", "traffic", "target_replicas", "reason",
                              *_CHANGE_FLAGS}), where)
    if not text_field(fields, "action", where):
        raise StateFormatError("pending.action: missing")
    replicas = fields.get("target_replicas")
    traffic = fields.get("traffic")
    return RepoChange(
        action=text_field(fields, "action", where),
        subject=text_field(fields, "subject", where),
        traffic=_traffic(traffic, "pending.traffic") if traffic is not None else None,
        target_replicas=None if replicas is None else whole_field(fields, "target_replicas", where),
        reason=text_field(fields, "reason", where),
        **{k: flag_field(fields, k, where) for k in _CHANGE_FLAGS},
    )


def _events(data: Any) -> tuple[Event, ...]:
    if not isinstance(data, list | tuple):
        raise StateFormatError(f"events: expected a list, got {type(data).__name__}")
    events = []
    for i, item in enumerate(data):
        where = f"events[{i}]."
        fields = fields_of(item, where.rstrip("."))
        events.append(Event(*(text_field(fields, k, where) for k in ("time", "type", "message"))))
    return tuple(events)


def _tick_to_json(tick: TickRecord) -> dict[str, Any]:
    data = asdict(tick)
    for hook in data["hooks"]:
        hook["type"] = hook["type"].value
    return data


def _tick_from_json(data: Any, where: str) -> TickRecord:
    """One stored tick, every field type-checked (PR texts format them)."""
    fields = fields_of(data, where)
    only_known(fields, frozenset({"time", "weight", "metrics", "hooks"}), f"{where}.")
    metrics = []
    for i, item in enumerate(list_field(fields, "metrics", f"{where}.")):
        at = f"{where}.metrics[{i}]."
        m = fields_of(item, at.rstrip("."))
        only_known(m, frozenset({"name", "value", "passed", "message"}), at)
        metrics.append(MetricResult(text_field(m, "name", at), number_field(m, "value", at),
                                    flag_field(m, "passed", at), text_field(m, "message", at)))
    hooks = []
    for i, item in enumerate(list_field(fields, "hooks", f"{where}.")):
        at = f"{where}.hooks[{i}]."
        h = fields_of(item, at.rstrip("."))
        only_known(h, frozenset({"name", "type", "passed", "status", "message"}), at)
        status = whole_field(h, "status", at) if h.get("status") is not None else None
        hooks.append(HookResult(text_field(h, "name", at), WebhookType(text_field(h, "type", at)),
                                flag_field(h, "passed", at), status, text_field(h, "message", at)))
    weight = whole_field(fields, "weight", f"{where}.")
    if weight > 100:
        raise StateFormatError(f"{where}.weight: must be 0-100, got {weight}")
    return TickRecord(text_field(fields, "time", f"{where}."), weight, tuple(metrics),
                      tuple(hooks))


def _pull_request(data: Any) -> PullRequestRef | None:
    if not data:
        return None
    fields = dict(fields_of(data, "pull_request"))
    base = fields.pop("base_traffic", None)
    try:
        return PullRequestRef(
            **fields,
            base_traffic=None if base is None else _traffic(base, "pull_request.base_traffic"),
        )
    except TypeError as err:
        raise StateFormatError(f"pull_request: {err}") from None


def _ticks(data: Any) -> tuple[TickRecord, ...]:
    if not isinstance(data, list):
        raise StateFormatError(f"ticks: expected a list, got {data!r}")
    try:
        return tuple(_tick_from_json(t, f"ticks[{i}]") for i, t in enumerate(data))
    except StateFormatError:
        raise
    except ValueError as err:  # a hook type that is no WebhookType
        raise StateFormatError(f"ticks: {err}") from None




@dataclass(frozen=True)
class Readiness:
    """Readiness of a Deployment as read from kube-state-metrics series.

    `ready` follows Flagger: updated replicas >= spec replicas and available >=
    floor(updated * threshold%). `message` is Flagger's wording when not ready.
    """

    ready: bool
    message: str = ""
    known: bool = True  # False when the series are missing (kube-state-metrics silent)


@dataclass(frozen=True)
class MetricResult:
    """The outcome of one metric check on this tick (evaluated by `gitbot.core.analysis`)."""

    name: str
    value: float | None  # None: no data or query error
    passed: bool
    message: str  # the Halt/no-data/error event text when failed, a summary when passed


@dataclass(frozen=True)
class HookResult:
    """The outcome of one webhook call. `passed` is Flagger's rule: HTTP status <= 202."""

    name: str
    type: WebhookType
    passed: bool
    status: int | None = None  # None: no response (timeout, refused)
    message: str = ""  # response body or the transport error


@dataclass(frozen=True)
class TickRecord:
    """One analysis tick of the run: when, at which canary weight, what it measured."""

    time: str
    weight: int
    metrics: tuple[MetricResult, ...] = ()
    hooks: tuple[HookResult, ...] = ()


@dataclass(frozen=True)
class Observation:
    """What the reconciler saw before deciding (all I/O done; plain values only).

    `target_revision` is the hash of the target's pod template plus the ConfigMaps and Secrets
    it references; empty when the target is missing. `cluster_synced` is False while the cluster
    has not applied gitbot's last commit: the tick must not be counted then.
    """

    target_revision: str
    bootstrapped: bool  # primary, services and routing objects exist in the repository
    staged_initialization: bool = False  # Flux layouts: the primary first, routing once ready
    primary_generated: bool = False  # the primary Deployment exists in the repository
    routing_update: str = ""  # Canary fields the generated routing objects lag behind
    cluster_synced: bool = True
    canary: Readiness = field(default_factory=lambda: Readiness(ready=True))
    primary: Readiness = field(default_factory=lambda: Readiness(ready=True))
    scale_up_replicas: int = 1  # Flagger's ScaleFromZero choice, computed by the reconciler
    metrics: tuple[MetricResult, ...] = ()
    hooks: Mapping[WebhookType, tuple[HookResult, ...]] = field(default_factory=dict)
    hooks_waiting: bool = False  # a gate's call is still running: no decision on this tick

    def hook_results(self, kind: WebhookType) -> tuple[HookResult, ...]:
        return tuple(self.hooks.get(kind, ()))


@dataclass(frozen=True)
class Decision:
    """The result of `decide`: the new state, what to change in Git, and what to tell people."""

    state: RolloutState
    change: RepoChange | None = None
    events: tuple[Event, ...] = ()
    alerts: tuple[AlertMessage, ...] = ()
    post_rollout: str = ""  # "Succeeded" / "Failed": call post-rollout hooks with that phase
    log: str = ""  # a line for the operator log when nothing else explains the tick
