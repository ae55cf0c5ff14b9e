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
- Each trade is booked with db.settle_trade (trade, daily_pnl of the UTC day it is booked,
  bankroll_history with bankroll = starting bankroll + realised P&L), then the kill switch
  is told (on_trade_result) and a `settlement` line goes to the trade log. settle_trade
  refuses a trade already settled, so settling twice never double-counts and never tells
  the kill switch twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from src.db import Database, TradeRow
from src.journal.trade_log import TradeLog
from src.model.interfaces import MarketData
from src.model.kxbtc15m import close_from_event_ticker
from src.model.models import ONE, ZERO, Clock, Market, Settlement, Side, TradeResult
from src.model.strike_rule import derive_result

log = logging.getLogger("polybot.settlement")

FINAL_STATUSES = frozenset({"settled", "determined", "finalized"})
VOID = "void"
# Venue and computed P&L may differ by sub-cent rounding of the fee accumulator; more is a mismatch.
MISMATCH_TOLERANCE = Decimal("0.005")


class SettlementSource(Protocol):
    """Where live settlements come from (OrderVenue provides it)."""

    async def get_settlements(self) -> list[Settlement]: ...


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


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def venue_pnl(settlement: Settlement) -> Decimal:
    return settlement.revenue - settlement.cost - settlement.fees


@dataclass(frozen=True, slots=True)
class SettledTrade:
    """One trade booked by a settlement pass."""

    trade_id: int
    ticker: str
    side: Side
    count: Decimal
    outcome: str
    payout: Decimal
    pnl: Decimal
    bankroll_after: Decimal
    settled_ts: float


@dataclass(frozen=True, slots=True)
class SettlementReport:
    """What one pass did: trades booked, markets still waiting, markets with a problem."""

    settled: tuple[SettledTrade, ...]
    waiting: tuple[str, ...]
    errors: tuple[str, ...]


class Settler:
    """Settles open trades of closed markets; one instance per mode's database."""

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
        self._market_data = market_data
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._starting = starting_bankroll
        self._on_result = on_trade_result
        self._settlements = settlements
        self._mode = mode
        self._retry_after_s = retry_after_s
        self._next_try: dict[str, float] = {}

    def bankroll(self) -> Decimal:
        """Starting bankroll plus this mode's realised P&L (DECISIONS.md §5)."""
        return self._starting + self._db.realized_pnl()

    async def settle_due(self) -> SettlementReport:
        """Try every market with open trades that has closed and is not waiting for a retry."""
        now = self._clock()
        by_ticker = open_trades_by_ticker(self._db)
        settled: list[SettledTrade] = []
        waiting: list[str] = []
        errors: list[str] = []
        venue: dict[str, Settlement] | None = None
        for ticker, trades in by_ticker.items():
            if now < self._next_try.get(ticker, 0.0) or now < _known_close(ticker, now):
                waiting.append(ticker)
                continue
            try:
                market = await self._market_data.get_market(ticker)
            except Exception as exc:  # network trouble: not an error of the books, try again later
                log.warning("settlement of %s postponed: %s: %s", ticker, type(exc).__name__, exc)
                self._next_try[ticker] = now + self._retry_after_s
                waiting.append(ticker)
                continue
            try:
                outcome = market_outcome(market)
            except ValueError as exc:
                outcome = None
                errors.append(f"{ticker}: cannot derive the result: {exc}")
                log.error("%s", errors[-1])
            else:
                if outcome is None and market.status in FINAL_STATUSES:
                    errors.append(f"{ticker} is {market.status} but has no usable result ({market.result!r})")
                    log.error("%s", errors[-1])
            if outcome is not None and self._settlements is not None and venue is None:
                try:
                    venue = {s.ticker: s for s in await self._settlements.get_settlements()}
                except Exception as exc:
                    log.warning("settlement of %s postponed: venue settlements unavailable: %s: %s",
                                ticker, type(exc).__name__, exc)
                    outcome = None
            if outcome is None:
                self._next_try[ticker] = now + self._retry_after_s
                waiting.append(ticker)
                continue
            venue_settlement = venue.get(ticker) if venue is not None else None
            if self._settlements is not None and venue_settlement is None:
                # The market is final but the venue has not paid the account yet.
                self._next_try[ticker] = now + self._retry_after_s
                waiting.append(ticker)
                continue
            settled.extend(self._book(ticker, trades, outcome, venue_settlement))
            self._next_try.pop(ticker, None)
        return SettlementReport(tuple(settled), tuple(waiting), tuple(errors))

    def _book(
        self, ticker: str, trades: list[TradeRow], outcome: str, venue_settlement: Settlement | None
    ) -> list[SettledTrade]:
        ts = self._clock()
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
        return book_settlements(
            self._db, self._log, self._on_result, self.bankroll, ts=ts, mode=self._mode, ticker=ticker,
            trades=trades, outcome=outcome, payouts=payouts, pnls=pnls, source=source,
        )


def open_trades_by_ticker(db: Database) -> dict[str, list[TradeRow]]:
    """The open trades of a database, grouped by the market (or token) they are in."""
    by_ticker: dict[str, list[TradeRow]] = {}
    for trade in db.open_trades():
        by_ticker.setdefault(trade.ticker, []).append(trade)
    return by_ticker


def computed_settlement(trades: list[TradeRow], outcome: str) -> tuple[list[Decimal], list[Decimal]]:
    """Each trade's payout and net P&L when its market resolves to `outcome`."""
    payouts = [trade_payout(t.side, t.count, t.cost, outcome) for t in trades]
    pnls = [trade_pnl(p, t.cost, t.fees) for p, t in zip(payouts, trades, strict=True)]
    return payouts, pnls


def book_settlements(
    db: Database,
    trade_log: TradeLog,
    on_trade_result: Callable[[TradeResult], None],
    bankroll: Callable[[], Decimal],
    *,
    ts: float,
    mode: str,
    ticker: str,
    trades: list[TradeRow],
    outcome: str,
    payouts: list[Decimal],
    pnls: list[Decimal],
    source: str,
) -> list[SettledTrade]:
    """Book each trade's settlement (database, trade log, kill switch), skipping any already settled.

    Shared by every settler, so a settlement is recorded the same way whatever the venue.
    """
    booked: list[SettledTrade] = []
    for trade, payout, pnl in zip(trades, payouts, pnls, strict=True):
        bankroll_after = bankroll() + pnl
        if not db.settle_trade(trade.id, ts, result=outcome, payout=payout, pnl=pnl, day=utc_day(ts),
                               bankroll_after=bankroll_after):
            continue
        booked.append(SettledTrade(trade.id, ticker, trade.side, trade.count, outcome, payout, pnl,
                                   bankroll_after, ts))
        trade_log.write("settlement", ts=ts, mode=mode, trade_id=trade.id, ticker=ticker, side=trade.side,
                        count=trade.count, outcome=outcome, payout=payout, cost=trade.cost, fees=trade.fees,
                        pnl=pnl, bankroll_after=bankroll_after, source=source)
        on_trade_result(TradeResult(ticker=ticker, pnl=pnl, settled_ts=ts))
    return booked


def _known_close(ticker: str, now: float) -> float:
    """The close time a KXBTC15M ticker names, so unclosed markets cost no request; other tickers
    (unknown series) are asked about every pass (returns `now`)."""
    try:
        return close_from_event_ticker(ticker)
    except ValueError:
        return now
