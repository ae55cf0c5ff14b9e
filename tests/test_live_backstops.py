"""Exchange-side backstops and live upkeep: order group, fee tripwire, reconcile schedule, reconnects, lock mode."""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.config import AppConfig
from src.db import Database
from src.execution.fee_tripwire import FeeTripwire
from src.execution.live import LiveExecutor
from src.execution.live_setup import order_check, start_live
from src.execution.order_group import OrderGroupGuard, burst_contracts_limit
from src.execution.reconcile import Discrepancy, ReconcileReport
from src.execution.reconcile_schedule import ReconcileSchedule
from src.journal.trade_log import TradeLog
from src.model.fees import fee_terms_mismatch
from src.model.interfaces import OrderRefused
from src.model.models import Mode, OrderIntent, Side, Verdict, new_client_order_id
from src.model.order_group_limit import order_group_contracts_limit
from src.net.backoff import RetryPolicy
from src.risk.kill_switch import KillSwitch
from src.risk.lockfile import read_lock, write_lock
from tests.fakes.kalshi_server import clocked_client

D = Decimal
ORDERS = "/portfolio/events/orders"


@pytest.fixture
def kalshi_clock(clock: Any) -> Any:
    return clock  # the venue runs on the manual clock


@pytest.fixture
def market(server: Any, clock: Any) -> str:
    m = server.fake.add_kxbtc15m_market(clock(), floor_strike="95000")
    server.fake.set_book(m.ticker, no=[("0.50", "900")])
    return str(m.ticker)


def client_for(server: Any, clock: Any) -> Any:
    return clocked_client(server, clock, attempts=2)


def kill_switch(db: Database, root: Path, clock: Any, cancels: list[int]) -> KillSwitch:
    return KillSwitch(AppConfig().risk, D("1000"), db, root, mode=Mode.LIVE, clock=clock,
                      cancel_all=lambda: cancels.append(1), out=lambda _m: None)


def intent(ticker: str, count: str = "2") -> OrderIntent:
    return OrderIntent(ticker, Side.YES, D(count), D("0.50"), new_client_order_id())


# -- order group -------------------------------------------------------------------------------------


def test_the_group_limit_is_one_maximum_order_at_a_cent_plus_one() -> None:
    assert order_group_contracts_limit(D("5.00")) == 501
    assert order_group_contracts_limit(D("2.50")) == 251
    assert burst_contracts_limit(D("50")) == 501  # never above the code's $5 cap
    with pytest.raises(ValueError):
        order_group_contracts_limit(D("0"))


async def test_live_start_creates_the_group_and_every_order_carries_it(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any, tmp_path: Path
) -> None:
    cancels: list[int] = []
    ks = kill_switch(db, tmp_path, clock, cancels)
    async with client_for(server, clock) as client:
        live = await start_live(client, db, tlog, clock, lock_root=tmp_path, max_trade_usd=D("5"),
                                time_in_force="fill_or_kill", kill_switch_check=ks.check_order_allowed,
                                on_hard_stop=ks.refresh)
        (group,) = server.fake.order_groups.values()
        assert group.contracts_limit == 501 and live.guard.order_group_id == group.group_id
        assert live.first_report.reconciled and live.reconciled() and live.tripwire.refusal() == ""
        order = await live.executor.execute(intent(market))
        assert order.status == "executed"
    import json

    (post,) = server.fake.requests_to(ORDERS, "POST")
    assert json.loads(post.body)["order_group_id"] == group.group_id


async def test_a_triggered_group_is_a_hard_stop(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any, tmp_path: Path
) -> None:
    """The venue refuses an order because our group hit its limit: the lock is written, the kill
    switch turns it into a HARD STOP (and cancels everything), and no further order goes out."""
    cancels: list[int] = []
    ks = kill_switch(db, tmp_path, clock, cancels)
    async with client_for(server, clock) as client:
        live = await start_live(client, db, tlog, clock, lock_root=tmp_path, max_trade_usd=D("5"),
                                time_in_force="fill_or_kill", kill_switch_check=ks.check_order_allowed,
                                on_hard_stop=ks.refresh)
        server.fake.trigger_group(live.guard.order_group_id)
        with pytest.raises(Exception) as refused:
            await live.executor.execute(intent(market))
        assert "order_group" in str(refused.value)
        assert ks.hard_stopped and ks.should_exit and cancels == [1]
        lock = read_lock(tmp_path)
        assert lock is not None and lock.data is not None and lock.data["reason"] == "order_group_triggered"
        assert lock.data["figures"]["mode"] == "live"
        before = len(server.fake.requests_to(ORDERS, "POST"))
        with pytest.raises(OrderRefused):
            await live.executor.execute(intent(market))
        assert len(server.fake.requests_to(ORDERS, "POST")) == before


def test_a_websocket_trigger_message_is_a_hard_stop_too(tmp_path: Path, clock: Any) -> None:
    stops: list[int] = []
    guard = OrderGroupGuard(object(), tmp_path, clock, 501, lambda: stops.append(1))  # type: ignore[arg-type]
    guard.order_group_id = "og-1"
    guard.note_event("og-2", "triggered")  # not ours
    guard.note_event("og-1", "limit_updated")
    assert stops == [] and read_lock(tmp_path) is None
    guard.note_event("og-1", "triggered")
    guard.note_event("og-1", "triggered")  # told once
    assert stops == [1] and guard.triggered
    lock = read_lock(tmp_path)
    assert lock is not None and lock.data is not None and lock.data["reason"] == "order_group_triggered"


# -- fee tripwire ---------------------------------------------------------------------------------------


def test_fee_terms_fees_py_models() -> None:
    assert fee_terms_mismatch("quadratic", D("1")) is None
    assert fee_terms_mismatch("quadratic_with_maker_fees", D("1")) is None  # the maker fee never applies to us
    assert "taker rate of 0.035" in (fee_terms_mismatch("quadratic", D("0.5")) or "")
    assert "not modelled" in (fee_terms_mismatch("flat", D("1")) or "")


async def test_fee_tripwire_refuses_orders_while_the_terms_differ(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any, tmp_path: Path
) -> None:
    fake = server.fake
    async with client_for(server, clock) as client:
        tripwire = FeeTripwire(client, "KXBTC15M", clock, recheck_s=600)
        assert "not been checked" in tripwire.refusal()  # unknown fees: no order
        assert await tripwire.check() == "" and tripwire.terms == "quadratic x1"
        guard = OrderGroupGuard(client, tmp_path, clock, 501, lambda: None)
        ex = LiveExecutor(client, db, tlog, clock, order_check(guard, tripwire, lambda i: Verdict(True)))
        assert (await ex.execute(intent(market))).status == "executed"
        # Announced for an hour from now: fine until then, refused from then on, before any re-check.
        fake.announce_fee_change("KXBTC15M", "quadratic", "1.5", clock() + 3600)
        clock.advance(601)
        assert await tripwire.maybe_check() == ""
        clock.advance(3000)
        assert "fee change in effect" in tripwire.refusal()
        with pytest.raises(OrderRefused) as refused:
            await ex.execute(intent(market))
        assert refused.value.verdict.reason == "fee_model_mismatch"
        fake.fee_changes.clear()
        fake.set_series_fees("KXBTC15M", "quadratic", "2")
        assert "taker rate of 0.14" in await tripwire.check()
        fake.set_series_fees("KXBTC15M", "quadratic", "1")
        assert await tripwire.check() == ""  # a person updated the terms (here: the venue reverted)
        fake.fail_next(503, times=10, path="/series")
        fake.set_series_fees("KXBTC15M", "flat", "1")
        assert await tripwire.check() == ""  # unreachable: the last verdict stands
        fake.faults.clear()
        clock.advance(31)
        assert "not modelled" in await tripwire.maybe_check()  # a failed check is retried after 30 s
    assert len(server.fake.requests_to(ORDERS, "POST")) == 1


# -- reconciliation schedule, reconnects ------------------------------------------------------------


def _report(ok: bool, ts: float) -> ReconcileReport:
    found = () if ok else (Discrepancy("position_mismatch", "T", "venue holds YES 1, database flat"),)
    return ReconcileReport(ok, found, (), ts)


async def test_reconcile_schedule_runs_on_disagreement_reconnect_and_timer(tmp_path: Path, clock: Any) -> None:
    db = Database(tmp_path / "live.db")
    answers = [True, True, False, True, True, True]
    runs: list[float] = []

    async def run() -> ReconcileReport:
        runs.append(clock())
        return _report(answers[len(runs) - 1], clock())

    schedule = ReconcileSchedule(run, db, clock, interval_s=60)
    assert schedule.halt_reason == "reconcile:not_run"
    await schedule.tick()
    assert len(runs) == 1 and schedule.reconciled and schedule.halt_reason == ""
    clock.advance(120)
    assert await schedule.tick() is None  # nothing open or pending: no timer run
    schedule.note_reconnect()
    await schedule.tick()
    assert len(runs) == 2
    db.insert_order_intent(intent("KXBTC15M-26MAY281630-30"), clock(), status="pending")
    clock.advance(30)
    assert await schedule.tick() is None  # open work, but the 60 s have not passed
    clock.advance(31)
    await schedule.tick()
    assert len(runs) == 3 and not schedule.reconciled
    assert schedule.halt_reason == "reconcile:position_mismatch"
    await schedule.tick()  # a disagreement is re-checked on every pass
    assert len(runs) == 4 and schedule.reconciled
    ws_reconnects = [0]
    schedule.follow(lambda: ws_reconnects[0])
    assert await schedule.tick() is None
    ws_reconnects[0] += 1  # the websocket reconnected
    await schedule.tick()
    assert len(runs) == 5
    assert await schedule.tick() is None
    db.close()


async def test_the_client_reports_a_reconnect_after_a_lost_connection(server: Any, clock: Any) -> None:
    told: list[int] = []
    async with server.client(auth=server.auth(clock=clock), clock=clock, on_reconnect=lambda: told.append(1),
                             retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)) as client:
        await client.get_balance()
        assert told == []
        server.fake.drop_next(path="/portfolio/balance")
        await client.get_balance()  # dropped once, answered on the retry
        await client.get_balance()
    assert told == [1]


# -- main: the lock's mode -----------------------------------------------------------------------------


def test_reset_reads_the_mode_from_the_locks_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 7: the kill switch writes the mode among the lock's figures; --reset-killswitch looked for
    it at the top level, so after a live HARD STOP it recorded the reset in the paper database."""
    import main
    import src.risk.reset as reset_mod

    write_lock(tmp_path, {"version": 1, "reason": "total_loss", "figures": {"mode": "live"}})
    seen: list[Path] = []
    monkeypatch.setattr(reset_mod, "reset_killswitch", lambda root, db: seen.append(db.path) or 0)
    assert main.cmd_reset(argparse.Namespace(mode=None), tmp_path) == 0
    assert [p.name for p in seen] == ["live.db"]
