"""Settlement: book closed markets' open positions into P&L, bankroll and the kill switch's history.

For every open trade whose market has closed:
- The outcome is the venue's `result` ("yes"/"no") once the market's status is final
  (settled/determined/finalized). Only when a final market carries no result is it derived
  from `expiration_value` and `floor_strike` by `derive_result` (the same pure rule the
  simulator uses): for `greater_or_equal`, YES wins when expiration_value >= floor_strike,
  so a tie goes to YES. A market that is not final yet is simply tried again later.
- payout = count x $1 when the trade's side won, else 0; pnl = payout - cost - fees. A
  "void" market returns the cost (payout = cost) and the fees stay paid; this is the
  conservative reading (a small loss) and, in live mode, the venue's figure overrides it.
- Live mode (a SettlementSource is given): the venue's settlement for the market must exist
  before anything is booked (otherwise retried later). The venue's P&L for the market,
  revenue - cost - fees, is compared with ours; a mismatch is logged as an error (log,
  errors table, `settlement_mismatch` trade-log line) and the VENUE's figure wins: each
  trade keeps its computed P&L and the difference is added to the market's last trade, so
  the market's booked total is exactly what the venue paid. (Exception: trades on BOTH sides of
  one market. Kalshi nets those as they happen and its settlement covers only the remainder,
  so the computed figures, exact in total, are booked and a warning is logged.)
- The pass itself (retries, booking each trade once, the kill switch told in the same step as
  the database commit, the day of the venue's settlement time) is settle_loop.SettleLoop, shared
  with the Polymarket settler. The settlement time is the venue's `settled_time` in live mode,
  the market's close (when the result is fixed) otherwise.
- Every venue request is bounded: one market's record (`GET /markets/{ticker}`) and, live, that
  market's settlements only (`ticker=`), never the account's whole history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from src.db import Database, TradeRow
from src.execution.settle_loop import (
    Booking,
    Decision,
    Postponed,
    SettledTrade,
    SettleLoop,
    SettlementReport,
    open_trades_by_ticker,
)
from src.journal.trade_log import TradeLog
from src.model.interfaces import MarketData
from src.model.kxbtc15m import close_from_event_ticker
from src.model.models import ONE, ZERO, Clock, Market, Settlement, Side, TradeResult, utc_day
from src.model.strike_rule import derive_result

log = logging.getLogger("polybot.settlement")

# Re-exported: callers import the settlement types from here.
__all__ = [
    "Booking", "Decision", "Postponed", "SettledTrade", "SettleLoop", "SettlementReport", "Settler",
    "computed_settlement", "market_outcome", "open_trades_by_ticker", "trade_payout", "trade_pnl", "utc_day",
    "venue_pnl",
]

FINAL_STATUSES = frozenset({"settled", "determined", "finalized"})
VOID = "void"
# Venue and computed P&L may differ by sub-cent rounding of the fee accumulator; more is a mismatch.
MISMATCH_TOLERANCE = Decimal("0.005")


class SettlementSource(Protocol):
    """Where live settlements come from (OrderVenue provides it), asked for one market at a time."""

    async def get_settlements(self, *, ticker: str | None = None, min_ts: int | None = None) -> list[Settlement]: ...


def market_outcome(market: Market) -> str | None:
    """"yes", "no" or "void" once the market is final; None while it is not (try again later)."""
    if market.status not in FINAL_STATUSES:
        return None
    result = market.result.strip().lower()
    if result in ("yes", "no", VOID):
        return result
    if result == "" and market.expiration_value is not None:
        return derive_result(market.strike_type, market.expiration_value, market.floor_strike).value
    return None


def trade_payout(side: Side, count: Decimal, cost: Decimal, outcome: str) -> Decimal:
    """What the venue pays a position at settlement: $1 per winning contract, the cost back if void."""
    if outcome == VOID:
        return cost
    return count * ONE if outcome == side.value else ZERO


def trade_pnl(payout: Decimal, cost: Decimal, fees: Decimal) -> Decimal:
    return payout - cost - fees


def venue_pnl(settlement: Settlement) -> Decimal:
    return settlement.revenue - settlement.cost - settlement.fees


class Settler(SettleLoop):
    """Settles open trades of closed Kalshi markets; one instance per mode's database."""

    def __init__(
        self,
        market_data: MarketData,
        db: Database,
        trade_log: TradeLog,
        clock: Clock,
        starting_bankroll: Decimal,
        on_trade_result: Callable[[TradeResult], None],
        *,
        settlements: SettlementSource | None = None,
        mode: str = "paper",
        retry_after_s: float = 30.0,
    ) -> None:
        super().__init__(db, trade_log, clock, starting_bankroll, on_trade_result, mode=mode,
                         retry_after_s=retry_after_s)
        self._market_data = market_data
        self._settlements = settlements

    def may_try(self, ticker: str, now: float) -> bool:
        return now >= _known_close(ticker, now)

    async def decide(self, ticker: str, trades: list[TradeRow], now: float) -> Decision:
        try:
            market = await self._market_data.get_market(ticker)
        except Exception as exc:  # network trouble: not an error of the books, try again later
            raise Postponed(f"{type(exc).__name__}: {exc}") from exc
        errors: tuple[str, ...] = ()
        try:
            outcome = market_outcome(market)
        except ValueError as exc:
            return Decision(errors=(f"{ticker}: cannot derive the result: {exc}",))
        if outcome is None:
            if market.status in FINAL_STATUSES:
                errors = (f"{ticker} is {market.status} but has no usable result ({market.result!r})",)
            return Decision(errors=errors)
        venue_settlement: Settlement | None = None
        if self._settlements is not None:
            try:
                found = await self._settlements.get_settlements(ticker=ticker)
            except Exception as exc:
                raise Postponed(f"venue settlements unavailable: {type(exc).__name__}: {exc}") from exc
            venue_settlement = next((s for s in found if s.ticker == ticker), None)
            if venue_settlement is None:
                return Decision()  # the market is final but the venue has not paid the account yet
        settled_ts = min(now, market.close_time.timestamp())
        if venue_settlement is not None and venue_settlement.settled_ts > 0:
            settled_ts = venue_settlement.settled_ts
        return Decision(self._booking(ticker, trades, outcome, venue_settlement, settled_ts))

    def _booking(
        self, ticker: str, trades: list[TradeRow], outcome: str, venue_settlement: Settlement | None,
        settled_ts: float,
    ) -> Booking:
        payouts, pnls = computed_settlement(trades, outcome)
        source = "computed"
        if venue_settlement is not None and len({t.side for t in trades}) > 1:
            # Kalshi nets YES against NO as they are bought and pays each pair $1 at once, so its
            # settlement covers only the net remainder and cannot be compared with per-trade figures.
            # The per-trade figures are exact in total (the winning side's count is paid, once).
            log.warning("%s held on both sides: venue settlement not comparable, computed P&L booked", ticker)
            venue_settlement = None
        if venue_settlement is not None:
            source = "venue"
            computed_total = sum(pnls, ZERO)
            venue_total = venue_pnl(venue_settlement)
            difference = venue_total - computed_total
            if abs(difference) > MISMATCH_TOLERANCE or venue_settlement.result.lower() != outcome:
                ts = self._clock()
                message = (
                    f"settlement mismatch on {ticker}: computed pnl {computed_total} ({outcome}), venue "
                    f"{venue_total} ({venue_settlement.result}, revenue {venue_settlement.revenue}); "
                    "the venue's figure is booked"
                )
                log.error("%s", message)
                self._db.record_error(ts, "settlement", message)
                self._log.write("settlement_mismatch", ts=ts, mode=self._mode, ticker=ticker, outcome=outcome,
                                venue_result=venue_settlement.result, computed_pnl=computed_total,
                                venue_pnl=venue_total, venue_revenue=venue_settlement.revenue)
            pnls[-1] += difference
            payouts[-1] += difference
        return Booking(outcome, payouts, pnls, source, settled_ts)


def computed_settlement(trades: list[TradeRow], outcome: str) -> tuple[list[Decimal], list[Decimal]]:
    """Each trade's payout and net P&L when its market resolves to `outcome`."""
    payouts = [trade_payout(t.side, t.count, t.cost, outcome) for t in trades]
    pnls = [trade_pnl(p, t.cost, t.fees) for p, t in zip(payouts, trades, strict=True)]
    return payouts, pnls


def _known_close(ticker: str, now: float) -> float:
    """The close time a KXBTC15M ticker names, so unclosed markets cost no request; other tickers
    (unknown series) are asked about every pass (returns `now`)."""
    try:
        return close_from_event_ticker(ticker)
    except ValueError:
        return now
