"""The validate notes of a HelmRelease target: a chart version that is not one exact version,
and the chart's own Ingress/HTTPRoute enabled in the values (gitbot.core.helm_notes)."""

from __future__ import annotations

from typing import Any

import pytest

from gitbot.core.helm_notes import release_notes

RANGE = ("chart version '>=1.0.0' is a range: a newer chart in the HelmRepository upgrades "
         "podinfo and podinfo-primary together, with no commit and no analysis; pin one version "
         "in spec.chart.spec.version (a chart upgrade is then a release gitbot analyses)")
LATEST = RANGE.replace("chart version '>=1.0.0' is a range", "no chart version (latest)")
ENTRY = ("values {keys}: the chart's own entry sends traffic from outside the mesh to the "
         "Service of release podinfo, which gitbot points at the pods of podinfo-primary, so "
         "Istio never splits it and the analysis never sees it, and podinfo-primary renders a "
         "copy with the same hosts; send that traffic through the Canary's Istio gateway "
         "(service.gateways, hosts) (README, Helm, Traffic)")


def release(version: str | None = "6.5.0", kind: str = "HelmRepository",
            values: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"chart": "podinfo", "sourceRef": {"kind": kind, "name": "podinfo"}}
    if version is not None:
        spec["version"] = version
    return {"metadata": {"name": "podinfo", "namespace": "podinfo"},
            "spec": {"chart": {"spec": spec}, "values": values or {}}}


@pytest.mark.parametrize("obj, expected", [
    pytest.param(release("6.5.0"), (), id="exact"),
    pytest.param(release("v6.5.0-rc.1+build.2"), (), id="exact-prerelease"),
    pytest.param(release(">=1.0.0"), (RANGE,), id="range-flux2-kustomize-helm-example"),
    pytest.param(release("6.x"), (RANGE.replace("'>=1.0.0'", "'6.x'"),), id="wildcard"),
    pytest.param(release(None), (LATEST,), id="no-version"),
    pytest.param(release(None, kind="GitRepository"), (), id="git-chart-ignores-version"),
    pytest.param({"spec": {"chartRef": {"kind": "OCIRepository", "name": "podinfo"}},
                  "metadata": {"name": "podinfo"}}, (), id="chart-ref"),
    pytest.param(release(values={"httpRoute": {"enabled": True}}),
                 (ENTRY.format(keys="httpRoute.enabled"),), id="http-route"),
    pytest.param(release(values={"ingress": {"enabled": True}, "httpRoute": {"enabled": True}}),
                 (ENTRY.format(keys="ingress.enabled, httpRoute.enabled"),), id="both"),
    pytest.param(release(values={"ingress": {"enabled": False}}), (), id="ingress-disabled"),
])
def test_release_notes(obj: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert release_notes(obj) == expected
