"""Text of a recorded-book replay: the latency sweep ("cliff") table and the per-trade lines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from src.model.models import qty
from src.research.recorded_replay import PreparedRecording, ReplayResult

REAL_LABEL = "REAL RECORDED BOOKS: fills walk the Kalshi depth the bot recorded, at Kalshi's fee; no simulated maker."
SYNTHETIC_LABEL = ("SYNTHETIC BOOK: this recording was made by --sim; its books come from the simulated maker, so "
                   "the result reflects the simulator's assumed lag (sim.lag_s), not Kalshi.")


def provenance_label(prep: PreparedRecording) -> str:
    return SYNTHETIC_LABEL if prep.recording.synthetic else REAL_LABEL


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cents(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:+.2f}¢"


def sweep_table(results: list[ReplayResult]) -> list[str]:
    """The latency sweep side by side: P&L, trades and win rate per latency."""
    lines = [f"{'latency':>9} {'orders':>7} {'trades':>7} {'contracts':>10} {'win rate':>9} {'P&L':>11} "
             f"{'per contract':>13} {'fees':>8}"]
    for r in results:
        win = "-" if r.win_rate is None else f"{r.win_rate * 100:.1f}%"
        fees = sum((t.fees for t in r.settled), Decimal(0))
        lines.append(f"{r.latency_ms:>7g}ms {r.orders:>7} {len(r.settled):>7} {qty(r.contracts):>10} {win:>9} "
                     f"{'$' + format(r.pnl, '+.2f'):>11} {_cents(r.cents_per_contract):>13} {'$' + str(fees):>8}")
    return lines


def render_replay(prep: PreparedRecording, results: list[ReplayResult], where: str) -> str:
    rec = prep.recording
    first = min((float(rec.numpy(s, "recv_ts").min()) for s in rec.tables if rec.rows(s)), default=0.0)
    last = max((float(rec.numpy(s, "recv_ts").max()) for s in rec.tables if rec.rows(s)), default=0.0)
    out = [
        f"BACKTEST ON A RECORDING: {where}",
        provenance_label(prep),
        f"{len(rec.days)} day(s), {prep.events:,} events, {_when(first)} to {_when(last)} UTC; BTC source "
        f"{prep.source}; decisions: {results[0].decided_on if results else '-'}",
        "",
        *sweep_table(results),
    ]
    if rec.overlapping_sessions():
        out.append("  WARNING: two recorders wrote this folder at the same time; their events are replayed one "
                   "session after the other. Record with one process per folder.")
    for r in results:
        if r.halted:
            out.append(f"  at {r.latency_ms:g} ms the kill switch stopped trading: {r.halted}")
        unsettled = len(r.trades) - len(r.settled)
        if unsettled:
            out.append(f"  at {r.latency_ms:g} ms {unsettled} position(s) had no recorded result (not counted)")
    if results and results[0].trades:
        out += ["", f"trades at {results[0].latency_ms:g} ms:"]
        for t in results[0].trades:
            pnl = "unsettled" if t.pnl is None else f"P&L ${t.pnl:+}"
            out.append(f"  {_when(t.opened_ts)} {t.ticker} {t.side.upper()} x{qty(t.count)} @ {t.avg_price} "
                       f"fees ${t.fees} {pnl}")
    return "\n".join(out)
