"""Benchmark of the decision core: btc_lag generate_signal and sizing, median and p99 per call."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/bench_signal.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.config import BtcLagConfig  # noqa: E402
from src.model.models import BookLevel, FeedSnapshot, Market, NoSignal, OrderBook, Signal, utc_from_ts  # noqa: E402
from src.risk.sizing import SizingLimits, intent_from_signal, size_position  # noqa: E402
from src.strategies.btc_lag import BtcLagStrategy  # noqa: E402
from src.strategies.fair_value import settlement_log_variance  # noqa: E402

TARGET_MEDIAN_NS = 10_000
NOW = 1_780_000_000.0
STRIKE = 100_000.0
TICKER = "KXBTC15M-26MAY281500-00"


def _market(seconds_left: float) -> Market:
    close = NOW + seconds_left
    return Market(
        ticker=TICKER,
        event_ticker=TICKER.rsplit("-", 1)[0],
        status="active",
        open_time=utc_from_ts(close - 900),
        close_time=utc_from_ts(close),
        floor_strike=Decimal("100000.00"),
    )


def _book(yes_ask: str, no_ask: str) -> OrderBook:
    """A five-level book per side, as Kalshi sends it (ascending, best bid last)."""
    ya, na, tick = Decimal(yes_ask), Decimal(no_ask), Decimal("0.01")
    no_bids = tuple(BookLevel(1 - ya - tick * k, Decimal(20 + 7 * k)) for k in range(4, -1, -1))
    yes_bids = tuple(BookLevel(1 - na - tick * k, Decimal(15 + 5 * k)) for k in range(4, -1, -1))
    return OrderBook(TICKER, yes_bids=yes_bids, no_bids=no_bids, fetched_at=NOW)


def _feeds(p_yes: float, move_pct: float, seconds_left: float, n: int = 64) -> list[FeedSnapshot]:
    """n slightly different snapshots around the BTC price giving P(YES) = p_yes (new tick each call)."""
    sigma = 9e-5
    sd = math.sqrt(settlement_log_variance(sigma, seconds_left))
    base_price = STRIKE * math.exp(NormalDist().inv_cdf(p_yes) * sd)
    feeds = []
    for i in range(n):
        price = base_price * (1 + (i - n / 2) * 1e-6)
        feeds.append(
            FeedSnapshot(
                source="binance",
                price=price,
                last_trade_ts=NOW - 0.2,
                window_start_price=price / (1 + move_pct / 100),
                move_pct=move_pct,
                volatility=sigma * (1 + i / (10 * n)),
                age_s=0.2,
                stale=False,
                gap_in_window=False,
                ticks_in_window=1200 + i,
            )
        )
    return feeds


def _time_calls(call: Callable[[int], object], calls: int) -> dict[str, float]:
    for i in range(min(calls, 1000)):  # warm caches and the interpreter's specialisations
        call(i)
    samples = []
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        call(i)
        samples.append(clock() - start)
    samples.sort()
    return {
        "calls": calls,
        "median_ns": samples[len(samples) // 2],
        "p99_ns": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    }


def _strategy_case(
    strategy: BtcLagStrategy, feeds: list[FeedSnapshot], market: Market, book: OrderBook, expect: str
) -> Callable[[int], object]:
    n = len(feeds)
    first = strategy.evaluate(feeds[0], market, book, NOW)
    got = first.code if isinstance(first, NoSignal) else "signal"
    if got != expect:
        raise RuntimeError(f"benchmark scenario should give {expect}, gave {got}")

    def call(i: int) -> object:
        return strategy.generate_signal(feeds[i % n], market, book, NOW)

    return call


def run(quick: bool = False) -> dict[str, Any]:
    """Median and p99 nanoseconds per call of each decision-core path; quick=True for a smoke run."""
    calls = 3_000 if quick else 50_000
    strategy = BtcLagStrategy(BtcLagConfig())
    market = _market(540.0)
    book = _book("0.62", "0.40")
    cases = {
        # All four conditions hold: fair YES ~0.85 vs ask 0.62, BTC +0.55 %.
        "signal": _strategy_case(strategy, _feeds(0.85, 0.55, 540.0), market, book, "signal"),
        # The common case: BTC barely moved; stops at the fourth cheap check.
        "no_signal_move": _strategy_case(strategy, _feeds(0.55, 0.08, 540.0), market, book, "move_too_small"),
        # The costliest refusal: the model runs, then the gap is too small (fair ~0.65 vs 0.62).
        "no_signal_no_lag": _strategy_case(strategy, _feeds(0.65, 0.55, 540.0), market, book, "no_lag"),
    }
    results: dict[str, Any] = {name: _time_calls(call, calls) for name, call in cases.items()}

    signal = strategy.evaluate(_feeds(0.85, 0.55, 540.0)[0], market, book, NOW)
    if not isinstance(signal, Signal):
        raise RuntimeError("benchmark signal scenario produced no signal")
    limits = SizingLimits()
    bankrolls = [Decimal(50 + 7 * k) for k in range(64)]
    results["size_position"] = _time_calls(
        lambda i: size_position(signal.fair_prob, signal.limit_price, bankrolls[i % 64], limits), calls
    )
    results["intent_from_signal"] = _time_calls(
        lambda i: intent_from_signal(signal, bankrolls[i % 64], limits, client_order_id="bench"), calls
    )
    results["target_median_ns"] = TARGET_MEDIAN_NS
    results["generate_signal_meets_target"] = all(results[name]["median_ns"] <= TARGET_MEDIAN_NS for name in cases)
    return results


if __name__ == "__main__":
    report = run(quick="--quick" in sys.argv[1:])
    print(json.dumps(report, indent=2))
