"""A batched query that fails, or is ambiguous for a member, costs no canary its own answer.

A loopback Prometheus API (`promfaults.FaultyProm`) answers every query like a healthy server,
except the ones a case breaks: the batched form only (422 "too many samples", 503, a timeout,
an answer over the size bound, an unparsable answer, a matrix, series without the batch labels,
duplicate series for one member), or also one member's own query. Six canaries in two
namespaces, each with two builtin metrics, one batchable MetricTemplate and readiness of its two
Deployments. Each canary's outcomes must equal those of its own queries
(`PrometheusMetrics`); own queries are asked only by the members that need them; the batch's
failure is logged once, without traceback or password, and not asked again in the pass.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from promfaults import FaultyProm, Reply, Series, batched, selected, vector

from gitbot.adapters.prom_batch import BatchedMetrics
from gitbot.adapters.prom_hang import HANG_LIMIT, HangLatch
from gitbot.adapters.prometheus import MAX_ANSWER_BYTES, PrometheusMetrics
from gitbot.core import messages
from gitbot.core.analysis import evaluate_metric
from gitbot.core.batch_queries import split_series
from gitbot.core.queries import QueryOutcome
from gitbot.core.spec import (
    Analysis,
    Canary,
    Metric,
    MetricTemplate,
    ObjectRef,
    ServiceSpec,
    ThresholdRange,
)

PASSWORD = "pw-7f3k9q"  # in the server's URL: must never be logged
TIMEOUT = 0.5
METRICS = (
    Metric(name="request-success-rate", interval="30s", threshold_range=ThresholdRange(min=99)),
    Metric(name="request-duration", interval="30s", threshold_range=ThresholdRange(max=1000)),
    Metric(name="rps", interval="30s", threshold_range=ThresholdRange(max=100),
           template_ref=ObjectRef(name="rps", namespace="monitoring")),
)
TEMPLATES = {"monitoring/rps": MetricTemplate(
    name="rps", namespace="monitoring",
    query='sum(rate(http_requests_total{kubernetes_namespace="{{ namespace }}",'
          'app="{{ target }}"}[{{ interval }}]))')}
WORKLOADS = [(f"team{i // 3}", f"app{i}") for i in range(6)]
VALUES = {w: 99.0 + i / 10 for i, w in enumerate(WORKLOADS)}  # each workload its own value
READY = {(ns, d): [(2, 2, 2), (3, 1, 1), (2, 2, 0)][i % 3]
         for i, (ns, app) in enumerate(WORKLOADS) for d in (app, f"{app}-primary")}
TOO_MANY = json.dumps({"status": "error", "errorType": "execution", "error": (
    "query processing would load too many samples into memory in query execution")}).encode()
MATRIX = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()
CANARIES = [Canary(name=n, namespace=ns, target=ObjectRef(name=n, kind="Deployment"),
                   service=ServiceSpec(port=9898), analysis=Analysis(metrics=METRICS))
            for ns, n in WORKLOADS]

FAILURES = [
    pytest.param(Reply(422, TOO_MANY), "HTTP 422: execution: query processing would load too "
                 "many samples", id="http-422-too-many-samples"),
    pytest.param(Reply(503, b"upstream connect error"), "HTTP 503: 'upstream connect error'",
                 id="http-503"),
    pytest.param(Reply(hang=True), f"timeout after {TIMEOUT:g}s talking to http://127.0.0.1:",
                 id="timeout"),
    pytest.param(Reply(body=b" " * (MAX_ANSWER_BYTES + 1)),
                 f"answer larger than {MAX_ANSWER_BYTES} bytes", id="over-the-size-bound"),
    pytest.param(Reply(body=b"<html>bad gateway</html>"), "invalid response: not JSON",
                 id="unparsable"),
    pytest.param(Reply(body=MATRIX), "did not return an instant vector", id="a-matrix"),
    pytest.param(Reply(body=vector([{"metric": {}, "value": [0, "1"]}])),
                 "lacks the labels the batch is grouped by", id="series-without-batch-labels"),
]


def _when_batched(reply: Reply) -> Callable[[str, Series], Reply | None]:
    return lambda query, _series: reply if batched(query) else None


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="gitbot")
    yield caplog
    assert "Traceback" not in caplog.text and PASSWORD not in caplog.text
    assert not any(r.exc_info for r in caplog.records)


def _batch_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "batched query" in r.getMessage()]


def _url(prom: FaultyProm) -> str:
    return prom.url.replace("://", f"://gitbot:{PASSWORD}@")


def _pass(prom: FaultyProm) -> dict[str, list[tuple[Metric, QueryOutcome]]]:
    """One pass over the canaries with batching: each canary's outcomes."""
    with BatchedMetrics(_url(prom), timeout=TIMEOUT) as metrics:
        metrics.begin_pass(CANARIES)
        return {c.key: metrics.query_metrics(c, TEMPLATES, _no_secrets) for c in CANARIES}


def _alone(prom: FaultyProm) -> dict[str, list[tuple[Metric, QueryOutcome]]]:
    """Each canary's own queries (Flagger's way), on the same server."""
    with PrometheusMetrics(_url(prom), timeout=TIMEOUT) as metrics:
        return {c.key: metrics.query_metrics(c, TEMPLATES, _no_secrets) for c in CANARIES}


def _counts(prom: FaultyProm, since: int = 0) -> tuple[int, int]:
    """(batched queries, per-canary queries) the server received since query number `since`."""
    asked = prom.queries[since:]
    return sum(map(batched, asked)), sum(not batched(q) for q in asked)


@pytest.mark.parametrize(("reply", "error"), FAILURES)
def test_a_failed_batch_gives_every_member_its_own_query_s_outcome(
    reply: Reply, error: str, logs: pytest.LogCaptureFixture,
) -> None:
    with FaultyProm(VALUES, READY, _when_batched(reply)) as prom:
        got = _pass(prom)
        # 2 builtin batches + 1 template batch, then each member's own query of each metric
        assert _counts(prom) == (3, len(CANARIES) * len(METRICS))
        want = _alone(prom)
    assert got == want
    assert all(o.error is None and o.value is not None for c in got.values() for _, o in c)
    lines = _batch_lines(logs)
    assert len(lines) == 3, lines  # once per failed batch
    assert all(error in line and "each asks its own query this pass" in line for line in lines)
    assert {line.split(" failed, ")[0] for line in lines} == {  # the URL without password
        f"batched query of request-success-rate [30s] on {prom.url} for 6 canaries",
        f"batched query of request-duration [30s] on {prom.url} for 6 canaries",
        "batched query of MetricTemplate monitoring/rps for 6 canaries"}


def test_a_successful_batch_asks_no_member_s_own_query(logs: pytest.LogCaptureFixture) -> None:
    with FaultyProm(VALUES, READY) as prom:
        got = _pass(prom)
        assert _counts(prom) == (3, 0)
        want = _alone(prom)
    assert got == want
    assert _batch_lines(logs) == []


def test_a_failed_batch_is_not_asked_again_in_the_pass(logs: pytest.LogCaptureFixture) -> None:
    with FaultyProm(VALUES, READY, _when_batched(Reply(422, TOO_MANY))) as prom, \
            BatchedMetrics(prom.url) as metrics:
        metrics.begin_pass(CANARIES)
        for _round in range(3):  # the same canaries asked again within one pass
            for canary in CANARIES:
                metrics.query_metrics(canary, TEMPLATES, _no_secrets)
        assert _counts(prom) == (3, 3 * len(CANARIES) * len(METRICS))
        metrics.end_pass()
        metrics.begin_pass(CANARIES)  # the next pass tries the batch again
        since = len(prom.queries)
        metrics.query_metrics(CANARIES[0], TEMPLATES, _no_secrets)
        assert _counts(prom, since) == (3, len(METRICS))
    assert len(_batch_lines(logs)) == 6  # once per batch and pass


def test_a_member_whose_own_query_fails_gets_its_own_failed_check(
    logs: pytest.LogCaptureFixture,
) -> None:
    broken = CANARIES[2]

    def fault(query: str, _series: Series) -> Reply | None:
        if batched(query):
            return Reply(422, TOO_MANY)
        if selected(query)[1] == [(broken.namespace, broken.name)]:
            return Reply(503, b"no healthy upstream")
        return None

    with FaultyProm(VALUES, READY, fault) as prom:
        got = _pass(prom)
        want = _alone(prom)
    assert got == want
    for canary in CANARIES:
        checks = [evaluate_metric(canary, m, o.value, o.error) for m, o in got[canary.key]]
        if canary is broken:
            assert [c.message for c in checks] == [messages.metric_query_failed(
                m.name, "Prometheus query failed: HTTP 503: 'no healthy upstream'")
                for m in METRICS]
            assert not any(c.passed for c in checks)
        else:
            assert all(c.passed for c in checks), checks


@pytest.mark.parametrize("member", [pytest.param(0, id="first-member"),
                                    pytest.param(4, id="member-in-another-namespace")])
def test_a_member_with_duplicate_series_asks_its_own_query(
    member: int, logs: pytest.LogCaptureFixture,
) -> None:
    ambiguous = CANARIES[member]

    def duplicate(query: str, series: Series) -> Reply | None:
        if not batched(query):
            return None
        twice = [s for s in series if ambiguous.name in s["metric"].values()]
        return Reply(body=vector(series + [{**s, "value": [0, "1"]} for s in twice]))

    with FaultyProm(VALUES, READY, duplicate) as prom:
        got = _pass(prom)
        assert _counts(prom) == (3, len(METRICS))  # only the ambiguous member's own queries
        assert {tuple(selected(q)[1]) for q in prom.queries if not batched(q)} == {
            ((ambiguous.namespace, ambiguous.name),)}
        want = _alone(prom)
    assert got == want
    lines = _batch_lines(logs)
    assert len(lines) == 3
    assert all(f"several series for {ambiguous.key}; they ask their own query" in line
               for line in lines)


def test_duplicate_series_that_agree_keep_the_batched_answer(
    logs: pytest.LogCaptureFixture,
) -> None:
    def twice(query: str, series: Series) -> Reply | None:  # e.g. two replicas of a proxy
        return Reply(body=vector(series + series)) if batched(query) else None

    with FaultyProm(VALUES, READY, twice) as prom:
        got = _pass(prom)
        assert _counts(prom) == (3, 0)
        want = _alone(prom)
    assert got == want
    assert _batch_lines(logs) == []


READINESS_FAULTS = [
    pytest.param(Reply(503, b"upstream connect error"), "HTTP 503", 12, id="http-503"),
    pytest.param(Reply(hang=True), "timeout after", 12, id="timeout"),
    pytest.param(Reply(body=b"[]"), "expected a JSON object", 12, id="unparsable"),
    pytest.param("differ", "several series for team1/app4-primary", 1,
                 id="two-series-of-one-name-that-differ"),
    pytest.param("agree", "", 0, id="kube-state-metrics-twice-agreeing"),
]


@pytest.mark.parametrize(("reply", "logged", "own"), READINESS_FAULTS)
def test_readiness_after_a_failed_or_ambiguous_batch_is_each_deployment_s_own(
    reply: Reply | str, logged: str, own: int, logs: pytest.LogCaptureFixture,
) -> None:
    def fault(query: str, series: Series) -> Reply | None:
        if not batched(query):
            return None
        if isinstance(reply, Reply):
            return reply
        if reply == "agree":  # every series twice, as from two kube-state-metrics replicas
            return Reply(body=vector(series + series))
        stale = [{**s, "value": [0, "0"]} for s in series
                 if s["metric"]["deployment"] == "app4-primary"]
        return Reply(body=vector(series + stale))

    deployments = [(c.namespace, n, kind) for c in CANARIES
                   for n, kind in ((c.target.name, "canary"), (c.primary_name, "primary"))]
    with FaultyProm(VALUES, READY, fault) as prom:
        with BatchedMetrics(prom.url, timeout=TIMEOUT) as metrics:
            metrics.begin_pass(CANARIES)
            got = [metrics.deployment_readiness(ns, n, 100, k) for ns, n, k in deployments]
        assert _counts(prom) == (1, own)
        with PrometheusMetrics(prom.url) as alone:
            want = [alone.deployment_readiness(ns, n, 100, k) for ns, n, k in deployments]
    assert got == want
    assert {(r.ready, r.known) for r in got} == {(True, True), (False, True)}
    lines = _batch_lines(logs)
    assert len(lines) == (1 if logged else 0) and all(logged in line for line in lines), lines


def _no_secrets(namespace: str, name: str) -> dict[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")


@pytest.mark.parametrize(("series", "rows", "ambiguous"), [
    pytest.param([(("a", "x"), "", "1"), (("b", "x"), "", "2")],
                 {("a", "x"): [0], ("b", "x"): [1]}, set(), id="one-series-each"),
    pytest.param([(("a", "x"), "", "1"), (("b", "y"), "", "2"), (("a", "x"), "", "3")],
                 {("a", "x"): [0, 2], ("b", "y"): [1]}, {("a", "x")},
                 id="duplicates-that-differ-are-ambiguous"),
    pytest.param([(("a", "x"), "", "1"), (("a", "x"), "", "1")], {("a", "x"): [0, 1]}, set(),
                 id="duplicates-that-agree-are-not"),
    pytest.param([(("a", "d"), "spec", "2"), (("a", "d"), "ready", "1")],
                 {("a", "d"): [0, 1]}, set(), id="series-told-apart-by-name"),
    pytest.param([(("a", "d"), "spec", "2"), (("a", "d"), "spec", "3")], {("a", "d"): [0, 1]},
                 {("a", "d")}, id="two-series-of-one-name"),
    pytest.param([], {}, set(), id="empty-answer"),
])
def test_split_series_attributes_each_series_to_its_member(
    series: list[tuple[tuple[str, ...], str, str]], rows: dict[tuple[str, ...], list[int]],
    ambiguous: set[tuple[str, ...]],
) -> None:
    split = split_series(series)
    assert not isinstance(split, str)
    assert (split.rows, set(split.ambiguous)) == (rows, ambiguous)


@pytest.mark.parametrize("series", [
    pytest.param([(("a", "x"), "", "1"), (("", "x"), "", "1")], id="empty-namespace"),
    pytest.param([(("a", ""), "", "1")], id="empty-name"),
    pytest.param([((), "", "1")], id="no-labels"),
])
def test_split_series_refuses_a_series_without_the_batch_labels(
    series: list[tuple[tuple[str, ...], str, str]],
) -> None:
    assert split_series(series) == (
        "a series of the batched answer lacks the labels the batch is grouped by")


def test_a_hanging_server_is_given_up_on_after_three_timeouts_in_a_row_until_the_next_pass(
    logs: pytest.LogCaptureFixture,
) -> None:
    """Every query hangs: without the latch the pass would wait 3 batches + 18 own queries."""
    with FaultyProm(VALUES, READY, lambda _query, _series: Reply(hang=True)) as prom:
        got = _pass(prom)
        assert len(prom.queries) == HANG_LIMIT  # batch, c1's own, the 2nd batch: then no more
        with BatchedMetrics(prom.url, timeout=TIMEOUT) as metrics:  # the next pass asks again
            metrics.begin_pass(CANARIES[:1])
            metrics.query_metrics(CANARIES[0], TEMPLATES, _no_secrets)
        assert len(prom.queries) == 2 * HANG_LIMIT
    outcomes = [o for c in got.values() for _, o in c]
    assert len(outcomes) == len(CANARIES) * len(METRICS)
    assert all(o.value is None and o.error and "timeout after" in o.error for o in outcomes)
    given_up = [r.getMessage() for r in logs.records
                if "remaining queries of this pass fail" in r.getMessage()]
    assert len(given_up) == 2, given_up  # once in each pass


@pytest.mark.parametrize(("events", "active", "gives_up"), [
    pytest.param("ttt", True, True, id="three-timeouts-in-a-row-in-a-pass"),
    pytest.param("ttat", True, False, id="an-answer-between-timeouts"),
    pytest.param("ttet", True, False, id="another-error-between-timeouts"),
    pytest.param("tttttt", False, False, id="outside-a-pass-every-query-is-asked"),
])
def test_hang_latch(events: str, active: bool, gives_up: bool) -> None:
    latch = HangLatch()
    latch.reset(active)
    for event in events:
        if event == "a":
            latch.answered()
        else:
            latch.failed(event == "t", "timeout after 5s talking to p", "p")
    assert (latch.given_up is not None) == gives_up
    latch.reset(active)
    assert latch.given_up is None
