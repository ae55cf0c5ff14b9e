"""Reconciliation: make the live database agree with what Kalshi says happened, or say where it does not.

Run at start-up, after every reconnect and on a timer while anything is open or pending
(ReconcileSchedule in reconcile_schedule.py decides when; Reconciler.run does it). In order:
1. Orders still "pending" (outcome unknown) are looked up by client_order_id:
   - found: the venue's outcome is adopted (status, and its fills from the venue's fill list;
     record_execution opens the trade). If the fills do not yet add up to the filled count
     it stays pending and is looked up again next time;
   - not found: marked "failed" once it is older than `not_found_grace_s` (the venue has had
     time to act on any request in flight, so "not there" is the venue confirming it does not
     exist); younger, it stays pending;
   - look-up failed: stays pending.
2. Resting orders at the venue are reported: this bot only sends fill-or-kill / immediate-or-
   cancel orders, so anything resting was not expected.
3. For every market with an open trade or a venue position, the venue's fills are compared
   with the database, order by order: an order we know whose fills differ is updated from the
   venue while its trade is open (reported when the trade is already settled or the venue has
   fewer fills than we do); fills of an order we do not know are adopted as a flagged trade
   (strategy "adopted") when `adopt_unknown` is on, else reported. Nothing is adopted while
   any order is still pending, since those fills might be that order's.
4. Net positions (YES minus NO contracts per market) are compared; a market the database
   still holds open but the venue has already settled is fine (settlement will book it).
`reconciled` is True only when no discrepancy is left; the engine must not trade otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from src.db import Database, OrderRow
from src.execution.order_lookup import OrderLookup
from src.execution.rest_order_lookup import RestOrderLookup
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderVenue
from src.model.models import ZERO, Clock, Fill, Order, OrderIntent, Side, fill_totals

log = logging.getLogger("polybot.reconcile")

# Told with the recorded order each time one of our orders is recorded final with fills: the one
# place a fill is recorded, whichever path found it (the immediate answer, a later look-up, the reconciler).
OnFilled = Callable[[Order], None]

FINAL_ORDER_STATUSES = ("executed", "canceled", "resting")
UNRESOLVED_STATUSES = ("pending", "intent")
ADOPTED_STRATEGY = "adopted"
ADOPTED_PREFIX = "adopted-"


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What recording a venue order achieved: its status in the database, and the order with its fills."""

    status: str
    order: Order


@dataclass(frozen=True, slots=True)
class Resolution:
    """Outcome of looking one pending order up: executed/canceled/resting/failed, or still pending."""

    client_order_id: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One way the database and the venue disagree, with a stable reason code."""

    code: str  # pending_unresolved | resting_order | unknown_fills | fill_mismatch | position_mismatch
    #            | venue_unreachable
    ticker: str
    detail: str
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    reconciled: bool
    discrepancies: tuple[Discrepancy, ...]
    actions: tuple[str, ...]  # what this run changed in the database, one line each
    ts: float


def _sum_count(fills: list[Fill]) -> Decimal:
    return sum((f.count for f in fills), ZERO)


def _signed(side: Side, count: Decimal) -> Decimal:
    return count if side is Side.YES else -count


def describe_net(net: Decimal) -> str:
    if net == 0:
        return "flat"
    return f"YES {net}" if net > 0 else f"NO {-net}"


async def record_venue_order(
    venue: OrderVenue,
    db: Database,
    trade_log: TradeLog,
    clock: Clock,
    client_order_id: str,
    order: Order,
    *,
    mode: str = "live",
    on_filled: OnFilled | None = None,
) -> OrderOutcome:
    """Store the venue's answer for one of our orders with its fills; "pending" if the fills are not all visible."""
    ts = clock()
    venue_id = order.order_id or None
    if order.status not in FINAL_ORDER_STATUSES:
        db.update_order(client_order_id, ts, status="pending", venue_order_id=venue_id)
        return OrderOutcome("pending", order)
    fills: list[Fill] = []
    if order.filled_count > 0 and _sum_count(list(order.fills)) == order.filled_count:
        # The websocket's fill messages of this order, matched by client_order_id, are complete.
        fills = list(order.fills)
    elif order.filled_count > 0:
        try:
            # REST fills carry no client_order_id (2026-03-30): matched by the venue's order_id only.
            fills = [f for f in await venue.get_fills(order.ticker, order_id=order.order_id)
                     if f.order_id == order.order_id]
        except Exception as exc:
            log.warning("fills of order %s unavailable, left pending: %s: %s", client_order_id,
                        type(exc).__name__, exc)
            db.update_order(client_order_id, ts, status="pending", venue_order_id=venue_id)
            return OrderOutcome("pending", order)
        if _sum_count(fills) != order.filled_count:
            log.warning("order %s: venue lists %s of %s filled contracts so far, left pending",
                        client_order_id, _sum_count(fills), order.filled_count)
            db.update_order(client_order_id, ts, status="pending", venue_order_id=venue_id)
            return OrderOutcome("pending", order)
    trade_id = db.record_execution(client_order_id, ts, status=order.status, venue_order_id=venue_id, fills=fills)
    _, cost, fees = fill_totals(fills)
    avg = cost / order.filled_count if order.filled_count else None
    for f in fills:
        trade_log.fill(ts, mode, client_order_id, f)
    trade_log.write("order_result", ts=ts, mode=mode, client_order_id=client_order_id, order_id=order.order_id,
                    ticker=order.ticker, side=order.side, status=order.status, count=order.count,
                    filled_count=order.filled_count, avg_price=avg, cost=cost, fees=fees, trade_id=trade_id)
    recorded = replace(order, fills=tuple(fills), fees=fees, avg_fill_price=avg)
    if on_filled is not None and recorded.filled_count > 0:
        tell_filled(on_filled, recorded)
    return OrderOutcome(order.status, recorded)


def tell_filled(on_filled: OnFilled, order: Order) -> None:
    """Tell the listener; its failure is logged, never turned into a failure of an order already recorded."""
    try:
        on_filled(order)
    except Exception:
        log.exception("the fill listener failed on order %s (the fill is recorded)", order.client_order_id)


async def resolve_order(
    venue: OrderVenue,
    db: Database,
    trade_log: TradeLog,
    clock: Clock,
    row: OrderRow,
    *,
    not_found_grace_s: float = 30.0,
    mode: str = "live",
    lookup: OrderLookup | None = None,
    on_filled: OnFilled | None = None,
) -> Resolution:
    """Settle one pending order from the venue's own word, found by client_order_id (bounded by its
    market and the time it was written). Any failure of the look-up, a 401 included, keeps it pending."""
    cid = row.client_order_id
    source = lookup if lookup is not None else RestOrderLookup(venue)
    try:
        found = await source.find(cid, row.ticker, row.created_ts)
    except Exception as exc:
        return Resolution(cid, "pending", f"look-up failed: {type(exc).__name__}: {exc}")
    if found is None:
        age = clock() - row.created_ts
        if age < not_found_grace_s:
            return Resolution(cid, "pending", f"not at the venue yet ({age:.0f}s after it was written)")
        detail = f"not found at the venue {age:.0f}s after it was written: never placed"
        db.update_order(cid, clock(), status="failed", error=detail)
        trade_log.write("order_resolved", ts=clock(), mode=mode, client_order_id=cid, ticker=row.ticker,
                        status="failed", detail=detail)
        log.warning("order %s %s", cid, detail)
        return Resolution(cid, "failed", detail)
    outcome = await record_venue_order(venue, db, trade_log, clock, cid, found, mode=mode, on_filled=on_filled)
    if outcome.status == "pending":
        return Resolution(cid, "pending", f"venue status {found.status}, fills not all visible yet")
    detail = f"venue order {found.order_id} {found.status}, {found.filled_count} filled"
    trade_log.write("order_resolved", ts=clock(), mode=mode, client_order_id=cid, ticker=row.ticker,
                    status=outcome.status, order_id=found.order_id, filled_count=found.filled_count)
    log.info("order %s resolved: %s", cid, detail)
    return Resolution(cid, outcome.status, detail)


class Reconciler:
    """Compares the venue's orders, fills and positions with one live database."""

    def __init__(
        self,
        venue: OrderVenue,
        db: Database,
        trade_log: TradeLog,
        clock: Clock,
        *,
        adopt_unknown: bool = True,
        not_found_grace_s: float = 30.0,
        mode: str = "live",
        lookup: OrderLookup | None = None,
        on_filled: OnFilled | None = None,
    ) -> None:
        self._lookup = lookup
        self._on_filled = on_filled
        self._venue = venue
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._adopt = adopt_unknown
        self._grace = not_found_grace_s
        self._mode = mode
        self._last: ReconcileReport | None = None

    @property
    def reconciled(self) -> bool:
        """False until a run has found the database and the venue in agreement."""
        return self._last is not None and self._last.reconciled

    @property
    def discrepancies(self) -> tuple[Discrepancy, ...]:
        return self._last.discrepancies if self._last is not None else ()

    @property
    def last_report(self) -> ReconcileReport | None:
        return self._last

    async def run(self) -> ReconcileReport:
        found: list[Discrepancy] = []
        actions: list[str] = []
        for row in self._db.orders_with_status(*UNRESOLVED_STATUSES):
            res = await resolve_order(self._venue, self._db, self._log, self._clock, row,
                                      not_found_grace_s=self._grace, mode=self._mode, lookup=self._lookup,
                                      on_filled=self._on_filled)
            if res.status == "pending":
                found.append(Discrepancy("pending_unresolved", row.ticker, res.detail, row.client_order_id))
            else:
                actions.append(f"resolved {row.client_order_id}: {res.detail}")
        try:
            await self._compare(found, actions)
        except Exception as exc:
            found.append(Discrepancy("venue_unreachable", "", f"{type(exc).__name__}: {exc}"))
        report = ReconcileReport(not found, tuple(found), tuple(actions), self._clock())
        self._last = report
        for d in found:
            log.error("reconciliation: %s %s %s", d.code, d.ticker, d.detail)
        self._log.write("reconcile", ts=report.ts, mode=self._mode, reconciled=report.reconciled,
                        discrepancies=[f"{d.code} {d.ticker} {d.detail}".strip() for d in found],
                        actions=list(actions))
        return report

    async def _compare(self, found: list[Discrepancy], actions: list[str]) -> None:
        for order in await self._venue.get_orders(status="resting"):
            ours = self._db.order_by_client_id(order.client_order_id) if order.client_order_id else None
            whose = f"our {order.client_order_id}" if ours is not None else "not placed by this bot"
            found.append(Discrepancy("resting_order", order.ticker,
                                     f"order {order.order_id} ({whose}) rests on the book; this bot never leaves "
                                     "orders resting", order.client_order_id))
        positions = await self._venue.get_positions()
        may_adopt = self._adopt and not any(d.code == "pending_unresolved" for d in found)
        tickers = sorted({t.ticker for t in self._db.open_trades()} | {p.ticker for p in positions})
        for ticker in tickers:
            await self._compare_fills(ticker, may_adopt, found, actions)
        venue_net: dict[str, Decimal] = {}
        for p in positions:
            venue_net[p.ticker] = venue_net.get(p.ticker, ZERO) + _signed(p.side, p.count)
        db_net: dict[str, Decimal] = {}
        for t in self._db.open_trades():
            db_net[t.ticker] = db_net.get(t.ticker, ZERO) + _signed(t.side, t.count)
        for ticker in tickers:
            ours, theirs = db_net.get(ticker, ZERO), venue_net.get(ticker, ZERO)
            if ours == theirs:
                continue
            if theirs == 0:
                if await self._settled_at_venue(ticker):
                    continue  # paid out at the venue; settlement will book it here
            found.append(Discrepancy("position_mismatch", ticker,
                                     f"venue holds {describe_net(theirs)}, database {describe_net(ours)}"))

    async def _settled_at_venue(self, ticker: str) -> bool:
        # Bounded by the market: the account's whole settlement history is never downloaded.
        return any(s.ticker == ticker for s in await self._venue.get_settlements(ticker=ticker))

    async def _compare_fills(self, ticker: str, may_adopt: bool, found: list[Discrepancy],
                             actions: list[str]) -> None:
        by_order: dict[str, list[Fill]] = {}
        for f in await self._venue.get_fills(ticker):
            by_order.setdefault(f.order_id, []).append(f)
        open_order_ids = {t.order_id for t in self._db.open_trades(ticker)}
        for order_id, fills in by_order.items():
            row = self._db.order_by_venue_id(order_id)
            venue_count = _sum_count(fills)
            if row is None:
                if may_adopt:
                    actions.append(self._adopt_order(ticker, order_id, fills))
                else:
                    found.append(Discrepancy("unknown_fills", ticker,
                                             f"venue order {order_id} filled {venue_count} contracts the database "
                                             "does not know"))
                continue
            if venue_count == row.filled_count:
                continue
            # An order with nothing filled has no trade yet; one with an open trade can still be corrected.
            if venue_count > row.filled_count and (row.id in open_order_ids or row.filled_count == 0):
                self._db.record_execution(row.client_order_id, self._clock(), status=row.status,
                                          venue_order_id=order_id, fills=fills)
                self._log.write("fills_updated", ts=self._clock(), mode=self._mode,
                                client_order_id=row.client_order_id, ticker=ticker, was=row.filled_count,
                                now=venue_count)
                actions.append(f"updated {row.client_order_id}: venue filled {venue_count}, database had "
                               f"{row.filled_count}")
            else:
                found.append(Discrepancy("fill_mismatch", ticker,
                                         f"venue filled {venue_count} of order {order_id}, database "
                                         f"{row.filled_count}", row.client_order_id))

    def _adopt_order(self, ticker: str, order_id: str, fills: list[Fill]) -> str:
        """Book an order the venue filled but the database never saw, flagged as strategy "adopted"."""
        ts = self._clock()
        cid = ADOPTED_PREFIX + order_id
        intent = OrderIntent(ticker=ticker, side=fills[0].side, count=_sum_count(fills),
                             limit_price=max(f.price for f in fills), client_order_id=cid,
                             strategy=ADOPTED_STRATEGY)
        self._db.insert_order_intent(intent, ts, status="pending")
        trade_id = self._db.record_execution(cid, ts, status="executed", venue_order_id=order_id, fills=fills)
        _, cost, fees = fill_totals(fills)
        self._log.write("order_adopted", ts=ts, mode=self._mode, client_order_id=cid, order_id=order_id,
                        ticker=ticker, side=intent.side, count=intent.count, trade_id=trade_id, cost=cost, fees=fees)
        log.warning("adopted venue order %s on %s (%s %s contracts) as trade %s", order_id, ticker,
                    intent.side.value, intent.count, trade_id)
        return f"adopted venue order {order_id}: {intent.side.value} {intent.count} on {ticker} as trade {trade_id}"
