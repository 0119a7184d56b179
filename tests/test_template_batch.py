"""Which MetricTemplates are batched across canaries, and the batched query they get.

Each case is a template query (Flagger's syntax); two canaries render it (team-a/app-a and
team-b/app-b). A batchable one must give exactly the expected batched query (the members'
values as `=~` alternations, `by` the batch labels); any other stays per canary, for the reason
named. The equality of the answers is proven on a real Prometheus in test_prom_template_batch.
"""

from __future__ import annotations

import pytest

from gitbot.core import promql_subset
from gitbot.core.spec import Analysis, Canary, Metric, MetricTemplate, ObjectRef, ServiceSpec
from gitbot.core.template_batch import member, plan, sentinel_form, template_batch_key

SEL = 'namespace="{{ namespace }}",app="{{ target }}"'
BATCHED = 'namespace=~"team-a|team-b",app=~"app-a|app-b"'
BY = "by (app, namespace)"

BATCHABLE = [
    pytest.param(
        f"sum(rate(req_total{{{SEL},code!~\"5.*\"}}[{{{{ interval }}}}])) / "
        f"sum(rate(req_total{{{SEL}}}[{{{{ interval }}}}])) * 100",
        f"sum {BY}(rate(req_total{{{BATCHED},code!~\"5.*\"}}[1m])) / "
        f"sum {BY}(rate(req_total{{{BATCHED}}}[1m])) * 100",
        id="ratio-of-two-sums"),
    pytest.param(
        f"histogram_quantile(0.99, sum(rate(lat_bucket{{{SEL}}}[1m])) by (le))",
        f"histogram_quantile(0.99, sum(rate(lat_bucket{{{BATCHED}}}[1m])) by (le, app, "
        "namespace))",
        id="histogram-by-le-after-the-body"),
    pytest.param(
        'sum(rate(req_total{namespace="{{ namespace }}",app=~"{{ target }}"}[1m]))',
        f"sum {BY}(rate(req_total{{{BATCHED}}}[1m]))",
        id="regex-matcher-with-the-whole-name"),
    pytest.param(
        f"max(sum by (pod) (rate(req_total{{{SEL}}}[1m])))",
        f"max {BY}(sum by (pod, app, namespace) (rate(req_total{{{BATCHED}}}[1m])))",
        id="nested-aggregations"),
    pytest.param(
        f"max(sum without (namespace, pod) (up{{{SEL}}}))",
        f"max {BY}(sum without (pod) (up{{{BATCHED}}}))",
        id="without-keeps-the-batch-labels"),
    pytest.param(
        f"sum by (namespace) (up{{{SEL}}})",
        f"sum by (namespace, app) (up{{{BATCHED}}})",
        id="by-a-batch-label-already"),
    pytest.param(
        f"-avg(clamp_max(up{{{SEL}}}, 1)) ^ 2 > bool 0.5",
        f"-avg {BY}(clamp_max(up{{{BATCHED}}}, 1)) ^ 2 > bool 0.5",
        id="unary-clamp-power-comparison"),
    pytest.param(
        f"clamp_min(sum(up{{{SEL}}}), -(1)) * -2",
        f"clamp_min(sum {BY}(up{{{BATCHED}}}), -(1)) * -2",
        id="signed-literals"),
    pytest.param(
        f"quantile(0.9, up{{{SEL}}} offset 5m) or sum(up{{{SEL}}})",
        f"quantile {BY}(0.9, up{{{BATCHED}}} offset 5m) or sum {BY}(up{{{BATCHED}}})",
        id="quantile-offset-or"),
    pytest.param(
        'sum(up{app="{{ target }}"})',
        'sum by (app)(up{app=~"app-a|app-b"})',
        id="target-only"),
    pytest.param(
        'sum(up{namespace="{{ namespace }}",app="{{ name }}",svc="{{ service }}"})',
        'sum by (app, namespace, svc)(up{namespace=~"team-a|team-b",app=~"app-a|app-b",'
        'svc=~"app-a|app-b"})',
        id="name-and-service-equal-to-the-target"),
]

PER_CANARY = [
    pytest.param('sum(rate(cpu{namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-z]+"}[1m]))',
                 "outside a label matcher", id="target-inside-a-regex"),
    pytest.param(f'sum(label_replace(up{{{SEL}}}, "w", "{{{{ target }}}}", "", ""))',
                 "string argument", id="target-in-label-replace"),
    pytest.param(f"sum(up{{{SEL}}}) / on(namespace) sum(down{{{SEL}}})",
                 "vector matching", id="on-join"),
    pytest.param(f"sum(up{{{SEL}}}) / ignoring(app) sum(down{{{SEL}}})",
                 "vector matching", id="ignoring-join"),
    pytest.param(f"sum by (pod) (up{{{SEL}}}) / group_left sum(down{{{SEL}}})",
                 "vector matching", id="group-left"),
    pytest.param('sum(up{namespace="{{ namespace }}",app!="{{ target }}"})',
                 "on the canary's name", id="not-equal-on-the-target"),
    pytest.param(f"sum(rate(req_total{{{SEL}}}[1m])) / sum(rate(req_total[1m]))",
                 "same labels", id="a-selector-without-the-canary"),
    pytest.param('sum(up{namespace="{{ namespace }}",app="{{ target }}"}) / '
                 'sum(down{kubernetes_namespace="{{ namespace }}",app="{{ target }}"})',
                 "same labels", id="other-labels-in-another-selector"),
    pytest.param('sum(up{ns="{{ namespace }}",app="{{ target }}",x="{{ target }}"}) / '
                 'sum(down{ns="{{ namespace }}",app="{{ target }}"})',
                 "same labels", id="an-extra-matcher-in-one-selector"),
    pytest.param(f"sum(up{{{SEL}}}) or vector(0)", "vector()", id="or-vector-0"),
    pytest.param(f"scalar(sum(up{{{SEL}}}))", "scalar()", id="scalar"),
    pytest.param(f"absent(up{{{SEL}}})", "absent()", id="absent"),
    pytest.param(f"up{{{SEL}}}", "several series", id="raw-selector"),
    pytest.param(f"sum by (pod) (up{{{SEL}}})", "several series", id="one-series-per-pod"),
    pytest.param(f"sum(rate(a_total{{{SEL}}}[1m]) / rate(b_total{{{SEL}}}[1m]))",
                 "not aggregated alike", id="division-before-aggregation"),
    pytest.param(f"sum(up{{{SEL}}}) / sum by (namespace, app) (down{{{SEL}}})",
                 "not aggregated alike", id="sides-aggregated-differently"),
    pytest.param(f"topk(1, sum(up{{{SEL}}}))", "aggregation topk", id="topk"),
    pytest.param(f"max_over_time(sum(up{{{SEL}}})[5m:1m])", "subquery", id="subquery"),
    pytest.param(f"sum(up{{{SEL}}} @ 1700000000)", "unexpected", id="at-modifier"),
    pytest.param(f"sum(up{{{SEL}}}) # the canary", "unexpected", id="comment"),
    pytest.param(f"SUM(up{{{SEL}}})", "capitals", id="capital-keyword"),
    pytest.param(f"sum(up{{{SEL}}}[5m])", "range", id="range-outside-a-function"),
    pytest.param(f'sum(up{{{SEL},__name__="up"}})', "__name__", id="name-matcher"),
    pytest.param('sum({{ target }}_requests{namespace="{{ namespace }}"})', "unexpected",
                 id="target-in-the-metric-name"),
    pytest.param("sum(rate(req_total[1m]))", "same labels", id="no-canary-in-the-query"),
]


def _canary(ns: str, name: str, *, canary_name: str = "", variables: dict[str, str] | None = None,
            template: str = "tpl") -> Canary:
    metric = Metric(name="m", interval="1m", template_ref=ObjectRef(name=template, namespace="ops"),
                    template_variables=variables or {})
    return Canary(name=canary_name or name, namespace=ns,
                  target=ObjectRef(name=name, kind="Deployment"), service=ServiceSpec(port=80),
                  analysis=Analysis(metrics=(metric,)))


def _templates(query: str, **fields: str) -> dict[str, MetricTemplate]:
    return {"ops/tpl": MetricTemplate(name="tpl", namespace="ops", query=query, **fields)}


def _plan(query: str) -> object:
    canary = _canary("team-a", "app-a")
    key = template_batch_key(canary, canary.analysis.metrics[0], _templates(query))
    assert key is None
    form = sentinel_form(canary, canary.analysis.metrics[0], _templates(query)["ops/tpl"])
    assert form is not None
    return plan(form)


@pytest.mark.parametrize(("query", "batched"), BATCHABLE)
def test_batchable_template_gets_one_query_by_the_canary_labels(query: str, batched: str) -> None:
    canaries = [_canary("team-a", "app-a"), _canary("team-b", "app-b")]
    keys = {template_batch_key(c, c.analysis.metrics[0], _templates(query)) for c in canaries}
    assert len(keys) == 1
    key = keys.pop()
    assert key is not None
    found = plan(key.promql)
    assert not isinstance(found, str), found
    assert found.query([member(c) for c in canaries]) == batched


@pytest.mark.parametrize(("query", "reason"), PER_CANARY)
def test_template_stays_per_canary(query: str, reason: str) -> None:
    found = _plan(query)
    assert isinstance(found, str)
    assert reason in found


RATE = 'sum(rate(req_total{namespace="{{ namespace }}",app="{{ target }}"}[{{ interval }}]))'


@pytest.mark.parametrize(("other", "templates", "together"), [
    pytest.param(_canary("team-b", "app-b"), _templates(RATE), True, id="same-template"),
    pytest.param(_canary("team-b", "app-b", variables={"code": "5"}),
                 _templates(RATE + ' / {{ variables.code }}'), False, id="other-variables"),
    pytest.param(_canary("team-b", "app-b", canary_name="other"),
                 _templates('sum(up{app="{{ name }}"})'), False, id="name-not-the-target"),
    pytest.param(_canary("team-b", "app-b", canary_name="other"),
                 _templates(RATE), True, id="name-not-the-target-but-unused"),
])
def test_which_canaries_share_a_batch(other: Canary, templates: dict[str, MetricTemplate],
                                      together: bool) -> None:
    first = _canary("team-a", "app-a", variables={"code": "4"})
    keys = [template_batch_key(c, c.analysis.metrics[0], templates) for c in (first, other)]
    assert keys[0] is not None
    assert (keys[0] == keys[1]) is together


@pytest.mark.parametrize(("canary", "templates"), [
    pytest.param(_canary("team-a", "app.v2"), _templates(RATE), id="target-not-a-dns-label"),
    pytest.param(_canary("team-a", "app-a", template="gone"), _templates(RATE),
                 id="template-missing"),
    pytest.param(_canary("team-a", "app-a"), _templates(RATE, provider_type="datadog"),
                 id="other-provider"),
    pytest.param(_canary("team-a", "app-a"), _templates(RATE + " > {{ variables.nope }}"),
                 id="render-error"),
    pytest.param(_canary("team-a", "app-a"),
                 _templates(RATE.replace("req_total", "gitbot-sentinel-target-7q4z")),
                 id="sentinel-in-the-template"),
    pytest.param(_canary("team-a", "app-a", variables={"x": "gitbot-sentinel-target-7q4z"}),
                 _templates(RATE), id="sentinel-in-a-variable"),
])
def test_metric_keeps_its_own_query(canary: Canary,
                                    templates: dict[str, MetricTemplate]) -> None:
    assert template_batch_key(canary, canary.analysis.metrics[0], templates) is None


@pytest.mark.parametrize(("text", "tree"), [
    pytest.param("a - b - c", "((a - b) - c)", id="left-associative"),
    pytest.param("a ^ b ^ c", "(a ^ (b ^ c))", id="power-right-associative"),
    pytest.param("-a ^ b * c", "((-(a ^ b)) * c)", id="unary-below-power"),
    pytest.param("a + b * c > bool d or e and f", "(((a + (b * c)) > d) or (e and f))",
                 id="precedence-levels"),
])
def test_parser_follows_prometheus_precedence(text: str, tree: str) -> None:
    assert _show(promql_subset.parse(text)) == tree


def _show(node: promql_subset.Node) -> str:
    if isinstance(node, promql_subset.Binary):
        return f"({_show(node.lhs)} {node.op} {_show(node.rhs)})"
    if isinstance(node, promql_subset.Unary):
        return f"(-{_show(node.operand)})"
    assert isinstance(node, promql_subset.Selector)
    return node.name
