"""Paper executor: fills against crafted books, fees, time in force, the kill switch gate and records."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.db import Database
from src.execution.order_rules import FILL_OR_KILL, IMMEDIATE_OR_CANCEL, InvalidOrderError
from src.execution.paper import PaperExecutor, walk_book
from src.journal.trade_log import TradeLog
from src.model.fees import taker_fee
from src.model.interfaces import OrderRefused
from src.model.models import BookLevel, OrderBook, OrderIntent, Side, Verdict, new_client_order_id
from tests.fakes.market_data import FakeMarketData
from tests.fakes.order_doubles import Gate, log_lines, order_intent

D = Decimal
TICKER = "KXBTC15M-26MAY281500-00"
REPO = Path(__file__).resolve().parent.parent


def book(yes: list[tuple[str, str]] = (), no: list[tuple[str, str]] = (), ticker: str = TICKER) -> OrderBook:
    """Levels given as Kalshi sends them: bids, ascending, best bid last."""
    return OrderBook(
        ticker=ticker,
        yes_bids=tuple(BookLevel(D(p), D(c)) for p, c in yes),
        no_bids=tuple(BookLevel(D(p), D(c)) for p, c in no),
        fetched_at=1.0,
    )


def intent(count: str = "5", limit: str = "0.56", side: Side = Side.YES, cid: str | None = None) -> OrderIntent:
    return order_intent(TICKER, count, limit, side, cid)


# The standard book: NO bids 0.40 x 5 and 0.45 x 10 -> YES asks 0.55 x 10 then 0.60 x 5.
# YES bids 0.30 x 8 and 0.38 x 4 -> NO asks 0.62 x 4 then 0.70 x 8.
STD = book(yes=[("0.30", "8"), ("0.38", "4")], no=[("0.40", "5"), ("0.45", "10")])


def make(db: Database, tlog: TradeLog, clock: Any, books: OrderBook = STD, tif: str = FILL_OR_KILL,
         gate: Gate | None = None, **kw: Any) -> tuple[PaperExecutor, FakeMarketData, Gate]:
    md = FakeMarketData({books.ticker: books})
    g = gate or Gate()
    return PaperExecutor(md, db, tlog, clock, g, time_in_force=tif, **kw), md, g


# -- the pure book walk ------------------------------------------------------------------------


def test_walk_book_takes_cheapest_levels_first_at_their_own_prices() -> None:
    takes = walk_book(STD.asks(Side.YES), D("12"), D("0.60"), IMMEDIATE_OR_CANCEL)
    assert [(t.price, t.count) for t in takes] == [(D("0.55"), D("10")), (D("0.60"), D("2"))]


def test_walk_book_stops_at_the_limit_price() -> None:
    takes = walk_book(STD.asks(Side.YES), D("12"), D("0.59"), IMMEDIATE_OR_CANCEL)
    assert [(t.price, t.count) for t in takes] == [(D("0.55"), D("10"))]


def test_walk_book_fill_or_kill_is_all_or_nothing() -> None:
    assert walk_book(STD.asks(Side.YES), D("16"), D("0.60"), FILL_OR_KILL) == ()
    assert sum(t.count for t in walk_book(STD.asks(Side.YES), D("15"), D("0.60"), FILL_OR_KILL)) == D("15")


def test_walk_book_fee_is_rounded_up_per_fill() -> None:
    takes = walk_book(STD.asks(Side.YES), D("12"), D("0.60"), IMMEDIATE_OR_CANCEL)
    # 0.07*10*0.55*0.45 = 0.17325 -> 0.18 ; 0.07*2*0.60*0.40 = 0.0336 -> 0.04
    assert [t.fee for t in takes] == [D("0.18"), D("0.04")]
    # One order at the same exact fee would round once: 0.20685 -> 0.21. Per-fill rounding costs at most
    # one cent more per extra level, never less.
    exact = D("0.07") * (D("10") * D("0.55") * D("0.45") + D("2") * D("0.60") * D("0.40"))
    single = exact.quantize(D("0.01"), rounding="ROUND_CEILING")
    assert single == D("0.21")
    assert single <= sum(t.fee for t in takes) <= single + D("0.01") * (len(takes) - 1)


# -- executions ----------------------------------------------------------------------------------


async def test_full_fill_at_one_level(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, md, _ = make(db, tlog, clock)
    i = intent("5", "0.56")
    order = await ex.execute(i)
    assert order.status == "executed"
    assert order.filled_count == D("5") and order.remaining_count == 0
    assert order.avg_fill_price == D("0.55")  # the resting price, not the 0.56 limit
    assert order.fees == taker_fee(D("5"), D("0.55")) == D("0.09")
    assert len(order.fills) == 1
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "executed" and row.filled_count == D("5") and row.fees == D("0.09")
    (trade,) = db.open_trades()
    assert (trade.count, trade.avg_price, trade.cost, trade.fees) == (D("5"), D("0.55"), D("2.75"), D("0.09"))
    assert trade.side is Side.YES and trade.ticker == TICKER
    assert md.calls == ["get_orderbook"]


async def test_fill_across_levels_makes_one_fill_per_level(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock)
    i = intent("12", "0.60")
    order = await ex.execute(i)
    assert order.status == "executed"
    assert [(f.price, f.count, f.fee) for f in order.fills] == [
        (D("0.55"), D("10"), D("0.18")), (D("0.60"), D("2"), D("0.04"))]
    assert order.fees == D("0.22")
    assert order.avg_fill_price == (D("5.50") + D("1.20")) / D("12")
    assert len({f.fill_id for f in order.fills}) == 2
    stored = db.fills_for_order(i.client_order_id)
    assert [(f.price, f.count, f.fee) for f in stored] == [(f.price, f.count, f.fee) for f in order.fills]
    (trade,) = db.open_trades()
    assert trade.cost == D("6.70") and trade.fees == D("0.22")


async def test_buying_no_walks_the_yes_bids(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock)
    order = await ex.execute(intent("6", "0.70", side=Side.NO))
    assert [(f.price, f.count) for f in order.fills] == [(D("0.62"), D("4")), (D("0.70"), D("2"))]
    assert all(f.side is Side.NO for f in order.fills)
    (trade,) = db.open_trades()
    assert trade.side is Side.NO and trade.cost == D("2.48") + D("1.40")


async def test_ioc_partial_fill_records_what_filled(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock, tif=IMMEDIATE_OR_CANCEL)
    i = intent("20", "0.60")
    order = await ex.execute(i)
    assert order.status == "canceled"  # Kalshi's word for an IOC whose rest was cancelled
    assert order.filled_count == D("15") and order.remaining_count == 0
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "canceled" and row.filled_count == D("15")
    (trade,) = db.open_trades()
    assert trade.count == D("15")


async def test_fok_that_cannot_fill_fills_nothing(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock, tif=FILL_OR_KILL)
    i = intent("20", "0.60")
    order = await ex.execute(i)
    assert order.status == "canceled" and order.filled_count == 0 and order.fills == () and order.fees == 0
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "canceled" and row.filled_count == 0
    assert db.open_trades() == [] and db.fills_for_order(i.client_order_id) == []


@pytest.mark.parametrize("tif", [FILL_OR_KILL, IMMEDIATE_OR_CANCEL])
async def test_nothing_within_the_limit_fills_nothing(db: Database, tlog: TradeLog, clock: Any, tif: str) -> None:
    ex, _, _ = make(db, tlog, clock, tif=tif)
    order = await ex.execute(intent("1", "0.54"))
    assert order.status == "canceled" and order.filled_count == 0
    assert db.open_trades() == []


async def test_empty_book_fills_nothing(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock, books=book(), tif=IMMEDIATE_OR_CANCEL)
    order = await ex.execute(intent("3", "0.99"))
    assert order.status == "canceled" and order.filled_count == 0


async def test_one_contract_fee_rounds_up_to_a_cent(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock, books=book(no=[("0.50", "3")]))
    order = await ex.execute(intent("1", "0.50"))
    assert order.fees == D("0.02")  # 0.07 * 0.25 = 0.0175, up to the cent


async def test_fee_multiplier_is_used(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock, books=book(no=[("0.50", "100")]), fee_multiplier=D("0.035"))
    order = await ex.execute(intent("100", "0.50"))
    assert order.fees == D("0.88")  # 0.035 * 100 * 0.25 = 0.875 -> 0.88


async def test_trade_log_has_order_fill_and_result_lines(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock)
    i = intent("12", "0.60")
    await ex.execute(i)
    lines = log_lines(tlog)
    assert [line["event"] for line in lines] == ["order_submitted", "fill", "fill", "order_result"]
    assert all(line["client_order_id"] == i.client_order_id and line["mode"] == "paper" for line in lines)
    assert lines[0]["limit_price"] == "0.60" and lines[0]["count"] == "12" and lines[0]["side"] == "yes"
    assert [line["price"] for line in lines[1:3]] == ["0.55", "0.60"]
    assert lines[3]["status"] == "executed" and lines[3]["fees"] == "0.22" and lines[3]["filled_count"] == "12"


async def test_on_order_submitted_hook_runs_once_per_order(db: Database, tlog: TradeLog, clock: Any) -> None:
    seen: list[OrderIntent] = []
    ex, _, _ = make(db, tlog, clock, on_order_submitted=seen.append)
    i = intent()
    await ex.execute(i)
    assert seen == [i]


# -- the kill switch gate ----------------------------------------------------------------------


async def test_kill_switch_is_asked_first(db: Database, tlog: TradeLog, clock: Any) -> None:
    trace: list[str] = []
    md = FakeMarketData({TICKER: STD})
    original = md.get_orderbook

    async def traced(ticker: str) -> OrderBook:
        trace.append("book")
        return await original(ticker)

    md.get_orderbook = traced  # type: ignore[method-assign]
    gate = Gate(trace=trace)
    ex = PaperExecutor(md, db, tlog, clock, gate)
    i = intent()
    await ex.execute(i)
    assert trace == ["kill_switch", "book"]
    assert gate.seen == [i]


async def test_kill_switch_refusal_records_nothing_but_a_log_line(db: Database, tlog: TradeLog, clock: Any) -> None:
    gate = Gate(Verdict(False, "daily_loss", "lost 16% today"))
    ex, md, _ = make(db, tlog, clock, gate=gate)
    i = intent()
    with pytest.raises(OrderRefused, match="daily_loss") as info:
        await ex.execute(i)
    assert info.value.verdict.reason == "daily_loss"
    assert md.calls == []  # not even the book was read
    assert db.order_by_client_id(i.client_order_id) is None
    assert db.all_trades() == []
    (line,) = log_lines(tlog)
    assert line["event"] == "order_refused" and line["reason"] == "daily_loss"


# -- failures and bad input --------------------------------------------------------------------


async def test_book_failure_marks_the_order_failed_and_reraises(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, md, _ = make(db, tlog, clock)
    md.fail = ConnectionError("venue unreachable")
    i = intent()
    with pytest.raises(ConnectionError):
        await ex.execute(i)
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "failed" and "venue unreachable" in (row.error or "")
    assert db.open_trades() == []
    assert [line["event"] for line in log_lines(tlog)] == ["order_submitted", "order_failed"]


async def test_wrong_book_is_refused(db: Database, tlog: TradeLog, clock: Any) -> None:
    md = FakeMarketData({TICKER: book(no=[("0.45", "10")], ticker="OTHER-TICKER")})
    ex = PaperExecutor(md, db, tlog, clock, Gate())
    i = intent()
    with pytest.raises(RuntimeError, match="OTHER-TICKER"):
        await ex.execute(i)
    assert db.open_trades() == []


async def test_reused_client_order_id_is_refused(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, _, _ = make(db, tlog, clock)
    i = intent()
    await ex.execute(i)
    with pytest.raises(InvalidOrderError, match="already used"):
        await ex.execute(i)
    assert len(db.all_trades()) == 1


@pytest.mark.parametrize(("count", "limit"), [("0", "0.5"), ("-1", "0.5"), ("1.5", "0.5"), ("1", "0"),
                                              ("1", "1"), ("1", "1.2")])
async def test_invalid_intents_are_refused(db: Database, tlog: TradeLog, clock: Any, count: str,
                                           limit: str) -> None:
    ex, md, _ = make(db, tlog, clock)
    with pytest.raises(InvalidOrderError):
        await ex.execute(intent(count, limit))
    assert md.calls == [] and db.all_trades() == []


def test_unknown_time_in_force_is_refused(db: Database, tlog: TradeLog, clock: Any) -> None:
    with pytest.raises(InvalidOrderError, match="time_in_force"):
        make(db, tlog, clock, tif="good_till_canceled")


async def test_cancel_all_has_nothing_to_cancel(db: Database, tlog: TradeLog, clock: Any) -> None:
    ex, md, _ = make(db, tlog, clock)
    await ex.execute(intent())
    assert await ex.cancel_all() == 0
    assert "cancel_all_orders" not in md.calls


# -- it cannot reach an order endpoint ------------------------------------------------------------


async def test_never_calls_an_order_method_even_when_given_a_full_client(
    db: Database, tlog: TradeLog, clock: Any
) -> None:
    ex, md, _ = make(db, tlog, clock, tif=IMMEDIATE_OR_CANCEL)
    for n in ("3", "30"):
        await ex.execute(intent(n, "0.99"))
    await ex.cancel_all()
    assert set(md.calls) == {"get_orderbook"}


async def test_against_the_fake_kalshi_server_only_the_public_book_is_read(
    rsa_private_key: Any, db: Database, tlog: TradeLog, clock: Any
) -> None:
    import time

    from tests.fakes.kalshi_server import start_fake_kalshi

    async with start_fake_kalshi(rsa_private_key) as server:
        m = server.fake.add_kxbtc15m_market(time.time(), floor_strike="95000")
        server.fake.set_book(m.ticker, yes=[("0.40", "10")], no=[("0.50", "10"), ("0.55", "3")])
        # A fully credentialed client, able to place orders: the paper executor still must not.
        async with server.client() as client:
            ex = PaperExecutor(client, db, tlog, clock, Gate(), time_in_force=IMMEDIATE_OR_CANCEL)
            order = await ex.execute(OrderIntent(m.ticker, Side.YES, D("5"), D("0.50"), new_client_order_id()))
            assert [(f.price, f.count) for f in order.fills] == [(D("0.45"), D("3")), (D("0.50"), D("2"))]
            assert await ex.cancel_all() == 0
        paths = {(r.method, r.path) for r in server.fake.requests}
        assert paths == {("GET", f"/markets/{m.ticker}/orderbook")}
        assert server.fake.orders == {} and server.fake.fills == []
        assert not any(r.signed for r in server.fake.requests)


def test_orders_left_pending_by_a_crash_are_marked_failed(tmp_path) -> None:
    db = Database(tmp_path / "paper.db")
    tlog = TradeLog(tmp_path / "trades")
    intent = OrderIntent("T", Side.YES, D("2"), D("0.50"), new_client_order_id())
    db.insert_order_intent(intent, 1.0, status="pending")  # the process died right here
    ex = PaperExecutor(object(), db, tlog, lambda: 2.0, lambda i: Verdict(True))  # type: ignore[arg-type]
    assert ex.fail_interrupted() == 1
    row = db.order_by_client_id(intent.client_order_id)
    assert row.status == "failed" and "interrupted" in (row.error or "")
    assert ex.fail_interrupted() == 0 and db.open_trades() == []
