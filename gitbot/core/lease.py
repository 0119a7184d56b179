"""The rules of gitbot's lease: which one of several instances may act, as pure decisions.

A lease record (`lease.json` on the state branch) names the instance that leads, when it took
the lease and when it last renewed it. `decide_lease(record, me, now, ...)` says what an
instance should do with it: ACQUIRE a free lease, RENEW its own, WAIT while someone else's
lease is live, TAKE_OVER one that expired (clock skew margin included). The write that follows
is a compare-and-swap push (gitbot.lease), so of two instances taking over at once one wins.

Expiry is judged twice when the caller has watched the record (the daemon): by the holder's
own renew time plus `duration + skew`, and by the caller's clock since it first saw this
renewal plus `duration`. Both must have passed: a holder whose clock runs behind cannot be
taken over early, one whose clock runs ahead only delays a takeover. A one-shot command has not
watched, and judges by the record alone.

Called by gitbot.lease; no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

#: The fraction of the lease duration after which the holder renews.
RENEW_FRACTION = 1 / 3


class LeaseError(ValueError):
    """A lease record that cannot be read (names the field)."""


@dataclass(frozen=True)
class LeaseRecord:
    """One version of `lease.json`. `holder` is "" once released."""

    holder: str
    acquired: datetime
    renewed: datetime
    duration: float  # seconds
    transitions: int = 0  # how many times the lease changed hands

    @property
    def released(self) -> bool:
        return not self.holder

    def expires(self, skew: float = 0.0) -> datetime:
        """When the holder's lease ends by its own clock, plus the skew margin."""
        return self.renewed + timedelta(seconds=self.duration + skew)

    def to_json(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "acquired": stamp(self.acquired),
            "renewed": stamp(self.renewed),
            "expires": stamp(self.expires()),
            "durationSeconds": self.duration,
            "transitions": self.transitions,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LeaseRecord:
        if not isinstance(data, Mapping):
            raise LeaseError("lease.json: not a JSON object")
        holder = data.get("holder", "")
        if not isinstance(holder, str):
            raise LeaseError("lease.json: holder: not a string")
        duration = data.get("durationSeconds")
        if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
            raise LeaseError("lease.json: durationSeconds: not a positive number")
        transitions = data.get("transitions", 0)
        if not isinstance(transitions, int) or isinstance(transitions, bool):
            raise LeaseError("lease.json: transitions: not an integer")
        return cls(holder, _time(data, "acquired"), _time(data, "renewed"), float(duration),
                   transitions)


class Verdict(enum.Enum):
    ACQUIRE = "acquire"  # no lease, or a released one: take it
    RENEW = "renew"  # ours: extend it
    WAIT = "wait"  # someone else's, still live: stay passive
    TAKE_OVER = "take-over"  # someone else's, expired: take it


@dataclass(frozen=True)
class LeaseDecision:
    verdict: Verdict
    record: LeaseRecord | None  # what to write (None for WAIT)
    reason: str


def decide_lease(
    record: LeaseRecord | None,
    me: str,
    now: datetime,
    *,
    duration: float,
    skew: float,
    seen_since: datetime | None = None,
) -> LeaseDecision:
    """What `me` should do with the current lease `record` at `now`.

    `seen_since`: when this caller first saw exactly this record (None: never watched it).
    """
    if record is None or record.released:
        transitions = record.transitions + 1 if record is not None else 0
        fresh = LeaseRecord(me, now, now, duration, transitions)
        why = "no lease yet" if record is None else "the lease was released"
        return LeaseDecision(Verdict.ACQUIRE, fresh, why)
    if record.holder == me:
        return LeaseDecision(Verdict.RENEW, replace(record, renewed=now, duration=duration),
                             "our own lease")
    until = expiry(record, skew, seen_since)
    if now < until:
        return LeaseDecision(Verdict.WAIT, None,
                             f"held by {record.holder} until {stamp(until)}")
    taken = LeaseRecord(me, now, now, duration, record.transitions + 1)
    return LeaseDecision(Verdict.TAKE_OVER, taken,
                         f"the lease of {record.holder} expired at {stamp(until)}")


def release(record: LeaseRecord | None, me: str, now: datetime) -> LeaseRecord | None:
    """The record that hands our lease back (None when it is not ours to release)."""
    if record is None or record.holder != me:
        return None
    return replace(record, holder="", renewed=now)


def expiry(record: LeaseRecord, skew: float, seen_since: datetime | None = None) -> datetime:
    """When `record` may be taken over: see the module docstring."""
    by_holder = record.expires(skew)
    if seen_since is None:
        return by_holder
    return max(by_holder, seen_since + timedelta(seconds=record.duration))


def leads(record: LeaseRecord | None, me: str, now: datetime, margin: float = 0.0) -> bool:
    """True while `me` holds `record` with more than `margin` seconds left."""
    if record is None or record.holder != me:
        return False
    return now + timedelta(seconds=margin) < record.expires()


def renew_due(record: LeaseRecord | None, me: str, now: datetime) -> bool:
    """True when `me` should renew: not leading, or a third of the duration has passed."""
    if record is None or record.holder != me:
        return True
    return now >= record.renewed + timedelta(seconds=record.duration * RENEW_FRACTION)


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T10:00:00.000Z`."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(data: Mapping[str, Any], key: str) -> datetime:
    raw = data.get(key)
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise LeaseError(f"lease.json: {key}: not an RFC 3339 time: {raw!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
