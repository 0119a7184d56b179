"""People's commits meeting gitbot's open pull request, on both forges (the local forge on a
plain Git remote, and GitHub through the API test server over real HTTP), with gitbot's real app,
real remotes and the stand-in Prometheus:

- a person's push to main that conflicts with the waiting step PR supersedes it: the PR is
  closed with a comment naming the commit, the step is proposed again from the new main on a new
  branch, and the person's commit stays;
- a push that changes what gitbot manages supersedes it too, and the drift rules decide (here:
  halt until the values are restored), judged against what is merged;
- a waiting step PR is never a drift by itself, and a new revision mid-run supersedes it, as it
  supersedes a waiting promotion PR;
- a person's commit pushed onto gitbot's PR branch is kept in the merge and reported (event and
  chat naming author and commit);
- `/gitbot pause` holds a waiting step PR (not merged even once green) until `/gitbot resume`;
  both are told once (Flagger's suspended event, then gitbot's resuming event).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prfast import NOTE_SUBJECT, ROUTING, FastPR, conflicting, fast_pr, git, resuming

from gitbot.adapters.forges import PRState

FORGES = [pytest.param("local", id="local"), pytest.param("github", id="github")]
LINK = {"local": "", "github": r" https://github\.test/acme/gitops/pull/\d+"}  # after "#N"


def _drift_events(rig: FastPR) -> list[str]:
    return [e for e in rig.events() if "halt" in e.lower() or "changed" in e.lower()]


@pytest.mark.parametrize("kind", FORGES)
def test_a_conflicting_push_to_main_supersedes_the_step_pr_which_is_proposed_again(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        old = rig.waiting_step()
        sha = rig.note_weights()
        rig.reconcile()

        comment = rig.superseded(old)
        assert comment.startswith(
            f'{conflicting(sha, NOTE_SUBJECT)} gitbot never force-pushes over a person\'s commit: '
            "it proposed step "), comment
        assert re.search(r"from the new `main` as #\d+", comment), comment
        state = rig.state()
        assert state.pending is None and state.canary_weight >= 20 and state.drift == ""
        subjects = rig.mainline()
        person = subjects.index(NOTE_SUBJECT)  # kept, never forced over
        assert subjects[person - 1].startswith("podinfo.test: advance canary weight 20 (#")
        assert len(re.findall(r"weight: \d+  # set by gitbot", rig.dev.read(ROUTING))) == 2
        assert rig.pr_state(old.branch + "-r2") is PRState.MERGED  # a new branch, never forced
        assert not _drift_events(rig)



@pytest.mark.parametrize("kind", FORGES)
def test_a_push_changing_the_weights_supersedes_the_step_pr_and_halts(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        old = rig.waiting_step()
        sha = rig.set_weights(50, 50, "hold podinfo at half")
        rig.reconcile()

        comment = rig.superseded(old)
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
        assert rig.mainline()[0] == "hold podinfo at half"

        rig.set_weights(90, 10, "back to what gitbot declared")
        rig.until(lambda: rig.state().canary_weight == 20 and rig.state().pending is None)
        assert rig.mainline()[0].startswith("podinfo.test: advance canary weight 20 (#")


@pytest.mark.parametrize("kind", FORGES)
def test_a_waiting_step_pr_is_no_drift_and_a_new_revision_supersedes_it(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        pr = rig.waiting_step()
        rig.red_check(pr)
        for _ in range(2):  # the step waits on its red check: main still says 90/10
            rig.reconcile()
            state = rig.state()
            assert state.pending is not None and state.pull_request is not None
            assert state.drift == "" and not _drift_events(rig)
        rig.dev.release("6.0.5")
        rig.reconcile()

        comment = rig.superseded(pr)
        assert re.match(rf"Superseded by #\d+{LINK[kind]} \(restart analysis for new revision\)",
                        comment), comment
        assert rig.mainline()[0].startswith("podinfo.test: restart analysis for new revision (#")
        assert not _drift_events(rig) and rig.state().drift == ""
        assert rig.state().canary_weight == 0


@pytest.mark.parametrize("kind", FORGES)
def test_a_new_revision_supersedes_the_waiting_promotion(tmp_path: Path, kind: str) -> None:
    with fast_pr(tmp_path, kind) as rig:
        old = rig.waiting_promotion()
        rig.dev.release("6.0.5")
        rig.reconcile()
        comment = rig.superseded(old)
        assert re.match(rf"Superseded by #\d+{LINK[kind]} \(restart analysis for new revision\)",
                        comment), comment
        rig.until(lambda: rig.phase() == "WaitingPromotion")
        assert rig.open_pr().number > old.number
        assert rig.state().drift == ""


@pytest.mark.parametrize("kind", FORGES)
def test_a_persons_commit_on_the_pr_branch_is_kept_and_reported(
    tmp_path: Path, kind: str
) -> None:
    with fast_pr(tmp_path, kind) as rig:
        pr = rig.waiting_step()
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
        pr = rig.waiting_step()
        rig.red_check(pr)
        rig.comment(pr, "/gitbot pause", user="dana")
        rig.reconcile()
        ref = rig.state().pull_request
        assert ref is not None and ref.paused
        assert rig.events().count("skipping canary run as object is suspended") == 1
        rig.green_check(pr)
        rig.reconcile()  # green, but paused: not merged, not told again
        assert rig.state().pending is not None and rig.state().canary_weight == 20
        assert not any("weight 20" in s for s in rig.mainline())
        assert rig.events().count("skipping canary run as object is suspended") == 1
        rig.comment(pr, "/gitbot resume", user="dana")
        rig.reconcile()
        assert any(s.startswith("podinfo.test: advance canary weight 20 (#")
                   for s in rig.mainline())
        assert rig.events().count(resuming(pr)) == 1


def test_resume_on_a_red_step_pr_is_told_once_and_it_merges_once_green(tmp_path: Path) -> None:
    with fast_pr(tmp_path, "local", events=True) as rig:
        pr = rig.waiting_step()
        rig.red_check(pr)
        rig.comment(pr, "/gitbot pause", user="dana")
        rig.reconcile()
        rig.comment(pr, "/gitbot resume", user="dana")
        rig.reconcile()  # resumed, still red: waits
        ref = rig.state().pull_request
        assert ref is not None and not ref.paused and rig.state().pending is not None
        assert rig.events().count(resuming(pr)) == 1
        assert rig.posted_events().count(resuming(pr)) == 1, rig.posted_events()
        rig.reconcile()
        assert rig.events().count(resuming(pr)) == 1  # told once
        assert rig.posted_events().count(resuming(pr)) == 1
        assert rig.posted_events().count("skipping canary run as object is suspended") == 1
        rig.green_check(pr)
        rig.reconcile()
        assert any(s.startswith("podinfo.test: advance canary weight 20 (#")
                   for s in rig.mainline())
        assert rig.events().count(resuming(pr)) == 1
