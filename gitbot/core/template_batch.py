"""One query for a MetricTemplate of many canaries, when that is sure to give each canary its own
query's answer; pure functions used by `gitbot.adapters.prom_template_batch`.

How: each canary's template is rendered with sentinels in place of its namespace and target
(`sentinel_form`). Canaries whose sentinel forms are equal (same template, interval, variables)
have queries that differ only where the sentinels stand. `plan` parses that form
(`gitbot.core.promql_subset`) and accepts it only when every sentinel stands alone as the value
of an `=`/`=~` matcher, every vector selector carries the same such matchers, and the shape is
one that a `by` over those matchers' labels (the "batch labels") splits exactly into the
canaries' own answers:

- leaves: number literals, and selectors with a metric name (no `__name__` matcher);
- range functions (rate, increase, *_over_time ...) on a selector with a range; per-series
  functions (abs, clamp, round ...) and `histogram_quantile(φ, ...)` with literal arguments;
- aggregations sum, avg, min, max, count, group, stddev, stdvar, quantile(φ, ...): `by` gets
  the batch labels added (one is inserted when there is none), `without` loses them;
- binary operators with a literal, or between two aggregated sides that gained the same batch
  labels (so they match within one canary as before); `bool`; `and`/`or`/`unless`;
- at the top, at most one series per canary (all its labels fixed by the aggregations).

Rejected, and so asked per canary: a sentinel inside a longer value or a regex (`{{ target }}-.*`)
or in a function argument (label_replace), `!=`/`!~` on it, a selector without it or with other
labels for it, `on()`/`ignoring()`/`group_left`, `vector()`, `scalar()`, `absent()`, `topk`,
subqueries, `@`, anything the parser does not know, and names that are not plain DNS labels.
The batched query selects each batch label with `=~"a|b|..."` of the members' values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from gitbot.core import promql_subset as ast
from gitbot.core.batch_queries import plain
from gitbot.core.queries import QueryRenderError, collapse_whitespace, render_query, template_key
from gitbot.core.spec import Canary, Metric, MetricTemplate

NAMESPACE = "gitbot-sentinel-namespace-7q4z"  # stands for the canary's namespace
TARGET = "gitbot-sentinel-target-7q4z"  # stands for the target (and name, service when equal)
SENTINELS = (NAMESPACE, TARGET)

_RANGE_FUNCTIONS = frozenset({
    "rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
})
_SERIES_FUNCTIONS = frozenset({"abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt",
                               "sgn", "round", "clamp", "clamp_min", "clamp_max"})
_GROUPING = frozenset({"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"})


@dataclass(frozen=True, order=True)
class TemplateBatchKey:
    """Canaries with equal keys share one query: the template, its server, the sentinel form."""

    template: str
    address: str
    promql: str


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] by `text`, or by the members' values of `sentinel` (a regex)."""

    start: int
    end: int
    text: str = ""
    sentinel: str = ""


@dataclass(frozen=True)
class BatchPlan:
    """How to ask the sentinel form `promql` for many canaries, and read the answer."""

    promql: str
    labels: tuple[tuple[str, str], ...]  # (batch label, sentinel), sorted by label
    edits: tuple[Edit, ...]

    def query(self, members: Iterable[Mapping[str, str]]) -> str:
        """The batched query for members (sentinel -> value, plain DNS labels; at least one)."""
        values = {s: sorted({m[s] for m in members}) for _, s in self.labels}
        text = self.promql
        for edit in sorted(self.edits, key=lambda e: e.start, reverse=True):
            new = f'"{"|".join(values[edit.sentinel])}"' if edit.sentinel else edit.text
            text = text[:edit.start] + new + text[edit.end:]
        return text

    def key_of_member(self, member: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(member[s] for _, s in self.labels)

    def key_of_series(self, labels: Mapping[str, object]) -> tuple[str, ...]:
        return tuple(str(labels.get(label, "")) for label, _ in self.labels)


def member(canary: Canary) -> dict[str, str]:
    """The values the sentinels stand for in this canary's query."""
    return {NAMESPACE: canary.namespace, TARGET: canary.target.name}


def template_batch_key(canary: Canary, metric: Metric,
                       templates: Mapping[str, MetricTemplate]) -> TemplateBatchKey | None:
    """The batch this template metric of this canary can join, or None (its own query)."""
    if metric.template_ref is None or not plain(canary.namespace, canary.target.name):
        return None
    template = templates.get(template_key(canary, metric))
    if template is None or template.provider_type not in ("", "prometheus"):
        return None
    promql = sentinel_form(canary, metric, template)
    if promql is None or isinstance(plan(promql), str):
        return None
    return TemplateBatchKey(template.key, template.address.rstrip("/"), promql)


def sentinel_form(canary: Canary, metric: Metric, template: MetricTemplate) -> str | None:
    """The template rendered with sentinels for namespace and target (None: cannot)."""
    given = (template.query, metric.interval, *metric.template_variables.values())
    if any(s in text for s in SENTINELS for text in given) or not template.query.strip():
        return None
    target = canary.target.name
    try:
        rendered = render_query(
            template.query, namespace=NAMESPACE, target=TARGET,
            name=TARGET if canary.name == target else canary.name,
            service=TARGET if canary.service_name == target else canary.service_name,
            interval=metric.interval, variables=metric.template_variables)
    except QueryRenderError:
        return None
    return collapse_whitespace(rendered)


@lru_cache(maxsize=256)
def plan(promql: str) -> BatchPlan | str:
    """The batch plan of a sentinel form, or why it stays per canary."""
    try:
        tree = ast.parse(promql)
        labels = _batch_labels(promql, tree)
        walker = _Walker(frozenset(label for label, _ in labels))
        top = walker.visit(tree)
    except ast.Unsupported as exc:
        return str(exc)
    if not top.vector or top.keys != frozenset():
        return "the query may return several series per canary"
    matchers = [m for s in _selectors(tree) for m in s.matchers if m.value.text[1:-1] in SENTINELS]
    edits = [Edit(m.value.start, m.value.end, sentinel=m.value.text[1:-1]) for m in matchers]
    edits += [Edit(m.op.start, m.op.end, "=~") for m in matchers if m.op.text == "="]
    return BatchPlan(promql, labels, tuple(walker.edits + edits))


def _selectors(node: ast.Node) -> list[ast.Selector]:
    if isinstance(node, ast.Selector):
        return [node]
    if isinstance(node, ast.Num):
        return []
    children: tuple[ast.Node | None, ...]
    if isinstance(node, ast.Call):
        children = node.args
    elif isinstance(node, ast.Aggregate):
        children = (node.param, node.body)
    elif isinstance(node, ast.Binary):
        children = (node.lhs, node.rhs)
    elif isinstance(node, ast.Unary):
        children = (node.operand,)
    else:
        children = (node.inner,)
    return [s for child in children if child is not None for s in _selectors(child)]


def _batch_labels(promql: str, tree: ast.Node) -> tuple[tuple[str, str], ...]:
    """The (label, sentinel) matchers every selector has; each sentinel nowhere else."""
    found: set[frozenset[tuple[str, str]]] = set()
    count = 0
    for selector in _selectors(tree):
        pairs: set[tuple[str, str]] = set()
        for m in selector.matchers:
            if m.label == "__name__":
                raise ast.Unsupported("a __name__ matcher")
            value = m.value.text[1:-1]
            if value in SENTINELS:
                if m.op.text not in ("=", "=~") or m.label == "le":
                    raise ast.Unsupported(f"{m.label}{m.op.text} on the canary's name")
                pairs.add((m.label, value))
                count += 1
        if len({label for label, _ in pairs}) != len(pairs):
            raise ast.Unsupported(f"{selector.name}: one label for two names")
        found.add(frozenset(pairs))
    if len(found) != 1 or not next(iter(found)):
        raise ast.Unsupported("the selectors do not all select the canary by the same labels")
    if count != sum(promql.count(s) for s in SENTINELS):
        raise ast.Unsupported("the canary's name is used outside a label matcher's whole value")
    return tuple(sorted(next(iter(found))))


@dataclass(frozen=True)
class _Info:
    """What a node returns for one canary: a vector or a number; the batch labels the batched
    form adds to it (`added`); the labels that may differ between its series (None: any)."""

    vector: bool
    added: frozenset[str] = frozenset()
    keys: frozenset[str] | None = None


class _Walker:
    def __init__(self, labels: frozenset[str]) -> None:
        self.labels = labels
        self.edits: list[Edit] = []

    def visit(self, node: ast.Node) -> _Info:
        if isinstance(node, ast.Num):
            return _Info(vector=False)
        if isinstance(node, ast.Paren):
            return self.visit(node.inner)
        if isinstance(node, ast.Unary):
            return self.visit(node.operand)
        if isinstance(node, ast.Selector):
            if node.ranged:
                raise ast.Unsupported(f"a range of {node.name} outside a range function")
            return _Info(vector=True)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Aggregate):
            return self.aggregate(node)
        return self.binary(node)

    def call(self, node: ast.Call) -> _Info:
        args = node.args
        if node.name in _RANGE_FUNCTIONS and len(args) == 1 \
                and isinstance(args[0], ast.Selector) and args[0].ranged:
            return _Info(vector=True)
        if node.name in _SERIES_FUNCTIONS and args and _literals(args[1:]):
            return self.vector(args[0])
        if node.name == "histogram_quantile" and len(args) == 2 and _literals(args[:1]):
            inner = self.vector(args[1])
            keys = None if inner.keys is None else inner.keys - {"le"}
            return _Info(True, inner.added, keys)
        raise ast.Unsupported(f"function {node.name}() with these arguments")

    def aggregate(self, node: ast.Aggregate) -> _Info:
        op = node.op.text
        if not ((op in _GROUPING and node.param is None)
                or (op == "quantile" and node.param is not None and _literals([node.param]))):
            raise ast.Unsupported(f"aggregation {op}")
        body = self.vector(node.body)
        group = node.grouping
        if group is None:
            by = ", ".join(sorted(self.labels))
            self.edits.append(Edit(node.op.end, node.op.end, f" by ({by})"))
            return _Info(True, self.labels, frozenset())
        listed = frozenset(group.labels)
        keys: frozenset[str] | None
        if group.kind == "by":  # one series per value of the listed labels
            kept = [*group.labels, *sorted(self.labels - listed)]
            keys = listed - self.labels if body.keys is None else listed & body.keys
            added = self.labels - (listed - body.added)
        else:
            kept = [label for label in group.labels if label not in self.labels]
            keys = None if body.keys is None else body.keys - listed
            added = body.added | (listed & self.labels)
        if kept != list(group.labels):
            self.edits.append(Edit(group.open.end, group.close.start, ", ".join(kept)))
        return _Info(True, added, keys)

    def binary(self, node: ast.Binary) -> _Info:
        lhs, rhs = self.visit(node.lhs), self.visit(node.rhs)
        if not (lhs.vector and rhs.vector):
            if node.op in ast.SET_OPERATORS:
                raise ast.Unsupported(f"{node.op} with a number")
            return lhs if lhs.vector else rhs
        if lhs.keys is None or rhs.keys is None or lhs.added != rhs.added:
            raise ast.Unsupported(f"{node.op} between series that are not aggregated alike")
        keys = lhs.keys | rhs.keys if node.op == "or" else lhs.keys
        return _Info(True, lhs.added, keys)

    def vector(self, node: ast.Node) -> _Info:
        info = self.visit(node)
        if not info.vector:
            raise ast.Unsupported("a number where series are expected")
        return info


def _literals(nodes: Iterable[ast.Node]) -> bool:
    """Numbers only (`1`, `-0.5`, `(2)`)."""
    return all(isinstance(n, ast.Num) or (isinstance(n, ast.Unary | ast.Paren)
               and _literals([n.operand if isinstance(n, ast.Unary) else n.inner]))
               for n in nodes)
