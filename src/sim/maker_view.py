"""The simulated market maker's delayed view of BTC: the last price, and its realised volatility, lag_s ago.

Asked at time t, the maker sees every tick at or before t - lag_s (lag_s = 0: the latest tick,
whatever the ticks' spacing) and nothing after. Its realised volatility is computed exactly as
the feed's RollingWindow computes the strategy's (src/data/window.py): sigma^2 per second = the
sum of the squared tick log returns between the first and last visible tick of the last
`window_s` seconds, over their time span. With lag_s = 0 and the same ticks from the same first
tick, the two figures are the same floats (the same running sum, built in the same order).

Storage: parallel lists (time, price, running sum of squared log returns) with two cursors that
only move forward -- `head`, the newest visible tick, and `first`, the oldest tick inside the
volatility window ending at head -- so a query costs a comparison or two, and a tick one log and
three appends. Ticks before `first` are deleted in batches. Time only moves forward: a query
for a time whose ticks were passed over raises ValueError.
"""

from __future__ import annotations

import math

_log = math.log
_COMPACT_AT = 4096  # ticks behind the cursors before they are deleted (amortised O(1) per tick)


class MakerView:
    """What the maker knows about BTC at each moment: see the module docstring."""

    __slots__ = ("lag_s", "window_s", "with_volatility", "_ts", "_px", "_cum", "_last_log",
                 "_head", "_first", "_moved", "_deleted", "_check_at")

    def __init__(self, lag_s: float, window_s: float = 60.0, *, with_volatility: bool = True) -> None:
        if not 0.0 <= lag_s < math.inf:
            raise ValueError(f"lag_s must be >= 0 seconds, got {lag_s}")
        if not 0.0 < window_s < math.inf:
            raise ValueError(f"window_s must be a positive number of seconds, got {window_s}")
        self.lag_s = float(lag_s)
        self.window_s = float(window_s)
        self.with_volatility = with_volatility  # False: prices only (a fixed-volatility maker)
        self._ts: list[float] = []
        self._px: list[float] = []
        self._cum: list[float] = []
        self._last_log = 0.0
        self._head = 0  # index of the newest tick the maker has been asked to see
        self._first = 0  # index of the oldest tick in the volatility window ending at head
        self._moved = False  # head has moved, or ticks were deleted: earlier times are gone
        self._deleted = 0  # ticks deleted from the front (absolute index = _deleted + index)
        self._check_at = 2 * _COMPACT_AT  # on_price moves the cursors itself once this many are held

    def __len__(self) -> int:
        """Ticks held (for tests: memory stays bounded)."""
        return len(self._ts)

    def on_price(self, ts: float, price: float) -> None:
        """One BTC tick, in time order (runs for every tick of a backtest: kept lean)."""
        if self.with_volatility:
            logp = _log(price)
            cum = self._cum
            if cum:
                r = logp - self._last_log
                cum.append(cum[-1] + r * r)
            else:
                cum.append(0.0)
            self._last_log = logp
        tss = self._ts
        tss.append(ts)
        self._px.append(price)
        if len(tss) > self._check_at:
            # Nobody asked for a while: every later question is at a time >= floor(ts), so the
            # ticks it can need start at the one visible then.
            self._see(math.floor(ts) - self.lag_s)
            self._check_at = self._first + 2 * _COMPACT_AT

    def _see(self, target: float) -> int:
        """Move head to the newest tick at or before `target` (if any is); return its absolute index."""
        tss = self._ts
        head = self._head
        last = len(tss) - 1
        if head < last and tss[head + 1] <= target:
            head += 1
            while head < last and tss[head + 1] <= target:
                head += 1
            self._head = head
            self._moved = True
            if self.with_volatility:
                cutoff = tss[head] - self.window_s
                first = self._first
                while tss[first] < cutoff:
                    first += 1
                self._first = first
            else:
                self._first = head
            if self._first > _COMPACT_AT:
                self._compact()
        elif tss and tss[head] > target and self._moved:
            # The ticks that answered this were passed over: simulated time only moves forward.
            raise ValueError(f"quote asked for {target + self.lag_s}, before the exchange's time "
                             f"{math.floor(tss[head] + self.lag_s)}")
        return self._deleted + self._head

    def _compact(self) -> None:
        n = self._first
        del self._ts[:n], self._px[:n]
        if self.with_volatility:
            del self._cum[:n]
        self._head -= n
        self._first = 0
        self._deleted += n
        self._check_at = 2 * _COMPACT_AT

    def position(self, now: float) -> int | None:
        """An id of the tick the maker sees at `now` (the same id while nothing new is visible);
        None before any tick. Before any tick is lag_s old, the oldest tick is what it sees."""
        if not self._ts:
            return None
        return self._see(now - self.lag_s)

    def price(self, now: float) -> float | None:
        """The last BTC price at or before now - lag_s (the oldest known before any is that old)."""
        if self.position(now) is None:
            return None
        return self._px[self._head]

    def volatility(self, now: float) -> float:
        """Realised volatility per sqrt(second) over the window ending at the visible tick (0 if unknown)."""
        if not self.with_volatility or self.position(now) is None:
            return 0.0
        head, first = self._head, self._first
        span = self._ts[head] - self._ts[first]
        sum_sq = self._cum[head] - self._cum[first]
        return math.sqrt(sum_sq / span) if span > 0.0 and sum_sq > 0.0 else 0.0
