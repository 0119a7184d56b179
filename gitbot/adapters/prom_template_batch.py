"""MetricTemplates of the canaries of a pass in one query per template and sentinel form.

`BatchedMetrics` (`prom_batch`) makes one `TemplateBatches` per pass and asks it first for every
template metric. On the first ask it renders every pass canary's template metrics with
sentinels (`gitbot.core.template_batch`); canaries whose sentinel forms are equal and batchable
form a batch, run once (`BatchPlan.query`) on the template's server with its headers and secret,
and each member reads the series of its namespace and target: a missing series or NaN is no
data, as its own query would give. A batch of one canary, a template that is not batchable, a
batch that failed (its secret, HTTP, a timeout, a limit, an unparsable answer: logged once, not
asked again in the pass) and a member with ambiguous series answer None: the caller asks that
canary's own query (`prom_batch_answer`), which gives it its own outcome or error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gitbot.adapters.prom_batch_answer import (
    BatchAnswer,
    log_ambiguous,
    log_failed,
    outcomes_by_member,
)
from gitbot.adapters.prometheus import PrometheusMetrics, SecretResolver
from gitbot.core.queries import MetricQuery, QueryOutcome
from gitbot.core.spec import Canary, Metric, MetricTemplate
from gitbot.core.template_batch import (
    NAMESPACE,
    TARGET,
    BatchPlan,
    TemplateBatchKey,
    member,
    plan,
    template_batch_key,
)

Answer = BatchAnswer | str  # per member, or the error of the query


class TemplateBatches:
    """The MetricTemplate batches of one pass over `canaries`."""

    def __init__(self, canaries: Sequence[Canary]) -> None:
        self._canaries = list(canaries)
        self._templates: Mapping[str, MetricTemplate] | None = None
        self._members: dict[TemplateBatchKey, list[dict[str, str]]] = {}
        self._answers: dict[TemplateBatchKey, Answer] = {}
        self.queries = 0  # batched queries run (for tests and the benchmark)

    def outcome(
        self,
        owner: PrometheusMetrics,
        canary: Canary,
        metric: Metric,
        templates: Mapping[str, MetricTemplate],
        resolve_secret: SecretResolver,
    ) -> QueryOutcome | None:
        """This metric's outcome from its batch, or None: ask the canary's own query."""
        if metric.template_ref is None or not self._canaries:
            return None
        self._group(templates)
        key = template_batch_key(canary, metric, templates)
        if key is None or key not in self._members:
            return None
        found = plan(key.promql)
        if isinstance(found, str):  # cannot happen: the key exists only for a plan
            return None
        if key not in self._answers:
            self._answers[key] = self._run(owner, key, found, templates[key.template],
                                           resolve_secret)
            self._log(key, found)
        answer = self._answers[key]
        if isinstance(answer, str):
            return None
        return answer.outcome(found.key_of_member(member(canary)))

    def _log(self, key: TemplateBatchKey, found: BatchPlan) -> None:
        answer, members = self._answers[key], self._members[key]
        what = f"MetricTemplate {key.template}"
        if isinstance(answer, str):
            log_failed(what, len(members), answer)
        else:
            log_ambiguous(what, [f"{m[NAMESPACE]}/{m[TARGET]}" for m in members
                                 if found.key_of_member(m) in answer.ambiguous])

    def _group(self, templates: Mapping[str, MetricTemplate]) -> None:
        """Batches of two or more canaries (again when the templates given change)."""
        if self._templates is templates or self._templates == templates:
            return
        self._templates, self._answers = templates, {}
        grouped: dict[TemplateBatchKey, dict[tuple[str, str], dict[str, str]]] = {}
        for canary in self._canaries:
            for metric in canary.analysis.metrics:
                key = template_batch_key(canary, metric, templates)
                if key is not None:
                    grouped.setdefault(key, {})[_workload(canary)] = member(canary)
        self._members = {k: list(m.values()) for k, m in grouped.items() if len(m) > 1}

    def _run(self, owner: PrometheusMetrics, key: TemplateBatchKey, found: BatchPlan,
             template: MetricTemplate, resolve_secret: SecretResolver) -> Answer:
        promql = found.query(self._members[key])
        query = MetricQuery(promql=promql, address=template.address, template_key=key.template)
        try:
            client = owner.client_for(query, template, resolve_secret)
        except Exception as exc:  # the resolver is the caller's code: report, never crash
            return f"Metric template {key.template} secret: {exc}"
        self.queries += 1
        return outcomes_by_member(client.query_series(promql), found.key_of_series)


def _workload(canary: Canary) -> tuple[str, str]:
    return canary.namespace, canary.target.name
