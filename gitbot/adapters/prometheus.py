"""Read Prometheus for the reconciler: metric values, Deployment readiness, applied revisions.

`PrometheusMetrics` wraps prometheus-api-client's `PrometheusConnect` with an explicit timeout
and no retry storm (the library's default retries turn a refused connection into 6 s). Every
method returns plain values from `gitbot.core`: an empty vector or NaN is "no data" (value None,
error None), a transport or HTTP problem is an error text without secrets or stack trace.
The reconciler calls `query_metrics` each tick and feeds the outcomes to
`gitbot.core.analysis.evaluate_metric`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from gitbot.core.queries import (
    APPLIED_REVISION_QUERY,
    MetricQuery,
    QueryOutcome,
    QueryRenderError,
    metric_query,
    parse_revision,
    readiness_from_series,
    readiness_query,
)
from gitbot.core.spec import Canary, Metric, MetricTemplate
from gitbot.core.state import Readiness
from gitbot.errors import RetryableError

SecretResolver = Callable[[str, str], Mapping[str, str]]

DEFAULT_TIMEOUT = 5.0


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
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        all_headers = dict(headers or {})
        if bearer_token:
            all_headers["Authorization"] = f"Bearer {bearer_token}"
        self._client = PrometheusConnect(
            url=self.url,
            headers=all_headers or None,
            disable_ssl=insecure_skip_verify,
            retry=Retry(total=0, connect=0, read=0, status=0, redirect=0),
            auth=basic_auth,
            timeout=timeout,
        )
        self._others: dict[tuple[str, ...], PrometheusMetrics] = {}

    @property
    def display_url(self) -> str:
        """The URL without any user:password part, safe to log."""
        return redact_url(self.url)

    def query_value(self, promql: str) -> QueryOutcome:
        """One instant query reduced to one number (the last series wins, as in Flagger)."""
        try:
            result = self._client.custom_query(promql)
        except PrometheusApiClientException as exc:
            return QueryOutcome(None, f"Prometheus query failed: {_api_error(str(exc))}")
        except requests.RequestException as exc:
            return QueryOutcome(None, f"Prometheus query failed: {self._transport_error(exc)}")
        except ValueError as exc:  # a 200 answer that is not JSON (a proxy page)
            return QueryOutcome(None, f"Prometheus query failed: invalid response: {exc}")
        return _reduce(result)

    def query_series(self, promql: str) -> list[dict[str, Any]] | str:
        """The raw vector result of `promql`, or an error text."""
        try:
            result = self._client.custom_query(promql)
        except PrometheusApiClientException as exc:
            return f"Prometheus query failed: {_api_error(str(exc))}"
        except requests.RequestException as exc:
            return f"Prometheus query failed: {self._transport_error(exc)}"
        except ValueError as exc:
            return f"Prometheus query failed: invalid response: {exc}"
        if not _is_vector(result):
            return f"Prometheus query failed: {promql!r} did not return an instant vector"
        return list(result)

    def is_online(self) -> bool:
        """Flagger's health probe: `vector(1)` must return 1."""
        return self.query_value("vector(1)").value == 1.0

    def deployment_readiness(
        self, namespace: str, name: str, threshold_pct: int, kind: str = "canary"
    ) -> Readiness:
        """Readiness of a Deployment from kube-state-metrics series (Flagger's rule)."""
        series = self.query_series(readiness_query(namespace, name))
        if isinstance(series, str):
            return Readiness(ready=False, known=False, message=series)
        values: dict[str, float] = {}
        for sample in series:
            value = _sample_value(sample)
            if value is not None:
                values[str(sample["metric"].get("__name__", ""))] = value
        return readiness_from_series(values, threshold_pct, name, namespace, kind)

    def applied_revisions(self) -> dict[str, str] | None:
        """Kustomization name -> applied commit sha; None when Flux's series does not exist.

        Raises `RetryableError` when Prometheus cannot be queried (try again next tick).
        """
        series = self.query_series(APPLIED_REVISION_QUERY)
        if isinstance(series, str):
            raise RetryableError(series)
        if not series:
            return None
        revisions: dict[str, str] = {}
        for sample in series:
            labels = sample.get("metric", {})
            if labels.get("name") and labels.get("revision"):
                revisions[str(labels["name"])] = parse_revision(str(labels["revision"]))
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
            client = self._client_for(query, template, resolve_secret)
        except Exception as exc:  # the resolver is the caller's code: report, never crash
            return QueryOutcome(None, f"Metric template {query.template_key} secret: {exc}")
        return client.query_value(query.promql)

    def _client_for(
        self,
        query: MetricQuery,
        template: MetricTemplate | None,
        resolve_secret: SecretResolver,
    ) -> PrometheusMetrics:
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
        return self._others[key]

    def _transport_error(self, exc: requests.RequestException) -> str:
        where = self.display_url
        if isinstance(exc, requests.Timeout):
            return f"timeout after {self.timeout:g}s talking to {where}"
        if isinstance(exc, requests.ConnectionError):
            return f"cannot connect to {where}: {_root_cause(exc)}"
        return f"request to {where} failed: {type(exc).__name__}"

    def close(self) -> None:
        for other in self._others.values():
            other.close()
        self._others.clear()
        self._client.close()

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


def _is_vector(result: Any) -> bool:
    return isinstance(result, list) and all(isinstance(s, dict) for s in result)


def _reduce(result: Any) -> QueryOutcome:
    """Vector: last series wins; scalar `[ts, "v"]`; matrix is an error; empty/NaN is no data."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _number(result[1])
    if not _is_vector(result):
        return QueryOutcome(None, "Prometheus query failed: unexpected result type")
    if not result:
        return QueryOutcome(None)
    last = result[-1]
    if "values" in last:
        return QueryOutcome(None, "Prometheus query failed: query returned multiple values")
    return _number(last.get("value", [None, None])[1])


def _number(text: Any) -> QueryOutcome:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return QueryOutcome(None, f"Prometheus query failed: not a number: {str(text)[:50]!r}")
    if math.isnan(value):
        return QueryOutcome(None)
    return QueryOutcome(value)


def _sample_value(sample: Mapping[str, Any]) -> float | None:
    outcome = _number(sample.get("value", [None, None])[1])
    return outcome.value


_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\Z", re.DOTALL)


def _api_error(text: str) -> str:
    """Turn prometheus-api-client's "HTTP Status Code 400 (b'{...}')" into a short message."""
    match = _STATUS.match(text)
    if match is None:
        return text[:300]
    status, raw = match.groups()
    body = raw[2:-1] if raw[:2] in ("b'", 'b"') else raw
    try:
        data = json.loads(body.encode().decode("unicode_escape"))
        return f"HTTP {status}: {data.get('errorType', 'error')}: {data.get('error', '')}"[:300]
    except (ValueError, AttributeError):
        return f"HTTP {status}: {body[:200]}"


def _root_cause(exc: BaseException) -> str:
    """The innermost cause of a connection error, e.g. "Connection refused"."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not known"
    return type(exc).__name__
