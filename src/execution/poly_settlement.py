"""Polymarket paper settlement: book resolved markets' open positions into P&L, bankroll and the kill switch.

For every open trade in the Polymarket paper database (its ticker is the outcome token id):
- The token's market (condition id) comes from the database's token table, written before the
  copy was ordered. A trade whose token has no known market cannot be settled: it is reported
  as an error (again every `retry_after_s`), never guessed.
- `GET /markets/{condition_id}` tells whether the market is resolved: the client's Market has
  status "closed" and result "yes" when this token is the winner, "no" when another token won.
  A market that is not closed, or closed without a winner yet (Polymarket resolves through the
  UMA oracle, hours or days after trading stops), is tried again after `retry_after_s`.
- Every copy BUYS the token (Side.YES, "this token wins"), so payout = count x $1 when the token
  won, else 0; pnl = payout - cost - fees. The pure helpers of src/execution/settlement.py
  (trade_payout, trade_pnl, utc_day) do the arithmetic, exactly as for Kalshi.
- The pass itself (retries, booking each trade once with the kill switch told in the same
  step as the database commit) is settle_loop.SettleLoop, shared with the Kalshi settler.

Known limit: a market resolved 50/50 (both tokens pay $0.50) marks no winner, so such a position
stays open and is retried; its market is listed as waiting in every report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from src.db import PolymarketDatabase, TradeRow
from src.execution.settle_loop import Booking, Decision, Postponed, SettleLoop
from src.execution.settlement import computed_settlement
from src.journal.trade_log import TradeLog
from src.model.models import Clock, Market, TradeResult

log = logging.getLogger("polybot.poly_settlement")

RESOLVED_STATUS = "closed"
WINNER_RESULTS = frozenset({"yes", "no"})
DEFAULT_RETRY_AFTER_S = 300.0


class PolymarketMarkets(Protocol):
    """What settlement needs from the Polymarket client."""

    async def get_market(self, condition_id: str, token_id: str) -> Market: ...


def resolved_outcome(market: Market) -> str | None:
    """"yes" (this token won) or "no" (another won) once resolved; None while not (try again later)."""
    if market.status != RESOLVED_STATUS:
        return None
    result = market.result.strip().lower()
    return result if result in WINNER_RESULTS else None


class PolySettler(SettleLoop):
    """Settles open Polymarket paper trades of resolved markets; one instance per Polymarket database."""

    def __init__(
        self,
        markets: PolymarketMarkets,
        db: PolymarketDatabase,
        trade_log: TradeLog,
        clock: Clock,
        starting_bankroll: Decimal,
        on_trade_result: Callable[[TradeResult], None],
        *,
        mode: str = "polymarket_paper",
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
    ) -> None:
        super().__init__(db, trade_log, clock, starting_bankroll, on_trade_result, mode=mode,
                         retry_after_s=retry_after_s)
        self._markets = markets
        self._poly_db = db

    async def decide(self, ticker: str, trades: list[TradeRow], now: float) -> Decision:
        token = ticker
        condition = self._poly_db.condition_for_token(token)
        if condition is None:
            return Decision(errors=(f"token {token[:16]} has open trades but no known market: cannot settle it",),
                            waiting=False)
        try:
            market = await self._markets.get_market(condition, token)
        except Exception as exc:  # network trouble: not an error of the books, try again later
            raise Postponed(f"{type(exc).__name__}: {exc}") from exc
        outcome = resolved_outcome(market)
        if outcome is None:
            return Decision()
        payouts, pnls = computed_settlement(trades, outcome)
        # Polymarket gives no resolution time here: the market's end, unless it is still ahead of us.
        settled_ts = min(now, market.close_time.timestamp())
        return Decision(Booking(outcome, payouts, pnls, "computed", settled_ts))
