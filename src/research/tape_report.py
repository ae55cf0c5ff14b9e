"""Renders a TAPE backtest report as text or JSON, its fill assumption spelled out at the top."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from src.research.tape_backtest import TapeReport, TapeRun
from src.research.tape_stats import render_tape_stats

_SHOWN = 20  # trades listed in the text report (JSON has them all)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _run_line(run: TapeRun, start: Decimal) -> str:
    win = "-" if run.win_rate is None else f"{run.win_rate:.0%}"
    ret = (run.pnl / start * 100) if start else Decimal(0)
    return (
        f"  {run.latency_s:>6.2f}s  {run.signals:>7}  {run.orders:>6}  {run.filled:>6}  {run.no_print:>8}  "
        f"{run.above_limit:>9}  {run.contracts:>9}  {win:>5}  {run.fees:>8.2f}  {run.pnl:>+10.2f}  {ret:>+7.2f}%"
    )


def render_text(report: TapeReport) -> str:
    lines = [
        f"=== {report.label} BACKTEST (Kalshi public prints + BTC history) ===",
        "",
        "ASSUMPTION (read before trusting any number below):",
        f"  {report.assumption}",
        "",
        f"markets      {report.markets} settled KXBTC15M windows, closing {_when(report.first_close)} .. "
        f"{_when(report.last_close)}",
        f"BTC          {report.btc_source} history, {report.btc_ticks:,} ticks",
        f"bankroll     ${report.starting_bankroll} at the start of each run",
        "",
        "latency sweep (each row one full run):",
        "  latency  signals  orders  filled  no_print  above_lim  contracts   wins      fees         P&L   return",
    ]
    lines += [_run_line(run, report.starting_bankroll) for run in report.runs]
    if report.btc_ticks == 0:
        lines += ["", "no BTC prices in the range: the strategy never had a feed (download with BTC first)"]
    if report.runs:
        top = sorted(report.runs[0].reasons.items(), key=lambda kv: -kv[1])[:6]
        if top:
            lines += ["", "why no signal (latency " + f"{report.runs[0].latency_s:g}s): "
                      + ", ".join(f"{k} {v}" for k, v in top)]
    if report.runs and report.runs[0].trades:
        first = report.runs[0]
        lines += ["", f"trades at latency {first.latency_s:g}s (first {min(len(first.trades), _SHOWN)} of "
                      f"{len(first.trades)}):"]
        lines += [
            f"  {_when(t.decided_ts)}  {t.ticker}  buy {t.count} {t.side.value.upper()} @ {t.price} "
            f"(+{t.fill_ts - t.decided_ts:.2f}s)  fee {t.fee}  {'won' if t.won else 'lost'} {t.pnl:+.2f}"
            for t in first.trades[:_SHOWN]
        ]
    lines += ["", render_tape_stats(report.stats), "", f"({report.seconds:.1f}s)"]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def report_dict(report: TapeReport) -> dict[str, Any]:
    data = asdict(report)
    return {str(k): _plain(v) for k, v in data.items()}


def render_json(report: TapeReport) -> str:
    return json.dumps(report_dict(report), indent=2, sort_keys=True)


__all__ = ["render_json", "render_text", "report_dict"]
