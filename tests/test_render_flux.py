"""Rendering real Flux layouts with kustomize: images, patches, targetNamespace, origins, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitbot.adapters.render import RenderError, render_repository
from gitbot.adapters.render.model import FluxView

LAYOUTS = Path(__file__).parent / "data" / "flux_layouts"
BUILD_ANNOTATIONS = ("config.kubernetes.io/origin", "alpha.config.kubernetes.io/transformations")


def layout(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root)
    return root


def render(root: Path, cluster: str | None = None) -> FluxView:
    view = render_repository(root, cluster)
    assert view is not None
    return view


def containers(view: FluxView, name: str) -> dict[str, str]:
    deployment = view.find("Deployment", name)[0].obj
    spec = deployment["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec["containers"] + spec.get("initContainers", [])}


def test_gitops_istio_images_new_tag_is_the_rendered_image(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    assert "podinfo:5.0.0" in (root / "apps/backend/deployment.yaml").read_text()
    assert containers(render(root), "backend")["backend"] == "ghcr.io/stefanprodan/podinfo:6.1.0"
    kustomization = root / "apps/backend/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("newTag: 6.1.0", "newTag: 6.2.0"))
    assert containers(render(root), "backend")["backend"] == "ghcr.io/stefanprodan/podinfo:6.2.0"


def test_gitops_istio_sidecar_patch_reaches_the_rendered_target() -> None:
    view = render(LAYOUTS / "gitops-istio")
    assert containers(view, "backend") == {
        "backend": "ghcr.io/stefanprodan/podinfo:6.1.0",
        "istio-proxy": "docker.io/istio/proxyv2:1.18.5",
        "istio-init": "docker.io/istio/proxyv2:1.18.5",
    }
    target = view.find("Deployment", "backend")[0]
    labels = target.obj["spec"]["template"]["metadata"]["labels"]
    assert labels["security.istio.io/tlsMode"] == "istio"
    kinds = {(t.kind, t.file) for t in target.origin.transformers}
    assert kinds == {("PatchJson6902Transformer", "apps/backend/kustomization.yaml"),
                     ("ImageTagTransformer", "apps/backend/kustomization.yaml")}


def test_path_without_kustomization_is_generated_as_flux_does() -> None:
    view = render(LAYOUTS / "gitops-istio")
    apps = view.by_name("flux-system/apps")
    # apps/ has no kustomization.yaml: every YAML file, apps/backend/ as one directory (so its
    # deployment.patch.yaml is not read as a resource)
    assert sorted((o.kind, o.name) for o in apps.objects) == [
        ("Canary", "backend"), ("Deployment", "backend"), ("HorizontalPodAutoscaler", "backend"),
        ("Namespace", "prod"), ("Sidecar", "default")]
    assert [k.kustomization.key for k in view.kustomizations] == [
        "flux-system/flux-system", "flux-system/apps", "flux-system/istio-gateway",
        "flux-system/istio-system"]


def test_target_namespace_moves_namespaced_objects_only(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    (root / "kustomize/clusterrole.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
        "metadata:\n  name: podinfo-reader\nrules: []\n")
    kustomization = root / "kustomize/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - clusterrole.yaml\n")
    podinfo = render(root).by_name("flux-system/podinfo")
    assert podinfo.kustomization.target_namespace == "test"
    assert sorted((o.kind, o.namespace) for o in podinfo.objects) == [
        ("ClusterRole", None), ("Deployment", "test"), ("HorizontalPodAutoscaler", "test"),
        ("Service", "test")]


def test_overlay_namespace_and_generator_origin() -> None:
    webapp = render(LAYOUTS / "podinfo").by_name("flux-system/webapp-dev")
    assert {o.namespace for o in webapp.objects if o.kind != "Namespace"} == {"dev"}
    frontend = webapp.find("Deployment", "frontend")[0]
    assert frontend.obj["metadata"]["labels"]["app.kubernetes.io/environment"] == "dev"
    assert (frontend.origin.file, frontend.origin.line) == ("deploy/bases/frontend/deployment.yaml",
                                                            1)
    script = webapp.find("ConfigMap", "warm-cache-script")[0]
    assert (script.origin.file, script.origin.line, script.origin.generator) == (
        "deploy/bases/frontend/kustomization.yaml", None, "ConfigMapGenerator")


def test_origins_name_file_and_line_and_are_not_applied() -> None:
    view = render(LAYOUTS / "gitops-istio")
    latency = view.find("MetricTemplate", "latency")[0]
    assert latency.origin.kustomization == "flux-system/istio-gateway"
    assert latency.origin.where() == "istio/gateway/flagger-metrics.yaml:33"
    canary = view.find("Canary", "backend", namespace="prod")[0]
    assert canary.origin.where() == "apps/backend/canary.yaml:1"
    apps = view.find("Kustomization", "istio-gateway")[0]
    assert apps.origin.where() == "clusters/my-cluster/istio.yaml:19"
    for item in view.objects():
        annotations = item.obj["metadata"].get("annotations") or {}
        assert not set(annotations) & set(BUILD_ANNOTATIONS)


def test_kustomize_failure_names_the_kustomization_and_quotes_kustomize(tmp_path: Path) -> None:
    root = layout(tmp_path, "gitops-istio")
    (root / "apps/backend/hpa.yaml").unlink()
    message = only_problem(root, "flux-system/apps")
    assert message.startswith("clusters/my-cluster/apps.yaml:1: Kustomization flux-system/apps: "
                              "kustomize build apps: ")
    assert "hpa.yaml" in message
    assert str(tmp_path) not in message and "gitbot-render-" not in message
    assert "Traceback" not in message


def test_missing_path_is_reported_with_the_kustomization(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    shutil.rmtree(root / "kustomize")
    assert only_problem(root, "flux-system/podinfo") == (
        "clusters/dev/podinfo.yaml:1: Kustomization flux-system/podinfo: spec.path: "
        "directory 'kustomize' not found in the repository")


def only_problem(root: Path, lost: str) -> str:
    """The one problem of a render where Kustomization `lost` failed (and only it: the others
    are rendered, as kustomize-controller fails only that one)."""
    view = render_repository(root)
    assert view is not None
    assert lost not in {k.kustomization.key for k in view.kustomizations}
    assert view.kustomizations, "the others are still rendered"
    [message] = view.problems
    return message


def test_kustomize_is_bounded_by_a_timeout() -> None:
    with pytest.raises(RenderError, match=r"\(flux bootstrap\): Kustomization "
                       r"flux-system/flux-system: kustomize build clusters/my-cluster took "
                       r"longer than 1e-06s"):
        render_repository(LAYOUTS / "gitops-istio", timeout=0.000001)


def test_flux_kustomization_images_and_patches_apply(tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    flux = root / "clusters/dev/podinfo.yaml"
    flux.write_text(flux.read_text() + (
        "  images:\n  - name: ghcr.io/stefanprodan/podinfo\n    newTag: 9.9.9\n"
        "  patches:\n  - patch: |\n      - op: replace\n        path: /spec/minReplicas\n"
        "        value: 5\n    target:\n      kind: HorizontalPodAutoscaler\n"))
    podinfo = render(root).by_name("flux-system/podinfo")
    image = podinfo.find("Deployment", "podinfo")[0].obj["spec"]["template"]["spec"][
        "containers"][0]["image"]
    assert image == "ghcr.io/stefanprodan/podinfo:9.9.9"
    assert podinfo.find("HorizontalPodAutoscaler", "podinfo")[0].obj["spec"]["minReplicas"] == 5


def test_one_path_under_two_kustomizations_renders_twice_with_its_own_settings(
        tmp_path: Path) -> None:
    root = layout(tmp_path, "podinfo")
    text = (root / "clusters/dev/podinfo.yaml").read_text()
    (root / "clusters/dev/podinfo-canary.yaml").write_text(
        text.replace("name: podinfo\n", "name: podinfo-canary\n")
        .replace("targetNamespace: test", "targetNamespace: canary"))
    view = render(root)
    deployments = view.find("Deployment", "podinfo")
    assert sorted((d.origin.kustomization, d.namespace) for d in deployments) == [
        ("flux-system/podinfo", "test"), ("flux-system/podinfo-canary", "canary")]
    assert all(d.origin.where() == "kustomize/deployment.yaml:1" for d in deployments)
