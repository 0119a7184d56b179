"""Config tracking: renaming references to `-primary` copies, the tracking rules, and the copies
that bootstrap generates and promotion refreshes (real files in tmp_path, read back by a fresh
editor)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitbot.adapters.configs import tracked_configs
from gitbot.adapters.manifests import ManifestEditor
from gitbot.core.configrefs import (
    CHECKSUM_ANNOTATION,
    config_checksum,
    primary_config_refs,
    primary_pod_template,
    tracking_exclusion,
)
from gitbot.core.spec import Canary, ObjectRef, ServiceSpec

DATA = Path(__file__).parent / "data" / "manifests"
PLAIN = Canary(name="podinfo", namespace="test", target=ObjectRef("podinfo", "Deployment"),
               service=ServiceSpec(port=9898))
APP = "apps/podinfo"
TRACKED = {("ConfigMap", "cm"), ("Secret", "sec")}


def pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "podinfo"}}, "spec": spec}


def containers(key: str, **fields: Any) -> dict[str, Any]:
    return pod({key: [{"name": "c", **fields}]})


REF_CASES = [
    pytest.param(pod({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}),
                 pod({"volumes": [{"name": "v", "configMap": {"name": "cm-primary"}}]}),
                 id="configmap-volume"),
    pytest.param(pod({"volumes": [{"name": "v", "secret": {"secretName": "sec"}}]}),
                 pod({"volumes": [{"name": "v", "secret": {"secretName": "sec-primary"}}]}),
                 id="secret-volume"),
    pytest.param(
        pod({"volumes": [{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "cm"}}, {"secret": {"name": "sec"}},
            {"serviceAccountToken": {"path": "token"}}]}}]}),
        pod({"volumes": [{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "cm-primary"}}, {"secret": {"name": "sec-primary"}},
            {"serviceAccountToken": {"path": "token"}}]}}]}),
        id="projected-sources"),
    pytest.param(
        containers("containers", env=[
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "b"}}},
            {"name": "C", "value": "cm"}]),
        containers("containers", env=[
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm-primary", "key": "a"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec-primary", "key": "b"}}},
            {"name": "C", "value": "cm"}]),
        id="env-valuefrom"),
    pytest.param(
        containers("initContainers", envFrom=[{"configMapRef": {"name": "cm"}},
                                              {"secretRef": {"name": "sec"}, "prefix": "S_"}]),
        containers("initContainers", envFrom=[{"configMapRef": {"name": "cm-primary"}},
                                              {"secretRef": {"name": "sec-primary"},
                                               "prefix": "S_"}]),
        id="init-container-envfrom"),
    pytest.param(pod({"volumes": [{"name": "v", "configMap": {"name": "other"}},
                                  {"name": "w", "secret": {"secretName": "cm"}}]}),
                 pod({"volumes": [{"name": "v", "configMap": {"name": "other"}},
                                  {"name": "w", "secret": {"secretName": "cm"}}]}),
                 id="untracked-and-same-name-other-kind-stay"),
    pytest.param({"metadata": {}}, {"metadata": {}}, id="no-spec"),
    pytest.param(pod({"containers": [{"name": "c", "env": None, "envFrom": "bad"}],
                      "volumes": [{"name": "v", "configMap": None}]}),
                 pod({"containers": [{"name": "c", "env": None, "envFrom": "bad"}],
                      "volumes": [{"name": "v", "configMap": None}]}),
                 id="odd-shapes-left-alone"),
]


@pytest.mark.parametrize(("template", "want"), REF_CASES)
def test_primary_config_refs(template: dict[str, Any], want: dict[str, Any]) -> None:
    before = copy.deepcopy(template)
    assert primary_config_refs(template, TRACKED) == want
    assert template == before  # the input is not modified


def test_nothing_tracked_renames_nothing() -> None:
    template = pod({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]})
    assert primary_config_refs(template, set()) == template


EXCLUSION_CASES = [
    pytest.param("ConfigMap", {"data": {"a": "1"}}, None, id="configmap"),
    pytest.param("Secret", {"data": {}}, None, id="secret-without-type"),
    pytest.param("Secret", {"type": "Opaque"}, None, id="opaque"),
    pytest.param("Secret", {"type": "kubernetes.io/basic-auth"}, None, id="basic-auth"),
    pytest.param("Secret", {"type": "kubernetes.io/ssh-auth"}, None, id="ssh-auth"),
    pytest.param("Secret", {"type": "kubernetes.io/tls"}, None, id="tls"),
    pytest.param("Secret", {"type": "kubernetes.io/dockerconfigjson"}, "type", id="docker-cfg"),
    pytest.param("Secret", {"type": "kubernetes.io/service-account-token"}, "type",
                 id="service-account-token"),
    pytest.param("ConfigMap", {"metadata": {"annotations": {
        "flagger.app/config-tracking": "disabled"}}}, "config-tracking", id="disabled"),
    pytest.param("Secret", {"metadata": {"annotations": {
        "flagger.app/config-tracking": "disable"}}}, "config-tracking", id="disable-prefix"),
    pytest.param("ConfigMap", {"metadata": {"annotations": {
        "flagger.app/config-tracking": "enabled"}}}, None, id="enabled-annotation"),
    pytest.param("Secret", {"type": "Opaque", "sops": {"mac": "x"}}, "SOPS", id="sops-secret"),
    pytest.param("ConfigMap", {"sops": {"mac": "x"}}, "SOPS", id="sops-configmap"),
    pytest.param("Service", {}, "not a ConfigMap", id="other-kind"),
]


@pytest.mark.parametrize(("kind", "obj", "reason"), EXCLUSION_CASES)
def test_tracking_exclusion(kind: str, obj: dict[str, Any], reason: str | None) -> None:
    got = tracking_exclusion(kind, obj)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


def test_checksum_follows_data_not_order() -> None:
    one = {("ConfigMap", "a"): {"data": {"x": "1", "y": "2"}}, ("Secret", "b"): {"data": {}}}
    same = {("Secret", "b"): {"data": {}}, ("ConfigMap", "a"): {"data": {"y": "2", "x": "1"}}}
    other = {("ConfigMap", "a"): {"data": {"x": "1", "y": "3"}}, ("Secret", "b"): {"data": {}}}
    assert config_checksum(one) == config_checksum(same) != config_checksum(other)
    assert len(config_checksum(one)) == 16


def test_primary_pod_template_annotates_only_with_tracked_configs() -> None:
    template = pod({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]})
    assert primary_pod_template(template, {}) == template
    configs = {("ConfigMap", "cm"): {"data": {"k": "v"}}}
    got = primary_pod_template(template, configs)
    assert got["metadata"]["annotations"] == {CHECKSUM_ANNOTATION: config_checksum(configs)}
    assert got["spec"]["volumes"][0]["configMap"]["name"] == "cm-primary"
    assert "annotations" not in template["metadata"]


# -- the adapter, on real files ----------------------------------------------------------------

def repo_from(tmp_path: Path, case: str, tree: str) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / case / tree, repo)
    return repo


def load_all(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if d]


def test_tracked_configs_follow_the_rules(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "original")
    editor = ManifestEditor(repo)
    tracked = tracked_configs(editor.index, "test", editor.target(PLAIN))
    assert [(e.kind, e.name) for e in tracked] == [
        ("ConfigMap", "podinfo-config"), ("ConfigMap", "podinfo-env"), ("Secret", "podinfo-db")]


def test_bootstrap_copies_are_valid_and_flux_free(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "original")
    editor = ManifestEditor(repo)
    changes = editor.bootstrap(PLAIN)
    created = [(c.kind, c.name) for c in changes if c.path.endswith("primary-configs.yaml")]
    assert created == [("ConfigMap", "podinfo-config-primary"),
                       ("ConfigMap", "podinfo-env-primary"), ("Secret", "podinfo-db-primary")]
    editor.save()
    copied = editor.get("ConfigMap", "test", "podinfo-config-primary")
    original = editor.get("ConfigMap", "test", "podinfo-config")
    assert copied is not None and original is not None
    assert copied["data"] == original["data"]
    assert copied["metadata"] == {"name": "podinfo-config-primary", "labels": {"app": "podinfo"},
                                  "annotations": {"owner": "team-a"}}
    docs = load_all(repo / APP / "podinfo-primary-configs.yaml")
    assert [d["metadata"]["name"] for d in docs] == [
        "podinfo-config-primary", "podinfo-env-primary", "podinfo-db-primary"]
    assert ManifestEditor(repo).get("Secret", "test", "podinfo-token-primary") is None


def test_existing_copy_is_not_regenerated(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "original")
    own = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo-env-primary\n" \
          "data:\n  PODINFO_UI_MESSAGE: mine\n"
    (repo / APP / "env-primary.yaml").write_text(own)
    editor = ManifestEditor(repo)
    names = {c.name for c in editor.bootstrap(PLAIN) if c.field == ""}
    assert "podinfo-env-primary" not in names and "podinfo-config-primary" in names
    editor.save()
    assert (repo / APP / "env-primary.yaml").read_text() == own
    again = ManifestEditor(repo)
    assert again.bootstrap(PLAIN) == [] and again.save() == []


def test_bootstrap_keeps_namespace_and_skips_disabled(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: test\n"
        "spec:\n  selector:\n    matchLabels:\n      app: podinfo\n  template:\n    metadata:\n"
        "      labels:\n        app: podinfo\n    spec:\n      containers:\n        - name: c\n"
        "          envFrom:\n            - configMapRef:\n                name: shared\n"
        "            - secretRef:\n                name: pull\n      volumes:\n"
        "        - name: v\n          configMap:\n            name: own\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: test\n"
        "  annotations:\n    flagger.app/config-tracking: disabled\ndata:\n  a: b\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: test\n"
        "type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: e30=\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n  namespace: test\n"
        "data:\n  a: b\n")
    editor = ManifestEditor(tmp_path)
    editor.bootstrap(PLAIN)
    assert editor.save() == ["podinfo-primary-configs.yaml", "podinfo-primary.yaml",
                             "podinfo-routing.yaml", "podinfo-services.yaml"]
    docs = load_all(tmp_path / "podinfo-primary-configs.yaml")
    assert [d["metadata"] for d in docs] == [{"name": "own-primary", "namespace": "test"}]
    primary = ManifestEditor(tmp_path).get("Deployment", "test", "podinfo-primary")
    assert primary is not None
    spec = primary["spec"]["template"]["spec"]
    assert spec["volumes"][0]["configMap"]["name"] == "own-primary"
    assert spec["containers"][0]["envFrom"] == [{"configMapRef": {"name": "shared"}},
                                                {"secretRef": {"name": "pull"}}]


NEW_CONFIG = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo-extra\n" \
             "data:\n  extra: \"1\"\n"
EXTRA_VOLUME = "        - name: extra\n          configMap:\n            name: podinfo-extra\n"


def test_promote_creates_copy_of_newly_referenced_config(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "expected")
    with (repo / APP / "configs.yaml").open("a") as f:
        f.write(NEW_CONFIG)
    with (repo / APP / "deployment.yaml").open("a") as f:
        f.write(EXTRA_VOLUME)
    before = (repo / APP / "podinfo-primary-configs.yaml").read_text()
    editor = ManifestEditor(repo)
    changes = editor.promote(PLAIN)
    assert {(c.kind, c.name, c.field) for c in changes if c.kind == "ConfigMap"} == {
        ("ConfigMap", "podinfo-extra-primary", "")}
    ref = editor.find("ConfigMap", "test", "podinfo-extra-primary")
    assert ref is not None and ref.index == 3
    assert editor.save() == [f"{APP}/podinfo-primary-configs.yaml", f"{APP}/podinfo-primary.yaml"]
    after = (repo / APP / "podinfo-primary-configs.yaml").read_text()
    assert after.startswith(before) and after.count("\n---\n") == 4
    assert after.splitlines()[ref.line - 1] == "apiVersion: v1"
    fresh = ManifestEditor(repo)
    primary = fresh.get("Deployment", "test", "podinfo-primary")
    assert primary is not None
    volumes = primary["spec"]["template"]["spec"]["volumes"]
    assert volumes[-1] == {"name": "extra", "configMap": {"name": "podinfo-extra-primary"}}
    assert fresh.get("ConfigMap", "test", "podinfo-extra-primary") == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-extra-primary"},
        "data": {"extra": "1"}}
    assert fresh.promote(PLAIN) == [] and fresh.save() == []


def test_promote_creates_the_configs_file_when_missing(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "expected")
    (repo / APP / "podinfo-primary-configs.yaml").unlink()
    kustomization = repo / APP / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "  - podinfo-primary-configs.yaml\n", ""))
    editor = ManifestEditor(repo)
    changes = editor.promote(PLAIN)
    assert [c.kind for c in changes] == ["ConfigMap", "ConfigMap", "Secret", "Kustomization"]
    editor.save()
    expected = DATA / "config-tracking-bootstrap" / "expected" / APP
    for name in ("podinfo-primary-configs.yaml", "kustomization.yaml", "podinfo-primary.yaml"):
        assert (repo / APP / name).read_text() == (expected / name).read_text()


def test_promote_prunes_removed_keys_and_keeps_revision(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "expected")
    configs = repo / APP / "configs.yaml"
    configs.write_text(configs.read_text().replace("  PODINFO_CACHE: \"on\"\n", ""))
    editor = ManifestEditor(repo)
    revision = editor.target_revision(PLAIN)
    changes = editor.promote(PLAIN)
    assert [(c.name, c.field, c.old, c.new) for c in changes if c.kind == "ConfigMap"] == [
        ("podinfo-env-primary", "data.PODINFO_CACHE", "on", None)]
    annotation = [c for c in changes if c.kind == "Deployment"]
    assert [c.field for c in annotation] == [
        f"spec.template.metadata.annotations.{CHECKSUM_ANNOTATION}"]
    editor.save()
    assert ManifestEditor(repo).target_revision(PLAIN) == revision
    target = ManifestEditor(repo).get("Deployment", "test", "podinfo")
    assert target is not None
    assert CHECKSUM_ANNOTATION not in target["spec"]["template"]["metadata"]["annotations"]


def test_secret_values_stay_out_of_change_records(tmp_path: Path) -> None:
    repo = repo_from(tmp_path, "config-tracking-bootstrap", "original")
    editor = ManifestEditor(repo)
    created = [c for c in editor.bootstrap(PLAIN) if c.kind == "Secret"]
    assert [c.new["stringData"] for c in created] == [{"password": "<redacted>"}]
    editor.save()
    secrets = repo / APP / "secrets.yaml"
    secrets.write_text(secrets.read_text().replace("not-a-real-password", "rotated-value"))
    editor = ManifestEditor(repo)
    changes = [c for c in editor.promote(PLAIN) if c.kind == "Secret"]
    assert [(c.field, c.old, c.new) for c in changes] == [
        ("stringData.password", "<redacted>", "<redacted>")]
    assert "rotated-value" not in "".join(map(str, changes))
    editor.save()
    copied = ManifestEditor(repo).get("Secret", "test", "podinfo-db-primary")
    assert copied is not None and copied["stringData"] == {"password": "rotated-value"}
