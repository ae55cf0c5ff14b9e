"""Benchmark of read throughput (requests/s, N concurrent callers) of our KalshiClient vs the official Kalshi SDK.

Both clients read the same two public endpoints from the same local fake Kalshi server
(tests/fakes/kalshi_server.py, 2026 fixed-point shapes, over TLS on 127.0.0.1), which runs in a
child process so that its work is not charged to the client being measured:

- GET /markets/{ticker}/orderbook  (25 price levels per side)
- GET /markets?series_ticker=KXBTC15M&status=open&limit=200  (a one-page listing of 10 markets)

How each client is set up, and why:
- Ours: the production KalshiClient; only its transport is injected (a connector whose resolver
  maps the real Kalshi hostnames to the fake and whose TLS context trusts the fake's test CA), so
  URLs, allowlist checks, TLS verification, the retry policy and the Decimal parsing into
  OrderBook / Market dataclasses all run as in production. Its read token bucket is 10 reads/s by
  design and the constructor refuses more (HARD_READS_PER_S), so for the throughput figure the
  benchmark swaps in a bucket with one token per caller and a 1 µs period: the bucket code still
  runs on every request but never makes anyone wait. The throttled figure (the real 10 reads/s
  bucket) is measured too.
- The SDK (kalshi-python-async 3.x, requirements-bench.txt): pointed at the fake through its
  Configuration host (https://127.0.0.1:PORT/trade-api/v2). The fake's certificate names the
  Kalshi hosts, not 127.0.0.1, so the SDK runs with verify_ssl=False: still TLS, just no
  certificate check (a per-connection cost only; connections are kept alive). Its response models
  cannot read the 2026 shapes (no `orderbook` object, missing legacy fields), so it uses its raw
  calls (`*_without_preload_content`) and json.loads: less work than ours, which builds typed
  Decimal objects. It has no rate limiter.

Each round runs every (client, endpoint) pair for a fixed duration, interleaved so that both see
the same machine load; the best round of each is kept. Besides requests/s, the client process's
CPU time per request is reported (it does not depend on how busy the server is).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import select
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Run as `python bench/bench_sdk_compare.py`: make the repository root importable.
    sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402

from src.model.kxbtc15m import SERIES  # noqa: E402
from src.net.rate_limit import TokenBucket  # noqa: E402
from src.platforms.kalshi import KalshiClient  # noqa: E402
from tests.fakes.kalshi_server import KALSHI_HOSTS, FakeKalshi, HostMapResolver, start_fake_kalshi  # noqa: E402

TARGET_RATIO = 2.0
CALLERS = 8
BOOK_LEVELS = 25
LISTED_MARKETS = 10
SERVER_START_TIMEOUT_S = 60.0
ENDPOINTS = ("orderbook", "markets")
CLIENTS = ("ours", "sdk")

Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ServerInfo:
    port: int
    ca_pem: str
    ticker: str


@dataclass(frozen=True)
class Sample:
    requests: int
    seconds: float
    cpu_seconds: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.cpu_seconds / self.requests


# ---------------------------------------------------------------------------------------- the server


def populate(fake: FakeKalshi, now: float) -> str:
    """Ten open KXBTC15M markets; the current one gets a 25-level book per side. Returns its ticker."""
    current = fake.add_kxbtc15m_market(now, floor_strike="95000.12")
    for k in range(1, LISTED_MARKETS):
        fake.add_kxbtc15m_market(now, floor_strike=f"{95000 + 13 * k}.50", offset_windows=k)
    cent = Decimal("0.01")
    yes = [(Decimal("0.15") + cent * i, Decimal(10 + 3 * i)) for i in range(BOOK_LEVELS)]
    no = [(Decimal("0.20") + cent * i, Decimal(12 + 2 * i)) for i in range(BOOK_LEVELS)]
    fake.set_book(current.ticker, yes=yes, no=no)
    return current.ticker


async def _serve_until_stdin_closes() -> None:
    async with start_fake_kalshi() as server:
        ticker = populate(server.fake, time.time())
        info = {"port": server.port, "ca_pem": server.tls.ca_pem, "ticker": ticker}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        # The parent closing our stdin (or writing anything) stops the server.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def serve() -> None:
    """Child-process entry point: serve the fake Kalshi, print its port and CA as one JSON line, stop on stdin."""
    asyncio.run(_serve_until_stdin_closes())


class ServerProcess:
    """The fake Kalshi server in a child Python process (its CPU is not charged to the measured client)."""

    def __init__(self) -> None:
        code = "from bench.bench_sdk_compare import serve; serve()"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        if self._process.stdout is None or not _readable_within(self._process.stdout, SERVER_START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"the fake Kalshi server did not start within {SERVER_START_TIMEOUT_S:g} s")
        line = self._process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the fake Kalshi server exited at start (code {self._process.returncode})")
        raw = json.loads(line)
        self.info = ServerInfo(port=int(raw["port"]), ca_pem=str(raw["ca_pem"]), ticker=str(raw["ticker"]))

    def stop(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            self._process.wait(5)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readable_within(stream: IO[str], timeout_s: float) -> bool:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    return bool(ready)


# ---------------------------------------------------------------------------------------- the clients


def our_connector(info: ServerInfo) -> aiohttp.TCPConnector:
    """The production hostnames resolved to the fake; TLS verified against the fake's test CA."""
    resolver = HostMapResolver({host: ("127.0.0.1", info.port) for host in KALSHI_HOSTS})
    return aiohttp.TCPConnector(resolver=resolver, ssl=ssl.create_default_context(cadata=info.ca_pem),
                                use_dns_cache=False)


def our_client(info: ServerInfo, *, callers: int, throttled: bool) -> KalshiClient:
    client = KalshiClient(env="demo", connector_factory=lambda: our_connector(info), request_timeout_s=30.0)
    if not throttled:
        # Benchmark only: the constructor refuses more than the 10 reads/s code limit, so the bucket
        # is replaced after construction. One token per caller, back after 1 µs: never a wait.
        open_bucket = TokenBucket(callers, 1e-6)
        client._reads = open_bucket
        if client.read_limiter is not open_bucket:
            raise RuntimeError("KalshiClient no longer keeps its read bucket in _reads: update this benchmark")
    return client


def our_calls(client: KalshiClient, ticker: str) -> dict[str, Call]:
    async def orderbook() -> None:
        book = await client.get_orderbook(ticker)
        if len(book.yes_bids) != BOOK_LEVELS:
            raise RuntimeError(f"our client read {len(book.yes_bids)} YES levels, expected {BOOK_LEVELS}")

    async def markets() -> None:
        rows = await client.get_markets(series_ticker=SERIES, status="open")
        if len(rows) != LISTED_MARKETS:
            raise RuntimeError(f"our client listed {len(rows)} markets, expected {LISTED_MARKETS}")

    return {"orderbook": orderbook, "markets": markets}


def sdk_api(info: ServerInfo) -> Any:
    """kalshi_python_async's ApiClient pointed at the fake through its Configuration host."""
    import kalshi_python_async as sdk

    config = sdk.Configuration(host=f"https://127.0.0.1:{info.port}/trade-api/v2")
    config.verify_ssl = False  # the test certificate names the Kalshi hosts, not 127.0.0.1
    return sdk.ApiClient(config)


def sdk_calls(api: Any, ticker: str) -> dict[str, Call]:
    import kalshi_python_async as sdk

    market_api = sdk.MarketApi(api)

    async def read_json(resp: aiohttp.ClientResponse, what: str) -> Any:
        raw = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"SDK {what} answered HTTP {resp.status}: {raw[:120]!r}")
        return json.loads(raw)

    async def orderbook() -> None:
        resp = await market_api.get_market_orderbook_without_preload_content(ticker)
        data = await read_json(resp, "orderbook")
        if len(data["orderbook_fp"]["yes_dollars"]) != BOOK_LEVELS:
            raise RuntimeError("SDK order book has the wrong number of levels")

    async def markets() -> None:
        resp = await market_api.get_markets_without_preload_content(series_ticker=SERIES, status="open", limit=200)
        data = await read_json(resp, "markets")
        if len(data["markets"]) != LISTED_MARKETS:
            raise RuntimeError("SDK listing has the wrong number of markets")

    return {"orderbook": orderbook, "markets": markets}


def sdk_version() -> str:
    from importlib.metadata import version

    return version("kalshi-python-async")


# ---------------------------------------------------------------------------------------- measuring


async def drive(call: Call, callers: int, duration_s: float) -> Sample:
    """`callers` tasks call back to back for `duration_s`; counts completed requests."""
    done = 0
    stop_at = time.perf_counter() + duration_s

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await call()
            done += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if done == 0:
        raise RuntimeError("no request completed")
    return Sample(done, seconds, cpu)


async def warm_up(call: Call, callers: int, each: int = 5) -> None:
    """Open the keep-alive connections and warm caches before anything is timed."""
    for _ in range(each):
        await asyncio.gather(*(call() for _ in range(callers)))


async def measure(info: ServerInfo, *, callers: int, duration_s: float, rounds: int,
                  throttled_s: float) -> dict[str, Any]:
    best: dict[tuple[str, str], Sample] = {}
    client = our_client(info, callers=callers, throttled=False)
    api = sdk_api(info)
    async with client:
        try:
            calls = {"ours": our_calls(client, info.ticker), "sdk": sdk_calls(api, info.ticker)}
            for who in CLIENTS:
                for endpoint in ENDPOINTS:
                    await warm_up(calls[who][endpoint], callers)
            for _ in range(rounds):
                for endpoint in ENDPOINTS:
                    for who in CLIENTS:
                        sample = await drive(calls[who][endpoint], callers, duration_s)
                        key = (who, endpoint)
                        if key not in best or sample.per_s > best[key].per_s:
                            best[key] = sample
        finally:
            await api.close()
    async with our_client(info, callers=callers, throttled=True) as limited:
        call = our_calls(limited, info.ticker)["orderbook"]
        await drive(call, callers, 1.5)  # spend the bucket's initial 10 tokens: time the steady rate
        throttled = await drive(call, callers, throttled_s)
    return {"best": best, "throttled": throttled}


def _sample_json(sample: Sample) -> dict[str, float]:
    return {
        "requests": sample.requests,
        "seconds": round(sample.seconds, 3),
        "req_per_s": round(sample.per_s, 1),
        "client_cpu_us_per_req": round(sample.cpu_us_per_request, 1),
    }


def summarize(best: dict[tuple[str, str], Sample], throttled: Sample) -> dict[str, Any]:
    """The report: per endpoint both clients' figures and ours/SDK ratios; plus the throttled figure."""
    out: dict[str, Any] = {}
    ratios = []
    for endpoint in ENDPOINTS:
        ours, sdk = best[("ours", endpoint)], best[("sdk", endpoint)]
        ratio = ours.per_s / sdk.per_s
        ratios.append(ratio)
        out[endpoint] = {
            "ours": _sample_json(ours),
            "sdk": _sample_json(sdk),
            "ratio_req_per_s": round(ratio, 3),
            # SDK CPU per request / ours: above 1 means ours does less client work per request.
            "ratio_client_cpu": round(sdk.cpu_us_per_request / ours.cpu_us_per_request, 3),
            "meets_target": ratio >= TARGET_RATIO,
        }
    out["ours_throttled_orderbook"] = {**_sample_json(throttled), "limit_req_per_s": 10}
    out["target_ratio"] = TARGET_RATIO
    out["meets_target"] = all(r >= TARGET_RATIO for r in ratios)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Requests/s of both clients on both endpoints; quick=True for a smoke run of about 15 s."""
    if importlib.util.find_spec("kalshi_python_async") is None:
        raise RuntimeError("the official Kalshi SDK is not installed: .venv/bin/pip install -r requirements-bench.txt")
    duration_s, rounds, throttled_s = (1.0, 1, 2.0) if quick else (2.0, 5, 5.0)
    with ServerProcess() as server:
        measured = asyncio.run(
            measure(server.info, callers=CALLERS, duration_s=duration_s, rounds=rounds, throttled_s=throttled_s)
        )
    report = summarize(measured["best"], measured["throttled"])
    report["setup"] = {
        "callers": CALLERS,
        "duration_s": duration_s,
        "rounds": rounds,
        "sdk": f"kalshi-python-async {sdk_version()} (raw *_without_preload_content calls + json.loads)",
        "ours_limiter": "read bucket swapped for one that never waits (the real one allows 10 reads/s)",
        "server": "tests/fakes/kalshi_server.py in a child process, TLS on 127.0.0.1",
    }
    return report


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
