"""Writing in Flux repositories: gitbot's own directory, the effective primary, per-environment
replicas, and render-edit-render verification (real kustomize on the fixture layouts)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gitbot.adapters.flux_editor import FluxEditor
from gitbot.adapters.flux_verify import OverriddenError
from gitbot.adapters.render import FluxView, render_repository
from gitbot.adapters.specs import SpecSet, format_problems, load_repository
from gitbot.core.spec import Canary
from gitbot.core.state import Traffic
from gitbot.errors import InvalidInputError

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"
GOLDEN = Path(__file__).parent / "data" / "golden" / "flux"
OWN = "gitbot/clusters/my-cluster/apps"


def layout(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root)
    return root


def loaded(root: Path, cluster: str | None = None) -> tuple[SpecSet, Canary]:
    specs = load_repository(root, cluster=cluster)
    assert format_problems(specs.problems) == ""
    assert specs.flux is not None and len(specs.canaries) == 1
    return specs, specs.canaries[0]


def editor(root: Path, cluster: str | None = None) -> tuple[FluxEditor, Canary]:
    specs, canary = loaded(root, cluster)
    assert specs.flux is not None
    return FluxEditor(root, specs.flux), canary


def view(root: Path, cluster: str | None = None) -> FluxView:
    rendered = render_repository(root, cluster)
    assert rendered is not None
    return rendered


def spec_of(root: Path, kind: str, name: str, cluster: str | None = None) -> dict[str, Any]:
    found = view(root, cluster).find(kind, name)
    assert len(found) == 1, (kind, name, found)
    return dict(found[0].obj["spec"])


def images(spec: dict[str, Any]) -> dict[str, str]:
    pod = spec["template"]["spec"]
    return {c["name"]: c["image"] for c in pod["containers"] + pod.get("initContainers", [])}


def initialize(root: Path, cluster: str | None = None) -> None:
    ed, canary = editor(root, cluster)
    ed.bootstrap(canary)
    ed.set_replicas(canary.namespace, canary.target.name, 0)
    ed.save()


def bump(root: Path, tag: str) -> None:
    path = root / "apps/backend/kustomization.yaml"
    path.write_text(path.read_text().replace("newTag: 6.1.0", f"newTag: {tag}"))


def test_gitops_istio_initialization_layout(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    initialize(root)
    for name in ("clusters/my-cluster/gitbot-apps.yaml", f"{OWN}/kustomization.yaml",
                 f"{OWN}/backend-services.yaml", f"{OWN}/backend-routing.yaml"):
        golden = GOLDEN / "gitops-istio" / name.replace("/", "__")
        assert (root / name).read_text() == golden.read_text(), name
    rendered = view(root)
    assert sorted((o.kind, o.name) for o in rendered.by_name("flux-system/gitbot-apps").objects
                  ) == [("Deployment", "backend-primary"), ("DestinationRule", "backend-canary"),
                        ("DestinationRule", "backend-primary"),
                        ("HorizontalPodAutoscaler", "backend-primary"), ("Service", "backend"),
                        ("Service", "backend-canary"), ("Service", "backend-primary"),
                        ("VirtualService", "backend")]
    assert spec_of(root, "Deployment", "backend")["replicas"] == 0
    # the primary is the effective target: images newTag and the sidecar patch included
    assert images(spec_of(root, "Deployment", "backend-primary")) == {
        "backend": "ghcr.io/stefanprodan/podinfo:6.1.0",
        "istio-proxy": "docker.io/istio/proxyv2:1.18.5",
        "istio-init": "docker.io/istio/proxyv2:1.18.5"}


def test_images_bump_reaches_the_primary_only_at_promotion(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    initialize(root)
    bump(root, "6.2.0")
    assert images(spec_of(root, "Deployment", "backend"))["backend"].endswith(":6.2.0")
    assert images(spec_of(root, "Deployment", "backend-primary"))["backend"].endswith(":6.1.0")
    ed, canary = editor(root)
    changes = ed.promote(canary)
    assert [c.field for c in changes] == [
        "spec.template.spec.containers[0].image"]
    ed.save()
    primary = spec_of(root, "Deployment", "backend-primary")
    assert images(primary)["backend"].endswith(":6.2.0")
    assert primary["template"]["metadata"]["labels"]["app"] == "backend-primary"


def test_weights_are_verified_in_the_rendered_virtual_service(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    initialize(root)
    ed, canary = editor(root)
    ed.set_traffic(canary, Traffic(primary_weight=90, canary_weight=10))
    ed.save()
    routes = spec_of(root, "VirtualService", "backend")["http"][0]["route"]
    assert [r["weight"] for r in routes] == [90, 10]


def test_a_transformer_defeating_the_change_is_reported_with_file_and_line(
        tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    kustomization = root / "apps/backend/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + (
        "patches:\n  - target:\n      kind: Deployment\n      name: backend\n"
        "    patch: |-\n      - op: add\n        path: /spec/replicas\n        value: 2\n"))
    ed, canary = editor(root)
    ed.set_replicas(canary.namespace, canary.target.name, 0)
    with pytest.raises(OverriddenError) as caught:
        ed.save()
    assert str(caught.value) == (
        "apps/backend/deployment.yaml:1: Deployment prod/backend: spec.replicas: gitbot set 0 "
        "but Flux would apply 2, overridden by one of apps/backend/kustomization.yaml:19: "
        "patches[0]; apps/backend/kustomization.yaml:12: patchesJson6902[0]; nothing committed")


def test_shared_base_replicas_go_to_the_environment_kustomization(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    (root / "deploy/bases/backend/canary.yaml").write_text(
        (Path(__file__).parent / "data/flux_canary_backend.yaml").read_text())
    base = root / "deploy/bases/backend/kustomization.yaml"
    base.write_text(base.read_text().replace("resources:\n", "resources:\n  - canary.yaml\n"))
    before = (root / "deploy/bases/backend/deployment.yaml").read_text()
    ed, canary = editor(root, "clusters/dev")
    assert canary.key == "dev/backend"
    ed.bootstrap(canary)
    ed.set_replicas(canary.namespace, canary.target.name, 0)
    ed.save()
    assert (root / "deploy/bases/backend/deployment.yaml").read_text() == before
    golden = GOLDEN / "podinfo-dev__webapp.yaml"
    assert (root / "clusters/dev/webapp.yaml").read_text() == golden.read_text()
    assert spec_of(root, "Deployment", "backend", "clusters/dev")["replicas"] == 0
    assert (root / "clusters/dev/gitbot-webapp-dev.yaml").is_file()
    # the base Service is the apex: its selector moves to the primary through a patch too
    service = spec_of(root, "Service", "backend", "clusters/dev")
    assert service["selector"] == {"app.kubernetes.io/name": "backend-primary"}
    # scaling up again edits the same patch entry
    ed, canary = editor(root, "clusters/dev")
    ed.set_replicas(canary.namespace, canary.target.name, 2)
    ed.save()
    assert spec_of(root, "Deployment", "backend", "clusters/dev")["replicas"] == 2
    assert (root / "clusters/dev/webapp.yaml").read_text().count("- op: add") == 2


def test_config_map_generator_release_keeps_the_primary_on_its_own_copy(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    kustomization = root / "apps/backend/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + (
        "configMapGenerator:\n  - name: backend-config\n    namespace: prod\n"
        "    literals:\n      - color=blue\n"))
    deployment = root / "apps/backend/deployment.yaml"
    deployment.write_text(deployment.read_text().replace(
        "        env:\n", "        envFrom:\n        - configMapRef:\n"
        "            name: backend-config\n        env:\n"))
    initialize(root)

    def primary_ref() -> str:
        pod = spec_of(root, "Deployment", "backend-primary")["template"]["spec"]
        return str(pod["containers"][0]["envFrom"][0]["configMapRef"]["name"])

    def copies() -> dict[str, Any]:
        return {o.name: o.obj["data"] for o in view(root).find("ConfigMap")
                if o.name.endswith("-primary")}

    first = primary_ref()
    assert first.startswith("backend-config-") and first.endswith("-primary")
    assert copies() == {first: {"color": "blue"}}
    specs, canary = loaded(root)
    assert specs.flux is not None
    before = specs.flux.revision(canary)
    kustomization.write_text(kustomization.read_text().replace("color=blue", "color=red"))
    specs, canary = loaded(root)
    assert specs.flux is not None and specs.flux.revision(canary) != before
    assert primary_ref() == first  # the old generated name is pruned, the copy is not
    ed = FluxEditor(root, specs.flux)
    ed.promote(canary)
    ed.save()
    second = primary_ref()
    assert second != first and copies() == {second: {"color": "red"}}


def test_autoscaled_target_carries_no_replicas_while_it_runs(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")  # its Canary has an autoscalerRef
    initialize(root)
    assert "replicas" not in spec_of(root, "Deployment", "backend-primary")
    assert spec_of(root, "Deployment", "backend")["replicas"] == 0
    ed, canary = editor(root)
    changes = ed.set_replicas(canary.namespace, canary.target.name, 2)  # scale up
    assert [(c.field, c.old, c.new) for c in changes] == [("spec.replicas", 0, None)]
    ed.save()
    assert "replicas" not in spec_of(root, "Deployment", "backend")
    ed, canary = editor(root)
    ed.set_replicas(canary.namespace, canary.target.name, 0)
    ed.save()
    assert spec_of(root, "Deployment", "backend")["replicas"] == 0


def test_promotion_keeps_the_primary_hpa_in_step(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    initialize(root)
    hpa = root / "apps/backend/hpa.yaml"
    hpa.write_text(hpa.read_text().replace("maxReplicas: 4", "maxReplicas: 6"))
    assert spec_of(root, "HorizontalPodAutoscaler", "backend-primary")["maxReplicas"] == 4
    ed, canary = editor(root)
    ed.promote(canary)
    ed.save()
    primary = spec_of(root, "HorizontalPodAutoscaler", "backend-primary")
    assert (primary["maxReplicas"], primary["scaleTargetRef"]["name"]) == (6, "backend-primary")


def test_autoscaled_target_in_a_shared_base_drops_gitbot_patch_to_scale_up(
        tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    (root / "deploy/bases/backend/canary.yaml").write_text(
        (Path(__file__).parent / "data/flux_canary_backend.yaml").read_text().replace(
            "  service:\n", "  autoscalerRef:\n    apiVersion: autoscaling/v2\n"
            "    kind: HorizontalPodAutoscaler\n    name: backend\n  service:\n"))
    base = root / "deploy/bases/backend/kustomization.yaml"
    base.write_text(base.read_text().replace("resources:\n", "resources:\n  - canary.yaml\n"))
    initialize(root, "clusters/dev")
    assert spec_of(root, "Deployment", "backend", "clusters/dev")["replicas"] == 0
    ed, canary = editor(root, "clusters/dev")
    ed.set_replicas(canary.namespace, canary.target.name, 2)
    ed.save()
    assert "replicas" not in spec_of(root, "Deployment", "backend", "clusters/dev")
    assert "/spec/replicas" not in (root / "clusters/dev/webapp.yaml").read_text()


TEAM_VS = """\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: backend
spec:
  hosts:
  - backend
  http:
  - name: main
    retries:
      attempts: 3
    route:
    - destination:
        host: backend
"""


def test_team_virtual_service_in_the_environment_is_adopted(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    (root / "apps/backend/virtualservice.yaml").write_text(
        TEAM_VS.replace("  name: backend\n", "  name: backend\n  namespace: prod\n"))
    kustomization = root / "apps/backend/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "  - hpa.yaml\n", "  - hpa.yaml\n  - virtualservice.yaml\n"))
    initialize(root)
    assert not (root / OWN / "backend-routing.yaml").read_text().count("VirtualService")
    route = spec_of(root, "VirtualService", "backend")["http"][0]
    assert (route["name"], route["retries"]) == ("main", {"attempts": 3})
    assert [(d["destination"]["host"], d["weight"]) for d in route["route"]] == [
        ("backend-primary", 100), ("backend-canary", 0)]


def test_team_virtual_service_in_a_shared_base_is_refused(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    (root / "deploy/bases/backend/canary.yaml").write_text(
        (Path(__file__).parent / "data/flux_canary_backend.yaml").read_text())
    (root / "deploy/bases/backend/virtualservice.yaml").write_text(TEAM_VS)
    base = root / "deploy/bases/backend/kustomization.yaml"
    base.write_text(base.read_text().replace(
        "resources:\n", "resources:\n  - canary.yaml\n  - virtualservice.yaml\n"))
    ed, canary = editor(root, "clusters/dev")
    with pytest.raises(InvalidInputError) as caught:
        ed.bootstrap(canary)
    assert str(caught.value).startswith(
        "deploy/bases/backend/virtualservice.yaml:1: VirtualService dev/backend: adopted by "
        "Canary dev/backend, but its file is shared by several environments")


def test_app_path_built_by_another_cluster_is_shared(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    (root / "kustomize/canary.yaml").write_text(
        (Path(__file__).parent / "data/flux_canary_backend.yaml").read_text()
        .replace("backend", "podinfo"))
    kustomization = root / "kustomize/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - canary.yaml\n")
    (root / "clusters/staging").mkdir()
    shutil.copy(root / "clusters/dev/podinfo.yaml", root / "clusters/staging/podinfo.yaml")
    before = (root / "kustomize/deployment.yaml").read_text()
    initialize(root, "clusters/dev")
    assert (root / "kustomize/deployment.yaml").read_text() == before
    assert "/spec/replicas" in (root / "clusters/dev/podinfo.yaml").read_text()
    assert "/spec/replicas" not in (root / "clusters/staging/podinfo.yaml").read_text()
    assert spec_of(root, "Deployment", "podinfo", "clusters/dev")["replicas"] == 0
    assert "replicas" not in spec_of(root, "Deployment", "podinfo", "clusters/staging")


def test_canary_service_edits_reach_the_generated_routing_at_current_weights(
        tmp_path: Path) -> None:
    from gitbot.adapters.flux_routing import changed_fields

    root = layout(tmp_path, "gitops-istio")
    initialize(root)
    ed, canary = editor(root)
    ed.set_traffic(canary, Traffic(primary_weight=70, canary_weight=30))
    ed.save()
    path = root / "apps/backend/canary.yaml"
    path.write_text(path.read_text().replace(
        "    port: 9898\n", "    port: 9898\n    hosts:\n    - app.example.com\n"
        "    gateways:\n    - public-gateway.istio-system.svc.cluster.local\n"
        "    retries:\n      attempts: 3\n"))
    ed, canary = editor(root)
    changes = ed.update_routing(canary)
    assert changed_fields(changes) == "gateways, hosts, retries"
    ed.save()
    vs = spec_of(root, "VirtualService", "backend")
    assert vs["hosts"] == ["app.example.com", "backend"]
    assert vs["http"][0]["retries"] == {"attempts": 3}
    assert [r["weight"] for r in vs["http"][0]["route"]] == [70, 30]
    again, canary = editor(root)
    assert again.update_routing(canary) == []


def test_flagger_kustomize_podinfo_with_the_tutorial_canary_initializes(tmp_path: Path) -> None:
    """fluxcd/flagger's `kustomize/podinfo` (Deployment without replicas, HPA) with the Istio
    tutorial's Canary: the primary and its HPA are generated, neither Deployment carries a
    `replicas` Flux would re-apply against the HPA, and the target is scaled to 0."""
    root = layout(tmp_path, "flagger-podinfo")
    initialize(root)
    own = "gitbot/clusters/my-cluster/podinfo"
    assert sorted(p.name for p in (root / own).iterdir()) == [
        "kustomization.yaml", "podinfo-primary.yaml", "podinfo-routing.yaml",
        "podinfo-services.yaml"]
    assert "replicas" not in spec_of(root, "Deployment", "podinfo-primary")
    assert spec_of(root, "Deployment", "podinfo")["replicas"] == 0
    hpa = spec_of(root, "HorizontalPodAutoscaler", "podinfo-primary")
    assert (hpa["scaleTargetRef"]["name"], hpa["minReplicas"], hpa["maxReplicas"]) == (
        "podinfo-primary", 2, 4)
    routing = view(root).find("VirtualService", "podinfo", "test")[0].obj["spec"]
    assert routing["gateways"] == ["istio-system/public-gateway"]
    assert routing["http"][0]["retries"]["attempts"] == 3


def test_a_sourceignore_excluding_gitbot_directory_gains_a_re_include(tmp_path: Path) -> None:
    """flux2-kustomize-helm-example's `.sourceignore` excludes `/*` and re-includes its own
    directories: without a re-include, source-controller would not package gitbot's files and
    the render-verify check would refuse every initialization."""
    root = layout(tmp_path, "gitops-istio")
    rules = "# Flux ignore\n/*\n!/apps/\n!/clusters/\n!/istio/\n"
    (root / ".sourceignore").write_text(rules)
    ed, canary = editor(root)
    changes = ed.bootstrap(canary)
    assert ".sourceignore" in ed.changed_files()
    ed.set_replicas(canary.namespace, canary.target.name, 0)
    assert ".sourceignore" in ed.save()
    assert (root / ".sourceignore").read_text() == rules + (
        "# gitbot's generated objects (see clusters/*/gitbot-*.yaml)\n!/gitbot/\n")
    assert [c.field for c in changes if c.path == ".sourceignore"] == ["lines[+]"]
    assert spec_of(root, "Deployment", "backend-primary")["template"]["metadata"]["labels"][
        "app"] == "backend-primary"
    ed, canary = editor(root)  # a second bootstrap finds everything and adds nothing
    assert ed.bootstrap(canary) == [] and ed.changed_files() == []
