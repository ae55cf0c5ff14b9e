"""The 60-second BTC averages before each 15-minute boundary: the simulator's strikes and settlement values.

KXBTC15M's strike (`floor_strike`) is the average of the 60 one-second BRTI values before the
window opens, and the market settles on the same kind of average before it closes. A window's
close is the next window's open, so one average per boundary B serves both: the settlement
value of the window closing at B and the strike of the window opening at B.

Sampling: the value at whole second s is the last traded price at or before s (a step
function, like a once-a-second index print). The average at B is the mean of the 60 values at
s = B-60, ..., B-1. It is known once a tick at or after B has arrived (the data up to B-1 is
then complete) and only if a price existed at B-60; otherwise that boundary has no average
(the first window of a replay, for instance) and its market never gets a strike.
"""

from __future__ import annotations

import math

from src.model.kxbtc15m import WINDOW_S

AVERAGE_S = 60


class BoundaryAverages:
    """Per-second sampling of a tick stream into the averages before each window boundary."""

    __slots__ = ("period", "span", "_sums", "_counts", "_last_price", "_last_ts", "_next_s", "_next_span_start")

    def __init__(self, period_s: int = WINDOW_S, span_s: int = AVERAGE_S) -> None:
        if not 0 < span_s <= period_s:
            raise ValueError(f"need 0 < span_s <= period_s, got span_s={span_s} period_s={period_s}")
        self.period = int(period_s)
        self.span = int(span_s)
        self._sums: dict[int, float] = {}
        self._counts: dict[int, int] = {}
        self._last_price: float | None = None
        self._last_ts = -math.inf
        self._next_s = 0  # first whole second not sampled yet
        self._next_span_start = 0  # first second of the next averaging span at or after _next_s

    def on_price(self, ts: float, price: float) -> None:
        """Feed one tick (ticks must not go back in time)."""
        if ts <= self._next_span_start and self._last_price is not None:
            # Fast path (most ticks): no averaging second lies before ts, so there is nothing to
            # sample yet. _next_s may lag behind; _sample only records span seconds, and those all
            # come after this tick, so they correctly take the latest price when sampled.
            if ts < self._last_ts:
                raise ValueError(f"ticks went back in time: {ts} after {self._last_ts}")
            self._last_price = price
            self._last_ts = ts
            return
        if ts < self._last_ts:
            raise ValueError(f"ticks went back in time: {ts} after {self._last_ts}")
        if self._last_price is None:
            self._next_s = math.ceil(ts)
            self._next_span_start = self._span_start_from(self._next_s)
        else:
            last_second = math.ceil(ts) - 1  # seconds s < ts still take the previous price
            if last_second >= self._next_span_start:
                self._sample(last_second, self._last_price)
            if last_second >= self._next_s:
                self._next_s = last_second + 1
                if self._next_s > self._next_span_start:
                    self._next_span_start = self._span_start_from(self._next_s)
        self._last_price = price
        self._last_ts = ts

    def _span_start_from(self, second: int) -> int:
        """First second at or after `second` that lies inside an averaging span."""
        boundary = (second // self.period + 1) * self.period
        start = boundary - self.span
        return second if second >= start else start

    def _sample(self, last_second: int, price: float) -> None:
        """Record `price` for every span second in [_next_s, last_second]."""
        s = self._next_s
        while s <= last_second:
            boundary = (s // self.period + 1) * self.period
            lo = max(s, boundary - self.span)
            hi = min(last_second, boundary - 1)
            if lo <= hi:
                n = hi - lo + 1
                self._sums[boundary] = self._sums.get(boundary, 0.0) + price * n
                self._counts[boundary] = self._counts.get(boundary, 0) + n
            s = boundary

    def average(self, boundary: float) -> float | None:
        """The average of the 60 seconds before `boundary`, or None if not (or never) complete."""
        b = int(boundary)
        if self._counts.get(b) != self.span:
            return None
        return self._sums[b] / self.span

    def samples(self, boundary: float) -> int:
        """How many of the span's seconds have been sampled so far (for inspection and tests)."""
        return self._counts.get(int(boundary), 0)
