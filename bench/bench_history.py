"""Benchmark of real-history work: --download-history rows/s against the local fake, TAPE backtest ticks/s.

Download: one (quick) or three days of 96 settled KXBTC15M windows with `trades` prints each, their
candles and a day of Binance 1-second klines per day, through the production clients (TLS, allowlist,
token bucket, JSON to Decimal, whole-file writes) against tests/fakes/history_server.py on 127.0.0.1.
The token bucket is opened to 1,000 requests/s here to time the code; the production default is
5 requests/s, so a real download is bound by politeness, not by this code: the figure
`rows_per_request` x 5 gives the production rate.

TAPE backtest: run_tape_backtest over the downloaded days (the BTC ticks of the klines, four per
second, through the rolling window, a decision per second, the tape fill model), for the default
five-latency sweep, which runs in one pass; ticks/s counts the ticks of that pass, latency_ticks/s
what five separate runs would have had to do. CPU seconds of this process, best of N.

Usage: .venv/bin/python -m bench.bench_history [--quick]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.config import load_settings  # noqa: E402
from src.data.btc_history import SOURCES, BtcHistoryClient  # noqa: E402
from src.data.history_store import HistoryStore  # noqa: E402
from src.data.kalshi_history import KALSHI_HISTORY_HOSTS, KalshiHistoryClient  # noqa: E402
from src.net.public_http import PublicHttp  # noqa: E402
from src.research.history_download import download_history  # noqa: E402
from src.research.tape_backtest import DEFAULT_LATENCIES, run_tape_backtest  # noqa: E402
from src.research.tape_data import load_tape  # noqa: E402
from tests.fakes.history_server import FakeHistory, start_fake_history  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIRST = date(2026, 5, 29)
FIRST_TS = 1_780_012_800.0


async def _download(root: Path, n_days: int, trades: int) -> dict[str, Any]:
    fake = FakeHistory(page_size=1000)
    for d in range(n_days):
        fake.add_day(FIRST_TS + d * 86_400, trades=trades)

    async def nosleep(_s: float) -> None:
        await asyncio.sleep(0)

    async with start_fake_history(fake) as server:
        k = PublicHttp(KALSHI_HISTORY_HOSTS, per_second=1000, connector_factory=server.connector, sleep=nosleep)
        b = PublicHttp(SOURCES["binance"].hosts, per_second=1000, connector_factory=server.connector, sleep=nosleep)
        async with k, b:
            wall = time.perf_counter()
            cpu = time.process_time()
            stats = await download_history(HistoryStore(root), FIRST, FIRST + timedelta(days=n_days - 1),
                                           KalshiHistoryClient(k), BtcHistoryClient("binance", b), progress=None,
                                           now=lambda: FIRST_TS + 400 * 86_400)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu  # the fake runs in this process too: an upper bound
        requests = k.requests + b.requests
    return {
        "days": n_days, "rows": stats.rows, "requests": requests, "wall_s": round(wall, 3),
        "rows_per_s": round(stats.rows / wall), "requests_per_s": round(requests / wall),
        "rows_per_request": round(stats.rows / requests, 1),
        "production_rows_per_s_at_5_req_s": round(stats.rows / requests * 5),
        "cpu_s_client_and_fake": round(cpu, 3),
        # per CPU second of this process (the client AND the fake): what the code costs, whatever else
        # runs on a shared machine (the wall-clock rate above moves with the load)
        "rows_per_cpu_s": round(stats.rows / cpu),
    }


def _tape(root: Path, runs: int) -> dict[str, Any]:
    settings = load_settings(root=REPO)
    data = load_tape(root)
    best = float("inf")
    report = None
    for _ in range(runs):
        cpu = time.process_time()
        report = run_tape_backtest(settings, data, DEFAULT_LATENCIES)
        best = min(best, time.process_time() - cpu)
    if report is None:
        raise RuntimeError("no run")
    return {
        "markets": report.markets, "btc_ticks": report.btc_ticks, "latencies": len(DEFAULT_LATENCIES),
        "cpu_s": round(best, 3),
        "ticks_per_s": round(report.btc_ticks / best),  # through the one pass that serves every latency
        "latency_ticks_per_s": round(report.btc_ticks * len(DEFAULT_LATENCIES) / best),  # as separate runs would
        "sweep_days_per_s": round(report.markets / 96 / best, 2),  # days of the whole five-latency sweep
    }


def run(quick: bool = False) -> dict[str, Any]:
    n_days, trades, runs = (1, 40, 1) if quick else (3, 60, 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "history"
        download = asyncio.run(_download(root, n_days, trades))
        tape = _tape(root, runs)
    return {"download": download, "tape_backtest": tape}


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    json.dump(result, sys.stdout, indent=2)
    print()

