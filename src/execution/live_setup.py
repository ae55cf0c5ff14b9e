"""Live trading's safety parts put together: executor, order group, fee tripwire, reconcile schedule, cancel-all.

`start_live` runs once the person has typed the confirmation (nothing here touches the account
before that):
1. creates the exchange-side order group and attaches it to every order (a venue refusal here
   stops the start: live trading never runs without its exchange-side limit);
2. reads the series' fee terms (the fee tripwire);
3. reconciles the database with the venue a first time (an unknown order is looked up on the
   websocket's user_orders/fill messages first when `user_stream` is given, REST otherwise);
4. builds the LiveExecutor, whose order check is: a triggered order group, then the fee tripwire,
   then the kill switch.
`upkeep` (called by the daemon's settlement loop) re-runs reconciliation when due (after a
reconnect, on the 60 s timer, while it disagrees) and re-checks the fee terms every 10 minutes.
`cancel_all_on_hard_stop` is what the synchronous kill switch calls on a HARD STOP: it schedules
the verified, retried cancel-all (cancel_all.py) on the running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from src.db import Database
from src.execution.cancel_all import CancelAllRunner
from src.execution.cancel_all_venues import KalshiCancelAll
from src.execution.fee_tripwire import REASON as FEE_REASON
from src.execution.fee_tripwire import FeeTripwire
from src.execution.first_word_lookup import FirstWordLookup
from src.execution.live import LiveExecutor
from src.execution.order_group import TRIGGERED_REASON, OrderGroupGuard, burst_contracts_limit
from src.execution.order_lookup import OrderLookup
from src.execution.reconcile import OnFilled, Reconciler, ReconcileReport
from src.execution.reconcile_schedule import ReconcileSchedule
from src.execution.rest_order_lookup import RestOrderLookup
from src.execution.stream_order_lookup import StreamOrderLookup, UserStream
from src.journal.trade_log import TradeLog
from src.model.models import Clock, OrderIntent, Verdict
from src.platforms.kalshi import KalshiClient


@dataclass
class LiveParts:
    """What the daemon wires into the engine for live trading."""

    executor: LiveExecutor
    schedule: ReconcileSchedule
    tripwire: FeeTripwire
    guard: OrderGroupGuard
    first_report: ReconcileReport

    async def upkeep(self) -> None:
        await self.schedule.tick()
        await self.tripwire.maybe_check()

    def reconciled(self) -> bool:
        return self.schedule.reconciled

    def halt_reason(self) -> str:
        return self.schedule.halt_reason


def order_check(
    guard: OrderGroupGuard, tripwire: FeeTripwire, kill_switch_check: Callable[[OrderIntent], Verdict]
) -> Callable[[OrderIntent], Verdict]:
    """The live order check: the exchange-side group, the fee model, then the kill switch."""

    def check(intent: OrderIntent) -> Verdict:
        if guard.triggered:
            return Verdict(False, TRIGGERED_REASON, guard.triggered_detail)
        refusal = tripwire.refusal()
        if refusal:
            return Verdict(False, FEE_REASON, refusal)
        return kill_switch_check(intent)

    return check


async def start_live(
    client: KalshiClient,
    db: Database,
    trade_log: TradeLog,
    clock: Clock,
    *,
    lock_root: Path,
    max_trade_usd: Decimal,
    time_in_force: str,
    kill_switch_check: Callable[[OrderIntent], Verdict],
    on_hard_stop: Callable[[], object],
    on_order_submitted: Callable[[OrderIntent], None] | None = None,
    on_reconcile: Callable[[ReconcileReport], None] | None = None,
    on_filled: OnFilled | None = None,
    user_stream: UserStream | None = None,
) -> LiveParts:
    guard = OrderGroupGuard(client, lock_root, clock, burst_contracts_limit(max_trade_usd), on_hard_stop)
    await guard.start()
    tripwire = FeeTripwire(client, client.series_ticker, clock)
    await tripwire.check()
    # The websocket's fill/user_orders messages are the first word on an ambiguous order; REST the fallback.
    lookup: OrderLookup = RestOrderLookup(client)
    if user_stream is not None:
        lookup = FirstWordLookup(StreamOrderLookup(user_stream), lookup)
    # The same listener on both: an order is recorded final once, by whichever of them finds it first.
    reconciler = Reconciler(client, db, trade_log, clock, lookup=lookup, on_filled=on_filled)
    schedule = ReconcileSchedule(reconciler.run, db, clock, on_report=on_reconcile)
    client.on_reconnect = schedule.note_reconnect
    first = await schedule.run_now()
    executor = LiveExecutor(client, db, trade_log, clock, order_check(guard, tripwire, kill_switch_check),
                            time_in_force=time_in_force, on_order_submitted=on_order_submitted,
                            on_order_group_triggered=guard.on_triggered, lookup=lookup, on_filled=on_filled)
    return LiveParts(executor, schedule, tripwire, guard, first)


def cancel_all_on_hard_stop(
    client: KalshiClient,
    lock_root: Path,
    clock: Clock,
    background: list[Any],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    out: Callable[[str], None] | None = None,
) -> Callable[[], None]:
    """The kill switch's cancel_all callable: schedules the verified, retried cancel-all on the loop."""

    def cancel_all() -> None:
        runner = CancelAllRunner(KalshiCancelAll(client), lock_root, clock, sleep, out=out)
        background.append(runner.start())  # awaited by finish_cancel_alls before the client closes

    return cancel_all
