"""Benchmark of the two latencies that can cost the lag edge: book freshness and tick to order on the wire.

(a) Book freshness: from an orderbook delta leaving the fake Kalshi websocket to the engine's decision
    that uses it (the strategy's pre-check sees the book holding that delta), with the real Binance feed
    ingesting 200 trades/s at the same time. Deltas come 50 a second; a delta overtaken by a newer one
    before a decision is coalesced (counted, not timed): the decision uses the newest book.
(b) Tick to order on the wire: from a BTC trade frame leaving the fake Binance server to the signed
    order reaching the fake Kalshi REST server (TLS, loopback), live mode, one process: the real feed,
    engine, strategy, sizing, kill switch, LiveExecutor and KalshiClient. Beside it, in the same run,
    the bare cost: sign + one loopback POST of the same order (bench_order_roundtrip's bare loop).

Everything shares this machine's cores with the fake servers (TLS, JSON, signature checks): the
figures are upper bounds of the bot's own cost plus the fakes'.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench.bench_order_roundtrip import _bare_loop, _summary  # noqa: E402
from src.app.engine import Engine, EngineTiming  # noqa: E402
from src.auth.kalshi_auth import KalshiAuth  # noqa: E402
from src.config import AppConfig, BtcLagConfig  # noqa: E402
from src.data.binance import BinanceFeed  # noqa: E402
from src.data.kalshi_ws import PROD_WS_URL, KalshiWs  # noqa: E402
from src.data.live_market_data import LiveMarketData  # noqa: E402
from src.db import Database  # noqa: E402
from src.execution.live import LiveExecutor  # noqa: E402
from src.execution.paper import PaperExecutor  # noqa: E402
from src.execution.settlement import Settler  # noqa: E402
from src.journal.trade_log import TradeLog  # noqa: E402
from src.model.kxbtc15m import market_ticker  # noqa: E402
from src.model.models import Market, Mode, OrderBook  # noqa: E402
from src.risk.kill_switch import KillSwitch  # noqa: E402
from src.risk.sizing import SizingLimits, intent_from_signal  # noqa: E402
from src.strategies.btc_lag import BtcLagStrategy  # noqa: E402
from tests.fakes.binance_server import FakeBinanceServer  # noqa: E402
from tests.fakes.kalshi_server import start_fake_kalshi  # noqa: E402
from tests.fakes.kalshi_ws_server import FakeKalshiWs  # noqa: E402

TARGET_TICK_TO_ORDER_P99_MS = 5.0
BTC_TRADES_PER_S = 200
DELTAS_PER_S = 50
ORDER_PATH = "/portfolio/events/orders"
MARKER = Decimal("0.0100")  # the YES level each freshness delta sets to a new count: its sequence number


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(round(q / 100 * len(ordered), 9))))
    return ordered[rank - 1]


class _Rest:
    """The market the engine trades, served in-process (market discovery is not what is timed)."""

    def __init__(self, ticker: str, close: float, strike: str = "95000") -> None:
        self.market = Market(ticker, ticker.rsplit("-", 1)[0], "active", datetime.fromtimestamp(close - 900, tz=UTC),
                             datetime.fromtimestamp(close, tz=UTC), Decimal(strike))

    async def get_market(self, ticker: str) -> Market:
        return self.market

    async def get_current_market(self, now: float) -> Market | None:
        return self.market

    async def get_orderbook(self, ticker: str) -> OrderBook:
        return OrderBook(ticker, (), ())


class _Recording(BtcLagStrategy):
    """btc_lag whose pre-check notes when a book holding each marker delta is first decided on."""

    def __init__(self, config: BtcLagConfig) -> None:
        super().__init__(config)
        self.seen_ns: dict[int, int] = {}

    def precheck(self, stale: bool, price: float, gap_in_window: bool, move_pct: float, volatility: float,
                 market: Market, book: OrderBook, now: float) -> str | None:
        at = time.perf_counter_ns()
        for level in book.yes_bids:
            if level.price == MARKER:
                self.seen_ns.setdefault(int(level.count), at)
        return "move_too_small"  # keep deciding: no order in this benchmark


def _engine(mode: Mode, root: Path, feed: Any, books: KalshiWs, rest: _Rest, strategy: BtcLagStrategy,
            executor_for: Any) -> tuple[Engine, Database]:
    app = AppConfig()
    db = Database(root / f"{mode.value}.db")
    log = TradeLog(root / "trades", time.time)
    ks = KillSwitch(app.risk, Decimal("100"), db, root, mode=mode, clock=time.time, cancel_all=lambda: None,
                    out=lambda _m: None)
    limits = SizingLimits.from_config(app.sizing, app.risk)
    engine = Engine(
        mode=mode, feed=feed, market_data=rest, strategy=strategy,
        size=lambda s, b: intent_from_signal(s, b, limits), gate=ks, executor=executor_for(db, log, ks),
        settler=Settler(rest, db, log, time.time, Decimal("100"), ks.record_trade_result), db=db,
        bankroll=lambda: ks.bankroll, clock=time.time, status_sleep=asyncio.sleep,
        timing=EngineTiming(poll_interval_s=1.0, status_interval_s=3600, settle_interval_s=3600,
                            retry_same_market_s=0.0),
        status_out=lambda _line: None, books=books,
    )
    return engine, db


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark setup did not converge")
        await asyncio.sleep(0.002)


async def _btc_stream(binance: FakeBinanceServer, rate: float) -> None:
    """BTC trades at `rate` a second on an absolute schedule (a late send does not slow the rest down)."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    price = 95_000.0
    while True:
        await binance.send_trade(price)
        price += 0.5 if int(due * rate) % 2 else -0.5
        due += 1 / rate
        await asyncio.sleep(max(0.0, due - loop.time()))


async def _freshness(quick: bool, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    close = time.time() + 600
    ticker = market_ticker(close)
    n = 150 if quick else 1000
    async with FakeKalshiWs({"k": key.public_key()}) as venue, FakeBinanceServer() as binance:
        venue.set_book(ticker, yes={"0.0100": "1", "0.4000": "50"}, no={"0.5000": "50"})
        books = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth("k", key), clock=time.time, connect=venue.connect)
        feed = BinanceFeed(time.time, connect=binance.connect)
        strategy = _Recording(AppConfig().strategy.btc_lag)
        rest = _Rest(ticker, close)
        with tempfile.TemporaryDirectory() as tmp:
            engine, db = _engine(Mode.PAPER, Path(tmp), feed, books, rest, strategy,
                                 lambda db, log, ks: PaperExecutor(LiveMarketData(rest, books, time.time, 0.5), db,
                                                                   log, time.time, ks.check_order_allowed))
            feed._on_tick = engine.notify_tick
            books._on_book = engine.notify_book
            run = asyncio.ensure_future(engine.run())
            try:
                await _until(lambda: books.book(ticker) is not None and engine.view is not None)
                stream = asyncio.ensure_future(_btc_stream(binance, BTC_TRADES_PER_S))
                await asyncio.sleep(0.5)
                first = len(venue.delta_sent_ns)
                ticks_before = feed.ticks
                started = time.perf_counter()
                for k in range(2, n + 2):
                    await venue.set_level(ticker, "yes", "0.0100", str(k))
                    await asyncio.sleep(1 / DELTAS_PER_S)
                await asyncio.sleep(0.3)
                elapsed = time.perf_counter() - started
                trade_rate = (feed.ticks - ticks_before) / elapsed
            finally:
                stream.cancel()
                engine.request_stop(0)
                await asyncio.wait_for(run, 10)
            db.close()
    sent = venue.delta_sent_ns[first:]
    latencies = [(strategy.seen_ns[k] - sent[k - 2][2]) / 1e6 for k in range(2, n + 2) if k in strategy.seen_ns]
    if not latencies:
        raise RuntimeError("no decision ever saw a benchmark delta")
    return {
        "deltas": n,
        "decided_on": len(latencies),
        "coalesced": n - len(latencies),
        "btc_trades_per_s": round(trade_rate, 1),
        "median_ms": round(_pct(latencies, 50), 4),
        "p99_ms": round(_pct(latencies, 99), 4),
        "max_ms": round(max(latencies), 4),
    }


async def _rig_samples(kalshi: Any, venue: FakeKalshiWs, binance: FakeBinanceServer, client: Any, ticker: str,
                       close: float, n: int) -> list[float]:
    """One live daemon (fresh database and kill switch): n trigger trades, each timed to its order POST."""
    fake = kalshi.fake
    books = KalshiWs(url=PROD_WS_URL, signer=kalshi.auth(), clock=time.time, connect=venue.connect, private=True)
    feed = BinanceFeed(time.time, connect=binance.connect)
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine, db = _engine(
            Mode.LIVE, Path(tmp), feed, books, _Rest(ticker, close, "80000"), BtcLagStrategy(BtcLagConfig()),
            lambda db, log, ks: LiveExecutor(client, db, log, time.time, ks.check_order_allowed))
        feed._on_tick = engine.notify_tick
        books._on_book = engine.notify_book
        run = asyncio.ensure_future(engine.run())
        try:
            await _until(lambda: books.book(ticker) is not None and engine.view is not None and binance.open_count > 0)
            start_ms = int(time.time() * 1000) - 50_000
            for j in range(10):  # the window starts flat, trades 5 s apart (a sane volatility)
                await binance.send_trade(95_000.0, ts_ms=start_ms + j * 5_000)
                await asyncio.sleep(0.01)
            price = 95_600.0  # +0.63 %: YES is worth far more than its 0.50 ask
            for i in range(n + 1):
                # Paced under the 5 writes/s limit: the limiter's wait is policy, not latency.
                await asyncio.sleep(client.write_limiter.time_until_available() + 0.01)
                posts = _posts(fake)
                engine._entered.clear()  # one entry per market: let the next trade enter again
                t0 = time.time()
                await binance.send_trade(price)
                try:
                    await _until(lambda posts=posts: _posts(fake) > posts, 5)
                except TimeoutError:
                    raise RuntimeError(f"no order: {engine.why_not_trading}") from None
                order = [r for r in fake.requests if r.method == "POST" and r.path == ORDER_PATH][-1]
                if i > 0:  # the first is the warm-up
                    samples.append((order.ts - t0) * 1000)
                price += 1.0
                await asyncio.sleep(0.02)
        finally:
            engine.request_stop(0)
            await asyncio.wait_for(run, 10)
        db.close()
    return samples


async def _tick_to_order(quick: bool, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    rigs, per_rig = (1, 10) if quick else (4, 12)  # the kill switch allows 15 trades an hour per database
    close = time.time() + 600
    ticker = market_ticker(close)
    samples: list[float] = []
    async with start_fake_kalshi(key) as kalshi:
        fake = kalshi.fake
        # Far below the price: however wild the jump makes the volatility estimate, YES is worth ~1.
        fake.add_market(ticker, open_ts=close - 900, close_ts=close, floor_strike="80000")
        fake.set_book(ticker, yes=[("0.40", "1000000")], no=[("0.50", "1000000")])  # YES ask 0.50
        fake.set_balance("1000000")
        async with FakeKalshiWs({kalshi.key_id: key.public_key()}, books=fake.books) as venue, \
                FakeBinanceServer() as binance, kalshi.client() as client:
            for _ in range(rigs):
                samples += await _rig_samples(kalshi, venue, binance, client, ticker, close, per_rig)
            bare = await _bare_loop(kalshi, ticker, 10 if quick else 40, 3)
    bare_ms = [ms for ms, _ in bare]
    return {
        "orders": len(samples),
        "tick_to_order": {"p50_ms": round(_pct(samples, 50), 4), "p99_ms": round(_pct(samples, 99), 4),
                          "max_ms": round(max(samples), 4)},
        "bare_sign_post": _summary(bare_ms),
        "target_p99_ms": TARGET_TICK_TO_ORDER_P99_MS,
    }


def _posts(fake: Any) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == ORDER_PATH)


async def _run(quick: bool) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    freshness = await _freshness(quick, key)
    tick = await _tick_to_order(quick, key)
    return {"book_freshness": freshness, **tick}


def run(quick: bool = False) -> dict[str, Any]:
    """Book freshness (delta -> decision) and tick-to-order latency, with the bare sign+POST beside it."""
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
