"""Drift: a person changed a value gitbot manages during a run; what it is and what gitbot does.

Pure. `gitbot.drift` (the I/O glue, called by the reconciler before every tick) reads what the
branch declares (`Declared`) and what gitbot's state and its own last commit say (`Expected`),
and asks `assess` whether they differ; `gitbot.core.drift_decide` turns the answer into a
`Decision` and `gitbot.core.drift_messages` words it.

The policy (README, "When people edit what gitbot manages"), checked only while a run is active:

* the canary has 0 replicas but the routes still send it traffic: gitbot rolls back at once
  (all traffic to the primary, canary at 0) - it never routes users to a canary without pods;
* during the analysis the routes send everything to the primary, or the canary was scaled to 0:
  a manual rollback - the run ends Failed, gitbot commits nothing and keeps the person's values;
* anything else (other weights, mirroring, routes gitbot cannot read, the primary's pod template
  edited): gitbot halts - no commit, no analysis, the phase stays - and says so once; it resumes
  by itself when the values match its state again.

Losing gitbot's own last commit (a force push) is named in the message; it matters only when
the values differ too (a rewritten history that declares the same values is no drift).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gitbot.core.plan import ANALYSIS_PHASES
from gitbot.core.state import ACTIVE_PHASES, Phase, Traffic


class Action(enum.Enum):
    HALT = "halt"  # no commit, no analysis, phase unchanged, until the values are restored
    ROLLED_BACK = "rolled-back"  # a person rolled back: the run ends Failed, no commit
    ROLLBACK = "rollback"  # a canary without replicas carries traffic: gitbot rolls back


class Field(enum.Enum):
    """Which managed value a finding is about (the glue names the commit that touched it)."""

    COMMIT = "commit"
    ROUTES = "routes"
    WEIGHTS = "weights"
    REPLICAS = "replicas"
    TEMPLATE = "template"


@dataclass(frozen=True)
class Declared:
    """What the branch head declares. `primary_template` is a digest ("" when unknown)."""

    traffic: Traffic | None  # None: no route gitbot manages could be read
    canary_replicas: int | None  # None: not set (Kubernetes' default 1, or an autoscaler)
    primary_template: str = ""


@dataclass(frozen=True)
class Expected:
    """What gitbot's state and its own last commit on the branch say."""

    traffic: Traffic
    primary_template: str = ""  # digest at gitbot's last commit ("" when unknown)
    own_commit_on_branch: bool = True  # the commit of the state's last step is on the branch
    step: int = 0


@dataclass(frozen=True)
class Finding:
    field: Field
    detail: str


@dataclass(frozen=True)
class PersonCommit:
    """The commit (on the branch, not gitbot's) that changed the value."""

    sha: str
    author: str
    subject: str


@dataclass(frozen=True)
class Drift:
    action: Action
    findings: tuple[Finding, ...]
    culprit: PersonCommit | None = None


def assess(phase: Phase, expected: Expected, declared: Declared) -> Drift | None:
    """The drift between what gitbot expects and what the branch declares, or None."""
    if phase not in ACTIVE_PHASES:
        return None
    findings = _value_findings(phase, expected, declared)
    if not findings:
        return None
    if not expected.own_commit_on_branch:
        findings = (Finding(Field.COMMIT, commit_missing(expected.step)), *findings)
    return Drift(_action(phase, declared), findings)


def _value_findings(phase: Phase, expected: Expected, declared: Declared) -> tuple[Finding, ...]:
    found: list[Finding] = []
    traffic = declared.traffic
    analysis = phase in ANALYSIS_PHASES
    if traffic is None:
        found.append(Finding(Field.ROUTES, ROUTES_UNREADABLE))
    elif _weights(traffic) != _weights(expected.traffic) and (
        analysis or not _primary_only(traffic)
    ):
        found.append(Finding(Field.WEIGHTS, weights_text(traffic, expected.traffic)))
    carries = traffic is None or traffic.canary_weight > 0 or traffic.mirror
    if declared.canary_replicas == 0 and (analysis or carries):
        found.append(Finding(Field.REPLICAS, ZERO_REPLICAS))
    if expected.primary_template and declared.primary_template != expected.primary_template:
        found.append(Finding(Field.TEMPLATE, TEMPLATE_EDITED))
    return tuple(found)


def _action(phase: Phase, declared: Declared) -> Action:
    traffic = declared.traffic
    if traffic is None:
        return Action.HALT
    if declared.canary_replicas == 0 and (traffic.canary_weight > 0 or traffic.mirror):
        return Action.ROLLBACK
    if phase in ANALYSIS_PHASES and _primary_only(traffic):
        return Action.ROLLED_BACK
    return Action.HALT


def _weights(traffic: Traffic) -> tuple[int, int, bool]:
    return traffic.primary_weight, traffic.canary_weight, traffic.mirror


def _primary_only(traffic: Traffic) -> bool:
    return traffic.canary_weight == 0 and not traffic.mirror


# --- what each finding says --------------------------------------------------------------

ROUTES_UNREADABLE = "the VirtualService has no route gitbot manages"
ZERO_REPLICAS = "the canary is scaled to 0 replicas"
TEMPLATE_EDITED = "the primary's pod template was edited"


def commit_missing(step: int) -> str:
    return f"gitbot's commit for step {step} is no longer on the branch"


def weights_text(declared: Traffic, expected: Traffic) -> str:
    return f"traffic {_split(declared)} (gitbot declared {_split(expected)})"


def _split(traffic: Traffic) -> str:
    mirror = ", mirrored" if traffic.mirror else ""
    return f"primary {traffic.primary_weight}% canary {traffic.canary_weight}%{mirror}"
