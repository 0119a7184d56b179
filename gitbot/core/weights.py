"""Canary weight arithmetic: Flagger's step, max-weight and promotion-step rules.

Called by the decision core (`gitbot.core.strategies`, `gitbot.core.plan`) and by anything that
reports the traffic plan of a canary (alert metadata in `gitbot.core.messages`).

Flagger's math is kept (scheduler.go `nextStepWeight`, `maxWeight`, `runPromotionTrafficShift`),
with one deliberate difference: Flagger caps a new canary weight at 100, so `maxWeight: 50,
stepWeight: 20` gives 20, 40, 60. gitbot caps it at the max weight (20, 40, 50): the repository
never declares more canary traffic than the Canary allows.
"""

from __future__ import annotations

import itertools

from gitbot.core.spec import Analysis

TOTAL_WEIGHT = 100


def max_weight(analysis: Analysis) -> int:
    """The weight at which promotion starts: the last `stepWeights` entry, else `maxWeight`."""
    if analysis.step_weights:
        return analysis.step_weights[-1]
    return analysis.max_weight if analysis.max_weight > 0 else TOTAL_WEIGHT


def next_step_weight(analysis: Analysis, canary_weight: int) -> int:
    """How much weight the next step adds, exactly as Flagger's `nextStepWeight`."""
    steps = analysis.step_weights
    if analysis.step_weight > 0 or not steps:
        return analysis.step_weight
    max_step = TOTAL_WEIGHT - canary_weight
    if max_step == 0:
        return 1
    if canary_weight == 0:
        return steps[0]
    for current, following in itertools.pairwise(steps):
        if current == canary_weight:
            return min(following - canary_weight, max_step)
    return max_step


def next_canary_weight(analysis: Analysis, canary_weight: int) -> int:
    """The canary weight after one step, capped at `max_weight` (never above it).

    A zero step (neither `stepWeight` nor `stepWeights`; validation rejects that) jumps to the
    max weight instead of looping forever at the same weight.
    """
    step = next_step_weight(analysis, canary_weight)
    limit = max_weight(analysis)
    if step <= 0:
        return limit
    return max(0, min(canary_weight + step, limit))


def can_advance(analysis: Analysis, canary_weight: int) -> bool:
    """True while the canary weight is below the max weight (another step follows)."""
    return canary_weight < max_weight(analysis)


def promotion_step(analysis: Analysis, primary_weight: int, canary_weight: int) -> tuple[int, int]:
    """(primary, canary) after one promotion step of `stepWeightPromotion` (0 means all at once)."""
    step = analysis.step_weight_promotion
    if step <= 0 or canary_weight <= 0:
        return TOTAL_WEIGHT, 0
    return min(TOTAL_WEIGHT, primary_weight + step), max(0, canary_weight - step)


def weight_schedule(analysis: Analysis) -> tuple[int, ...]:
    """Every canary weight a passing run goes through, in order (for docs, PR bodies, tests)."""
    weights: list[int] = []
    weight = 0
    while can_advance(analysis, weight) and len(weights) < TOTAL_WEIGHT:
        weight = next_canary_weight(analysis, weight)
        weights.append(weight)
    return tuple(weights)
