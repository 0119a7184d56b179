"""Tell people what a tick did: chat messages, Flagger `event` webhooks, post-rollout hooks.

Called by the reconciler after acting, i.e. after the commit and the state write. Best effort: a
failing chat endpoint or webhook is logged and never changes a decision. Nothing here waits for
the network: chat goes through a `ChatSender` (background thread, bounded retries), event and
post-rollout webhooks through an `EventSender` (background thread, in order, each call bounded by
`webhooks.maxTimeout`), so neither holds a tick; `close` (from `App.close`) drains both queues
within one deadline.

Two rhythms, chosen per canary (annotation `gitbot.io/chat-rhythm`) or for all (config
`notifications.rhythm`):
- `commit` (default): every commit gets a message (with a link when `git.commitUrl` is set)
  carrying the tick's alerts; alerts without a commit go out on their own.
- `phase`: Flagger's rhythm, the alerts alone — initialized, new revision (run started), waiting
  for approval, promotion finished, failed/rolled back — with the commit link when the alert came
  with a commit; an alert repeated on consecutive ticks in the same phase (a refused traffic
  increase, which Flagger repeats every tick) is told once. Halted checks stay events, as in
  Flagger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from gitbot.adapters.chat_delivery import DRAIN_SECONDS, ChatSender
from gitbot.adapters.event_delivery import EventSender
from gitbot.adapters.notifiers import ChatMessage, Delivery, Notifier, plan
from gitbot.core.messages import alert_metadata
from gitbot.core.spec import AlertProvider, Canary, Severity
from gitbot.core.state import AlertMessage, Decision, Phase, RolloutState

log = logging.getLogger("gitbot.notify")

_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.ERROR: 2}
COMMIT, PHASE = "commit", "phase"


class Announcer:
    """Sends the outward messages of one decision."""

    def __init__(
        self,
        providers: Callable[[], Mapping[str, AlertProvider]],
        secrets: Callable[[str, str], Mapping[str, str]],
        *,
        commit_url: str = "",
        global_chat: Notifier | None = None,
        rhythm: str = COMMIT,
        sender: ChatSender | None = None,
        events: EventSender | None = None,
    ) -> None:
        self.global_chat = global_chat
        self.providers = providers
        self.secrets = secrets
        self.commit_url = commit_url
        # called with (canary, state, decision) after each tick, e.g. the Kubernetes status
        self.listeners: list[Callable[[Canary, RolloutState, Decision], object]] = []
        self.rhythm = rhythm
        self.sender = sender or ChatSender()
        self.events = events or EventSender()
        self._told: dict[str, set[tuple[Phase, str]]] = {}  # phase rhythm: last tick's alerts

    def announce(
        self, canary: Canary, state: RolloutState, decision: Decision, sha: str, subject: str
    ) -> None:
        checksum = state.last_applied_spec
        for event in decision.events:
            log.info("%s %s: %s", canary.key, event.type, event.message)
            self._safely(
                self.events.event, canary, event.message, event.type, state.phase.value,
                checksum, int(time.time() * 1000),
            )
        url = self.commit_url.format(sha=sha) if sha and self.commit_url else ""
        for alert in self._chat_messages(canary, state, decision, sha, subject):
            self._safely(self._queue, canary, alert, url)
        if decision.post_rollout:
            self._safely(self.events.post_rollout, canary, decision.post_rollout, checksum)
        for listener in self.listeners:
            self._safely(listener, canary, state, decision)

    def flush(self, timeout: float) -> bool:
        """Wait until the queued chat messages and webhook calls were sent or given up, within
        `timeout` in all; False on timeout."""
        end = time.monotonic() + timeout
        chat = self.sender.flush(timeout)
        return self.events.flush(max(0.0, end - time.monotonic())) and chat

    def close(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Send what is queued within `timeout` in all, then stop; True when nothing was left."""
        end = time.monotonic() + timeout
        chat = self.sender.close(timeout)
        return self.events.close(max(0.0, end - time.monotonic())) and chat

    def rhythm_of(self, canary: Canary) -> str:
        return canary.chat_rhythm or self.rhythm

    def _chat_messages(
        self, canary: Canary, state: RolloutState, decision: Decision, sha: str, subject: str
    ) -> list[AlertMessage]:
        if self.rhythm_of(canary) == COMMIT:
            return commit_rhythm(decision, sha, subject)
        before = self._told.get(canary.key, set())
        now = {(state.phase, a.message) for a in decision.alerts}
        self._told[canary.key] = now
        return [a for a in decision.alerts if (state.phase, a.message) not in before]

    def _queue(self, canary: Canary, alert: AlertMessage, url: str) -> None:
        planned: Sequence[Delivery | str]
        if not canary.analysis.alerts and self.global_chat is not None:
            planned = [self._global(canary, alert, url)]
        else:
            planned = plan(canary, alert, self.providers(), self.secrets, commit_url=url,
                           fields=alert_metadata(canary))
        for item in planned:
            if isinstance(item, str):
                log.warning("%s: chat: %s", canary.key, item)
            else:
                self.sender.submit(canary.key, item)

    def _global(self, canary: Canary, alert: AlertMessage, url: str) -> Delivery:
        """Flagger's global notifier: every message, whatever its severity."""
        assert self.global_chat is not None
        fields = alert_metadata(canary) if alert.with_metadata else ()
        message = ChatMessage(canary.name, canary.namespace, alert.message, alert.severity,
                              link=url, fields=tuple(fields))
        return Delivery(self.global_chat, message)

    @staticmethod
    def _safely(fn: Callable[..., object], *args: object, **kwargs: object) -> Sequence[str]:
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # chat and event sinks must never break a tick
            log.warning("notification failed: %s", err)
            return ()
        return result if isinstance(result, list) else ()


def commit_rhythm(decision: Decision, sha: str, subject: str) -> list[AlertMessage]:
    """One message per commit (carrying the alerts' text), else the alerts themselves."""
    alerts = list(decision.alerts)
    if decision.change is None or not sha:
        return alerts
    severity = max((a.severity for a in alerts), key=_RANK.__getitem__, default=Severity.INFO)
    lines = [a.message for a in alerts] + [f"Committed {sha[:12]} {subject}"]
    metadata = any(a.with_metadata for a in alerts)
    return [AlertMessage(severity, "\n".join(lines), with_metadata=metadata)]
