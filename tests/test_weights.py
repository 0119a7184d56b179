"""Weight arithmetic: Flagger's nextStepWeight / maxWeight rules, capped at maxWeight."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitbot.core.spec import Analysis
from gitbot.core.weights import (
    can_advance,
    max_weight,
    next_canary_weight,
    next_step_weight,
    promotion_step,
    weight_schedule,
)


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        pytest.param(Analysis(max_weight=50, step_weight=10), 50, id="max-weight"),
        pytest.param(Analysis(max_weight=0, step_weight=10), 100, id="unset-max-is-100"),
        pytest.param(Analysis(step_weights=(1, 5, 10, 25)), 25, id="step-weights-last-entry"),
    ],
)
def test_max_weight(analysis: Analysis, expected: int) -> None:
    assert max_weight(analysis) == expected


@pytest.mark.parametrize(
    ("analysis", "current", "expected"),
    [
        pytest.param(Analysis(step_weight=10), 20, 10, id="step-weight"),
        pytest.param(Analysis(step_weights=(1, 5, 10)), 0, 1, id="step-weights-first"),
        pytest.param(Analysis(step_weights=(1, 5, 10)), 5, 5, id="step-weights-difference"),
        pytest.param(Analysis(step_weights=(1, 5, 10)), 7, 93, id="step-weights-off-list"),
        pytest.param(Analysis(step_weights=(1, 5, 100)), 100, 1, id="step-weights-at-total"),
        pytest.param(Analysis(step_weight=10, step_weights=(1, 5)), 0, 10, id="step-weight-wins"),
    ],
)
def test_next_step_weight_is_flaggers(analysis: Analysis, current: int, expected: int) -> None:
    assert next_step_weight(analysis, current) == expected


@pytest.mark.parametrize(
    ("analysis", "schedule"),
    [
        pytest.param(Analysis(max_weight=50, step_weight=10), (10, 20, 30, 40, 50),
                     id="podinfo"),
        pytest.param(Analysis(max_weight=50, step_weight=20), (20, 40, 50),
                     id="overshoot-capped-at-max"),
        pytest.param(Analysis(max_weight=50, step_weight=5), tuple(range(5, 55, 5)),
                     id="step-5"),
        pytest.param(Analysis(step_weights=(1, 5, 10, 25)), (1, 5, 10, 25), id="step-weights"),
        pytest.param(Analysis(max_weight=30, step_weight=0), (30,), id="zero-step-jumps-to-max"),
    ],
)
def test_weight_schedule(analysis: Analysis, schedule: tuple[int, ...]) -> None:
    assert weight_schedule(analysis) == schedule


@given(st.integers(1, 100), st.integers(1, 100), st.integers(0, 100))
def test_next_weight_never_exceeds_max(max_w: int, step: int, current: int) -> None:
    analysis = Analysis(max_weight=max_w, step_weight=step)
    if can_advance(analysis, current):
        new = next_canary_weight(analysis, current)
        assert current < new <= max_w


@pytest.mark.parametrize(
    ("step", "before", "after"),
    [
        pytest.param(0, (50, 50), (100, 0), id="all-at-once"),
        pytest.param(30, (50, 50), (80, 20), id="one-step"),
        pytest.param(30, (80, 20), (100, 0), id="last-step-capped"),
        pytest.param(30, (100, 0), (100, 0), id="already-on-primary"),
    ],
)
def test_promotion_step(step: int, before: tuple[int, int], after: tuple[int, int]) -> None:
    assert promotion_step(Analysis(step_weight_promotion=step), *before) == after
