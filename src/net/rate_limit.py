"""Venue-agnostic async token bucket: at most N requests reach a server in any window of P seconds."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from heapq import heappop, heappush
from types import TracebackType

from src.net.backoff import MonotonicClock, Sleep


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
        # When each token that is not held is usable again, as a min-heap: the earliest is [0].
        # Tokens held by in-flight requests are not in it; an empty heap means all are held.
        self._free: list[float] = [-math.inf] * capacity
        self._turn = asyncio.Lock()  # FIFO: one waiter at a time looks for the next token
        self._queued = 0  # callers inside _take's locked path (holding or waiting for the turn)
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
        if not self._free:
            return math.inf
        return max(0.0, self._free[0] - self._clock())

    async def _take(self) -> None:
        free = self._free
        if not self._queued and free and free[0] <= self._clock():
            # Nobody queued and a token is ready: what the locked path below would do at once,
            # without the lock round trip (an uncontended asyncio.Lock is granted without yielding).
            heappop(free)
            return
        self._queued += 1
        try:
            async with self._turn:
                while True:
                    if not free:
                        # Every token is held by an in-flight request: wait for one to finish.
                        self._released.clear()
                        await self._released.wait()
                        continue
                    now = self._clock()
                    earliest = free[0]
                    if earliest <= now:
                        heappop(free)
                        return
                    await self._sleep(earliest - now)
        finally:
            self._queued -= 1

    def _give_back(self) -> None:
        heappush(self._free, self._clock() + self.period_s)
        self._released.set()

    async def acquire(self) -> None:
        """Wait for a token; it comes back period_s from now."""
        await self._take()
        self._give_back()

    def hold(self) -> AbstractAsyncContextManager[None]:
        """Hold a token for the duration of the block; it comes back period_s after the block ends."""
        return _Hold(self)

    def __repr__(self) -> str:
        return f"TokenBucket(capacity={self.capacity}, period_s={self.period_s})"


class _Hold:
    """`async with bucket.hold():` — a plain class, cheaper per request than a generator-based one."""

    __slots__ = ("_bucket",)

    def __init__(self, bucket: TokenBucket) -> None:
        self._bucket = bucket

    async def __aenter__(self) -> None:
        await self._bucket._take()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bucket._give_back()


__all__ = ["MonotonicClock", "Sleep", "TokenBucket"]
