"""The stored form of `RolloutState`: JSON-ready dicts and back, every field checked.

Called by gitbot/adapters/statestore.py, which writes the state of every canary to the state
branch and reads it back after a restart; a file that is wrong names the field
(`StateFormatError`, via gitbot/core/jsonfields.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gitbot.core.jsonfields import (
    StateFormatError,
    fields_of,
    flag_field,
    list_field,
    number_field,
    only_known,
    text_field,
    whole_field,
)
from gitbot.core.spec import WebhookType
from gitbot.core.state import (
    Event,
    HookResult,
    MetricResult,
    Phase,
    PullRequestRef,
    RepoChange,
    RolloutState,
    TickRecord,
    Traffic,
)


def state_to_json(state: RolloutState) -> dict[str, Any]:
    """The state as plain JSON values (the phase by name, hook types by value)."""
    data = asdict(state)
    data["phase"] = state.phase.value
    data["ticks"] = [_tick_to_json(t) for t in state.ticks]
    return data


def state_from_json(data: Any) -> RolloutState:
    """Parse a stored state; `StateFormatError` names the field that is wrong or missing.

    `phase`, `traffic` and `step` are required (without them a resumed run would go back to
    initialization or reuse step numbers); the other fields default as in older files.
    """
    fields = fields_of(data, "state")
    phase = text_field(fields, "phase")
    try:
        parsed_phase = Phase(phase)
    except ValueError:
        raise StateFormatError(f"phase: {phase!r} is not a valid Phase" if phase
                               else "phase: missing") from None
    for required in ("traffic", "step"):
        if required not in fields:
            raise StateFormatError(f"{required}: missing")
    pending = fields.get("pending")
    return RolloutState(
        phase=parsed_phase,
        traffic=_traffic(fields["traffic"], "traffic"),
        failed_checks=whole_field(fields, "failed_checks"),
        iterations=whole_field(fields, "iterations"),
        last_applied_spec=text_field(fields, "last_applied_spec"),
        last_promoted_spec=text_field(fields, "last_promoted_spec"),
        rollout_id=text_field(fields, "rollout_id"),
        run=whole_field(fields, "run"),
        step=whole_field(fields, "step"),
        pending=_change(pending) if pending else None,
        last_transition_time=text_field(fields, "last_transition_time"),
        not_ready_since=text_field(fields, "not_ready_since"),
        events=_events(fields.get("events", [])),
        drift=text_field(fields, "drift"),
        pull_request=_pull_request(fields.get("pull_request")),
        ticks=_ticks(fields.get("ticks", [])),
    )


_TRAFFIC_TEXT = ("session_cookie", "previous_cookie", "primary_cookie")


def _traffic(data: Any, where: str) -> Traffic:
    fields = fields_of(data, where)
    prefix = where + "."
    only_known(fields, frozenset({"primary_weight", "canary_weight", "mirror", *_TRAFFIC_TEXT}),
           prefix)
    weights = {k: whole_field(fields, k, prefix) for k in ("primary_weight", "canary_weight")}
    if any(w > 100 for w in weights.values()):
        raise StateFormatError(f"{where}: weights must be 0-100, got {weights}")
    return Traffic(
        primary_weight=weights["primary_weight"] if "primary_weight" in fields else 100,
        canary_weight=weights["canary_weight"],
        mirror=flag_field(fields, "mirror", prefix),
        **{k: text_field(fields, k, prefix) for k in _TRAFFIC_TEXT},
    )


_CHANGE_FLAGS = ("promote", "bootstrap", "bootstrap_primary", "update_routing", "revert")


def _change(data: Any) -> RepoChange:
    fields = fields_of(data, "pending")
    where = "pending."
    only_known(fields, frozenset({"action", "subject", "traffic", "target_replicas", "reason",
                              *_CHANGE_FLAGS}), where)
    if not text_field(fields, "action", where):
        raise StateFormatError("pending.action: missing")
    replicas = fields.get("target_replicas")
    traffic = fields.get("traffic")
    return RepoChange(
        action=text_field(fields, "action", where),
        subject=text_field(fields, "subject", where),
        traffic=_traffic(traffic, "pending.traffic") if traffic is not None else None,
        target_replicas=None if replicas is None else whole_field(fields, "target_replicas", where),
        reason=text_field(fields, "reason", where),
        **{k: flag_field(fields, k, where) for k in _CHANGE_FLAGS},
    )


def _events(data: Any) -> tuple[Event, ...]:
    if not isinstance(data, list | tuple):
        raise StateFormatError(f"events: expected a list, got {type(data).__name__}")
    events = []
    for i, item in enumerate(data):
        where = f"events[{i}]."
        fields = fields_of(item, where.rstrip("."))
        events.append(Event(*(text_field(fields, k, where) for k in ("time", "type", "message"))))
    return tuple(events)


def _tick_to_json(tick: TickRecord) -> dict[str, Any]:
    data = asdict(tick)
    for hook in data["hooks"]:
        hook["type"] = hook["type"].value
    return data


def _tick_from_json(data: Any, where: str) -> TickRecord:
    """One stored tick, every field type-checked (PR texts format them)."""
    fields = fields_of(data, where)
    only_known(fields, frozenset({"time", "weight", "metrics", "hooks"}), f"{where}.")
    metrics = []
    for i, item in enumerate(list_field(fields, "metrics", f"{where}.")):
        at = f"{where}.metrics[{i}]."
        m = fields_of(item, at.rstrip("."))
        only_known(m, frozenset({"name", "value", "passed", "message"}), at)
        metrics.append(MetricResult(text_field(m, "name", at), number_field(m, "value", at),
                                    flag_field(m, "passed", at), text_field(m, "message", at)))
    hooks = []
    for i, item in enumerate(list_field(fields, "hooks", f"{where}.")):
        at = f"{where}.hooks[{i}]."
        h = fields_of(item, at.rstrip("."))
        only_known(h, frozenset({"name", "type", "passed", "status", "message"}), at)
        status = whole_field(h, "status", at) if h.get("status") is not None else None
        hooks.append(HookResult(text_field(h, "name", at), WebhookType(text_field(h, "type", at)),
                                flag_field(h, "passed", at), status, text_field(h, "message", at)))
    weight = whole_field(fields, "weight", f"{where}.")
    if weight > 100:
        raise StateFormatError(f"{where}.weight: must be 0-100, got {weight}")
    return TickRecord(text_field(fields, "time", f"{where}."), weight, tuple(metrics),
                      tuple(hooks))


def _pull_request(data: Any) -> PullRequestRef | None:
    if not data:
        return None
    fields = dict(fields_of(data, "pull_request"))
    base = fields.pop("base_traffic", None)
    try:
        return PullRequestRef(
            **fields,
            base_traffic=None if base is None else _traffic(base, "pull_request.base_traffic"),
        )
    except TypeError as err:
        raise StateFormatError(f"pull_request: {err}") from None


def _ticks(data: Any) -> tuple[TickRecord, ...]:
    if not isinstance(data, list):
        raise StateFormatError(f"ticks: expected a list, got {data!r}")
    try:
        return tuple(_tick_from_json(t, f"ticks[{i}]") for i, t in enumerate(data))
    except StateFormatError:
        raise
    except ValueError as err:  # a hook type that is no WebhookType
        raise StateFormatError(f"ticks: {err}") from None
