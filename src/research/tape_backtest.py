"""TAPE backtest: the daemon's strategy and sizing on real BTC prices and real Kalshi prints, over a latency sweep.

What is the daemon's own: BtcLagStrategy.evaluate (the decision), intent_from_signal with the config's
limits (the size), the RollingWindow (the BTC features), Kalshi's taker fee, one entry per market and
the retry wait after an order that got nothing. What is the tape's (src/research/tape_fill.py,
TAPE_ASSUMPTION, printed with the report): the book the strategy sees and the fills it gets. The kill
switch is not modelled: a TAPE run answers "is there an edge at these prices", not "what would the
daemon's risk rules have allowed".

Events in time order: each BTC tick enters the window; markets whose close has passed are settled
by their published result; at most one decision per `decide_every_s` of BTC time, on the market open
at that instant. The same run is repeated for each latency of the sweep.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from src.config import Settings
from src.data.window import RollingWindow
from src.model.fees import taker_fee
from src.model.models import ZERO, Market, NoSignal, Side
from src.research.tape_data import TapeData
from src.research.tape_fill import (
    ABOVE_LIMIT,
    DEFAULT_MAX_WAIT_S,
    DEFAULT_QUOTE_MAX_AGE_S,
    FILLED,
    NO_PRINT,
    TapeBook,
    assumption_text,
)
from src.research.tape_stats import TapeStats, tape_statistics
from src.risk.sizing import SizingLimits, intent_from_signal
from src.sim.components import replay_source
from src.strategies.btc_lag import BtcLagStrategy

Tick = tuple[float, float, int]
# The recorded replay's sweep (issue 20: 0, 50, 100, 250, 1000 ms), so TAPE and recording reports compare.
DEFAULT_LATENCIES = (0.0, 0.05, 0.1, 0.25, 1.0)
RETRY_SAME_MARKET_S = 5.0  # EngineTiming.retry_same_market_s: no hammering after a miss


@dataclass(frozen=True, slots=True)
class TapeTradeLine:
    ticker: str
    side: Side
    decided_ts: float
    fill_ts: float
    count: Decimal
    price: Decimal
    fee: Decimal
    won: bool
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class TapeRun:
    """One latency's outcome."""

    latency_s: float
    signals: int
    orders: int
    filled: int
    no_print: int
    above_limit: int
    contracts: Decimal
    fees: Decimal
    pnl: Decimal
    end_bankroll: Decimal
    trades: tuple[TapeTradeLine, ...]
    reasons: dict[str, int]
    ticks_rejected: int = 0  # BTC ticks the rolling window refused (out of order, duplicate)

    @property
    def win_rate(self) -> float | None:
        return None if not self.trades else sum(1 for t in self.trades if t.won) / len(self.trades)


@dataclass(frozen=True, slots=True)
class TapeReport:
    label: str  # "TAPE"
    assumption: str
    markets: int
    first_close: float | None
    last_close: float | None
    btc_source: str
    btc_ticks: int
    starting_bankroll: Decimal
    runs: tuple[TapeRun, ...]
    stats: TapeStats
    seconds: float


def btc_ticks(data: TapeData, stale_after_s: float) -> tuple[Iterator[Tick], float]:
    """The BTC prices as one tick stream in time order, and the gap rule of their layout.

    Ids are renumbered 1, 2, 3... across the whole stream: each day file numbers its synthesised
    ticks from 1, and the rolling window refuses an id that does not increase.
    """
    if data.btc_ticks is not None:
        ordered = sorted(data.btc_ticks, key=lambda t: (t[0], t[2]))
        return ((ts, px, n) for n, (ts, px, _) in enumerate(ordered, start=1)), stale_after_s
    if not data.btc_files:
        return iter(()), stale_after_s
    sources = [replay_source(p, stale_after_s) for p in data.btc_files]
    chained = itertools.chain.from_iterable(s.ticks for s in sources)
    return ((ts, px, n) for n, (ts, px, _) in enumerate(chained, start=1)), max(s.gap_after_s for s in sources)


def _settle(
    open_positions: list[tuple[float, Market, TapeTradeLine]], now: float
) -> tuple[Decimal, list[TapeTradeLine]]:
    """Pay out the positions whose market closed before `now`; returns (cash back, settled lines)."""
    cash, done = ZERO, []
    keep = []
    for close, market, line in open_positions:
        if close > now:
            keep.append((close, market, line))
            continue
        cash += line.count if line.won else ZERO
        done.append(line)
    open_positions[:] = keep
    return cash, done


class TapeBacktest:
    """One TAPE run at one latency over loaded tape data."""

    def __init__(
        self, settings: Settings, data: TapeData, books: dict[str, TapeBook], *, latency_s: float,
        decide_every_s: float = 1.0, quote_max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> None:
        app = settings.app
        self.settings = settings
        self.data = data
        self.books = books
        self.latency_s = latency_s
        self.decide_every_s = decide_every_s
        self.quote_max_age_s = quote_max_age_s
        self.max_wait_s = max_wait_s
        self.strategy = BtcLagStrategy(app.strategy.btc_lag)
        self.limits = SizingLimits.from_config(app.sizing, app.risk)
        self.starting = settings.user.starting_bankroll_usd
        # The strategy must not see the result it is trading on: the market as it was while open.
        self.markets = [replace(m, status="active", result="", expiration_value=None) for m in data.markets]
        self.results = {m.ticker: m.result for m in data.markets}
        self.ticks_seen = 0

    def run(self, ticks: Iterator[Tick], gap_after_s: float) -> TapeRun:
        app = self.settings.app
        window = RollingWindow("tape", window_s=app.feed.window_s, stale_after_s=float(app.feed.stale_after_s),
                               gap_after_s=gap_after_s)
        bankroll = self.starting
        markets = self.markets
        idx = 0
        entered: set[str] = set()
        blocked_until: dict[str, float] = {}
        open_positions: list[tuple[float, Market, TapeTradeLine]] = []
        settled: list[TapeTradeLine] = []
        reasons: dict[str, int] = {}
        signals = orders = filled = no_print = above = 0
        next_decision = -float("inf")
        order_seq = 0
        for ts, price, trade_id in ticks:
            self.ticks_seen += 1
            window.push(trade_id, ts, price, ts)
            if open_positions and open_positions[0][0] <= ts:
                cash, done = _settle(open_positions, ts)
                bankroll += cash
                settled.extend(done)
            if ts < next_decision:
                continue
            next_decision = ts + self.decide_every_s
            while idx < len(markets) and markets[idx].close_time.timestamp() <= ts:
                idx += 1
            if idx >= len(markets):
                continue
            market = markets[idx]
            if market.open_time.timestamp() > ts:
                continue
            ticker = market.ticker
            if ticker in entered or blocked_until.get(ticker, -1.0) > ts:
                continue
            book = self.books[ticker].book(ticker, ts, self.quote_max_age_s)
            signal = self.strategy.evaluate(window.snapshot(ts), market, book, ts)
            if isinstance(signal, NoSignal):
                reasons[signal.code] = reasons.get(signal.code, 0) + 1
                continue
            signals += 1
            order_seq += 1
            intent = intent_from_signal(signal, bankroll, self.limits, client_order_id=f"tape-{order_seq:06d}")
            if intent is None:
                reasons["size_zero"] = reasons.get("size_zero", 0) + 1
                continue
            orders += 1
            fill = self.books[ticker].fill(intent.side, intent.count, intent.limit_price, ts, self.latency_s,
                                           self.max_wait_s)
            if fill.reason != FILLED or fill.price is None or fill.fill_ts is None:
                no_print += fill.reason == NO_PRINT
                above += fill.reason == ABOVE_LIMIT
                blocked_until[ticker] = ts + RETRY_SAME_MARKET_S
                continue
            filled += 1
            entered.add(ticker)
            fee = taker_fee(fill.filled, fill.price)
            cost = fill.filled * fill.price + fee
            bankroll -= cost
            won = self.results[ticker] == intent.side.value
            line = TapeTradeLine(ticker, intent.side, ts, fill.fill_ts, fill.filled, fill.price, fee, won,
                                 (fill.filled if won else ZERO) - cost)
            open_positions.append((market.close_time.timestamp(), market, line))
            open_positions.sort(key=lambda p: p[0])
        # The tape ends: the remaining markets settle by their published results.
        cash, done = _settle(open_positions, float("inf"))
        bankroll += cash
        settled.extend(done)
        settled.sort(key=lambda t: t.decided_ts)
        return TapeRun(
            latency_s=self.latency_s, signals=signals, orders=orders, filled=filled, no_print=no_print,
            above_limit=above, contracts=sum((t.count for t in settled), ZERO),
            fees=sum((t.fee for t in settled), ZERO), pnl=sum((t.pnl for t in settled), ZERO),
            end_bankroll=bankroll, trades=tuple(settled), reasons=reasons, ticks_rejected=window.rejected,
        )


def run_tape_backtest(
    settings: Settings, data: TapeData, latencies: Sequence[float] = DEFAULT_LATENCIES, *,
    decide_every_s: float = 1.0, quote_max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
) -> TapeReport:
    """The TAPE report: one run per latency, plus the tape statistics of the same markets."""
    started = time.perf_counter()
    books = {m.ticker: TapeBook(data.trades.get(m.ticker, ()), data.candles.get(m.ticker, ())) for m in data.markets}
    stale = float(settings.app.feed.stale_after_s)
    runs = []
    ticks_seen = 0
    for latency in latencies:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        bt = TapeBacktest(settings, data, books, latency_s=float(latency), decide_every_s=decide_every_s,
                          quote_max_age_s=quote_max_age_s, max_wait_s=max_wait_s)
        ticks, gap = btc_ticks(data, stale)
        runs.append(bt.run(ticks, gap))
        ticks_seen = bt.ticks_seen
    closes = [m.close_time.timestamp() for m in data.markets]
    return TapeReport(
        label="TAPE", assumption=assumption_text(quote_max_age_s, max_wait_s), markets=len(data.markets),
        first_close=min(closes) if closes else None, last_close=max(closes) if closes else None,
        btc_source=data.btc_source or "none", btc_ticks=ticks_seen,
        starting_bankroll=settings.user.starting_bankroll_usd, runs=tuple(runs),
        stats=tape_statistics(data.trades, data.close_ts), seconds=time.perf_counter() - started,
    )


__all__ = [
    "DEFAULT_LATENCIES",
    "TapeBacktest",
    "TapeReport",
    "TapeRun",
    "TapeTradeLine",
    "btc_ticks",
    "run_tape_backtest",
]
