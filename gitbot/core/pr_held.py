"""Pull-request mode: a step PR that GitHub will not merge until a required check reports
(pure).

GitHub says `mergeable_state: "blocked"` and refuses the merge (405 'Required status check
"ci" is expected.') while a check its branch protection requires has not reported on the PR
head. No tick can merge it before the check reports, so the driver (`gitbot.pullrequests`)
remembers where GitHub refused (`held_key`: the head and the checks reported on it) and asks
again only once they changed or GitHub no longer says "blocked"; the landing
(`gitbot.landing_pr`) tells it once, in the log and on the PR (`held_comment`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def held_key(head: str, reported: Sequence[str]) -> str:
    """`<head>:<digest of the checks reported on it>`: where GitHub refused the merge."""
    digest = hashlib.sha256("\n".join(sorted(reported)).encode()).hexdigest()[:12]
    return f"{head}:{digest}"


def same_head(held: str, other: str) -> bool:
    """Both keys name the same PR head (a check reported since: told already)."""
    return bool(held) and held.split(":", 1)[0] == other.split(":", 1)[0]


def held_reason(told: str = "") -> str:
    """Why the PR waits (its `Progress.reason`; with GitHub's answer when it refused)."""
    github = f" (GitHub: {told.strip()})" if told else ""
    return (f"a required check has not reported{github}; gitbot does not ask GitHub to merge "
            "again until the checks change")


def held_comment(base: str, told: str) -> str:
    """The comment on the PR, once per head."""
    return (f"gitbot cannot merge this pull request yet: the branch protection of `{base}` "
            f"requires a check that has not reported on this head (GitHub: {told.strip()}). "
            "The canary keeps its current weight until it does: gitbot asks GitHub to merge "
            "again only when a check reports, and merges once the required checks are green.")
