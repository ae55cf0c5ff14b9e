"""Live orders on Polymarket US: intent written first, never re-sent, unknown outcomes resolved from the venue.

The API has no client order id and no idempotency key, so exactly-once rests on this:
1. `execute` runs the shared pre-send step (src/execution/pre_send.py: validation, the kill
   switch, the one-use client_order_id, this executor's extra gate, the kill switch again, the
   "pending" row, the submitted hook and the log line; a refusal raises OrderRefused and sends
   nothing). Its extra gate refuses while reconciliation has not passed (at start, and again
   after any failure that may have been a lost connection: a "reconnect"), and while an
   earlier order's outcome is unknown and a fresh look-up cannot settle it. One
   client_order_id is used once, ever (the database refuses a second).
2. The intent is written as "pending" BEFORE the request. The request is sent once: the
   client retries only a 429 (refused unseen); nothing else is ever re-sent.
3. An answer records the venue's order id, then the order's own state (`GET /v1/order/{id}`)
   and its executions. A definite refusal (4xx) marks the order "failed". Anything else
   (timeout, dropped connection, 5xx, garbled answer) leaves it "pending": never assumed
   failed, never sent again.
4. A pending order is resolved from the venue's own word: by its id when we have it; without
   one, by the account's trades in that market since the intent (the bot holds at most one
   unresolved order and one position per market, so trades there are this order's). When
   there are none, the order is called "failed" only once the signature window has passed:
   the venue refuses any request signed more than 30 s ago, so from then on a request that
   has not shown up can never be accepted. Until then it stays pending and blocks new orders.
   Whichever path records an order final with fills tells `on_filled` once (in `_record`).
5. Reconciliation compares the venue's positions with the database's open trades, market by
   market, for the markets the bot trades; a difference blocks new orders until resolved.
   (Positions in markets the bot never traded are the owner's own and are only reported.)

Fees: from the order's own record when the venue answered or the order was found by id; an
order resolved from the trade history alone (the answer was lost AND the order no longer shows)
books its fee as 0, because trade records carry none: reported in the order_result line.
Known limit: a trade the owner makes by hand in a market where the bot's order is unresolved
would be counted as the bot's fill. The README says: do not trade by hand in the bot's markets.
This module never imports src.execution.paper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from src.auth.poly_us_auth import SIGNATURE_WINDOW_MS
from src.db import Database, OrderRow
from src.execution.order_rules import check_time_in_force
from src.execution.pre_send import PreSend
from src.journal.trade_log import TradeLog
from src.model.file_locations import us_mode_name
from src.model.models import ZERO, Clock, Fill, Mode, Order, OrderIntent, Side, Verdict, fill_totals
from src.net.poly_http import PolyHttpError, PolyMalformedResponse, PolyTransportError
from src.platforms.polymarket_us import UsOrder, UsOrderAck, UsPosition, UsTrade, side_price

log = logging.getLogger("polybot.poly_us_live")

MODE = us_mode_name(Mode.LIVE)
FINAL = ("executed", "canceled", "failed")
# Our clock and the venue's may differ by up to the signature window (else nothing would sign):
# trades since (intent time - window) may be the order's.
_SKEW_S = SIGNATURE_WINDOW_MS / 1000


class PolyUsVenue(Protocol):
    async def create_order(self, slug: str, side: Side, price: Decimal, quantity: Decimal,
                           time_in_force: str = "fill_or_kill") -> UsOrderAck: ...  # fmt: skip

    async def get_order(self, order_id: str) -> UsOrder: ...

    async def get_open_orders(self, slug: str | None = None) -> list[UsOrder]: ...

    async def get_trades(self, slug: str, since_ts: float | None = None) -> list[UsTrade]: ...

    async def get_positions(self, slug: str | None = None) -> dict[str, UsPosition]: ...

    async def cancel_all_orders(self) -> int: ...


def is_definite_refusal(exc: BaseException) -> bool:
    """True when the venue certainly did not take the order: it answered 4xx (429 included, after retries)."""
    if isinstance(exc, PolyTransportError | PolyMalformedResponse):
        return False
    if isinstance(exc, PolyHttpError):
        if exc.status == 0:  # refused before sending (no key)
            return True
        return 400 <= exc.status < 500 and exc.status not in (408, 409)
    return isinstance(exc, ValueError)  # the client refused to build the request


@dataclass(frozen=True, slots=True)
class Discrepancy:
    code: str  # pending_unresolved | position_mismatch | venue_unreachable
    slug: str
    detail: str


class PolyUsLiveExecutor:
    """Real Polymarket US orders; implements interfaces.Executor (execute, cancel_all)."""

    def __init__(
        self,
        venue: PolyUsVenue,
        db: Database,
        trade_log: TradeLog,
        clock: Clock,
        kill_switch_check: Callable[[OrderIntent], Verdict],
        *,
        time_in_force: str = "fill_or_kill",
        on_order_submitted: Callable[[OrderIntent], None] | None = None,
        grace_s: float = 10.0,
        on_filled: Callable[[Order], None] | None = None,
    ) -> None:
        check_time_in_force(time_in_force)
        self._venue = venue
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._tif = time_in_force
        self._grace_s = grace_s
        # Told once per order recorded final with fills, by _record: the one place an outcome is
        # recorded, whether the answer, a later look-up or a reconciliation found it.
        self._on_filled = on_filled
        self._pre_send = PreSend(MODE, time_in_force, db, trade_log, clock, kill_switch_check, on_order_submitted)
        self.needs_reconcile = True  # at start-up nothing is sent before one reconciliation passes
        self.discrepancies: tuple[Discrepancy, ...] = ()

    # -- orders ---------------------------------------------------------------------------------

    async def execute(self, intent: OrderIntent) -> Order:
        await self._pre_send.admit(intent, self._ready)
        try:
            ack = await self._venue.create_order(intent.ticker, intent.side, intent.limit_price, intent.count,
                                                 time_in_force=self._tif)  # fmt: skip
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:500]
            if is_definite_refusal(exc):
                self._db.update_order(intent.client_order_id, self._clock(), status="failed", error=message)
                self._log.write("order_failed", ts=self._clock(), mode=MODE, client_order_id=intent.client_order_id,
                                ticker=intent.ticker, error=message)  # fmt: skip
                raise
            # The request may have reached the exchange: keep it pending, look again before any order.
            self.needs_reconcile = True
            log.error("order %s outcome unknown, left pending: %s", intent.client_order_id, message)
            self._db.record_error(self._clock(), "poly_us_live", f"order {intent.client_order_id} outcome unknown: "
                                  f"{message}")  # fmt: skip
            self._log.write("order_uncertain", ts=self._clock(), mode=MODE, client_order_id=intent.client_order_id,
                            ticker=intent.ticker, error=message)  # fmt: skip
            return self._as_order(self._db.order_by_client_id(intent.client_order_id))
        self._db.update_order(intent.client_order_id, self._clock(), status="pending", venue_order_id=ack.order_id)
        row = self._db.order_by_client_id(intent.client_order_id)
        try:
            await self._resolve(row, ack)
        except PolyHttpError as exc:  # the order exists (we have its id); its outcome is read again later
            self.needs_reconcile = True
            log.warning("order %s (%s) placed; its state could not be read yet: %s", intent.client_order_id,
                        ack.order_id, exc)  # fmt: skip
        return self._as_order(self._db.order_by_client_id(intent.client_order_id))

    async def _ready(self, intent: OrderIntent) -> Verdict | None:
        """The extra gate of the shared pre-send step: reconciled, and no earlier order of unknown outcome."""
        if self.needs_reconcile and not (await self.reconcile()):
            return Verdict(False, "not_reconciled", "; ".join(d.detail for d in self.discrepancies))
        unresolved = await self.resolve_pending()
        if unresolved:
            return Verdict(False, "unresolved_orders",
                           f"outcome of {', '.join(unresolved)} unknown; resolving from the venue")
        return None

    async def cancel_all(self) -> int:
        """Cancel every resting order (risk-reducing, so no kill switch check)."""
        cancelled = await self._venue.cancel_all_orders()
        self._log.write("cancel_all", ts=self._clock(), mode=MODE, cancelled=cancelled)
        return cancelled

    # -- resolution -----------------------------------------------------------------------------

    async def resolve_pending(self) -> list[str]:
        """Look every pending order up; returns the client_order_ids still unresolved."""
        unresolved = []
        for row in self._db.orders_with_status("pending"):
            try:
                done = await self._resolve(row)
            except PolyHttpError as exc:
                log.warning("look-up of order %s failed, still pending: %s", row.client_order_id, exc)
                done = False
            if not done:
                unresolved.append(row.client_order_id)
        return unresolved

    async def _resolve(self, row: OrderRow | None, ack: UsOrderAck | None = None) -> bool:
        """Settle one pending order from the venue's word; True when its outcome is now final."""
        if row is None or row.status != "pending":
            return True
        order_id = row.venue_order_id
        if not order_id:
            found = await self._find_order(row)
            order_id = found.order_id if found else None
        if order_id:
            order = await self._venue.get_order(order_id)
            if not order.terminal:
                self._db.update_order(row.client_order_id, self._clock(), status="pending", venue_order_id=order_id)
                return False
            fills = self._fills_from_ack(row, order, ack)
            if fills is None:
                fills = await self._fills_from_trades(row, order.cum_quantity, order.commission)
            if fills is None:
                return False  # the trades are not all visible yet
            self._record(row, order_id, fills, "order")
            return True
        trades = await self._venue.get_trades(row.ticker, since_ts=row.created_ts - _SKEW_S)
        if trades:
            fills = [self._fill(row, t.trade_id, t.qty, t.price, ZERO, t.create_ts) for t in trades]
            self._record(row, "", fills, "trades")
            return True
        age = self._clock() - row.created_ts
        if age <= _SKEW_S + self._grace_s:
            return False
        self._db.update_order(row.client_order_id, self._clock(), status="failed",
                              error=f"not at the venue {age:.0f}s after signing (window 30s): never accepted")
        self._log.write("order_result", ts=self._clock(), mode=MODE, client_order_id=row.client_order_id,
                        ticker=row.ticker, status="failed", filled=0, source="not_found_after_window")  # fmt: skip
        return True

    async def _find_order(self, row: OrderRow) -> UsOrder | None:
        """An order of ours the venue still shows open for that market (IOC/FOK orders seldom rest)."""
        wanted_price = side_price(row.side, row.limit_price)  # YES price on the wire
        for order in await self._venue.get_open_orders(row.ticker):
            recent = order.create_ts is None or order.create_ts >= row.created_ts - _SKEW_S
            if recent and order.slug == row.ticker and order.quantity == row.count and order.price == wanted_price:
                return order
        return None

    def _fills_from_ack(self, row: OrderRow, order: UsOrder, ack: UsOrderAck | None) -> list[Fill] | None:
        if ack is None:
            return None
        fills = [self._fill(row, e.trade_id or f"{order.order_id}-{i}", e.last_shares, e.last_px, e.commission, None)
                 for i, e in enumerate(ack.executions) if e.last_shares > 0 and e.last_px is not None]
        if sum((f.count for f in fills), ZERO) != order.cum_quantity:
            return None
        return fills

    async def _fills_from_trades(self, row: OrderRow, cum: Decimal, commission: Decimal) -> list[Fill] | None:
        """The order's fills from the trade history; its commission is booked on the first."""
        if cum == 0:
            return []
        trades = await self._venue.get_trades(row.ticker, since_ts=row.created_ts - _SKEW_S)
        if sum((t.qty for t in trades), ZERO) != cum:
            return None
        return [self._fill(row, t.trade_id, t.qty, t.price, commission if i == 0 else ZERO, t.create_ts)
                for i, t in enumerate(trades)]

    def _fill(self, row: OrderRow, fill_id: str, count: Decimal, yes_px: Decimal, fee: Decimal,
              ts: float | None) -> Fill:  # fmt: skip
        return Fill(order_id=row.client_order_id, ticker=row.ticker, side=row.side, count=count,
                    price=side_price(row.side, yes_px), fee=fee, ts=ts if ts is not None else self._clock(),
                    fill_id=fill_id)  # fmt: skip

    def _record(self, row: OrderRow, order_id: str, fills: list[Fill], source: str) -> None:
        filled, cost, fees = fill_totals(fills)
        status = "executed" if filled == row.count else "canceled"
        ts = self._clock()
        self._db.record_execution(row.client_order_id, ts, status=status, venue_order_id=order_id or None,
                                  fills=fills)  # fmt: skip
        for f in fills:
            self._log.fill(f.ts, MODE, row.client_order_id, f)
        self._log.write("order_result", ts=ts, mode=MODE, client_order_id=row.client_order_id, ticker=row.ticker,
                        status=status, filled=str(filled), cost=str(cost), fees=str(fees), source=source)  # fmt: skip
        if self._on_filled is not None and filled > 0:
            try:
                self._on_filled(self._as_order(self._db.order_by_client_id(row.client_order_id)))
            except Exception:  # the fill is recorded; a failing listener must not undo the order's outcome
                log.exception("the fill listener failed on order %s (the fill is recorded)", row.client_order_id)

    # -- reconciliation -------------------------------------------------------------------------

    async def reconcile(self) -> bool:
        """Resolve pending orders, then compare positions in the bot's markets; True when all agree."""
        found: list[Discrepancy] = []
        try:
            for cid in await self.resolve_pending():
                found.append(Discrepancy("pending_unresolved", "", f"order {cid} outcome still unknown"))
            venue = await self._venue.get_positions()
        except PolyHttpError as exc:
            found.append(Discrepancy("venue_unreachable", "", f"{type(exc).__name__}: {exc}"))
            return self._done(found)
        ours: dict[str, Decimal] = {}
        for trade in self._db.open_trades():
            signed = trade.count if trade.side is Side.YES else -trade.count
            ours[trade.ticker] = ours.get(trade.ticker, ZERO) + signed
        for slug, net in ours.items():
            at_venue = venue[slug].net if slug in venue else ZERO
            if at_venue != net and not (slug in venue and venue[slug].expired):
                found.append(Discrepancy("position_mismatch", slug, f"{slug}: database {net}, venue {at_venue}"))
        for slug in venue.keys() - ours.keys():
            log.info("Polymarket US position in %s is not the bot's (net %s): left alone", slug, venue[slug].net)
        return self._done(found)

    def _done(self, found: list[Discrepancy]) -> bool:
        self.discrepancies = tuple(found)
        self.needs_reconcile = bool(found)
        for d in found:
            log.warning("Polymarket US reconciliation: %s %s", d.code, d.detail)
        return not found

    # -- helpers --------------------------------------------------------------------------------

    def _as_order(self, row: OrderRow | None) -> Order:
        if row is None:
            raise KeyError("order vanished from the database")
        fills = tuple(self._db.fills_for_order(row.client_order_id))
        return Order(
            order_id=row.venue_order_id or "", client_order_id=row.client_order_id, ticker=row.ticker,
            side=row.side, count=row.count, limit_price=row.limit_price, status=row.status,
            filled_count=row.filled_count, remaining_count=row.count - row.filled_count, fees=row.fees,
            avg_fill_price=row.avg_price, created_ts=row.created_ts, fills=fills,
        )  # fmt: skip


__all__ = ["FINAL", "MODE", "Discrepancy", "PolyUsLiveExecutor", "PolyUsVenue", "is_definite_refusal"]
