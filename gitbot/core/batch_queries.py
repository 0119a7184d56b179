"""One PromQL query for a builtin metric of many canaries at once, grouped by target labels.

Pure functions, used by `gitbot.adapters.prom_batch`. Flagger's builtin Istio queries select one
workload with `destination_workload_namespace="<ns>"` and `destination_workload=~"<target>"`
and aggregate with `sum(...)`. The batched form selects every (namespace, target) of the pass
with `=~"a|b|..."` and aggregates `sum by (destination_workload_namespace,
destination_workload)`, so each canary's series in the answer is what its own query returns:
the same samples, the same division (no data and NaN included), one series per workload.
Readiness (kube-state-metrics) is batched the same way, by `namespace` and `deployment`.
Only canaries whose names are plain DNS labels are batched (a name with regex characters would
select more in an alternation than alone); the others keep their own query.
`split_series` attributes the series of a batched answer to the members (also used for
MetricTemplate batches): a member with two series of one identity and different values is
ambiguous (it asks its own query), a series without the labels it was grouped by makes the
whole answer unusable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitbot.core.queries import (
    AVAILABLE_REPLICAS,
    DURATION,
    SPEC_REPLICAS,
    SUCCESS_RATE,
    UPDATED_REPLICAS,
    extra_matchers,
)
from gitbot.core.spec import Canary, Metric

NAMESPACE_LABEL = "destination_workload_namespace"
TARGET_LABEL = "destination_workload"
_PLAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DURATION_INTERVAL = re.compile(r"[0-9]+(ms|s|m|h|d|w|y)")


MemberKey = tuple[str, ...]  # a member's values of the labels the batch is grouped by


@dataclass(frozen=True, order=True)
class BatchKey:
    """Canaries with equal keys share one query: the builtin metric, its interval, its server."""

    metric: str
    interval: str
    address: str


def plain(*names: str) -> bool:
    """True when every name is a DNS label (safe inside a regex alternation)."""
    return all(_PLAIN.fullmatch(n) for n in names)


def batch_key(canary: Canary, metric: Metric) -> BatchKey | None:
    """The batch this metric of this canary can join, or None (it keeps its own query)."""
    if metric.template_ref is not None or metric.query.strip():
        return None
    if metric.name not in (SUCCESS_RATE, DURATION):
        return None
    if not plain(canary.namespace, canary.target.name):
        return None
    if not _DURATION_INTERVAL.fullmatch(metric.interval):
        return None
    return BatchKey(metric.name, metric.interval, canary.metrics_server)


def readiness_promql(deployments: set[tuple[str, str]],
                     matchers: Mapping[str, str] | None = None) -> str:
    """The kube-state-metrics series of every (namespace, deployment) in one query (of one
    cluster when `matchers`, config `flux.clusterLabels`, are given)."""
    names = "|".join((SPEC_REPLICAS, UPDATED_REPLICAS, AVAILABLE_REPLICAS))
    namespaces = "|".join(sorted({ns for ns, _ in deployments}))
    targets = "|".join(sorted({d for _, d in deployments}))
    return (f'{{__name__=~"{names}",namespace=~"{namespaces}",deployment=~"{targets}"'
            f"{extra_matchers(matchers)}}}")


def batched_promql(key: BatchKey, workloads: set[tuple[str, str]]) -> str:
    """The query for every (namespace, target) in `workloads` (at least one)."""
    namespaces = "|".join(sorted({ns for ns, _ in workloads}))
    targets = "|".join(sorted({t for _, t in workloads}))
    selector = (f'reporter="destination",{NAMESPACE_LABEL}=~"{namespaces}",'
                f'{TARGET_LABEL}=~"{targets}"')
    by = f"{NAMESPACE_LABEL}, {TARGET_LABEL}"
    if key.metric == SUCCESS_RATE:
        return (f"sum by ({by}) (rate(istio_requests_total{{{selector},response_code!~\"5.*\"}}"
                f"[{key.interval}])) / sum by ({by}) (rate(istio_requests_total{{{selector}}}"
                f"[{key.interval}])) * 100")
    return (f"histogram_quantile(0.99, sum by (le, {by}) (rate("
            f"istio_request_duration_milliseconds_bucket{{{selector}}}[{key.interval}])))")


@dataclass(frozen=True)
class SeriesSplit:
    """The series of a batched answer by member: `rows[key]` the indexes of a member's series
    (in answer order); `ambiguous` the members with two series of one identity and different
    values (which of them its own query would count is not known)."""

    rows: dict[MemberKey, list[int]]
    ambiguous: frozenset[MemberKey]


def split_series(series: Sequence[tuple[MemberKey, str, str]]) -> SeriesSplit | str:
    """Attribute series i, given as (its member key, what tells apart the series of one member
    ("" when a member has one series), its value), to its member; or why the answer cannot be
    read (a series without a value for every label of the grouping: not the batched form's).
    Duplicates with equal values are not ambiguous (each gives the same number).
    """
    rows: dict[MemberKey, list[int]] = {}
    values: dict[tuple[MemberKey, str], str] = {}
    ambiguous: set[MemberKey] = set()
    for index, (key, part, value) in enumerate(series):
        if not key or not all(key):
            return "a series of the batched answer lacks the labels the batch is grouped by"
        if values.setdefault((key, part), value) != value:
            ambiguous.add(key)
        rows.setdefault(key, []).append(index)
    return SeriesSplit(rows, frozenset(ambiguous))
