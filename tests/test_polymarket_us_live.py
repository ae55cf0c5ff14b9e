"""Polymarket US live orders are sent exactly once under faults, and unknown outcomes are resolved from the venue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from src.auth.poly_us_auth import PolyUsKey
from src.db import PolymarketDatabase
from src.execution.order_rules import InvalidOrderError
from src.execution.poly_us_live import PolyUsLiveExecutor
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderRefused
from src.model.models import OrderIntent, Side, Verdict
from src.net.backoff import RetryPolicy
from src.net.poly_http import PolyHttpError
from src.platforms.polymarket_us import PolymarketUSClient
from tests.fakes.polymarket_server import Fault, connector_factory
from tests.fakes.polymarket_us_server import (
    API_HOST,
    GATEWAY_HOST,
    FakePolymarketUS,
    UsBook,
    moneyline_market,
    new_us_key,
)

A, B = "aec-nfl-lac-ten-2026-12-07", "aec-nfl-car-gb-2026-12-07"


@pytest.fixture
def fake(us_fake: FakePolymarketUS) -> FakePolymarketUS:
    for slug in (A, B):
        us_fake.markets[slug] = moneyline_market(slug, ("X", "X Team", "x"), ("Y", "Y Team", "y"))
        us_fake.books[slug] = UsBook(bids=[(Decimal("0.40"), Decimal("100"))],
                                     offers=[(Decimal("0.42"), Decimal("100"))])
    us_fake.commission_rate = Decimal("0.02")
    us_fake.timeout_s = 1.0
    return us_fake


class Gate:
    def __init__(self) -> None:
        self.allowed = True
        self.asked = 0
        self.auth: list[str] = []

    def __call__(self, intent: OrderIntent) -> Verdict:
        self.asked += 1
        return Verdict(True) if self.allowed else Verdict(False, "daily_loss", "test")


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def client(us_tls, fake, us_key, clock, gate) -> AsyncIterator[PolymarketUSClient]:
    c = PolymarketUSClient(
        PolyUsKey.load(*us_key), clock=clock,
        connector_factory=connector_factory(us_tls, {API_HOST: fake.port, GATEWAY_HOST: fake.port}),
        reads_per_s=Decimal("100"), writes_per_s=Decimal("100"), timeout_s=0.5,
        retry_policy=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, budget_s=30),
        on_auth_failure=gate.auth.append,
    )  # fmt: skip
    yield c
    await c.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[PolymarketDatabase]:
    database = PolymarketDatabase(tmp_path / "polymarket_us_live.db")
    yield database
    database.close()


def executor(client, db, tmp_path, clock, gate) -> PolyUsLiveExecutor:
    return PolyUsLiveExecutor(client, db, TradeLog(tmp_path / "trades", clock), clock, gate,
                              time_in_force="immediate_or_cancel")  # fmt: skip


def intent(n: int, slug: str = A, side: Side = Side.YES, count: str = "10", price: str = "0.45") -> OrderIntent:
    return OrderIntent(slug, side, Decimal(count), Decimal(price), f"pb{n:032x}", strategy="whale_copy")


async def test_an_answered_order_is_recorded_with_the_venues_fills_and_commission(client, db, tmp_path, clock,
                                                                                  gate, fake):  # fmt: skip
    ex = executor(client, db, tmp_path, clock, gate)
    order = await ex.execute(intent(1, side=Side.NO, price="0.61"))
    assert order.status == "executed" and order.filled_count == Decimal("10")
    assert order.avg_fill_price == Decimal("0.60") and order.fees == Decimal("0.05")  # 0.02 x 10 x .6 x .4
    assert fake.created[0]["intent"] == "ORDER_INTENT_BUY_SHORT" and fake.created[0]["price"]["value"] == "0.39"
    assert db.open_trades(A)[0].side is Side.NO
    with pytest.raises(InvalidOrderError):
        await ex.execute(intent(1, side=Side.NO, price="0.61"))  # one client_order_id, once
    assert len(fake.created) == 1


@pytest.mark.parametrize("fault", ["timeout", "drop"])
async def test_an_order_applied_but_unanswered_is_resolved_from_the_trades_never_resent(
    client, db, tmp_path, clock, gate, fake, fault
) -> None:
    ex = executor(client, db, tmp_path, clock, gate)
    fake.order_faults = [fault]
    first = await ex.execute(intent(1))
    assert first.status == "pending" and ex.needs_reconcile
    assert len(fake.created) == 1
    clock.advance(2)
    second = await ex.execute(intent(2, slug=B))  # reconciles first: the lost answer is found in the trades
    assert second.status == "executed"
    resolved = db.order_by_client_id(intent(1).client_order_id)
    assert resolved.status == "executed" and resolved.filled_count == Decimal("10")
    assert resolved.avg_price == Decimal("0.42")
    assert [b["marketSlug"] for b in fake.created] == [A, B]  # each exactly once
    assert fake.positions == {A: Decimal("10"), B: Decimal("10")}
    assert db.open_trades(A)[0].count == fake.positions[A]


async def test_a_failure_before_the_venue_blocks_orders_until_the_signature_window_has_passed(
    client, db, tmp_path, clock, gate, fake
) -> None:
    ex = executor(client, db, tmp_path, clock, gate)
    fake.fail("/v1/orders", Fault(status=502))
    assert (await ex.execute(intent(1))).status == "pending"  # a 502 may have acted: unknown, not failed
    clock.advance(20)
    with pytest.raises(OrderRefused) as refused:
        await ex.execute(intent(2, slug=B))
    assert refused.value.verdict.reason in ("not_reconciled", "unresolved_orders")
    assert len(fake.hits("/v1/orders")) == 1 and fake.created == []
    clock.advance(25)  # 45 s after signing: a request the venue has not seen can never be accepted now
    assert (await ex.execute(intent(3, slug=B))).status == "executed"
    assert db.order_by_client_id(intent(1).client_order_id).status == "failed"
    assert "never accepted" in (db.order_by_client_id(intent(1).client_order_id).error or "")
    assert [b["marketSlug"] for b in fake.created] == [B]


async def test_a_restart_reconciles_a_pending_order_before_trading(client, db, tmp_path, clock, gate, fake):
    fake.order_faults = ["timeout"]
    assert (await executor(client, db, tmp_path, clock, gate).execute(intent(1))).status == "pending"
    clock.advance(5)
    fresh = executor(client, db, tmp_path, clock, gate)  # a new process on the same database
    assert await fresh.reconcile() is True
    assert db.order_by_client_id(intent(1).client_order_id).status == "executed"
    assert len(fake.created) == 1


async def test_a_position_the_database_does_not_know_blocks_trading(client, db, tmp_path, clock, gate, fake):
    ex = executor(client, db, tmp_path, clock, gate)
    await ex.execute(intent(1))
    fake.positions[A] = Decimal("3")  # the venue says otherwise (a manual trade, a lost fill...)
    fake.positions["aec-nba-bos-lal-2026-12-07"] = Decimal("5")  # the owner's own market: reported only
    assert await ex.reconcile() is False
    assert [d.code for d in ex.discrepancies] == ["position_mismatch"]
    with pytest.raises(OrderRefused) as refused:
        await ex.execute(intent(2, slug=B))
    assert refused.value.verdict.reason == "not_reconciled"
    assert len(fake.created) == 1


async def test_a_401_fails_the_order_and_reaches_the_kill_switch(us_tls, fake, db, tmp_path, clock, gate):
    ports = {API_HOST: fake.port, GATEWAY_HOST: fake.port}
    wrong = PolymarketUSClient(PolyUsKey.load("4f1e2d3c-5b6a-4798-8a9b-0c1d2e3f4a5b", new_us_key()[1]), clock=clock,
                               connector_factory=connector_factory(us_tls, ports),
                               on_auth_failure=gate.auth.append)  # fmt: skip
    try:
        ex = executor(wrong, db, tmp_path, clock, gate)
        ex.needs_reconcile = False
        with pytest.raises(PolyHttpError) as info:
            await ex.execute(intent(1))
    finally:
        await wrong.close()
    assert info.value.status == 401
    assert db.order_by_client_id(intent(1).client_order_id).status == "failed"
    assert gate.auth == ["http_401"] and fake.created == []


async def test_the_kill_switch_and_a_429_never_make_a_second_order(client, db, tmp_path, clock, gate, fake):
    ex = executor(client, db, tmp_path, clock, gate)
    gate.allowed = False
    with pytest.raises(OrderRefused):
        await ex.execute(intent(1))
    assert db.order_by_client_id(intent(1).client_order_id) is None and fake.hits("/v1/orders") == []
    gate.allowed = True
    fake.fail("/v1/orders", Fault(status=429))
    assert (await ex.execute(intent(2))).status == "executed"
    assert len(fake.hits("/v1/orders")) == 2 and len(fake.created) == 1
    assert await ex.cancel_all() == 0


async def test_a_placed_order_whose_state_cannot_be_read_is_resolved_by_its_id(client, db, tmp_path, clock, gate,
                                                                               fake) -> None:  # fmt: skip
    ex = executor(client, db, tmp_path, clock, gate)
    fake.fail("/v1/order/ord-000001", Fault(status=503), Fault(status=503))
    order = await ex.execute(intent(1))
    assert order.status == "pending" and order.order_id == "ord-000001"
    assert await ex.resolve_pending() == []
    row = db.order_by_client_id(intent(1).client_order_id)
    assert (row.status, row.filled_count, row.avg_price) == ("executed", Decimal("10"), Decimal("0.42"))
    assert row.fees == Decimal("0.05")  # the order's own commission, from its record
    assert len(fake.created) == 1


def us_notifier() -> tuple[object, list[str]]:
    """Polymarket US's notifier as the daemon builds it (venue named) and the titles it queued."""
    from src.notify.events import Kind
    from src.notify.notifier import Notifier

    titles: list[str] = []
    kalshi = Notifier({k.value: "info" for k in Kind}, "info", lambda n: titles.append(n.title), lambda: 0.0)
    return kalshi.for_venue("Polymarket US", "reset", Path("/nowhere")), titles


@pytest.mark.parametrize("found_by", ["execute", "resolve_pending", "reconcile"])
async def test_a_fill_is_told_exactly_once_whichever_path_found_it(client, db, tmp_path, clock, gate, fake,
                                                                   found_by) -> None:  # fmt: skip
    notifier, titles = us_notifier()
    ex = PolyUsLiveExecutor(client, db, TradeLog(tmp_path / "trades", clock), clock, gate,
                            time_in_force="immediate_or_cancel", on_filled=notifier.order_filled)  # fmt: skip
    if found_by != "execute":
        fake.order_faults = ["timeout"]  # applied, answer lost: the outcome is unknown
    first = await ex.execute(intent(1))
    assert first.status == ("executed" if found_by == "execute" else "pending")
    clock.advance(2)
    if found_by == "resolve_pending":
        assert await ex.resolve_pending() == []
    elif found_by == "reconcile":
        assert await ex.reconcile() is True
    assert titles == [f"Filled: 10 YES {A} [Polymarket US]"]
    assert await ex.resolve_pending() == [] and await ex.reconcile() is True  # found again: not told again
    assert titles == [f"Filled: 10 YES {A} [Polymarket US]"] and len(fake.created) == 1
