"""Render a DayReport as a terminal table or as JSON for scripts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from src.model.models import CENT, usd
from src.reporting.report import DayReport


def _hhmm(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S") if ts is not None else "-"


def render_text(r: DayReport) -> str:
    lines = [f"Report for {r.day} (UTC), mode {r.mode.upper()}", ""]
    rate = f"{(r.win_rate * 100).quantize(Decimal('0.1'))}%" if r.win_rate is not None else "n/a"
    summary = [
        ("Trades settled", str(len(r.settled))),
        ("Still open", str(len(r.opened_still_open))),
        ("Wins / losses", f"{r.wins} / {r.losses}"),
        ("Win rate", rate),
        ("Gross P&L", usd(r.gross_pnl)),
        ("Fees", usd(r.fees)),
        ("Net P&L", usd(r.net_pnl)),
        ("Bankroll start", usd(r.bankroll_start)),
        ("Bankroll end", usd(r.bankroll_end)),
        ("Max drawdown", f"{usd(r.max_drawdown)} ({(r.max_drawdown_pct * 100).quantize(Decimal('0.1'))}%)"),
        ("Kill switch events", str(len(r.kill_events))),
    ]
    width = max(len(k) for k, _ in summary)
    lines += [f"  {k:<{width}}  {v}" for k, v in summary]
    if r.settled:
        lines += ["", "  Settled trades", "  " + "-" * 86]
        lines.append(
            f"  {'settled':<9}{'ticker':<28}{'side':<5}{'count':>7}{'avg':>8}{'fees':>8}{'result':>8}{'P&L':>11}"
        )
        for t in r.settled:
            lines.append(
                f"  {_hhmm(t.settled_ts):<9}{t.ticker:<28}{t.side.value:<5}{t.count.normalize():>7}"
                f"{t.avg_price.quantize(Decimal('0.0001')):>8}{t.fees.quantize(CENT):>8}"
                f"{(t.result or '-'):>8}{usd(t.pnl or Decimal(0)):>11}"
            )
    if r.opened_still_open:
        lines += ["", "  Open positions"]
        for t in r.opened_still_open:
            lines.append(f"  {_hhmm(t.opened_ts):<9}{t.ticker:<28}{t.side.value:<5}{t.count.normalize():>7}"
                         f" cost {usd(t.cost)}")
    if r.kill_events:
        lines += ["", "  Kill switch events"]
        lines += [f"  {_hhmm(e.ts):<9}{e.kind:<16}{e.reason}" for e in r.kill_events]
    return "\n".join(lines)


def render_json(r: DayReport) -> str:
    def trade(t) -> dict:
        return {
            "ticker": t.ticker, "side": t.side.value, "count": str(t.count), "avg_price": str(t.avg_price),
            "cost": str(t.cost), "fees": str(t.fees), "opened_ts": t.opened_ts, "status": t.status,
            "result": t.result, "payout": None if t.payout is None else str(t.payout),
            "pnl": None if t.pnl is None else str(t.pnl), "settled_ts": t.settled_ts,
        }

    body = {
        "day": r.day, "mode": r.mode, "trades_settled": len(r.settled), "still_open": len(r.opened_still_open),
        "wins": r.wins, "losses": r.losses, "win_rate": None if r.win_rate is None else str(r.win_rate),
        "gross_pnl": str(r.gross_pnl), "fees": str(r.fees), "net_pnl": str(r.net_pnl),
        "bankroll_start": str(r.bankroll_start), "bankroll_end": str(r.bankroll_end),
        "max_drawdown": str(r.max_drawdown), "max_drawdown_pct": str(r.max_drawdown_pct),
        "kill_switch_events": [{"ts": e.ts, "kind": e.kind, "reason": e.reason} for e in r.kill_events],
        "settled": [trade(t) for t in r.settled], "open": [trade(t) for t in r.opened_still_open],
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
