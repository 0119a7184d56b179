"""`gitbot reject` in push mode: refuses the promotion a confirm-promotion gate holds, and the
next tick rolls the run back (exit 2 once nothing waits)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import events, head, initialize

from gitbot.sim.gitops import IMAGE, CanaryOptions
from gitbot.sim.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]


def test_gitbot_reject_rolls_back_a_waiting_promotion(tmp_path: Path) -> None:
    options = CanaryOptions(
        max_weight=20,
        webhooks=[{"name": "promotion-gate", "type": "confirm-promotion", "url": "INBOX/halt"}],
    )
    with World(tmp_path, options=options) as world:
        world.inbox.status = 403  # the gate never opens by itself
        initialize(world)
        world.dev.release("6.0.1")
        world.run_until({"WaitingPromotion"})
        reject = [sys.executable, "-m", "gitbot", "--config", str(world.config_path),
                  "reject", "test/podinfo"]
        done = subprocess.run(reject, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "rejected the promotion of test/podinfo" in done.stdout
        world.run_until({"Failed"})
        assert "Rollback check gitbot reject passed" in events(world)
        assert world.gitbot_subjects()[-1].startswith(
            "podinfo.test: rollback: revert 3 commits (manual webhook invoked)")
        assert head(world).primary_image == f"{IMAGE}:6.0.0"
        again = subprocess.run(reject, capture_output=True, text=True, timeout=60)
        assert again.returncode == 2
        assert "nothing waits for a decision: test/podinfo is Failed" in again.stderr
