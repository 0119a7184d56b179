"""gitbot.core.helm, helm_primary and helm_queries: naming rules, Canary annotations, the
`<release>-primary` HelmRelease (golden YAML), revisions and helm-controller's gate query.

Goldens under tests/data/helm/golden (GITBOT_UPDATE_GOLDEN=1 rewrites them; review the diff)."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitbot.adapters.helm_edit import primary_yaml
from gitbot.core import helm, helm_primary, helm_queries

DATA = Path(__file__).parent / "data" / "helm"
EXAMPLE = Path(__file__).parent / "data" / "flux_layouts" / "flux2-kustomize-helm-example"
UPDATE = os.environ.get("GITBOT_UPDATE_GOLDEN") == "1"


def load(path: Path, index: int = 0) -> dict[str, Any]:
    docs = [d for d in YAML(typ="safe").load_all(path.read_text()) if d]
    return docs[index]


def assert_golden(name: str, text: str) -> None:
    path = DATA / "golden" / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text()


def release(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                            "metadata": {"name": "podinfo", "namespace": "apps"},
                            "spec": {"chart": {"spec": {"chart": "podinfo"}}}}
    base["spec"].update(spec)
    return base


@pytest.mark.parametrize(("release_name", "chart", "values", "expected"), [
    pytest.param("podinfo", "podinfo", {}, "podinfo", id="release-contains-chart"),
    pytest.param("web", "podinfo", {}, "web-podinfo", id="release-dash-chart"),
    pytest.param("web", "podinfo", {"nameOverride": "front"}, "web-front", id="nameOverride"),
    pytest.param("shop-web", "nginx", {"nameOverride": "web"}, "shop-web",
                 id="bitnami-release-contains-nameOverride"),
    pytest.param("x", "podinfo", {"fullnameOverride": "podinfo-primary"}, "podinfo-primary",
                 id="fullnameOverride-wins"),
    pytest.param("a" * 60, "chart", {}, "a" * 60 + "-ch", id="truncated-63"),
    pytest.param("r", "c", {"fullnameOverride": "n" * 62 + "-x"}, "n" * 62, id="trim-dash"),
])
def test_chart_fullname(release_name: str, chart: str, values: dict[str, Any],
                        expected: str) -> None:
    assert helm.chart_fullname(release_name, chart, values) == expected


@pytest.mark.parametrize(("spec", "name", "namespace"), [
    pytest.param({}, "podinfo", "apps", id="metadata-name"),
    pytest.param({"releaseName": "front"}, "front", "apps", id="releaseName"),
    pytest.param({"targetNamespace": "prod"}, "prod-podinfo", "prod", id="targetNamespace"),
    pytest.param({"storageNamespace": "flux"}, "podinfo", "apps", id="storageNamespace-no-effect"),
])
def test_release_name_and_namespace(spec: dict[str, Any], name: str, namespace: str) -> None:
    assert helm.release_name(release(**spec)) == name
    assert helm.objects_namespace(release(**spec)) == namespace


def test_long_composed_release_name_is_refused() -> None:
    with pytest.raises(helm.HelmSpecError, match="longer than 53 characters"):
        helm.check_release_name(release(targetNamespace="n" * 50))
    helm.check_release_name(release(targetNamespace="n" * 45))


@pytest.mark.parametrize(("annotations", "expected"), [
    pytest.param({}, helm.HelmOptions(), id="none"),
    pytest.param({"gitbot.io/helm-release": "web"}, helm.HelmOptions(("test", "web")),
                 id="name-in-canary-namespace"),
    pytest.param({"gitbot.io/helm-release": "flux-system/web"},
                 helm.HelmOptions(("flux-system", "web")), id="namespace-slash-name"),
    pytest.param({"gitbot.io/helm-name-path": "app.fullname",
                  "gitbot.io/helm-replicas-path": "replicaCount"},
                 helm.HelmOptions(None, ("app", "fullname"), ("replicaCount",)), id="paths"),
    pytest.param({"gitbot.io/helm-selector": "app=web, tier = front"},
                 helm.HelmOptions(selector=(("app", "web"), ("tier", "front"))), id="selector"),
])
def test_parse_options(annotations: dict[str, str], expected: helm.HelmOptions) -> None:
    assert helm.parse_options(annotations, "test") == expected


@pytest.mark.parametrize("annotations", [
    pytest.param({"gitbot.io/helm-release": "a/b/c"}, id="two-slashes"),
    pytest.param({"gitbot.io/helm-release": "ns/"}, id="no-name"),
    pytest.param({"gitbot.io/helm-name-path": "a..b"}, id="empty-segment"),
    pytest.param({"gitbot.io/helm-replicas-path": " "}, id="blank-path"),
    pytest.param({"gitbot.io/helm-selector": "app"}, id="selector-without-value"),
    pytest.param({"gitbot.io/helm-selector": "app=web,=x"}, id="selector-without-label"),
])
def test_parse_options_errors_name_the_annotation(annotations: dict[str, str]) -> None:
    with pytest.raises(helm.HelmSpecError, match=re.escape("metadata.annotations.gitbot.io/helm-")):
        helm.parse_options(annotations, "test")


def test_produces_by_fullname_release_name_or_custom_path() -> None:
    assert helm.produces(release(), "podinfo", "apps")
    assert not helm.produces(release(), "podinfo", "other")
    assert helm.produces(release(releaseName="web"), "web-podinfo", "apps")
    assert helm.produces(release(releaseName="web"), "web", "apps")  # charts naming by release
    custom = release(values={"app": {"name": "shop"}})
    assert helm.produces(custom, "shop", "apps", ("app", "name"))
    assert not helm.produces(custom, "shop", "apps")


def example_release() -> dict[str, Any]:
    base = load(EXAMPLE / "apps/base/podinfo/release.yaml")
    base["spec"]["chart"]["spec"]["version"] = ">=1.0.0"  # as apps/production patches it
    return base


def test_primary_podinfo_golden() -> None:
    primary = helm_primary.primary_release(example_release(), "podinfo", helm.DEFAULT_NAME_PATH)
    text = primary_yaml(primary, "podinfo/podinfo", "podinfo/podinfo")
    assert_golden("podinfo-primary.yaml", text)


def test_primary_bitnami_golden_with_replicas_path() -> None:
    team = load(DATA / "bitnami-release.yaml")
    team["spec"]["values"]["replicaCount"] = 0  # gitbot scaled the canary through the path
    primary = helm_primary.primary_release(team, "shop-web", helm.DEFAULT_NAME_PATH,
                                           ("replicaCount",), 2)
    assert primary["spec"]["values"]["replicaCount"] == 2
    assert_golden("web-primary.yaml", primary_yaml(primary, "flux-system/web", "shop/web"))


def test_primary_leaves_out_gitbot_postrenderer_and_keeps_the_team_one() -> None:
    team = load(DATA / "team-postrenderers.yaml")
    from gitbot.adapters.helm_edit import replicas_entry
    team["spec"]["postRenderers"].append(helm_primary.plain(replicas_entry("podinfo", 0)))
    primary = helm_primary.primary_release(team, "podinfo", helm.DEFAULT_NAME_PATH)
    assert primary["spec"]["postRenderers"] == load(DATA / "team-postrenderers.yaml")["spec"][
        "postRenderers"]


def test_primary_with_chart_ref_copies_it() -> None:
    team = release(chartRef={"kind": "OCIRepository", "name": "podinfo"})
    del team["spec"]["chart"]
    team["spec"]["interval"] = "5m"
    primary = helm_primary.primary_release(team, "podinfo", helm.DEFAULT_NAME_PATH)
    assert primary["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "podinfo"}
    assert "chart" not in primary["spec"]


def changed(edit: str) -> dict[str, Any]:
    team = load(DATA / "bitnami-release.yaml")
    if edit == "version":
        team["spec"]["chart"]["spec"]["version"] = "18.2.5"
    elif edit == "values":
        team["spec"]["values"]["image"]["tag"] = "1.27.2"
    elif edit == "replicas":
        team["spec"]["values"]["replicaCount"] = 0
    elif edit == "interval":
        team["spec"]["interval"] = "1m"
    return team


BASE_FROM = {"ConfigMap/web-values:values.yaml": "aaa", "Secret/web-secrets:secrets.yaml": "bbb"}


@pytest.mark.parametrize(("edit", "values_from", "new_revision"), [
    pytest.param("version", BASE_FROM, True, id="chart-version"),
    pytest.param("values", BASE_FROM, True, id="values"),
    pytest.param("none", {**BASE_FROM, "Secret/web-secrets:secrets.yaml": "ccc"}, True,
                 id="valuesFrom-secret-content"),
    pytest.param("replicas", BASE_FROM, False, id="gitbot-replicas-path-is-not-a-revision"),
    pytest.param("interval", BASE_FROM, False, id="interval-is-not-a-revision"),
])
def test_release_revision(edit: str, values_from: dict[str, str], new_revision: bool) -> None:
    before = helm_primary.release_revision(changed("none"), BASE_FROM, ("replicaCount",))
    after = helm_primary.release_revision(changed(edit), values_from, ("replicaCount",))
    assert (before != after) is new_revision


def test_promotion_does_not_change_its_input() -> None:
    team = example_release()
    kept = copy.deepcopy(team)
    chosen = helm_primary.promotion(team, "podinfo", helm.DEFAULT_NAME_PATH)
    assert chosen.version == ">=1.0.0"
    assert chosen.values["fullnameOverride"] == "podinfo-primary"
    assert team == kept


def test_helm_release_query() -> None:
    assert helm_queries.helm_release_query("podinfo", "podinfo", {"cluster": "prod-eu"}) == (
        'gotk_resource_info{customresource_kind="HelmRelease",exported_namespace="podinfo",'
        'name="podinfo",cluster="prod-eu"}')
    assert helm_queries.helm_release_query('a"b', "x") == (
        'gotk_resource_info{customresource_kind="HelmRelease",exported_namespace="a\\"b",'
        'name="x"}')


@pytest.mark.parametrize(("labels", "ok", "message"), [
    pytest.param({"ready": "True"}, True, "", id="ready"),
    pytest.param({"ready": "Unknown"}, False, "not ready (Ready=Unknown)", id="progressing"),
    pytest.param({"ready": "True", "suspended": "true"}, False, "suspended", id="suspended"),
    pytest.param({"ready": "True", "generation": "3", "observed_generation": "2"}, False,
                 "has not seen generation 3", id="old-generation"),
    pytest.param({"ready": "True", "generation": "3", "observed_generation": "3"}, True, "",
                 id="same-generation"),
])
def test_helm_release_applied(labels: dict[str, str], ok: bool, message: str) -> None:
    labels = {"exported_namespace": "podinfo", "name": "podinfo", **labels}
    result = helm_queries.helm_release_applied(labels)
    assert result[0] is ok
    assert message in result[1]


def with_refs(*refs: dict[str, Any]) -> dict[str, Any]:
    return release(valuesFrom=list(refs), values={"image": {"tag": "2"}, "replicaCount": 2})


CM = {"kind": "ConfigMap", "name": "base"}
CONTENT = {"ConfigMap/base:values.yaml": {"image": {"tag": "1", "pullPolicy": "Always"},
                                          "replicaCount": 1}}


@pytest.mark.parametrize(("team", "contents", "note"), [
    pytest.param(with_refs({"kind": "Secret", "name": "s"}), {}, "is a Secret", id="secret"),
    pytest.param(with_refs({**CM, "targetPath": "image.tag"}), CONTENT, "targetPath",
                 id="targetPath"),
    pytest.param(with_refs(CM), {}, "no such ConfigMap entry", id="missing-configmap"),
    pytest.param(with_refs(CM, {"kind": "Secret", "name": "s"}), CONTENT, "is a Secret",
                 id="configmap-then-secret"),
])
def test_values_from_kept_as_references(team: dict[str, Any], contents: dict[str, Any],
                                        note: str) -> None:
    plan = helm_primary.plan_values_from(team, contents)
    assert plan.merged is None and note in plan.note
    primary = helm_primary.primary_release(team, "podinfo", helm.DEFAULT_NAME_PATH, inline=plan)
    assert primary["spec"]["valuesFrom"] == team["spec"]["valuesFrom"]


def test_values_from_configmaps_are_inlined_under_the_values() -> None:
    team = with_refs(CM, {"kind": "ConfigMap", "name": "gone", "optional": True})
    plan = helm_primary.plan_values_from(team, CONTENT)
    assert plan.merged == {"image": {"tag": "2", "pullPolicy": "Always"}, "replicaCount": 2}
    primary = helm_primary.primary_release(team, "podinfo", helm.DEFAULT_NAME_PATH, inline=plan)
    assert "valuesFrom" not in primary["spec"]
    assert primary["spec"]["values"] == {**plan.merged, "fullnameOverride": "podinfo-primary"}
