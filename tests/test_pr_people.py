"""People's commits meeting gitbot's open pull request, on both forges (the local forge on a
plain Git remote, and GitHub through the API test server over real HTTP), with gitbot's real app,
real remotes and the stand-in Prometheus:

- a person's push to main that conflicts with the waiting step PR supersedes it: the PR is
  closed with a comment naming the commit, the step is proposed again from the new main on a new
  branch, and the person's commit stays;
- a push that changes what gitbot manages supersedes it too, and the drift rules decide (here:
  halt until the values are restored), judged against what is merged;
- a waiting step PR is never a drift by itself, and a new revision mid-run supersedes it;
- a person's commit pushed onto gitbot's PR branch is kept in the merge and reported (event and
  chat naming author and commit);
- `/gitbot pause` holds a waiting step PR (not merged even once green) until `/gitbot resume`;
  both are told once (Flagger's suspended event, then gitbot's resuming event).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prfast import ROUTING, FastPR, fast_pr, git

from gitbot.adapters.forges import PRState, PullRequest

FORGES = [pytest.param("local", id="local"), pytest.param("github", id="github")]


def _at_weight(rig: FastPR, weight: int) -> None:
    rig.reconcile()  # initialize
    rig.dev.release("6.0.1")
    rig.until(lambda: rig.state().canary_weight == weight and rig.state().pending is None)


def _waiting_step(rig: FastPR) -> None:
    """The weight-20 step's PR is opened and recorded, not merged (the pass stopped there)."""
    _at_weight(rig, 10)
    rig.stop_at("after-open")
    ref = rig.state().pull_request
    assert ref is not None and ref.action == "advance" and ref.number
    assert rig.state().pending is not None


def _main(rig: FastPR) -> list[str]:
    rig.dev.pull()
    return git(rig.dev.clone, "log", "--first-parent", "--format=%s", "main").splitlines()


def _drift_events(rig: FastPR) -> list[str]:
    return [e for e in rig.events() if "halt" in e.lower() or "changed" in e.lower()]


@pytest.mark.parametrize("kind", FORGES)
def test_a_conflicting_push_to_main_supersedes_the_step_pr_which_is_proposed_again(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        _waiting_step(rig)
        old = rig.open_pr()
        text = rig.dev.read(ROUTING)
        noted = re.sub(r"(weight: \d+)", r"\1  # set by gitbot", text)
        sha = rig.dev.commit_files({ROUTING: noted}, "routing: say who sets the weights")
        rig.reconcile()

        assert rig.driver.forge.find(old.branch).state is PRState.CLOSED  # type: ignore[union-attr]
        comment = rig.comments(old)[-1]
        assert comment.startswith(
            f'Superseded by {sha[:12]} (Dana Developer: "routing: say who sets the weights"), '
            "pushed to `main`; it conflicts with this change. gitbot never force-pushes over a "
            "person's commit: it proposed step "), comment
        assert re.search(r"from the new `main` as #\d+", comment), comment
        state = rig.state()
        assert state.pending is None and state.canary_weight >= 20 and state.drift == ""
        subjects = _main(rig)
        person = subjects.index("routing: say who sets the weights")  # kept, never forced over
        assert subjects[person - 1].startswith("podinfo.test: advance canary weight 20 (#")
        assert len(re.findall(r"weight: \d+  # set by gitbot", rig.dev.read(ROUTING))) == 2
        again = rig.driver.forge.find(old.branch + "-r2")  # a new branch, never forced over
        assert again is not None and again.state is PRState.MERGED
        assert not _drift_events(rig)


@pytest.mark.parametrize("kind", FORGES)
def test_a_push_changing_the_weights_supersedes_the_step_pr_and_halts(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        _waiting_step(rig)
        old = rig.open_pr()
        sha = rig.set_weights(50, 50, "hold podinfo at half")
        rig.reconcile()

        assert rig.driver.forge.find(old.branch).state is PRState.CLOSED  # type: ignore[union-attr]
        comment = rig.comments(old)[-1]
        assert comment == (
            f'Superseded by {sha[:12]} (Dana Developer: "hold podinfo at half"), pushed to '
            "`main`: it changes what gitbot manages (traffic primary 50% canary 50% (gitbot "
            "declared primary 90% canary 10%)). gitbot does not merge this pull request over "
            "it; gitbot halts the canary (no commit, no analysis) until the branch declares "
            "gitbot's values again, then proposes the step anew.")
        state = rig.state()
        assert (state.pending, state.pull_request, state.canary_weight) == (None, None, 10)
        assert state.drift and state.phase.value == "Progressing"
        halts = _drift_events(rig)
        assert len(halts) == 1 and sha[:12] in halts[0], halts
        assert any("a person changed what gitbot manages" in c for c in rig.chat())
        rig.reconcile()  # told once, nothing proposed while halted
        assert _drift_events(rig) == halts and rig.state().pull_request is None
        assert _main(rig)[0] == "hold podinfo at half"

        rig.set_weights(90, 10, "back to what gitbot declared")
        rig.until(lambda: rig.state().canary_weight == 20 and rig.state().pending is None)
        assert _main(rig)[0].startswith("podinfo.test: advance canary weight 20 (#")


@pytest.mark.parametrize("kind", FORGES)
def test_a_waiting_step_pr_is_no_drift_and_a_new_revision_supersedes_it(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        _waiting_step(rig)
        pr = rig.open_pr()
        rig.red_check(pr)
        for _ in range(2):  # the step waits on its red check: main still says 90/10
            rig.reconcile()
            state = rig.state()
            assert state.pending is not None and state.pull_request is not None
            assert state.drift == "" and not _drift_events(rig)
        rig.dev.release("6.0.5")
        rig.reconcile()

        assert rig.driver.forge.find(pr.branch).state is PRState.CLOSED  # type: ignore[union-attr]
        comment = rig.comments(pr)[-1]
        assert re.match(r"Superseded by #\d+ .*\(restart analysis for new revision\)", comment)
        assert _main(rig)[0].startswith("podinfo.test: restart analysis for new revision (#")
        assert not _drift_events(rig) and rig.state().drift == ""
        assert rig.state().canary_weight == 0


@pytest.mark.parametrize("kind", FORGES)
def test_a_persons_commit_on_the_pr_branch_is_kept_and_reported(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        _waiting_step(rig)
        pr = rig.open_pr()
        sha = rig.push_onto(pr.branch, "apps/podinfo/NOTES.md", "why 20%\n", "notes: why 20%")
        rig.reconcile()

        assert rig.state().pending is None and rig.state().canary_weight >= 20
        rig.dev.pull()
        git(rig.dev.clone, "merge-base", "--is-ancestor", sha, "origin/main")  # kept
        assert rig.dev.read("apps/podinfo/NOTES.md") == "why 20%\n"
        told = (f'Pull request #{pr.number} merged with dana\'s commit {sha[:12]} "notes: why '
                "20%\" pushed onto gitbot's branch (kept, not force-pushed away)")
        assert told in rig.events()
        assert any(told in c for c in rig.chat()), rig.chat()


@pytest.mark.parametrize("kind", FORGES)
def test_pause_holds_a_waiting_step_pr_until_resume(tmp_path: Path, kind: str) -> None:
    with fast_pr(tmp_path, kind) as rig:
        _waiting_step(rig)
        pr = rig.open_pr()
        rig.red_check(pr)
        rig.comment(pr, "/gitbot pause", user="dana")
        rig.reconcile()
        ref = rig.state().pull_request
        assert ref is not None and ref.paused
        assert rig.events().count("skipping canary run as object is suspended") == 1
        rig.green_check(pr)
        rig.reconcile()  # green, but paused: not merged, not told again
        assert rig.state().pending is not None and rig.state().canary_weight == 20
        assert not any("weight 20" in s for s in _main(rig))
        assert rig.events().count("skipping canary run as object is suspended") == 1
        rig.comment(pr, "/gitbot resume", user="dana")
        rig.reconcile()
        assert any(s.startswith("podinfo.test: advance canary weight 20 (#") for s in _main(rig))
        assert rig.events().count(_resuming(pr)) == 1


def _resuming(pr: PullRequest) -> str:
    return f"Resuming podinfo.test advancement: /gitbot resume on pull request #{pr.number}"


def test_resume_on_a_red_step_pr_is_told_once_and_it_merges_once_green(tmp_path: Path) -> None:
    with fast_pr(tmp_path, "local", events=True) as rig:
        _waiting_step(rig)
        pr = rig.open_pr()
        rig.red_check(pr)
        rig.comment(pr, "/gitbot pause", user="dana")
        rig.reconcile()
        rig.comment(pr, "/gitbot resume", user="dana")
        rig.reconcile()  # resumed, still red: waits
        ref = rig.state().pull_request
        assert ref is not None and not ref.paused and rig.state().pending is not None
        assert rig.events().count(_resuming(pr)) == 1
        assert rig.posted_events().count(_resuming(pr)) == 1, rig.posted_events()
        rig.reconcile()
        assert rig.events().count(_resuming(pr)) == 1  # told once
        assert rig.posted_events().count(_resuming(pr)) == 1
        assert rig.posted_events().count("skipping canary run as object is suspended") == 1
        rig.green_check(pr)
        rig.reconcile()
        assert any(s.startswith("podinfo.test: advance canary weight 20 (#") for s in _main(rig))
        assert rig.events().count(_resuming(pr)) == 1
