"""A daily or weekly summary's figures, read from the database through the day report."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from src.db import Database
from src.notify.messages import PeriodFigures
from src.reporting.report import build_day_report


def day_figures(db: Database, mode: str, day: date, starting_bankroll: Decimal) -> PeriodFigures:
    report = build_day_report(db, mode, day, starting_bankroll)
    return PeriodFigures(
        label=day.isoformat(),
        trades=len(report.settled),
        wins=report.wins,
        losses=report.losses,
        net_pnl=report.net_pnl,
        fees=report.fees,
        bankroll_start=report.bankroll_start,
        bankroll_end=report.bankroll_end,
        kill_events=len(report.kill_events),
    )


def week_figures(db: Database, mode: str, last_day: date, starting_bankroll: Decimal) -> PeriodFigures:
    """The seven UTC days ending with last_day (inclusive)."""
    days = [day_figures(db, mode, last_day - timedelta(days=n), starting_bankroll) for n in range(6, -1, -1)]
    return PeriodFigures(
        label=f"{days[0].label} to {days[-1].label}",
        trades=sum(d.trades for d in days),
        wins=sum(d.wins for d in days),
        losses=sum(d.losses for d in days),
        net_pnl=sum((d.net_pnl for d in days), Decimal("0")),
        fees=sum((d.fees for d in days), Decimal("0")),
        bankroll_start=days[0].bankroll_start,
        bankroll_end=days[-1].bankroll_end,
        kill_events=sum(d.kill_events for d in days),
    )
