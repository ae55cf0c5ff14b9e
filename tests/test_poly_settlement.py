"""PolySettler against a local fake CLOB: resolved markets pay $1 per winning share, P&L reaches the kill switch."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import RiskConfig
from src.db import PolymarketDatabase, polymarket_db_path
from src.execution.poly_settlement import PolySettler, resolved_outcome
from src.journal.trade_log import TradeLog
from src.model.models import Fill, Market, Mode, OrderIntent, Side, TradeResult, utc_from_ts
from src.net.backoff import RetryPolicy
from src.net.rate_limit import TokenBucket
from src.platforms.polymarket import PolymarketClient
from src.risk.kill_switch import KillSwitch
from tests.fakes.polymarket_server import CLOB_HOST, FakeClob, connector_factory, market_row

TOKEN = str(7 * 10**76 + 1_321_045)
OTHER = str(7 * 10**76 + 99)
CONDITION = "0x" + "dd" * 32
STARTING = Decimal("100")


def market_payload(*, closed: bool = False, winner: str | None = None) -> dict:
    return market_row(CONDITION, TOKEN, OTHER, closed=closed, winner=winner)


@pytest.fixture
async def clob(tls) -> AsyncIterator[FakeClob]:
    server = FakeClob(tls)
    server.markets[CONDITION] = market_payload()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(tls, clob, clock) -> AsyncIterator[PolymarketClient]:
    c = PolymarketClient(
        clock=clock,
        connector_factory=connector_factory(tls, {CLOB_HOST: clob.port}),
        read_bucket=TokenBucket(1000, 1.0),
        retry_policy=RetryPolicy(max_attempts=1, budget_s=5),
        timeout_s=2.0,
    )
    yield c
    await c.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[PolymarketDatabase]:
    d = PolymarketDatabase(polymarket_db_path(tmp_path))
    yield d
    d.close()


def open_trade(db: PolymarketDatabase, clock, token: str = TOKEN, count: str = "10", price: str = "0.40",
               fee: str = "0.17", cid: str = "pb" + "1" * 32, condition: str | None = CONDITION) -> int:
    """An open paper position, recorded the way the paper executor records one."""
    intent = OrderIntent(token, Side.YES, Decimal(count), Decimal(price), cid, strategy="whale_copy")
    db.insert_order_intent(intent, clock(), status="pending")
    fill = Fill("paper-" + cid, token, Side.YES, Decimal(count), Decimal(price), Decimal(fee), clock(), "f0")
    trade_id = db.record_execution(cid, clock(), status="executed", venue_order_id="paper-" + cid, fills=[fill])
    if condition is not None:
        db.record_token_market(token, condition, clock(), outcome="Yes", title="Will it?")
    assert trade_id is not None
    return trade_id


def kill_switch(db, tmp_path, clock) -> KillSwitch:
    root = tmp_path / "data" / "polymarket"
    root.mkdir(parents=True, exist_ok=True)
    return KillSwitch(RiskConfig(), STARTING, db, root, mode=Mode.PAPER, clock=clock, cancel_all=lambda: None,
                      out=lambda _m: None)


def settler(client, db, tmp_path, clock, on_result) -> PolySettler:
    return PolySettler(client, db, TradeLog(tmp_path / "logs" / "trades" / "polymarket", clock), clock, STARTING,
                       on_result, retry_after_s=300)


def test_resolved_outcome_needs_a_closed_market_with_a_winner():
    base = Market(TOKEN, CONDITION, "open", utc_from_ts(0), utc_from_ts(1), None)
    assert resolved_outcome(base) is None
    assert resolved_outcome(replace(base, status="closed")) is None  # closed, no winner yet
    assert resolved_outcome(replace(base, status="closed", result="yes")) == "yes"
    assert resolved_outcome(replace(base, status="closed", result="no")) == "no"
    assert resolved_outcome(replace(base, status="open", result="yes")) is None


async def test_winning_position_pays_one_dollar_a_share_and_the_kill_switch_sees_it(client, clob, db, tmp_path,
                                                                                    clock):
    trade_id = open_trade(db, clock)
    ks = kill_switch(db, tmp_path, clock)
    s = settler(client, db, tmp_path, clock, ks.record_trade_result)

    report = await s.settle_due()  # market still open: waits, books nothing
    assert report.settled == () and report.waiting == (TOKEN,) and db.open_trades()

    clob.markets[CONDITION] = market_payload(closed=True, winner=TOKEN)
    clock.advance(301)
    report = await s.settle_due()
    assert len(report.settled) == 1
    booked = report.settled[0]
    # 10 shares x $1 - cost 10 x 0.40 - fees 0.17
    assert booked.outcome == "yes" and booked.payout == Decimal("10") and booked.pnl == Decimal("5.83")
    assert booked.bankroll_after == Decimal("105.83")
    row = db.settled_trades()[0]
    assert row.id == trade_id and row.pnl == Decimal("5.83") and row.result == "yes"
    assert ks.bankroll == Decimal("105.83") and ks.status().today_pnl == Decimal("5.83")
    lines = [json.loads(x) for p in (tmp_path / "logs" / "trades" / "polymarket").glob("*.jsonl")
             for x in p.read_text().splitlines()]
    assert [(x["event"], x["pnl"], x["mode"]) for x in lines] == [("settlement", "5.83", "polymarket_paper")]

    clock.advance(301)
    again = await s.settle_due()  # nothing open any more: no double booking
    assert again.settled == () and ks.bankroll == Decimal("105.83")


async def test_losing_position_loses_cost_and_fees(client, clob, db, tmp_path, clock):
    open_trade(db, clock)
    clob.markets[CONDITION] = market_payload(closed=True, winner=OTHER)
    seen: list[TradeResult] = []
    report = await settler(client, db, tmp_path, clock, seen.append).settle_due()
    assert [(t.outcome, t.payout, t.pnl) for t in report.settled] == [("no", Decimal("0"), Decimal("-4.17"))]
    assert [r.pnl for r in seen] == [Decimal("-4.17")]
    assert db.realized_pnl() == Decimal("-4.17")
    assert db.settled_trades()[0].result == "no"


async def test_closed_without_a_winner_waits_and_is_not_asked_again_before_the_retry(client, clob, db, tmp_path,
                                                                                     clock):
    open_trade(db, clock)
    clob.markets[CONDITION] = market_payload(closed=True, winner=None)
    seen: list[TradeResult] = []
    s = settler(client, db, tmp_path, clock, seen.append)
    assert (await s.settle_due()).waiting == (TOKEN,)
    asked = len(clob.hits(f"/markets/{CONDITION}"))
    clock.advance(100)
    assert (await s.settle_due()).waiting == (TOKEN,)
    assert len(clob.hits(f"/markets/{CONDITION}")) == asked  # retry not due yet: no request
    clob.markets[CONDITION] = market_payload(closed=True, winner=TOKEN)
    clock.advance(201)
    assert len((await s.settle_due()).settled) == 1 and len(seen) == 1


async def test_unknown_market_is_an_error_and_an_unreachable_market_waits(client, clob, db, tmp_path, clock):
    open_trade(db, clock, condition=None)  # token never recorded: cannot be settled
    seen: list[TradeResult] = []
    s = settler(client, db, tmp_path, clock, seen.append)
    report = await s.settle_due()
    assert report.settled == () and len(report.errors) == 1 and "no known market" in report.errors[0]
    assert clob.requests == [] and db.open_trades()

    db.record_token_market(TOKEN, "0x" + "ee" * 32, clock())  # the fake answers 404 for it
    clock.advance(301)
    report = await s.settle_due()
    assert report.waiting == (TOKEN,) and report.errors == () and seen == []
    assert db.open_trades()


async def test_two_trades_in_one_token_both_settle(client, clob, db, tmp_path, clock):
    open_trade(db, clock, count="5", price="0.30", fee="0.08", cid="pb" + "2" * 32)
    open_trade(db, clock, count="3", price="0.50", fee="0.06", cid="pb" + "3" * 32)
    clob.markets[CONDITION] = market_payload(closed=True, winner=TOKEN)
    seen: list[TradeResult] = []
    report = await settler(client, db, tmp_path, clock, seen.append).settle_due()
    assert sorted(t.pnl for t in report.settled) == [Decimal("1.44"), Decimal("3.42")]
    assert db.realized_pnl() == Decimal("4.86") and len(seen) == 2
    assert len(clob.hits(f"/markets/{CONDITION}")) == 1  # one request per token, not per trade
