"""The applied-revision gate's HelmRelease step (gitbot.adapters.helm_gate) through the real
Prometheus adapter against a recording HTTP server on 127.0.0.1 answering Prometheus' query
API: ready releases pass, an unready / suspended / not-yet-observed one holds with the reason,
no series at all is "not monitored" (None), an unreachable Prometheus is retryable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from canaries import canary_yaml, layout_with_canary
from httpfixtures import RecordingServer, Reply
from ruamel.yaml import YAML

from gitbot.adapters.helm_gate import HelmGate, releases_applied
from gitbot.adapters.prometheus import PrometheusMetrics
from gitbot.adapters.specs import load_repository
from gitbot.core.helm_queries import HELM_RELEASE_KIND, helm_release_query
from gitbot.errors import RetryableError

KEYS = [("podinfo", "podinfo"), ("podinfo", "podinfo-primary")]


def answer(*series: dict[str, str]) -> Reply:
    result = [{"metric": {"__name__": "gotk_resource_info", **labels}, "value": [0, "1"]}
              for labels in series]
    return Reply(body={"status": "success", "data": {"resultType": "vector", "result": result}})


def series(name: str, **labels: str) -> dict[str, str]:
    return {"customresource_kind": "HelmRelease", "exported_namespace": "podinfo",
            "name": name, "ready": "True", "suspended": "false", **labels}


@pytest.mark.parametrize(("replies", "expected"), [
    pytest.param([answer(series("podinfo")), answer(series("podinfo-primary"))], (True, ""),
                 id="both-ready"),
    pytest.param([answer(series("podinfo")), answer(series("podinfo-primary", ready="False"))],
                 (False, "HelmRelease podinfo/podinfo-primary not ready (Ready=False)"),
                 id="primary-not-ready"),
    pytest.param([answer(series("podinfo", suspended="true"))],
                 (False, "HelmRelease podinfo/podinfo is suspended"), id="suspended"),
    pytest.param([answer(series("podinfo", generation="3", observed_generation="2"))],
                 (False, "HelmRelease podinfo/podinfo: helm-controller has not seen "
                         "generation 3 yet"), id="new-generation-not-observed"),
    pytest.param([answer()], (None, "no gotk_resource_info series for HelmRelease "
                                    "podinfo/podinfo"), id="not-monitored"),
])
def test_gate(replies: list[Reply], expected: tuple[Any, str]) -> None:
    with RecordingServer() as server:
        server.reply("/api/v1/query", *replies)
        metrics = PrometheusMetrics(server.url)
        try:
            assert releases_applied(metrics.query_series, KEYS) == expected
        finally:
            metrics.close()
        query = server.requests_to("/api/v1/query")[0].query["query"][0]
    assert query == ('gotk_resource_info{customresource_kind="HelmRelease",'
                     'exported_namespace="podinfo",name="podinfo"}')


def test_unreachable_prometheus_is_retryable() -> None:
    with RecordingServer() as server:
        server.reply("/api/v1/query", 503)
        metrics = PrometheusMetrics(server.url)
        try:
            with pytest.raises(RetryableError):
                releases_applied(metrics.query_series, KEYS)
        finally:
            metrics.close()


def test_readme_helm_release_config_exports_what_the_gate_reads() -> None:
    """The README's kube-state-metrics entry for HelmReleases yields the series and labels
    helm_release_query selects and helm_release_applied reads."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- ksm-helm-config -->\n```yaml\n", 1)[1].split("```", 1)[0]
    values = YAML(typ="safe").load(block)["kube-state-metrics"]
    assert values["rbac"]["extraRules"][0]["resources"] == ["helmreleases"]
    [resource] = values["customResourceState"]["config"]["spec"]["resources"]
    assert resource["groupVersionKind"] == {"group": "helm.toolkit.fluxcd.io", "version": "v2",
                                            "kind": HELM_RELEASE_KIND}
    [metric] = resource["metrics"]
    query = helm_release_query("podinfo", "podinfo")
    assert query.startswith(f"{resource['metricNamePrefix']}_{metric['name']}{{")
    assert metric["each"]["info"]["labelsFromPath"] == {"name": ["metadata", "name"]}
    labels = metric["labelsFromPath"]
    assert labels["exported_namespace"] == ["metadata", "namespace"]
    assert labels["ready"] == ["status", "conditions", "[type=Ready]", "status"]
    assert labels["suspended"] == ["spec", "suspend"]
    assert labels["generation"] == ["metadata", "generation"]
    assert labels["observed_generation"] == ["status", "observedGeneration"]


def test_observer_gate_holds_for_an_unready_release_and_warns_once_when_unmonitored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    layout_with_canary(tmp_path, canary_yaml())
    specs = load_repository(tmp_path, cluster="clusters/production")
    assert specs.flux is not None
    canary = specs.canaries[0]
    with RecordingServer() as server:
        server.reply("/api/v1/query", answer(series("podinfo", ready="Unknown")), answer(),
                     answer())
        metrics = PrometheusMetrics(server.url)
        try:
            gate = HelmGate(metrics.query_series)
            assert gate.synced(canary, None)  # a plain repository: nothing to wait for
            assert not gate.synced(canary, specs.flux)
            with caplog.at_level(logging.WARNING, logger="gitbot.observe"):
                assert gate.synced(canary, specs.flux) and gate.synced(canary, specs.flux)
        finally:
            metrics.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["podinfo/podinfo: no gotk_resource_info series for HelmRelease "
                        "podinfo/podinfo: add the HelmRelease entry of Flux's kube-state-metrics "
                        "config so that gitbot waits for helm-controller"]
