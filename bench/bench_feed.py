"""Benchmark of the price feed: parse + window ticks/s in-process, against a bare orjson.loads loop.

The websocket-ingest comparison (and the fast lane it justified) is gone: at Binance's real 50-200
trades/s a few µs per message is irrelevant; what can cost the edge is measured end to end in
bench_kalshi_ws.py (book freshness, tick to order on the wire).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/bench_feed.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from src.data.binance import BinanceFeed  # noqa: E402
from tests.fakes.binance_server import FakeBinanceServer, random_walk  # noqa: E402

TARGET_PARSE_TICKS_PER_S = 500_000
START_MS = 1_780_000_000_000


def _cpu() -> float:
    # CPU seconds of this process: on a shared machine, time stolen by other processes is not
    # charged to the code under test. Every rate below is messages per CPU second, best of N runs.
    return time.process_time()


def _messages(n: int, spacing_ms: int = 2) -> list[bytes]:
    """n consecutive `btcusdt@trade` events as Binance sends them (ids up by one, T every 2 ms)."""
    server = FakeBinanceServer(prices=random_walk(min(n, 20_000), start=100_000.0, step_bp=0.3))
    return server.build_frames(n, START_MS, spacing_ms)


def bench_parse(quick: bool) -> dict[str, Any]:
    """(a) What the feed does per trade message, in-process, vs a bare orjson.loads loop.

    That is what the feed runs for each received trade: a clock read and handle_frame (typed decode,
    checks, window update, counters).
    """
    n = 40_000 if quick else 100_000
    runs = 3 if quick else 5
    warm = 40_000  # 80 s of trades: the window is full and evicting, as in steady state
    msgs = _messages(warm + n)
    warm_msgs, timed = msgs[:warm], msgs[warm:]
    loads = orjson.loads

    def bare() -> float:
        start = _cpu()
        for m in timed:
            loads(m)
        return _cpu() - start

    def feed() -> float:
        f = BinanceFeed(time.time)
        take = f.handle_frame
        clock = time.time
        for m in warm_msgs:
            take(m, clock())
        start = _cpu()
        for m in timed:
            take(m, clock())
        elapsed = _cpu() - start
        if f.ticks != warm + n or f.malformed:
            raise RuntimeError(f"benchmark messages were not all accepted ({f.ticks} ticks, {f.malformed} bad)")
        return elapsed

    # Interleave so both loops see the same machine load; keep each one's best run.
    bare_rate = feed_rate = 0.0
    for _ in range(runs):
        bare_rate = max(bare_rate, n / bare())
        feed_rate = max(feed_rate, n / feed())
    return {
        "messages": n,
        "feed_ticks_per_s": round(feed_rate),
        "bare_orjson_loads_per_s": round(bare_rate),
        "ratio_vs_bare_loads": round(feed_rate / bare_rate, 3),
        "ns_per_tick": round(1e9 / feed_rate),
        "target_ticks_per_s": TARGET_PARSE_TICKS_PER_S,
        "meets_target": feed_rate >= TARGET_PARSE_TICKS_PER_S,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The feed's per-trade cost; quick=True for a smoke run of a few seconds."""
    return {"parse_and_window": bench_parse(quick)}


if __name__ == "__main__":
    report = run(quick="--quick" in sys.argv[1:])
    print(json.dumps(report, indent=2))
