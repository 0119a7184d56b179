"""Send Flagger's fire-and-forget webhooks — `type: event` and `post-rollout` — in the background.

`gitbot.notify.Announcer` calls `event` and `post_rollout` after a tick's commit and state write;
they only queue the call (`gitbot.adapters.background.OrderedSender`: bounded queue, `flush`/
`close` with a deadline), so a slow event sink never holds a tick. As in Flagger, their result
never changes a rollout. A canary's calls are made one at a time, in the order they were queued
(its events arrive in the order they were decided), by one of `LANES` worker threads chosen by
the canary's key: a slow sink of one canary delays the calls of the canaries sharing its lane
only, never a tick. Each hook's `timeout` (the deadline of
its whole call, retries included) is at most `max_timeout_s` (config `webhooks.maxTimeout`). A
failed hook is logged once, as a warning naming the canary, the hook and the cause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gitbot.adapters.background import MAX_QUEUED, OrderedSender
from gitbot.adapters.webhooks import call_hooks, send_event
from gitbot.core.spec import Canary, WebhookType
from gitbot.core.state import HookResult

log = logging.getLogger("gitbot.webhooks")

LANES = 4  # worker threads; a canary's calls always go to the same one


@dataclass(frozen=True)
class _Call:
    send: Callable[[], tuple[HookResult, ...]]


class EventSender(OrderedSender[_Call]):
    """The ordered background queue of event and post-rollout webhook calls."""

    def __init__(self, max_timeout_s: float | None = None, *, max_queued: int = MAX_QUEUED,
                 lanes: int = LANES) -> None:
        super().__init__(self._send, label="event webhook", log=log, max_queued=max_queued,
                         thread_name="event-sender", noun="call", lanes=lanes)
        self.max_timeout_s = max_timeout_s

    def event(self, canary: Canary, message: str, event_type: str, phase: str, checksum: str,
              now_ms: int) -> bool:
        """Queue one event for the canary's `type: event` hooks (none: nothing queued)."""
        if not canary.analysis.hooks(WebhookType.EVENT):
            return False
        return self.submit(canary.key, _Call(lambda: send_event(
            canary, message, event_type, phase, checksum, now_ms,
            max_timeout_s=self.max_timeout_s)))

    def post_rollout(self, canary: Canary, phase: str, checksum: str) -> bool:
        """Queue the canary's post-rollout hooks (in spec order, stopping at the first failure,
        as Flagger does)."""
        if not canary.analysis.hooks(WebhookType.POST_ROLLOUT):
            return False
        return self.submit(canary.key, _Call(lambda: call_hooks(
            canary, WebhookType.POST_ROLLOUT, phase, checksum, max_timeout_s=self.max_timeout_s)))

    def _send(self, who: str, call: _Call) -> None:
        for result in call.send():
            if not result.passed:
                log.warning("%s: %s webhook %s failed: %s", who, result.type.value, result.name,
                            result.message)
