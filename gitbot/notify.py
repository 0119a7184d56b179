"""Tell people what a tick did: chat messages, Flagger `event` webhooks, post-rollout hooks.

Called by the reconciler after acting. Best effort: a failing chat endpoint or webhook is
logged and never changes a decision. Every commit gets a chat message (with a link when
`git.commitUrl` is set); alerts without a commit go out on their own, filtered by severity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from gitbot.adapters.notifiers import ChatMessage, Notifier, notify
from gitbot.adapters.webhooks import call_hooks, send_event
from gitbot.core.messages import alert_metadata
from gitbot.core.spec import AlertProvider, Canary, Severity, WebhookType
from gitbot.core.state import AlertMessage, Decision, RolloutState

log = logging.getLogger("gitbot.notify")

_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.ERROR: 2}


class Announcer:
    """Sends the outward messages of one decision."""

    def __init__(
        self,
        providers: Callable[[], Mapping[str, AlertProvider]],
        secrets: Callable[[str, str], Mapping[str, str]],
        *,
        commit_url: str = "",
        global_chat: Notifier | None = None,
    ) -> None:
        self.global_chat = global_chat
        self.providers = providers
        self.secrets = secrets
        self.commit_url = commit_url
        # called with (canary, state, decision) after each tick, e.g. the Kubernetes status
        self.listeners: list[Callable[[Canary, RolloutState, Decision], object]] = []

    def announce(
        self, canary: Canary, state: RolloutState, decision: Decision, sha: str, subject: str
    ) -> None:
        checksum = state.last_applied_spec
        for event in decision.events:
            log.info("%s %s: %s", canary.key, event.type, event.message)
            self._safely(
                send_event, canary, event.message, event.type, state.phase.value, checksum,
                int(time.time() * 1000),
            )
        url = self.commit_url.format(sha=sha) if sha and self.commit_url else ""
        for alert in _chat_messages(decision, sha, subject):
            errors: Sequence[str]
            if not canary.analysis.alerts and self.global_chat is not None:
                errors = self._global(canary, alert, url)
            else:
                errors = self._safely(
                    notify, canary, alert, self.providers(), self.secrets, commit_url=url,
                    fields=alert_metadata(canary),
                )
            for error in errors or ():
                log.warning("%s: chat: %s", canary.key, error)
        if decision.post_rollout:
            self._safely(call_hooks, canary, WebhookType.POST_ROLLOUT, decision.post_rollout,
                         checksum)
        for listener in self.listeners:
            self._safely(listener, canary, state, decision)

    def _global(self, canary: Canary, alert: AlertMessage, url: str) -> list[str]:
        """Flagger's global notifier: every message, whatever its severity."""
        assert self.global_chat is not None
        fields = alert_metadata(canary) if alert.with_metadata else ()
        message = ChatMessage(canary.name, canary.namespace, alert.message, alert.severity,
                              link=url, fields=tuple(fields))
        error = self.global_chat.post(message)
        return [error] if error else []

    @staticmethod
    def _safely(fn: Callable[..., object], *args: object, **kwargs: object) -> Sequence[str]:
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # chat and event sinks must never break a tick
            log.warning("notification failed: %s", err)
            return ()
        return result if isinstance(result, list) else ()


def _chat_messages(decision: Decision, sha: str, subject: str) -> list[AlertMessage]:
    """One message per commit (carrying the alerts' text), else the alerts themselves."""
    alerts = list(decision.alerts)
    if decision.change is None or not sha:
        return alerts
    severity = max((a.severity for a in alerts), key=_RANK.__getitem__, default=Severity.INFO)
    lines = [a.message for a in alerts] + [f"Committed {sha[:12]} {subject}"]
    metadata = any(a.with_metadata for a in alerts)
    return [AlertMessage(severity, "\n".join(lines), with_metadata=metadata)]
