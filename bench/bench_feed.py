"""Benchmark of the price feed: parse + window ticks/s in-process, and websocket ingest vs a bare loop."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/bench_feed.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from src.data.binance import BinanceFeed  # noqa: E402
from tests.fakes.binance_server import FakeBinanceServer, random_walk  # noqa: E402
from tests.fakes.fake_ws import wire_frames  # noqa: E402

TARGET_PARSE_TICKS_PER_S = 500_000
TARGET_INGEST_RATIO = 0.80
START_MS = 1_780_000_000_000
# The same websocket options the feed uses, so the bare loop pays for the same protocol work.
WS_OPTIONS: dict[str, Any] = {"compression": None, "max_size": 2**20, "proxy": None}


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

    That is the fast lane's call (WsFeed._lane: clock read, typed decode, checks, window update,
    counters), exactly what the connection runs for each trade as it is parsed.
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

    # websockets hands the lane each payload as a bytearray: time the feed on exactly that.
    warm_arrays = [bytearray(m) for m in warm_msgs]
    timed_arrays = [bytearray(m) for m in timed]

    def feed() -> float:
        f = BinanceFeed(time.time)
        take = f._lane
        for m in warm_arrays:
            take(m)
        start = _cpu()
        for m in timed_arrays:
            take(m)
        elapsed = _cpu() - start
        if f.ticks != warm + n or f.frames != warm + n or f.malformed:
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


async def _bare_ingest(url: str, n: int) -> float:
    start = _cpu()
    async with ws_connect(url, **WS_OPTIONS) as ws:
        for _ in range(n):
            await ws.recv()
    return _cpu() - start


async def _bare_parse_ingest(url: str, n: int) -> float:
    """The floor for any JSON feed: receive and orjson-parse, nothing else."""
    loads = orjson.loads
    start = _cpu()
    async with ws_connect(url, **WS_OPTIONS) as ws:
        for _ in range(n):
            loads(await ws.recv(False))
    return _cpu() - start


class _RecvOnlyFeed(BinanceFeed):
    """The same feed with every message through websockets' queue and recv(): what the lane saves."""

    uses_fast_lane = False


async def _feed_ingest(server: FakeBinanceServer, n: int, feed_type: type[BinanceFeed] = BinanceFeed) -> float:
    feed = feed_type(time.time, connect=server.connect)
    start = _cpu()
    task = asyncio.ensure_future(feed.run())
    while feed.ticks < n:
        if task.done():
            task.result()
            raise RuntimeError(f"feed stopped after {feed.ticks} ticks: {feed.last_error}")
        await asyncio.sleep(0.02)  # idle time costs no CPU: a slower poll only disturbs the feed less
    elapsed = _cpu() - start
    feed.stop()
    await task
    return elapsed


async def _ingest(quick: bool) -> dict[str, Any]:
    """(b) msgs/s from the local fake server through BinanceFeed vs a bare websockets recv loop.

    The feed takes each trade while websockets parses it (src/data/ws_lane.py), so it skips the queue
    and the recv() call the bare loop pays for per message: it can run faster than the bare loop.
    The same feed with that lane switched off is measured too, to show what the lane is worth.
    """
    n = 30_000 if quick else 150_000
    runs = 2 if quick else 5
    async with FakeBinanceServer() as server:
        # Pre-encoded frames written straight to the socket: the server is not what gets measured.
        server.blast = wire_frames(_messages(n))
        bare_rate = parse_rate = feed_rate = recv_feed_rate = 0.0
        for _ in range(runs):
            bare_rate = max(bare_rate, n / await _bare_ingest(server.url, n))
            parse_rate = max(parse_rate, n / await _bare_parse_ingest(server.url, n))
            feed_rate = max(feed_rate, n / await _feed_ingest(server, n))
            recv_feed_rate = max(recv_feed_rate, n / await _feed_ingest(server, n, _RecvOnlyFeed))
    ratio = feed_rate / bare_rate
    return {
        "messages": n,
        "feed_msgs_per_s": round(feed_rate),
        "bare_websockets_msgs_per_s": round(bare_rate),
        "bare_recv_plus_orjson_msgs_per_s": round(parse_rate),
        "feed_through_recv_msgs_per_s": round(recv_feed_rate),
        "ratio_vs_bare": round(ratio, 3),
        "ratio_vs_bare_plus_orjson": round(feed_rate / parse_rate, 3),
        "ratio_through_recv_vs_bare": round(recv_feed_rate / bare_rate, 3),
        "us_per_msg": {
            "bare_recv": round(1e6 / bare_rate, 2),
            "bare_recv_plus_orjson": round(1e6 / parse_rate, 2),
            "feed": round(1e6 / feed_rate, 2),
            "feed_through_recv": round(1e6 / recv_feed_rate, 2),
        },
        "target_ratio": TARGET_INGEST_RATIO,
        "meets_target": ratio >= TARGET_INGEST_RATIO,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Both feed benchmarks; quick=True for a smoke run of a few seconds."""
    return {"parse_and_window": bench_parse(quick), "websocket_ingest": asyncio.run(_ingest(quick))}


if __name__ == "__main__":
    report = run(quick="--quick" in sys.argv[1:])
    print(json.dumps(report, indent=2))
