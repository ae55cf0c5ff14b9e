"""The daemon's main loop: feed -> strategy -> sizing -> kill switch -> executor -> database.

Decisions are event-driven: every accepted BTC tick (notify_tick) and every change of the current
market's websocket book (notify_book) wakes the decision task. The wake-up is one flag, so a burst of
events coalesces into one decision that reads the newest price and the newest book. With live books
(the Kalshi websocket), a decision needs the current market's book whole (no seq gap) and known
current within `max_live_book_age_s`; the REST poll keeps the market and its status fresh but is never
traded on then ("book_stale" / "book_not_whole" say why). Without live books (the simulator, the
backtest, or kalshi.ws.enabled false) the polled REST book is used, up to `max_book_age_s` old.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from src.app.daemon_records import write_health
from src.db import Database
from src.journal.trade_log import TradeLogError
from src.model.interfaces import Executor, Gate, LiveBooks, MarketData, OrderRefused, PriceFeed, Settler
from src.model.kxbtc15m import WINDOW_S, market_ticker
from src.model.models import CENT, Clock, FeedSnapshot, Market, Mode, OrderBook, OrderIntent, Signal, Sleep, qty
from src.risk.sizing import fit_to_book
from src.strategies.base import Strategy

log = logging.getLogger("polybot.engine")


_NEVER = float("-inf")  # no attempt yet on a market


@dataclass(frozen=True, slots=True)
class MarketView:
    """The latest market and book the loop decides on."""

    market: Market
    book: OrderBook
    fetched_at: float


@dataclass(frozen=True, slots=True)
class EngineTiming:
    poll_interval_s: float = 1.0
    status_interval_s: float = 5.0
    settle_interval_s: float = 5.0
    # A failed fill-or-kill leaves the book unchanged; re-trying on every tick would hammer the
    # venue with the same doomed order.
    retry_same_market_s: float = 5.0
    # The book may be at most this old when an order goes out.
    max_book_age_s: float = 5.0
    # A websocket book must be known current within this (kalshi.ws.max_book_age_ms).
    max_live_book_age_s: float = 0.5


class Engine:
    """One task per concern; every decision is synchronous from signal to kill switch verdict."""

    def __init__(
        self,
        *,
        mode: Mode,
        feed: PriceFeed,
        market_data: MarketData,
        strategy: Strategy[FeedSnapshot],
        size: Callable[[Signal, Decimal], OrderIntent | None],
        gate: Gate,
        executor: Executor,
        settler: Settler,
        db: Database,
        bankroll: Callable[[], Decimal],
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        status_sleep: Sleep = asyncio.sleep,
        timing: EngineTiming = EngineTiming(),
        status_out: Callable[[str], None] = print,
        reconciled: Callable[[], bool] = lambda: True,
        reconcile_reason: Callable[[], str] = lambda: "reconciling",
        resync: Callable[[], Awaitable[Any]] | None = None,
        resolve_pending: Callable[[], Awaitable[Any]] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        on_decision: Callable[[str | None, str, OrderIntent | None], None] | None = None,
        books: LiveBooks | None = None,
    ) -> None:
        self.mode = mode
        self.feed = feed
        self.market_data = market_data
        self.strategy = strategy
        self.size = size
        self.gate = gate
        self.executor = executor
        self.settler = settler
        self.db = db
        self.bankroll = bankroll
        self.clock = clock
        self.sleep = sleep
        # Status lines are for people: paced in real seconds even when the simulator runs faster.
        self.status_sleep = status_sleep
        self.timing = timing
        self.status_out = status_out
        self.reconciled = reconciled
        self.reconcile_reason = reconcile_reason
        self.resync = resync
        self.resolve_pending = resolve_pending
        self.on_error = on_error
        self.on_decision = on_decision  # the recorder's hook: (market, reason code, approved order)
        self.books = books
        self.decisions = 0  # decide() calls that reached a book (what the benchmarks count)
        self.view: MarketView | None = None
        self.why_not_trading = "starting"
        self.orders_sent = 0
        self.last_venue_ok_ts: float | None = None
        self._wake = asyncio.Event()
        self._settle_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._exit_code = 0
        self._entered: set[str] = set()
        self._sending: str | None = None  # the market of the order in flight, if any
        self.refresh_entered()
        self._last_attempt: dict[str, float] = {}
        self._in_flight: asyncio.Task[None] | None = None
        self._gate_state_name = ""
        self._gate_state_since = clock()

    # -- control --------------------------------------------------------------------------------

    def notify_tick(self) -> None:
        """Called by the feed after every accepted tick: wake the decision task."""
        self._wake.set()

    def notify_book(self, ticker: str) -> None:
        """Called by the live books after every change: wake the decision task if it is our market's."""
        view = self.view
        if view is not None and view.market.ticker == ticker:
            self._wake.set()

    def settle_soon(self) -> None:
        """The venue said a market was determined or settled: run a settlement pass now, not at the next timer."""
        self._settle_wake.set()

    def request_stop(self, exit_code: int = 0) -> None:
        if not self._stop.is_set():
            self._exit_code = exit_code
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> int:
        tasks = [
            asyncio.create_task(self.feed.run(), name="feed"),
            asyncio.create_task(self._poll_market_loop(), name="market"),
            asyncio.create_task(self._decision_loop(), name="decide"),
            asyncio.create_task(self._settle_loop(), name="settle"),
            asyncio.create_task(self._status_loop(), name="status"),
        ]
        if self.books is not None:
            tasks.append(asyncio.create_task(self.books.run(), name="books"))
        stopper = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is stopper or task.cancelled():
                    continue
                exc = task.exception()
                if exc is not None:
                    log.error("task %s failed: %s", task.get_name(), exc, exc_info=exc)
                    self._report_error(task.get_name(), f"{type(exc).__name__}: {exc}")
                    self.request_stop(1)
                elif task.get_name() == "feed":
                    # A replay that ran out of prices ends the run normally.
                    log.info("price feed finished")
                    self.request_stop(self._exit_code)
        finally:
            # Let an order already on its way finish and be recorded before tearing down.
            if self._in_flight is not None and not self._in_flight.done():
                await asyncio.wait([self._in_flight], timeout=30)
            self.feed.stop()
            if self.books is not None:
                self.books.stop()
            for task in [*tasks, stopper]:
                task.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            self._write_health()
        return self._exit_code

    # -- tasks ----------------------------------------------------------------------------------

    async def _poll_market_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                await self._refresh_market()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad poll must not stop the daemon
                failures += 1
                log.warning("market refresh failed (%d in a row): %s", failures, exc)
                self._report_error("market", f"{type(exc).__name__}: {exc}")
            self._check_gate()
            await self.sleep(self.timing.poll_interval_s * min(2 ** max(failures - 1, 0), 16))

    async def _refresh_market(self) -> None:
        now = self.clock()
        view = self.view
        market = view.market if view else None
        if market is None or market.close_time.timestamp() <= now or market.floor_strike is None:
            market = await self.market_data.get_current_market(now)
            if market is None:
                self.view = None
                self.why_not_trading = "no_open_market"
                return
        if self.books is not None:
            # This window's book and the next one's, so the next is whole before its window opens.
            series = market.ticker.split("-", 1)[0]
            self.books.watch([market.ticker, market_ticker(market.close_time.timestamp() + WINDOW_S, series)])
        book = await self.market_data.get_orderbook(market.ticker)
        self.last_venue_ok_ts = self.clock()
        self.view = MarketView(market, book, self.last_venue_ok_ts)
        self._wake.set()

    async def _decision_loop(self) -> None:
        while not self._stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            intent = self.decide()
            if self.on_decision is not None:
                self.on_decision(self.view.market.ticker if self.view else None, self.why_not_trading, intent)
            if intent is not None:
                self._in_flight = asyncio.create_task(self.send(intent))
                await asyncio.shield(self._in_flight)
            self._check_gate()

    def decide(self) -> OrderIntent | None:
        """Synchronous: from the latest snapshot to an order the kill switch has approved, or None."""
        view = self.view
        if view is None:
            self.why_not_trading = "no_open_market" if self.why_not_trading == "no_open_market" else "no_market_yet"
            return None
        if not self.reconciled():
            self.why_not_trading = self.reconcile_reason() or "reconciling"
            return None
        ticker = view.market.ticker
        if ticker in self._entered:
            self.why_not_trading = "position_open"
            return None
        now = self.clock()  # read only where a rule needs it: most decisions end above
        timing = self.timing
        if now - self._last_attempt.get(ticker, _NEVER) < timing.retry_same_market_s:
            self.why_not_trading = "retry_wait"
            return None
        books = self.books
        if books is None:
            book = view.book
            if now - view.fetched_at > timing.max_book_age_s:
                self.why_not_trading = "book_stale"
                return None
        else:
            live = books.book(ticker)
            age = books.book_age(ticker, now)
            if live is None or age is None:
                # A seq gap, a snapshot not yet received, or the websocket is down: never a REST poll.
                self.why_not_trading = "book_not_whole"
                return None
            if age > timing.max_live_book_age_s:
                self.why_not_trading = "book_stale"
                return None
            book = live
        self.decisions += 1
        strategy = self.strategy
        # Most decisions end in the strategy's screening (a small move, too little time, a price
        # above max_price...): ask its pre-check first with the feed's raw values, the same rule as
        # evaluate() without building a FeedSnapshot. Only what passes goes to generate_signal.
        stale, price, gap, move, volatility = self.feed.screen_values()
        code = strategy.precheck(stale, price, gap, move, volatility, view.market, book, now)
        if code is not None:
            self.why_not_trading = code
            return None
        signal = strategy.generate_signal(self.feed.snapshot(), view.market, book, now)
        if signal is None:
            reason = self.strategy.last_no_signal
            self.why_not_trading = reason.code if reason else "no_signal"
            return None
        intent = self.size(signal, self.bankroll())
        if intent is None:
            self.why_not_trading = "size_zero"
            return None
        intent = fit_to_book(intent, book)
        if intent is None:
            self.why_not_trading = "no_depth_at_limit"
            return None
        verdict = self.gate.check_order_allowed(intent)
        if not verdict.allowed:
            self.why_not_trading = f"kill_switch:{verdict.reason}"
            return None
        self.why_not_trading = "trading"
        self._last_attempt[ticker] = now
        return intent

    def refresh_entered(self) -> None:
        """Re-read which markets are taken: an open position, or an order whose outcome is unknown."""
        self._entered = {t.ticker for t in self.db.open_trades()} | {
            o.ticker for o in self.db.orders_with_status("pending")
        }
        if self._sending is not None:
            self._entered.add(self._sending)  # a refresh mid-flight must not free the market being traded

    async def send(self, intent: OrderIntent) -> None:
        """Execute an approved intent and account for it (the backtest drives this directly)."""
        self._sending = intent.ticker
        try:
            order = await self.executor.execute(intent)
        except asyncio.CancelledError:
            raise
        except OrderRefused as refused:
            # The executor's own kill switch check can differ from ours only if state moved in
            # between (e.g. a settlement landed): not an error, just no trade.
            self.why_not_trading = f"kill_switch:{refused.verdict.reason}"
            return
        except TradeLogError as exc:
            # Trading on without a record of it would lose data silently: stop instead.
            log.error("%s; stopping: fix the disk or permissions, then restart", exc)
            self._report_error("trade_log", str(exc))
            self.request_stop(1)
            return
        except Exception as exc:  # noqa: BLE001 - the executor recorded what it knows; keep running
            log.error("order %s failed: %s", intent.client_order_id, exc)
            self._report_error("order", f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._sending = None
        self.orders_sent += 1
        if order.filled_count > 0:
            avg = order.avg_fill_price.quantize(Decimal("0.0001")) if order.avg_fill_price is not None else "-"
            self.status_out(
                f"  BOUGHT {qty(order.filled_count)} {order.side.value.upper()} {order.ticker} @ {avg}"
                f" (fees ${order.fees}) edge {intent.edge}"
            )
        elif order.status == "pending":
            self.status_out(f"  ORDER {intent.client_order_id} outcome unknown: resolving before any new order")
        else:
            side = intent.side.value.upper()
            self.status_out(f"  no fill: {intent.ticker} {side}: the book moved above {intent.limit_price}")
        if order.filled_count > 0 or order.status == "pending":
            # One entry per market window; a pending (unknown) outcome counts as entered so
            # nothing is sent twice while it is being resolved.
            self._entered.add(intent.ticker)

    async def _settle_loop(self) -> None:
        while not self._stop.is_set():
            await self._settle_pause()
            try:
                if self.resync is not None:
                    # It decides whether a run is due (disagreement, reconnect, timer); trading
                    # stays refused until the venue and the database agree again.
                    await self.resync()
                if self.resolve_pending is not None and self.db.orders_with_status("pending"):
                    # An order whose outcome is unknown is looked up until it is known: its fill
                    # (or its absence) must reach the database and the kill switch promptly.
                    await self.resolve_pending()
                    self.refresh_entered()
                report = await self.settler.settle_due()
                for t in report.settled:
                    self.status_out(
                        f"  SETTLED {t.ticker} {t.side.value.upper()} x{qty(t.count)}: "
                        f"{t.outcome.upper()} wins, P&L ${t.pnl} -> bankroll ${t.bankroll_after}"
                    )
                if report.settled:
                    self.refresh_entered()
            except asyncio.CancelledError:
                raise
            except TradeLogError as exc:
                # The settlement is booked and the kill switch told; going on without its record is not.
                log.error("%s; stopping: fix the disk or permissions, then restart", exc)
                self._report_error("trade_log", str(exc))
                self.request_stop(1)
                return
            except Exception as exc:  # noqa: BLE001 - retried on the next pass
                log.warning("settlement pass failed: %s", exc)
                self._report_error("settlement", f"{type(exc).__name__}: {exc}")
            self._check_gate()

    async def _settle_pause(self) -> None:
        """Wait for the next timed settlement pass, or less when settle_soon() is called."""
        if not self._settle_wake.is_set():
            timer = asyncio.ensure_future(self.sleep(self.timing.settle_interval_s))
            woken = asyncio.ensure_future(self._settle_wake.wait())
            try:
                await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                woken.cancel()
        self._settle_wake.clear()

    async def _status_loop(self) -> None:
        while not self._stop.is_set():
            self._write_health()
            self.status_out(self.status_line())
            await self.status_sleep(self.timing.status_interval_s)

    # -- helpers --------------------------------------------------------------------------------

    def _check_gate(self) -> None:
        if self.gate.should_exit:
            self.request_stop(self.gate.exit_code)

    def _gate_state(self) -> tuple[str, str]:
        status = self.gate.status()
        state = getattr(status.state, "value", str(status.state))
        if state != self._gate_state_name:
            self._gate_state_name = state
            self._gate_state_since = self.clock()
        return state, status.reason

    def _report_error(self, source: str, message: str) -> None:
        if self.on_error is not None:
            self.on_error(source, message)

    def status_line(self) -> str:
        snap = self.feed.snapshot()
        now = self.clock()
        price = f"BTC {snap.price:,.2f}" if snap.price else "BTC -"
        if snap.stale:
            price += " (stale)"
        elif snap.anchored:
            price += f" (BRTI level, basis {snap.basis_bps:+.1f}bp)"
        if self.view is not None:
            m = self.view.market
            left = max(0, int(m.close_time.timestamp() - now))
            market = f"{m.ticker} {left // 60}m{left % 60:02d}s left"
        else:
            market = "no market"
        open_trades = self.db.open_trades()
        position = ", ".join(f"{t.side.value.upper()} {qty(t.count)}@{t.avg_price}" for t in open_trades)
        tag = self.mode.value.upper() + (" · SYNTHETIC BOOK" if self.mode is Mode.SIM else "")  # sim: label it
        return (
            f"[{tag}] {price} | {market}{self._book_note(now)} | pos {position or '-'} | "
            f"bankroll ${self.bankroll().quantize(CENT)} | kill switch {self._gate_state()[0]} | "
            f"{self.why_not_trading}"
        )

    def _book_state(self, now: float) -> tuple[str, float | None]:
        """Our market's live book: "" (no live books or market), "not whole", "stale" or "current"; and its age."""
        if self.books is None or self.view is None:
            return "", None
        age = self.books.book_age(self.view.market.ticker, now)
        if age is None:
            return "not whole", None
        return ("stale" if age > self.timing.max_live_book_age_s else "current"), age

    def _book_note(self, now: float) -> str:
        """How current the live book of our market is, for the status line ("book stale" past the limit)."""
        state, age = self._book_state(now)
        if not state:
            return ""
        if age is None:
            return " | book stale (not whole)"
        if state == "stale":
            return f" | book stale ({age:.1f}s)"
        return f" | book {age * 1000:.0f}ms"

    def _write_health(self) -> None:
        now = self.clock()
        snap = self.feed.snapshot()
        state, reason = self._gate_state()
        values = {
            "mode": self.mode.value,
            "heartbeat_ts": repr(now),
            "feed_source": self.feed.source,
            "btc_price": f"{snap.price:.2f}",
            "feed_last_tick_ts": repr(now - snap.age_s) if snap.age_s != float("inf") else "",
            "feed_stale": "1" if snap.stale else "0",
            "why_not_trading": self.why_not_trading,
            "kill_state": state,
            "kill_reason": reason,
            "kill_since_ts": repr(self._gate_state_since),
            "bankroll": str(self.bankroll()),
        }
        if self.last_venue_ok_ts is not None:
            values["kalshi_last_call_ts"] = repr(self.last_venue_ok_ts)
        if self.books is not None:  # the dashboard says "book stale" / "book not whole" from these
            book_state, book_age = self._book_state(now)
            values["book_state"] = book_state
            values["book_age_s"] = "" if book_age is None else f"{book_age:.3f}"
        if self.view is not None:
            m = self.view.market
            values["market_ticker"] = m.ticker
            values["market_close_ts"] = repr(m.close_time.timestamp())
            values["floor_strike"] = str(m.floor_strike) if m.floor_strike is not None else ""
        write_health(self.db, values, now)
