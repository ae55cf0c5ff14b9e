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
- Each trade is booked with db.settle_trade (which refuses a trade already settled, so nothing
  is counted twice), the kill switch is told (on_trade_result) and a `settlement` line goes to
  the trade log.

Known limit: a market resolved 50/50 (both tokens pay $0.50) marks no winner, so such a position
stays open and is retried; its market is listed as waiting in every report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from src.db import PolymarketDatabase, TradeRow
from src.execution.settlement import (
    SettledTrade,
    SettlementReport,
    book_settlements,
    computed_settlement,
    open_trades_by_ticker,
)
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


class PolySettler:
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
        self._markets = markets
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._starting = starting_bankroll
        self._on_result = on_trade_result
        self._mode = mode
        self._retry_after_s = retry_after_s
        self._next_try: dict[str, float] = {}

    def bankroll(self) -> Decimal:
        """Starting bankroll plus the realised P&L of this database's trades (DECISIONS.md §5)."""
        return self._starting + self._db.realized_pnl()

    async def settle_due(self) -> SettlementReport:
        """Try every token with open trades that is not waiting for a retry."""
        now = self._clock()
        by_token = open_trades_by_ticker(self._db)
        settled: list[SettledTrade] = []
        waiting: list[str] = []
        errors: list[str] = []
        for token, trades in by_token.items():
            if now < self._next_try.get(token, 0.0):
                waiting.append(token)
                continue
            condition = self._db.condition_for_token(token)
            if condition is None:
                errors.append(f"token {token[:16]} has open trades but no known market: cannot settle it")
                log.error("%s", errors[-1])
                self._next_try[token] = now + self._retry_after_s
                continue
            try:
                market = await self._markets.get_market(condition, token)
            except Exception as exc:  # network trouble: not an error of the books, try again later
                log.warning("settlement of %s postponed: %s: %s", token[:16], type(exc).__name__, exc)
                self._next_try[token] = now + self._retry_after_s
                waiting.append(token)
                continue
            outcome = resolved_outcome(market)
            if outcome is None:
                self._next_try[token] = now + self._retry_after_s
                waiting.append(token)
                continue
            settled.extend(self._book(token, trades, outcome))
            self._next_try.pop(token, None)
        return SettlementReport(tuple(settled), tuple(waiting), tuple(errors))

    def _book(self, token: str, trades: list[TradeRow], outcome: str) -> list[SettledTrade]:
        payouts, pnls = computed_settlement(trades, outcome)
        return book_settlements(
            self._db, self._log, self._on_result, self.bankroll, ts=self._clock(), mode=self._mode, ticker=token,
            trades=trades, outcome=outcome, payouts=payouts, pnls=pnls, source="computed",
        )
