"""The engine on websocket books: decides only on a whole, current book of its market, wakes on book changes,
watches the next window, and paper fills walk the websocket book (REST is never traded on)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from src.app.engine import Engine, EngineTiming
from src.auth.kalshi_auth import KalshiAuth
from src.config import AppConfig
from src.data.kalshi_ws import PROD_WS_URL, KalshiWs, KalshiWsTiming
from src.data.live_market_data import LiveMarketData
from src.db import Database
from src.execution.paper import PaperExecutor
from src.execution.settlement import Settler
from src.journal.trade_log import TradeLog
from src.model.kxbtc15m import market_ticker, window_close, window_open
from src.model.models import BookLevel, FeedSnapshot, Market, Mode, OrderBook
from src.risk.kill_switch import KillSwitch
from src.risk.sizing import SizingLimits, intent_from_signal
from src.strategies.btc_lag import BtcLagStrategy
from tests.fakes.kalshi_ws_server import FakeKalshiWs


def current_window() -> tuple[float, float]:
    """A real-time window with at least 6 minutes left (the strategy wants more than 5)."""
    now = time.time()
    opens = window_open(now) if window_close(now) - now > 360 else window_close(now)
    return opens, opens + 900


OPEN, CLOSE = current_window()
TICKER = market_ticker(CLOSE)
NEXT = market_ticker(CLOSE + 900)
STRIKE = Decimal("100000")


class Feed:
    source = "fake"

    def __init__(self) -> None:
        self.snap = FeedSnapshot("fake", 100_600.0, time.time(), 100_000.0, 0.6, 9.8e-5, 0.2, False, False, 60)
        self.on_tick = lambda: None
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        await self._stopped.wait()

    def snapshot(self) -> FeedSnapshot:
        return self.snap

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        s = self.snap
        return (s.stale, s.price, s.gap_in_window, s.move_pct, s.volatility)

    def stop(self) -> None:
        self._stopped.set()


class Rest:
    """REST market data whose book asks 0.55 for YES: a decision on it would show that price."""

    def __init__(self) -> None:
        self.book_calls = 0

    def market(self) -> Market:
        return Market(ticker=TICKER, event_ticker="E", status="active",
                      open_time=datetime.fromtimestamp(OPEN, tz=UTC), close_time=datetime.fromtimestamp(CLOSE, tz=UTC),
                      floor_strike=STRIKE)

    async def get_market(self, ticker: str) -> Market:
        return self.market()

    async def get_current_market(self, now: float) -> Market | None:
        return self.market()

    async def get_orderbook(self, ticker: str) -> OrderBook:
        self.book_calls += 1
        return OrderBook(ticker, (BookLevel(Decimal("0.40"), Decimal(50)),), (BookLevel(Decimal("0.45"), Decimal(50)),),
                         time.time())


class Books:
    """A LiveBooks the test sets by hand."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}
        self.age: float | None = 0.01
        self.watched: list[list[str]] = []
        self.reads: list[OrderBook | None] = []

    async def run(self) -> None:
        await asyncio.Event().wait()

    def stop(self) -> None:
        pass

    def watch(self, tickers: list[str]) -> None:
        self.watched.append(tickers)

    def book(self, ticker: str) -> OrderBook | None:
        book = self.books.get(ticker)
        self.reads.append(book)
        return book

    def book_age(self, ticker: str, now: float) -> float | None:
        return self.age if ticker in self.books else None


def live_book(yes_ask: str = "0.50", depth: str = "50") -> OrderBook:
    return OrderBook(TICKER, (BookLevel(Decimal("0.40"), Decimal(depth)),),
                     (BookLevel(Decimal(1) - Decimal(yes_ask), Decimal(depth)),), time.time())


def build(tmp_path: Path, books, *, book_reader=None):
    app = AppConfig()
    db = Database(tmp_path / "paper.db")
    log = TradeLog(tmp_path / "trades", time.time)
    rest = Rest()
    ks = KillSwitch(app.risk, Decimal("100"), db, tmp_path, mode=Mode.PAPER, clock=time.time, cancel_all=lambda: None,
                    out=lambda _m: None)
    executor = PaperExecutor(book_reader(rest) if book_reader else rest, db, log, time.time, ks.check_order_allowed,
                             on_order_submitted=lambda i: ks.record_order_submitted(i.client_order_id))
    limits = SizingLimits.from_config(app.sizing, app.risk)
    lines: list[str] = []
    engine = Engine(
        mode=Mode.PAPER, feed=Feed(), market_data=rest, strategy=BtcLagStrategy(app.strategy.btc_lag),
        size=lambda s, b: intent_from_signal(s, b, limits), gate=ks, executor=executor,
        settler=Settler(rest, db, log, time.time, Decimal("100"), ks.record_trade_result), db=db,
        bankroll=lambda: ks.bankroll, clock=time.time, timing=EngineTiming(0.05, 0.05, 0.05), status_out=lines.append,
        books=books,
    )
    return engine, rest, db, lines


async def test_decisions_use_the_live_book_and_never_the_rest_poll(tmp_path) -> None:
    books = Books()
    engine, rest, db, lines = build(tmp_path, books)
    await engine._refresh_market()
    assert books.watched[-1] == [TICKER, NEXT]  # the next window's book is subscribed ahead
    assert engine.decide() is None and engine.why_not_trading == "book_not_whole"  # REST book alone: no trade
    assert "book stale (not whole)" in engine.status_line()
    books.books[TICKER] = live_book("0.50")
    intent = engine.decide()
    assert intent is not None and intent.limit_price == Decimal("0.50"), engine.why_not_trading  # not REST's 0.55
    assert "book 10ms" in engine.status_line()


async def test_a_book_older_than_the_limit_is_stale(tmp_path) -> None:
    books = Books()
    engine, *_ = build(tmp_path, books)
    await engine._refresh_market()
    books.books[TICKER] = live_book()
    books.age = 0.51
    assert engine.decide() is None and engine.why_not_trading == "book_stale"
    assert "book stale (0.5s)" in engine.status_line()


async def test_book_changes_wake_the_engine_only_for_its_market(tmp_path) -> None:
    books = Books()
    engine, *_ = build(tmp_path, books)
    await engine._refresh_market()
    engine._wake.clear()
    engine.notify_book(NEXT)
    assert not engine._wake.is_set()
    engine.notify_book(TICKER)
    assert engine._wake.is_set()


async def test_a_book_of_another_market_is_never_decided_on(tmp_path) -> None:
    books = Books()
    engine, *_ = build(tmp_path, books)
    await engine._refresh_market()
    books.books[TICKER] = OrderBook(NEXT, live_book().yes_bids, live_book().no_bids, time.time())
    assert engine.decide() is None and engine.why_not_trading == "book_mismatch"


async def test_a_burst_of_book_changes_coalesces_into_one_decision_on_the_newest_book(tmp_path) -> None:
    books = Books()
    engine, *_ = build(tmp_path, books)
    await engine._refresh_market()
    books.books[TICKER] = live_book("0.99")  # above max_price: decisions end without an order
    loop = asyncio.ensure_future(engine._decision_loop())
    try:
        await asyncio.sleep(0.01)
        before, reads = engine.decisions, len(books.reads)
        for ask in ("0.98", "0.97", "0.96", "0.99"):  # four changes before the loop gets to run
            books.books[TICKER] = live_book(ask)
            engine.notify_book(TICKER)
        newest = books.books[TICKER]
        await asyncio.sleep(0.01)
        assert engine.decisions == before + 1 and books.reads[reads:] == [newest]  # one decision, newest book
        assert engine.why_not_trading == "price_too_high"
    finally:
        engine.request_stop(0)
        await asyncio.wait_for(loop, 5)


@pytest.fixture
def key(rsa_private_key):
    return rsa_private_key


async def test_paper_trades_from_the_websocket_book_and_not_across_a_gap(tmp_path, key) -> None:
    async with FakeKalshiWs({"k": key.public_key()}) as server:
        server.set_book(TICKER, yes={"0.4000": "50"}, no={"0.0100": "50"})  # YES ask 0.99: above max_price
        ws = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth("k", key), clock=time.time, connect=server.connect,
                      timing=KalshiWsTiming(liveness_ping_s=0.05, snapshot_timeout_s=1.0))
        engine, rest, db, _ = build(tmp_path, ws, book_reader=lambda r: LiveMarketData(r, ws, time.time, 0.5))
        ws._on_book = engine.notify_book
        server.ignore_get_snapshot = True  # the venue does not answer get_snapshot
        run = asyncio.ensure_future(engine.run())
        try:
            await server.wait_for(lambda: ws.book(TICKER) is not None and engine.why_not_trading == "price_too_high")
            # A message is lost, then a bargain appears (YES ask 0.50): the engine cannot know the book.
            server.gap_next()
            await server.set_level(TICKER, "no", "0.5000", "50")
            await server.wait_for(lambda: ws.books.gaps == 1)
            await asyncio.sleep(0.1)
            assert engine.why_not_trading == "book_not_whole" and db.open_trades() == []
            # Unanswered, the client subscribes the market again: a fresh snapshot, a whole book, a trade.
            await server.wait_for(lambda: bool(db.open_trades()), timeout=10)
        finally:
            engine.request_stop(0)
            await asyncio.wait_for(run, 10)
        trade = db.open_trades()[0]
        assert trade.ticker == TICKER and trade.avg_price == Decimal("0.5000")  # the websocket's ask, not 0.55
        assert NEXT in ws.watched and ws.resubscribes == 1


async def test_the_health_row_says_book_not_whole_stale_or_current_for_the_dashboard(tmp_path) -> None:
    books = Books()
    engine, _rest, db, _lines = build(tmp_path, books)
    await engine._refresh_market()
    engine._write_health()
    assert db.health()["book_state"][0] == "not whole" and db.health()["book_age_s"][0] == ""
    books.books[TICKER] = live_book()
    books.age = 0.51
    engine._write_health()
    assert db.health()["book_state"][0] == "stale" and db.health()["book_age_s"][0] == "0.510"
    books.age = 0.01
    engine._write_health()
    assert db.health()["book_state"][0] == "current"
