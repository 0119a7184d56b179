"""A restart in the middle of a step proposed again, on both forges (the local forge on a plain
Git remote, and GitHub through the API test server over real HTTP), with gitbot's real app, real
remotes and the stand-in Prometheus.

A person's push to main conflicts with the waiting step PR, so gitbot proposes the step again on
`...-r2` and closes the old PR with a comment linking the new one. The pass stops (as a killed
process would) at each point of that sequence; the next pass must leave exactly: the old PR
closed with that comment once, the `-r2` PR merged, no third PR, the person's commit kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prfast import NOTE_SUBJECT, FastPR, fast_pr

from gitbot.adapters.forges import PRState, PullRequest
from gitbot.core.drift import PersonCommit
from gitbot.core.pr_supersede import superseded_comment


def _comment(sha: str, again: PullRequest, step: int) -> str:
    """The comment closing the old PR: the person's commit, and the PR proposed again."""
    return superseded_comment(
        "main", PersonCommit(sha, "Dana Developer", NOTE_SUBJECT), conflict=True,
        replacement=f"#{again.number} {again.url}".rstrip(),
        step=f"step {step} (advance canary weight 20)")


def _superseded(rig: FastPR, pr: PullRequest) -> list[str]:
    return [c for c in rig.comments(pr) if c.startswith("Superseded by ")]


@pytest.mark.parametrize(("kind", "point", "commented", "old_open"), [
    pytest.param("local", "after-commit", False, True, id="local-recorded-not-pushed"),
    pytest.param("local", "after-open", False, True, id="local-opened-old-still-open"),
    pytest.param("local", "after-open", True, True, id="local-commented-not-closed"),
    pytest.param("local", "after-supersede", False, False, id="local-old-closed-not-merged"),
    # GitHub closes by a comment then a PATCH: a crash can fall between them
    pytest.param("github", "after-open", False, True, id="github-opened-old-still-open"),
    pytest.param("github", "after-open", True, True, id="github-commented-not-closed"),
])
def test_a_restart_closes_the_superseded_pr_once_and_merges_the_step_proposed_again(
    tmp_path: Path, kind: str, point: str, commented: bool, old_open: bool,
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        old = rig.waiting_step()  # the weight-20 step's PR waits
        sha = rig.note_weights()  # a person's push to main conflicting with it
        rig.stop_at(point)
        ref = rig.state().pull_request
        assert ref is not None and ref.branch == old.branch + "-r2"  # recorded before opening
        assert (rig.pr_state(old.branch) is PRState.OPEN) is old_open
        if commented:  # the crash came between the closing comment and the close
            again = rig.driver.forge.find(ref.branch)
            assert again is not None
            rig.driver.forge.comment(old, _comment(sha, again, ref.step))

        rig.reconcile()  # the restart

        again = rig.driver.forge.find(old.branch + "-r2")
        assert again is not None and again.state is PRState.MERGED
        assert rig.driver.forge.find(old.branch + "-r3") is None  # never a third PR
        assert rig.pr_state(old.branch) is PRState.CLOSED
        told = _superseded(rig, old)
        assert told == [_comment(sha, again, ref.step)], told
        rig.reconcile()  # nothing left to close: told once
        assert _superseded(rig, old) == told
        subjects = rig.mainline()
        person = subjects.index(NOTE_SUBJECT)  # kept, never forced over
        assert subjects[person - 1].startswith("podinfo.test: advance canary weight 20 (#")
        assert sum(s.startswith("podinfo.test: advance canary weight 20") for s in subjects) == 1
