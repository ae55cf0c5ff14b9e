"""Live execution: real Kalshi orders, behind the start-up guards and the kill switch, recorded before they are sent.

Start-up guard (`check_live_guards`): LIVE_TRADING=true in .env AND --live AND a terminal AND
the word LIVE typed after a giant warning, at every start. Anything missing raises
LiveGuardError with a one-line reason; the daemon must then not start.

Every order (`LiveExecutor.execute`):
1. runs the shared pre-send sequence (src/execution/pre_send.py): validation, the kill switch, a
   used client_order_id refused, then this executor's extra gate: while an earlier order's
   outcome is unknown it is looked up first, and a new order is refused (OrderRefused, reason
   `unresolved_orders`) while one stays unknown, since a second order must never go out while
   the first might exist; then the kill switch again, the "pending" row BEFORE the request,
   the submitted hook and the `order_submitted` line;
2. is sent once. The client repeats a try only when the venue certainly did not act on it
   (429, no connection); after an ambiguous try it never sends again. Then:
   - a definite refusal (4xx other than 408/409 on a try the venue did not act on, a request
     the client refused to build, no credentials) marks the order "failed" and re-raises; a
     refusal naming the order group means the exchange-side limit fired: `on_order_group_triggered`
     is told (the daemon treats it as a HARD STOP);
   - anything else (timeout, dropped connection, 5xx, KalshiOrderUncertain, a failed look-up)
     leaves it "pending" and returns an Order with status "pending". Once any try was ambiguous,
     every later failure keeps it pending: only the venue's own word ends it, i.e. the order
     found (adopted with its fills) or still absent `not_found_grace_s` after it was written
     (reconcile.resolve_order). Trading stays refused until then;
   - whichever path records an order final with fills (this answer, resolve_pending, the
     reconciler) tells `on_filled` once, from reconcile.record_venue_order;
   - an answer records the venue's status and its fills, fetched from the venue's fill list
     (the create-order answer carries no per-fill prices or fees). If the fills do not yet
     add up to the filled count the order stays "pending" until a look-up completes it.

This module never imports src.execution.paper; it places orders only through an OrderVenue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TextIO

from src.db import Database
from src.execution.cancel_all import cancel_all_and_verify
from src.execution.order_lookup import OrderLookup
from src.execution.order_rules import check_time_in_force
from src.execution.pre_send import PreSend
from src.execution.reconcile import OnFilled, record_venue_order, resolve_order
from src.execution.rest_order_lookup import RestOrderLookup
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderVenue
from src.model.models import Clock, Order, OrderIntent, Verdict
from src.platforms.kalshi import (
    KalshiAPIError,
    KalshiNoCredentials,
    KalshiOrderUncertain,
    KalshiRequestError,
)

log = logging.getLogger("polybot.live")

CONFIRM_WORD = "LIVE"

WARNING_BANNER = r"""
################################################################################
#                                                                              #
#   L I V E   T R A D I N G                                                    #
#                                                                              #
#   This bot is about to place REAL orders with REAL money on Kalshi.          #
#   Losses are real and final. The kill switch limits them; it cannot          #
#   prevent them.                                                              #
#                                                                              #
#   To go on, type the word LIVE (capital letters) and press Enter.            #
#   Anything else stops here without trading.                                  #
#                                                                              #
################################################################################
"""


class LiveGuardError(Exception):
    """Live trading was not fully authorised; the message is one line saying what is missing."""


def live_refusal(live_trading_env: bool, live_flag: bool, isatty: bool) -> str | None:
    """Why live trading is refused before anyone is asked to confirm, or None when it may go on."""
    if not live_trading_env:
        return "live trading refused: LIVE_TRADING=true is not set in .env"
    if not live_flag:
        return "live trading refused: the --live flag was not given"
    if not isatty:
        return "live trading refused: no terminal attached to confirm (live mode needs a person)"
    return None


def check_live_guards(
    live_trading_env: bool,
    live_flag: bool,
    isatty: bool,
    input_fn: Callable[[str], str],
    out: TextIO,
) -> None:
    """Raise LiveGuardError unless every live guard passes; the prompt appears only when the rest do."""
    refusal = live_refusal(live_trading_env, live_flag, isatty)
    if refusal is not None:
        raise LiveGuardError(refusal)
    out.write(WARNING_BANNER)
    out.flush()
    try:
        answer = input_fn(f"Type {CONFIRM_WORD} to trade with real money: ")
    except (EOFError, KeyboardInterrupt):
        raise LiveGuardError("live trading refused: no confirmation was typed") from None
    if answer.strip() != CONFIRM_WORD:
        raise LiveGuardError(f"live trading refused: the confirmation was not the word {CONFIRM_WORD}")


def is_definite_rejection(exc: BaseException) -> bool:
    """True when the venue certainly did not create the order; anything else may have gone through."""
    if isinstance(exc, KalshiRequestError | KalshiNoCredentials):
        return True  # refused before anything was sent
    if isinstance(exc, KalshiOrderUncertain):
        return False
    if isinstance(exc, KalshiAPIError):
        # 408: the server timed out reading us (may have acted); 409: an order with this id exists.
        return 400 <= exc.status < 500 and exc.status not in (408, 409)
    return False


def names_order_group(exc: BaseException) -> bool:
    """True when the venue refused an order because its order group stopped it (limit hit, group triggered)."""
    return isinstance(exc, KalshiAPIError) and 400 <= exc.status < 500 and "order_group" in exc.code.lower()


class LiveExecutor:
    """Real order placement through an OrderVenue; implements interfaces.Executor."""

    def __init__(
        self,
        venue: OrderVenue,
        db: Database,
        trade_log: TradeLog,
        clock: Clock,
        kill_switch_check: Callable[[OrderIntent], Verdict],
        *,
        time_in_force: str = "fill_or_kill",
        on_order_submitted: Callable[[OrderIntent], None] | None = None,
        not_found_grace_s: float = 30.0,
        lookup: OrderLookup | None = None,
        on_order_group_triggered: Callable[[str], None] | None = None,
        on_filled: OnFilled | None = None,
    ) -> None:
        check_time_in_force(time_in_force)
        self._venue = venue
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._tif = time_in_force
        self._grace = not_found_grace_s
        self._lookup = lookup if lookup is not None else RestOrderLookup(venue)
        self._on_group_triggered = on_order_group_triggered
        self._on_filled = on_filled  # told by record_venue_order, the one place an outcome is recorded
        self._pre_send = PreSend("live", time_in_force, db, trade_log, clock, kill_switch_check, on_order_submitted)

    async def execute(self, intent: OrderIntent) -> Order:
        submitted_ts = await self._pre_send.admit(intent, self._no_unknown_orders)
        try:
            placed = await self._venue.place_order(
                intent.ticker, intent.side, intent.count, intent.limit_price, intent.client_order_id,
                time_in_force=self._tif,
            )
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if is_definite_rejection(exc):
                self._db.update_order(intent.client_order_id, self._clock(), status="failed", error=message[:500])
                self._log.write("order_failed", ts=self._clock(), mode="live",
                                client_order_id=intent.client_order_id, ticker=intent.ticker, error=message)
                if names_order_group(exc) and self._on_group_triggered is not None:
                    self._on_group_triggered(message)
                raise
            log.error("order %s outcome unknown, left pending until the venue says what happened: %s",
                      intent.client_order_id, message)
            self._db.record_error(self._clock(), "live", f"order {intent.client_order_id} outcome unknown: {message}")
            self._log.write("order_uncertain", ts=self._clock(), mode="live",
                            client_order_id=intent.client_order_id, ticker=intent.ticker, error=message)
            return self._pending_order(intent, submitted_ts)
        outcome = await record_venue_order(self._venue, self._db, self._log, self._clock, intent.client_order_id,
                                           placed, mode="live", on_filled=self._on_filled)
        if outcome.status == "pending":
            return self._pending_order(intent, submitted_ts, placed.order_id)
        return outcome.order

    async def _no_unknown_orders(self, intent: OrderIntent) -> Verdict | None:
        """The extra gate: look earlier unknown orders up; a refusal while any stays unknown."""
        if not self._db.orders_with_status("pending"):
            return None
        unresolved = await self.resolve_pending()
        if unresolved:
            return Verdict(False, "unresolved_orders", f"outcome of {', '.join(unresolved)} unknown; reconcile first")
        return None

    async def resolve_pending(self) -> list[str]:
        """Look up every order still "pending"; returns the client_order_ids that stay unresolved."""
        unresolved: list[str] = []
        for row in self._db.orders_with_status("pending"):
            resolution = await resolve_order(self._venue, self._db, self._log, self._clock, row,
                                             not_found_grace_s=self._grace, mode="live", lookup=self._lookup,
                                             on_filled=self._on_filled)
            if resolution.status == "pending":
                unresolved.append(row.client_order_id)
        return unresolved

    async def cancel_all(self) -> int:
        """Cancel every resting order on the venue and verify (risk-reducing, so no kill switch check);
        returns how many still rest after the verifying read (0 when the cancel held)."""
        report = await cancel_all_and_verify(self._venue)
        self._log.write("cancel_all", ts=self._clock(), mode="live", remaining=len(report.remaining),
                        error=report.error)
        return len(report.remaining)

    @staticmethod
    def _pending_order(intent: OrderIntent, submitted_ts: float, order_id: str = "") -> Order:
        return Order(
            order_id=order_id, client_order_id=intent.client_order_id, ticker=intent.ticker, side=intent.side,
            count=intent.count, limit_price=intent.limit_price, status="pending", created_ts=submitted_ts,
        )
