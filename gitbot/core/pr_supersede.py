"""When people's commits meet gitbot's open pull request (pure): the state as merged, and the
texts gitbot writes.

Called by `gitbot.landing_pr.PullRequestLanding`:

- `merged_view`: while a step PR waits, the canary's state says what the PR *would* declare;
  drift (`gitbot.core.drift`) must be judged against what is merged, so this is the state
  without the unmerged change (the base branch's traffic, the previous step);
- `superseded_comment` / `again_log`: the comment that closes gitbot's PR when a push to the
  base branch replaced it, naming that commit, saying why (drift, a conflict, or a base that
  moved ahead of a PR that must be up to date: "behind") and what gitbot does next; the log
  line when the step is proposed again;
- `kept_event` / `kept_chat`: a person's commits pushed onto gitbot's PR branch were kept in the
  merge; the event and the chat message name each commit and its author;
- `resumed_event`: `/gitbot resume` on a paused PR (the pause is Flagger's suspended event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gitbot.core.drift import Action, PersonCommit
from gitbot.core.spec import Canary
from gitbot.core.state import PullRequestRef, RolloutState

NEXT_STEP = {
    Action.HALT: "gitbot halts the canary (no commit, no analysis) until the branch declares "
                 "gitbot's values again, then proposes the step anew",
    Action.ROLLED_BACK: "gitbot takes it as a manual rollback: the run ends Failed and gitbot "
                        "commits nothing",
    Action.ROLLBACK: "gitbot rolls the canary back (all traffic to the primary, canary at 0)",
}


def merged_view(state: RolloutState, ref: PullRequestRef) -> RolloutState:
    """`state` as the base branch has it while `ref` waits: no pending change, no PR, the
    traffic the branch declared when the PR was proposed, and the step before the PR's."""
    return replace(
        state, pending=None, pull_request=None, traffic=ref.base_traffic or state.traffic,
        step=max(0, ref.step - 1),
    )


def commit_text(commit: PersonCommit | None) -> str:
    """`0123456789ab (dana: "subject")`, or "a commit" when none could be named."""
    if commit is None:
        return "a commit"
    return f'{commit.sha[:12]} ({commit.author}: "{commit.subject}")'


def superseded_comment(
    base: str, by: PersonCommit | None, *, conflict: bool = False, behind: bool = False,
    findings: str = "", action: Action | None = None, replacement: str = "", step: str = "",
) -> str:
    """Why gitbot closes its PR: `by` (a commit pushed to `base`) replaced it.

    With `findings` and `action`: the commit changed values gitbot manages (drift). Otherwise
    gitbot proposed `step` again from the new base as `replacement` ("#12 url"), because the PR
    conflicts with the commit (`conflict`) or, with nothing in conflict, because `base`'s branch
    protection requires a head that is up to date and `base` moved ahead (`behind`); or (""
    replacement) the base branch declares the change already."""
    head = f"Superseded by {commit_text(by)}, pushed to `{base}`"
    if action is not None:
        return (f"{head}: it changes what gitbot manages ({findings}). gitbot does not merge "
                f"this pull request over it; {NEXT_STEP[action]}.")
    if not replacement:
        return f"{head}; `{base}` now declares this change already, so nothing is left to merge."
    if behind:
        why = (f"this pull request does not conflict with it, but `{base}`'s branch protection "
               f"requires pull requests to be up to date with `{base}` before merging, and this "
               "one is now behind")
    else:
        why = "it conflicts with this change" if conflict else "it touches what this change edits"
    return (f"{head}; {why}. gitbot never force-pushes over a person's commit: it proposed "
            f"{step} again from the new `{base}` as {replacement}.")


def again_log(number: int, base: str, by: PersonCommit | None, step: int, *,
              behind: bool) -> str:
    """The log line when gitbot proposes PR `number`'s step again from the new base."""
    if behind:
        return (f"pull request #{number} is behind `{base}` after {commit_text(by)} (no "
                "conflict; branch protection requires it up to date); proposing step "
                f"{step} again")
    return f"pull request #{number} conflicts with {commit_text(by)}; proposing step {step} again"


def kept_event(number: int, commits: Sequence[PersonCommit]) -> str:
    """The event when a PR merged with people's commits on top of gitbot's."""
    named = "; ".join(f'{c.author}\'s commit {c.sha[:12]} "{c.subject}"' for c in commits)
    return (f"Pull request #{number} merged with {named} pushed onto gitbot's branch "
            "(kept, not force-pushed away)")


def kept_chat(canary: Canary, number: int, commits: Sequence[PersonCommit]) -> str:
    return f"{canary.dotted}: {kept_event(number, commits)}"


def resumed_event(canary: Canary, number: int) -> str:
    """The event when `/gitbot resume` lifts a `/gitbot pause` on pull request `number`."""
    return f"Resuming {canary.dotted} advancement: /gitbot resume on pull request #{number}"
