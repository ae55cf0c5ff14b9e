"""Venue-agnostic async token bucket: at most N requests reach a server in any window of P seconds."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

Sleep = Callable[[float], Awaitable[None]]
MonotonicClock = Callable[[], float]

_OUT = math.inf  # return time of a token that is held by an in-flight request


class TokenBucket:
    """`capacity` tokens; a token used at time t comes back at t + period_s.

    Why not the classic continuous-refill bucket: a full classic bucket of rate r lets r requests
    through at once and then r more during the next second, so a server counting per second can
    see up to 2r. Here every token is used at most once per period, so ANY window of period_s
    seconds holds at most `capacity` uses — a limit that can never be exceeded, whatever the
    number of concurrent callers.

    `hold()` goes further for HTTP: the token is taken before the request is sent and comes back
    period_s after the response (or failure) arrives, so the request's arrival at the server lies
    inside the held interval. Consecutive arrivals on one token are then more than period_s apart
    even with scheduling jitter, signing time or slow networks in between.

    Waiters are served first come, first served. Clock and sleep are injectable for tests.
    """

    def __init__(
        self,
        capacity: int,
        period_s: float = 1.0,
        *,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"token bucket capacity must be a positive integer, got {capacity!r}")
        if not period_s > 0 or math.isinf(period_s):
            raise ValueError(f"token bucket period must be a positive number of seconds, got {period_s!r}")
        self.capacity = capacity
        self.period_s = float(period_s)
        self._clock = clock
        self._sleep = sleep
        self._returns: list[float] = [-math.inf] * capacity  # when each token is usable again
        self._turn = asyncio.Lock()  # FIFO: one waiter at a time looks for the next token
        self._released = asyncio.Event()

    @classmethod
    def per_second(
        cls,
        rate: float | Decimal,
        *,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> TokenBucket:
        """A bucket that never lets more than `rate` requests through in any one second.

        Fractional rates round in the safe direction: 2.5/s becomes 2 per second, 0.5/s becomes
        1 per 2 seconds.
        """
        value = float(rate)
        if not value > 0 or math.isinf(value):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
        if value >= 1:
            return cls(int(math.floor(value)), 1.0, clock=clock, sleep=sleep)
        return cls(1, 1.0 / value, clock=clock, sleep=sleep)

    @property
    def rate_per_s(self) -> float:
        return self.capacity / self.period_s

    def time_until_available(self) -> float:
        """Seconds until a token would be granted at once (0.0 now; inf while all are held)."""
        earliest = min(self._returns)
        return max(0.0, earliest - self._clock())

    async def _take(self) -> int:
        async with self._turn:
            while True:
                now = self._clock()
                index = min(range(self.capacity), key=self._returns.__getitem__)
                earliest = self._returns[index]
                if earliest <= now:
                    self._returns[index] = _OUT
                    return index
                if earliest == _OUT:
                    # Every token is held by an in-flight request: wait for one to finish.
                    self._released.clear()
                    await self._released.wait()
                else:
                    await self._sleep(earliest - now)

    def _give_back(self, index: int) -> None:
        self._returns[index] = self._clock() + self.period_s
        self._released.set()

    async def acquire(self) -> None:
        """Wait for a token; it comes back period_s from now."""
        index = await self._take()
        self._give_back(index)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold a token for the duration of the block; it comes back period_s after the block ends."""
        index = await self._take()
        try:
            yield
        finally:
            self._give_back(index)

    def __repr__(self) -> str:
        return f"TokenBucket(capacity={self.capacity}, period_s={self.period_s})"


__all__ = ["MonotonicClock", "Sleep", "TokenBucket"]
