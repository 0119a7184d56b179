"""Malformed Prometheus answers from a real HTTP server on 127.0.0.1: every shape becomes a failed
query, an unknown readiness or a retryable error carrying the cause — never an exception."""

from __future__ import annotations

from typing import Any

import pytest
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.core.analysis import evaluate_metric
from gitbot.core.queries import QueryOutcome
from gitbot.core.spec import Analysis, Canary, Metric, ObjectRef, ServiceSpec
from gitbot.errors import RetryableError

FAILED = "Prometheus query failed: "


def _vector(*values: Any, name: str = "m") -> dict[str, Any]:
    result = [{"metric": {"__name__": name}, "value": [1.0, v]} for v in values]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _answer(kind: str, result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": kind, "result": result}}


MALFORMED = [
    pytest.param(Reply(200, {}), "invalid response: no 'status' field", id="empty-object"),
    pytest.param(Reply(200, []), "invalid response: expected a JSON object, got a list",
                 id="empty-list"),
    pytest.param(Reply(200, "<html>proxy</html>"), "invalid response: not JSON: '<html>proxy",
                 id="html"),
    pytest.param(Reply(200, {"status": "success"}), "invalid response: no 'data' object",
                 id="no-data"),
    pytest.param(Reply(200, {"status": "success", "data": []}),
                 "invalid response: 'data' is a list, not an object", id="data-list"),
    pytest.param(Reply(200, {"status": "success", "data": {"resultType": "vector"}}),
                 "invalid response: no 'data.result' or 'data.resultType'", id="no-result"),
    pytest.param(Reply(200, _vector("+Inf")), "value is +Inf (not a finite number)", "m: ",
                 id="inf"),
    pytest.param(Reply(200, _vector("-Inf")), "value is -Inf (not a finite number)", "m: ",
                 id="minus-inf"),
    pytest.param(Reply(200, _vector("fast")), "not a number: 'fast'", "m: ", id="not-numeric"),
    pytest.param(Reply(200, _vector(None)), "not a number: 'None'", "m: ", id="null-value"),
    pytest.param(Reply(200, _answer("vector", {"a": 1})),
                 "invalid response: vector result is an object, not a list", id="vector-object"),
    pytest.param(Reply(200, _answer("vector", [1, 2, 3])), "invalid response: malformed sample",
                 id="vector-of-numbers"),
    pytest.param(Reply(200, _answer("matrix", [{"metric": {}, "values": [[1, "1"]]}])),
                 "multiple values per series (a range vector)",
                 "did not return an instant vector (got matrix)", id="matrix"),
    pytest.param(Reply(200, _answer("scalar", "7")), "not a number: 'None'",
                 "did not return an instant vector (got scalar)", id="scalar-not-pair"),
    pytest.param(Reply(200, _answer("histogram", [])), "unexpected result type 'histogram'",
                 "did not return an instant vector (got histogram)", id="unknown-type"),
    pytest.param(Reply(200, {"status": "error", "errorType": "execution", "error": "boom"}),
                 "execution: boom", id="error-status-200"),
    pytest.param(Reply(502, "<html>bad gateway</html>"), "HTTP 502: '<html>bad gateway",
                 id="proxy-502"),
]


def _cases(with_series: bool) -> list[Any]:
    """MALFORMED as (reply, cause) or (reply, cause of a series query)."""
    cases = []
    for case in MALFORMED:
        reply, cause, *series = case.values
        if with_series and series:
            cause = f"m: {FAILED}{cause}" if series[0] == "m: " else series[0]
        values = (reply, cause)
        cases.append(pytest.param(*values, id=case.id))
    return cases


@pytest.mark.parametrize(("reply", "cause"), _cases(with_series=False))
def test_malformed_answer_is_a_failed_check_with_the_cause(reply: Reply, cause: str) -> None:
    with RecordingServer(reply) as fake, PrometheusMetrics(fake.url) as metrics:
        outcome = metrics.query_value("up")
    assert outcome.value is None and outcome.error is not None
    assert outcome.error.startswith(FAILED) and cause in outcome.error
    canary = Canary(name="podinfo", namespace="test", target=ObjectRef(name="podinfo"),
                    service=ServiceSpec(port=9898), analysis=Analysis())
    result = evaluate_metric(canary, Metric(name="latency", query="up"), None, outcome.error)
    assert not result.passed and cause in result.message


@pytest.mark.parametrize(("reply", "cause"), _cases(with_series=True))
def test_malformed_answer_leaves_readiness_unknown(reply: Reply, cause: str) -> None:
    with RecordingServer(reply) as fake, PrometheusMetrics(fake.url) as metrics:
        readiness = metrics.deployment_readiness("test", "podinfo", 100)
    assert (readiness.ready, readiness.known) == (False, False)
    assert cause in readiness.message


@pytest.mark.parametrize(("reply", "cause"), _cases(with_series=True))
def test_malformed_answer_to_applied_revisions_is_retryable(reply: Reply, cause: str) -> None:
    with RecordingServer(reply) as fake, PrometheusMetrics(fake.url) as metrics:
        if cause.startswith("m: "):  # odd values, no name/revision labels: nothing applied
            assert metrics.applied_revisions() == {}
            return
        with pytest.raises(RetryableError) as caught:
            metrics.applied_revisions()
    assert str(caught.value).startswith(FAILED) and cause in str(caught.value)


def test_readiness_with_an_infinite_replica_count_is_unknown() -> None:
    series = [
        {"metric": {"__name__": n}, "value": [1.0, v]}
        for n, v in (("kube_deployment_spec_replicas", "2"),
                     ("kube_deployment_status_replicas_updated", "+Inf"),
                     ("kube_deployment_status_replicas_available", "2"))
    ]
    with RecordingServer(Reply(200, _answer("vector", series))) as fake, \
            PrometheusMetrics(fake.url) as metrics:
        readiness = metrics.deployment_readiness("test", "podinfo", 100)
    assert (readiness.ready, readiness.known) == (False, False)
    assert readiness.message == (
        "canary deployment podinfo.test readiness unknown: "
        "kube_deployment_status_replicas_updated: Prometheus query failed: value is +Inf "
        "(not a finite number)"
    )


def test_applied_revisions_ignores_non_text_labels() -> None:
    sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
    series = [
        {"metric": {"name": ["apps"], "revision": 7}, "value": [1.0, "1"]},
        {"metric": {"name": "apps", "revision": f"main@sha1:{sha}"}, "value": [1.0, "1"]},
    ]
    with RecordingServer(Reply(200, _answer("vector", series))) as fake, \
            PrometheusMetrics(fake.url) as metrics:
        assert metrics.applied_revisions() == {"apps": sha}


def test_nan_is_still_no_data() -> None:
    with RecordingServer(Reply(200, _vector("NaN"))) as fake, \
            PrometheusMetrics(fake.url) as metrics:
        assert metrics.query_value("up") == QueryOutcome(None)
