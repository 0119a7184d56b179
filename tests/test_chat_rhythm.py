"""The chat rhythm: a message per commit (default) or per phase change (Flagger's), chosen in
config.yaml (`notifications.rhythm`) or per Canary (annotation `gitbot.io/chat-rhythm`).

Whole rollouts are driven through `plan_tick` and `decide` like the reconciler does, and each
tick's decision is announced by a real `Announcer` to a real chat server on 127.0.0.1; the texts
received are compared with golden files (`GITBOT_UPDATE_GOLDEN=1` rewrites them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest
from canaries import canary_yaml
from click.testing import CliRunner
from httpfixtures import RecordingServer
from test_decide_common import NOW, REV_A, REV_B, podinfo

from gitbot.adapters.specs import load_repository
from gitbot.cli import cli
from gitbot.config import load_settings
from gitbot.core.analysis import evaluate_metric
from gitbot.core.commit_texts import commit_message
from gitbot.core.decide import decide
from gitbot.core.plan import plan_tick
from gitbot.core.spec import (
    Alert,
    AlertProvider,
    Canary,
    ObjectRef,
    Severity,
    Webhook,
    WebhookType,
)
from gitbot.core.state import HookResult, MetricResult, Observation, Phase, RolloutState
from gitbot.errors import InvalidInputError
from gitbot.sim.gitops import CanaryOptions, create_gitops_repo
from gitbot.sim.inbox import Inbox

GOLDEN = Path(__file__).parent / "data" / "golden" / "chat"
CTI = WebhookType.CONFIRM_TRAFFIC_INCREASE
TRAFFIC_GATE = Webhook("traffic-gate", "http://loadtester/gate/traffic", type=CTI)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as srv:
        yield srv


def no_secrets(namespace: str, name: str) -> Mapping[str, str]:
    raise AssertionError(f"unexpected secret lookup {namespace}/{name}")


@dataclass
class Rollout:
    """A reconciler stand-in that announces every tick to the chat server at `url`."""

    canary: Canary
    url: str
    rhythm: str = "commit"
    success_rate: float = 99.9
    refuse: set[WebhookType] = field(default_factory=set)
    state: RolloutState = field(default_factory=RolloutState)
    ticks: int = 0

    def __post_init__(self) -> None:
        from gitbot.notify import Announcer

        entry = Alert("on-call", ObjectRef("chat"), Severity.INFO)
        self.canary = replace(self.canary, analysis=replace(self.canary.analysis, alerts=(entry,)))
        provider = AlertProvider("chat", "test", "generic", address=self.url)
        self.announcer = Announcer(lambda: {provider.key: provider}, no_secrets,
                                   commit_url="https://git.example/c/{sha}", rhythm=self.rhythm)

    def tick(self, revision: str) -> None:
        bootstrapped = self.state.phase is not Phase.INITIALIZING
        plan = plan_tick(self.canary, self.state, revision, bootstrapped)
        obs = Observation(
            target_revision=revision, bootstrapped=bootstrapped,
            metrics=self._metrics() if plan.metrics else (),
            hooks={k: self._answers(k) for k in plan.hooks},
        )
        decision = decide(self.canary, self.state, obs, NOW + timedelta(minutes=self.ticks))
        self.ticks += 1
        sha = subject = ""
        if decision.change is not None:  # the commit lands, then the state is written
            sha = f"{self.ticks:02d}" + "0" * 38
            subject = commit_message(self.canary, decision.change, decision.state)[0]
        self.state = replace(decision.state, pending=None)
        self.announcer.announce(self.canary, self.state, decision, sha, subject)

    def run_until(self, revision: str, phases: set[Phase], limit: int = 40) -> None:
        for _ in range(limit):
            self.tick(revision)
            if self.state.phase in phases:
                return
        raise AssertionError(f"stuck in {self.state.phase}")

    def _metrics(self) -> tuple[MetricResult, ...]:
        values = {"request-success-rate": self.success_rate, "request-duration": 120.0}
        return tuple(evaluate_metric(self.canary, m, values[m.name], None)
                     for m in self.canary.analysis.metrics)

    def _answers(self, kind: WebhookType) -> tuple[HookResult, ...]:
        passed = kind is not WebhookType.ROLLBACK and kind not in self.refuse
        return tuple(HookResult(h.name, kind, passed, 200 if passed else 403)
                     for h in self.canary.analysis.hooks(kind))

    def received(self, server: RecordingServer) -> list[str]:
        assert self.announcer.close(10)
        return [f"[{r.json()['severity']}] {r.json()['message']} <{r.json()['link']}>"
                for r in server.requests]


def check_golden(name: str, lines: list[str]) -> None:
    path = GOLDEN / f"{name}.txt"
    text = "\n".join(lines) + "\n"
    if os.environ.get("GITBOT_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"messages differ from {path}"


@pytest.mark.parametrize(
    ("rhythm", "success_rate", "end", "count"),
    [
        pytest.param("phase", 99.9, Phase.SUCCEEDED, 3, id="phase-success"),
        pytest.param("phase", 70.0, Phase.FAILED, 3, id="phase-failed"),
        pytest.param("commit", 99.9, Phase.SUCCEEDED, 10, id="commit-success"),
        pytest.param("commit", 70.0, Phase.FAILED, 4, id="commit-failed"),
    ],
)
def test_whole_rollout_messages(
    server: RecordingServer, rhythm: str, success_rate: float, end: Phase, count: int
) -> None:
    """phase: initialized, run started, finished (or failed); commit: one per commit, with the
    alerts folded in (initialize, then the 9 steps of the run or scale-up, weight 10, rollback)."""
    rollout = Rollout(podinfo(), server.url, rhythm, success_rate)
    rollout.tick(REV_A)
    rollout.run_until(REV_B, {Phase.SUCCEEDED, Phase.FAILED})
    assert rollout.state.phase is end
    received = rollout.received(server)
    assert len(received) == count
    check_golden(f"rhythm-{rhythm}-{end.value.lower()}", received)


def test_commit_rhythm_is_one_message_per_commit(server: RecordingServer) -> None:
    rollout = Rollout(podinfo(), server.url)
    commits = 0
    rollout.tick(REV_A)
    for _ in range(40):
        before = rollout.state.step
        rollout.tick(REV_B)
        commits += rollout.state.step - before
        if rollout.state.phase is Phase.SUCCEEDED:
            break
    texts = rollout.received(server)
    assert len(texts) == commits + 1  # + initialize
    assert all("Committed " in t for t in texts)


def _gated(server: RecordingServer, rhythm: str) -> list[str]:
    """A refused traffic increase for 3 ticks at weight 10, then 2 ticks at weight 20."""
    canary = podinfo(webhooks=(*podinfo().analysis.webhooks, TRAFFIC_GATE))
    rollout = Rollout(canary, server.url, rhythm)
    rollout.tick(REV_A)
    while rollout.state.canary_weight < 10:
        rollout.tick(REV_B)
    rollout.refuse = {CTI}
    for _ in range(3):
        rollout.tick(REV_B)
    rollout.refuse = set()
    rollout.tick(REV_B)
    assert rollout.state.canary_weight == 20
    rollout.refuse = {CTI}
    for _ in range(2):
        rollout.tick(REV_B)
    return [t for t in rollout.received(server) if "traffic increase" in t]


@pytest.mark.parametrize(
    ("rhythm", "told"),
    [
        pytest.param("phase", 2, id="phase-tells-each-wait-once"),
        pytest.param("commit", 5, id="commit-tells-every-tick-as-flagger"),
    ],
)
def test_a_repeated_alert_is_told_once_per_wait(
    server: RecordingServer, rhythm: str, told: int
) -> None:
    assert len(_gated(server, rhythm)) == told


@pytest.mark.parametrize(
    ("config", "annotation", "committed"),
    [
        pytest.param("phase", "", False, id="config-phase"),
        pytest.param("commit", "", True, id="config-commit"),
        pytest.param("commit", "phase", False, id="annotation-phase-wins"),
        pytest.param("phase", "commit", True, id="annotation-commit-wins"),
    ],
)
def test_annotation_overrides_the_config(
    server: RecordingServer, config: str, annotation: str, committed: bool
) -> None:
    rollout = Rollout(replace(podinfo(), chat_rhythm=annotation), server.url, config)
    rollout.tick(REV_A)
    [text] = rollout.received(server)
    assert text.startswith("[info] New Deployment detected, initialization completed.")
    assert ("Committed " in text) is committed


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: test}
spec:
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec: {containers: [{name: podinfod, image: "ghcr.io/stefanprodan/podinfo:6.0.0"}]}
"""


def annotated(rhythm: str) -> str:
    return canary_yaml(namespace="test", annotations={"team": "payments",
                                                      "gitbot.io/chat-rhythm": rhythm})


def test_annotation_is_read_from_the_canary(tmp_path: Path) -> None:
    (tmp_path / "canary.yaml").write_text(annotated("phase"), encoding="utf-8")
    (tmp_path / "deployment.yaml").write_text(DEPLOYMENT, encoding="utf-8")
    specs = load_repository(tmp_path)
    assert not specs.problems and [c.chat_rhythm for c in specs.canaries] == ["phase"]


def test_bad_annotation_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "canary.yaml").write_text(annotated("hourly"), encoding="utf-8")
    specs = load_repository(tmp_path)
    assert not specs.canaries
    assert [str(p) for p in specs.problems] == [
        "canary.yaml:8: Canary test/podinfo: metadata.annotations.gitbot.io/chat-rhythm: must be "
        "commit or phase, got 'hourly'"
    ]


def test_config_key_and_its_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("git:\n  url: repo.git\nnotifications:\n  rhythm: phase\n", encoding="utf-8")
    assert load_settings(path).notifications.rhythm == "phase"
    path.write_text("git:\n  url: repo.git\nnotifications:\n  rhythm: daily\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"config.yaml:4: notifications.rhythm: Input "
                       r"should be 'commit' or 'phase'"):
        load_settings(path)


def test_reconcile_in_phase_rhythm_posts_the_alert_alone(tmp_path: Path) -> None:
    """Through the CLI: the config's rhythm reaches the Announcer, and the one pass delivers
    its queued message before the command returns."""
    dev = create_gitops_repo(tmp_path, options=CanaryOptions())
    with Inbox() as inbox:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"git:\n  url: {dev.remote}\n  workdir: {tmp_path / 'work'}\n"
            "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1\n"
            "chat:\n  type: slack\n  addressEnv: GITBOT_TEST_CHAT\n"
            "notifications:\n  rhythm: phase\n", encoding="utf-8")
        env = {"GITBOT_TEST_CHAT": f"{inbox.url}/hook"}
        result = CliRunner(env=env).invoke(cli, ["--config", str(config), "reconcile"])
        assert result.exit_code == 0, result.output
        posted = inbox.messages("/hook")
    assert [p["attachments"][0]["text"] for p in posted] == [
        "New Deployment detected, initialization completed."
    ]
