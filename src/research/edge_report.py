"""The edge report: does BTC lead Kalshi, how long mispricings last, how well the model forecasts, what latency costs.

All of it is measured on one recording (real books when recorded by --paper, --live or --record-only):
  * Lead-lag: on a one-second grid, the correlation between BTC's (and BRTI's) log return in second t
    and the change of Kalshi's implied probability (the current market's mid) in second t + k, for
    k = 0..60 s. The peak lag is how long Kalshi takes to price a BTC move. A peak at 0-1 s means no
    lag is left to trade.
  * Persistence: seconds in a row in which the fair-value model's price of either side exceeds that
    side's ask by more than strategy.btc_lag.min_gap (median and 90th percentile of the runs).
  * Calibration: the model's P(YES) (the strategy's own formula: fair_value.prob_settle_at_or_above
    with volatility from the last window_s of one-second BTC returns, floored as the strategy floors
    it) and the market's mid, each as a forecast of the recorded `result`: Brier score and reliability
    bins. Seconds of one window are strongly correlated: read the figures with the market count.
  * The latency sweep: the recorded-book replay (src/research/recorded_replay.py) at each latency.
  * Tape statistics of the recorded Kalshi public trades (the websocket's `trade` channel, or a
    download): trades per window, spread from opposite-side prints, 1-s/10-s moves, autocorrelation
    (src/research/tape_stats.py), over the recording's settled windows.
BRTI: where the recording holds CF Benchmarks prints (the websocket's `cfbenchmarks_value`), the
lead-lag is measured for BRTI returns too, beside the trade feed's.
The plain-words line uses the sweep at the measured latency: the median delay from a decision to the
paper executor's book fetch in this recording, or 250 ms when it holds no order to measure.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from src.config import Settings
from src.model.models import Market
from src.recording.reader import Recording
from src.recording.schema import BOOK, BRTI, BTC, DECISION, KALSHI_TRADE, ORIGIN_ORDER
from src.research.edge_stats import brier, lagged_correlations, peak_lag, percentile, reliability, run_lengths
from src.research.recorded_book import book_events, market_events
from src.research.recorded_replay import PreparedRecording, ReplayResult, prepare, run_sweep
from src.research.tape_recording import tape_from_recording
from src.research.tape_stats import render_tape_stats, tape_statistics
from src.strategies.fair_value import prob_settle_at_or_above

MAX_LAG_S = 60
ASSUMED_LATENCY_MS = 250.0
BOOK_STALE_S = 10.0  # a book older than this at a grid second is not used
NO_TAPE = "Tape statistics: no Kalshi public trades in this recording (the websocket's trade channel records them)."


@dataclass(frozen=True, slots=True)
class SweepRow:
    latency_ms: float
    orders: int
    trades: int
    contracts: str
    pnl: str
    win_rate: float | None
    cents_per_contract: str | None


@dataclass
class EdgeReport:
    """Everything --edge-report prints and the dashboard's Edge page draws (JSON-ready values)."""

    recording: str
    synthetic: bool
    first_ts: float
    last_ts: float
    events: int
    markets: int
    settled_markets: int
    headline: str
    measured_latency_ms: float | None
    lead_lag_btc: list[float | None]
    lead_lag_brti: list[float | None]
    peak_lag_btc: int | None
    peak_lag_brti: int | None
    min_gap: str
    mispricing_runs: int
    mispriced_share: float | None
    persistence_median_s: float | None
    persistence_p90_s: float | None
    calibration_points: int
    brier_model: float | None
    brier_market: float | None
    reliability_model: list[dict[str, float]]
    reliability_market: list[dict[str, float]]
    sweep: list[SweepRow]
    tape_text: str = NO_TAPE  # the tape statistics as printed
    tape: dict[str, Any] | None = None  # the same figures, JSON-ready (None where undefined)
    created_ts: float = field(default_factory=time.time)


def _last_at(times: np.ndarray, values: np.ndarray, grid: np.ndarray, max_age: float) -> np.ndarray:
    """values[i] of the latest times[i] <= each grid second (NaN before the first, or when older than max_age)."""
    out = np.full(len(grid), np.nan)
    if len(times) == 0:
        return out
    idx = np.searchsorted(times, grid, side="right") - 1
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    age = np.full(len(grid), np.inf)
    age[ok] = grid[ok] - times[idx[ok]]
    out[age > max_age] = np.nan
    return out


def _markets(rec: Recording) -> list[Market]:
    """One Market per ticker: its latest metadata with a strike, and a result if any answer had one."""
    by_ticker: dict[str, Market] = {}
    results: dict[str, str] = {}
    for m in market_events(rec):
        if m.result:
            results[m.ticker] = m.result
        if m.floor_strike is not None or m.ticker not in by_ticker:
            by_ticker[m.ticker] = m
    return sorted((replace(m, result=results.get(t, m.result)) for t, m in by_ticker.items()),
                  key=lambda m: m.open_time)


def measured_latency_ms(rec: Recording) -> float | None:
    """Median delay from each approved decision to the executor's fetch of the book it filled against."""
    if not rec.rows(DECISION) or not rec.rows(BOOK):
        return None
    origins = np.asarray(rec.column(BOOK, "origin"), dtype=object)
    order_rows = np.flatnonzero(origins == ORIGIN_ORDER)
    if not len(order_rows):
        return None
    b_key = list(zip(rec.numpy(BOOK, "session")[order_rows].tolist(), rec.numpy(BOOK, "seq")[order_rows].tolist(),
                     strict=True))
    b_recv = rec.numpy(BOOK, "recv_ts")[order_rows]
    b_ticker = [rec.column(BOOK, "ticker")[i] for i in order_rows.tolist()]
    delays = []
    sessions, seqs = rec.numpy(DECISION, "session"), rec.numpy(DECISION, "seq")
    for i, (code, ticker) in enumerate(zip(rec.column(DECISION, "code"), rec.column(DECISION, "ticker"), strict=True)):
        if code != "trading":
            continue
        key = (int(sessions[i]), int(seqs[i]))
        j = next((j for j, k in enumerate(b_key) if k > key and b_ticker[j] == ticker), None)
        if j is not None and b_key[j][0] == key[0]:
            delays.append(1000.0 * (float(b_recv[j]) - rec.column(DECISION, "recv_ts")[i]))
    return float(np.median(delays)) if delays else None


def _sweep_rows(results: list[ReplayResult]) -> list[SweepRow]:
    return [
        SweepRow(r.latency_ms, r.orders, len(r.settled), str(r.contracts), str(r.pnl), r.win_rate,
                 None if r.cents_per_contract is None else str(r.cents_per_contract))
        for r in results
    ]


def headline(sweep: list[SweepRow], latency_ms: float | None) -> str:
    """The plain-words line at the top of the report."""
    if not sweep:
        return "No latency was replayed: no verdict."
    target = ASSUMED_LATENCY_MS if latency_ms is None else latency_ms
    row = min(sweep, key=lambda r: (abs(r.latency_ms - target), r.latency_ms))
    how = (f"your measured latency ({latency_ms:.0f} ms)" if latency_ms is not None
           else f"an assumed latency of {ASSUMED_LATENCY_MS:.0f} ms (no order in this recording to measure it from)")
    if row.latency_ms != target:
        how += f", replayed at {row.latency_ms:g} ms"
    if row.trades == 0 or row.cents_per_contract is None:
        return f"On this recording the strategy made no settled trade at {how}: no evidence either way."
    cents = Decimal(row.cents_per_contract)
    verb = "makes" if cents > 0 else "loses"
    return (f"On this recording the strategy {verb} {abs(cents)}¢ per contract at {how}: P&L ${Decimal(row.pnl):+} "
            f"over {row.trades} trade(s) after fees.")


def _json_ready(value: Any) -> Any:
    """NaN (an undefined statistic) becomes None: the saved report is strict JSON."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def tape_section(rec: Recording) -> tuple[str, dict[str, Any] | None]:
    """The tape statistics of the recording's Kalshi public trades: (text, JSON-ready figures)."""
    if not rec.rows(KALSHI_TRADE):
        return NO_TAPE, None
    tape = tape_from_recording(rec)
    stats = tape_statistics(tape.trades, tape.close_ts)
    return render_tape_stats(stats), _json_ready(asdict(stats))


def build_edge_report(settings: Settings, rec: Recording, latencies_ms: tuple[float, ...], *, where: str,
                      prep: PreparedRecording | None = None) -> EdgeReport:
    app = settings.app
    lag_cfg = app.strategy.btc_lag
    prep = prep or prepare(rec, app.feed.source)
    firsts = [float(rec.numpy(s, "recv_ts").min()) for s in rec.tables if rec.rows(s)]
    lasts = [float(rec.numpy(s, "recv_ts").max()) for s in rec.tables if rec.rows(s)]
    first, last = (min(firsts), max(lasts)) if firsts else (0.0, 0.0)
    grid = np.arange(math.ceil(first), math.floor(last) + 1, 1.0) if firsts else np.zeros(0)
    stale = float(app.feed.stale_after_s)

    # BTC (the configured source when recorded) and BRTI on the grid.
    src = np.asarray(rec.column(BTC, "source"), dtype=object)
    pick = src == prep.source
    btc = _last_at(rec.numpy(BTC, "recv_ts")[pick], rec.numpy(BTC, "price")[pick], grid, stale)
    is_brti = np.asarray([i in (None, "BRTI") for i in rec.column(BRTI, "index_id")], dtype=bool)
    brti_vals = np.asarray([float(v) for v in rec.column(BRTI, "value")], dtype=float)
    brti = _last_at(rec.numpy(BRTI, "recv_ts")[is_brti], brti_vals[is_brti], grid, stale)

    # The current market of each second, and its book's best prices.
    markets = _markets(rec)
    market_id = np.full(len(grid), -1)
    for i, m in enumerate(markets):
        lo = np.searchsorted(grid, m.open_time.timestamp(), side="left")
        hi = np.searchsorted(grid, m.close_time.timestamp(), side="left")
        market_id[lo:hi] = i
    per_ticker: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for ev in book_events(rec):
        if ev is None or ev.book is None:
            continue
        yes_bid = ev.book.yes_bids[-1].price if ev.book.yes_bids else None
        no_bid = ev.book.no_bids[-1].price if ev.book.no_bids else None
        t, y, n = per_ticker.setdefault(ev.ticker, ([], [], []))
        t.append(ev.recv_ts)
        y.append(float(yes_bid) if yes_bid is not None else np.nan)
        n.append(float(no_bid) if no_bid is not None else np.nan)
    yes_bid_g = np.full(len(grid), np.nan)
    no_bid_g = np.full(len(grid), np.nan)
    strike_g = np.full(len(grid), np.nan)
    close_g = np.full(len(grid), np.nan)
    outcome_g = np.full(len(grid), np.nan)
    for i, m in enumerate(markets):
        mask = market_id == i
        if not mask.any():
            continue
        if m.floor_strike is not None:
            strike_g[mask] = float(m.floor_strike)
        close_g[mask] = m.close_time.timestamp()
        if m.result in ("yes", "no"):
            outcome_g[mask] = 1.0 if m.result == "yes" else 0.0
        hist = per_ticker.get(m.ticker)
        if hist is None:
            continue
        t = np.asarray(hist[0])
        order = np.argsort(t, kind="stable")
        yes_bid_g[mask] = _last_at(t[order], np.asarray(hist[1])[order], grid[mask], BOOK_STALE_S)
        no_bid_g[mask] = _last_at(t[order], np.asarray(hist[2])[order], grid[mask], BOOK_STALE_S)
    yes_ask = 1.0 - no_bid_g
    no_ask = 1.0 - yes_bid_g
    mid = (yes_bid_g + yes_ask) / 2.0

    # Lead-lag: BTC's return in second t against the mid's change in second t + k (same market only).
    same = np.zeros(len(grid), dtype=bool)
    same[1:] = (market_id[1:] == market_id[:-1]) & (market_id[1:] >= 0)
    dmid = np.full(len(grid), np.nan)
    dmid[1:] = mid[1:] - mid[:-1]
    dmid[~same] = np.nan
    ret = np.full(len(grid), np.nan)
    ret[1:] = np.log(btc[1:] / btc[:-1])
    bret = np.full(len(grid), np.nan)
    bret[1:] = np.log(brti[1:] / brti[:-1])
    ll_btc = lagged_correlations(ret, dmid, MAX_LAG_S)
    ll_brti = lagged_correlations(bret, dmid, MAX_LAG_S) if is_brti.any() else []

    # The model's P(YES) each second: the strategy's formula and volatility floor.
    window = max(1, int(app.feed.window_s))
    r2 = np.nan_to_num(ret) ** 2
    cum = np.concatenate([[0.0], np.cumsum(r2)])
    idx = np.arange(len(grid))
    var = (cum[idx + 1] - cum[np.maximum(idx + 1 - window, 0)]) / window
    sigma = np.maximum(np.sqrt(var), lag_cfg.min_volatility_per_s)
    left = close_g - grid
    p_yes = np.full(len(grid), np.nan)
    valid = np.isfinite(btc) & np.isfinite(strike_g) & (left > 0)
    for i in np.flatnonzero(valid).tolist():
        p_yes[i] = prob_settle_at_or_above(float(btc[i]), float(strike_g[i]), float(sigma[i]), float(left[i]))

    # Persistence of mispricings larger than min_gap.
    min_gap = float(lag_cfg.min_gap)
    gap = np.fmax(p_yes - yes_ask, (1.0 - p_yes) - no_ask)
    seen = np.isfinite(gap)
    flags = seen & (gap > min_gap)
    runs = run_lengths(flags[seen], market_id[seen])

    # Calibration against the recorded results (seconds with a model price, a mid and a known outcome).
    cal = np.isfinite(p_yes) & np.isfinite(mid) & np.isfinite(outcome_g)
    model_f, market_f, outcome = p_yes[cal], np.clip(mid[cal], 0.0, 1.0), outcome_g[cal]

    results = run_sweep(settings, prep, latencies_ms)
    sweep = _sweep_rows(results)
    latency = measured_latency_ms(rec)
    tape_text, tape = tape_section(rec)
    return EdgeReport(
        recording=where,
        synthetic=rec.synthetic,
        first_ts=first,
        last_ts=last,
        events=rec.events,
        markets=len(markets),
        settled_markets=sum(1 for m in markets if m.result in ("yes", "no")),
        headline=headline(sweep, latency),
        measured_latency_ms=latency,
        lead_lag_btc=ll_btc,
        lead_lag_brti=ll_brti,
        peak_lag_btc=peak_lag(ll_btc),
        peak_lag_brti=peak_lag(ll_brti) if ll_brti else None,
        min_gap=str(lag_cfg.min_gap),
        mispricing_runs=len(runs),
        mispriced_share=float(flags.sum() / seen.sum()) if seen.any() else None,
        persistence_median_s=percentile(runs, 50),
        persistence_p90_s=percentile(runs, 90),
        calibration_points=int(cal.sum()),
        brier_model=brier(model_f, outcome),
        brier_market=brier(market_f, outcome),
        reliability_model=[_bin(b) for b in reliability(model_f, outcome)],
        reliability_market=[_bin(b) for b in reliability(market_f, outcome)],
        sweep=sweep,
        tape_text=tape_text,
        tape=tape,
    )


def _bin(b: object) -> dict[str, float]:
    return {k: float(getattr(b, k)) for k in ("lo", "hi", "n", "mean_forecast", "observed")}
