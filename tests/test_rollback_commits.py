"""A failed run's rollback as it lands on a real remote: one revert commit when the run's commits
revert cleanly, and an honest direct write when a person's later change makes the revert
conflict. The whole commit messages are compared with a golden file (commit shas masked)."""

from __future__ import annotations

import re
from pathlib import Path

from test_messages import assert_golden
from test_state_rebuild import Rig, git

from gitbot.core.state import Phase, Traffic

SHA = re.compile(r"^- [0-9a-f]{12} ", re.MULTILINE)


def _rollback_message(rig: Rig) -> str:
    message = git(rig.dev.remote, "log", "-1", "--format=%B", "--grep=Gitbot-Action: rollback",
                  "main")
    return SHA.sub("- <sha> ", message) + "\n"


def test_rollback_commits_golden(tmp_path: Path) -> None:
    for name in ("clean", "conflicted"):
        (tmp_path / name).mkdir()
    clean = Rig.start(tmp_path / "clean", success_rate=70.0)
    clean.to_phase("failed")
    assert clean.head() == (Traffic(100, 0), 0)

    conflicted = Rig.start(tmp_path / "conflicted")
    conflicted.to_phase("progressing-20")
    conflicted.driver.success_rate = 70.0
    routing = "apps/podinfo/podinfo-routing.yaml"
    text = conflicted.dev.read(routing)
    edited = text.replace("weight: 80", "weight: 75").replace("weight: 20", "weight: 25")
    conflicted.dev.commit_files({routing: edited}, "Give the canary a little more")
    conflicted.until(lambda s: s.phase is Phase.FAILED)
    assert conflicted.head() == (Traffic(100, 0), 0)

    assert_golden("rollback-real-commits.txt",
                  _rollback_message(clean) + "-----\n" + _rollback_message(conflicted))
