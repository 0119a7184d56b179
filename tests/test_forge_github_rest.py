"""The GitHub forge against GitHub's documented REST behaviour (the test server answers as
GitHub does; each case names the page): listed pull requests without `merged`, rate limits,
merge refusals, pagination, dismissed reviews, branches GitHub deletes itself."""

from __future__ import annotations

from pathlib import Path

from forgerig import make_rig

from gitbot.adapters.forges import PRState


def test_find_reads_a_merged_pull_request_from_one_list_request(tmp_path: Path) -> None:
    """https://docs.github.com/en/rest/pulls/pulls#list-pull-requests: a listed PR has
    `merged_at` but no `merged` or `mergeable`."""
    with make_rig("github", tmp_path) as rig:
        assert rig.api is not None
        sha = rig.commit(1, "advance")
        proposal = rig.driver.propose("test/podinfo", 1, "advance", sha, "advance 1", "b")
        merged = rig.driver.advance(proposal.pr, "advance", fresh=True, gitbot_sha=sha)
        before = rig.api.count()
        found = rig.forge.find(proposal.pr.branch)
        assert found is not None and found.state is PRState.MERGED
        assert found.merged_sha == merged.merged_sha and found.head_sha == sha
        made = rig.api.requests[before:]
        assert [(c.method, c.path) for c in made] == [("GET", "/repos/acme/gitops/pulls")]
        assert made[0].query["head"] == [f"acme:{proposal.pr.branch}"]
        assert rig.forge.get(found).mergeable is None  # merged: GitHub computes nothing
