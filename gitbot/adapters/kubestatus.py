"""Flagger-compatible status in Kubernetes: the Canary's `status` and `Synced` Events.

Optional (`kubernetes.status: true`). After every tick the announcer (gitbot.notify) calls the
listener built here with the canary, its new rollout state and the decision; it merge-patches
the Canary's status subresource (phase, canaryWeight, failedChecks, iterations,
lastTransitionTime and the `Promoted` condition, as Flagger's `MakeStatusConditions` sets them)
and creates one Event per decision event (reason `Synced`, type Normal/Warning, Flagger's
wording, involvedObject = the Canary). So `kubectl get canaries -w`, `kubectl wait
canary/podinfo --for=condition=promoted` and `kubectl describe canary` work as with Flagger.

Uses the official `kubernetes` client with the in-cluster service account (or a kubeconfig).
RBAC needed: `canaries/status` get/patch and `events` create (manifests/rbac-status.yaml).
Best effort: a failure is logged and never changes a rollout. Built by gitbot.wiring.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gitbot.core.spec import Canary
from gitbot.core.state import Decision, Phase, RolloutState

log = logging.getLogger("gitbot.kubestatus")

GROUP, VERSION, PLURAL = "flagger.app", "v1beta1", "canaries"
COMPONENT = "gitbot"
MERGE_PATCH = "application/merge-patch+json"

#: The `Promoted` condition per phase: (status, message); `{kind}` is the target's kind.
_CONDITIONS: dict[Phase, tuple[str, str]] = {
    Phase.INITIALIZING: ("Unknown", "New {kind} detected, starting initialization."),
    Phase.INITIALIZED: ("True", "{kind} initialization completed."),
    Phase.WAITING: ("Unknown", "Waiting for approval."),
    Phase.WAITING_PROMOTION: ("Unknown", "Waiting for approval."),
    Phase.PROGRESSING: ("Unknown", "New revision detected, progressing canary analysis."),
    Phase.PROMOTING: ("Unknown", "Canary analysis completed, starting primary rolling update."),
    Phase.FINALISING: ("Unknown", "Canary analysis completed, routing all traffic to primary."),
    Phase.SUCCEEDED: ("True", "Canary analysis completed successfully, promotion finished."),
    Phase.FAILED: ("False", "Canary analysis failed, {kind} scaled to zero."),
}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def promoted_condition(canary: Canary, state: RolloutState, since: str, now: str) -> dict[str, str]:
    """Flagger's `Promoted` condition for the state's phase; `since` = its lastTransitionTime."""
    status, message = _CONDITIONS[state.phase]
    return {
        "type": "Promoted",
        "status": status,
        "reason": state.phase.value,
        "message": message.format(kind=canary.target.kind or "Deployment"),
        "lastUpdateTime": now,
        "lastTransitionTime": since,
    }


def status_patch(canary: Canary, state: RolloutState, condition: dict[str, str]) -> dict[str, Any]:
    """The merge patch of the Canary's status subresource."""
    return {"status": {
        "phase": state.phase.value,
        "canaryWeight": state.canary_weight,
        "failedChecks": state.failed_checks,
        "iterations": state.iterations,
        "lastAppliedSpec": state.last_applied_spec,
        "lastPromotedSpec": state.last_promoted_spec,
        "lastTransitionTime": state.last_transition_time or condition["lastUpdateTime"],
        "conditions": [condition],
    }}


def event_body(canary: Canary, uid: str, event_type: str, message: str, now: datetime,
               suffix: str) -> dict[str, Any]:
    """A core/v1 Event about the Canary, as client-go's recorder writes them."""
    stamp = rfc3339(now)
    involved = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Canary",
                "name": canary.name, "namespace": canary.namespace}
    if uid:
        involved["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{canary.name}.{suffix}", "namespace": canary.namespace},
        "involvedObject": involved,
        "reason": "Synced",
        "message": message,
        "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class KubeStatusWriter:
    """Writes status and events through one `kubernetes.client.ApiClient`."""

    def __init__(self, api_client: Any, clock: Callable[[], datetime] | None = None) -> None:
        from kubernetes import client

        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._event_model = client.CoreV1Event
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conditions: dict[str, tuple[str, str]] = {}  # key -> (status, since)
        self._sent: dict[str, dict[str, Any]] = {}  # key -> last status patch (without times)
        self._uids: dict[str, str] = {}  # key -> the Canary's uid, from the patch's reply

    def publish(self, canary: Canary, state: RolloutState, decision: Decision) -> None:
        """The listener: status, then events. Never raises."""
        try:
            uid = self._patch_status(canary, state)
            for event in decision.events:
                self._create_event(canary, uid, event.type, event.message)
        except Exception as err:  # status in the cluster is informative only
            log.warning("%s: cannot write the Canary status or events to Kubernetes: %s",
                        canary.key, _short(err))

    def _patch_status(self, canary: Canary, state: RolloutState) -> str:
        now = rfc3339(self._clock())
        status, _ = _CONDITIONS[state.phase]
        since = self._since(canary.key, status, state.last_transition_time or now)
        body = status_patch(canary, state, promoted_condition(canary, state, since, now))
        unchanged = _without_times(body)
        if self._sent.get(canary.key) == unchanged:
            return self._uids.get(canary.key, "")
        reply = self._custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, canary.namespace, PLURAL, canary.name, body,
            _content_type=MERGE_PATCH,
        )
        metadata = reply.get("metadata") if isinstance(reply, dict) else None
        self._uids[canary.key] = str((metadata or {}).get("uid") or "")
        self._conditions[canary.key] = (status, since)
        self._sent[canary.key] = unchanged
        return self._uids[canary.key]

    def _since(self, key: str, status: str, first: str) -> str:
        """The condition's lastTransitionTime: kept while its status stays the same (Flagger),
        else the state's last transition (when the tick that changed the phase decided)."""
        known = self._conditions.get(key)
        if known is not None and known[0] == status:
            return known[1]
        return first

    def _create_event(self, canary: Canary, uid: str, event_type: str, message: str) -> None:
        now = self._clock()
        suffix = f"{int(now.timestamp() * 1e9):x}{secrets.token_hex(2)}"
        body = event_body(canary, uid, event_type, message, now, suffix)
        event = self._event_model.from_dict(body)
        assert event is not None
        self._core.create_namespaced_event(canary.namespace, event,
                                           _content_type="application/json")


def _without_times(body: dict[str, Any]) -> dict[str, Any]:
    status = dict(body["status"])
    status["conditions"] = [{k: v for k, v in c.items() if k != "lastUpdateTime"}
                            for c in status["conditions"]]
    return status


def _short(err: Exception) -> str:
    """The first line of an API error (its reason and status), never the response headers."""
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def kube_status_listener(
    kubeconfig: str = "",
) -> Callable[[Canary, RolloutState, Decision], None]:
    """The announcer listener: in-cluster credentials, or `kubeconfig` when given."""
    from kubernetes import client, config

    try:
        if kubeconfig:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig)
        else:
            configuration = client.Configuration()
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
            api_client = client.ApiClient(configuration)
    except Exception as err:  # never stops gitbot: the status is informative only
        where = kubeconfig or "the in-cluster service account"
        log.error("kubernetes.status: no Kubernetes credentials from %s (%s); the Canary "
                  "status and events are not written", where, _short(err))
        return _nothing
    return KubeStatusWriter(api_client).publish


def _nothing(_canary: Canary, _state: RolloutState, _decision: Decision) -> None:
    return None
