"""The settlement pass every venue shares: which markets to try, retries, and booking each trade once.

A venue's settler (settlement.py for Kalshi, poly_settlement.py for Polymarket) says, for one
market with open trades, what to do now (`decide`): book it (outcome, per-trade payouts and P&L,
the venue's settlement time), wait, or report an error. This loop does the rest, the same way
for every venue:
- markets waiting for a retry (`retry_after_s`) or not closed yet (`may_try`) cost no request;
- a market whose look-up raised is postponed, never an error of the books;
- each trade is booked with db.settle_trade (which refuses a trade already settled, so nothing is
  counted twice) and the kill switch is told IN THE SAME STEP, right after the commit, before the
  trade log is written: a trade-log failure (TradeLogError) then stops the daemon (the engine
  does that) without ever leaving a booked loss the kill switch did not see;
- the day a settlement counts for is the UTC day of the venue's settlement time, not of when
  the bot booked it (after downtime, yesterday's losses stay yesterday's).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from src.db import Database, TradeRow
from src.journal.trade_log import TradeLog
from src.model.models import Clock, Side, TradeResult, bankroll_from, utc_day

log = logging.getLogger("polybot.settlement")


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


@dataclass(frozen=True, slots=True)
class Booking:
    """How to book one market now: its outcome, each trade's payout and P&L, when the venue settled it."""

    outcome: str
    payouts: list[Decimal]
    pnls: list[Decimal]
    source: str  # "computed" | "venue"
    settled_ts: float


@dataclass(frozen=True, slots=True)
class Decision:
    """A venue settler's answer for one market: a Booking, or not now (waiting and/or errors)."""

    booking: Booking | None = None
    errors: tuple[str, ...] = ()
    waiting: bool = True  # reported among the waiting markets when not booked


class Postponed(Exception):
    """The venue could not be asked now (network trouble): try the market again later."""


class SettleLoop(ABC):
    """The shared pass; a venue settler implements `decide` (and overrides `may_try` to skip requests)."""

    def __init__(
        self,
        db: Database,
        trade_log: TradeLog,
        clock: Clock,
        starting_bankroll: Decimal,
        on_trade_result: Callable[[TradeResult], None],
        *,
        mode: str,
        retry_after_s: float,
    ) -> None:
        self._db = db
        self._log = trade_log
        self._clock = clock
        self._starting = starting_bankroll
        self._on_result = on_trade_result
        self._mode = mode
        self._retry_after_s = retry_after_s
        self._next_try: dict[str, float] = {}

    def bankroll(self) -> Decimal:
        """Starting bankroll plus this database's realised P&L (DECISIONS.md §5)."""
        return bankroll_from(self._starting, self._db.realized_pnl())

    def expedite(self, ticker: str) -> None:
        """The venue said this market was determined or settled: try it on the next pass, no retry wait."""
        self._next_try.pop(ticker, None)

    def may_try(self, ticker: str, now: float) -> bool:
        """False when the market certainly cannot be settled yet (no request is made)."""
        return True

    @abstractmethod
    async def decide(self, ticker: str, trades: list[TradeRow], now: float) -> Decision:
        """What to do with this market now; raise Postponed when the venue cannot be asked."""

    async def settle_due(self) -> SettlementReport:
        """Try every market with open trades that is due; book what can be booked."""
        now = self._clock()
        settled: list[SettledTrade] = []
        waiting: list[str] = []
        errors: list[str] = []
        for ticker, trades in open_trades_by_ticker(self._db).items():
            if now < self._next_try.get(ticker, 0.0) or not self.may_try(ticker, now):
                waiting.append(ticker)
                continue
            try:
                decision = await self.decide(ticker, trades, now)
            except Postponed as exc:
                log.warning("settlement of %s postponed: %s", ticker[:40], exc)
                self._next_try[ticker] = now + self._retry_after_s
                waiting.append(ticker)
                continue
            for error in decision.errors:
                log.error("%s", error)
            errors.extend(decision.errors)
            if decision.booking is None:
                self._next_try[ticker] = now + self._retry_after_s
                if decision.waiting:
                    waiting.append(ticker)
                continue
            settled.extend(self._book(ticker, trades, decision.booking))
            self._next_try.pop(ticker, None)
        return SettlementReport(tuple(settled), tuple(waiting), tuple(errors))

    def _book(self, ticker: str, trades: list[TradeRow], booking: Booking) -> list[SettledTrade]:
        """Book each trade: database and kill switch in one step, then the trade log; skip any already settled."""
        ts = booking.settled_ts
        booked: list[SettledTrade] = []
        for trade, payout, pnl in zip(trades, booking.payouts, booking.pnls, strict=True):
            bankroll_after = self.bankroll() + pnl
            if not self._db.settle_trade(trade.id, ts, result=booking.outcome, payout=payout, pnl=pnl,
                                         day=utc_day(ts), bankroll_after=bankroll_after):
                continue
            self._on_result(TradeResult(ticker=ticker, pnl=pnl, settled_ts=ts))
            booked.append(SettledTrade(trade.id, ticker, trade.side, trade.count, booking.outcome, payout, pnl,
                                       bankroll_after, ts))
            self._log.write("settlement", ts=ts, mode=self._mode, trade_id=trade.id, ticker=ticker,
                            side=trade.side, count=trade.count, outcome=booking.outcome, payout=payout,
                            cost=trade.cost, fees=trade.fees, pnl=pnl, bankroll_after=bankroll_after,
                            source=booking.source)
        return booked


def open_trades_by_ticker(db: Database) -> dict[str, list[TradeRow]]:
    """The open trades of a database, grouped by the market (or token) they are in."""
    by_ticker: dict[str, list[TradeRow]] = {}
    for trade in db.open_trades():
        by_ticker.setdefault(trade.ticker, []).append(trade)
    return by_ticker
