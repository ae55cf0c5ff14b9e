"""The recorder: exact round trip of every stream, day rotation, the disk budget, and kill -9 safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from src.model.models import BookLevel, Market, OrderBook, OrderIntent, Side
from src.recording.reader import RecordingError, is_recording, load_recording, recording_days
from src.recording.schema import (
    BOOK,
    BRTI,
    BTC,
    CANDLE,
    DECISION,
    KALSHI_TRADE,
    LIFECYCLE,
    MARKET,
    STREAMS,
    EncodingError,
    from_e2,
    from_e4,
    to_e2,
    to_e4,
)
from src.recording.writer import Recorder

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()


def _market(ticker: str = "KXBTC15M-26DEC070515-15", result: str = "") -> Market:
    return Market(ticker=ticker, event_ticker="KXBTC15M-26DEC070515", status="active",
                  open_time=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
                  close_time=datetime(2026, 12, 7, 10, 15, tzinfo=UTC),
                  floor_strike=Decimal("97123.4567"), result=result, expiration_value=None)


def _book(ticker: str = "KXBTC15M-26DEC070515-15") -> OrderBook:
    yes = (BookLevel(Decimal("0.4100"), Decimal("12.50")), BookLevel(Decimal("0.4300"), Decimal("3")))
    return OrderBook(ticker, yes, (BookLevel(Decimal("0.5500"), Decimal("7.00")),))


def test_fixed_point_is_exact_and_refuses_finer_values() -> None:
    assert from_e4(to_e4(Decimal("0.5612"))) == Decimal("0.5612")
    assert from_e2(to_e2(Decimal("10.25"))) == Decimal("10.25")
    with pytest.raises(EncodingError):
        to_e4(Decimal("0.56125"))
    with pytest.raises(EncodingError):
        to_e2(Decimal("1.005"))


def test_every_stream_round_trips_exactly_in_the_order_seen(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, meta={"mode": "paper"})
    rec.btc_trade(T0 + 0.10, T0 + 0.05, "binance", 101, 97000.5)
    rec.market(T0 + 0.20, _market(), "poll")
    rec.book_snapshot(T0 + 0.30, _book(), "poll")
    rec.book_delta(T0 + 0.35, "KXBTC15M-26DEC070515-15", "yes", Decimal("0.4300"), Decimal("-3"), venue_seq=9)
    rec.kalshi_trade(T0 + 0.40, T0 + 0.39, "KXBTC15M-26DEC070515-15", "t-1", "yes", Decimal("0.4400"), Decimal("2"))
    rec.brti(T0 + 0.50, T0 + 0.49, Decimal("97001.23"), Decimal("96999.87"))
    intent = OrderIntent("KXBTC15M-26DEC070515-15", Side.NO, Decimal("6"), Decimal("0.5100"), "pbx", fair_prob=0.62,
                         edge=Decimal("0.114575"))
    rec.decision(T0 + 0.60, "KXBTC15M-26DEC070515-15", "trading", intent)
    rec.decision(T0 + 0.70, None, "no_market_yet", None)
    assert rec.flush() == 8
    back = load_recording(tmp_path)
    assert {s: back.rows(s) for s in STREAMS} == {BTC: 1, BOOK: 2, MARKET: 1, KALSHI_TRADE: 1, BRTI: 1, DECISION: 2,
                                                  LIFECYCLE: 0, CANDLE: 0}
    assert back.column(BTC, "price") == [97000.5] and back.column(BTC, "trade_id") == [101]
    assert back.column(BOOK, "yes_px_e4")[0] == [4100, 4300] and back.column(BOOK, "yes_qty_e2")[0] == [1250, 300]
    assert back.column(BOOK, "kind") == ["snapshot", "delta"] and back.column(BOOK, "delta_e2")[1] == -300
    assert back.column(MARKET, "floor_strike") == ["97123.4567"]
    assert back.column(BRTI, "value") == ["97001.23"]
    assert back.column(DECISION, "edge") == ["0.114575", None] and back.column(DECISION, "limit_e4") == [5100, None]
    streams, rows = back.merged_order()
    assert [STREAMS[s] for s in streams] == [BTC, MARKET, BOOK, BOOK, KALSHI_TRADE, BRTI, DECISION, DECISION]
    assert back.sessions[str(rec.session)]["mode"] == "paper" and not back.synthetic
    assert is_recording(tmp_path) and is_recording(back.days[0]) and not is_recording(tmp_path / "nothing")


def test_rows_rotate_into_utc_days_and_ranges_pick_days(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    midnight = datetime(2026, 12, 8, tzinfo=UTC).timestamp()
    for i, ts in enumerate((midnight - 2, midnight - 1, midnight + 1)):
        rec.btc_trade(ts, ts, "binance", i, 97000.0 + i)
    rec.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-12-07", "2026-12-08"]
    assert [d.name for d in recording_days(tmp_path, start=midnight)] == ["2026-12-08"]
    assert load_recording(tmp_path).column(BTC, "trade_id") == [0, 1, 2]
    assert load_recording(tmp_path, start=midnight - 1.5, end=midnight + 5).column(BTC, "trade_id") == [1, 2]
    with pytest.raises(RecordingError):
        recording_days(tmp_path, start=midnight + 86_400 * 5)


def test_disk_budget_deletes_oldest_days_then_drops(tmp_path: Path) -> None:
    old = Recorder(tmp_path)
    for day in range(3):
        for i in range(200):
            old.btc_trade(T0 - 86_400 * (3 - day) + i, T0, "binance", day * 1000 + i, 97000.0 + i)
        old.flush()
    sizes = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    # A budget that holds about one day: the two oldest go, today's rows are written.
    rec = Recorder(tmp_path, max_disk_bytes=sizes // 3 + 1)
    rec.btc_trade(T0, T0, "binance", 5000, 97000.0)
    rec.flush()
    days = sorted(p.name for p in tmp_path.iterdir())
    assert "2026-12-07" in days and len(days) <= 2 and rec.dropped == 0
    tiny = Recorder(tmp_path / "tiny", max_disk_bytes=1)
    tiny.btc_trade(T0, T0, "binance", 1, 97000.0)
    tiny.flush()  # the first part fits (the budget is checked before a write)...
    tiny.btc_trade(T0 + 1, T0 + 1, "binance", 2, 97000.0)
    tiny.flush()  # ...the next one does not: today alone is over budget
    assert tiny.dropped == 1 and load_recording(tmp_path / "tiny").rows(BTC) == 1


def test_background_thread_flushes_without_being_asked(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, flush_interval_s=0.02)
    rec.start()
    try:
        rec.btc_trade(T0, T0, "binance", 1, 97000.0)
        deadline = time.monotonic() + 10
        while rec.written_rows < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        rec.close()
    assert rec.written_rows == 1 and rec.queued == 0


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from src.recording.writer import Recorder
    rec = Recorder({root!r}, flush_interval_s=0.01)
    rec.start()
    i = 0
    while True:
        i += 1
        rec.btc_trade({t0!r} + i * 0.001, {t0!r}, "binance", i, 97000.0 + i)
        if i % 50 == 0:
            time.sleep(0.001)
""")


def test_kill_minus_nine_keeps_every_flushed_part_readable(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    code = CHILD.format(repo=str(REPO), root=str(root), t0=T0)
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list(root.glob("*/btc/*.parquet"))) < 5:
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(list(root.glob("*/btc/*.parquet"))) >= 5
    # A write cut by the kill leaves at most a temporary file, which is never read...
    stray = next(root.glob("*/btc")) / "part-1-000000000001.parquet.tmp"
    stray.write_bytes(b"PAR1 half a file")
    back = load_recording(root)
    ids = back.column(BTC, "trade_id")
    assert ids == list(range(1, len(ids) + 1))  # a gap-free prefix of what was appended
    # ...and is removed when the next recorder starts there.
    Recorder(root)
    assert not stray.exists()


def test_a_value_finer_than_the_columns_is_dropped_and_counted_never_raised(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.book_snapshot(T0, OrderBook("T", (BookLevel(Decimal("0.12345"), Decimal("1")),), ()), "poll")
    rec.book_delta(T0, "T", "yes", Decimal("0.5"), Decimal("0.001"))
    rec.kalshi_trade(T0, T0, "T", "t", "yes", Decimal("0.12345"), Decimal("1"))
    rec.decision(T0, "T", "trading", OrderIntent("T", Side.YES, Decimal("1.001"), Decimal("0.5"), "x"))
    assert rec.dropped == 4 and rec.queued == 0


def test_two_recorders_at_once_are_detected(tmp_path: Path) -> None:
    first, second = Recorder(tmp_path, session=1), Recorder(tmp_path, session=2)
    first.btc_trade(T0, T0, "binance", 1, 97000.0)
    second.btc_trade(T0 + 1, T0 + 1, "binance", 2, 97000.0)
    first.btc_trade(T0 + 2, T0 + 2, "binance", 3, 97000.0)
    first.flush()
    second.flush()
    assert load_recording(tmp_path).overlapping_sessions()
    assert not load_recording(tmp_path, end=T0 + 1.5).overlapping_sessions()


def test_live_feeds_hand_each_accepted_trade_to_the_recorder_channel(tmp_path: Path) -> None:
    from src.data.binance import BinanceFeed
    from src.data.coinbase import CoinbaseFeed
    from tests.fakes.binance_server import FakeBinanceServer
    from tests.fakes.coinbase_server import match_payload

    rec = Recorder(tmp_path)
    coinbase = CoinbaseFeed(lambda: T0 + 1)
    coinbase.record_trades(*rec.btc_channel("coinbase"))
    coinbase.handle_frame(match_payload(65000.0, 7, T0, 1), T0 + 0.5)
    coinbase.handle_frame(match_payload(65000.0, 7, T0, 1), T0 + 0.6)  # a duplicate: refused, not recorded
    binance = BinanceFeed(lambda: T0 + 1)
    binance.record_trades(*rec.btc_channel("binance"))
    frame = FakeBinanceServer().build_frames(1, int(T0 * 1000), 2)[0]
    binance.handle_frame(frame, T0 + 0.25)  # the per-trade path every Binance frame takes
    rec.flush()
    back = load_recording(tmp_path)
    rows = sorted(zip(back.column(BTC, "seq"), back.column(BTC, "source"), back.column(BTC, "trade_id"),
                      back.column(BTC, "recv_ts"), strict=True))
    assert [(s, i, r) for _, s, i, r in rows] == [("coinbase", 7, T0 + 0.5), ("binance", rows[1][2], T0 + 0.25)]
    assert back.column(BTC, "venue_ts")[back.column(BTC, "source").index("coinbase")] == T0
