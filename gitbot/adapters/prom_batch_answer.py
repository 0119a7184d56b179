"""Read a batched Prometheus answer per member, and say once when a batch is not used.

Used by `prom_batch` (builtin metrics, readiness) and `prom_template_batch` (MetricTemplates).
A batched query that fails — an HTTP error (422 "too many samples", 503), a timeout, an answer
over the size bound, an unparsable answer, or series that cannot be attributed to members — is
no member's outcome: every member asks its own query instead, as in Flagger, where each
canary's query is its own. A member whose series are ambiguous (two series of one identity
with different values) asks its own query; the others keep the batched answer. Each is logged
once per batch and pass, naming the batch (never its query text, which can be long) and the
error, without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gitbot.adapters.prometheus_answer import Sample, number, pair_value, with_prefix
from gitbot.core.batch_queries import MemberKey, split_series
from gitbot.core.queries import QueryOutcome

log = logging.getLogger("gitbot.observe")

_SHOWN = 5  # members named in an ambiguity line
_ONE = {"canaries": "canary", "deployments": "deployment"}


@dataclass(frozen=True)
class BatchAnswer:
    """The outcome of each member's series; `ambiguous` members ask their own query."""

    outcomes: dict[MemberKey, QueryOutcome]
    ambiguous: frozenset[MemberKey]

    def outcome(self, member: MemberKey) -> QueryOutcome | None:
        """The member's outcome (no series: no data), or None: ask its own query."""
        if member in self.ambiguous:
            return None
        return self.outcomes.get(member, QueryOutcome(None))


def outcomes_by_member(
    series: list[Sample] | str, key_of: Callable[[Mapping[str, Any]], MemberKey]
) -> BatchAnswer | str:
    """Each member's value from a batched answer, or the error that makes it unusable."""
    if isinstance(series, str):
        return series
    split = split_series([(key_of(s.get("metric", {})), "", value_text(s)) for s in series])
    if isinstance(split, str):
        return with_prefix(split)
    outcomes = {key: number(pair_value(series[rows[-1]].get("value")))
                for key, rows in split.rows.items()}
    return BatchAnswer(outcomes, split.ambiguous)


def value_text(sample: Sample) -> str:
    """The value of a sample as sent (to compare duplicates)."""
    return str(pair_value(sample.get("value")))


def log_failed(what: str, members: int, error: str, noun: str = "canaries") -> None:
    """One line: the batch failed, its members ask their own queries this pass."""
    noun = _ONE.get(noun, noun) if members == 1 else noun
    log.warning("batched query of %s for %d %s failed, each asks its own query this pass: %s",
                what, members, noun, error)


def log_ambiguous(what: str, canaries: Collection[str]) -> None:
    """One line: these canaries' (namespace/name) series were ambiguous, they ask their own."""
    if not canaries:
        return
    names = ", ".join(sorted(canaries)[:_SHOWN])
    more = f" and {len(canaries) - _SHOWN} more" if len(canaries) > _SHOWN else ""
    log.warning("batched query of %s: several series for %s%s; they ask their own query",
                what, names, more)
