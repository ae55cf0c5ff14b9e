"""Compute one UTC day's trading summary for `--report` from a mode's database."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from src.db import Database, KillEventRow
from src.model.models import ZERO, TradeRow, bankroll_from


@dataclass(frozen=True, slots=True)
class SettledFigures:
    """The figures of a run of settled trades, taken in settlement order."""

    wins: int
    losses: int
    win_rate: Decimal | None  # None when nothing settled
    gross_pnl: Decimal  # payout - cost, before fees
    fees: Decimal
    net_pnl: Decimal
    max_drawdown: Decimal  # dollars, peak to trough of the bankroll after each settlement
    max_drawdown_pct: Decimal  # of the peak


@dataclass(frozen=True, slots=True)
class DayReport(SettledFigures):
    """One UTC day of one mode: the day's settled figures (drawdown within the day) and its context."""

    mode: str
    day: str
    settled: tuple[TradeRow, ...]
    opened_still_open: tuple[TradeRow, ...]
    bankroll_start: Decimal
    bankroll_end: Decimal
    kill_events: tuple[KillEventRow, ...]


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def max_drawdown(start: Decimal, pnls: list[Decimal]) -> tuple[Decimal, Decimal]:
    """Largest peak-to-trough fall of the bankroll path start, start+p1, ...: (dollars, fraction of peak)."""
    peak = balance = start
    worst = ZERO
    worst_pct = ZERO
    for pnl in pnls:
        balance += pnl
        if balance > peak:
            peak = balance
        drop = peak - balance
        if drop > worst:
            worst = drop
            worst_pct = (drop / peak) if peak > 0 else ZERO
    return worst, worst_pct


def settled_figures(start: Decimal, pnls: list[Decimal], fees: Decimal) -> SettledFigures:
    """Wins, losses, P&L and drawdown of settled trades whose net P&Ls are `pnls`, from bankroll `start`."""
    wins = sum(1 for p in pnls if p > 0)
    net = sum(pnls, ZERO)
    dd, dd_pct = max_drawdown(start, pnls)
    return SettledFigures(
        wins=wins,
        losses=sum(1 for p in pnls if p < 0),
        win_rate=(Decimal(wins) / Decimal(len(pnls))) if pnls else None,
        gross_pnl=net + fees,
        fees=fees,
        net_pnl=net,
        max_drawdown=dd,
        max_drawdown_pct=dd_pct,
    )


def build_day_report(db: Database, mode: str, day: date, starting_bankroll: Decimal) -> DayReport:
    start_ts, end_ts = day_bounds(day)
    settled = db.settled_trades(start_ts, end_ts)
    bankroll_start = bankroll_from(starting_bankroll, db.realized_pnl(until_ts=start_ts))
    figures = settled_figures(bankroll_start, [t.pnl or ZERO for t in settled], sum((t.fees for t in settled), ZERO))
    still_open = tuple(t for t in db.trades_opened_since(start_ts) if t.opened_ts < end_ts and t.status == "open")
    return DayReport(
        mode=mode,
        day=day.isoformat(),
        settled=tuple(settled),
        opened_still_open=still_open,
        bankroll_start=bankroll_start,
        bankroll_end=bankroll_start + figures.net_pnl,
        **asdict(figures),
        kill_events=tuple(e for e in db.kill_events(start_ts) if e.ts < end_ts),
    )
