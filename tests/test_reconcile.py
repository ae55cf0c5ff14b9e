"""Reconciliation: pending orders resolved by look-up, unknown fills adopted or reported, positions compared."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from src.db import Database
from src.execution.reconcile import ADOPTED_STRATEGY, Reconciler, resolve_order
from src.journal.trade_log import TradeLog
from src.model.models import Fill, Order, OrderIntent, Settlement, Side, new_client_order_id
from src.platforms.kalshi import KalshiTransportError
from tests.fakes.fake_venue import FakeVenue

D = Decimal
TICKER = "KXBTC15M-26MAY281500-00"
OTHER = "KXBTC15M-26MAY281515-15"


@pytest.fixture
def venue(clock: Any) -> FakeVenue:
    return FakeVenue(clock)


def pending(db: Database, clock: Any, count: str = "5", cid: str | None = None, ticker: str = TICKER) -> str:
    cid = cid or new_client_order_id()
    db.insert_order_intent(OrderIntent(ticker, Side.YES, D(count), D("0.55"), cid), clock(), status="pending")
    return cid


async def place_directly(venue: FakeVenue, cid: str, count: str = "5", ticker: str = TICKER) -> Order:
    """The venue got the order but the database never heard back."""
    return await venue.place_order(ticker, Side.YES, D(count), D("0.55"), cid)


def codes(report: Any) -> list[str]:
    return [d.code for d in report.discrepancies]


async def test_not_reconciled_before_the_first_run(venue: FakeVenue, db: Database, tlog: TradeLog,
                                                   clock: Any) -> None:
    r = Reconciler(venue, db, tlog, clock)
    assert r.reconciled is False and r.discrepancies == () and r.last_report is None
    report = await r.run()
    assert report.reconciled and r.reconciled and report.discrepancies == ()


async def test_pending_order_found_executed_is_adopted_with_its_fills(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock)
    placed = await place_directly(venue, cid)
    report = await Reconciler(venue, db, tlog, clock).run()
    assert report.reconciled, report
    row = db.order_by_client_id(cid)
    assert row is not None and row.status == "executed" and row.venue_order_id == placed.order_id
    (trade,) = db.open_trades()
    assert trade.count == D("5") and trade.fees == D("0.09")
    assert any(cid in a for a in report.actions)


async def test_pending_order_the_venue_never_saw_fails_only_after_the_grace(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock)
    r = Reconciler(venue, db, tlog, clock, not_found_grace_s=30)
    report = await r.run()
    assert not report.reconciled and codes(report) == ["pending_unresolved"]
    assert report.discrepancies[0].client_order_id == cid
    clock.advance(31)
    report = await r.run()
    assert report.reconciled, report
    row = db.order_by_client_id(cid)
    assert row is not None and row.status == "failed"


async def test_failed_lookup_keeps_the_order_pending(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock)
    clock.advance(100)
    venue.lookups_fail = KalshiTransportError(0, "timeout", "no answer")
    row = db.order_by_client_id(cid)
    assert row is not None
    res = await resolve_order(venue, db, tlog, clock, row)
    assert res.status == "pending" and "look-up failed" in res.detail
    row = db.order_by_client_id(cid)
    assert row is not None and row.status == "pending"  # never assumed failed


async def test_resting_order_is_a_discrepancy(venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any) -> None:
    venue.resting = [Order("r-1", "", TICKER, Side.YES, D("1"), D("0.40"), "resting", remaining_count=D("1"))]
    report = await Reconciler(venue, db, tlog, clock).run()
    assert codes(report) == ["resting_order"] and "not placed by this bot" in report.discrepancies[0].detail


async def test_unknown_fills_are_adopted_as_flagged_trades(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    oid = venue.external_fill(TICKER, Side.NO, "3", "0.40")
    r = Reconciler(venue, db, tlog, clock, adopt_unknown=True)
    report = await r.run()
    assert report.reconciled, report
    (trade,) = db.open_trades()
    assert (trade.strategy, trade.side, trade.count, trade.cost) == (ADOPTED_STRATEGY, Side.NO, D("3"), D("1.20"))
    assert trade.fees == D("0.06")
    row = db.order_by_venue_id(oid)
    assert row is not None and row.status == "executed"
    again = await r.run()
    assert again.reconciled and again.actions == () and len(db.all_trades()) == 1
    lines = [json.loads(x) for p in sorted(tlog.directory.glob("*.jsonl")) for x in p.read_text().splitlines()]
    assert "order_adopted" in [x["event"] for x in lines]


async def test_unknown_fills_are_refused_when_adoption_is_off(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.external_fill(TICKER, Side.YES, "2", "0.50")
    report = await Reconciler(venue, db, tlog, clock, adopt_unknown=False).run()
    assert not report.reconciled
    assert sorted(codes(report)) == ["position_mismatch", "unknown_fills"]
    assert db.all_trades() == []


async def test_nothing_is_adopted_while_an_order_is_unresolved(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock)
    await place_directly(venue, cid)
    venue.lookups_fail = KalshiTransportError(0, "timeout", "no answer")  # cannot tell whose fill it is
    report = await Reconciler(venue, db, tlog, clock).run()
    assert not report.reconciled
    assert "pending_unresolved" in codes(report) and "unknown_fills" in codes(report)
    assert db.all_trades() == []


async def test_more_venue_fills_update_an_open_trade(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock, count="5")
    placed = await place_directly(venue, cid)
    partial = [Fill(placed.order_id, TICKER, Side.YES, D("2"), D("0.55"), D("0.04"), clock(), fill_id="only-2")]
    db.record_execution(cid, clock(), status="executed", venue_order_id=placed.order_id, fills=partial)
    venue.fills = [Fill(placed.order_id, TICKER, Side.YES, D("2"), D("0.55"), D("0.04"), clock(), fill_id="only-2"),
                   Fill(placed.order_id, TICKER, Side.YES, D("3"), D("0.55"), D("0.05"), clock(), fill_id="then-3")]
    report = await Reconciler(venue, db, tlog, clock).run()
    assert report.reconciled, report
    (trade,) = db.open_trades()
    assert trade.count == D("5") and trade.fees == D("0.09")


async def test_fewer_venue_fills_than_recorded_is_reported(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock, count="5")
    placed = await place_directly(venue, cid, count="5")
    fills = [Fill(placed.order_id, TICKER, Side.YES, D("7"), D("0.55"), D("0.13"), clock(), fill_id="x")]
    db.record_execution(cid, clock(), status="executed", venue_order_id=placed.order_id, fills=fills)
    report = await Reconciler(venue, db, tlog, clock).run()
    assert sorted(codes(report)) == ["fill_mismatch", "position_mismatch"]
    assert db.open_trades()[0].count == D("7")  # the database is never silently shrunk


async def test_open_trade_of_a_market_settled_at_the_venue_is_fine(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock)
    await place_directly(venue, cid)
    assert (await Reconciler(venue, db, tlog, clock).run()).reconciled
    venue.settlements.append(Settlement(TICKER, "yes", D("5"), clock(), yes_count=D("5")))
    report = await Reconciler(venue, db, tlog, clock).run()
    assert report.reconciled, report
    assert len(db.open_trades()) == 1  # settlement, not reconciliation, books it


async def test_open_trade_the_venue_does_not_hold_is_a_mismatch(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    cid = pending(db, clock, ticker=OTHER)
    fills = [Fill("ghost", OTHER, Side.YES, D("4"), D("0.50"), D("0.07"), clock(), fill_id="g")]
    db.record_execution(cid, clock(), status="executed", venue_order_id="ghost", fills=fills)
    report = await Reconciler(venue, db, tlog, clock).run()
    assert codes(report) == ["position_mismatch"]
    assert "database YES 4" in report.discrepancies[0].detail and "venue holds flat" in report.discrepancies[0].detail


async def test_unreachable_venue_is_not_reconciled(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.unreachable = KalshiTransportError(0, "connection_refused", "refused")
    r = Reconciler(venue, db, tlog, clock)
    report = await r.run()
    assert not report.reconciled and codes(report) == ["venue_unreachable"]
    venue.unreachable = None
    assert (await r.run()).reconciled


# -- against the fake Kalshi server -------------------------------------------------------------------


@pytest.mark.parametrize("adopt", [True, False])
async def test_fake_server_order_placed_outside_the_bot(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any, adopt: bool
) -> None:
    async with server.client() as client:
        # Someone trades on the same account by hand.
        await client.place_order(market, Side.NO, D("2"), D("0.60"), "manual-1")
        report = await Reconciler(client, db, tlog, clock, adopt_unknown=adopt).run()
    if adopt:
        assert report.reconciled, report
        (trade,) = db.open_trades()
        assert (trade.strategy, trade.side, trade.count, trade.cost) == (ADOPTED_STRATEGY, Side.NO, D("2"), D("1.20"))
        assert trade.fees == D("0.04")
    else:
        assert not report.reconciled
        assert sorted(codes(report)) == ["position_mismatch", "unknown_fills"]
        assert db.all_trades() == []


async def test_fake_server_resting_order_blocks_trading(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any
) -> None:
    server.fake.add_resting_order(market, buy="yes", price="0.10", count="1")
    async with server.client() as client:
        r = Reconciler(client, db, tlog, clock)
        report = await r.run()
        assert not r.reconciled and codes(report) == ["resting_order"]
        await client.cancel_all_orders()
        assert (await r.run()).reconciled
