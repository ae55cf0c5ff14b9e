"""Text of the edge report, plain words first."""

from __future__ import annotations

from datetime import UTC, datetime

from src.research.edge_report import EdgeReport

SYNTHETIC_NOTE = ("SYNTHETIC: this recording was made by --sim (simulated books): the figures describe the "
                  "simulator's assumptions, not Kalshi.")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "-" if x is None else format(x, fmt)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _lag_line(name: str, corr: list[float | None], peak: int | None) -> list[str]:
    if not corr or peak is None:
        return [f"  {name}: not enough data"]
    shown = ", ".join(f"{k}s {_num(corr[k], '+.3f')}" for k in (0, 1, 2, 5, 10, 20, 30, 60) if k < len(corr))
    return [f"  {name}: peak at {peak} s (correlation {_num(corr[peak], '+.3f')}); {shown}"]


def render_edge_report(r: EdgeReport) -> str:
    out = [r.headline, ""]
    if r.synthetic:
        out += [SYNTHETIC_NOTE, ""]
    out += [
        f"EDGE REPORT: {r.recording}",
        f"{_when(r.first_ts)} to {_when(r.last_ts)} UTC, {r.events:,} events, {r.markets} market(s), "
        f"{r.settled_markets} with a recorded result",
        "",
        "Lead-lag (BTC return in second t vs Kalshi mid change in second t+k; a peak above 1-2 s is a lag to trade):",
        *_lag_line("BTC", r.lead_lag_btc, r.peak_lag_btc),
        *(_lag_line("BRTI", r.lead_lag_brti, r.peak_lag_brti) if r.lead_lag_brti else ["  BRTI: not recorded"]),
        "",
        f"Mispricings above min_gap {r.min_gap} (model fair value minus ask, either side):",
        f"  {r.mispricing_runs} run(s), {_pct(r.mispriced_share)} of seconds; lasting median "
        f"{_num(r.persistence_median_s, '.0f')} s, p90 {_num(r.persistence_p90_s, '.0f')} s",
        "",
        f"Calibration against recorded results ({r.calibration_points:,} seconds of {r.settled_markets} market(s)):",
        f"  Brier score: model {_num(r.brier_model)}, market mid {_num(r.brier_market)} (lower is better; "
        "0.25 is a coin flip)",
    ]
    for name, bins in (("model", r.reliability_model), ("market", r.reliability_market)):
        cells = "  ".join(f"{b['lo']:.1f}-{b['hi']:.1f}: {b['observed'] * 100:.0f}% of {int(b['n'])}" for b in bins)
        out.append(f"  reliability ({name}, forecast bin: how often YES): {cells or '-'}")
    measured = "-" if r.measured_latency_ms is None else f"{r.measured_latency_ms:.0f} ms"
    out += ["", f"Latency sweep (recorded books; measured decision-to-book latency: {measured}):",
            f"  {'latency':>9} {'orders':>7} {'trades':>7} {'contracts':>10} {'win rate':>9} {'P&L':>10} "
            f"{'¢/contract':>11}"]
    for s in r.sweep:
        out.append(f"  {s.latency_ms:>7g}ms {s.orders:>7} {s.trades:>7} {s.contracts:>10} {_pct(s.win_rate):>9} "
                   f"{'$' + s.pnl:>10} {s.cents_per_contract or '-':>11}")
    out += ["", r.tape_text]
    return "\n".join(out)
