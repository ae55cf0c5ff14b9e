"""Statistics of Kalshi's public tape alone (no BTC): activity, spread, price speed and how moves are absorbed.

Computed per market window from its trade prints (YES-quoted; statistics in floats and cents, not money):
  trades/window      prints and contracts per settled window; the share of windows with no print at all
  spread             from opposite-side prints close in time: a YES-taker print lifts the YES ask and a
                     NO-taker print hits the YES bid, so (YES-taker price - NO-taker price) of two such
                     prints within `pair_within_s` of each other estimates the quoted spread at that time
  1-s / 10-s moves   the last traded YES price sampled on a 1-second grid from a window's first print to
                     its close; |change| over 1 s and over 10 s (mean, 90th percentile, share non-zero)
  autocorrelation    lag-1 autocorrelation of trade-to-trade price changes (strongly negative: bid-ask
                     bounce, the market snaps back), and of 10-s changes (positive: a move keeps going,
                     i.e. the market absorbs news slowly; near zero: absorbed within 10 s)
This module is what the edge report (issue 20) calls for its "tape" section: tape_statistics() on
{ticker: trades} and render_tape_stats() for the text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from src.model.models import Side
from src.model.tape import TapeTrade

PAIR_WITHIN_S = 5.0


@dataclass(frozen=True, slots=True)
class Distribution:
    n: int
    mean: float
    median: float
    p90: float

    @staticmethod
    def of(values: Sequence[float]) -> Distribution:
        if not values:
            return Distribution(0, math.nan, math.nan, math.nan)
        s = sorted(values)
        return Distribution(len(s), sum(s) / len(s), _quantile(s, 0.5), _quantile(s, 0.9))


@dataclass(frozen=True, slots=True)
class TapeStats:
    windows: int
    windows_without_trades: int
    trades_per_window: Distribution
    contracts_per_window: Distribution
    spread_cents: Distribution  # from opposite-side print pairs
    move_1s_cents: Distribution  # |change| of the last price over 1 s
    move_10s_cents: Distribution
    moving_share_1s: float  # share of 1-s steps with any change
    autocorr_trade: float  # lag-1 autocorrelation of trade-to-trade changes
    autocorr_10s: float  # lag-1 autocorrelation of 10-s changes


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def lag1_autocorrelation(changes: Sequence[float]) -> float:
    """Pearson correlation of x[t] with x[t+1]; NaN when undefined (fewer than 3 values, or no variance)."""
    if len(changes) < 3:
        return math.nan
    a, b = changes[:-1], changes[1:]
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 0 or vb <= 0:
        return math.nan
    return cov / math.sqrt(va * vb)


def spreads_from_pairs(trades: Sequence[TapeTrade], within_s: float = PAIR_WITHIN_S) -> list[float]:
    """Ask - bid in cents for each adjacent pair of prints on opposite taker sides within `within_s`."""
    out = []
    for prev, cur in zip(trades, trades[1:], strict=False):
        if prev.taker_side is cur.taker_side or cur.ts - prev.ts > within_s:
            continue
        ask, bid = (prev, cur) if prev.taker_side is Side.YES else (cur, prev)
        out.append(float(ask.yes_price - bid.yes_price) * 100)
    return out


def grid_prices(trades: Sequence[TapeTrade], end_ts: float, step_s: float = 1.0) -> list[float]:
    """The last traded YES price (cents) at first print + k*step, up to end_ts."""
    if not trades:
        return []
    out: list[float] = []
    i = 0
    t = trades[0].ts
    last = float(trades[0].yes_price) * 100
    while t <= end_ts:
        while i < len(trades) and trades[i].ts <= t:
            last = float(trades[i].yes_price) * 100
            i += 1
        out.append(last)
        t += step_s
    return out


def tape_statistics(
    trades_by_market: Mapping[str, Sequence[TapeTrade]], close_ts: Mapping[str, float]
) -> TapeStats:
    """Statistics over every market in `close_ts` (markets without prints count as windows without trades)."""
    counts, contracts, spreads, m1, m10 = [], [], [], [], []
    trade_changes: list[float] = []
    ten_changes: list[float] = []
    moving = steps = 0
    for ticker, close in close_ts.items():
        trades = sorted(trades_by_market.get(ticker, ()), key=lambda t: (t.ts, t.trade_id))
        counts.append(float(len(trades)))
        contracts.append(float(sum(t.count for t in trades)))
        spreads.extend(spreads_from_pairs(trades))
        prices = [float(t.yes_price) * 100 for t in trades]
        trade_changes.extend(b - a for a, b in zip(prices, prices[1:], strict=False))
        grid = grid_prices(trades, close)
        d1 = [abs(b - a) for a, b in zip(grid, grid[1:], strict=False)]
        m1.extend(d1)
        moving += sum(1 for d in d1 if d > 0)
        steps += len(d1)
        ten = grid[::10]
        d10 = [b - a for a, b in zip(ten, ten[1:], strict=False)]
        m10.extend(abs(d) for d in d10)
        ten_changes.extend(d10)
    return TapeStats(
        windows=len(close_ts),
        windows_without_trades=sum(1 for c in counts if c == 0),
        trades_per_window=Distribution.of(counts),
        contracts_per_window=Distribution.of(contracts),
        spread_cents=Distribution.of(spreads),
        move_1s_cents=Distribution.of(m1),
        move_10s_cents=Distribution.of(m10),
        moving_share_1s=moving / steps if steps else math.nan,
        autocorr_trade=lag1_autocorrelation(trade_changes),
        autocorr_10s=lag1_autocorrelation(ten_changes),
    )


def _d(dist: Distribution, unit: str = "") -> str:
    if dist.n == 0:
        return "n/a (no data)"
    return f"mean {dist.mean:.2f}{unit}  median {dist.median:.2f}{unit}  p90 {dist.p90:.2f}{unit}  (n={dist.n})"


def _read_trade_ac(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x < -0.1:
        return f"{x:+.3f} (prints bounce between bid and ask)"
    if x > 0.1:
        return f"{x:+.3f} (prints trend: one move follows another)"
    return f"{x:+.3f} (no pattern print to print)"


def _read_10s_ac(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x > 0.1:
        return f"{x:+.3f} (a move keeps going: the market absorbs news slowly)"
    if x < -0.1:
        return f"{x:+.3f} (a move partly reverses within 10 s)"
    return f"{x:+.3f} (near zero: a move is absorbed within 10 s)"


def render_tape_stats(stats: TapeStats) -> str:
    share = "n/a" if math.isnan(stats.moving_share_1s) else f"{stats.moving_share_1s:.1%}"
    return "\n".join([
        "Tape statistics (Kalshi public trades only; no BTC)",
        f"  windows                 {stats.windows} ({stats.windows_without_trades} without a single trade)",
        f"  trades per window       {_d(stats.trades_per_window)}",
        f"  contracts per window    {_d(stats.contracts_per_window)}",
        f"  spread (opposite-side prints within {PAIR_WITHIN_S:.0f}s)  {_d(stats.spread_cents, 'c')}",
        f"  |1-s price change|      {_d(stats.move_1s_cents, 'c')}  (moves in {share} of seconds)",
        f"  |10-s price change|     {_d(stats.move_10s_cents, 'c')}",
        f"  autocorrelation         trade to trade {_read_trade_ac(stats.autocorr_trade)}",
        f"                          10-s changes   {_read_10s_ac(stats.autocorr_10s)}",
    ])


__all__ = [
    "Distribution",
    "TapeStats",
    "grid_prices",
    "lag1_autocorrelation",
    "render_tape_stats",
    "spreads_from_pairs",
    "tape_statistics",
]
