"""User-visible texts: commit messages, rollback subjects, alert fields, event wording and Go
number formatting. Whole texts are compared with golden files under tests/data/golden/messages/
(set GITBOT_UPDATE_GOLDEN=1 to rewrite them after a deliberate change, then review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_decide_common import AB, BLUE_GREEN, REV_A, REV_B, podinfo
from test_decide_flow import Driver

from gitbot.core import messages
from gitbot.core.commit_texts import (
    RevertOutcome,
    commit_message,
    format_commit,
    rollback_subject,
    rollback_written,
)
from gitbot.core.messages import alert_metadata, go_duration_ms, go_float
from gitbot.core.spec import Canary, WebhookType
from gitbot.core.state import Phase, RepoChange, RolloutState, Traffic

GOLDEN = Path(__file__).parent / "data" / "golden" / "messages"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GITBOT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


def _run_commits(canary: Canary, success_rate: float) -> str:
    driver = Driver(canary, success_rate=success_rate)
    driver.tick(REV_A)
    driver.run_until(REV_B, {Phase.SUCCEEDED, Phase.FAILED})
    texts = []
    for decision in driver.decisions:
        if decision.change is not None:
            parts = commit_message(canary, decision.change, decision.state)
            texts.append(format_commit(*parts))
    return "-----\n".join(texts)


@pytest.mark.parametrize(
    ("name", "canary", "success_rate"),
    [
        pytest.param("podinfo-success-run.txt", podinfo(), 99.9, id="canary-success"),
        pytest.param("podinfo-failed-run.txt", podinfo(), 70.0, id="canary-rollback"),
        pytest.param("blue-green-run.txt", BLUE_GREEN, 99.9, id="blue-green"),
        pytest.param("ab-run.txt", AB, 99.9, id="ab"),
    ],
)
def test_commit_messages_of_whole_runs(name: str, canary: Canary, success_rate: float) -> None:
    assert_golden(name, _run_commits(canary, success_rate))


def test_commit_message_parts() -> None:
    state = RolloutState(traffic=Traffic(80, 20), rollout_id="bbbbbbbbbbbb-1",
                         last_applied_spec=REV_B, step=4, failed_checks=1)
    change = RepoChange("advance", "advance canary weight 20", traffic=Traffic(80, 20))
    subject, body, trailers = commit_message(podinfo(), change, state)
    assert subject == "podinfo.test: advance canary weight 20"
    assert "20% of traffic" in body and "Failed checks: 1/5" in body
    assert trailers == (
        ("Gitbot-Canary", "test/podinfo"),
        ("Gitbot-Action", "advance"),
        ("Gitbot-Rollout", "bbbbbbbbbbbb-1"),
        ("Gitbot-Revision", REV_B),
        ("Gitbot-Weight", "20"),
        ("Gitbot-Step", "4"),
    )
    text = format_commit(subject, body, trailers)
    assert text.startswith(subject + "\n\n") and text.endswith("Gitbot-Step: 4\n")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        pytest.param(7, "podinfo.test: rollback: revert 7 commits "
                        "(failed checks threshold reached 5)", id="plural"),
        pytest.param(1, "podinfo.test: rollback: revert 1 commit "
                        "(failed checks threshold reached 5)", id="singular"),
    ],
)
def test_rollback_subject(n: int, expected: str) -> None:
    assert rollback_subject(podinfo(), n, "failed checks threshold reached 5") == expected


def test_rollback_commit_texts_golden() -> None:
    """The revert's subject, and each subject and body of a rollback gitbot wrote itself (the
    revert conflicted, changed nothing, found nothing, or needed a follow-up commit)."""
    state = RolloutState(phase=Phase.FAILED, rollout_id="bbbbbbbbbbbb-1", last_applied_spec=REV_B,
                         step=9, failed_checks=5)
    change = RepoChange("rollback", "rollback (failed checks threshold reached 5)",
                        traffic=Traffic(100, 0), target_replicas=0, revert=True,
                        reason="failed checks threshold reached 5")
    texts = [rollback_subject(podinfo(), 5, change.reason) + "\n"]
    for outcome in RevertOutcome:
        n = 0 if outcome is RevertOutcome.NOTHING_TO_REVERT else 5
        texts.append(format_commit(*rollback_written(podinfo(), change, state, n, outcome)))
    assert_golden("rollback-commits.txt", "-----\n".join(texts))


def test_rollback_written_subject_says_what_was_written() -> None:
    change = RepoChange("rollback", "rollback (x)", traffic=Traffic(100, 0), target_replicas=0,
                        revert=True, reason="x")
    subject, _, trailers = rollback_written(podinfo(), change, RolloutState(), 1,
                                            RevertOutcome.CONFLICTED)
    assert subject == (
        "podinfo.test: rollback: set traffic 100/0 and scale canary to 0 "
        "(revert of 1 commit conflicted)"
    )
    assert ("Gitbot-Action", "rollback") in trailers


def test_alert_metadata_golden() -> None:
    lines = []
    for label, canary in [("canary", podinfo()), ("blue-green", BLUE_GREEN), ("ab", AB),
                          ("step-weights", podinfo(step_weight=0, step_weights=(1, 5, 10)))]:
        fields = alert_metadata(canary, cluster="prod" if label == "canary" else "")
        lines.append(f"[{label}]")
        lines.extend(f"{title}: {value}" for title, value in fields)
    assert_golden("alert-metadata.txt", "\n".join(lines) + "\n")


def test_event_texts_golden() -> None:
    c = podinfo()
    texts = [
        messages.initialization_done(c), messages.new_revision(c),
        messages.restarting_analysis(c), messages.starting_analysis(c),
        messages.check_passed(WebhookType.PRE_ROLLOUT, "acceptance-test"),
        messages.check_passed(WebhookType.CONFIRM_TRAFFIC_INCREASE, "gate"),
        messages.advance_weight(c, 10), messages.advance_iteration(c, 1, 10),
        messages.advance_primary(c, 60), messages.copying_template(c),
        messages.ROUTE_ALL_TO_PRIMARY, messages.ROUTE_ALL_TO_CANARY,
        messages.STOP_MIRROR_ROUTE_TO_CANARY, messages.promotion_completed(c),
        messages.promotion_skipped(c), messages.rollback_not_signaled("rb"),
        messages.rollback_check_passed("rb"), messages.SUSPENDED,
        messages.halt_external_check(c, "load-test", "503"),
        messages.halt_pre_rollout(c, "acceptance-test", "500"),
        messages.halt_waiting_approval(c, "gate"), messages.halt_waiting_promotion(c, "gate"),
        messages.halt_waiting_traffic(c, "gate"), messages.rolling_back_threshold(c, 5),
        messages.rolling_back_manual(c), messages.rolling_back_deadline(c, "msg"),
        messages.canary_failed(c), messages.promotion_failed(c, "msg"),
        messages.halt_success_rate(c, 69.1666, "<", 99),
        messages.halt_request_duration(c, 512, ">", 500),
        messages.halt_custom_metric(c, "my metric", 91.571, ">", 10),
        messages.no_values_builtin(c, "request-success-rate"),
        messages.no_values_custom("my metric"), messages.no_values_inline("errors"),
        messages.metric_query_failed("my metric", "timeout"),
        messages.alert_initialized(c), messages.alert_threshold(5),
        messages.alert_deadline("msg"), messages.alert_promotion_failed("msg"),
    ]
    assert_golden("events.txt", "\n".join(texts) + "\n")


def test_seed_event_wording() -> None:
    c = podinfo()
    assert messages.advance_weight(c, 10) == "Advance podinfo.test canary weight 10"
    assert (messages.halt_success_rate(c, 69.17, "<", 99.0)
            == "Halt podinfo.test advancement success rate 69.17% < 99%")
    assert (messages.rolling_back_threshold(c, 5)
            == "Rolling back podinfo.test failed checks threshold reached 5")
    assert messages.canary_failed(c) == "Canary failed! Scaling down podinfo.test"
    assert messages.promotion_completed(c) == "Promotion completed! Scaling down podinfo.test"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(99.0, "99", id="integral"), pytest.param(99.5, "99.5", id="fraction"),
        pytest.param(0.0001, "0.0001", id="small"), pytest.param(1e-05, "1e-05", id="tiny"),
        pytest.param(123456.0, "123456", id="large"), pytest.param(1e6, "1e+06", id="exp"),
        pytest.param(1234567.0, "1.234567e+06", id="exp-digits"),
        pytest.param(-2.5, "-2.5", id="negative"), pytest.param(0.0, "0", id="zero"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        pytest.param(512, "512ms", id="ms"), pytest.param(1515, "1.515s", id="seconds"),
        pytest.param(2000, "2s", id="whole-seconds"), pytest.param(61500, "1m1.5s", id="min"),
        pytest.param(3_600_000, "1h0m0s", id="hour"), pytest.param(0, "0s", id="zero"),
    ],
)
def test_go_duration_ms(ms: int, text: str) -> None:
    assert go_duration_ms(ms) == text
