"""Pull-request titles and bodies: golden files under tests/data/pr_* pin each whole body
(GITBOT_UPDATE_GOLDEN=1 rewrites them), plus the pieces a reviewer relies on."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gitbot.core.pr_texts import (
    Delta,
    Promotion,
    StepLink,
    TickRecord,
    promotion_body,
    promotion_title,
    step_body,
    step_title,
)
from gitbot.core.spec import (
    Analysis,
    Canary,
    Metric,
    ObjectRef,
    ServiceSpec,
    ThresholdRange,
    WebhookType,
)
from gitbot.core.state import (
    HookResult,
    MetricResult,
    Phase,
    RepoChange,
    RolloutState,
    Traffic,
)

DATA = Path(__file__).parent / "data"
CANARY = Canary(
    name="podinfo", namespace="test", target=ObjectRef(name="podinfo", kind="Deployment"),
    service=ServiceSpec(port=9898),
    analysis=Analysis(step_weight=10, max_weight=30, threshold=5, metrics=(
        Metric("request-success-rate", threshold_range=ThresholdRange(min=99)),
        Metric("request-duration", threshold_range=ThresholdRange(max=500)),
    )),
)
STATE = RolloutState(phase=Phase.PROGRESSING, traffic=Traffic(80, 20), rollout_id="a1b2-3",
                     last_applied_spec="a1b2", step=4)
LOAD = HookResult("load-test", WebhookType.ROLLOUT, True, 200, "ok")


def _tick(time: str, weight: int, rate: float | None, latency: float, ok: bool = True,
          hooks: tuple[HookResult, ...] = (LOAD,)) -> TickRecord:
    return TickRecord(time, weight, (
        MetricResult("request-success-rate", rate, ok and rate is not None, ""),
        MetricResult("request-duration", latency, latency <= 500, ""),
    ), hooks)


TICKS = (
    _tick("2026-11-22T10:01:00Z", 10, 99.91, 212.5),
    _tick("2026-11-22T10:02:00Z", 20, 98.2, 240.0, ok=False),
    _tick("2026-11-22T10:03:00Z", 20, 99.5, 231.0),
    _tick("2026-11-22T10:04:00Z", 30, None, 250.0,
          hooks=(HookResult("load-test", WebhookType.ROLLOUT, False, None, "timeout"),)),
    _tick("2026-11-22T10:05:00Z", 30, 100.0, 199.9),
)
PROMOTION = Promotion(
    canary=CANARY, rollout_id="a1b2-3",
    deltas=(Delta("image of deployment/podinfo-primary (container podinfod)",
                  "ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.0.1"),
            Delta("configmap podinfo-config-primary key color", "blue", "green|teal")),
    ticks=TICKS,
    steps=(StepLink(2, "scale-up", 0, "#11"), StepLink(3, "advance", 10, "#12"),
           StepLink(4, "advance", 20, "https://github.com/acme/gitops/pull/13"),
           StepLink(5, "advance", 30, "4f2a9c1e0b7d")),
    approvals=2,
)


def assert_golden(name: str, text: str) -> None:
    path = DATA / name
    if os.environ.get("GITBOT_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


def test_traffic_step_body_golden() -> None:
    change = RepoChange("advance", "advance canary weight 20", traffic=Traffic(80, 20))
    assert step_title(CANARY, change) == "podinfo.test: advance canary weight 20"
    assert_golden("pr_step_advance.md", step_body(CANARY, change, STATE, TICKS[2]))


def test_rollback_body_golden() -> None:
    change = RepoChange("rollback", "rollback", traffic=Traffic(100, 0), revert=True,
                        reason="failed checks threshold reached 5")
    state = RolloutState(phase=Phase.FAILED, rollout_id="a1b2-3", step=9, failed_checks=5)
    body = step_body(CANARY, change, state, TICKS[1])
    assert "merges this pull request at once" in body
    assert_golden("pr_step_rollback.md", body)


def test_promotion_body_golden() -> None:
    assert promotion_title(CANARY) == "podinfo.test: promote canary to primary (review)"
    assert_golden("pr_promotion.md", promotion_body(PROMOTION))


def test_promotion_body_lists_every_tick_and_tells_how_to_decide() -> None:
    body = promotion_body(PROMOTION)
    table = [line for line in body.splitlines() if line.startswith("| 2026-11-22T")]
    assert len(table) == len(TICKS)
    assert table[1] == ("| 2026-11-22T10:02:00Z | 20% | 98.20% ❌ | 240.00ms ✅ | "
                        "load-test: passed (200) | fail |")
    assert "load-test: failed (no response)" in table[3] and "no data" in table[3]
    assert "`blue` | `green\\|teal`" in body  # a pipe cannot break the table
    for needed in ("`gitbot approve test/podinfo`", "`/gitbot promote`", "`/gitbot abort`",
                   "`gitbot reject test/podinfo`", "2 approving reviews"):
        assert needed in body


def test_the_charts_are_mermaid_xycharts_per_tick_with_data() -> None:
    body = promotion_body(PROMOTION)
    charts = re.findall(r"```mermaid\n(.*?)```", body, re.S)
    assert len(charts) == 2 and all(c.startswith("xychart-beta\n") for c in charts)
    rate, latency = charts
    assert "line [99.91, 98.20, 99.50, 100.00]" in rate  # the tick without data is left out
    assert 'x-axis ["1: 10%", "2: 20%", "3: 20%", "5: 30%"]' in rate
    assert 'y-axis "%" 97 --> 100' in rate
    assert "line [212.50, 240.00, 231.00, 250.00, 199.90]" in latency


def test_a_run_without_ticks_or_changes_still_reads_well() -> None:
    bare = Promotion(canary=CANARY, rollout_id="r-1", deltas=(), ticks=())
    body = promotion_body(bare)
    assert "No analysis tick was recorded for this run." in body
    assert "no request-success-rate or request-duration metric to chart" in body
    assert "No earlier step of this run landed." in body
    assert "1 approving review from people" in body
