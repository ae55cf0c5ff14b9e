"""The Kalshi websocket wired into the live path, end to end against both fakes sharing one state.

The REST fake (tests/fakes/kalshi_server.py) executes orders; the websocket fake mirrors what it
does (user_order + fill messages, order_group_updates) at once, while the REST listing may still
lag. Checked: an ambiguous order is resolved from the websocket first (REST only as fallback) with
exactly one order at the venue; a triggered order group becomes a HARD STOP; an event fee override
the model does not match refuses new orders; a settled market is booked on the lifecycle event
itself, once. Venue and client share the test's manual clock, so nothing waits out a lag for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.data import kalshi_ws_messages as m
from src.data.kalshi_ws import PROD_WS_URL, KalshiWs, KalshiWsTiming
from src.db import Database
from src.execution.fee_tripwire import FeeTripwire
from src.execution.first_word_lookup import FirstWordLookup
from src.execution.live import LiveExecutor
from src.execution.live_setup import start_live
from src.execution.order_group import TRIGGERED_REASON
from src.execution.reconcile import resolve_order
from src.execution.rest_order_lookup import RestOrderLookup
from src.execution.settlement import Settler
from src.execution.stream_order_lookup import NotHeardYet, StreamOrderLookup
from src.execution.venue_events import VenueEventRouter
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderRefused
from src.model.models import OrderIntent, Side, TradeResult, Verdict, new_client_order_id
from src.risk.lockfile import read_lock
from tests.fakes.kalshi_server import add_standard_market, clocked_client
from tests.fakes.kalshi_ws_server import FakeKalshiWs

D = Decimal
ORDERS = "/portfolio/events/orders"
LISTED = "/portfolio/orders"
# The manual clock jumps minutes at a time: silence is judged on it, so allow for that.
TIMING = KalshiWsTiming(silence_timeout_s=10_000.0, liveness_ping_s=0.05, snapshot_timeout_s=0.3,
                        max_backoff_s=0.05, base_backoff_s=0.01, open_timeout_s=2.0)


@pytest.fixture
def kalshi_clock(clock: Any) -> Any:
    return clock


@pytest.fixture
async def venue(server: Any, clock: Any) -> AsyncIterator[tuple[Any, FakeKalshiWs, KalshiWs]]:
    """The REST fake (`server`) and a websocket fake mirroring it, with a private KalshiWs connected."""
    ws = FakeKalshiWs({server.key_id: server.private_key.public_key()}, clock=clock)
    ws.mirror(server.fake)
    async with ws:
        books = KalshiWs(url=PROD_WS_URL, signer=server.auth(clock=clock), clock=clock, private=True,
                         connect=ws.connect, timing=TIMING, rng=lambda: 0.5)
        task = asyncio.ensure_future(books.run())
        await ws.wait_for(lambda: ws.subscriptions(m.CH_USER_ORDERS) == ws.subscriptions(m.CH_ORDER_GROUPS) == 1)
        try:
            yield server, ws, books
        finally:
            books.stop()
            await asyncio.wait_for(task, 5)


def market_in(rest: Any, clock: Any) -> str:
    return add_standard_market(rest.fake)


def client_for(rest: Any, clock: Any) -> Any:
    return clocked_client(rest, clock)


def yes(ticker: str) -> OrderIntent:
    return OrderIntent(ticker, Side.YES, D("3"), D("0.45"), new_client_order_id())


def first_word_executor(client: Any, books: KalshiWs, db: Database, tlog: TradeLog, clock: Any
                        ) -> tuple[LiveExecutor, FirstWordLookup]:
    """The live executor as live_setup builds it: the websocket's word first, REST the fallback."""
    lookup = FirstWordLookup(StreamOrderLookup(books), RestOrderLookup(client))
    return LiveExecutor(client, db, tlog, clock, lambda i: Verdict(True), lookup=lookup), lookup


def posts(rest: Any) -> int:
    return len(rest.fake.requests_to(ORDERS, "POST"))


async def test_an_ambiguous_order_is_resolved_from_the_websocket_before_rest_lists_it(
    venue: Any, db: Database, tlog: TradeLog, clock: Any
) -> None:
    rest, ws, books = venue
    fake = rest.fake
    ticker = market_in(rest, clock)
    fake.listing_lag_s = 5.0
    fake.drop_next(after_processing=True, method="POST", path=ORDERS)  # executed, answer lost
    async with client_for(rest, clock) as client:
        ex, lookup = first_word_executor(client, books, db, tlog, clock)
        intent = yes(ticker)
        assert (await ex.execute(intent)).status == "pending"
        cid = intent.client_order_id
        await ws.wait_for(lambda: len(books.fills_for(cid)) == 1)
        (venue_order,) = fake.orders_with_client_id(cid)
        assert clock() - venue_order.created_ts < fake.listing_lag_s  # REST does not list it yet
        listed_before = len(fake.requests_to(LISTED, "GET"))
        assert await ex.resolve_pending() == []  # no clock advance: the websocket's word alone
        assert lookup.answered_by_stream == 1
        assert len(fake.requests_to(LISTED, "GET")) == listed_before  # REST was not needed
    row = db.order_by_client_id(cid)
    assert row is not None and row.status == "executed" and row.filled_count == D("3")
    assert row.venue_order_id == venue_order.order_id
    (trade,) = db.open_trades()
    assert trade.count == D("3") and trade.fees == venue_order.fees and trade.cost == venue_order.fill_cost
    assert len(fake.orders_with_client_id(cid)) == 1 and posts(rest) == 1  # zero duplicates


async def test_a_websocket_that_heard_nothing_falls_back_to_rest_and_never_resends(
    venue: Any, db: Database, tlog: TradeLog, clock: Any
) -> None:
    rest, ws, books = venue
    fake = rest.fake
    ticker = market_in(rest, clock)
    ws.mute_private = True  # e.g. the connection was down while the order executed
    fake.listing_lag_s = 2.0
    fake.fail_next(502, method="POST", path=ORDERS, after_processing=True)
    async with client_for(rest, clock) as client:
        ex, lookup = first_word_executor(client, books, db, tlog, clock)
        intent = yes(ticker)
        assert (await ex.execute(intent)).status == "pending"
        cid = intent.client_order_id
        assert await ex.resolve_pending() == [cid]  # not listed yet, not heard: stays unknown
        clock.advance(3)
        assert await ex.resolve_pending() == []
        assert lookup.answered_by_stream == 0
    row = db.order_by_client_id(cid)
    assert row is not None and row.status == "executed" and row.filled_count == D("3")
    assert len(fake.orders_with_client_id(cid)) == 1 and posts(rest) == 1


@dataclass
class Live:
    """Live trading started (order group, fee check, first reconcile) with the websocket routed to it."""

    rest: Any
    ws: FakeKalshiWs
    parts: Any
    ticker: str
    stops: list[str]


@pytest.fixture
async def live(venue: Any, db: Database, tlog: TradeLog, clock: Any, tmp_path: Path) -> AsyncIterator[Live]:
    rest, ws, books = venue
    ticker = market_in(rest, clock)
    stops: list[str] = []
    async with client_for(rest, clock) as client:
        parts = await start_live(client, db, tlog, clock, lock_root=tmp_path, max_trade_usd=D("5"),
                                 time_in_force="fill_or_kill", kill_switch_check=lambda i: Verdict(True),
                                 on_hard_stop=lambda: stops.append("hard stop"), user_stream=books)
        router = VenueEventRouter()
        books.route_venue_events(on_order_group=router.on_order_group, on_fee_update=router.on_fee_update)
        router.attach_live(parts.guard, parts.tripwire)
        yield Live(rest, ws, parts, ticker, stops)


async def test_a_group_triggered_at_the_venue_is_a_hard_stop_from_its_websocket_message(
    live: Live, tmp_path: Path
) -> None:
    guard = live.parts.guard
    assert guard.order_group_id and not guard.triggered
    live.rest.fake.trigger_group(guard.order_group_id)  # e.g. a manual trigger on the website
    await live.ws.wait_for(lambda: guard.triggered)
    assert live.stops == ["hard stop"]
    lock = read_lock(tmp_path)
    assert lock is not None and lock.data is not None and lock.data["reason"] == TRIGGERED_REASON
    with pytest.raises(OrderRefused) as refused:
        await live.parts.executor.execute(yes(live.ticker))
    assert refused.value.verdict.reason == TRIGGERED_REASON
    assert posts(live.rest) == 0


async def test_an_event_fee_override_the_model_does_not_match_refuses_orders_until_cleared(live: Live) -> None:
    tripwire, ws = live.parts.tripwire, live.ws
    event = live.rest.fake.markets[live.ticker].event_ticker
    assert tripwire.refusal() == ""
    await ws.send_fee_update(event, "quadratic", 2.0)
    await ws.wait_for(lambda: tripwire.refusal() != "")
    assert event in tripwire.refusal()
    with pytest.raises(OrderRefused) as refused:
        await live.parts.executor.execute(yes(live.ticker))
    assert refused.value.verdict.reason == "fee_model_mismatch"
    assert posts(live.rest) == 0
    await ws.send_fee_update(event, None, None)  # the venue lifts the override
    await ws.wait_for(lambda: tripwire.refusal() == "")
    order = await live.parts.executor.execute(yes(live.ticker))
    assert order.status == "executed" and posts(live.rest) == 1 and live.stops == []


async def test_a_settled_lifecycle_event_books_the_market_at_once_and_only_once(
    venue: Any, db: Database, tlog: TradeLog, clock: Any, tmp_path: Path
) -> None:
    from src.app.engine import Engine, EngineTiming
    from src.config import AppConfig
    from src.model.models import Mode
    from src.risk.kill_switch import KillSwitch
    from tests.test_engine import FakeFeed, snap

    rest, ws, books = venue
    ticker = market_in(rest, clock)
    results: list[TradeResult] = []
    async with client_for(rest, clock) as client:
        ex = LiveExecutor(client, db, tlog, clock, lambda i: Verdict(True))
        assert (await ex.execute(yes(ticker))).status == "executed"
        ks = KillSwitch(AppConfig().risk, D("100"), db, tmp_path, mode=Mode.PAPER, clock=clock,
                        cancel_all=lambda: None, out=lambda _m: None)
        settler = Settler(client, db, tlog, clock, D("100"), results.append, settlements=client, mode="live")
        # The timed pass never comes in this test (an hour of real time): only the event can book it.
        engine = Engine(
            mode=Mode.LIVE, feed=FakeFeed(snap()), market_data=client, strategy=object(),  # type: ignore[arg-type]
            size=lambda s, b: None, gate=ks, executor=ex, settler=settler, db=db, bankroll=lambda: D("100"),
            clock=clock, timing=EngineTiming(settle_interval_s=3600.0), status_out=lambda _l: None,
        )
        router = VenueEventRouter(expedite=settler.expedite, settle_soon=engine.settle_soon)
        books.route_venue_events(on_lifecycle=router.on_lifecycle)
        loop = asyncio.create_task(engine._settle_loop())
        try:
            clock.now = rest.fake.markets[ticker].close_ts + 30
            await ws.send_lifecycle(ticker, "determined", result="yes")
            await asyncio.sleep(0.2)
            assert results == [] and len(db.open_trades()) == 1  # no venue settlement yet: waits
            rest.fake.settle(ticker, "yes")
            await ws.send_lifecycle(ticker, "settled", result="yes", settled_ts=int(clock()))
            await ws.wait_for(lambda: len(results) == 1)
            assert db.open_trades() == []
            await ws.send_lifecycle(ticker, "settled", result="yes", settled_ts=int(clock()))  # repeated
            await ws.wait_for(lambda: router.settle_wakeups == 3)
            await asyncio.sleep(0.2)
        finally:
            engine.request_stop(0)
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
    (venue_order,) = rest.fake.orders.values()
    assert len(results) == 1 and results[0].pnl == D("3") - venue_order.fill_cost - venue_order.fees


# -- the pieces, without a network -------------------------------------------------------------------


def ws_order(status: str = "executed", filled: str = "3", cid: str = "pbx", ticker: str = "KXBTC15M-T") -> Any:
    return m.UserOrderUpdate(order_id="o1", client_order_id=cid, ticker=ticker, status=status, side=Side.NO,
                             yes_price=D("0.4500"), filled=D(filled), remaining=D(0), initial=D("3"),
                             taker_fees=D("0.05"), maker_fees=D(0), updated_ms=None)


def ws_fill(count: str, trade_id: str, order_id: str = "o1") -> Any:
    return m.UserFill(trade_id=trade_id, order_id=order_id, client_order_id="pbx", ticker="KXBTC15M-T",
                      side=Side.NO, yes_price=D("0.4500"), count=D(count), fee=D("0.02"), is_taker=True, ts_ms=1000)


class Heard:
    """What a KalshiWs would hold for one client_order_id."""

    def __init__(self, order: Any = None, fills: list[Any] | None = None) -> None:
        self.order, self.fills = order, fills or []

    def order_update(self, client_order_id: str) -> Any:
        return self.order if self.order is not None and self.order.client_order_id == client_order_id else None

    def fills_for(self, client_order_id: str) -> list[Any]:
        return list(self.fills)


class Rest:
    def __init__(self) -> None:
        self.asked = 0

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Any:
        self.asked += 1
        return None


async def test_the_websocket_answers_first_only_with_a_final_state_of_that_order_in_that_market() -> None:
    rest = Rest()
    first = FirstWordLookup(StreamOrderLookup(Heard(ws_order(),
                                                    [ws_fill("1", "t1"), ws_fill("2", "t2")])), rest)
    order = await first.find("pbx", "KXBTC15M-T", 0.0)
    assert order is not None and order.status == "executed" and order.side is Side.NO
    assert order.limit_price == D("0.5500") and order.fees == D("0.05")  # NO pays 1 - yes price
    assert [f.count for f in order.fills] == [D(1), D(2)] and rest.asked == 0
    # Another market's order, a state that is not an outcome, or nothing heard: REST is asked.
    for heard in (Heard(ws_order(ticker="KXBTC15M-OTHER")), Heard(ws_order(status="unknown")), Heard()):
        rest.asked = 0
        assert await FirstWordLookup(StreamOrderLookup(heard), rest).find("pbx", "KXBTC15M-T", 0.0) is None
        assert rest.asked == 1


async def test_fill_messages_that_do_not_add_up_travel_without_fills_and_silence_never_means_absent() -> None:
    partial = await StreamOrderLookup(Heard(ws_order(), [ws_fill("1", "t1")])).find("pbx", "KXBTC15M-T", 0.0)
    assert partial is not None and partial.filled_count == D(3) and partial.fills == ()  # REST fills decide
    other_order = Heard(ws_order(filled="1"), [ws_fill("1", "t9", order_id="o2")])
    assert (await StreamOrderLookup(other_order).find("pbx", "KXBTC15M-T", 0.0)).fills == ()  # type: ignore[union-attr]
    with pytest.raises(NotHeardYet):
        await StreamOrderLookup(Heard()).find("pbx", "KXBTC15M-T", 0.0)


async def test_a_websocket_alone_never_marks_an_order_failed_however_long_it_is_silent(
    db: Database, tlog: TradeLog, clock: Any
) -> None:
    intent = yes("KXBTC15M-T")
    db.insert_order_intent(intent, clock(), status="pending")
    clock.advance(3600)
    (row,) = db.orders_with_status("pending")
    res = await resolve_order(object(), db, tlog, clock, row, lookup=StreamOrderLookup(Heard()))  # type: ignore[arg-type]
    assert res.status == "pending" and db.order_by_client_id(intent.client_order_id).status == "pending"  # type: ignore[union-attr]


def test_order_group_updates_parse_and_an_unmodelled_fee_override_trips_until_cleared(clock: Any) -> None:
    update = m.parse('{"type":"order_group_updates","sid":4,"seq":2,"msg":{"event_type":"triggered",'
                     '"order_group_id":"og-1","contracts_limit_fp":"150.00","ts_ms":1}}')
    assert update == m.OrderGroupUpdate("og-1", "triggered", D("150.00"), 1)
    wire = FeeTripwire(object(), "KXBTC15M", clock)  # type: ignore[arg-type]
    wire._refusal = ""  # as after a clean check of the series
    assert wire.note_override("KXBTC15M-E1", None, D(1)) == "" and wire.refusal() == ""
    assert "taker rate" in wire.note_override("KXBTC15M-E1", None, D("1.5"))
    assert "KXBTC15M-E1 fee override" in wire.refusal()
    assert wire.note_override("KXBTC15M-E1", "flat", None) != ""  # an unmodelled type refuses too
    assert wire.note_override("KXBTC15M-E1", None, None) == "" and wire.refusal() == ""
