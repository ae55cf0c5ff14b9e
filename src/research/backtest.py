"""Backtest driver: replay recorded (or generated) BTC prices through the daemon's own decision path, fast.

What runs is what the daemon runs, with the replay time as the one clock (a SimClock):
  ReplayFeed (the shared RollingWindow) and SimExchange get every tick; Engine.decide() --
  the daemon's synchronous decision: one entry per market, retry wait, book age, the
  strategy (generate_signal), sizing (intent_from_signal with the config's limits) and the
  kill switch check -- decides; the daemon's send path hands the intent to the PaperExecutor
  (which checks the kill switch again, walks the simulated book, charges Kalshi's fee and
  records to the database and the trade log); the Settler books closed markets into P&L and
  tells the kill switch, whose cooling (2 h), hourly window and UTC day all run on replay time.

Events, in replay-time order (a tick and a poll at the same instant: tick first):
  tick  -> the feed takes it (window + exchange), then one decision;
  poll  -> every kalshi.poll_interval_s, as the daemon's market loop: settlement pass when one
           is due (every settle_interval_s while positions are open), market/book refresh,
           then one decision.
Several ticks with the same timestamp arrive together (one burst, as on the websocket) and
get one decision after the last of them. Polls that fall where the feed has been silent for
more than stale_after_s are skipped, because the strategy refuses stale data whatever else
holds; they are counted as `feed_stale` decisions so the reason table still covers every poll.

The daemon's rules around the decision are the Engine's own, not a copy: Engine.decide()
itself, its send path (Engine.send: the executor call and the one-entry-per-market record) and,
after each settlement, the same refresh of its entered markets as Engine._settle_loop. Only
the timers differ (replay-time events instead of asyncio sleeps), and the market refresh
calls the simulated exchange synchronously, as Engine._refresh_market does through awaits.

Settlement passes while every open position's market is still trading are skipped: the
Settler asks nothing about a KXBTC15M market before its close, so such a pass would only read
the database and change nothing (the pass schedule itself is kept).

While the engine's market is entered (its last decision was position_open) and nothing that
answer read has changed -- the view's market, the entered markets (a settlement or a send may
change them), the halt -- every further decision would be position_open again: it is counted
without calling Engine.decide, and polls inside the same market skip fetching a book nobody
reads. The poll that ends the hold (a new market, or a settlement just before its refresh)
fetches the book as usual. The backtest's Engine has no reconciled() of its own (always true).

No real waiting: the executor's and settler's coroutines never suspend against the simulated
exchange, so each is run to completion with one send() (run_now) instead of through an event
loop. After a kill switch hard stop (or an auth halt) nothing new is traded -- the daemon would
have exited -- but prices keep flowing until the open positions are settled, then the run ends.

Files: the run writes its own database, trade log and kill switch files (the lock, the event
log) into `out_dir` when one is given (backtest.db, logs/, kill_switch.lock,
KILL_SWITCH_EVENT.log; earlier run files of those names are removed first), else into a
temporary directory deleted afterwards. It never touches data/sim.db, data/paper.db,
data/live.db or the project's kill_switch.lock.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypeVar

from src.app.engine import Engine, EngineTiming, MarketView
from src.config import ConfigError, Settings
from src.data.price_files import parse_time
from src.data.replay import ReplayFeed
from src.db import Database, TradeRow
from src.execution.paper import PaperExecutor
from src.execution.settlement import Settler
from src.journal.trade_log import TradeLog
from src.model.book_label import synthetic_book_label
from src.model.kxbtc15m import close_from_event_ticker
from src.model.models import ZERO, Market, Mode, OrderIntent, Signal
from src.research.backtest_report import (
    KILL_PREFIX,
    BacktestReport,
    KillEventLine,
    TradeLine,
    WindowLine,
    count_signals,
    summarize,
    write_outputs,
)
from src.risk.kill_switch import KillSwitch
from src.risk.lockfile import lock_path
from src.risk.sizing import SizingLimits, intent_from_signal
from src.sim.clock import SimClock
from src.sim.components import PriceSource, generator_source, replay_source
from src.sim.exchange import SimExchange
from src.strategies.btc_lag import BtcLagStrategy


class BacktestInputError(ConfigError, ValueError):
    """A bad --from/--to: main.py reports it as one line (a ConfigError), callers may catch ValueError."""

T = TypeVar("T")

# Without a file the generator runs from this instant for this long (reproducible by default).
GENERATOR_EPOCH = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
GENERATOR_DEFAULT_S = 86_400.0
DB_NAME = "backtest.db"
RUN_FILES = (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", "KILL_SWITCH_EVENT.log", "BLOCKERS.md")
STALE_SKIPPED = "feed_stale"
RUN_LABEL = "backtest"  # what the kill switch's event records and KILL_SWITCH_EVENT.log call the run
HELD = "position_open"  # Engine.decide's code for a market already entered
_PROGRESS_MASK = (1 << 10) - 1  # look at the progress line every 1,024 ticks


class CoroutineWaited(RuntimeError):
    """A coroutine the backtest runs inline tried to wait for something: nothing may wait here."""


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to completion, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise CoroutineWaited(f"{coro.__qualname__} tried to wait; backtest components must not")


def as_epoch(value: float | int | datetime | str | None, name: str) -> float | None:
    """--from/--to as epoch seconds: a number (s/ms/us), a datetime (naive = UTC) or ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise BacktestInputError(f"{name}: not a time: {value!r}")
        return float(value)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise BacktestInputError(f"{name}: {exc}") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def workspace(out_dir: Path | None) -> Iterator[Path]:
    """out_dir (its earlier run files removed), or a temporary directory removed afterwards."""
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="polybot-backtest-") as tmp:
            yield Path(tmp)
        return
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out: {out_dir} exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: cannot create {out_dir} ({exc.strerror or exc})") from None
    for name in RUN_FILES:
        (out_dir / name).unlink(missing_ok=True)
    lock_path(out_dir).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "logs", ignore_errors=True)
    yield out_dir


class Progress:
    """A one-line progress bar on stderr, redrawn at most every 0.2 s of wall time.

    The share done comes from replay time when the end is known (--to, or the generator's
    span), else from the bytes of the file read so far; without either it shows counts only.
    """

    def __init__(
        self, out: TextIO | None, first_ts: float, last_ts: float | None,
        fraction_read: Callable[[], float | None] | None = None,
    ) -> None:
        self._out = out
        self._first = first_ts
        self._span = (last_ts - first_ts) if last_ts is not None and last_ts > first_ts else None
        self._fraction_read = fraction_read
        self._next_draw = 0.0

    def _fraction(self, ts: float) -> float | None:
        if self._span:
            return min(1.0, max(0.0, (ts - self._first) / self._span))
        if self._fraction_read is not None:
            return self._fraction_read()
        return None

    def update(self, ticks: int, ts: float, force: bool = False) -> None:
        out = self._out
        if out is None:
            return
        wall = time.monotonic()  # display pacing only; never part of the report
        if not force and wall < self._next_draw:
            return
        self._next_draw = wall + 0.2
        when = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")
        frac = self._fraction(ts)
        bar = ""
        if frac is not None:
            filled = int(frac * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {frac * 100:5.1f}% "
        out.write(f"\rbacktest {bar}{ticks:,} ticks, at {when} UTC ")
        out.flush()

    def done(self) -> None:
        if self._out is not None:
            self._out.write("\n")
            self._out.flush()


class Backtest:
    """One backtest run over one price source; use run_backtest() unless you need the parts."""

    def __init__(
        self, settings: Settings, source: PriceSource, work_dir: Path, *, seed: int | None = None,
        progress: TextIO | None = None, span: tuple[float | None, float | None] = (None, None),
        future_leak_s: float = 0.0,
    ) -> None:
        if not 0.0 <= future_leak_s < math.inf:
            raise ValueError(f"future_leak_s must be >= 0 seconds, got {future_leak_s}")
        app = settings.app
        self.settings = settings
        self.source = source
        self.work_dir = work_dir
        self.seed = app.sim.seed if seed is None else seed
        self._progress_out = progress
        self._span = span
        self.clock = SimClock(0.0)
        self.db = Database(work_dir / DB_NAME, durable=False)  # a throwaway file: no fsync
        self.trade_log = TradeLog(work_dir / "logs" / "trades", self.clock)
        self.exchange = SimExchange(
            app.sim, self.clock, series=app.kalshi.series_ticker, seed=self.seed,
            volatility_window_s=app.feed.window_s, min_volatility_per_s=app.strategy.btc_lag.min_volatility_per_s,
        )
        self.feed = ReplayFeed(
            (), self.clock, source=source.source, window_s=app.feed.window_s,
            stale_after_s=float(app.feed.stale_after_s), gap_after_s=source.gap_after_s,
            listeners=(self.exchange.on_price,),
        )
        # A control, not a strategy: with future_leak_s > 0 the feed (what the strategy sees) runs
        # that many seconds AHEAD of the exchange (its book, strikes and settlements). A real edge
        # by construction, so a backtest that cannot profit from it is broken (tests/test_backtest.py).
        self.future_leak_s = float(future_leak_s)
        self.kill_messages: list[str] = []
        self.starting_bankroll = settings.user.starting_bankroll_usd
        self.timing = EngineTiming(
            poll_interval_s=app.kalshi.poll_interval_s, status_interval_s=app.execution.status_interval_s
        )
        self.stale_after_s = float(app.feed.stale_after_s)
        self._limits = SizingLimits.from_config(app.sizing, app.risk)
        self._order_seq = 0
        self.kill_switch: KillSwitch | None = None
        self.engine: Engine | None = None
        self.settler: Settler | None = None
        # Decisions per reason code: per market window (its ticker) while the engine had a view, and
        # outside any window (no view yet, or a poll skipped in a stale stretch); _total_reasons()
        # adds them up. A window's decisions, signals and orders follow from its counts: every order
        # is a "trading" decision, every signal a decision count_signals counts.
        self.window_reasons: dict[str, dict[str, int]] = {}
        self._unattributed: dict[str, int] = {}
        self.ticks = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.halted: str | None = None
        self._open = False  # positions open: settlement passes are due
        # The earliest close among the open positions' markets: before it a settlement pass has
        # nothing to do (-inf when a ticker names no close: then every pass runs).
        self._first_close = -math.inf
        self._view_market: Market | None = None  # the market the engine's view holds, and its close
        self._view_close = -math.inf
        self._counts: dict[str, int] = self._unattributed  # the counts of the view's market
        self._counts_market: Market | None = None  # the market object they were looked up for
        self._signalled: dict[str, bool] = {}  # per reason code: did the strategy signal?
        self._next_settle = -math.inf
        # The counts of the view's market while its last decision was HELD and nothing that decision
        # read has changed since (the view, the entered markets, the halt): the next decision would
        # be HELD again, so it is counted without asking. None whenever one of those may have changed.
        self._held: dict[str, int] | None = None

    # -- wiring (after the first tick, so every component starts at replay time) -----------------

    def _size(self, signal: Signal, bankroll: Decimal) -> OrderIntent | None:
        # Deterministic ids (the daemon uses uuid4): the same run gives the same database.
        self._order_seq += 1
        return intent_from_signal(signal, bankroll, self._limits, client_order_id=f"bt-{self._order_seq:06d}")

    def _wire(self) -> Engine:
        app = self.settings.app
        kill = KillSwitch(
            app.risk, self.starting_bankroll, self.db, self.work_dir, mode=Mode.SIM, clock=self.clock,
            cancel_all=lambda: None,  # paper orders never rest: there is nothing to cancel
            out=self.kill_messages.append, run_label=RUN_LABEL,
        )
        executor = PaperExecutor(
            self.exchange, self.db, self.trade_log, self.clock, kill.check_order_allowed,
            time_in_force=app.execution.time_in_force,
            on_order_submitted=lambda intent: kill.record_order_submitted(intent.client_order_id),
        )
        settler = Settler(
            self.exchange, self.db, self.trade_log, self.clock, self.starting_bankroll, kill.record_trade_result,
            mode="backtest",
        )
        engine = Engine(
            mode=Mode.SIM, feed=self.feed, market_data=self.exchange,
            strategy=BtcLagStrategy(app.strategy.btc_lag), size=self._size, gate=kill, executor=executor,
            settler=settler, db=self.db, bankroll=lambda: kill.bankroll, clock=self.clock, timing=self.timing,
            status_out=lambda _line: None,
        )
        self.kill_switch, self.settler, self.engine = kill, settler, engine
        return engine

    # -- the loop ------------------------------------------------------------------------------------

    def run(self) -> BacktestReport:
        ticks = self.source.ticks
        on_price = self.exchange.on_price
        if self.future_leak_s:
            ticks, on_price = future_leak(ticks, self.future_leak_s, on_price)
        first = next(ticks, None)
        if first is None:
            return self._report()
        self.first_ts = first[0]
        self.clock.advance_to(first[0])
        engine = self._wire()
        progress = Progress(self._progress_out, first[0], self._span[1], self.source.fraction_read)
        try:
            self._loop(engine, first, ticks, progress, on_price)
        finally:
            progress.done()
        return self._report()

    def _loop(self, engine: Engine, first: tuple[float, float, int], ticks: Iterator[tuple[float, float, int]],
              progress: Progress, on_price: Callable[[float, float], None]) -> None:
        clock = self.clock
        # The feed's own window and the exchange's on_price, called directly: this is what
        # ReplayFeed.push does, minus a call per tick.
        window_push = self.feed.window.push
        decide = self._decide
        poll = self._poll
        progress_mask = _PROGRESS_MASK
        poll_s = self.timing.poll_interval_s
        stale_s = self.stale_after_s
        next_poll = first[0]
        last_tick_ts = -math.inf
        pending = False  # a burst of same-time ticks (at last_tick_ts) awaits its decision
        n = 0
        for ts, price, trade_id in itertools.chain((first,), ticks):
            if pending and ts != last_tick_ts:
                held = self._held
                if held is not None and self.halted is None:
                    held[HELD] += 1  # what decide() would count, without the call (see _decide)
                else:
                    decide(engine)
                pending = False
            if next_poll < ts:
                next_poll = self._polls_until(engine, next_poll, ts, last_tick_ts, poll_s, stale_s)
            if ts > clock.now:
                clock.now = ts
            if not window_push(trade_id, ts, price, ts):
                continue
            on_price(ts, price)
            last_tick_ts = ts
            n += 1
            if ts >= next_poll:
                poll(engine, ts)
                next_poll = ts + poll_s
            else:
                pending = True
            if not n & progress_mask:
                progress.update(n, ts)
            if self.halted is not None and not self._open:
                break  # the kill switch stopped trading and every position has settled
        if pending:
            decide(engine)
        self.ticks = n
        self.feed.ticks = n
        self.last_ts = last_tick_ts if n else None
        progress.update(n, clock.now, force=True)

    def _polls_until(self, engine: Engine, next_poll: float, ts: float, last_tick_ts: float,
                     poll_s: float, stale_s: float) -> float:
        """Run the polls before a tick at `ts`; those in a stale stretch only count."""
        while next_poll < ts:
            if next_poll - last_tick_ts > stale_s:
                # Every remaining poll before `ts` sees a stale feed: count them, then settle once at the
                # last one (positions may have closed during the silence) and move on.
                skipped = math.ceil((ts - next_poll) / poll_s)
                last = next_poll + (skipped - 1) * poll_s
                unattributed = self._unattributed
                unattributed[STALE_SKIPPED] = unattributed.get(STALE_SKIPPED, 0) + skipped
                self.clock.advance_to(last)
                self._settle_if_due()
                return ts  # the tick itself then polls: the daemon's market loop never stopped
            self.clock.advance_to(next_poll)
            self._poll(engine, next_poll)
            next_poll += poll_s
        return next_poll

    def _poll(self, engine: Engine, now: float) -> None:
        if self._open:
            self._settle_if_due()
        self._refresh_view(engine, now)
        self._decide(engine)

    def _refresh_view(self, engine: Engine, now: float) -> None:
        """The daemon's market refresh (Engine._refresh_market), against the exchange directly."""
        market = self._view_market
        if market is None or self._view_close <= now or market.floor_strike is None:
            market = self.exchange.current_market_at(now)
            self._view_market = market
            self._view_close = market.close_time.timestamp()
        elif self._held is not None:
            # Same market, still held: the poll's decision is HELD whatever the book says, and only
            # a poll can end the hold (a settlement runs just before this refresh, a send needs a
            # decision that is not HELD), so the book is fetched by the poll that needs it.
            return
        engine.view = MarketView(market, self.exchange.orderbook_at(market.ticker, now), now)
        self._held = None

    def _decide(self, engine: Engine) -> None:
        # Runs after nearly every tick: the accounting is one dictionary update (see self.window_reasons).
        if self.halted is not None:
            return
        held = self._held
        if held is not None:
            # Engine.decide would answer HELD again: its view, its entered markets and (the backtest
            # never passes one) its reconciled() are unchanged since it last did. Most decisions of
            # a run end here, so this skips the call.
            held[HELD] += 1
            return
        intent = engine.decide()
        reason = engine.why_not_trading
        view = engine.view
        if view is None:
            counts = self._unattributed
        else:
            market = view.market
            counts = self._counts if market is self._counts_market else self._window_counts(market)
        counts[reason] = counts.get(reason, 0) + 1
        if intent is None:
            if reason == HELD:
                self._held = counts
                return
            signalled = self._signalled.get(reason)
            if signalled is None:
                signalled = self._signalled[reason] = reason == "size_zero" or reason.startswith(KILL_PREFIX)
            if signalled:
                # The strategy signalled; sizing or the kill switch (whose state may have moved) said no.
                self._check_halt()
            return
        self._held = None
        run_now(engine.send(intent))  # the daemon's own send path: executor, then one entry per market
        self._note_open(self._open_tickers())
        self._check_halt()

    def _window_counts(self, market: Market) -> dict[str, int]:
        """The decision counts of `market`'s window, made current for the next decisions."""
        counts = self.window_reasons.get(market.ticker)
        if counts is None:
            counts = self.window_reasons[market.ticker] = {}
        self._counts, self._counts_market = counts, market
        return counts

    def _total_reasons(self) -> dict[str, int]:
        total = dict(self._unattributed)
        for counts in self.window_reasons.values():
            for reason, n in counts.items():
                total[reason] = total.get(reason, 0) + n
        return total

    def _open_tickers(self) -> set[str]:
        return {t.ticker for t in self.db.open_trades()}

    def _note_open(self, tickers: set[str]) -> None:
        """Remember whether positions are open and the earliest close of their markets."""
        self._open = bool(tickers)
        try:
            self._first_close = min((close_from_event_ticker(t) for t in tickers), default=math.inf)
        except ValueError:
            self._first_close = -math.inf  # not a KXBTC15M ticker: the Settler asks on every pass

    def _settle_if_due(self) -> None:
        """The daemon's settlement pass, run only while positions are open (otherwise it does nothing)."""
        if not self._open:
            return
        now = self.clock.now
        if now < self._next_settle:
            return
        self._next_settle = now + self.timing.settle_interval_s
        settler, engine = self.settler, self.engine
        if settler is None or engine is None:
            return
        if now < self._first_close:
            # Every open position's market closes later. The Settler waits for a KXBTC15M
            # ticker's close before asking anything, so this pass would only read the database,
            # find nothing due and change nothing: skip that read.
            self._check_halt()
            return
        report = run_now(settler.settle_due())
        if report.settled:
            open_now = self._open_tickers()
            engine.refresh_entered()  # as Engine._settle_loop does after a settlement
            self._held = None
            self._note_open(open_now)
        self._check_halt()

    def _check_halt(self) -> None:
        kill = self.kill_switch
        if self.halted is None and kill is not None and kill.should_exit:
            status = kill.status()
            self.halted = (f"kill switch {status.state.value} ({status.reason}) at "
                           f"{datetime.fromtimestamp(self.clock.now, tz=UTC):%Y-%m-%d %H:%M:%S} UTC: {status.detail}")

    # -- the report ----------------------------------------------------------------------------------

    def _report(self) -> BacktestReport:
        rows = self.db.all_trades()
        trades = tuple(_trade_line(t) for t in rows)
        by_ticker: dict[str, list[TradeRow]] = {}
        for t in rows:
            by_ticker.setdefault(t.ticker, []).append(t)
        windows = []
        now = self.clock.now
        for ticker, counts in self.window_reasons.items():
            market = self.exchange.market_at(ticker, now)
            mine = by_ticker.get(ticker, [])
            windows.append(WindowLine(
                ticker=ticker,
                open_ts=market.open_time.timestamp(),
                floor_strike=market.floor_strike,
                expiration_value=market.expiration_value,
                result=market.result,
                decisions=sum(counts.values()),
                signals=count_signals(counts),
                orders=counts.get("trading", 0),
                trades=len(mine),
                pnl=sum((t.pnl or ZERO for t in mine), ZERO),
            ))
        windows.sort(key=lambda w: w.open_ts)
        kill_events = tuple(
            KillEventLine(e.ts, e.kind, e.reason, str(e.detail.get("message", ""))) for e in self.db.kill_events()
        )
        ending = self.kill_switch.bankroll if self.kill_switch is not None else self.starting_bankroll
        totals = self._total_reasons()
        reasons = tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))
        if count_signals(totals) != sum(w.signals for w in windows):
            # Every signal happens while a market view exists, so the two counts must agree.
            raise RuntimeError("backtest bookkeeping error: signal counts disagree")
        return BacktestReport(
            source=self.source.description,
            source_sha256=None,
            seed=self.seed,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            ticks=self.ticks,
            decisions=sum(totals.values()),
            starting_bankroll=self.starting_bankroll,
            ending_bankroll=ending,
            summary=summarize(trades, self.starting_bankroll),
            trades=trades,
            windows=tuple(windows),
            reasons=reasons,
            kill_events=kill_events,
            halted=self.halted,
            parameters=_parameters(self.settings, self.seed)
            + ((("future_leak_s", f"{self.future_leak_s:g} (CONTROL: the strategy sees BTC ahead of the book)"),)
               if self.future_leak_s else ()),
            book_label=synthetic_book_label(self.exchange.lag_s),
        )

    def close(self) -> None:
        self.db.close()


def future_leak(
    ticks: Iterator[tuple[float, float, int]], leak_s: float, on_price: Callable[[float, float], None]
) -> tuple[Iterator[tuple[float, float, int]], Callable[[float, float], None]]:
    """The leak control's two streams: ticks shifted leak_s EARLIER (the feed's), and an on_price
    that, called at loop time t, hands the exchange every real tick at or before t instead."""
    real, seen = itertools.tee(ticks)
    head: list[tuple[float, float, int] | None] = [next(real, None)]

    def deliver(now: float, _price: float) -> None:
        tick = head[0]
        while tick is not None and tick[0] <= now:
            on_price(tick[0], tick[1])
            tick = next(real, None)
        head[0] = tick

    return ((ts - leak_s, price, trade_id) for ts, price, trade_id in seen), deliver


def _trade_line(t: TradeRow) -> TradeLine:
    return TradeLine(
        trade_id=t.id, ticker=t.ticker, side=t.side.value, count=t.count, avg_price=t.avg_price, cost=t.cost,
        fees=t.fees, opened_ts=t.opened_ts, status=t.status, result=t.result, payout=t.payout, pnl=t.pnl,
        settled_ts=t.settled_ts,
    )


def _parameters(settings: Settings, seed: int) -> tuple[tuple[str, str], ...]:
    app = settings.app
    lag = app.strategy.btc_lag
    return (
        ("seed", str(seed)),
        ("lag_s", f"{app.sim.lag_s:g}"),
        ("spread", str(app.sim.spread)),
        ("noise", str(app.sim.noise)),
        ("depth", str(app.sim.depth)),
        ("maker_vol", app.sim.maker_volatility if app.sim.maker_volatility == "measured"
         else f"fixed {app.sim.annual_volatility:g}"),
        ("min_move_pct", f"{lag.min_move_pct:g}"),
        ("min_gap", str(lag.min_gap)),
        ("min_edge", str(lag.min_edge)),
        ("min_seconds_left", f"{lag.min_seconds_left:g}"),
        ("time_in_force", app.execution.time_in_force),
    )


def run_backtest(
    settings: Settings,
    file: Path | None,
    *,
    start: float | datetime | str | None = None,
    end: float | datetime | str | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
    seed: int | None = None,
    future_leak_s: float = 0.0,
) -> BacktestReport:
    """Replay `file` (or, without one, a day of generated prices) and report; see the module docstring.

    start/end bound the replay (start <= tick time < end). With `out_dir` the database, trade log
    and report files (report.txt, report.json, trades.csv, trades.json) are kept there.
    future_leak_s > 0 runs the leak control (see Backtest): never a real result.
    """
    lo = as_epoch(start, "--from")
    hi = as_epoch(end, "--to")
    if lo is not None and hi is not None and hi <= lo:
        raise BacktestInputError("--to must be after --from")
    stale = float(settings.app.feed.stale_after_s)
    if file is not None:
        file = Path(file)
        source = replay_source(file, stale, lo, hi)
        sha = file_sha256(file)
    else:
        begin = GENERATOR_EPOCH if lo is None else lo
        hi = begin + GENERATOR_DEFAULT_S if hi is None else hi
        source = generator_source(settings, begin, hi, seed=seed)
        sha = None
    with workspace(out_dir) as work:
        backtest = Backtest(settings, source, work, seed=seed, progress=sys.stderr if progress else None,
                            span=(lo, hi), future_leak_s=future_leak_s)
        try:
            report = backtest.run()
        finally:
            backtest.close()
        report = replace(report, source_sha256=sha)
        if out_dir is not None:
            write_outputs(report, work)
    return report

