"""The BTC price the fair value uses, anchored to BRTI: the trade feed scaled by the measured BRTI basis.

KXBTC15M settles on CF Benchmarks' BRTI (its strike and its settlement are 60-second BRTI averages),
not on any one exchange. Kalshi publishes BRTI about once a second (`cfbenchmarks_value`); the trade
feed (Binance/Coinbase) ticks many times a second and leads between BRTI prints. So the model prices
BRTI as

    brti_now = feed_price_now * exp(basis),   basis = median of ln(BRTI print / feed price when it arrived)

over the last `samples` prints: the feed carries the fast moves, BRTI fixes the level. Moves and
volatility are ratios, identical for both. When BRTI is older than `max_index_age_s` (or never came),
the feed price is used as is (`anchored` False) and the snapshot says so.

In the last minute before a quarter hour the BRTI print also carries the running settlement average
of that minute (`last_60s_windowed_average_15min`): the snapshot passes it on (`settle_avg`,
`settle_close_ts`), so the strategy uses the observed part of the settlement average instead of a
model of it.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import replace
from typing import Protocol

from src.data.kalshi_ws_messages import BRTI, IndexValue
from src.model.interfaces import PriceFeed
from src.model.models import Clock, FeedSnapshot


class IndexSource(Protocol):
    """What the anchor reads from the Kalshi websocket (src/data/kalshi_ws.KalshiWs)."""

    def index_value(self, index_id: str = BRTI) -> IndexValue | None: ...

    def index_age(self, now: float, index_id: str = BRTI) -> float | None: ...


class BrtiAnchor:
    """A PriceFeed: the wrapped trade feed's snapshot, its price moved onto the BRTI level."""

    def __init__(
        self,
        feed: PriceFeed,
        index: IndexSource,
        clock: Clock,
        *,
        samples: int = 30,
        max_index_age_s: float = 10.0,
    ) -> None:
        if samples < 1 or not max_index_age_s > 0:
            raise ValueError("samples must be at least 1 and max_index_age_s positive")
        self.feed = feed
        self.index = index
        self._clock = clock
        self.max_index_age_s = max_index_age_s
        self._basis: deque[float] = deque(maxlen=samples)
        self.source = feed.source

    # -- measurement -------------------------------------------------------------------------------

    def on_index(self, value: IndexValue) -> None:
        """A BRTI print arrived: one basis sample against the feed price of this moment."""
        if value.index_id != BRTI:
            return
        stale, price, *_ = self.feed.screen_values()
        brti = float(value.value)
        if stale or not price > 0.0 or not brti > 0.0:
            return
        self._basis.append(math.log(brti / price))

    @property
    def basis(self) -> float | None:
        """Median ln(BRTI / feed) over the recent prints; None before the first."""
        return statistics.median(self._basis) if self._basis else None

    @property
    def basis_bps(self) -> float | None:
        basis = self.basis
        return None if basis is None else basis * 1e4

    @property
    def basis_samples(self) -> int:
        return len(self._basis)

    def _live_basis(self, now: float) -> float | None:
        age = self.index.index_age(now)
        if age is None or age > self.max_index_age_s:
            return None
        return self.basis

    # -- PriceFeed ---------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.feed.run()

    def stop(self) -> None:
        self.feed.stop()

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        stale, price, gap, move, volatility = self.feed.screen_values()
        basis = self._live_basis(self._clock())
        if basis is not None:
            price *= math.exp(basis)
        return stale, price, gap, move, volatility

    def snapshot(self) -> FeedSnapshot:
        snap = self.feed.snapshot()
        now = self._clock()
        basis = self._live_basis(now)
        if basis is None:
            return snap
        factor = math.exp(basis)
        settle_avg, settle_close = 0.0, 0.0
        value = self.index.index_value()
        if value is not None and value.settle_avg is not None:
            settle_avg = float(value.settle_avg.value)
            # The window is (close - 60 s, close]: its start names the quarter hour it settles.
            settle_close = value.settle_avg.start_ms / 1000.0 + 60.0
        return replace(
            snap,
            price=snap.price * factor,
            window_start_price=snap.window_start_price * factor,
            anchored=True,
            basis_bps=basis * 1e4,
            settle_avg=settle_avg,
            settle_close_ts=settle_close,
        )
