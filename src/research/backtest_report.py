"""The backtest report: its figures from the run's records, rendered as a text table, JSON and CSV files.

A backtest over the simulated Kalshi book (src/sim/exchange.py) can only find the edge that book
was built to give: its lag. Every output of such a run therefore carries the book label
(src/model/book_label.py): the first line of the text report and of its RESULTS, `book_label` in
report.json, and a `book` column/field on every row of trades.csv and trades.json.

Everything in a report comes from replay data (replay-time timestamps, the file's name and
hash, the configuration), never from the wall clock or the paths of this particular run, so the
same file, seed and configuration give the same report byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from src.model.models import ZERO, usd
from src.reporting.report import settled_figures

_PCT = Decimal("0.1")
SIGNAL_OUTCOMES = ("trading", "size_zero")  # decisions that got a signal from the strategy
KILL_PREFIX = "kill_switch:"


@dataclass(frozen=True, slots=True)
class TradeLine:
    """One trade of the backtest as the database holds it."""

    trade_id: int
    ticker: str
    side: str
    count: Decimal
    avg_price: Decimal
    cost: Decimal
    fees: Decimal
    opened_ts: float
    status: str  # open | settled
    result: str | None
    payout: Decimal | None
    pnl: Decimal | None
    settled_ts: float | None


@dataclass(frozen=True, slots=True)
class WindowLine:
    """One 15-minute market the replay went through."""

    ticker: str
    open_ts: float
    floor_strike: Decimal | None
    expiration_value: Decimal | None
    result: str  # yes | no | "" (never settled inside the data)
    decisions: int
    signals: int
    orders: int
    trades: int
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class KillEventLine:
    """A kill switch state change, in replay time."""

    ts: float
    kind: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Summary:
    """The headline figures, all derived from the trades."""

    trades: int
    settled: int
    open: int
    wins: int
    losses: int
    win_rate: Decimal | None  # wins / settled, None when nothing settled
    gross_pnl: Decimal  # payout - cost of settled trades
    fees: Decimal  # fees of settled trades
    net_pnl: Decimal  # gross - fees
    max_drawdown: Decimal  # dollars, peak to trough of the bankroll after each settlement
    max_drawdown_pct: Decimal  # of the peak


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """Everything a backtest found; render with render_text / render_json, save with write_outputs."""

    source: str
    source_sha256: str | None
    seed: int
    first_ts: float | None
    last_ts: float | None
    ticks: int
    decisions: int
    starting_bankroll: Decimal
    ending_bankroll: Decimal
    summary: Summary
    trades: tuple[TradeLine, ...]
    windows: tuple[WindowLine, ...]
    reasons: tuple[tuple[str, int], ...]  # why_not_trading code -> decisions, most frequent first
    kill_events: tuple[KillEventLine, ...]
    halted: str | None  # why the kill switch stopped the run early, if it did
    parameters: tuple[tuple[str, str], ...]
    book_label: str = ""  # synthetic_book_label(...) for a simulated book; "" for real recorded books

    @property
    def windows_seen(self) -> int:
        return len(self.windows)

    @property
    def windows_with_strike(self) -> int:
        return sum(1 for w in self.windows if w.floor_strike is not None)

    @property
    def windows_traded(self) -> int:
        return sum(1 for w in self.windows if w.trades > 0)

    @property
    def signals(self) -> int:
        return sum(w.signals for w in self.windows)


def summarize(trades: tuple[TradeLine, ...], starting_bankroll: Decimal) -> Summary:
    """Headline figures; the drawdown path is the bankroll after each settlement in settlement order."""
    settled = sorted((t for t in trades if t.status == "settled"), key=lambda t: (t.settled_ts or 0.0, t.trade_id))
    figures = settled_figures(
        starting_bankroll, [t.pnl or ZERO for t in settled], sum((t.fees for t in settled), ZERO)
    )
    return Summary(trades=len(trades), settled=len(settled), open=len(trades) - len(settled), **asdict(figures))


def count_signals(reasons: dict[str, int]) -> int:
    """Decisions in which the strategy signalled (whether or not sizing and the kill switch let it through)."""
    return sum(n for code, n in reasons.items() if code in SIGNAL_OUTCOMES or code.startswith(KILL_PREFIX))


# -- rendering --------------------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(fraction: Decimal | None) -> str:
    return "-" if fraction is None else f"{(fraction * 100).quantize(_PCT)} %"


def count_text(count: Decimal) -> str:
    """A contract count as plain digits: 10, not Decimal.normalize()'s 1E+1; fractions kept (2.5)."""
    return format(count.normalize(), "f")


def render_text(report: BacktestReport) -> str:
    """A plain-text report for the terminal."""
    s = report.summary
    out: list[str] = []
    if report.book_label:
        out.append(report.book_label)
    src = report.source + (f" (sha256 {report.source_sha256[:16]})" if report.source_sha256 else "")
    hours = (report.last_ts - report.first_ts) / 3600 if report.first_ts is not None and report.last_ts else 0.0
    out.append(f"BACKTEST  {src}")
    out.append(f"period    {_when(report.first_ts)} -> {_when(report.last_ts)} ({hours:.1f} h), "
               f"{report.ticks:,} ticks, {report.decisions:,} decisions")
    out.append("settings  " + ", ".join(f"{k}={v}" for k, v in report.parameters))
    if report.halted:
        out.append(f"HALTED    {report.halted}")
    out.append("")
    out.append("RESULTS")
    if report.book_label:
        out.append(f"  {report.book_label}")
    rows = [
        ("trades", f"{s.trades} ({s.settled} settled, {s.open} still open at the end of the data)"),
        ("win rate", f"{_pct(s.win_rate)} ({s.wins} won, {s.losses} lost)"),
        ("P&L net of fees",
         f"{usd(s.net_pnl, signed=True)} (gross {usd(s.gross_pnl, signed=True)}, fees {usd(s.fees)})"),
        ("bankroll", f"{usd(report.starting_bankroll)} -> {usd(report.ending_bankroll)}"),
        ("max drawdown", f"{usd(s.max_drawdown)} ({_pct(s.max_drawdown_pct)} of peak)"),
    ]
    out += [f"  {name:<17} {value}" for name, value in rows]
    out.append("")
    out.append("WINDOWS")
    out.append(f"  seen {report.windows_seen}, with a strike {report.windows_with_strike}, "
               f"traded {report.windows_traded}, signals {report.signals}")
    out.append("")
    out.append("WHY NOT TRADING (share of decisions)")
    total = sum(n for _, n in report.reasons) or 1
    for code, n in report.reasons:
        out.append(f"  {code:<32} {n:>10,}  {Decimal(n * 100) / Decimal(total):6.2f} %")
    out.append("")
    out.append("KILL SWITCH")
    if not report.kill_events:
        out.append("  no events")
    for e in report.kill_events:
        out.append(f"  {_when(e.ts)}  {e.kind:<18} {e.reason:<16} {e.message}")
    out.append("")
    out.append("TRADES")
    if not report.trades:
        out.append("  none")
    else:
        out.append(f"  {'#':>4}  {'opened':<23} {'ticker':<24} {'side':<4} {'count':>5} {'price':>6} "
                   f"{'fees':>6} {'result':<6} {'pnl':>9}")
        for t in report.trades:
            pnl = usd(t.pnl, signed=True) if t.pnl is not None else "open"
            out.append(
                f"  {t.trade_id:>4}  {_when(t.opened_ts):<23} {t.ticker:<24} {t.side:<4} {count_text(t.count):>5} "
                f"{t.avg_price.quantize(Decimal('0.0001'))!s:>6} {t.fees!s:>6} {t.result or '-':<6} {pnl:>9}"
            )
    return "\n".join(out) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _trade_dict(t: TradeLine, book_label: str = "") -> dict[str, Any]:
    row = {f: _plain(getattr(t, f)) for f in TradeLine.__slots__}  # type: ignore[attr-defined]
    if book_label:
        row["book"] = book_label  # each row carries it: a trade copied out of the file stays labelled
    return row


def report_dict(report: BacktestReport) -> dict[str, Any]:
    """The report as plain JSON types (Decimals as strings, times as epoch seconds and ISO text)."""
    s = report.summary
    return {
        "source": report.source,
        "source_sha256": report.source_sha256,
        "seed": report.seed,
        "first_ts": report.first_ts,
        "last_ts": report.last_ts,
        "first_time": _when(report.first_ts),
        "last_time": _when(report.last_ts),
        "ticks": report.ticks,
        "decisions": report.decisions,
        "book_label": report.book_label,
        "parameters": dict(report.parameters),
        "halted": report.halted,
        "starting_bankroll": str(report.starting_bankroll),
        "ending_bankroll": str(report.ending_bankroll),
        "summary": {f: _plain(getattr(s, f)) for f in Summary.__slots__},  # type: ignore[attr-defined]
        "windows_seen": report.windows_seen,
        "windows_with_strike": report.windows_with_strike,
        "windows_traded": report.windows_traded,
        "signals": report.signals,
        "reasons": dict(report.reasons),
        "kill_events": [
            {"ts": e.ts, "time": _when(e.ts), "kind": e.kind, "reason": e.reason, "message": e.message}
            for e in report.kill_events
        ],
        "trades": [_trade_dict(t, report.book_label) for t in report.trades],
        "windows": [{f: _plain(getattr(w, f)) for f in WindowLine.__slots__} for w in report.windows],  # type: ignore[attr-defined]
    }


def render_json(report: BacktestReport) -> str:
    return json.dumps(report_dict(report), indent=2, sort_keys=True) + "\n"


def trades_csv(trades: tuple[TradeLine, ...], book_label: str = "") -> str:
    buf = io.StringIO()
    fields = list(TradeLine.__slots__) + (["book"] if book_label else [])  # type: ignore[attr-defined]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for t in trades:
        writer.writerow({k: ("" if v is None else v) for k, v in _trade_dict(t, book_label).items()})
    return buf.getvalue()


def write_outputs(report: BacktestReport, out_dir: Path) -> list[Path]:
    """report.txt, report.json, trades.csv and trades.json in `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "report.txt": render_text(report),
        "report.json": render_json(report),
        "trades.csv": trades_csv(report.trades, report.book_label),
        "trades.json": json.dumps(
            [_trade_dict(t, report.book_label) for t in report.trades], indent=2, sort_keys=True
        ) + "\n",
    }
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
