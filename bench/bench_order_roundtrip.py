"""Benchmark of one Kalshi order round trip (sign, send over TLS, parse) against the local fake server."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/bench_order_roundtrip.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from src.model.models import Side  # noqa: E402
from src.net.rate_limit import TokenBucket  # noqa: E402
from tests.fakes.kalshi_server import FakeKalshiServer, start_fake_kalshi  # noqa: E402

TARGET_P99_MS = 2.0
ORDER_PATH = "/trade-api/v2/portfolio/events/orders"
NOTE = (
    "Client and fake server share this machine's 2 cores: every figure includes the server's TLS, "
    "JSON and RSA-PSS signature verification work, so a real venue round trip adds network time but "
    "removes that server CPU. Orders are paced at the 5 writes/s limit; latency is measured after "
    "the rate-limit wait, so it is the cost of the call itself. The bucket lets 5 orders through "
    "and then waits about a second: *_by_idle splits the first order after that wait from the "
    "others, and rsa_pss_sign_after_idle_ms shows the same slowdown on a signature alone."
)


def _percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        raise ValueError("no samples")
    # Smallest rank r with r/n >= q/100 (p99 of 100 samples is the 99th, not the largest); the
    # rounding guards against 0.99 * 100 landing a hair above 99.
    rank = max(1, min(len(sorted_ms), math.ceil(round(q / 100 * len(sorted_ms), 9))))
    return sorted_ms[rank - 1]


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(_percentile(ordered, 50), 4),
        "p90_ms": round(_percentile(ordered, 90), 4),
        "p99_ms": round(_percentile(ordered, 99), 4),
        "max_ms": round(ordered[-1], 4),
        "mean_ms": round(sum(ordered) / len(ordered), 4),
    }


async def _pace(bucket: TokenBucket) -> float:
    """Wait for a write token; returns the seconds waited (the idle time before the order)."""
    wait = bucket.time_until_available()
    if wait > 0:
        await asyncio.sleep(wait)
    return max(wait, 0.0)


# An order sent after this much idle time counts as "after idle" in the split below.
IDLE_S = 0.05
Sample = tuple[float, float]  # (round trip ms, idle seconds before it)


async def _client_loop(server: FakeKalshiServer, ticker: str, n: int, warmup: int) -> list[Sample]:
    samples: list[Sample] = []
    async with server.client() as client:
        for i in range(warmup + n):
            idle = await _pace(client.write_limiter)
            start = time.perf_counter()
            order = await client.place_order(ticker, Side.YES, Decimal("1"), Decimal("0.55"), f"bench-c-{i}")
            elapsed = (time.perf_counter() - start) * 1000
            if order.status != "executed":
                raise RuntimeError(f"benchmark order did not execute: {order.status}")
            if i >= warmup:
                samples.append((elapsed, idle))
    return samples


async def _bare_loop(server: FakeKalshiServer, ticker: str, n: int, warmup: int) -> list[Sample]:
    """Reference: the same request built by hand (sign + aiohttp POST + json), paced the same way."""
    auth = server.auth()
    bucket = TokenBucket.per_second(5)
    url = f"https://demo-api.kalshi.co{ORDER_PATH}"
    samples: list[Sample] = []
    async with aiohttp.ClientSession(connector=server.connector()) as session:
        for i in range(warmup + n):
            idle = await _pace(bucket)
            async with bucket.hold():
                start = time.perf_counter()
                body = json.dumps(
                    {
                        "ticker": ticker,
                        "client_order_id": f"bench-r-{i}",
                        "side": "bid",
                        "count": "1.00",
                        "price": "0.5500",
                        "time_in_force": "fill_or_kill",
                        "self_trade_prevention_type": "taker_at_cross",
                    }
                ).encode()
                headers = {"Content-Type": "application/json", **auth.headers("POST", ORDER_PATH)}
                async with session.post(url, data=body, headers=headers) as resp:
                    payload = json.loads(await resp.read())
                elapsed = (time.perf_counter() - start) * 1000
            if resp.status != 201 or payload.get("fill_count") != "1.00":  # Kalshi answers 201 Created
                raise RuntimeError(f"reference order failed: {resp.status} {payload}")
            if i >= warmup:
                samples.append((elapsed, idle))
    return samples


def _sign_cost_ms(server: FakeKalshiServer, n: int) -> float:
    auth = server.auth()
    start = time.perf_counter()
    for _ in range(n):
        auth.headers("POST", ORDER_PATH)
    return round((time.perf_counter() - start) * 1000 / n, 4)


async def _sign_cost_after_idle_ms(server: FakeKalshiServer, n: int) -> float:
    """Median cost of one signature made after IDLE_S of doing nothing, as every paced order's is."""
    auth = server.auth()
    costs: list[float] = []
    for _ in range(n):
        await asyncio.sleep(IDLE_S)
        start = time.perf_counter()
        auth.headers("POST", ORDER_PATH)
        costs.append((time.perf_counter() - start) * 1000)
    return round(_percentile(sorted(costs), 50), 4)


def _split(samples: list[Sample]) -> dict[str, Any]:
    """Round trips after an idle wait vs straight after another order: on a shared VM they differ."""
    idle = [ms for ms, waited in samples if waited >= IDLE_S]
    busy = [ms for ms, waited in samples if waited < IDLE_S]
    return {
        "after_idle": _summary(idle) if idle else None,
        "back_to_back": _summary(busy) if busy else None,
    }


async def _run(n: int, warmup: int) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with start_fake_kalshi(key) as server:
        market = server.fake.add_kxbtc15m_market(time.time(), floor_strike="95000")
        server.fake.set_book(market.ticker, no=[("0.50", "1000000")])
        server.fake.set_balance("1000000")
        client_samples = await _client_loop(server, market.ticker, n, warmup)
        bare_samples = await _bare_loop(server, market.ticker, n, warmup)
        sign_ms = _sign_cost_ms(server, 200)
        sign_idle_ms = await _sign_cost_after_idle_ms(server, 10 if n < 50 else 40)
    client = _summary([ms for ms, _ in client_samples])
    bare = _summary([ms for ms, _ in bare_samples])
    return {
        "orders": n,
        "kalshi_client": client,
        "bare_aiohttp_sign_loop": bare,
        "ratio_p50": round(client["p50_ms"] / bare["p50_ms"], 3),
        "ratio_p99": round(client["p99_ms"] / bare["p99_ms"], 3),
        "kalshi_client_by_idle": _split(client_samples),
        "bare_by_idle": _split(bare_samples),
        "rsa_pss_sign_ms": sign_ms,
        "rsa_pss_sign_after_idle_ms": sign_idle_ms,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": client["p99_ms"] <= TARGET_P99_MS,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "note": NOTE,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """p50/p99 of KalshiClient.place_order against the local fake, and of a bare sign+POST loop."""
    return asyncio.run(_run(n=15 if quick else 100, warmup=2 if quick else 5))


if __name__ == "__main__":
    report = run(quick="--quick" in sys.argv[1:])
    print(json.dumps(report, indent=2))
