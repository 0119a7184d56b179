"""Turn one plain YAML document into a Flagger `Canary`, `MetricTemplate` or `AlertProvider`.

Pure entry point of spec parsing, called by `gitbot.adapters.specs.load_repository` for every
`flagger.app` document: `parse_document(doc, locate, path, namespace)` returns the typed value with
Flagger's defaults applied (None when the document is invalid) and every problem found, each
with the line given by `locate` and the dotted field name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gitbot.core.parse_canary import parse_canary
from gitbot.core.parse_fields import FieldPath, Locator, Node, Report
from gitbot.core.parse_names import LABEL, SUBDOMAIN, is_valid, name_problem, shown
from gitbot.core.parse_providers import parse_alert_provider, parse_metric_template
from gitbot.core.problems import Problem, Source
from gitbot.core.spec import (
    API_VERSION,
    CHAT_RHYTHM_ANNOTATION,
    CHAT_RHYTHMS,
    AlertProvider,
    Canary,
    MetricTemplate,
)

Parsed = Canary | MetricTemplate | AlertProvider
KINDS = ("Canary", "MetricTemplate", "AlertProvider")
DOCUMENT_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
API_GROUP = API_VERSION.split("/", 1)[0]


def is_flagger(doc: Mapping[str, Any]) -> bool:
    """True for any document of the `flagger.app` API group (any version)."""
    api = doc.get("apiVersion")
    return isinstance(api, str) and api.split("/", 1)[0] == API_GROUP


def parse_document(
    doc: Mapping[str, Any],
    locate: Locator,
    path: str,
    namespace: str = "default",
    document: int = 0,
) -> tuple[Parsed | None, list[Problem]]:
    """Parse one `flagger.app` document; `namespace` applies when `metadata.namespace` is absent.

    The result is None whenever any problem was found, so callers never run a half-valid spec.
    """
    kind = doc.get("kind")
    report = Report(path, kind if isinstance(kind, str) else "", locate)
    root = report.root(doc)
    if not _known_kind(root):
        return None, report.problems
    name, namespace = _metadata(root, namespace)
    report.obj = _display(name, namespace) if name else ""
    report.problems = [_with_obj(p, report.obj) for p in report.problems]
    root.check_keys(DOCUMENT_FIELDS)
    spec = root.child("spec", required=True)
    parsed = _parse_spec(report.kind, spec, name, namespace) if spec else None
    if isinstance(parsed, Canary):
        parsed = replace(parsed, chat_rhythm=_chat_rhythm(root))
    if parsed is None or report.problems or not name:
        return None, report.problems
    source = Source(path, locate(()), document)
    return _with_source(parsed, source), report.problems


def _known_kind(root: Node) -> bool:
    if root.data.get("apiVersion") != API_VERSION:
        root.fail("apiVersion", f"unsupported apiVersion {root.data.get('apiVersion')!r}, "
                  f"expected {API_VERSION}")
        return False
    if root.report.kind not in KINDS:
        root.fail("kind", f"unknown kind {root.data.get('kind')!r}, expected one of "
                  f"{', '.join(KINDS)}")
        return False
    return True


def _metadata(root: Node, namespace: str) -> tuple[str, str]:
    """`metadata.name` (an RFC 1123 subdomain) and the namespace (an RFC 1123 label)."""
    meta = root.child("metadata", required=True)
    if meta is None:
        _check_inherited(root, ("metadata",), namespace)
        return "", namespace
    name = meta.name("name", SUBDOMAIN, required=True)
    own = meta.name("namespace", LABEL, namespace)
    if not meta.has("namespace"):
        _check_inherited(root, ("metadata", "namespace"), own)
    return name, own


def _chat_rhythm(root: Node) -> str:
    """The `gitbot.io/chat-rhythm` annotation (`commit` or `phase`); "" when absent."""
    meta = root.data.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if not isinstance(annotations, Mapping) or annotations.get(CHAT_RHYTHM_ANNOTATION) is None:
        return ""
    value = annotations[CHAT_RHYTHM_ANNOTATION]
    if value not in CHAT_RHYTHMS:
        root.report.add(("metadata", "annotations", CHAT_RHYTHM_ANNOTATION),
                        f"must be {' or '.join(CHAT_RHYTHMS)}, got {value!r}")
        return ""
    return str(value)


def _check_inherited(root: Node, at: FieldPath, namespace: str) -> None:
    problem = name_problem(namespace, LABEL)
    if problem:
        root.report.add(at, f"the namespace this document inherits (from its directory's "
                        f"kustomization.yaml) is invalid: {problem}")


def _display(name: str, namespace: str) -> str:
    """`namespace/name` for messages; a part that is no valid name is shown quoted."""
    parts = (namespace, LABEL), (name, SUBDOMAIN)
    return "/".join(v if is_valid(v, rule) else shown(v) for v, rule in parts)


def _with_obj(problem: Problem, obj: str) -> Problem:
    return Problem(problem.path, problem.line, problem.kind, obj, problem.field, problem.message)


def _parse_spec(kind: str, spec: Node, name: str, namespace: str) -> Parsed | None:
    if kind == "Canary":
        return parse_canary(spec, name, namespace)
    if kind == "MetricTemplate":
        return parse_metric_template(spec, name, namespace)
    return parse_alert_provider(spec, name, namespace)


def _with_source(parsed: Parsed, source: Source) -> Parsed:
    return replace(parsed, source=source)
