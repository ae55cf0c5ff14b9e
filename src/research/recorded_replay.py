"""Replay a recording of real market data through the daemon's own engine, with an order-latency model.

What runs is what `--paper` runs: Engine.decide() (one entry per market, retry wait, book age, the
btc_lag strategy, sizing, the kill switch), Engine.send() into the PaperExecutor, and the Settler,
all on one replay clock (a SimClock) that each recorded event moves to its receive time. There is
no simulated maker and no lag parameter: the books are the ones the bot recorded.

Events, in the exact order the bot saw them ((session, seq), see src/recording/schema.py):
  btc trade   -> the rolling window (trade time, receive time);
  book        -> a poll of the current market becomes the engine's view (as the daemon's market loop
                 sets it); a websocket row moves the engine's live book (RecordedBooks), which
                 decisions then read, as the daemon's do; books fetched by the executor or the
                 settler only join the market's book history;
  brti        -> a websocket recording's engine prices BRTI as the daemon does (src/data/brti.py's
                 anchor over the trade feed): each recorded print is one basis sample;
  lifecycle, kalshi trade -> only move the clock;
  market      -> metadata; a poll's answer is the current market; for a market we hold, a settlement
                 pass runs when the bot's own settler ran one: at the settler's recorded answer
                 (origin `settle`), never earlier at the result watcher's (the live settle loop and
                 the watcher race; a decision between them still saw the position open). A market
                 the bot's settler never asked about (a --record-only recording, or a position only
                 this replay took) settles at its first recorded `result`;
  decision    -> when the recording has the bot's decisions, the replay decides exactly when the
                 bot did (same clock), so a recording of a --paper run reproduces its decisions;
                 without them (--record-only), it decides after every BTC trade and book, as the
                 daemon's decision loop wakes on each.
Fills: RecordedMarketData's latency model (src/research/recorded_book.py).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from src.app.engine import Engine, EngineTiming, MarketView
from src.config import Settings
from src.data.brti import BrtiAnchor
from src.data.kalshi_ws_messages import BRTI as BRTI_ID
from src.data.kalshi_ws_messages import Average, IndexValue
from src.data.replay import ReplayFeed
from src.db import Database
from src.execution.paper import PaperExecutor
from src.execution.settlement import Settler
from src.journal.trade_log import TradeLog
from src.model.models import ZERO, Market, Mode, OrderIntent, Signal
from src.recording.reader import Recording
from src.recording.schema import (
    BOOK,
    BRTI,
    BTC,
    CANDLE,
    DECISION,
    KALSHI_TRADE,
    LIFECYCLE,
    MARKET,
    ORIGIN_POLL,
    ORIGIN_SETTLE,
    ORIGIN_WS,
    STREAMS,
)
from src.research.backtest import run_now
from src.research.recorded_book import (
    BookEvent,
    OrderBookView,
    RecordedBooks,
    RecordedMarketData,
    book_events,
    market_events,
)
from src.risk.kill_switch import KillSwitch
from src.risk.sizing import SizingLimits, intent_from_signal
from src.sim.clock import SimClock
from src.strategies.btc_lag import BtcLagStrategy

DEFAULT_LATENCIES_MS = (0, 50, 100, 250, 1000)
DB_NAME = "replay.db"
_BTC, _BOOK, _MARKET, _KTRADE, _BRTI, _DECISION, _LIFECYCLE, _CANDLE = (
    STREAMS.index(s) for s in (BTC, BOOK, MARKET, KALSHI_TRADE, BRTI, DECISION, LIFECYCLE, CANDLE))


@dataclass(frozen=True, slots=True)
class ReplayTrade:
    """One filled position of the replay and how it settled."""

    ticker: str
    side: str
    count: Decimal
    avg_price: Decimal
    fees: Decimal
    opened_ts: float
    pnl: Decimal | None  # None while unsettled (the recording ended first)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One replay at one latency."""

    latency_ms: float
    decisions: int
    orders: int
    trades: tuple[ReplayTrade, ...]
    ending_bankroll: Decimal
    halted: str | None
    decided_on: str  # "recorded decisions" or "every event"
    decision_codes: tuple[tuple[float, str | None, str], ...] = ()  # kept on request (tests)
    # The approved orders' (decision time, fair probability, edge), kept on request: the model's inputs
    # (feed, BRTI anchor, book) must match the run's to the last digit for these to match.
    approved: tuple[tuple[float, float, str], ...] = ()
    matched_decisions: int = 0  # decisions whose reason code equals the recorded one
    recorded_decisions: int = 0

    @property
    def settled(self) -> tuple[ReplayTrade, ...]:
        return tuple(t for t in self.trades if t.pnl is not None)

    @property
    def pnl(self) -> Decimal:
        return sum((t.pnl for t in self.settled if t.pnl is not None), ZERO)

    @property
    def contracts(self) -> Decimal:
        return sum((t.count for t in self.settled), ZERO)

    @property
    def wins(self) -> int:
        return sum(1 for t in self.settled if t.pnl is not None and t.pnl > 0)

    @property
    def win_rate(self) -> float | None:
        return self.wins / len(self.settled) if self.settled else None

    @property
    def cents_per_contract(self) -> Decimal | None:
        """Settled P&L after fees per contract, in cents."""
        return (self.pnl * 100 / self.contracts).quantize(Decimal("0.01")) if self.contracts else None


@dataclass
class PreparedRecording:
    """A recording decoded once for any number of replays (books, markets, the merged order)."""

    recording: Recording
    books: list[BookEvent | None]
    markets: list[Market]
    order_streams: list[int]
    order_rows: list[int]
    source: str
    has_decisions: bool
    btc: tuple[list[float], list[float], list[int], list[float], list[str]] = field(default=([], [], [], [], []))
    has_ws: bool = False  # recorded by a daemon with the Kalshi websocket on: its engine read live books
    brti: list[IndexValue | None] = field(default_factory=list)  # per row of the brti stream (BRTI only)

    @property
    def events(self) -> int:
        return len(self.order_rows)


def prepare(rec: Recording, preferred_source: str) -> PreparedRecording:
    """Decode books and markets, choose the BTC source (the configured one if recorded) and merge."""
    sources = rec.column(BTC, "source")
    counts: dict[str, int] = {}
    for s in sources:
        counts[s] = counts.get(s, 0) + 1
    source = preferred_source if preferred_source in counts or not counts else max(counts, key=lambda k: counts[k])
    streams, rows = rec.merged_order()
    btc = (rec.column(BTC, "recv_ts"), rec.column(BTC, "venue_ts"), rec.column(BTC, "trade_id"),
           rec.column(BTC, "price"), sources)
    books = book_events(rec)
    has_ws = any(ev is not None and ev.origin == ORIGIN_WS for ev in books)
    return PreparedRecording(
        recording=rec, books=books, markets=market_events(rec), order_streams=streams.tolist(),
        order_rows=rows.tolist(), source=source, has_decisions=rec.rows(DECISION) > 0, btc=btc,
        has_ws=has_ws, brti=index_values(rec),
    )


def index_values(rec: Recording) -> list[IndexValue | None]:
    """Each recorded BRTI print as the websocket client parsed it (None for other indices). The window
    sizes of the averages are not recorded (0): the anchor uses only the values and the window start."""
    col = rec.column
    out: list[IndexValue | None] = []
    rows = zip(col(BRTI, "index_id"), col(BRTI, "value"), col(BRTI, "venue_ts"), col(BRTI, "recv_ts"),
               col(BRTI, "avg60"), col(BRTI, "settle_avg"), col(BRTI, "settle_start_ts"), strict=True)
    for index_id, value, venue, recv, avg60, settle, settle_start in rows:
        if (index_id or BRTI_ID) != BRTI_ID:
            out.append(None)
            continue
        ts_ms = int(round((venue if venue is not None else recv) * 1000))
        settle_avg = None
        if settle is not None and settle_start is not None:
            start_ms = int(round(settle_start * 1000))
            settle_avg = Average(Decimal(settle), 0, start_ms, start_ms + 60_000)
        out.append(IndexValue(BRTI_ID, Decimal(value), ts_ms, int(round(recv * 1000)),
                              Average(Decimal(avg60 or value), 0, ts_ms - 60_000, ts_ms), settle_avg))
    return out


class RecordedIndex:
    """brti.IndexSource over a replay: the latest recorded print and when it was received."""

    def __init__(self) -> None:
        self.value: IndexValue | None = None
        self.received_at: float | None = None

    def index_value(self, index_id: str = BRTI_ID) -> IndexValue | None:
        return self.value if index_id == BRTI_ID else None

    def index_age(self, now: float, index_id: str = BRTI_ID) -> float | None:
        if index_id != BRTI_ID or self.received_at is None:
            return None
        return max(0.0, now - self.received_at)


class RecordedReplay:
    """One replay of a prepared recording at one latency; see the module docstring."""

    def __init__(self, settings: Settings, prep: PreparedRecording, work_dir: Path, latency_ms: float = 0.0, *,
                 keep_decisions: bool = False, decide_on_recorded: bool | None = None) -> None:
        if not latency_ms >= 0:
            raise ValueError(f"latency must be 0 ms or more, got {latency_ms}")
        app = settings.app
        self.settings = settings
        self.prep = prep
        self.latency_ms = float(latency_ms)
        self.keep_decisions = keep_decisions
        self.decide_on_recorded = prep.has_decisions if decide_on_recorded is None else decide_on_recorded
        first = _first_ts(prep)
        self.clock = SimClock(first)
        self.db = Database(work_dir / DB_NAME, durable=False)
        self.trade_log = TradeLog(work_dir / "logs" / "trades", self.clock)
        self.market_data = RecordedMarketData(prep.books, prep.recording, prep.markets, self.clock,
                                              self.latency_ms / 1000.0)
        self.feed = ReplayFeed((), self.clock, source=prep.source, window_s=app.feed.window_s,
                               stale_after_s=float(app.feed.stale_after_s))
        # As main._start_and_run builds it: with the websocket on, live books and the BRTI-anchored feed.
        self.live_books = RecordedBooks() if prep.has_ws else None
        self.index = RecordedIndex()
        self.anchor = BrtiAnchor(self.feed, self.index, self.clock) if prep.has_ws else None
        self.kill = KillSwitch(app.risk, settings.user.starting_bankroll_usd, self.db, work_dir, mode=Mode.SIM,
                               clock=self.clock, cancel_all=lambda: None, out=lambda _m: None)
        decision_times = list(prep.recording.column(DECISION, "recv_ts")) if self.decide_on_recorded else []
        order_books = OrderBookView(self.market_data, decision_times, self.clock)
        executor = PaperExecutor(order_books, self.db, self.trade_log, self.clock, self.kill.check_order_allowed,
                                 time_in_force=app.execution.time_in_force,
                                 on_order_submitted=lambda i: self.kill.record_order_submitted(i.client_order_id))
        self.settler = Settler(self.market_data, self.db, self.trade_log, self.clock,
                               settings.user.starting_bankroll_usd, self.kill.record_trade_result, mode="replay")
        self._limits = SizingLimits.from_config(app.sizing, app.risk)
        self._seq = 0
        self.engine = Engine(
            mode=Mode.SIM, feed=self.anchor or self.feed, market_data=self.market_data, books=self.live_books,
            strategy=BtcLagStrategy(app.strategy.btc_lag),
            size=self._size, gate=self.kill, executor=executor, settler=self.settler, db=self.db,
            bankroll=lambda: self.kill.bankroll, clock=self.clock,
            timing=EngineTiming(poll_interval_s=app.kalshi.poll_interval_s,
                                status_interval_s=app.execution.status_interval_s,
                                max_live_book_age_s=app.kalshi.ws.max_book_age_ms / 1000),
            status_out=lambda _line: None,
        )
        self.decisions = 0
        self.orders = 0
        self.halted: str | None = None
        self.codes: list[tuple[float, str | None, str]] = []
        self.approved: list[tuple[float, float, str]] = []
        self.matched = 0
        self.open_tickers: set[str] = set()  # markets with open positions: a recorded result settles them

    def _size(self, signal: Signal, bankroll: Decimal) -> OrderIntent | None:
        self._seq += 1  # deterministic ids: the same replay gives the same database
        return intent_from_signal(signal, bankroll, self._limits, client_order_id=f"rp-{self._seq:06d}")

    def _decide(self) -> str:
        engine = self.engine
        intent = engine.decide() if self.halted is None else None
        code = engine.why_not_trading if self.halted is None else "halted"
        self.decisions += 1
        if self.keep_decisions:
            view = engine.view
            self.codes.append((self.clock.now, view.market.ticker if view else None, code))
        if intent is not None:
            if self.keep_decisions:
                self.approved.append((self.clock.now, intent.fair_prob, str(intent.edge)))
            self.orders += 1
            run_now(engine.send(intent))
            self.open_tickers = {t.ticker for t in self.db.open_trades()}
            if self.kill.should_exit and self.halted is None:
                self.halted = f"kill switch {self.kill.status().state.value}: {self.kill.status().reason}"
        return code

    def run(self) -> ReplayResult:
        prep = self.prep
        rec = prep.recording
        clock = self.clock
        engine = self.engine
        window_push = self.feed.window.push
        b_recv, b_venue, b_id, b_price, b_source = prep.btc
        source = prep.source
        books = prep.books
        markets = prep.markets
        m_origin = rec.column(MARKET, "origin")
        m_recv = rec.column(MARKET, "recv_ts")
        d_ts = rec.column(DECISION, "recv_ts")
        d_code = rec.column(DECISION, "code")
        other_recv = {_KTRADE: rec.column(KALSHI_TRADE, "recv_ts"), _LIFECYCLE: rec.column(LIFECYCLE, "recv_ts"),
                      _CANDLE: rec.column(CANDLE, "recv_ts")}
        brti_recv = rec.column(BRTI, "recv_ts")
        brti_values = prep.brti
        live_books = self.live_books
        index, anchor = self.index, self.anchor
        on_recorded = self.decide_on_recorded
        decide = self._decide
        current: dict[str, Market] = {}  # the latest market the engine's poll saw, per ticker
        # Markets the bot's own settler asked about: they settle where it did (see the module docstring).
        settler_asked = {market.ticker for market, origin in zip(markets, m_origin, strict=True)
                         if origin == ORIGIN_SETTLE}
        for stream, row in zip(prep.order_streams, prep.order_rows, strict=True):
            if stream == _BTC:
                if b_source[row] != source:
                    continue
                recv = b_recv[row]
                if recv > clock.now:
                    clock.now = recv
                if window_push(b_id[row], b_venue[row], b_price[row], recv) and not on_recorded:
                    decide()
            elif stream == _BOOK:
                ev = books[row]
                if ev is None:
                    continue
                clock.advance_to(ev.recv_ts)
                if ev.origin == ORIGIN_WS:
                    if live_books is not None:
                        live_books.apply(ev)
                    view = engine.view
                    # Engine.notify_book: a change of the current market's book wakes a decision.
                    if not on_recorded and view is not None and view.market.ticker == ev.ticker:
                        decide()
                elif ev.origin == ORIGIN_POLL and ev.book is not None:
                    market = current.get(ev.ticker)
                    if market is not None:
                        engine.view = MarketView(market, ev.book, ev.recv_ts)
                        if not on_recorded:
                            decide()
            elif stream == _MARKET:
                clock.advance_to(m_recv[row])
                market = markets[row]
                if m_origin[row] == ORIGIN_POLL:
                    current[market.ticker] = market
                if market.ticker in self.open_tickers and _settles_here(market, m_origin[row], settler_asked):
                    run_now(self.settler.settle_due())
                    engine.refresh_entered()  # as Engine._settle_loop does after a settlement
                    self.open_tickers = {t.ticker for t in self.db.open_trades()}
                    if self.kill.should_exit and self.halted is None:
                        self.halted = f"kill switch {self.kill.status().state.value}: {self.kill.status().reason}"
            elif stream == _DECISION:
                if not on_recorded:
                    continue
                clock.advance_to(d_ts[row])
                if decide() == d_code[row]:
                    self.matched += 1
            elif stream == _BRTI:
                clock.advance_to(brti_recv[row])
                value = brti_values[row]
                if value is not None and anchor is not None:
                    index.value, index.received_at = value, brti_recv[row]
                    anchor.on_index(value)  # KalshiWs.listen_index(anchor.on_index), as main wires it
            else:
                clock.advance_to(other_recv[stream][row])
        return self._result()

    def _result(self) -> ReplayResult:
        trades = tuple(
            ReplayTrade(t.ticker, t.side.value, t.count, t.avg_price, t.fees, t.opened_ts, t.pnl)
            for t in self.db.all_trades()
        )
        return ReplayResult(
            latency_ms=self.latency_ms, decisions=self.decisions, orders=self.orders, trades=trades,
            ending_bankroll=self.kill.bankroll, halted=self.halted,
            decided_on="recorded decisions" if self.decide_on_recorded else "every event",
            decision_codes=tuple(self.codes), approved=tuple(self.approved), matched_decisions=self.matched,
            recorded_decisions=self.prep.recording.rows(DECISION) if self.decide_on_recorded else 0,
        )

    def close(self) -> None:
        self.db.close()


def _settles_here(market: Market, origin: str, settler_asked: set[str]) -> bool:
    """Whether a settlement pass runs at this market row: the bot's own settler's answer for a market it
    asked about (whatever the answer: the replay's settler then decides as the bot's did), else the
    market's first recorded result."""
    if market.ticker in settler_asked:
        return origin == ORIGIN_SETTLE
    return bool(market.result)


def _first_ts(prep: PreparedRecording) -> float:
    rec = prep.recording
    firsts = [rec.numpy(s, "recv_ts").min() for s in STREAMS if rec.rows(s)]
    return float(min(firsts)) if firsts else 0.0


def run_sweep(settings: Settings, prep: PreparedRecording, latencies_ms: tuple[float, ...] = DEFAULT_LATENCIES_MS,
              *, keep_decisions: bool = False) -> list[ReplayResult]:
    """One replay per latency, each in its own throwaway database (the recording is decoded once)."""
    results = []
    for ms in latencies_ms:
        with tempfile.TemporaryDirectory(prefix="polybot-replay-") as tmp:
            replay = RecordedReplay(settings, prep, Path(tmp), ms, keep_decisions=keep_decisions)
            try:
                results.append(replay.run())
            finally:
                replay.close()
    return results
