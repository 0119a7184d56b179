"""Read Prometheus for the reconciler: metric values, Deployment readiness, applied revisions.

`PrometheusMetrics` calls Prometheus' HTTP API (`GET /api/v1/query`) through
`gitbot.adapters.http.bounded_request`: one attempt per query, `timeout` seconds for the whole
answer (a server trickling bytes cannot hold a pass), same-origin redirects only, 16 MiB at most.
prometheus-api-client is not used: its `custom_query` cannot stream the body under a deadline,
throws the `resultType` away and raises `KeyError` on an answer without `data.result`.
Every method returns plain values from `gitbot.core`: an empty vector or NaN is "no data" (value
None, error None); a transport problem or a malformed answer (`{}`, `[]`, `+Inf`, a matrix) is an
error text without secrets or stack trace (see `prometheus_answer`). The reconciler calls
`query_metrics` each tick and feeds the outcomes to `gitbot.core.analysis.evaluate_metric`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from urllib3.exceptions import InsecureRequestWarning

from gitbot.adapters.http import HttpError, bounded_request, bounded_session
from gitbot.adapters.prom_hang import HangLatch
from gitbot.adapters.prometheus_answer import (
    Sample,
    number,
    outcome_of,
    pair_value,
    parse_answer,
    vector_of,
    with_prefix,
)
from gitbot.adapters.redact import register_secret
from gitbot.core.queries import (
    MetricQuery,
    QueryOutcome,
    QueryRenderError,
    applied_commit,
    applied_revision_query,
    metric_query,
    readiness_from_series,
    readiness_query,
    with_cluster_labels,
)
from gitbot.core.spec import Canary, Metric, MetricTemplate
from gitbot.core.state import Readiness
from gitbot.errors import RetryableError

SecretResolver = Callable[[str, str], Mapping[str, str]]

DEFAULT_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 16 << 20


class PrometheusMetrics:
    """One Prometheus server (plus cached clients for MetricTemplates with their own address)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bearer_token: str = "",
        basic_auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        insecure_skip_verify: bool = False,
        cluster_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.cluster_labels = dict(cluster_labels or {})  # flux.clusterLabels: this cluster
        self.timeout = timeout
        self._headers = dict(headers or {})
        if bearer_token:
            register_secret(bearer_token)
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        if basic_auth:
            register_secret(basic_auth[1])
        self._auth = basic_auth
        self._verify = not insecure_skip_verify
        self._session = bounded_session()
        self._others: dict[tuple[str, ...], PrometheusMetrics] = {}
        self._hangs = HangLatch()

    @property
    def display_url(self) -> str:
        """The URL without any user:password part, safe to log."""
        return redact_url(self.url)

    def query_value(self, promql: str) -> QueryOutcome:
        """One instant query reduced to one number (the last series wins, as in Flagger)."""
        return outcome_of(self._query(promql))

    def query_series(self, promql: str) -> list[Sample] | str:
        """The raw vector result of `promql`, or an error text."""
        samples = vector_of(self._query(promql), promql)
        return with_prefix(samples) if isinstance(samples, str) else samples

    def within_pass(self, on: bool) -> None:
        """During a pass, a server that timed out `HANG_LIMIT` times in a row is not asked
        again until the pass ends (`HangLatch`); outside a pass every query is asked."""
        self._hangs.reset(on)
        for other in self._others.values():
            other.within_pass(on)

    def _query(self, promql: str) -> tuple[str, Any] | str:
        """(resultType, result), or the error text of a failed call or a malformed answer."""
        if self._hangs.given_up is not None:
            return self._hangs.given_up
        try:
            with warnings.catch_warnings():
                if not self._verify:
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                reply = bounded_request(
                    self._session, "GET", f"{self.url}/api/v1/query",
                    deadline_s=self.timeout, max_body=MAX_ANSWER_BYTES,
                    params={"query": promql}, headers=self._headers or None,
                    auth=self._auth, verify=self._verify,
                )
        except HttpError as err:
            text = self._transport_error(err)
            self._hangs.failed(err.kind == "timeout", text, self.display_url)
            return text
        self._hangs.answered()
        return parse_answer(reply.status, reply.body)

    def is_online(self) -> bool:
        """Flagger's health probe: `vector(1)` must return 1."""
        return self.query_value("vector(1)").value == 1.0

    def deployment_readiness(
        self, namespace: str, name: str, threshold_pct: int, kind: str = "canary"
    ) -> Readiness:
        """Readiness of a Deployment from kube-state-metrics series (Flagger's rule)."""
        series = self.query_series(readiness_query(namespace, name, self.cluster_labels))
        return readiness_of(series, namespace, name, threshold_pct, kind)

    def applied_revisions(self) -> dict[str, str] | None:
        """Kustomization name -> applied commit sha; None when Flux's series does not exist.

        Only this cluster's series (`cluster_labels`). Raises `RetryableError` when Prometheus
        cannot be queried or answers nonsense (try again next tick).
        """
        applied = self.applied_kustomizations()
        return None if applied is None else {name: sha for (_ns, name), sha in applied.items()}

    def applied_kustomizations(self) -> dict[tuple[str, str], str] | None:
        """(namespace, name) -> applied commit sha of this cluster's Kustomizations ("" for one
        whose revision is not a commit: an ExternalArtifact's digest with no `origin_revision`).

        The namespace is the series' `exported_namespace` (Flux's monitoring config, README),
        "" when it has none (a `namespace` label is the scrape target's, kube-state-metrics'
        own, not the Kustomization's). None when Flux's series does not exist.
        """
        series = self.query_series(applied_revision_query(self.cluster_labels))
        if isinstance(series, str):
            raise RetryableError(series)
        if not series:
            return None
        revisions: dict[tuple[str, str], str] = {}
        for sample in series:
            labels = sample.get("metric", {})
            if isinstance(labels.get("name"), str) and isinstance(labels.get("revision"), str):
                namespace = labels.get("exported_namespace", "")
                origin = labels.get("origin_revision")
                revisions[(str(namespace), labels["name"])] = applied_commit(
                    labels["revision"], origin if isinstance(origin, str) else "")
        return revisions

    def query_metrics(
        self,
        canary: Canary,
        templates: Mapping[str, MetricTemplate],
        resolve_secret: SecretResolver,
    ) -> list[tuple[Metric, QueryOutcome]]:
        """Render and run every metric of the canary; a render error becomes an error outcome."""
        outcomes: list[tuple[Metric, QueryOutcome]] = []
        for metric in canary.analysis.metrics:
            outcomes.append((metric, self._run_metric(canary, metric, templates, resolve_secret)))
        return outcomes

    def _run_metric(
        self,
        canary: Canary,
        metric: Metric,
        templates: Mapping[str, MetricTemplate],
        resolve_secret: SecretResolver,
    ) -> QueryOutcome:
        try:
            query = metric_query(canary, metric, templates)
        except QueryRenderError as exc:
            return QueryOutcome(None, str(exc))
        template = templates.get(query.template_key) if query.template_key else None
        try:
            client = self.client_for(query, template, resolve_secret)
        except Exception as exc:  # the resolver is the caller's code: report, never crash
            return QueryOutcome(None, f"Metric template {query.template_key} secret: {exc}")
        if query.builtin and client is self:  # this cluster's series (flux.clusterLabels)
            return client.query_value(with_cluster_labels(query.promql, self.cluster_labels))
        return client.query_value(query.promql)

    def client_for(
        self,
        query: MetricQuery,
        template: MetricTemplate | None,
        resolve_secret: SecretResolver,
    ) -> PrometheusMetrics:
        """The client for a query's server, headers and secret (self, or a cached other)."""
        address = query.address.rstrip("/")
        headers = dict(template.headers) if template else {}
        secret: Mapping[str, str] = {}
        if template is not None and template.secret_ref:
            secret = resolve_secret(template.namespace, template.secret_ref)
        if (not address or address == self.url) and not headers and not secret:
            return self
        insecure = bool(template and template.insecure_skip_verify)
        key = (
            address or self.url,
            json.dumps(headers, sort_keys=True),
            json.dumps(dict(secret), sort_keys=True),
            str(insecure),
        )
        if key not in self._others:
            self._others[key] = PrometheusMetrics(
                address or self.url,
                timeout=self.timeout,
                bearer_token=secret.get("token", ""),
                basic_auth=_basic_auth(secret),
                headers=headers,
                insecure_skip_verify=insecure,
            )
            self._others[key].within_pass(self._hangs.active)
        return self._others[key]

    def _transport_error(self, err: HttpError) -> str:
        where = self.display_url
        if err.kind == "timeout":
            return f"timeout after {self.timeout:g}s talking to {where}"
        if err.kind == "connect":
            return f"cannot connect to {where}: {err.message}"
        return f"request to {where} failed: {err.message}"

    def close(self) -> None:
        for other in self._others.values():
            other.close()
        self._others.clear()
        self._session.close()

    def __enter__(self) -> PrometheusMetrics:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def redact_url(url: str) -> str:
    """Drop user:password@ and the query string from a URL (safe to log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _basic_auth(secret: Mapping[str, str]) -> tuple[str, str] | None:
    if secret.get("username") and "password" in secret:
        return (secret["username"], secret["password"])
    return None


def readiness_of(
    series: list[Sample] | str, namespace: str, name: str, threshold_pct: int, kind: str
) -> Readiness:
    """Readiness from the kube-state-metrics samples of one Deployment (or the query's error)."""
    if isinstance(series, str):
        return Readiness(ready=False, known=False, message=series)
    values: dict[str, float] = {}
    for sample in series:
        series_name = str(sample.get("metric", {}).get("__name__", ""))
        outcome = number(pair_value(sample.get("value")))
        if outcome.error:
            return Readiness(
                ready=False, known=False,
                message=f"{kind} deployment {name}.{namespace} readiness unknown: "
                f"{series_name}: {outcome.error}",
            )
        if outcome.value is not None:
            values[series_name] = outcome.value
    return readiness_from_series(values, threshold_pct, name, namespace, kind)

