"""`gitbot reject` in push mode: refuses the promotion a confirm-promotion gate holds, and the
next tick rolls the run back (exit 2 once nothing waits)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import events, gitbot, head, waiting_at_the_gate

from gitbot.sim.gitops import IMAGE

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]


def test_gitbot_reject_rolls_back_a_waiting_promotion(tmp_path: Path) -> None:
    with waiting_at_the_gate(tmp_path) as world:
        done = gitbot(world, "reject", "test/podinfo")
        assert done.returncode == 0, done.stderr
        assert "rejected the promotion of test/podinfo" in done.stdout
        world.run_until({"Failed"})
        assert "Rollback check gitbot reject passed" in events(world)
        assert world.gitbot_subjects()[-1].startswith(
            "podinfo.test: rollback: revert 3 commits (manual webhook invoked)")
        assert head(world).primary_image == f"{IMAGE}:6.0.0"
        again = gitbot(world, "reject", "test/podinfo")
        assert again.returncode == 2
        assert "nothing waits for a decision: test/podinfo is Failed" in again.stderr
