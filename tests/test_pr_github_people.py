"""Whole rollouts in pull-request mode against the GitHub API test server (real HTTP, a real bare
repository behind it, gitbot's real app, the stand-in Prometheus): `/gitbot pause` and `/gitbot
resume` comments count only from people with write access (asked through the collaborator
permission endpoint, GitHub's shape; the resume is told once), a secondary rate limit (403,
then 429, with Retry-After) mid-rollout is waited out with a clear log line, a spent primary
budget makes the canary wait with a clear message and no request until the reset, an
auto-merged step costs at most four requests, and a push to main that conflicts with the waiting
promotion supersedes it at once (GitHub says the PR is not mergeable; the local forge finds the
conflict only when it merges) by a new promotion PR that waits for review again. A new revision
superseding a waiting promotion behaves alike on both forges: tests/test_pr_people.py.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from prfast import BOT, PRIMARY, FastPR, conflicting, fast_pr, resuming

from gitbot.adapters.forges import PRState

AUTO = "pullRequests:\n  review: []\n"  # every PR is merged by gitbot: the budget of a step


def _permission_asked(rig: FastPR, user: str) -> int:
    return rig.github.count("GET", f"/repos/acme/gitops/collaborators/{user}/permission")


def test_pause_and_resume_comments_count_only_from_people_with_write_access(
    tmp_path: Path,
) -> None:
    with fast_pr(tmp_path, "github") as rig:
        pr = rig.waiting_promotion()
        rig.comment(pr, "/gitbot pause", user="eve")  # read access: ignored
        rig.reconcile()
        ref = rig.state().pull_request
        assert ref is not None and not ref.paused
        assert _permission_asked(rig, "eve") == 1

        rig.comment(pr, "/gitbot pause", user="max")  # maintain: GitHub answers "write"
        rig.reconcile()
        ref = rig.state().pull_request
        assert ref is not None and ref.paused
        assert "skipping canary run as object is suspended" in rig.events()
        rig.approve(pr, user="dana")
        rig.reconcile()  # approved, but paused: nothing merges
        assert rig.phase() == "WaitingPromotion"
        assert rig.pr_state(pr.branch) is PRState.OPEN

        rig.comment(pr, "/gitbot resume", user="eve")  # ignored: still paused
        rig.reconcile()
        assert rig.phase() == "WaitingPromotion"
        rig.comment(pr, "/gitbot resume", user="dana")
        rig.until(lambda: rig.phase() == "Succeeded")
        assert rig.events().count(resuming(pr)) == 1  # told once, like the pause
        assert rig.pr_state(pr.branch) is PRState.MERGED
        assert _permission_asked(rig, "eve") == 1  # asked once per person, then remembered
        assert not any(c.method == "POST" and c.path.endswith("/reviews") and c.user == BOT
                       for c in rig.github.requests)  # gitbot never reviews its own PR


def test_a_secondary_rate_limit_mid_rollout_is_waited_out_and_the_rollout_completes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with fast_pr(tmp_path, "github", extra=AUTO) as rig:
        api = rig.github
        rig.release()
        rig.until(lambda: rig.state().canary_weight == 20)
        api.throttle(403, retry_after=1)
        api.throttle(429, retry_after=1)
        with caplog.at_level(logging.WARNING, logger="gitbot.forge"):
            reports = rig.until(lambda: rig.phase() == "Succeeded")
        assert all(not t.error for r in reports for t in r.ticks)  # no failed tick, no crash
        assert [c.status for c in api.requests if c.status in (403, 429)] == [403, 429]
        lines = [r.getMessage() for r in caplog.records]
        assert any(line.startswith("GitHub secondary rate limit (403, Retry-After 1s) while ")
                   for line in lines), lines
        assert any(line.startswith("GitHub secondary rate limit (429, Retry-After 1s) while ")
                   for line in lines), lines
        branches = [p["head"] for p in api.model.pulls.values()]
        assert len(branches) == len(set(branches))  # a refused create was never duplicated


def test_an_auto_merged_step_costs_at_most_four_requests(tmp_path: Path) -> None:
    with fast_pr(tmp_path, "github", extra=AUTO) as rig:
        api = rig.github
        rig.release()
        costs = []
        for _ in range(20):
            before = api.count()
            report = rig.reconcile()
            if report.ticks[0].commit:
                made = [f"{c.method} {c.path}" for c in api.requests[before:]]
                costs.append(made)
            if rig.phase() == "Succeeded":
                break
        assert rig.phase() == "Succeeded" and len(costs) >= 8
        assert all(len(made) <= 4 for made in costs), costs


def test_a_spent_budget_makes_the_canary_wait_with_a_clear_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with fast_pr(tmp_path, "github", extra=AUTO) as rig:
        api = rig.github
        rig.release()
        rig.until(lambda: rig.state().canary_weight == 10)
        api.spend_budget(reset_in=4)
        reset = api.rate_reset
        with caplog.at_level(logging.WARNING, logger="gitbot.reconciler"):
            report = rig.reconcile()
        error = report.ticks[0].error
        assert error.startswith("GitHub API budget spent (X-RateLimit-Remaining 0) before ")
        assert "the canary waits and gitbot tries again then" in error
        assert any(r.levelname == "WARNING" and "waits: GitHub API budget spent" in r.getMessage()
                   for r in caplog.records)
        assert not any("weight 20" in s for s in rig.dev.log_subjects())  # the step waits
        sent = api.count()
        rig.reconcile()
        if time.time() < reset:  # before the reset, not a single request is sent
            assert api.count() == sent
        deadline = time.monotonic() + 60
        while rig.phase() != "Succeeded":  # after the reset the rollout goes on to the end
            assert time.monotonic() < deadline, rig.events()[-4:]
            rig.reconcile()
            time.sleep(0.5)
        assert api.rate_remaining > 0


def test_a_conflicting_push_supersedes_the_promotion_which_waits_for_review_again(
    tmp_path: Path,
) -> None:
    with fast_pr(tmp_path, "github") as rig:
        old = rig.waiting_promotion()
        text = rig.dev.read(PRIMARY)
        image = next(line for line in text.splitlines() if "image:" in line)
        sha = rig.dev.commit_files({PRIMARY: text.replace(image, image + "  # pinned by hand")},
                                   "primary: note the pin")
        rig.reconcile()

        comment = rig.superseded(old)
        assert comment.startswith(conflicting(sha, "primary: note the pin")), comment
        new = rig.open_pr()
        assert new.branch == old.branch + "-r2" and f"as #{new.number} " in comment
        assert rig.phase() == "WaitingPromotion" and rig.state().drift == ""
        assert any(f"pull request #{new.number}" in e for e in rig.events())  # waits again
        rig.approve(new, user="dana")
        rig.until(lambda: rig.phase() == "Succeeded")
        primary = rig.dev.read(PRIMARY)
        assert "podinfo:6.0.1  # pinned by hand" in primary  # the person's line, updated


def test_an_approved_promotion_behind_a_strictly_protected_main_is_proposed_again(
    tmp_path: Path,
) -> None:
    """GitHub's "require branches to be up to date" protection: after an unrelated push to
    main the approved promotion's merge is refused (409 "Head branch is out of date"); gitbot
    proposes it again from the new main (-r2), which waits for review again and then lands."""
    with fast_pr(tmp_path, "github") as rig:
        assert rig.api is not None
        rig.api.model.strict = True
        old = rig.waiting_promotion()
        rig.dev.commit_files({"NOTES.md": "release notes\n"}, "notes for the release")
        rig.approve(old, user="dana")
        before = rig.api.count()
        rig.reconcile()
        merges = [c.status for c in rig.api.requests[before:] if c.method == "PUT"]
        assert merges == [409]
        assert rig.driver.forge.find(old.branch).state is PRState.CLOSED  # type: ignore[union-attr]
        new = rig.open_pr()
        assert new.branch == old.branch + "-r2" and rig.phase() == "WaitingPromotion"
        rig.approve(new, user="dana")
        rig.until(lambda: rig.phase() == "Succeeded")
        assert rig.dev.read("NOTES.md") == "release notes\n"
