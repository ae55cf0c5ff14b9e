"""Rolling time window over BTC trades (keyed by trade time) that yields FeedSnapshots in O(1)."""

from __future__ import annotations

from collections import deque
from math import inf, isfinite, log, sqrt
from sys import float_info

from src.model.models import FeedSnapshot

# "No trade yet" for the last trade time: below every finite time, yet above -inf, so the one
# chained comparison in push() also refuses an infinite trade time.
_NO_TS = -float_info.max
# screen_values() of an empty window, as its snapshot has them.
_EMPTY_SCREEN = (True, 0.0, False, 0.0, 0.0)


class RollingWindow:
    """The last `window_s` seconds of trades, by exchange trade time, with running statistics.

    Every `push` is O(1) amortised: trades enter on the right and leave on the left once older than
    `window_s` before the newest trade. They leave in batches: a push drops them only once the
    oldest is two windows old, and every read (snapshot, screen_values, len) first drops those
    older than one window. The cutoff only moves forward, so this holds exactly the trades an
    eviction on every push would, at a fraction of the cost per trade (and at most two windows of
    memory). Volatility uses a running prefix sum of squared log returns,
    so the sum over the window is one subtraction: no re-scan, and no error piling up from repeated
    add/subtract (the rounding is ~1e-16 of the lifetime total: nothing, for years of BTC ticks).

    Realised volatility: sigma^2 per second = (sum of squared tick log returns between the first and
    last trade in the window) / (their time span). For a Brownian log price this estimates the
    variance rate; BTC's one-cent spreads make bid/ask bounce negligible at this scale.

    Gaps: `mark_gap()` (the feed calls it on every disconnect) and any silence between two trades
    longer than `gap_after_s` record a gap at the last trade time before it. While the first trade in
    the window is at or before a gap and the newest is after it, `gap_in_window` is True, so a move
    measured across missing data is never mistaken for a fast move.
    """

    __slots__ = (
        "source",
        "window_s",
        "stale_after_s",
        "gap_after_s",
        "rejected",
        "_keep_s",
        "_evict_at",
        "_ts",
        "_px",
        "_cum",
        "_gaps",
        "_last_id",
        "_last_ts",
        "_last_logp",
        "_last_cum",
        "_last_recv",
    )

    def __init__(
        self,
        source: str,
        window_s: float = 60.0,
        stale_after_s: float = 10.0,
        gap_after_s: float | None = None,
    ) -> None:
        window_s = float(window_s)
        stale_after_s = float(stale_after_s)
        if not (isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be a positive number of seconds, got {window_s}")
        if not (isfinite(stale_after_s) and stale_after_s > 0):
            raise ValueError(f"stale_after_s must be a positive number of seconds, got {stale_after_s}")
        if gap_after_s is not None and not float(gap_after_s) > 0:
            raise ValueError(f"gap_after_s must be positive or None, got {gap_after_s}")
        self.source = source
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        # inf disables silence-based gaps without a None check on the hot path.
        self.gap_after_s = inf if gap_after_s is None else float(gap_after_s)
        self._keep_s = 2.0 * window_s  # a push evicts once the oldest trade is this old
        # The trade time past which a push evicts: oldest kept trade + _keep_s, set whenever the
        # oldest changes, so the per-push test is one comparison.
        self._evict_at = inf
        self.rejected = 0  # duplicate, out-of-order or invalid trades ignored
        # Three parallel deques instead of one deque of tuples: no tuple allocated per trade.
        self._ts: deque[float] = deque()
        self._px: deque[float] = deque()
        self._cum: deque[float] = deque()
        self._gaps: deque[float] = deque()
        self._last_id: float = -inf  # any int trade id beats it
        self._last_ts = _NO_TS
        self._last_logp = 0.0
        self._last_cum = 0.0
        self._last_recv = -inf

    def push(self, trade_id: int, ts: float, price: float, recv_ts: float) -> bool:
        """Add one trade; return False (and count it) if it is a duplicate, out of order or invalid.

        `ts` is the exchange trade time in epoch seconds (the window's key); `recv_ts` is when it
        arrived by the injected clock (staleness is measured from it; replay passes `ts`).
        """
        last_ts = self._last_ts
        if trade_id <= self._last_id or not last_ts <= ts < inf or not 0.0 < price < inf:
            self.rejected += 1
            return False
        logp = log(price)
        if last_ts == _NO_TS:  # the very first trade: no return yet
            cum = 0.0
            self._evict_at = ts + self._keep_s
        else:
            r = logp - self._last_logp
            cum = self._last_cum + r * r
            if ts - last_ts > self.gap_after_s:
                self._mark_gap_at(last_ts)
        # The newest price is _px[-1]: not kept twice, one store less per trade.
        self._last_id = trade_id
        self._last_ts = ts
        self._last_logp = logp
        self._last_cum = cum
        self._last_recv = recv_ts
        tss = self._ts
        tss.append(ts)
        self._px.append(price)
        self._cum.append(cum)
        if ts > self._evict_at:
            self._evict()
        return True

    def _evict(self) -> None:
        """Drop the trades older than window_s before the newest one, and the gaps before the first kept."""
        tss = self._ts
        cutoff = self._last_ts - self.window_s
        if tss[0] < cutoff:
            pxs = self._px
            cums = self._cum
            while tss[0] < cutoff:
                tss.popleft()
                pxs.popleft()
                cums.popleft()
            gaps = self._gaps
            first = tss[0]
            self._evict_at = first + self._keep_s
            while gaps and gaps[0] < first:
                gaps.popleft()

    def mark_gap(self) -> None:
        """Record that trades may be missing after the newest one (the connection dropped)."""
        if self._ts:
            self._mark_gap_at(self._last_ts)

    def _mark_gap_at(self, ts: float) -> None:
        gaps = self._gaps
        if not gaps or gaps[-1] != ts:
            gaps.append(ts)

    @property
    def last_price(self) -> float:
        pxs = self._px
        return pxs[-1] if pxs else 0.0

    @property
    def last_trade_id(self) -> int | None:
        return None if self._last_id == -inf else int(self._last_id)

    def __len__(self) -> int:
        tss = self._ts
        if tss and tss[0] < self._last_ts - self.window_s:
            self._evict()
        return len(tss)

    def screen_values(self, now: float) -> tuple[bool, float, bool, float, float]:
        """(stale, price, gap_in_window, move_pct, volatility) exactly as snapshot(now) has them.

        For a consumer that screens on these first (BtcLagStrategy.precheck) and builds the whole
        snapshot only when they pass: a FeedSnapshot costs several times more than this tuple.
        """
        tss = self._ts
        if not tss:
            return _EMPTY_SCREEN
        last_ts = self._last_ts
        if tss[0] < last_ts - self.window_s:
            self._evict()
        first_ts = tss[0]
        pxs = self._px
        price = pxs[-1]
        span = last_ts - first_ts
        sum_sq = self._last_cum - self._cum[0]
        gaps = self._gaps
        return (
            # Same as snapshot's max(0.0, age) > stale_after_s, because stale_after_s > 0.
            now - self._last_recv > self.stale_after_s,
            price,
            bool(gaps) and first_ts <= gaps[0] < last_ts,
            (price / pxs[0] - 1.0) * 100.0,
            sqrt(sum_sq / span) if span > 0.0 and sum_sq > 0.0 else 0.0,
        )

    def snapshot(self, now: float) -> FeedSnapshot:
        """What the strategy may know at `now` (injected clock): never changes what the window holds."""
        tss = self._ts
        if not tss:
            return FeedSnapshot(
                source=self.source,
                price=0.0,
                last_trade_ts=0.0,
                window_start_price=0.0,
                move_pct=0.0,
                volatility=0.0,
                age_s=inf,
                stale=True,
                gap_in_window=False,
                ticks_in_window=0,
            )
        if tss[0] < self._last_ts - self.window_s:
            self._evict()
        first_ts = tss[0]
        pxs = self._px
        start_px = pxs[0]
        price = pxs[-1]
        span = self._last_ts - first_ts
        sum_sq = self._last_cum - self._cum[0]
        volatility = sqrt(sum_sq / span) if span > 0.0 and sum_sq > 0.0 else 0.0
        # A clock slightly behind the receive stamp must not make a tick look like it came from the future.
        age = max(0.0, now - self._last_recv)
        gaps = self._gaps
        return FeedSnapshot(
            source=self.source,
            price=price,
            last_trade_ts=self._last_ts,
            window_start_price=start_px,
            move_pct=(price / start_px - 1.0) * 100.0,
            volatility=volatility,
            age_s=age,
            stale=age > self.stale_after_s,
            gap_in_window=bool(gaps) and first_ts <= gaps[0] < self._last_ts,
            ticks_in_window=len(tss),
        )
