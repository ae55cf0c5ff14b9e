"""Live execution: real Kalshi orders, behind the start-up guards and the kill switch, recorded before they are sent.

Start-up guard (`check_live_guards`): LIVE_TRADING=true in .env AND --live AND a terminal AND
the word LIVE typed after a giant warning, at every start. Anything missing raises
LiveGuardError with a one-line reason; the daemon must then not start.

Every order (`LiveExecutor.execute`):
1. is validated, then passes the kill switch check, which raises OrderRefused on a no
   (one `order_refused` trade-log line, nothing in the database, nothing sent);
2. is refused too (OrderRefused, reason `unresolved_orders`) while an earlier order's outcome
   is still unknown and a fresh look-up cannot settle it: a second order must never go out
   while the first might exist. When look-ups did settle earlier orders, the kill switch is
   asked again, so it stays the last gate before the request;
3. is written to the database as "pending", with its client_order_id, BEFORE the request;
4. is sent once (the client re-sends the same client_order_id only after a look-up shows it
   is absent). Then:
   - a definite refusal (4xx other than 408/409, a request the client refused to build, no
     credentials) marks the order "failed" and re-raises;
   - an ambiguous outcome (timeout, dropped connection, 5xx after retries, anything else)
     leaves it "pending" and returns an Order with status "pending". It is resolved by
     looking it up by client_order_id (reconcile.resolve_order), never assumed failed;
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
from src.execution.order_rules import (
    InvalidOrderError,
    check_time_in_force,
    validate_intent,
)
from src.execution.reconcile import record_venue_order, resolve_order
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderRefused, OrderVenue
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
    ) -> None:
        check_time_in_force(time_in_force)
        self._venue = venue
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._check = kill_switch_check
        self._tif = time_in_force
        self._on_submitted = on_order_submitted
        self._grace = not_found_grace_s

    async def execute(self, intent: OrderIntent) -> Order:
        validate_intent(intent, self._tif)
        verdict = self._check(intent)
        if not verdict.allowed:
            self._refuse(intent, verdict)
        if self._db.order_by_client_id(intent.client_order_id) is not None:
            raise InvalidOrderError(f"client_order_id {intent.client_order_id} was already used")
        if self._db.orders_with_status("pending"):
            unresolved = await self.resolve_pending()
            if unresolved:
                self._refuse(intent, Verdict(False, "unresolved_orders",
                                             f"outcome of {', '.join(unresolved)} unknown; reconcile first"))
            # Resolving may have booked trades the kill switch counts: ask again, right before sending.
            verdict = self._check(intent)
            if not verdict.allowed:
                self._refuse(intent, verdict)

        submitted_ts = self._clock()
        self._db.insert_order_intent(intent, submitted_ts, status="pending")
        if self._on_submitted is not None:
            self._on_submitted(intent)
        self._log.order_submitted(submitted_ts, "live", intent, self._tif)
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
                raise
            log.error("order %s outcome unknown, left pending for reconciliation: %s",
                      intent.client_order_id, message)
            self._db.record_error(self._clock(), "live", f"order {intent.client_order_id} outcome unknown: {message}")
            self._log.write("order_uncertain", ts=self._clock(), mode="live",
                            client_order_id=intent.client_order_id, ticker=intent.ticker, error=message)
            return self._pending_order(intent, submitted_ts)
        outcome = await record_venue_order(self._venue, self._db, self._log, self._clock, intent.client_order_id,
                                           placed, mode="live")
        if outcome.status == "pending":
            return self._pending_order(intent, submitted_ts, placed.order_id)
        return outcome.order

    async def resolve_pending(self) -> list[str]:
        """Look up every order still "pending"; returns the client_order_ids that stay unresolved."""
        unresolved: list[str] = []
        for row in self._db.orders_with_status("pending"):
            resolution = await resolve_order(self._venue, self._db, self._log, self._clock, row,
                                             not_found_grace_s=self._grace, mode="live")
            if resolution.status == "pending":
                unresolved.append(row.client_order_id)
        return unresolved

    async def cancel_all(self) -> int:
        """Cancel every resting order on the venue (risk-reducing, so no kill switch check)."""
        cancelled = await self._venue.cancel_all_orders()
        self._log.write("cancel_all", ts=self._clock(), mode="live", cancelled=cancelled)
        return cancelled

    def _refuse(self, intent: OrderIntent, verdict: Verdict) -> None:
        self._log.order_refused(self._clock(), "live", intent, verdict)
        raise OrderRefused(verdict)

    @staticmethod
    def _pending_order(intent: OrderIntent, submitted_ts: float, order_id: str = "") -> Order:
        return Order(
            order_id=order_id, client_order_id=intent.client_order_id, ticker=intent.ticker, side=intent.side,
            count=intent.count, limit_price=intent.limit_price, status="pending", created_ts=submitted_ts,
        )
