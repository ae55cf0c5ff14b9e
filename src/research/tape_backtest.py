"""TAPE backtest: the daemon's strategy and sizing on real BTC prices and real Kalshi prints, over a latency sweep.

What is the daemon's own: BtcLagStrategy.evaluate (the decision), intent_from_signal with the config's
limits (the size), the RollingWindow (the BTC features), Kalshi's taker fee, one entry per market and
the retry wait after an order that got nothing. What is the tape's (src/research/tape_fill.py,
TAPE_ASSUMPTION, printed with the report): the book the strategy sees and the fills it gets. The kill
switch is not modelled: a TAPE run answers "is there an edge at these prices", not "what would the
daemon's risk rules have allowed".

Events in time order: each BTC tick enters the window; markets whose close has passed are settled
by their published result; at most one decision per `decide_every_s` of BTC time, on the market open
at that instant. Every latency of the sweep runs in the same pass (see TapeBacktest).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from src.config import Settings
from src.data.window import RollingWindow
from src.model.fees import taker_fee
from src.model.models import ZERO, Market, NoSignal, Side, Signal
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


@dataclass
class _Lane:
    """One latency's own state: its bankroll, markets entered or waiting, open positions, counts."""

    latency_s: float
    bankroll: Decimal
    entered: set[str] = field(default_factory=set)
    blocked_until: dict[str, float] = field(default_factory=dict)
    open_positions: list[tuple[float, Market, TapeTradeLine]] = field(default_factory=list)
    settled: list[TapeTradeLine] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    signals: int = 0
    orders: int = 0
    filled: int = 0
    no_print: int = 0
    above: int = 0
    order_seq: int = 0

    def waiting_on(self, ticker: str, now: float) -> bool:
        """Would the daemon ask the strategy about `ticker` now (not entered, no retry wait)?"""
        return ticker not in self.entered and self.blocked_until.get(ticker, -1.0) <= now

    def settle(self, now: float) -> None:
        cash, done = _settle(self.open_positions, now)
        self.bankroll += cash
        self.settled.extend(done)

    def first_close(self) -> float:
        return self.open_positions[0][0] if self.open_positions else float("inf")

    def result(self, rejected: int) -> TapeRun:
        self.settle(float("inf"))  # the tape ends: the rest settle by their published results
        settled = sorted(self.settled, key=lambda t: t.decided_ts)
        return TapeRun(
            latency_s=self.latency_s, signals=self.signals, orders=self.orders, filled=self.filled,
            no_print=self.no_print, above_limit=self.above, contracts=sum((t.count for t in settled), ZERO),
            fees=sum((t.fee for t in settled), ZERO), pnl=sum((t.pnl for t in settled), ZERO),
            end_bankroll=self.bankroll, trades=tuple(settled), reasons=dict(self.reasons), ticks_rejected=rejected,
        )


class TapeBacktest:
    """Every latency of the sweep in ONE pass over the ticks.

    The BTC window, the market open at each decision instant and the strategy's answer do not depend
    on the latency (the strategy reads the feed, the market and the tape's quote, never the bankroll),
    so they are computed once per decision instant; each latency (a _Lane) then sizes with its own
    bankroll, fills on the tape at its own delay, and keeps its own entered markets and retry waits,
    exactly as separate runs would.
    """

    def __init__(
        self, settings: Settings, data: TapeData, books: dict[str, TapeBook], *, latencies: Sequence[float],
        decide_every_s: float = 1.0, quote_max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> None:
        app = settings.app
        for latency in latencies:
            if not latency >= 0:
                raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self.settings = settings
        self.books = books
        self.latencies = tuple(float(x) for x in latencies)
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

    def run(self, ticks: Iterator[Tick], gap_after_s: float) -> tuple[TapeRun, ...]:
        app = self.settings.app
        window = RollingWindow("tape", window_s=app.feed.window_s, stale_after_s=float(app.feed.stale_after_s),
                               gap_after_s=gap_after_s)
        lanes = [_Lane(latency, self.starting) for latency in self.latencies]
        markets = self.markets
        idx = 0
        next_decision = -float("inf")
        next_settle = float("inf")  # the earliest close among every lane's open positions
        seen = 0
        for ts, price, trade_id in ticks:
            seen += 1
            window.push(trade_id, ts, price, ts)
            if next_settle <= ts:
                for lane in lanes:
                    lane.settle(ts)
                next_settle = min(lane.first_close() for lane in lanes)
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
            waiting = [lane for lane in lanes if lane.waiting_on(ticker, ts)]
            if not waiting:
                continue
            book = self.books[ticker].book(ticker, ts, self.quote_max_age_s)
            signal = self.strategy.evaluate(window.snapshot(ts), market, book, ts)
            if isinstance(signal, NoSignal):
                for lane in waiting:
                    lane.reasons[signal.code] = lane.reasons.get(signal.code, 0) + 1
                continue
            for lane in waiting:
                self._act(lane, signal, market, ts)
            next_settle = min(lane.first_close() for lane in lanes)
        self.ticks_seen = seen
        return tuple(lane.result(window.rejected) for lane in lanes)

    def _act(self, lane: _Lane, signal: Signal, market: Market, ts: float) -> None:
        """One lane's order for a signal: its size from its bankroll, its fill on the tape at its latency."""
        ticker = market.ticker
        lane.signals += 1
        lane.order_seq += 1
        intent = intent_from_signal(signal, lane.bankroll, self.limits, client_order_id=f"tape-{lane.order_seq:06d}")
        if intent is None:
            lane.reasons["size_zero"] = lane.reasons.get("size_zero", 0) + 1
            return
        lane.orders += 1
        fill = self.books[ticker].fill(intent.side, intent.count, intent.limit_price, ts, lane.latency_s,
                                       self.max_wait_s)
        if fill.reason != FILLED or fill.price is None or fill.fill_ts is None:
            lane.no_print += fill.reason == NO_PRINT
            lane.above += fill.reason == ABOVE_LIMIT
            lane.blocked_until[ticker] = ts + RETRY_SAME_MARKET_S
            return
        lane.filled += 1
        lane.entered.add(ticker)
        fee = taker_fee(fill.filled, fill.price)
        cost = fill.filled * fill.price + fee
        lane.bankroll -= cost
        won = self.results[ticker] == intent.side.value
        line = TapeTradeLine(ticker, intent.side, ts, fill.fill_ts, fill.filled, fill.price, fee, won,
                             (fill.filled if won else ZERO) - cost)
        lane.open_positions.append((market.close_time.timestamp(), market, line))
        lane.open_positions.sort(key=lambda p: p[0])


def run_tape_backtest(
    settings: Settings, data: TapeData, latencies: Sequence[float] = DEFAULT_LATENCIES, *,
    decide_every_s: float = 1.0, quote_max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
) -> TapeReport:
    """The TAPE report: every latency of the sweep (one pass), plus the tape statistics of the same markets."""
    started = time.perf_counter()
    books = {m.ticker: TapeBook(data.trades.get(m.ticker, ()), data.candles.get(m.ticker, ())) for m in data.markets}
    bt = TapeBacktest(settings, data, books, latencies=latencies, decide_every_s=decide_every_s,
                      quote_max_age_s=quote_max_age_s, max_wait_s=max_wait_s)
    ticks, gap = btc_ticks(data, float(settings.app.feed.stale_after_s))
    runs = bt.run(ticks, gap)
    closes = [m.close_time.timestamp() for m in data.markets]
    return TapeReport(
        label="TAPE", assumption=assumption_text(quote_max_age_s, max_wait_s), markets=len(data.markets),
        first_close=min(closes) if closes else None, last_close=max(closes) if closes else None,
        btc_source=data.btc_source or "none", btc_ticks=bt.ticks_seen,
        starting_bankroll=settings.user.starting_bankroll_usd, runs=runs,
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
