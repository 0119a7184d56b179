"""Builtin metrics for all canaries of a pass in one query per metric and interval.

`BatchedMetrics` is the `PrometheusMetrics` the observer uses (built in `gitbot.wiring`). The
reconciler announces the canaries of a pass (`Observer.begin_pass` -> `begin_pass`, and
`end_pass` after it); the first
canary that needs a builtin metric runs the batched query (`gitbot.core.batch_queries`) for
every canary of the pass with the same metric, interval and server, and the others read their
series from that answer. A workload without a series is no data, a NaN is no data, exactly as
its own query. A batch that fails (HTTP error, timeout, over a limit, unparsable) is no
canary's outcome: each member asks its own query, and the failure is logged once and not asked
again in the pass; a member with ambiguous series asks its own query too (`prom_batch_answer`).
MetricTemplates are batched when their
rendered queries differ only in the canaries' namespace/target matchers (`prom_template_batch`,
rules in `gitbot.core.template_batch`); inline queries, other templates and names that cannot
be batched keep their own query (`PrometheusMetrics.query_metrics`). The readiness of the
canaries' Deployments and primaries is one query per pass too, with the same fallback.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from gitbot.adapters.prom_batch_answer import (
    BatchAnswer,
    log_ambiguous,
    log_failed,
    outcomes_by_member,
    value_text,
)
from gitbot.adapters.prom_prefetch import Prefetcher
from gitbot.adapters.prom_template_batch import TemplateBatches
from gitbot.adapters.prometheus import (
    DEFAULT_TIMEOUT,
    PrometheusMetrics,
    SecretResolver,
    readiness_of,
)
from gitbot.adapters.prometheus_answer import Sample, with_prefix
from gitbot.core.batch_queries import (
    NAMESPACE_LABEL,
    TARGET_LABEL,
    BatchKey,
    MemberKey,
    batch_key,
    batched_promql,
    plain,
    readiness_promql,
    split_series,
)
from gitbot.core.queries import QueryOutcome, with_cluster_labels
from gitbot.core.spec import Canary, Metric, MetricTemplate
from gitbot.core.state import Readiness

Answer = BatchAnswer | str  # per workload, or the error of the query
Ready = tuple[dict[MemberKey, list[Sample]], frozenset[MemberKey]] | str  # by deployment


class BatchedMetrics(PrometheusMetrics):
    """`PrometheusMetrics` answering builtin metrics from one query per pass and batch."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 cluster_labels: Mapping[str, str] | None = None) -> None:
        super().__init__(url, timeout=timeout, cluster_labels=cluster_labels)
        self._members: dict[BatchKey, set[tuple[str, str]]] = {}
        self._answers: dict[BatchKey, Answer] = {}
        self._deployments: set[tuple[str, str]] = set()
        self._ready: Ready | None = None
        self._templates = TemplateBatches(())
        self._batched = 0
        self._prefetch = Prefetcher(lambda promql: PrometheusMetrics.query_series(self, promql))

    @property
    def batched_queries(self) -> int:
        """Batched queries run so far: builtin, readiness, templates (tests, the benchmark)."""
        return self._batched + self._templates.queries

    def begin_pass(self, canaries: Iterable[Canary]) -> None:
        """The canaries that tick in this pass; earlier answers are forgotten."""
        self._members, self._answers = {}, {}
        self._deployments, self._ready = set(), None
        self._batched = self.batched_queries
        canaries = list(canaries)
        self.within_pass(bool(canaries))  # a hanging server is given up on after a few tries
        self._templates = TemplateBatches(canaries)
        for canary in canaries:
            if plain(canary.namespace, canary.target.name, canary.primary_name):
                self._deployments.add((canary.namespace, canary.target.name))
                self._deployments.add((canary.namespace, canary.primary_name))
            for metric in canary.analysis.metrics:
                key = batch_key(canary, metric)
                if key is not None:
                    self._members.setdefault(key, set()).add(_workload(canary))

    def end_pass(self) -> None:
        """The pass ended: a tick outside a pass asks its own queries again."""
        self._prefetch.end_pass()
        self.begin_pass(())

    def prefetch(self, only: Collection[str] | None) -> None:
        """A pass over `only` (None: every canary) is about to fetch the repository: the
        queries the last pass over them asked are asked again meanwhile (`prom_prefetch`)."""
        self._prefetch.launch(only)

    @property
    def prefetched(self) -> int:
        """Queries asked ahead of their pass so far (tests, the benchmark)."""
        return self._prefetch.launched

    def query_series(self, promql: str) -> list[Sample] | str:
        answer = self._prefetch.take(promql)
        return answer if answer is not None else super().query_series(promql)

    def close(self) -> None:
        self._prefetch.close()
        super().close()

    def query_metrics(
        self,
        canary: Canary,
        templates: Mapping[str, MetricTemplate],
        resolve_secret: SecretResolver,
    ) -> list[tuple[Metric, QueryOutcome]]:
        outcomes: list[tuple[Metric, QueryOutcome]] = []
        for metric in canary.analysis.metrics:
            found = self._templates.outcome(self, canary, metric, templates, resolve_secret)
            if found is None:
                found = self._builtin_outcome(canary, metric)
            if found is None:  # not batched, the batch failed or is ambiguous: its own query
                outcomes += super().query_metrics(_only(canary, metric), templates,
                                                  resolve_secret)
            else:
                outcomes.append((metric, found))
        return outcomes

    def _builtin_outcome(self, canary: Canary, metric: Metric) -> QueryOutcome | None:
        """The outcome from this metric's batch, or None: ask the canary's own query."""
        key = batch_key(canary, metric)
        if key is None or _workload(canary) not in self._members.get(key, ()):
            return None
        answer = self._answer(key)
        return None if isinstance(answer, str) else answer.outcome(_workload(canary))

    def deployment_readiness(
        self, namespace: str, name: str, threshold_pct: int, kind: str = "canary"
    ) -> Readiness:
        if (namespace, name) not in self._deployments:
            return super().deployment_readiness(namespace, name, threshold_pct, kind)
        if self._ready is None:
            self._batched += 1
            self._ready = _by_deployment(self.query_series(
                readiness_promql(self._deployments, self.cluster_labels)))
            what = "readiness"
            if isinstance(self._ready, str):
                log_failed(what, len(self._deployments), self._ready, "deployments")
            else:
                log_ambiguous(what, ["/".join(d) for d in self._ready[1]])
        ready = self._ready
        if isinstance(ready, str) or (namespace, name) in ready[1]:  # its own query
            return super().deployment_readiness(namespace, name, threshold_pct, kind)
        return readiness_of(ready[0].get((namespace, name), []), namespace, name,
                            threshold_pct, kind)

    def _answer(self, key: BatchKey) -> Answer:
        if key not in self._answers:
            client = self if not key.address.rstrip("/") or key.address.rstrip("/") == self.url \
                else PrometheusMetrics(key.address, timeout=self.timeout)
            try:
                self._answers[key] = answer = self._run(client, key)
            finally:
                if client is not self:
                    client.close()
            what = f"{key.metric} [{key.interval}] on {client.display_url}"
            if isinstance(answer, str):
                log_failed(what, len(self._members[key]), answer)
            else:
                log_ambiguous(what, ["/".join(w) for w in answer.ambiguous])
        return self._answers[key]

    def _run(self, client: PrometheusMetrics, key: BatchKey) -> Answer:
        self._batched += 1
        promql = batched_promql(key, self._members[key])
        if client is self:  # this cluster's series (flux.clusterLabels), as PrometheusMetrics
            promql = with_cluster_labels(promql, self.cluster_labels)
        return outcomes_by_member(client.query_series(promql), _workload_of)


def _workload_of(labels: Mapping[str, object]) -> MemberKey:
    return str(labels.get(NAMESPACE_LABEL, "")), str(labels.get(TARGET_LABEL, ""))


def _deployment_of(labels: Mapping[str, object]) -> MemberKey:
    return str(labels.get("namespace", "")), str(labels.get("deployment", ""))


def _by_deployment(series: list[Sample] | str) -> Ready:
    """The samples of each (namespace, deployment); the deployments with two series of one
    name and different values (a kube-state-metrics pair that agrees is not ambiguous)."""
    if isinstance(series, str):
        return series
    split = split_series([(_deployment_of(s.get("metric", {})),
                           str(s.get("metric", {}).get("__name__", "")), value_text(s))
                          for s in series])
    if isinstance(split, str):
        return with_prefix(split)
    grouped = {key: [series[i] for i in rows] for key, rows in split.rows.items()}
    return grouped, split.ambiguous


def _workload(canary: Canary) -> tuple[str, str]:
    return canary.namespace, canary.target.name


def _only(canary: Canary, metric: Metric) -> Canary:
    """The canary with just this one metric (for the per-canary path)."""
    return replace(canary, analysis=replace(canary.analysis, metrics=(metric,)))
