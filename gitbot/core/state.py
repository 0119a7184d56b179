"""Rollout state, observations and decisions: the values that flow through one reconcile tick.

`decide(spec, state, observation, now) -> Decision` (in `gitbot.core.decide`) maps these pure
values to each other. `RolloutState` is persisted as JSON (gitbot/core/state_json.py) by the
reconciler, so every field here must survive a restart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

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
    is checked against it, never against the PR's unmerged values). `again`: why the earlier
    attempt gave way ("conflict": it conflicted with the new base; "behind": branch protection
    requires the head up to date with the base, which moved; nothing conflicted). `held`: GitHub
    refused the merge because a required check has not reported: the head and checks it
    refused at (`head:digest`); no merge is tried again until they change or GitHub no longer
    says "blocked" (told once).
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
    again: str = ""
    held: str = ""


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
