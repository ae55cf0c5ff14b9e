"""Randomised fault suite: hundreds of ambiguous live orders end to end, zero duplicates, zero status mismatches.

The real LiveExecutor and KalshiClient trade against the fake venue at its hardest, on a manual
clock. Every order meets one ambiguity, drawn at random: the venue acts and then times out,
drops the connection, answers 5xx or garbage; or the connection drops / a 5xx comes before the
venue acts (it never saw the order). On top, at random: a listing lag of 0-5 s for new orders and
their fills, 401 header_timestamp_expired and 503 answers on the look-ups that resolve it, and a
"restart" (a new executor on the same database) while the order is unknown.

Each order is then resolved only from the venue's own word, as the daemon does. At the end every
market settles and the live settler books it. Checked:
- exactly one POST per intent and at most one venue order per client_order_id (no duplicate);
- the database's status equals the venue's (executed / canceled; failed only when the venue
  has no such order), with the same filled count and fees;
- the kill switch saw every order sent and every settlement, and its P&L equals the venue's.

Fast by construction: the fake and the client share a manual clock (lag and grace periods pass
without sleeping), and only the timeout faults wait for real (a 50 ms client timeout).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.db import Database
from src.execution.live import LiveExecutor
from src.execution.settlement import Settler
from src.journal.trade_log import TradeLog
from src.model.models import OrderIntent, Side, TradeResult, Verdict, new_client_order_id
from src.net.backoff import RetryPolicy
from src.net.rate_limit import TokenBucket

D = Decimal
ORDERS = "/portfolio/events/orders"
LISTED = "/portfolio/orders"
ORDERS_PER_RUN = 110
SEEDS = (18, 2026)  # 2 x 110 = 220 randomised ambiguous orders
MARKETS = 4
AFTER = ("timeout_after", "drop_after", "5xx_after", "malformed_after")
BEFORE = ("drop_before", "5xx_before")


@dataclass
class KillSwitchTap:
    """Stands in for the kill switch's hooks: approves everything and records what it is told."""

    submitted: list[str] = field(default_factory=list)
    results: list[TradeResult] = field(default_factory=list)

    def check(self, intent: OrderIntent) -> Verdict:
        return Verdict(True)

    def on_submitted(self, intent: OrderIntent) -> None:
        self.submitted.append(intent.client_order_id)


def inject(fake: Any, rng: random.Random) -> str:
    fault = rng.choice(AFTER + AFTER + BEFORE)  # mostly "the venue acted", the hardest case
    if fault == "timeout_after":
        fake.delay_next(0.2, method="POST", path=ORDERS, after_processing=True)
    elif fault == "drop_after":
        fake.drop_next(method="POST", path=ORDERS, after_processing=True)
    elif fault == "5xx_after":
        fake.fail_next(rng.choice((500, 502, 503)), method="POST", path=ORDERS, after_processing=True)
    elif fault == "malformed_after":
        fake.malformed_next(method="POST", path=ORDERS, after_processing=True)
    elif fault == "drop_before":
        fake.drop_next(method="POST", path=ORDERS)
    else:
        fake.fail_next(503, method="POST", path=ORDERS)
    fake.listing_lag_s = rng.choice((0.0, 0.5, 1.0, 2.0, 5.0))
    if rng.random() < 0.35:
        fake.reject_auth_next("header_timestamp_expired", times=rng.randint(1, 3), method="GET", path=LISTED)
    if rng.random() < 0.2:
        fake.fail_next(503, times=rng.randint(1, 4), method="GET", path=LISTED)
    return fault


@pytest.mark.parametrize("seed", SEEDS)
async def test_randomised_ambiguous_orders_end_with_no_duplicate_and_no_mismatch(
    seed: int, tmp_path: Path, clock: Any
) -> None:
    from tests.fakes.kalshi_server import start_fake_kalshi

    rng = random.Random(seed)
    clock.now = 1_780_000_000.0
    db = Database(tmp_path / "live.db")
    tlog = TradeLog(tmp_path / "trades", clock)
    tap = KillSwitchTap()
    faults: Counter[str] = Counter()
    intents: list[OrderIntent] = []
    async with start_fake_kalshi(clock=clock) as server:
        fake = server.fake
        start_balance = fake.balance
        tickers = [fake.add_kxbtc15m_market(clock(), floor_strike="95000", offset_windows=k).ticker
                   for k in range(MARKETS)]
        client = server.client(auth=server.auth(clock=clock), clock=clock, request_timeout_s=0.05,
                               retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02,
                                                        budget_s=30))
        # Rate limits are tested elsewhere; here they would only turn manual seconds into real ones.
        client._reads = TokenBucket.per_second(10_000)
        client._writes = TokenBucket.per_second(10_000)

        def executor() -> LiveExecutor:
            return LiveExecutor(client, db, tlog, clock, tap.check, on_order_submitted=tap.on_submitted)

        async with client:
            ex = executor()
            for _ in range(ORDERS_PER_RUN):
                ticker = rng.choice(tickers)
                depth = rng.choice(("0", "2", "5", "50"))  # "0"/"2": some fill-or-kill orders cannot fill
                fake.set_book(ticker, yes=[("0.30", "20")], no=[("0.50", depth), ("0.55", depth)] if depth != "0"
                              else [])
                intent = OrderIntent(ticker, rng.choice((Side.YES, Side.NO)), D(rng.randint(1, 5)),
                                     D(rng.choice(("0.45", "0.50", "0.75"))), new_client_order_id())
                intents.append(intent)
                faults[inject(fake, rng)] += 1
                await ex.execute(intent)
                if rng.random() < 0.15:
                    ex = executor()  # a restart while the outcome is unknown: only the database survives
                for _ in range(200):
                    row = db.order_by_client_id(intent.client_order_id)
                    if row is not None and row.status != "pending":
                        break
                    clock.advance(rng.choice((0.5, 1.0, 2.0, 4.0)))
                    await ex.resolve_pending()
                else:
                    pytest.fail(f"order {intent.client_order_id} never resolved")
                fake.faults.clear()  # a fault the order never met must not hit the next one
                fake.listing_lag_s = 0.0

            # Settle every market at the venue, then let the live settler book it.
            clock.now = max(fake.markets[t].close_ts for t in tickers) + 60
            for ticker in tickers:
                fake.settle(ticker, rng.choice(("yes", "no")))
            settler = Settler(client, db, tlog, clock, D("1000"), tap.results.append, settlements=client,
                              mode="live")
            for _ in range(3):
                await settler.settle_due()
                clock.advance(31)

        posts = Counter(json.loads(r.body)["client_order_id"] for r in fake.requests_to(ORDERS, "POST"))
        venue_by_cid = Counter(o.client_order_id for o in fake.orders.values())
        mismatches = []
        for intent in intents:
            cid = intent.client_order_id
            row = db.order_by_client_id(cid)
            venue = fake.orders_with_client_id(cid)
            assert row is not None
            if not venue:
                if row.status != "failed":
                    mismatches.append((cid, row.status, "absent"))
                continue
            (order,) = venue
            if row.status != order.status or row.filled_count != order.filled or row.venue_order_id != order.order_id:
                mismatches.append((cid, row.status, order.status, row.filled_count, order.filled))
        duplicates = {cid: n for cid, n in venue_by_cid.items() if n > 1}
        resent = {cid: n for cid, n in posts.items() if n > 1}
        assert not duplicates and not resent, (duplicates, resent)
        assert not mismatches, mismatches[:5]
        assert len(intents) == ORDERS_PER_RUN and sum(faults.values()) == ORDERS_PER_RUN
        assert set(faults) == set(AFTER + BEFORE), faults  # every kind of ambiguity was met
        outcomes = Counter(row.status for row in (db.order_by_client_id(i.client_order_id) for i in intents) if row)
        assert {"executed", "canceled", "failed"} <= set(outcomes), outcomes  # filled, unfilled, never placed
        # The kill switch saw every order sent, and every settled trade with the venue's P&L.
        assert tap.submitted == [i.client_order_id for i in intents]
        assert db.open_trades() == []
        settled = db.settled_trades()
        assert len(tap.results) == len(settled) > 0
        # The account's whole P&L at the venue: what its balance moved (costs, fees, netted pairs, payouts).
        venue_pnl = fake.balance - start_balance
        assert sum((r.pnl for r in tap.results), D(0)) == venue_pnl == db.realized_pnl()
        executed_fees = sum((o.fees for o in fake.orders.values()), D(0))
        assert sum((t.fees for t in settled), D(0)) == executed_fees
    db.close()
