"""Benchmark of the recording: replay speed of a recorded day, and the recorder's cost on the tick path.

Targets (issue 20): a recorded day replays in under a minute; recording adds under 5% to the
per-event cost of the tick path.

1. replay: a SYNTHETIC day in the recorder's format (made up here, labelled so): BTC trades at
   `btc_per_s` a second (real BTCUSDT runs ~10-30/s; Coinbase ~3-5/s), one 10-level Kalshi book poll
   a second, 96 market windows with results. Timed: loading the Parquet day and replaying it once
   through src/research/recorded_replay.py with a decision after every event (the --record-only case,
   the costliest), in events per CPU second, beside the bare cost of the same event loop that only
   pushes trades into the rolling window (the floor any replay pays). Also reported: the day's size on
   disk, without and with the bot's decisions (one row per decision, as a --paper run writes).
2. tick_path: per BTC trade message, the feed's frame handling (decode, window) plus the engine's
   synchronous decision (Engine.decide on a quiet market: the strategy's pre-check refuses), without
   and with the recorder's channel (feed.record_trades): the work the recorder adds inside the trading
   loop. The queue is emptied (untimed) every 150 messages, as the writer empties it every 5 s at 30
   trades/s (a queue left to grow costs the garbage collector more): `overhead`. Also measured with a
   real flush (Parquet written, untimed) every 150 messages, `overhead_with_flush_between`: at bench
   speed that is a flush every ~0.4 ms, whose cache and allocator disturbance lands on the next
   messages; live, a flush comes every 5 s. The writer's own CPU is figure 3. Overhead = (with -
   without) / without. This is the strictest denominator: in the daemon each
   message also costs the websocket protocol and the event loop's wake-up of the decision task
   (bench_feed's websocket_ingest), which the recorder does not touch.
3. ws_path: per Kalshi websocket book delta, the client's own handling (parse the frame, check seq,
   apply it to the book, wake the engine: KalshiWs._dispatch with an on_book callback) without and
   with the recorder's channel (KalshiWs.record_events: one tuple and one append; the conversion to
   columns happens in the writer thread). Queue emptied (untimed) every 150 messages: `overhead`.
4. writer: the background thread's CPU per recorded trade (Arrow conversion, Parquet + zstd, fsync,
   rename), off the tick path, at a --paper-like batch (30 trades/s flushed every 5 s = 150 rows)
   and at a large batch, and what it comes to as a share of one core at 30 trades/s.
Rates are per CPU second of this process (time.process_time), best of N runs.
"""

from __future__ import annotations

import json
import math
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.app.engine import Engine, MarketView  # noqa: E402
from src.config import load_settings  # noqa: E402
from src.data import kalshi_ws_messages as wsm  # noqa: E402
from src.data.binance import BinanceFeed  # noqa: E402
from src.data.kalshi_ws import KalshiWs  # noqa: E402
from src.db import Database  # noqa: E402
from src.model.models import BookLevel, Market, Mode, OrderBook  # noqa: E402
from src.recording.reader import load_recording  # noqa: E402
from src.recording.schema import BTC  # noqa: E402
from src.recording.writer import Recorder  # noqa: E402
from src.research.recorded_replay import RecordedReplay, prepare  # noqa: E402
from src.risk.kill_switch import KillSwitch  # noqa: E402
from src.strategies.btc_lag import BtcLagStrategy  # noqa: E402
from tests.fakes.binance_server import FakeBinanceServer, random_walk  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DAY = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
TARGET_DAY_S = 60.0
TARGET_OVERHEAD = 0.05
DRAIN_EVERY = 150  # 30 trades/s x a 5-s flush interval


def _cpu() -> float:
    return time.process_time()


def write_synthetic_day(folder: Path, btc_per_s: int, seconds: int, with_decisions: bool) -> Recorder:
    """SYNTHETIC data in the recording format: a random-walk BTC and books that follow it."""
    rng = random.Random(5)
    rec = Recorder(folder, meta={"mode": "bench-synthetic"})
    price = 97000.0
    trade_id = 0
    market: Market | None = None
    strike = Decimal("97000")
    for s in range(seconds):
        t = DAY + s
        if s % 900 == 0:
            if market is not None:
                result = "yes" if price >= float(strike) else "no"
                rec.market(t + 0.05, replace(market, status="settled", result=result), "watch")
            strike = Decimal(f"{price:.2f}")
            market = Market(ticker=f"KXBTC15M-BENCH-{s // 900:03d}", event_ticker="KXBTC15M-BENCH", status="active",
                            open_time=datetime.fromtimestamp(t, tz=UTC),
                            close_time=datetime.fromtimestamp(t + 900, tz=UTC), floor_strike=strike)
            rec.market(t + 0.1, market, "poll")
        for k in range(btc_per_s):
            price *= math.exp(rng.gauss(0.0, 0.0004 / math.sqrt(btc_per_s)))
            trade_id += 1
            ts = t + k / btc_per_s
            rec.btc_trade(ts + 0.05, ts, "binance", trade_id, price)
            if with_decisions:
                rec.decision(ts + 0.05, market.ticker if market else None, "move_too_small", None)
        z = math.log(price / float(strike)) / (0.0004 * math.sqrt(max(1, 900 - s % 900)))
        mid = min(0.95, max(0.05, 0.5 * (1 + math.erf(z / math.sqrt(2)))))
        mid_c = Decimal(f"{mid:.2f}")
        yes = tuple(BookLevel(mid_c - Decimal("0.01") * (10 - i), Decimal(10 + i)) for i in range(10) if
                    mid_c - Decimal("0.01") * (10 - i) > 0)
        no = tuple(BookLevel(Decimal("1") - mid_c - Decimal("0.01") * (10 - i), Decimal(10 + i)) for i in range(10) if
                   Decimal("1") - mid_c - Decimal("0.01") * (10 - i) > 0)
        assert market is not None
        rec.book_snapshot(t + 0.5, OrderBook(market.ticker, yes, no), "poll")
        if with_decisions:
            rec.decision(t + 0.5, market.ticker, "move_too_small", None)
        if s % 3600 == 3599:
            rec.flush()
    rec.flush()
    return rec


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6


def bench_replay(btc_per_s: int, seconds: int, runs: int) -> dict[str, Any]:
    settings = load_settings(root=REPO)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_synthetic_day(base / "plain", btc_per_s, seconds, with_decisions=False)
        write_synthetic_day(base / "decided", btc_per_s, seconds, with_decisions=True)
        plain_mb, decided_mb = _size_mb(base / "plain"), _size_mb(base / "decided")
        load_cpu = float("inf")
        for _ in range(runs):
            start = _cpu()
            rec = load_recording(base / "plain")
            prep = prepare(rec, "binance")
            load_cpu = min(load_cpu, _cpu() - start)
        events = prep.events
        replay_cpu = bare_cpu = float("inf")
        result = None
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as work:
                replay = RecordedReplay(settings, prep, Path(work), 0.0)
                start = _cpu()
                result = replay.run()
                replay_cpu = min(replay_cpu, _cpu() - start)
                replay.close()
            bare_cpu = min(bare_cpu, _bare_loop(prep))
    day_factor = 86_400 / seconds
    return {
        "label": "SYNTHETIC day in the recording format (bench data, not Kalshi)",
        "seconds_recorded": seconds,
        "btc_trades_per_s": btc_per_s,
        "events": events,
        "btc_rows": rec.rows(BTC),
        "day_size_mb_record_only": round(plain_mb * day_factor, 1),
        "day_size_mb_with_decisions": round(decided_mb * day_factor, 1),
        "load_cpu_s": round(load_cpu, 3),
        "replay_events_per_s": round(events / replay_cpu),
        "bare_loop_events_per_s": round(events / bare_cpu),
        "replay_decisions": result.decisions if result else 0,
        "day_replay_s_estimate": round((load_cpu + replay_cpu) * day_factor, 1),
        "target_day_s": TARGET_DAY_S,
        "meets_target": (load_cpu + replay_cpu) * day_factor < TARGET_DAY_S,
    }


def _bare_loop(prep: Any) -> float:
    """The floor: the same merged event loop, pushing trades into a rolling window, deciding nothing."""
    from src.data.window import RollingWindow

    window = RollingWindow("binance", 60.0, 10.0, gap_after_s=10.0)
    push = window.push
    b_recv, b_venue, b_id, b_price, _ = prep.btc
    books = prep.books
    start = _cpu()
    last = None
    for stream, row in zip(prep.order_streams, prep.order_rows, strict=True):
        if stream == 0:
            push(b_id[row], b_venue[row], b_price[row], b_recv[row])
        elif stream == 1:
            last = books[row]
    del last
    return _cpu() - start


def quiet_engine(feed: Any, clock: Any, work: Path, now: float, strike: float) -> Engine:
    """The daemon's Engine on a market BTC has not moved much in: decide() ends in the strategy's pre-check."""
    settings = load_settings(root=REPO)
    app = settings.app
    db = Database(work / "bench.db", durable=False)
    kill = KillSwitch(app.risk, settings.user.starting_bankroll_usd, db, work, mode=Mode.SIM, clock=clock,
                      cancel_all=lambda: None, out=lambda _m: None)
    engine = Engine(mode=Mode.SIM, feed=feed, market_data=None, strategy=BtcLagStrategy(app.strategy.btc_lag),  # type: ignore[arg-type]
                    size=lambda _s, _b: None, gate=kill, executor=None, settler=None, db=db,  # type: ignore[arg-type]
                    bankroll=lambda: kill.bankroll, clock=clock, status_out=lambda _l: None)
    market = Market(ticker="KXBTC15M-BENCH-00", event_ticker="KXBTC15M-BENCH", status="active",
                    open_time=datetime.fromtimestamp(now - 100, tz=UTC),
                    close_time=datetime.fromtimestamp(now + 800, tz=UTC), floor_strike=Decimal(f"{strike:.2f}"))
    book = OrderBook(market.ticker, (BookLevel(Decimal("0.48"), Decimal("100")),),
                     (BookLevel(Decimal("0.50"), Decimal("100")),))
    engine.view = MarketView(market, book, now)
    return engine


def bench_tick_path(n: int, runs: int) -> dict[str, Any]:
    """Per trade message: feed frame handling + Engine.decide, without and with the recorder's tap."""
    server = FakeBinanceServer(prices=random_walk(20_000, start=100_000.0, step_bp=0.3))
    warm = 40_000
    start_ms = 1_780_000_000_000
    frames = [bytearray(m) for m in server.build_frames(warm + n, start_ms, 2)]
    # Fresh copies per run: the lane may keep nothing, but a reused bytearray must not be what is timed.
    warm_frames, timed = frames[:warm], frames[warm:]
    now = (start_ms + 2 * (warm + n)) / 1000.0  # a fixed clock just after the last trade: the feed is fresh

    def clock() -> float:
        return now

    def once(record: bool, write: bool = False) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            rec = Recorder(Path(tmp) / "rec") if record else None
            holder: dict[str, Any] = {}
            feed = BinanceFeed(clock, on_tick=lambda: holder["decide"]())
            engine = quiet_engine(feed, clock, Path(tmp), now, 100_000.0)
            holder["decide"] = engine.decide
            drain: Any = None
            if rec is not None:
                append, seq = rec.btc_channel("binance")
                feed.record_trades(append, seq)
                # Empty the recorder's own queue (the deque behind its channel) without writing it.
                drain = rec.flush if write else append.__self__.clear  # type: ignore[attr-defined]
            handle = feed.handle_frame  # what the feed's receive loop calls per frame
            for m in warm_frames:
                handle(m, now)
            if rec is not None:
                rec.flush()
            elapsed = 0.0
            for i in range(0, len(timed), DRAIN_EVERY):
                chunk = timed[i:i + DRAIN_EVERY]
                start = _cpu()
                for m in chunk:
                    handle(m, now)
                elapsed += _cpu() - start
                if drain is not None:
                    drain()
            if engine.why_not_trading not in ("move_too_small", "no_lag", "price_not_below_fair"):
                raise RuntimeError(f"the bench engine did not reach the strategy: {engine.why_not_trading}")
            engine.db.close()
            if rec is not None:
                rec.close()
                if rec.written_rows != (warm + n if write else warm):
                    raise RuntimeError("the recorder lost rows")
            return elapsed

    bare = recorded = flushed = float("inf")
    for _ in range(runs):
        bare = min(bare, once(False))
        recorded = min(recorded, once(True))
        flushed = min(flushed, once(True, write=True))
    overhead = (recorded - bare) / bare
    return {
        "messages": n,
        "tick_path_ns_without_recorder": round(1e9 * bare / n),
        "tick_path_ns_with_recorder": round(1e9 * recorded / n),
        "overhead": round(overhead, 4),
        "tick_path_ns_with_recorder_flush_between": round(1e9 * flushed / n),
        "overhead_with_flush_between": round((flushed - bare) / bare, 4),
        "target_overhead": TARGET_OVERHEAD,
        "meets_target": overhead < TARGET_OVERHEAD,
    }


class _NoSigner:
    def headers(self, method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]:
        return {}


def _delta_frames(ticker: str, n: int) -> tuple[bytes, list[bytes]]:
    """A 20-level snapshot and n deltas on sid 1 (seq 1, 2, ...), as Kalshi sends them (JSON text)."""
    snap = json.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {
        "market_ticker": ticker, "market_id": "m",
        "yes_dollars_fp": [[f"{0.30 + i / 100:.4f}", "100.00"] for i in range(10)],
        "no_dollars_fp": [[f"{0.40 + i / 100:.4f}", "100.00"] for i in range(10)]}}).encode()
    rng = random.Random(3)
    frames = []
    side, price = "yes", "0.3000"
    for k in range(n):
        if k % 2 == 0:  # a level grows, and the next delta takes it back: depth stays bounded
            side = "yes" if k % 4 else "no"
            price = f"{(0.30 if side == 'yes' else 0.40) + rng.randrange(10) / 100:.4f}"
        delta = "-5.00" if k % 2 else "5.00"
        frames.append(json.dumps({"type": "orderbook_delta", "sid": 1, "seq": k + 2, "msg": {
            "market_ticker": ticker, "market_id": "m", "price_dollars": price, "delta_fp": delta, "side": side,
            "ts_ms": 1_780_000_000_000 + k}}).encode())
    return snap, frames


def bench_ws_path(n: int, runs: int) -> dict[str, Any]:
    """Per websocket book delta: the client's parse + seq check + book update + wake-up, without and with
    the recorder's channel."""
    ticker = "KXBTC15M-BENCH-00"
    snap, frames = _delta_frames(ticker, n)

    def once(record: bool) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            woken = [0]

            def on_book(_ticker: str) -> None:
                woken[0] += 1

            ws = KalshiWs(url="wss://external-api-ws.kalshi.com/trade-api/ws/v2", signer=_NoSigner(),
                          clock=lambda: 1_780_000_000.0, on_book=on_book)
            ws.watch([ticker])  # no connection: the subscribe command is not queued anywhere
            rec = Recorder(Path(tmp) / "rec") if record else None
            drain: Any = None
            if rec is not None:
                append, seq = rec.ws_channel()
                ws.record_events(append, seq)
                drain = append.__self__.clear  # type: ignore[attr-defined]
            parse, dispatch = wsm.parse, ws._dispatch
            message = parse(snap)
            if message is None:
                raise RuntimeError("the bench snapshot did not parse")
            dispatch(message, 1_780_000_000.0)
            elapsed = 0.0
            for i in range(0, len(frames), DRAIN_EVERY):
                chunk = frames[i:i + DRAIN_EVERY]
                start = _cpu()
                for raw in chunk:
                    dispatch(parse(raw), 1_780_000_000.0)  # type: ignore[arg-type]
                elapsed += _cpu() - start
                if drain is not None:
                    drain()
            if ws.books.gaps or ws.book(ticker) is None or woken[0] != n + 1:
                raise RuntimeError("the bench deltas did not apply cleanly")
            if rec is not None:
                rec.close()
            return elapsed

    bare = recorded = float("inf")
    for _ in range(runs):
        bare = min(bare, once(False))
        recorded = min(recorded, once(True))
    overhead = (recorded - bare) / bare
    return {
        "messages": n,
        "ws_delta_ns_without_recorder": round(1e9 * bare / n),
        "ws_delta_ns_with_recorder": round(1e9 * recorded / n),
        "overhead": round(overhead, 4),
        "target_overhead": TARGET_OVERHEAD,
        "meets_target": overhead < TARGET_OVERHEAD,
    }


def bench_writer(runs: int) -> dict[str, Any]:
    """CPU of the background flush per recorded BTC trade, at a small and a large batch."""
    out: dict[str, Any] = {}
    for label, batch, flushes in (("paper_like_150_rows", 150, 200), ("large_50000_rows", 50_000, 3)):
        best = float("inf")
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                rec = Recorder(Path(tmp))
                append, seq = rec.btc_channel("binance")
                cpu = 0.0
                trade = 0
                for _ in range(flushes):
                    for _ in range(batch):
                        trade += 1
                        append((next(seq), trade, DAY + trade * 0.03, 97000.0 + (trade % 97) * 0.01,
                                DAY + trade * 0.03 + 0.05))
                    start = _cpu()
                    rec.flush()
                    cpu += _cpu() - start
                best = min(best, cpu / (batch * flushes))
        out[f"{label}_us_per_trade"] = round(best * 1e6, 2)
    out["core_share_at_30_trades_per_s"] = round(out["paper_like_150_rows_us_per_trade"] * 30 / 1e6, 5)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 3_600 if quick else 4 * 3_600
    return {
        "replay": bench_replay(btc_per_s=10, seconds=seconds, runs=1 if quick else 2),
        "tick_path": bench_tick_path(100_000 if quick else 300_000, 3 if quick else 5),
        "ws_path": bench_ws_path(20_000 if quick else 100_000, 3 if quick else 5),
        "writer": bench_writer(1 if quick else 3),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
