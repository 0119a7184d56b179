"""HelmEditor on the flux2-kustomize-helm-example fixture (a Canary added to the shared base),
rendered with real kustomize: the files gitbot writes at each initialization stage (golden
files in tests/data/helm/golden/editor; GITBOT_UPDATE_GOLDEN=1 rewrites them), promotion,
scaling from the production overlay verified on the rendered release, a team patch that would
defeat the scaling reported, and Canary edits reconciled into the generated routing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from canaries import canary_yaml, layout_with_canary

from gitbot.adapters.flux_editor import editor_for
from gitbot.adapters.flux_verify import OverriddenError
from gitbot.adapters.helm_editor import HelmEditor
from gitbot.adapters.manifests import ManifestEditor
from gitbot.adapters.render import render_repository
from gitbot.adapters.specs import load_repository
from gitbot.core.helm_apex import apex_selector
from gitbot.core.helm_scale import scaled_replicas
from gitbot.core.spec import Canary
from gitbot.core.state import Traffic
from gitbot.drift import DriftWatch
from gitbot.sim.helm import render_release

GOLDEN = Path(__file__).parent / "data" / "helm" / "golden" / "editor"
UPDATE = os.environ.get("GITBOT_UPDATE_GOLDEN") == "1"
OVERLAY_GOLDEN = "2-apps__production__kustomization.yaml"
OLD_OVERLAY = Path(__file__).parent / "data" / "helm" / "overlay-before-apex.yaml"
PRIMARY_PODS = {"app.kubernetes.io/name": "podinfo",
                "app.kubernetes.io/instance": "podinfo-primary"}
CLUSTER = "clusters/production"
OWN = "gitbot/clusters/production/apps"
WRITTEN = {
    "primary": [f"{OWN}/podinfo-primary.yaml", f"{OWN}/kustomization.yaml",
                "clusters/production/gitbot-apps.yaml", ".sourceignore"],
    "routing": [f"{OWN}/podinfo-services.yaml", f"{OWN}/podinfo-routing.yaml",
                f"{OWN}/kustomization.yaml", "apps/production/kustomization.yaml"],
}


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), name


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return layout_with_canary(tmp_path, canary_yaml(target_port="http",
                                                    hosts=["podinfo.example.com"]))


def editor(root: Path) -> tuple[HelmEditor, Canary]:
    specs = load_repository(root, cluster=CLUSTER)
    assert specs.ok and specs.flux is not None, specs.problems
    canary = specs.canaries[0]
    found = editor_for(root, specs.flux, canary)
    assert isinstance(found, HelmEditor)
    return found, canary


def initialize(root: Path) -> None:
    ed, canary = editor(root)
    ed.bootstrap_primary(canary)
    ed.save()
    ed, canary = editor(root)
    ed.bootstrap(canary)
    ed.set_traffic(canary, Traffic())
    ed.set_replicas("podinfo", "podinfo", 0)
    ed.save()


def release(root: Path, name: str) -> dict[str, object]:
    view = render_repository(root, CLUSTER)
    assert view is not None
    found = view.find("HelmRelease", name, "podinfo")
    assert len(found) == 1, name
    return dict(found[0].obj)


def test_staged_initialization_writes_the_primary_release_then_the_routing(root: Path) -> None:
    ed, canary = editor(root)
    assert not ed.has_primary(canary) and not ed.is_bootstrapped(canary)
    changes = ed.bootstrap_primary(canary)
    assert sorted(ed.save()) == sorted(WRITTEN["primary"])
    assert [str(c) for c in changes][-1] == (".sourceignore: ignore rules: lines[+]: added "
                                             "'!/gitbot/'")
    for rel in WRITTEN["primary"][:3]:
        assert_golden("1-" + rel.replace("/", "__"), (root / rel).read_text())
    assert (root / ".sourceignore").read_text().endswith("\n!/gitbot/\n")
    ed, canary = editor(root)
    assert ed.has_primary(canary) and not ed.is_bootstrapped(canary)
    ed.bootstrap(canary)
    ed.set_traffic(canary, Traffic())
    ed.set_replicas("podinfo", "podinfo", 0)
    assert sorted(ed.save()) == sorted(WRITTEN["routing"])
    for rel in WRITTEN["routing"]:
        assert_golden("2-" + rel.replace("/", "__"), (root / rel).read_text())
    ed, canary = editor(root)
    assert ed.is_bootstrapped(canary)
    assert ed.get_replicas("podinfo", "podinfo") == 0
    assert scaled_replicas(release(root, "podinfo")) == 0


def test_scale_up_removes_the_scaling_and_keeps_the_apex_item(root: Path) -> None:
    before = (root / "apps/production/kustomization.yaml").read_text()
    initialize(root)
    ed, _canary = editor(root)
    changes = ed.set_replicas("podinfo", "podinfo", 2)
    ed.save()
    assert [str(c) for c in changes] == [
        "apps/production/kustomization.yaml: HelmRelease podinfo/podinfo: "
        "spec.postRenderers (gitbot): 0 -> None"]
    after = (root / "apps/production/kustomization.yaml").read_text()
    assert after.startswith(before) and "canary-replicas" not in after  # the apex item only
    spec = release(root, "podinfo")["spec"]
    assert apex_selector(spec_release(spec)) == ("podinfo", PRIMARY_PODS)
    assert scaled_replicas(spec_release(spec)) is None
    ed, _canary = editor(root)
    ed.set_replicas("podinfo", "podinfo", 0)
    ed.save()
    assert_golden(OVERLAY_GOLDEN, (root / "apps/production/kustomization.yaml").read_text())


def spec_release(spec: object) -> dict[str, object]:
    return {"spec": spec}


def test_the_apex_waits_for_the_primary_release_commit(root: Path) -> None:
    """Never point <svc> at primary pods before the commit creating the primary release."""
    ed, canary = editor(root)
    ed.bootstrap_primary(canary)
    changes = ed.set_replicas("podinfo", "podinfo", 0)  # in the primary's own commit
    ed.save()
    assert [c.field for c in changes] == ["spec.postRenderers (gitbot)"]
    assert "apex-selector" not in (root / "apps/production/kustomization.yaml").read_text()
    assert apex_selector(release(root, "podinfo")) is None
    ed, canary = editor(root)
    changes = ed.bootstrap(canary)  # the next commit
    ed.save()
    assert [c.field for c in changes if "selector" in c.field] == [
        "spec.postRenderers (gitbot: Service podinfo selector)"]
    assert_golden(OVERLAY_GOLDEN, (root / "apps/production/kustomization.yaml").read_text())


def test_a_canary_initialized_before_the_apex_gets_it_on_the_next_scaling(root: Path) -> None:
    initialize(root)
    overlay = root / "apps/production/kustomization.yaml"
    overlay.write_text(OLD_OVERLAY.read_text())  # the scaling item alone, creating the list
    ed, _canary = editor(root)
    changes = ed.set_replicas("podinfo", "podinfo", 0)
    ed.save()
    assert [c.field for c in changes] == [  # the scaling stays 0 (its item now appends)
        "spec.postRenderers (gitbot: Service podinfo selector)"]
    assert_golden(OVERLAY_GOLDEN, overlay.read_text())  # apex first, the scaling appends


def test_rendered_service_selects_the_primary_deployment_pods(root: Path) -> None:
    """Rendered with real kustomize, each release by the simulated helm-controller."""
    initialize(root)
    objects = {(o["kind"], o["metadata"]["name"]): o for name in ("podinfo", "podinfo-primary")
               for o in render_release(release(root, name))}
    pods = objects["Deployment", "podinfo-primary"]["spec"]["template"]["metadata"]["labels"]
    assert objects["Service", "podinfo"]["spec"]["selector"] == pods == PRIMARY_PODS
    assert objects["Deployment", "podinfo"]["spec"]["replicas"] == 0


def test_promote_copies_a_values_change_and_nothing_else(root: Path) -> None:
    initialize(root)
    primary = root / OWN / "podinfo-primary.yaml"
    written = primary.read_text()
    values = root / "apps/production/podinfo-values.yaml"
    values.write_text(values.read_text().replace("podinfo.production", "podinfo.prod"))
    ed, canary = editor(root)
    changes = ed.promote(canary)
    assert ed.save() == [f"{OWN}/podinfo-primary.yaml"]
    assert [str(c) for c in changes] == [
        f"{OWN}/podinfo-primary.yaml: HelmRelease podinfo/podinfo-primary: "
        "spec.values.ingress.hosts: [{'host': 'podinfo.production', 'paths': [{'path': '/', "
        "'pathType': 'ImplementationSpecific'}]}] -> [{'host': 'podinfo.prod', 'paths': "
        "[{'path': '/', 'pathType': 'ImplementationSpecific'}]}]"]
    assert primary.read_text() == written.replace("podinfo.production", "podinfo.prod")
    ed, canary = editor(root)
    assert ed.promote(canary) == []


DEFEAT = """\
  patches:
    - patch: |
        - op: remove
          path: /spec/postRenderers
      target:
        kind: HelmRelease
        name: podinfo
"""


def test_a_flux_patch_defeating_gitbot_entries_is_reported(root: Path) -> None:
    apps = root / "clusters/production/apps.yaml"
    ed, canary = editor(root)
    ed.bootstrap_primary(canary)
    ed.save()
    ed, canary = editor(root)
    ed.bootstrap(canary)
    ed.set_replicas("podinfo", "podinfo", 0)
    apps.write_text(apps.read_text() + DEFEAT)
    with pytest.raises(OverriddenError, match=(
            r"HelmRelease podinfo/podinfo: gitbot's Service podinfo selector: gitbot set a "
            r"different value but Flux would apply None, overridden by .*; nothing committed")):
        ed.save()


def test_canary_edits_reach_the_generated_canary_service_and_routing(root: Path) -> None:
    initialize(root)
    canary_file = root / "apps/base/podinfo/canary.yaml"
    canary_file.write_text(canary_file.read_text().replace("podinfo.example.com",
                                                           "podinfo.example.org"))
    ed, canary = editor(root)
    changes = ed.update_routing(canary)
    ed.save()
    assert [c.field for c in changes] == ["spec.hosts[0]"]
    assert "podinfo.example.org" in (root / OWN / "podinfo-routing.yaml").read_text()


def test_a_selector_annotation_chooses_the_canary_service_pods(root: Path) -> None:
    """For charts whose pods do not carry the name/instance convention."""
    canary_file = root / "apps/base/podinfo/canary.yaml"
    canary_file.write_text(canary_file.read_text().replace(
        "  namespace: podinfo\n",
        "  namespace: podinfo\n  annotations:\n    gitbot.io/helm-selector: app=podinfo\n", 1))
    ed, canary = editor(root)
    [service] = [o for o in ed.routing_objects(canary) if o["kind"] == "Service"]
    assert (service["metadata"]["name"], service["spec"]["selector"]) == (
        "podinfo-canary", {"app": "podinfo"})


def test_drift_reads_the_canary_scaling_from_the_rendered_release(root: Path) -> None:
    """A person scaling the canary to 0 during an analysis is drift, as for Deployments."""
    initialize(root)
    specs = load_repository(root, cluster=CLUSTER)
    watch = DriftWatch(None, specs.flux)  # type: ignore[arg-type]  # no git needed here
    assert watch._canary_replicas(ManifestEditor(root), specs.canaries[0]) == 0
    ed, _canary = editor(root)
    ed.set_replicas("podinfo", "podinfo", 2)
    ed.save()
    specs = load_repository(root, cluster=CLUSTER)
    watch = DriftWatch(None, specs.flux)  # type: ignore[arg-type]
    assert watch._canary_replicas(ManifestEditor(root), specs.canaries[0]) is None
