"""The main loop: each decision path, one entry per market, clean shutdown, health for the dashboard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from src.app.engine import Engine, EngineTiming
from src.config import AppConfig
from src.db import Database
from src.execution.paper import PaperExecutor
from src.execution.settlement import Settler
from src.journal.trade_log import TradeLog
from src.model.kxbtc15m import market_ticker, window_close, window_open
from src.model.models import BookLevel, FeedSnapshot, Market, Mode, OrderBook
from src.risk.kill_switch import KillSwitch
from src.risk.sizing import SizingLimits, intent_from_signal
from src.strategies.base import Strategy
from src.strategies.btc_lag import BtcLagStrategy
from tests.fakes.market_data import FakeMarketData

NOW = 1_780_000_000.0 - (1_780_000_000.0 % 900) + 300  # 5 minutes into a window: 10 minutes left
STRIKE = Decimal("100000")


class FakeFeed:
    """A PriceFeed whose snapshot the test sets; run() ticks until stopped."""

    source = "fake"

    def __init__(self, snap: FeedSnapshot) -> None:
        self.snap = snap
        self.on_tick = lambda: None
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            self.on_tick()
            await asyncio.sleep(0.001)

    def snapshot(self) -> FeedSnapshot:
        return self.snap

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        s = self.snap
        return (s.stale, s.price, s.gap_in_window, s.move_pct, s.volatility)

    def stop(self) -> None:
        self._stopped.set()


def engine_market_data(clock, *, ask: str = "0.55") -> FakeMarketData:
    """The venue the engine tests poll: the window open at NOW, its YES asked at `ask`, books always fresh."""
    close = window_close(NOW)
    market = Market(
        ticker=market_ticker(close), event_ticker="E", status="active",
        open_time=datetime.fromtimestamp(window_open(NOW), tz=UTC),
        close_time=datetime.fromtimestamp(close, tz=UTC), floor_strike=STRIKE, result="",
    )
    no_bid = Decimal(1) - Decimal(ask)
    book = OrderBook(market.ticker, (BookLevel(Decimal("0.40"), Decimal(50)),), (BookLevel(no_bid, Decimal(50)),), 0.0)
    return FakeMarketData({market.ticker: book}, markets={market.ticker: market}, current=market.ticker, clock=clock)


def snap(*, price: float = 100_600.0, move: float = 0.6, stale: bool = False) -> FeedSnapshot:
    return FeedSnapshot("fake", price, NOW, price / (1 + move / 100), move, 9.8e-5, 0.2, stale, False, 60)


@pytest.fixture
def rig(tmp_path: Path, clock):
    clock.now = NOW
    app = AppConfig()
    db = Database(tmp_path / "paper.db")
    log = TradeLog(tmp_path / "trades", clock)
    md = engine_market_data(clock)
    ks = KillSwitch(app.risk, Decimal("100"), db, tmp_path, mode=Mode.PAPER, clock=clock, cancel_all=lambda: None,
                    out=lambda _m: None)
    executor = PaperExecutor(md, db, log, clock, ks.check_order_allowed,
                             on_order_submitted=lambda i: ks.record_order_submitted(i.client_order_id))
    settler = Settler(md, db, log, clock, Decimal("100"), ks.record_trade_result)
    feed = FakeFeed(snap())
    limits = SizingLimits.from_config(app.sizing, app.risk)
    lines: list[str] = []
    engine = Engine(
        mode=Mode.PAPER, feed=feed, market_data=md, strategy=BtcLagStrategy(app.strategy.btc_lag),
        size=lambda s, b: intent_from_signal(s, b, limits), gate=ks, executor=executor, settler=settler, db=db,
        bankroll=lambda: ks.bankroll, clock=clock, timing=EngineTiming(0.01, 0.01, 0.01), status_out=lines.append,
    )
    feed.on_tick = engine.notify_tick
    return engine, feed, md, db, ks, lines


async def test_no_market_yet_then_a_signal_becomes_an_approved_order(rig) -> None:
    engine, feed, md, db, ks, _ = rig
    assert engine.decide() is None and engine.why_not_trading == "no_market_yet"
    await engine._refresh_market()
    intent = engine.decide()
    assert intent is not None, engine.why_not_trading
    assert intent.side.value == "yes" and intent.limit_price == Decimal("0.55")
    assert intent.max_cost <= Decimal("5.00")
    assert engine.why_not_trading == "trading"


async def test_stale_feed_gives_no_order_and_says_why(rig) -> None:
    engine, feed, *_ = rig
    await engine._refresh_market()
    feed.snap = snap(stale=True)
    assert engine.decide() is None and engine.why_not_trading == "feed_stale"


class ScreenFeed(FakeFeed):
    """A feed that counts the snapshots it builds."""

    def __init__(self, snap: FeedSnapshot) -> None:
        super().__init__(snap)
        self.snapshots = 0

    def snapshot(self) -> FeedSnapshot:
        self.snapshots += 1
        return self.snap


class NoScreen(BtcLagStrategy):
    """btc_lag without its pre-check (the Strategy default): every decision goes through evaluate()."""

    precheck = Strategy.precheck


@pytest.mark.parametrize(
    ("snapshot", "code"),
    [
        (snap(stale=True), "feed_stale"),
        (snap(move=0.1), "move_too_small"),
        (snap(move=-0.6), "price_not_below_fair"),  # a fall favours NO, whose ask is no bargain
        (snap(), "trading"),
    ],
)
async def test_the_pre_check_decides_as_the_full_path_without_building_a_snapshot(
    rig, snapshot: FeedSnapshot, code: str
) -> None:
    engine, feed, *_ = rig
    await engine._refresh_market()
    feed.snap = snapshot
    screening = engine.strategy
    engine.strategy = NoScreen(AppConfig().strategy.btc_lag)  # the full path
    full = engine.decide()
    assert engine.why_not_trading == code
    engine._last_attempt.clear()  # a decision that traded makes the next one wait
    screened = ScreenFeed(snapshot)
    engine.feed = screened
    engine.strategy = screening
    fast = engine.decide()
    assert engine.why_not_trading == code
    assert (fast is None) == (full is None)
    if fast is not None and full is not None:
        fields = ("side", "count", "limit_price", "edge", "max_cost")
        assert [getattr(fast, f) for f in fields] == [getattr(full, f) for f in fields]
    # Only a decision that passes the screening builds a snapshot (for evaluate()).
    assert screened.snapshots == (1 if code == "trading" else 0)


async def test_old_book_is_never_traded_on(rig, clock) -> None:
    engine, *_ = rig
    await engine._refresh_market()
    clock.advance(6)
    assert engine.decide() is None and engine.why_not_trading == "book_stale"


async def test_kill_switch_refusal_blocks_the_order(rig, tmp_path: Path) -> None:
    engine, *_ = rig
    (tmp_path / "kill_switch.lock").write_text('{"reason": "test"}')
    await engine._refresh_market()
    assert engine.decide() is None
    assert engine.why_not_trading.startswith("kill_switch:")


async def test_one_entry_per_market_and_clean_shutdown(rig) -> None:
    engine, feed, md, db, ks, lines = rig

    async def stop_after_first_trade() -> None:
        for _ in range(500):
            if db.open_trades():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # many more ticks: none may add a second entry
        engine.request_stop(0)

    code, _ = await asyncio.wait_for(asyncio.gather(engine.run(), stop_after_first_trade()), 10)
    assert code == 0
    trades = db.open_trades()
    assert len(trades) == 1 and trades[0].side.value == "yes"
    assert engine.why_not_trading in ("position_open", "trading")
    statuses = {o.status for o in db.orders_with_status("pending", "intent", "executed", "canceled", "failed")}
    assert statuses == {"executed"}  # nothing left half-written
    health = db.health()
    assert health["mode"][0] == "paper" and health["kill_state"][0] == "active"
    assert Decimal(health["bankroll"][0]) == Decimal("100")
    assert any("[PAPER]" in line and "BTC 100,600.00" in line for line in lines)


async def test_settlement_pass_books_the_win_and_frees_the_market(rig, clock) -> None:
    engine, feed, md, db, ks, _ = rig
    await engine._refresh_market()
    intent = engine.decide()
    await engine.send(intent)
    assert len(db.open_trades()) == 1
    clock.now = window_close(NOW) + 5
    md.settle(market_ticker(window_close(NOW)), "yes")
    report = await engine.settler.settle_due()
    assert len(report.settled) == 1
    assert ks.bankroll > Decimal("100")


async def test_order_is_capped_at_the_depth_the_book_offers(rig) -> None:
    engine, feed, md, db, ks, _ = rig
    await engine._refresh_market()
    thin = engine.view.book
    engine.view = type(engine.view)(engine.view.market, type(thin)(thin.ticker, thin.yes_bids,
                                    (BookLevel(thin.no_bids[0].price, Decimal(3)),), thin.fetched_at),
                                    engine.view.fetched_at)
    intent = engine.decide()
    assert intent is not None and intent.count == Decimal(3)  # a FOK for more could never fill
