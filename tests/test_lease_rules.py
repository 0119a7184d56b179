"""The pure lease rules (gitbot.core.lease): acquire, renew, wait, take over, release, and the
record's JSON form. One named case per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitbot.core.lease import (
    LeaseError,
    LeaseRecord,
    Verdict,
    decide_lease,
    expiry,
    leads,
    release,
    renew_due,
)

T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
ME, OTHER = "pod-b/7/bbbbbb", "pod-a/1/aaaaaa"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def held(holder: str, renewed: float, acquired: float = 0.0, transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder, at(acquired), at(renewed), 60.0, transitions)


@pytest.mark.parametrize(
    ("record", "now", "seen", "verdict", "holder", "transitions"),
    [
        pytest.param(None, 0, None, Verdict.ACQUIRE, ME, 0, id="no-lease-yet"),
        pytest.param(held("", 0, transitions=3), 1, None, Verdict.ACQUIRE, ME, 4,
                     id="released-lease-taken-at-once"),
        pytest.param(held(ME, 0), 20, None, Verdict.RENEW, ME, 0, id="own-live-lease-renewed"),
        pytest.param(held(ME, 0), 500, None, Verdict.RENEW, ME, 0,
                     id="own-expired-lease-still-ours"),
        pytest.param(held(OTHER, 0), 30, None, Verdict.WAIT, None, None,
                     id="other-live-lease-waits"),
        pytest.param(held(OTHER, 0), 64, None, Verdict.WAIT, None, None,
                     id="other-expired-within-skew-waits"),
        pytest.param(held(OTHER, 0, transitions=2), 65, None, Verdict.TAKE_OVER, ME, 3,
                     id="other-expired-after-skew-taken-over"),
        pytest.param(held(OTHER, 0), 70, at(30), Verdict.WAIT, None, None,
                     id="watched-for-less-than-duration-waits"),
        pytest.param(held(OTHER, 0), 90, at(30), Verdict.TAKE_OVER, ME, 1,
                     id="watched-for-the-duration-taken-over"),
        pytest.param(held(OTHER, -3600), 10, at(0), Verdict.WAIT, None, None,
                     id="holder-clock-behind-not-taken-early"),
        pytest.param(held(OTHER, 3600), 100, at(0), Verdict.WAIT, None, None,
                     id="holder-clock-ahead-only-delays"),
    ],
)
def test_decide_lease(
    record: LeaseRecord | None,
    now: float,
    seen: datetime | None,
    verdict: Verdict,
    holder: str | None,
    transitions: int | None,
) -> None:
    decision = decide_lease(record, ME, at(now), duration=60, skew=5, seen_since=seen)
    assert decision.verdict is verdict, decision.reason
    if holder is None:
        assert decision.record is None
        return
    assert decision.record is not None
    assert decision.record.holder == holder
    assert decision.record.renewed == at(now)
    assert decision.record.transitions == transitions


def test_renewal_keeps_acquired_time_and_takeover_resets_it() -> None:
    renewed = decide_lease(held(ME, 10, acquired=5), ME, at(30), duration=60, skew=5).record
    taken = decide_lease(held(OTHER, 0), ME, at(100), duration=60, skew=5).record
    assert renewed is not None and renewed.acquired == at(5)
    assert taken is not None and taken.acquired == at(100)


def test_wait_reason_names_holder_and_expiry() -> None:
    decision = decide_lease(held(OTHER, 0), ME, at(1), duration=60, skew=5)
    assert decision.reason == f"held by {OTHER} until 2026-11-22T10:01:05.000Z"


@pytest.mark.parametrize(
    ("record", "now", "margin", "expected"),
    [
        pytest.param(None, 0, 0, False, id="no-record"),
        pytest.param(held(OTHER, 0), 1, 0, False, id="someone-else"),
        pytest.param(held(ME, 0), 59, 0, True, id="ours-live"),
        pytest.param(held(ME, 0), 60, 0, False, id="ours-expired"),
        pytest.param(held(ME, 0), 31, 30, False, id="ours-less-than-margin-left"),
    ],
)
def test_leads(record: LeaseRecord | None, now: float, margin: float, expected: bool) -> None:
    assert leads(record, ME, at(now), margin) is expected


@pytest.mark.parametrize(
    ("record", "now", "expected"),
    [
        pytest.param(held(ME, 0), 19, False, id="fresh"),
        pytest.param(held(ME, 0), 20, True, id="a-third-passed"),
        pytest.param(held(OTHER, 0), 0, True, id="not-ours"),
    ],
)
def test_renew_due(record: LeaseRecord, now: float, expected: bool) -> None:
    assert renew_due(record, ME, at(now)) is expected


def test_release_only_our_own() -> None:
    released = release(held(ME, 0, transitions=2), ME, at(10))
    assert released is not None and released.released and released.transitions == 2
    assert release(held(OTHER, 0), ME, at(10)) is None
    assert release(None, ME, at(10)) is None


def test_expiry_without_watching_is_the_holders_clock_plus_skew() -> None:
    assert expiry(held(OTHER, 0), 5) == at(65)
    assert expiry(held(OTHER, 0), 5, seen_since=at(50)) == at(110)


def test_record_json_round_trip() -> None:
    record = held(ME, 12.5, acquired=2, transitions=4)
    data = record.to_json()
    assert data == {
        "holder": ME,
        "acquired": "2026-11-22T10:00:02.000Z",
        "renewed": "2026-11-22T10:00:12.500Z",
        "expires": "2026-11-22T10:01:12.500Z",
        "durationSeconds": 60.0,
        "transitions": 4,
    }
    assert LeaseRecord.from_json(data) == record


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param([], "lease.json: not a JSON object", id="not-an-object"),
        pytest.param({"holder": 3, "durationSeconds": 60}, "lease.json: holder: not a string",
                     id="holder-not-a-string"),
        pytest.param({"holder": "x", "durationSeconds": 0},
                     "lease.json: durationSeconds: not a positive number", id="zero-duration"),
        pytest.param({"holder": "x", "durationSeconds": 60, "acquired": "soon",
                      "renewed": "2026-11-22T10:00:00Z"},
                     "lease.json: acquired: not an RFC 3339 time: 'soon'", id="bad-time"),
    ],
)
def test_bad_records_name_the_field(data: object, message: str) -> None:
    with pytest.raises(LeaseError) as info:
        LeaseRecord.from_json(data)  # type: ignore[arg-type]
    assert str(info.value) == message
