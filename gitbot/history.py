"""Read gitbot's own commits back from the branch history by their trailers.

Called by the reconciler (resume a pending step, find a run's commits for the rollback, rebuild
a lost state) and by the observer (which commit the cluster must have applied). History is read
newest first in growing pages until what is looked for is found, never through a fixed window:
a canary whose last gitbot commit lies behind thousands of other commits is still found.
A source that indexes commits by canary (`KeyedLogSource`: `gitbot.history_index`) answers a
lookup for one canary by looking at that canary's commits only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol, runtime_checkable

from gitbot.adapters.git import CommitInfo
from gitbot.core.recovery import GitbotCommit, enough_history

FIRST_PAGE = 300
GROWTH = 4
BODY_FACTS = ("Phase", "Iterations")


class LogSource(Protocol):
    """The part of `GitWorkspace` history reading needs."""

    def log(self, max_count: int = 200, since_sha: str | None = None) -> list[CommitInfo]: ...


@runtime_checkable
class KeyedLogSource(LogSource, Protocol):
    """A `LogSource` that knows which of its commits carry each canary's trailer."""

    def walk_key(self, key: str, stop: Callable[[CommitInfo], bool]) -> list[CommitInfo]: ...


def trailer(commit: CommitInfo, key: str) -> str:
    """The last value of a trailer, or ""."""
    values = commit.trailers.get(key) or []
    return values[-1] if values else ""


def is_for(commit: CommitInfo, key: str, cluster: str | None = None) -> bool:
    """True for a commit gitbot made for canary `key` (of Flux cluster `cluster`, when given).

    Asked of every commit back to the canary's last one, by every tick (a busy pass of N
    canaries: N ticks x N commits, several times each), hence the inlined first lookup."""
    values = commit.trailers.get("Gitbot-Canary")
    if not values or values[-1] != key:
        return False
    return cluster is None or trailer(commit, CLUSTER_TRAILER) in ("", cluster)


def walk(source: LogSource, stop: Callable[[CommitInfo], bool], key: str | None = None
         ) -> list[CommitInfo]:
    """Commits newest first, down to and including the first one `stop` accepts (all if none).

    `key`: `stop` accepts no commit but one gitbot made for canary `key` (`is_for`), and
    whatever it does when asked about any other commit makes no difference; a
    `KeyedLogSource` then asks it about that canary's commits only."""
    if key is not None and isinstance(source, KeyedLogSource):
        return source.walk_key(key, stop)
    size, seen = FIRST_PAGE, 0
    while True:
        page = source.log(max_count=size)
        for index in range(seen, len(page)):
            if stop(page[index]):
                return page[: index + 1]
        if len(page) < size:
            return page
        seen, size = len(page), size * GROWTH


def tick_history(
    source: LogSource, key: str, pending_step: int | None, cluster: str | None = None
) -> list[CommitInfo]:
    """Enough history for one tick: back to gitbot's last commit for the canary, or, with a
    pending step, back to the commit of that step or an older one (steps only grow)."""

    def reached(commit: CommitInfo) -> bool:
        if not is_for(commit, key, cluster):
            return False
        return pending_step is None or _step(commit) <= pending_step

    return walk(source, reached, key)


def mainline(history: Iterable[CommitInfo]) -> list[CommitInfo]:
    """The first-parent chain of a newest-first log: a merged PR counts once (its merge commit
    carries the same trailers as the branch commit it merged)."""
    commits = list(history)
    if not commits:
        return commits
    wanted: str | None = commits[0].sha
    chain = []
    for commit in commits:
        if commit.sha == wanted:
            chain.append(commit)
            wanted = commit.parents[0] if commit.parents else None
    return chain


CLUSTER_TRAILER = "Gitbot-Cluster"


def for_cluster(history: Iterable[CommitInfo], cluster: str | None) -> list[CommitInfo]:
    """The history as `cluster` (a Flux cluster directory; None: every one) owns it.

    gitbot serving one cluster of a repository that holds several marks its commits with
    `Gitbot-Cluster`; a canary `ns/name` of another cluster is then another canary, whose
    commits are neither resumed, awaited nor reverted here. They stay in the list with only
    their `Gitbot-Cluster` trailer (no canary's), so the first-parent chain `mainline` follows
    is not cut where the two gitbots' commits interleave, and they are not a person's edits.
    """
    return [c if cluster is None or trailer(c, CLUSTER_TRAILER) in ("", cluster)
            else replace(c, trailers={CLUSTER_TRAILER: c.trailers[CLUSTER_TRAILER]})
            for c in history]


def last_gitbot_commit(history: Iterable[CommitInfo], key: str) -> CommitInfo | None:
    """The newest commit gitbot made for this canary (what the cluster must have applied)."""
    return next((c for c in mainline(history) if is_for(c, key)), None)


def find_step(history: Iterable[CommitInfo], key: str, step: int) -> CommitInfo | None:
    """The commit that landed step `step` of this canary, if it is on the branch."""
    return next((c for c in history if is_for(c, key) and _step(c) == step), None)


RUN_START = "scale-up"
RUN_BOUNDARIES = frozenset({"rollback", "scale-down", "initialize", "initialize-primary"})


def run_commits(history: Iterable[CommitInfo], key: str) -> list[CommitInfo]:
    """The current run's own commits, newest first: back to its `scale-up` commit.

    Found by walking the branch rather than by rollout id, so a run restarted by a new revision
    (which takes a new rollout id) is reverted whole, scale-up included.
    """
    commits: list[CommitInfo] = []
    for commit in mainline(history):
        if not is_for(commit, key):
            continue
        action = trailer(commit, "Gitbot-Action")
        if action in RUN_BOUNDARIES:
            break
        commits.append(commit)
        if action == RUN_START:
            break
    return commits


def current_run(source: LogSource, key: str, cluster: str | None = None) -> list[CommitInfo]:
    """`run_commits` over as much history as the run needs (only `cluster`'s, when given)."""

    def boundary(commit: CommitInfo) -> bool:
        action = trailer(commit, "Gitbot-Action")
        return is_for(commit, key, cluster) and (action in RUN_BOUNDARIES or action == RUN_START)

    return run_commits(for_cluster(walk(source, boundary, key), cluster), key)


def gitbot_commits(source: LogSource, key: str, cluster: str | None = None
                   ) -> list[GitbotCommit]:
    """gitbot's commits for the canary (of Flux cluster `cluster`, when given), newest first,
    as far back as recovery needs them."""
    found: list[GitbotCommit] = []

    def enough(commit: CommitInfo) -> bool:
        if is_for(commit, key, cluster):
            found.append(as_gitbot_commit(commit))
        return enough_history(found)

    walk(source, enough, key)
    return found


def as_gitbot_commit(commit: CommitInfo) -> GitbotCommit:
    """The plain trailer values (and the body's Phase / Iterations facts) of one commit."""
    values = {key: trailer(commit, key) for key in commit.trailers}
    for line in commit.body.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name in BODY_FACTS:
            values.setdefault(name, value.strip())
    return GitbotCommit.from_trailers(commit.sha, values)


def _step(commit: CommitInfo) -> int:
    text = trailer(commit, "Gitbot-Step")
    return int(text) if text.isdigit() else -1
