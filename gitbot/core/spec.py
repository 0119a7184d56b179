"""Typed, immutable values for Flagger's `Canary`, `MetricTemplate` and `AlertProvider`.

These are the shapes every other part of gitbot reads (where each came from, `Source`, and the
`Problem`s found reading them are in `gitbot.core.problems`). They carry Flagger's defaults already
applied (see `gitbot.core.parse`, which builds them from plain YAML data and reports problems
with file, line and field). Free-form Istio fields (`match`, `retries`, `trafficPolicy`, ...) are
kept as plain JSON-like data (`JSON`), deep-frozen by `freeze` and turned back into ordinary
dicts and lists by `thaw` when they are written into a manifest.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gitbot.core.problems import Source

API_VERSION = "flagger.app/v1beta1"
#: Canary annotation choosing the chat rhythm of one canary (the Canary spec stays Flagger's).
CHAT_RHYTHM_ANNOTATION = "gitbot.io/chat-rhythm"
#: `commit`: a chat message per commit; `phase`: Flagger's alerts, one per phase change.
CHAT_RHYTHMS = ("commit", "phase")

JSON = Any
"""Plain YAML/JSON data: str, int, float, bool, None, Mapping (frozen) or tuple."""


def freeze(value: Any) -> JSON:
    """Deep-freeze plain data: dicts become read-only mappings, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: JSON) -> Any:
    """Turn frozen data back into plain dicts and lists (for writing YAML or JSON)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


EMPTY: Mapping[str, Any] = MappingProxyType({})


class Strategy(enum.Enum):
    """Deployment strategy, chosen as Flagger's `DeploymentStrategy()` does."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    AB_TESTING = "ab-testing"


class WebhookType(enum.Enum):
    """Flagger's webhook types; an empty type behaves as `rollout`."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


class Severity(enum.Enum):
    """Alert severities; an alert entry without severity receives nothing (Flagger's code)."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class ObjectRef:
    """A reference to another object (`targetRef`, `autoscalerRef`, `templateRef`, ...)."""

    name: str
    kind: str = ""
    api_version: str = ""
    namespace: str = ""


@dataclass(frozen=True)
class ServiceMetadata:
    """Labels and annotations for the apex, primary or canary Service."""

    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class ServiceSpec:
    """`spec.service` of a Canary."""

    port: int
    name: str = ""  # empty means targetRef.name; use Canary.service_name
    port_name: str = "http"
    target_port: int | str | None = None  # None means = port
    app_protocol: str = ""
    port_discovery: bool = False  # also expose the target's other container ports
    headless: bool = False  # generated Services get clusterIP: None
    traffic_distribution: str = ""  # Service spec.trafficDistribution
    delegation: bool = False  # an Istio delegate VirtualService: no hosts, no gateways
    gateways: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    traffic_policy: JSON = None
    retries: JSON = None
    match: tuple[JSON, ...] = ()
    rewrite: JSON = None
    timeout: str = ""
    headers: JSON = None
    cors_policy: JSON = None
    apex: ServiceMetadata = field(default_factory=ServiceMetadata)
    primary: ServiceMetadata = field(default_factory=ServiceMetadata)
    canary: ServiceMetadata = field(default_factory=ServiceMetadata)


@dataclass(frozen=True)
class ThresholdRange:
    """Inclusive pass range of a metric: fails when value < min or value > max."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Metric:
    """One `analysis.metrics[]` entry."""

    name: str
    interval: str = "1m"
    threshold_range: ThresholdRange = field(default_factory=ThresholdRange)
    template_ref: ObjectRef | None = None
    template_variables: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    query: str = ""  # deprecated inline query
    threshold: float | None = None  # deprecated, used only without thresholdRange


@dataclass(frozen=True)
class Webhook:
    """One `analysis.webhooks[]` entry."""

    name: str
    url: str
    type: WebhookType = WebhookType.ROLLOUT
    timeout_seconds: float = 10.0
    retries: int = 0
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    mute_alert: bool = False
    disable_tls: bool = False


@dataclass(frozen=True)
class Alert:
    """One `analysis.alerts[]` entry."""

    name: str
    provider_ref: ObjectRef
    severity: Severity | None = None


@dataclass(frozen=True)
class SessionAffinity:
    """`analysis.sessionAffinity`."""

    cookie_name: str
    primary_cookie_name: str = ""
    max_age: int = 86400
    domain: str = ""
    http_only: bool = False
    partitioned: bool = False
    path: str = ""
    same_site: str = ""
    secure: bool = False


@dataclass(frozen=True)
class Analysis:
    """`spec.analysis` with Flagger's defaults applied."""

    interval_seconds: int = 60
    threshold: int = 1
    max_weight: int = 100
    step_weight: int = 0
    step_weights: tuple[int, ...] = ()
    step_weight_promotion: int = 0
    iterations: int = 0
    match: tuple[JSON, ...] = ()
    mirror: bool = False
    mirror_weight: int | None = None
    session_affinity: SessionAffinity | None = None
    primary_ready_threshold: int = 100
    canary_ready_threshold: int = 100
    metrics: tuple[Metric, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    alerts: tuple[Alert, ...] = ()

    def hooks(self, kind: WebhookType) -> tuple[Webhook, ...]:
        """The webhooks of one type, in spec order."""
        return tuple(h for h in self.webhooks if h.type is kind)


@dataclass(frozen=True)
class AutoscalerRef:
    """`spec.autoscalerRef`."""

    name: str
    kind: str = "HorizontalPodAutoscaler"
    api_version: str = "autoscaling/v2"
    primary_min_replicas: int | None = None
    primary_max_replicas: int | None = None


@dataclass(frozen=True)
class Canary:
    """A Flagger `Canary` with defaults applied."""

    name: str
    namespace: str
    target: ObjectRef
    service: ServiceSpec
    analysis: Analysis = field(default_factory=Analysis)
    autoscaler: AutoscalerRef | None = None
    progress_deadline_seconds: int = 600
    skip_analysis: bool = False
    suspend: bool = False
    provider: str = "istio"
    metrics_server: str = ""
    source: Source | None = field(default=None, compare=False)
    chat_rhythm: str = field(default="", compare=False)  # annotation; "" = the config's

    @property
    def key(self) -> str:
        """`namespace/name`, the canary's identity in status, trailers and state."""
        return f"{self.namespace}/{self.name}"

    @property
    def dotted(self) -> str:
        """`name.namespace`, the form Flagger's events use."""
        return f"{self.name}.{self.namespace}"

    @property
    def service_name(self) -> str:
        return self.service.name or self.target.name

    @property
    def primary_name(self) -> str:
        return f"{self.target.name}-primary"

    @property
    def strategy(self) -> Strategy:
        a = self.analysis
        if a.match and a.iterations > 0:
            return Strategy.AB_TESTING
        if a.iterations > 0:
            return Strategy.BLUE_GREEN
        return Strategy.CANARY


@dataclass(frozen=True)
class MetricTemplate:
    """A Flagger `MetricTemplate` (only provider `prometheus` is evaluated)."""

    name: str
    namespace: str
    provider_type: str = "prometheus"
    address: str = ""
    secret_ref: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    query: str = ""
    insecure_skip_verify: bool = False
    source: Source | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class AlertProvider:
    """A Flagger `AlertProvider`: slack, msteams, discord, rocket or gchat."""

    name: str
    namespace: str
    type: str
    channel: str = "general"
    username: str = "flagger"
    address: str = ""
    secret_ref: str = ""
    proxy: str = ""
    source: Source | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
