"""Unit table for gitbot.core.revision: referenced configs and the stable revision hash."""

from __future__ import annotations

from typing import Any

import pytest

from gitbot.core.revision import referenced_configs, revision_hash

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "podinfo"}},
    "spec": {
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-vol"}},
            {"name": "b", "secret": {"secretName": "sec-vol"}},
            {"name": "c", "projected": {"sources": [{"configMap": {"name": "cm-proj"}},
                                                    {"secret": {"name": "sec-proj"}}]}},
        ],
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "sec-init"}}]}],
        "containers": [{
            "name": "app", "image": "podinfo:1",
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "x"}}},
                    {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "sec-env", "key": "y"}}},
                    {"name": "Z", "value": "plain"}],
            "envFrom": [{"configMapRef": {"name": "cm-from"}}],
        }],
    },
}


def test_referenced_configs_finds_every_kind_of_reference() -> None:
    assert referenced_configs(TEMPLATE) == {
        ("ConfigMap", "cm-vol"), ("Secret", "sec-vol"), ("ConfigMap", "cm-proj"),
        ("Secret", "sec-proj"), ("Secret", "sec-init"), ("ConfigMap", "cm-env"),
        ("Secret", "sec-env"), ("ConfigMap", "cm-from")}


@pytest.mark.parametrize(("configs_a", "configs_b", "same"), [
    pytest.param({}, {}, True, id="stable"),
    pytest.param({("ConfigMap", "cm-env"): {"data": {"x": "1", "y": "2"}}},
                 {("ConfigMap", "cm-env"): {"data": {"y": "2", "x": "1"}}}, True,
                 id="key-order-ignored"),
    pytest.param({("ConfigMap", "cm-env"): {"data": {"x": "1"}}},
                 {("ConfigMap", "cm-env"): {"data": {"x": "2"}}}, False,
                 id="configmap-data-change"),
    pytest.param({}, {("ConfigMap", "unused"): {"data": {"x": "2"}}}, True,
                 id="unreferenced-config-ignored"),
    pytest.param({}, {("Secret", "sec-env"): {"data": {"y": "eQ=="}}}, False,
                 id="missing-config-absent"),
])
def test_revision_hash(configs_a: Any, configs_b: Any, same: bool) -> None:
    a, b = revision_hash(TEMPLATE, configs_a), revision_hash(TEMPLATE, configs_b)
    assert len(a) == 16 and int(a, 16) >= 0
    assert (a == b) is same


def test_template_change_changes_hash() -> None:
    changed = {**TEMPLATE, "metadata": {"labels": {"app": "podinfo", "v": "2"}}}
    assert revision_hash(TEMPLATE, {}) != revision_hash(changed, {})
    assert referenced_configs({"spec": None}) == set()
