"""Venue-agnostic retry policy: capped exponential backoff with full jitter, bounded in tries and time."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
MonotonicClock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: at most `max_attempts` tries (the first included) within `budget_s` seconds.

    The n-th retry waits uniform(0, min(max_delay_s, base_delay_s * 2**(n-1))) seconds ("full
    jitter", so many clients backing off at once spread out), unless the server named a
    Retry-After, which is honoured as given. A wait that would end past the budget is not taken.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    budget_s: float = 15.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an integer, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("base_delay_s", "max_delay_s", "budget_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0 or math.isinf(value):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be at least base_delay_s")

    def ceiling_s(self, retry: int) -> float:
        """Upper bound of the jittered wait before retry number `retry` (1 = first retry)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        # min() before the power would overflow for silly retry numbers.
        doublings = min(retry - 1, 62)
        return min(self.max_delay_s, self.base_delay_s * (2**doublings))

    def jittered_delay_s(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, ceiling]; `rng` returns a float in [0, 1)."""
        return self.ceiling_s(retry) * rng()


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/garbled."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        now = time.time() if now_epoch is None else now_epoch
        return max(0.0, when.timestamp() - now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class RetrySchedule:
    """The retry state of ONE logical request: counts tries and keeps the time budget.

    Callers that need to act between tries (e.g. look an order up before re-sending it) drive
    the loop themselves: `next_delay()` says how long to wait, or None when to give up.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: MonotonicClock = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng
        self._started = clock()
        self.attempts = 0  # tries started so far

    def start_attempt(self) -> int:
        """Record that a try is being made; returns its 1-based number."""
        self.attempts += 1
        return self.attempts

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._started

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.policy.budget_s - self.elapsed_s)

    def next_delay(self, retry_after_s: float | None = None) -> float | None:
        """Seconds to wait before the next try, or None if tries or time are used up."""
        if self.attempts >= self.policy.max_attempts:
            return None
        if retry_after_s is not None and retry_after_s >= 0:
            delay = float(retry_after_s)
        else:
            delay = self.policy.jittered_delay_s(self.attempts, self._rng)
        if delay >= self.remaining_s:
            return None
        return delay


@dataclass(frozen=True, slots=True)
class RetryAdvice:
    """What a classifier says about a failure: retry it, after `retry_after_s` if the server said."""

    retry_after_s: float | None = None


Classifier = Callable[[BaseException], RetryAdvice | None]


async def retry_async(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    classify: Classifier,
    clock: MonotonicClock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Run `operation` until it succeeds, a failure is not retryable, or the policy gives up.

    `classify` returns RetryAdvice for retryable failures and None for final ones. The last
    failure is re-raised unchanged, so callers see the venue's own error types.
    """
    schedule = RetrySchedule(policy, clock=clock, rng=rng)
    while True:
        schedule.start_attempt()
        try:
            return await operation()
        except Exception as exc:
            advice = classify(exc)
            if advice is None:
                raise
            delay = schedule.next_delay(advice.retry_after_s)
            if delay is None:
                raise
        await sleep(delay)


__all__ = [
    "Classifier",
    "RetryAdvice",
    "RetryPolicy",
    "RetrySchedule",
    "parse_retry_after",
    "retry_async",
]
