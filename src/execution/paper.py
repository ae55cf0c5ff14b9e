"""Paper execution: fill approved orders against the real order book, never touching an order endpoint.

How a paper buy fills (DECISIONS.md §7):
- The latest book is fetched for every order (never a cached one). Buying `side` takes the
  asks of that side, cheapest first; a YES ask is a NO bid at 1 - p (OrderBook.asks).
- Levels are taken while their price is at or under the limit, each at ITS OWN price (the
  taker gets the resting order's price, as on Kalshi), up to the order's count.
- time_in_force "fill_or_kill": all of the count or nothing. "immediate_or_cancel": whatever
  the book holds within the limit; the rest is cancelled. Nothing ever rests, which is why
  `cancel_all()` has nothing to cancel and returns 0.
- One level taken = one fill. Each fill pays taker_fee(fill count, fill price), rounded UP to
  the cent per fill. Kalshi itself rounds each fill's fee up to $0.0001 and its fee
  accumulator rebates over-paid cents across an order's fills, so a real multi-level order
  pays about ceil_to_cent(sum of exact fees). Rounding per fill can therefore charge up to
  1 cent more per extra level than the exchange would, and never less: paper P&L is never
  flattered by the fee model.
- Resulting status, as Kalshi reports it: "executed" when the whole count filled,
  "canceled" otherwise (a partial IOC is "canceled" with filled_count > 0).

Every order first runs the shared pre-send sequence (src/execution/pre_send.py: validation, kill
switch, duplicate id, the "pending" row, the submitted hook and the `order_submitted` line), so
a refusal raises OrderRefused and records nothing in the database. The book is read after the
intent is written and the outcome recorded after, with its fills and trade; the trade log gets
one `fill` per fill and `order_result`. If the book cannot be read the order is marked "failed" and the error is
re-raised: every attempt is accounted for.

This module takes only a MarketData, which has no order methods, and imports nothing from
src.platforms or src.execution.live.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from src.db import Database
from src.execution.order_rules import FILL_OR_KILL, check_time_in_force
from src.execution.pre_send import PreSend
from src.journal.trade_log import TradeLog
from src.model.fees import TAKER_FEE_MULTIPLIER, taker_fee
from src.model.interfaces import MarketData
from src.model.models import ZERO, BookLevel, Clock, Fill, Order, OrderBook, OrderIntent, Verdict, fill_totals

log = logging.getLogger("polybot.paper")

PAPER_ORDER_PREFIX = "paper-"


@dataclass(frozen=True, slots=True)
class LevelTake:
    """Contracts taken from one book level: one fill."""

    price: Decimal
    count: Decimal
    fee: Decimal


def walk_book(
    asks: Sequence[BookLevel],
    count: Decimal,
    limit_price: Decimal,
    time_in_force: str,
    fee_multiplier: Decimal = TAKER_FEE_MULTIPLIER,
) -> tuple[LevelTake, ...]:
    """Which levels a buy of `count` at `limit_price` takes from `asks` (cheapest first), with fees.

    Pure: returns () when fill_or_kill cannot fill the whole count, or nothing is within the limit.
    """
    check_time_in_force(time_in_force)
    takes: list[LevelTake] = []
    remaining = count
    for level in asks:
        if remaining <= 0 or level.price > limit_price:
            break
        if level.count <= 0:
            continue
        take = min(remaining, level.count)
        takes.append(LevelTake(level.price, take, taker_fee(take, level.price, fee_multiplier)))
        remaining -= take
    if time_in_force == FILL_OR_KILL and remaining > 0:
        return ()
    return tuple(takes)


def paper_order_id(client_order_id: str) -> str:
    return PAPER_ORDER_PREFIX + client_order_id


class PaperExecutor:
    """Simulated execution against real books; implements interfaces.Executor."""

    def __init__(
        self,
        market_data: MarketData,
        db: Database,
        trade_log: TradeLog,
        clock: Clock,
        kill_switch_check: Callable[[OrderIntent], Verdict],
        *,
        time_in_force: str = FILL_OR_KILL,
        fee_multiplier: Decimal = TAKER_FEE_MULTIPLIER,
        on_order_submitted: Callable[[OrderIntent], None] | None = None,
    ) -> None:
        check_time_in_force(time_in_force)
        self._market_data = market_data
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._tif = time_in_force
        self._fee_multiplier = fee_multiplier
        self._pre_send = PreSend("paper", time_in_force, db, trade_log, clock, kill_switch_check, on_order_submitted)

    async def execute(self, intent: OrderIntent) -> Order:
        submitted_ts = await self._pre_send.admit(intent)
        try:
            book = await self._market_data.get_orderbook(intent.ticker)
            if book.ticker != intent.ticker:
                raise RuntimeError(f"asked for the {intent.ticker} book, got {book.ticker}")
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            self._db.update_order(intent.client_order_id, self._clock(), status="failed", error=message)
            self._log.write("order_failed", ts=self._clock(), mode="paper", client_order_id=intent.client_order_id,
                            ticker=intent.ticker, error=message)
            raise
        return self._fill(intent, book, submitted_ts)

    def _fill(self, intent: OrderIntent, book: OrderBook, submitted_ts: float) -> Order:
        order_id = paper_order_id(intent.client_order_id)
        ts = self._clock()
        takes = walk_book(book.asks(intent.side), intent.count, intent.limit_price, self._tif, self._fee_multiplier)
        fills = [
            Fill(order_id=order_id, ticker=intent.ticker, side=intent.side, count=t.count, price=t.price,
                 fee=t.fee, ts=ts, fill_id=f"{order_id}-{i}", is_taker=True)
            for i, t in enumerate(takes)
        ]
        filled, cost, fees = fill_totals(fills)
        status = "executed" if filled == intent.count else "canceled"
        trade_id = self._db.record_execution(
            intent.client_order_id, ts, status=status, venue_order_id=order_id, fills=fills
        )
        for f in fills:
            self._log.fill(ts, "paper", intent.client_order_id, f)
        avg = (cost / filled) if filled else None
        self._log.write(
            "order_result", ts=ts, mode="paper", client_order_id=intent.client_order_id, order_id=order_id,
            ticker=intent.ticker, side=intent.side, status=status, count=intent.count, filled_count=filled,
            avg_price=avg, cost=cost, fees=fees, trade_id=trade_id,
            best_ask=book.best_ask(intent.side), book_fetched_at=book.fetched_at,
        )
        if filled < intent.count:
            log.info("paper %s %s: filled %s of %s within limit %s", intent.ticker, intent.side.value,
                     filled, intent.count, intent.limit_price)
        return Order(
            order_id=order_id, client_order_id=intent.client_order_id, ticker=intent.ticker, side=intent.side,
            count=intent.count, limit_price=intent.limit_price, status=status, filled_count=filled,
            remaining_count=ZERO, fees=fees, avg_fill_price=avg, created_ts=submitted_ts, fills=tuple(fills),
        )

    def fail_interrupted(self) -> int:
        """Mark orders left "pending" by a crash as failed; returns how many.

        A paper order is pending only between writing its intent and recording its fills, which
        happen in one call with no venue in between: pending at start-up means the process died
        before any fill was recorded, so none happened.
        """
        stale = self._db.orders_with_status("pending")
        for order in stale:
            self._db.update_order(order.client_order_id, self._clock(), status="failed",
                                  error="interrupted before any fill was recorded")
        return len(stale)

    async def cancel_all(self) -> int:
        """Paper orders are fill-or-kill or immediate-or-cancel and settle on the spot: nothing ever
        rests, so there is never anything to cancel."""
        return 0
