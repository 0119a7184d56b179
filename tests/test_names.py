"""Names from documents are checked as Kubernetes checks them, before gitbot uses any of them.

A name ends up in file names, PromQL selectors, Git refs and secret paths; traversal
(`../../../escape`), PromQL injection (`podinfo",destination_workload_namespace=~".*`), regexes,
upper case, empty and over-long names must each make their document invalid with a
`FILE:LINE: Kind ns/name: field: message` problem.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from gitbot.core.parse import parse_document
from gitbot.core.parse_fields import FieldPath
from gitbot.core.parse_names import LABEL, SECRET_KEY, SERVICE, SUBDOMAIN, NameRule, name_problem
from gitbot.core.problems import Problem
from gitbot.core.spec import Canary

TRAVERSAL = "../../../escape"
INJECTION = 'podinfo",destination_workload_namespace=~".*'

CANARY: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "autoscalerRef": {"name": "podinfo"},
        "service": {"port": 9898},
        "analysis": {
            "stepWeight": 10,
            "metrics": [{"name": "errors", "templateRef": {"name": "error-rate"}}],
            "alerts": [{"name": "on-call", "providerRef": {"name": "on-call"}}],
        },
    },
}
TEMPLATE: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "MetricTemplate",
    "metadata": {"name": "error-rate", "namespace": "test"},
    "spec": {"provider": {"type": "prometheus", "secretRef": {"name": "prom-auth"}},
             "query": "vector(1)"},
}
PROVIDER: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "AlertProvider",
    "metadata": {"name": "on-call", "namespace": "test"},
    "spec": {"type": "slack", "secretRef": {"name": "slack-url"}},
}
DOCS = {"Canary": CANARY, "MetricTemplate": TEMPLATE, "AlertProvider": PROVIDER}
M0, A0 = ("spec", "analysis", "metrics", 0), ("spec", "analysis", "alerts", 0)


def locate(at: FieldPath) -> int:
    """A stand-in locator: the depth of the path, so a test sees which field was located."""
    return len(at) + 1


def with_value(kind: str, at: FieldPath, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOCS[kind])
    node: Any = doc
    for key in at[:-1]:
        node = node[key]
    node[at[-1]] = value
    return doc


def parse(doc: Mapping[str, Any], namespace: str = "default") -> tuple[Any, list[Problem]]:
    return parse_document(doc, locate, "delivery/podinfo.yaml", namespace)


@pytest.mark.parametrize(
    ("value", "rule", "valid"),
    [
        pytest.param("podinfo", LABEL, True, id="label-plain"),
        pytest.param("123-abc", LABEL, True, id="label-leading-digit"),
        pytest.param("a" * 63, LABEL, True, id="label-63"),
        pytest.param("a" * 64, LABEL, False, id="label-64"),
        pytest.param("a.b", LABEL, False, id="label-dot"),
        pytest.param("-a", LABEL, False, id="label-leading-dash"),
        pytest.param("a-", LABEL, False, id="label-trailing-dash"),
        pytest.param("Test", LABEL, False, id="label-upper-case"),
        pytest.param("", LABEL, False, id="label-empty"),
        pytest.param("podinfo\n", LABEL, False, id="label-trailing-newline"),
        pytest.param("example.com", SUBDOMAIN, True, id="subdomain-dots"),
        pytest.param("a" * 253, SUBDOMAIN, True, id="subdomain-253"),
        pytest.param("a" * 254, SUBDOMAIN, False, id="subdomain-254"),
        pytest.param("..", SUBDOMAIN, False, id="subdomain-dotdot"),
        pytest.param("a..b", SUBDOMAIN, False, id="subdomain-empty-label"),
        pytest.param(TRAVERSAL, SUBDOMAIN, False, id="subdomain-traversal"),
        pytest.param("a/b", SUBDOMAIN, False, id="subdomain-slash"),
        pytest.param(".*", SUBDOMAIN, False, id="subdomain-regex"),
        pytest.param(INJECTION, SUBDOMAIN, False, id="subdomain-promql-injection"),
        pytest.param("podinfo", SERVICE, True, id="service-plain"),
        pytest.param("9lives", SERVICE, False, id="service-leading-digit"),
        pytest.param("a.b", SERVICE, False, id="service-dot"),
        pytest.param("token", SECRET_KEY, True, id="key-plain"),
        pytest.param("tls.crt", SECRET_KEY, True, id="key-dot"),
        pytest.param("API_Key-1", SECRET_KEY, True, id="key-mixed-case"),
        pytest.param(".", SECRET_KEY, False, id="key-dot-only"),
        pytest.param("..", SECRET_KEY, False, id="key-dotdot"),
        pytest.param("..data", SECRET_KEY, False, id="key-dotdot-prefix"),
        pytest.param("a/b", SECRET_KEY, False, id="key-slash"),
        pytest.param("a b", SECRET_KEY, False, id="key-space"),
    ],
)
def test_name_rules(value: str, rule: NameRule, valid: bool) -> None:
    assert (name_problem(value, rule) is None) == valid


def test_messages_quote_the_name_and_say_what_is_allowed() -> None:
    assert name_problem("../host", LABEL) == (
        "'../host' is not a lowercase RFC 1123 label: lower case letters, digits and '-', "
        "starting and ending with a letter or digit")
    assert name_problem("a" * 64, LABEL) == (
        f"must be no more than 63 characters, '{'a' * 55}...' has 64")
    assert name_problem("", SUBDOMAIN) == "must not be empty"


REJECTED = [
    # (kind, field path, value, reported field)
    ("Canary", ("metadata", "name"), TRAVERSAL, "metadata.name"),
    ("Canary", ("metadata", "name"), "PodInfo", "metadata.name"),
    ("Canary", ("metadata", "name"), "a" * 254, "metadata.name"),
    ("Canary", ("metadata", "namespace"), "../host", "metadata.namespace"),
    ("Canary", ("metadata", "namespace"), "Test", "metadata.namespace"),
    ("Canary", ("metadata", "namespace"), "a" * 64, "metadata.namespace"),
    ("Canary", ("metadata", "namespace"), "te.st", "metadata.namespace"),
    ("Canary", ("spec", "targetRef", "name"), TRAVERSAL, "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), INJECTION, "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), ".*", "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), "PodInfo", "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), "", "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), "a.b", "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), "1app", "targetRef.name"),
    ("Canary", ("spec", "targetRef", "name"), "a" * 56, "targetRef.name"),
    ("Canary", ("spec", "service", "name"), "../x", "service.name"),
    ("Canary", ("spec", "service", "name"), "a.b", "service.name"),
    ("Canary", ("spec", "service", "name"), "9lives", "service.name"),
    ("Canary", ("spec", "service", "name"), "a" * 56, "service.name"),
    ("Canary", ("spec", "autoscalerRef", "name"), "../hpa", "autoscalerRef.name"),
    ("Canary", ("spec", "autoscalerRef", "name"), "a" * 246, "autoscalerRef.name"),
    ("Canary", (*M0, "templateRef", "name"), "../../host/git",
     "analysis.metrics[0].templateRef.name"),
    ("Canary", (*M0, "templateRef", "name"), INJECTION, "analysis.metrics[0].templateRef.name"),
    ("Canary", (*M0, "templateRef", "namespace"), "../host",
     "analysis.metrics[0].templateRef.namespace"),
    ("Canary", (*M0, "templateRef", "namespace"), "HOST",
     "analysis.metrics[0].templateRef.namespace"),
    ("Canary", (*A0, "providerRef", "name"), "../x", "analysis.alerts[0].providerRef.name"),
    ("Canary", (*A0, "providerRef", "namespace"), ".*",
     "analysis.alerts[0].providerRef.namespace"),
    ("MetricTemplate", ("metadata", "name"), "../t", "metadata.name"),
    ("MetricTemplate", ("metadata", "namespace"), "../host", "metadata.namespace"),
    ("MetricTemplate", ("spec", "provider", "secretRef", "name"), "../../host/git",
     "provider.secretRef.name"),
    ("MetricTemplate", ("spec", "provider", "secretRef", "name"), "Auth",
     "provider.secretRef.name"),
    ("MetricTemplate", ("spec", "provider", "secretRef", "name"), "", "provider.secretRef.name"),
    ("AlertProvider", ("metadata", "namespace"), "..", "metadata.namespace"),
    ("AlertProvider", ("spec", "secretRef", "name"), "../../host/git", "secretRef.name"),
    ("AlertProvider", ("spec", "secretRef", "name"), "x" * 254, "secretRef.name"),
]


def _case_id(kind: str, at: FieldPath, value: str) -> str:
    short = value if len(value) <= 20 else f"{len(value)}-chars"
    return f"{kind}-{'.'.join(str(k) for k in at[1:])}-{short or 'empty'}"


@pytest.mark.parametrize(
    ("kind", "at", "value", "field"),
    [pytest.param(k, at, v, f, id=_case_id(k, at, v)) for k, at, v, f in REJECTED],
)
def test_a_bad_name_makes_the_document_invalid(
    kind: str, at: FieldPath, value: str, field: str
) -> None:
    parsed, problems = parse(with_value(kind, at, value))
    assert parsed is None, "a document with a bad name must never be used"
    assert [p.field for p in problems] == [field], [str(p) for p in problems]
    assert problems[0].line == locate(at), "the problem points at the field's own line"


ACCEPTED = [
    pytest.param(("spec", "targetRef", "name"), "a" * 55, id="target-55-is-a-service-name"),
    pytest.param(("metadata", "name"), "podinfo.v2", id="canary-name-with-dots"),
    pytest.param(("metadata", "namespace"), "a" * 63, id="namespace-63"),
    pytest.param((*M0, "templateRef", "namespace"), "istio-system", id="template-other-ns"),
]


@pytest.mark.parametrize(("at", "value"), ACCEPTED)
def test_good_names_are_accepted(at: FieldPath, value: str) -> None:
    parsed, problems = parse(with_value("Canary", at, value))
    assert problems == []
    assert isinstance(parsed, Canary)


def test_a_dotted_target_is_fine_when_service_name_names_the_services() -> None:
    doc = with_value("Canary", ("spec", "service", "name"), "podinfo")
    doc["spec"]["targetRef"]["name"] = "podinfo.v2"
    parsed, problems = parse(doc)
    assert problems == []
    assert isinstance(parsed, Canary)
    assert (parsed.service_name, parsed.primary_name) == ("podinfo", "podinfo.v2-primary")


def test_a_target_of_245_characters_still_fits_its_primary_deployment() -> None:
    doc = with_value("Canary", ("spec", "service", "name"), "podinfo")
    doc["spec"]["targetRef"]["name"] = "a" * 245
    assert parse(doc)[1] == []
    doc["spec"]["targetRef"]["name"] = "a" * 246
    assert [str(p) for p in parse(doc)[1]] == [
        "delivery/podinfo.yaml:4: Canary test/podinfo: targetRef.name: is too long (246 "
        "characters): gitbot derives the Deployment '<name>-primary' from it, which must be no "
        "more than 253 characters, so it can have at most 245"]


@pytest.mark.parametrize(
    ("at", "value", "message"),
    [
        pytest.param(
            ("spec", "targetRef", "name"), INJECTION,
            "delivery/podinfo.yaml:4: Canary test/podinfo: targetRef.name: "
            "'podinfo\",destination_workload_namespace=~\".*' is not a lowercase RFC 1123 "
            "subdomain: lower case letters, digits, '-' and '.', starting and ending with a "
            "letter or digit", id="promql-injection"),
        pytest.param(
            ("spec", "targetRef", "name"), "a" * 56,
            "delivery/podinfo.yaml:4: Canary test/podinfo: targetRef.name: is too long (56 "
            "characters): gitbot derives the Services '<name>-primary' and '<name>-canary' "
            "from it, which must be no more than 63 characters, so it can have at most 55",
            id="derived-services-too-long"),
        pytest.param(
            ("spec", "targetRef", "name"), "podinfo.v2",
            "delivery/podinfo.yaml:4: Canary test/podinfo: targetRef.name: without "
            "service.name it is also the Service name: 'podinfo.v2' is not a DNS-1035 label (a "
            "Service name): lower case letters, digits and '-', starting with a letter and "
            "ending with a letter or digit", id="target-is-no-service-name"),
        pytest.param(
            ("metadata", "name"), "x\nfake.yaml:1: ok",
            "delivery/podinfo.yaml:3: Canary test/'x\\nfake.yaml:1: ok': metadata.name: "
            "'x\\nfake.yaml:1: ok' is not a lowercase RFC 1123 subdomain: lower case letters, "
            "digits, '-' and '.', starting and ending with a letter or digit",
            id="newline-cannot-forge-a-line"),
    ],
)
def test_golden_messages(at: FieldPath, value: str, message: str) -> None:
    assert [str(p) for p in parse(with_value("Canary", at, value))[1]] == [message]


def test_an_inherited_namespace_is_checked_too() -> None:
    doc = copy.deepcopy(CANARY)
    del doc["metadata"]["namespace"]
    parsed, problems = parse(doc, namespace="../host")
    assert parsed is None
    assert [str(p) for p in problems] == [
        "delivery/podinfo.yaml:3: Canary '../host'/podinfo: metadata.namespace: the namespace "
        "this document inherits (from its directory's kustomization.yaml) is invalid: "
        "'../host' is not a lowercase RFC 1123 label: lower case letters, digits and '-', "
        "starting and ending with a letter or digit"]
