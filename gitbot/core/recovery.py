"""Rebuild a canary's rollout state from gitbot's own commits when the stored state is lost.

Called by the reconciler when the state branch (or the canary's file on it) is missing or
unreadable. Pure: it is fed gitbot's commits for the canary as plain trailer values (newest
first, read back by `gitbot.history`) and a few facts read from the manifests, and returns the
state to continue from, or a rollback when the run in progress cannot be proven.

The rules, from the newest commit's `Gitbot-Action`:

- `initialize`, `scale-down`, `rollback`, a skip-analysis `promote`, a failed promotion's
  `route-to-canary`: the last run finished (Initialized, Succeeded, Failed). The revision that
  run analysed is `last_applied_spec`; the promoted one is the target's when the primary carries
  the target's template, else the revision of the newest promoting commit. A new target revision
  then starts a run as usual; the lost state never makes a revision count as promoted.
- `scale-up`, `restart`, `advance`, `mirror`, `route-to-canary`: a run in progress resumes in
  Progressing at the committed weight, with its rollout id, step and iterations and no failed
  checks, but only when the manifests agree (the VirtualService declares that weight and the
  canary has replicas). Otherwise it cannot be proven and is rolled back.
- `promote`, `advance-primary`: Promoting; `route-to-primary`: Finalising; the same proof, plus
  the primary carrying the target's template when the target is still the run's revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from gitbot.core.decide_tick import Tick, rollback
from gitbot.core.spec import Canary
from gitbot.core.state import Decision, Observation, Phase, RolloutState, Traffic

RUN_ACTIONS = frozenset({"scale-up", "restart", "advance", "mirror", "route-to-canary"})
PROMOTING_ACTIONS = frozenset({"promote", "advance-primary"})
#: commits whose `Gitbot-Revision` is the revision the primary was given
PROMOTED_ACTIONS = frozenset(
    {"initialize", "initialize-primary", "promote", "advance-primary", "route-to-primary",
     "scale-down"}
)
#: commits outside any run that say nothing about its phase (a Flux layout's routing update)
NEUTRAL_ACTIONS = frozenset({"update-routing"})


@dataclass(frozen=True)
class GitbotCommit:
    """One of gitbot's commits for the canary: its trailers and the facts of its body."""

    sha: str
    action: str
    rollout: str = ""
    revision: str = ""
    weight: int = 0
    step: int = 0
    phase: str = ""  # the body's "Phase:" fact: the phase gitbot decided with this commit
    iterations: int = 0  # the body's "Iterations: n/total" fact (0 when absent)

    @classmethod
    def from_trailers(cls, sha: str, values: Mapping[str, str]) -> GitbotCommit:
        """From `{"Gitbot-Action": ..., "Gitbot-Weight": ..., "Phase": ..., ...}`."""
        return cls(
            sha=sha,
            action=values.get("Gitbot-Action", ""),
            rollout=values.get("Gitbot-Rollout", ""),
            revision=values.get("Gitbot-Revision", ""),
            weight=_number(values.get("Gitbot-Weight", "")),
            step=_number(values.get("Gitbot-Step", "")),
            phase=values.get("Phase", ""),
            iterations=_number(values.get("Iterations", "").split("/")[0]),
        )

    @property
    def run(self) -> int:
        """The run number in the rollout id `<revision[:12]>-<run>` (0 for `none`)."""
        return _number(self.rollout.rpartition("-")[2])


@dataclass(frozen=True)
class ManifestFacts:
    """What the main branch declares now, read by the reconciler."""

    traffic: Traffic | None  # the VirtualService's managed route (None when unreadable)
    target_replicas: int | None  # the target's spec.replicas (None: not set)
    primary_is_target: bool  # the primary's template is what promoting the target would write
    target_revision: str


@dataclass(frozen=True)
class Recovery:
    """The rebuilt state, whether the run must be rolled back, and what it was built from."""

    state: RolloutState
    rollback: bool
    commit: GitbotCommit
    summary: str  # e.g. "resuming Progressing at canary weight 20"


def enough_history(commits: Sequence[GitbotCommit]) -> bool:
    """True once the commits (newest first) reach back to the revision the primary was given."""
    return any(c.action in PROMOTED_ACTIONS for c in commits)


def recover(
    canary: Canary, commits: Sequence[GitbotCommit], facts: ManifestFacts
) -> Recovery | None:
    """The state to continue from (see the module docstring); None without any commit."""
    if not commits:
        return None
    last = next((c for c in commits if c.action not in NEUTRAL_ACTIONS), commits[0])
    promoted = next((c.revision for c in commits if c.action in PROMOTED_ACTIONS), "")
    base = RolloutState(
        traffic=facts.traffic or Traffic(),
        last_applied_spec=last.revision,
        last_promoted_spec=promoted,
        rollout_id="" if last.rollout == "none" else last.rollout,
        run=max(c.run for c in commits),
        step=max(c.step for c in commits),
    )
    finished = _finished_phase(last)
    if finished is not None:
        if facts.primary_is_target and facts.target_revision:
            base = replace(base, last_promoted_spec=facts.target_revision)
        state = replace(base, phase=finished)
        return Recovery(state, False, last, f"the last run ended {finished.value}")
    phase = _active_phase(last)
    state = replace(base, phase=phase, iterations=last.iterations)
    doubt = _contradiction(canary, last, phase, facts)
    if doubt:
        return Recovery(state, True, last, f"cannot resume {phase.value}: {doubt}; rolling back")
    summary = f"resuming {phase.value} at canary weight {state.canary_weight}"
    if state.iterations:
        summary += f", iteration {state.iterations}"
    return Recovery(state, False, last, summary)


def recovery_decision(canary: Canary, recovery: Recovery, cause: str, now: datetime) -> Decision:
    """The decision that records the rebuilt state: a Warning event saying from which commit,
    and for a run that cannot be proven, Flagger's rollback (one revert, phase Failed)."""
    sha = recovery.commit.sha[:12]
    message = (
        f"State of {canary.dotted} rebuilt from Git history ({cause}) at commit {sha} "
        f"({recovery.commit.action}): {recovery.summary}"
    )
    state = recovery.state
    obs = Observation(target_revision=state.last_applied_spec, bootstrapped=True)
    tick = Tick(spec=canary, obs=obs, now=now, old=RolloutState(), state=state)
    tick.warning(message)
    if recovery.rollback:
        rollback(tick, "state lost and the run in progress cannot be proven")
    return tick.finish()


def lost_without_history(canary: Canary, cause: str) -> str:
    """The Warning event when a state is unreadable and no gitbot commit can replace it."""
    return (
        f"State of {canary.dotted} could not be read ({cause}) and the branch holds no gitbot "
        "commit for it: starting over"
    )


def _finished_phase(last: GitbotCommit) -> Phase | None:
    if last.action == "initialize":
        return Phase.INITIALIZED
    if last.action == "initialize-primary":  # a Flux layout's staged initialization goes on
        return Phase.INITIALIZING
    if last.action in NEUTRAL_ACTIONS:  # only a routing update: the canary was idle
        return Phase.INITIALIZED
    if last.action == "scale-down" or (last.action == "promote" and last.phase == "Succeeded"):
        return Phase.SUCCEEDED
    if last.action == "rollback" or last.phase == Phase.FAILED.value:
        return Phase.FAILED
    return None


def _active_phase(last: GitbotCommit) -> Phase:
    if last.action in PROMOTING_ACTIONS:
        return Phase.PROMOTING
    if last.action == "route-to-primary":
        return Phase.FINALISING
    return Phase.PROGRESSING


def _contradiction(canary: Canary, last: GitbotCommit, phase: Phase, facts: ManifestFacts) -> str:
    """Why the manifests do not show the run the commits describe ("" when they do)."""
    if last.action not in RUN_ACTIONS | PROMOTING_ACTIONS | {"route-to-primary"}:
        return f"unknown action {last.action!r}"
    if facts.traffic is None:
        return "the VirtualService declares no canary route"
    if facts.traffic.canary_weight != last.weight:
        return (
            f"the VirtualService declares canary weight {facts.traffic.canary_weight}, "
            f"gitbot's last commit {last.weight}"
        )
    if phase is Phase.PROGRESSING and facts.target_replicas == 0:
        return f"{canary.target.name} is scaled to 0"
    same_target = facts.target_revision == last.revision
    if phase is not Phase.PROGRESSING and same_target and not facts.primary_is_target:
        return f"{canary.primary_name} does not carry the promoted template"
    return ""


def _number(text: str) -> int:
    return int(text) if text.strip().isdigit() else 0
