"""Deliver chat messages in the background, retried a bounded number of times.

`gitbot.notify.Announcer` hands each `Delivery` to one `ChatSender` after the tick's commit and
state write; `submit` only queues it, so a slow or failing chat service never holds a tick (and so
never delays a rollout). One worker thread, started on the first message, sends in order (a
canary's messages arrive in the order they were decided) with `RetryPolicy`: at most 3 attempts,
waiting 1 s then 2 s, all within a total budget per message (each attempt is also bounded by the
notifier's own deadline, 5 s). Only a failure worth repeating (no answer, HTTP 429 or 5xx) is
retried; a 4xx or a refused redirect is final. A failure is logged once, as a warning, after the
last attempt. The queue (`gitbot.adapters.background.OrderedSender`) is bounded: when it is full a
message is dropped with a warning rather than wait. `close(timeout)` (called by `App.close`)
drains what is queued within `timeout`, then abandons the rest with one warning; `flush(timeout)`
waits until everything queued was handled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gitbot.adapters.background import DRAIN_SECONDS, MAX_QUEUED, OrderedSender
from gitbot.adapters.notifiers import Delivery, Failure

__all__ = ["DRAIN_SECONDS", "MAX_QUEUED", "ChatSender", "Outcome", "RetryPolicy", "deliver"]

log = logging.getLogger("gitbot.notify")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one message: attempts, the waits between them, and a total budget."""

    attempts: int = 3
    backoff: tuple[float, ...] = (1.0, 2.0)  # wait before attempt 2, 3, ... (last one repeats)
    budget_s: float = 15.0  # attempts and waits together, per message

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (2, 3, ...)."""
        return self.backoff[min(attempt - 2, len(self.backoff) - 1)] if self.backoff else 0.0


@dataclass(frozen=True)
class Outcome:
    """What became of one message: delivered or not, after how many attempts."""

    delivery: Delivery
    who: str  # the canary key, for the log
    attempts: int
    failure: Failure | None


def deliver(
    delivery: Delivery,
    policy: RetryPolicy,
    wait: Callable[[float], bool],
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, Failure | None]:
    """Try `delivery` under `policy`; (attempts made, the last failure or None).

    `wait(seconds)` sleeps and returns True when the sender is told to give up.
    """
    end = clock() + policy.budget_s
    failure: Failure | None = None
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1:
            pause = policy.wait_before(attempt)
            if clock() + pause >= end or wait(pause):
                return attempt - 1, failure
        remaining = end - clock()
        if remaining <= 0:
            return attempt - 1, failure
        failure = delivery.notifier.attempt(delivery.message, deadline_s=remaining)
        if failure is None or not failure.retryable:
            return attempt, failure
    return policy.attempts, failure


class ChatSender(OrderedSender[Delivery]):
    """The ordered background queue of chat deliveries (see the module doc)."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        max_queued: int = MAX_QUEUED,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        super().__init__(self._send, label="chat", log=log, max_queued=max_queued,
                         thread_name="chat-sender")
        self.policy = policy or RetryPolicy()
        self.on_outcome = on_outcome

    def _send(self, who: str, delivery: Delivery) -> None:
        try:
            attempts, failure = deliver(delivery, self.policy, self.abort.wait)
        except Exception as err:  # a broken notifier must not stop the sender
            attempts, failure = 1, Failure(f"{type(err).__name__}: {err}", False)
        self._report(Outcome(delivery, who, attempts, failure))

    def _report(self, outcome: Outcome) -> None:
        if outcome.failure is not None:
            tries = "1 attempt" if outcome.attempts == 1 else f"{outcome.attempts} attempts"
            log.warning("%s: chat: %s (gave up after %s)", outcome.who,
                        outcome.delivery.error(outcome.failure), tries)
        elif outcome.attempts > 1:
            log.info("%s: chat: delivered at attempt %d", outcome.who, outcome.attempts)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
