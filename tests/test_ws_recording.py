"""The Kalshi websocket recorded (books with seq, prints, BRTI, lifecycle) and replayed exactly through the bot."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import load_settings
from src.data.kalshi_ws_messages import Average, BookDelta, BookSnapshot, IndexValue, LifecycleEvent, PublicTrade
from src.db import Database, db_path_for
from src.model.models import BookLevel, Market, Mode, OrderBook, Side
from src.recording.reader import load_recording
from src.recording.schema import BOOK, BRTI, DECISION, INVALID, KALSHI_TRADE, LIFECYCLE
from src.recording.writer import Recorder
from src.research.recorded_book import RecordedMarketData, book_events, market_events
from src.research.recorded_replay import index_values, prepare, run_sweep
from src.sim.clock import SimClock
from tests.fakes.fault_project import make_project

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()
TICKER = "KXBTC15M-26DEC070515-15"
D = Decimal


def _ws(rec: Recorder, recv: float, item: object) -> None:
    append, seq = rec.ws_channel()
    append((next(seq), recv, item))


def test_websocket_events_round_trip_with_their_seq_and_venue_times(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    _ws(rec, T0, BookSnapshot(7, 1, TICKER, ((D("0.40"), D("10")),), ((D("0.55"), D("12.50")),)))
    _ws(rec, T0 + 0.1, BookDelta(7, 2, TICKER, Side.NO, D("0.56"), D("3"), 1_796_637_600_100))
    _ws(rec, T0 + 0.2, PublicTrade(9, 1, "tr-1", TICKER, D("0.45"), D("2.00"), Side.YES, 1_796_637_600_150))
    settle = Average(D("97001.5"), 12, 1_796_638_440_000, 1_796_638_452_000)
    _ws(rec, T0 + 0.3, IndexValue("BRTI", D("97001.23"), 1_796_637_600_250, 1_796_637_600_260,
                                  Average(D("97000.10"), 59, 0, 1), settle))
    _ws(rec, T0 + 0.4, LifecycleEvent(TICKER, "determined", close_ts=1_796_638_500, result="yes",
                                      settlement_value=D("97010.5"), floor_strike=D("97000")))
    _ws(rec, T0 + 0.5, TICKER)  # a subscription ended
    _ws(rec, T0 + 0.6, "")  # the connection dropped
    rec.flush()
    back = load_recording(tmp_path)
    assert back.column(BOOK, "kind") == ["snapshot", "delta", INVALID, INVALID]
    assert back.column(BOOK, "venue_sid")[:2] == [7, 7] and back.column(BOOK, "venue_seq")[:2] == [1, 2]
    assert back.column(BOOK, "no_qty_e2")[0] == [1250] and back.column(BOOK, "delta_e2")[1] == 300
    assert back.column(BOOK, "venue_ts")[1] == pytest.approx(1_796_637_600.1)
    assert back.column(BOOK, "ticker")[2:] == [TICKER, ""]
    assert back.column(KALSHI_TRADE, "yes_price_e4") == [4500] and back.column(KALSHI_TRADE, "taker_side") == ["yes"]
    assert back.column(BRTI, "avg60") == ["97000.10"] and back.column(BRTI, "settle_avg") == ["97001.5"]
    value = index_values(back)[0]
    assert value is not None and value.value == D("97001.23") and value.settle_avg is not None
    assert value.settle_avg.start_ms == 1_796_638_440_000 and value.source_ts_ms == 1_796_637_600_250
    assert back.column(LIFECYCLE, "result") == ["yes"] and back.column(LIFECYCLE, "settlement_value") == ["97010.5"]
    assert back.column(LIFECYCLE, "close_ts") == [1_796_638_500.0]


def test_replayed_books_follow_seq_like_the_client_and_fall_back_to_rest(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    market = Market(ticker=TICKER, event_ticker="KXBTC15M-26DEC070515", status="active",
                    open_time=datetime.fromtimestamp(T0, tz=UTC), close_time=datetime.fromtimestamp(T0 + 900, tz=UTC),
                    floor_strike=D("97000"))
    rec.market(T0, market, "poll")
    rest = OrderBook(TICKER, (BookLevel(D("0.30"), D("5")),), (BookLevel(D("0.60"), D("5")),))
    rec.book_snapshot(T0 + 0.5, rest, "poll")
    _ws(rec, T0 + 1, BookSnapshot(3, 1, TICKER, ((D("0.40"), D("10")),), ((D("0.55"), D("12")),)))
    _ws(rec, T0 + 2, BookDelta(3, 2, TICKER, Side.YES, D("0.41"), D("4"), None))
    _ws(rec, T0 + 3, BookDelta(3, 4, TICKER, Side.YES, D("0.42"), D("1"), None))  # seq 3 lost: not whole
    _ws(rec, T0 + 4, BookDelta(3, 5, TICKER, Side.YES, D("0.43"), D("1"), None))  # still waiting
    _ws(rec, T0 + 5, BookSnapshot(3, 6, TICKER, ((D("0.44"), D("2")),), ()))  # get_snapshot's answer
    _ws(rec, T0 + 6, BookDelta(3, 7, TICKER, Side.YES, D("0.44"), D("-3"), None))  # below zero: not whole
    _ws(rec, T0 + 7, BookSnapshot(4, 1, TICKER, ((D("0.45"), D("1")),), ()))  # resubscribed
    _ws(rec, T0 + 8, "")  # connection lost
    rec.flush()
    loaded = load_recording(tmp_path)
    events = book_events(loaded)
    states = [None if ev is None or ev.book is None else ev.book.yes_bids for ev in events[1:]]
    assert states == [
        (BookLevel(D("0.40"), D("10")),),
        (BookLevel(D("0.40"), D("10")), BookLevel(D("0.41"), D("4"))),
        None, None,
        (BookLevel(D("0.44"), D("2")),),
        None,
        (BookLevel(D("0.45"), D("1")),),
        None,
    ]
    clock = SimClock(T0)
    md = RecordedMarketData(events, loaded, market_events(loaded), clock)

    async def at(ts: float) -> OrderBook:
        clock.now = ts
        return await md.get_orderbook(TICKER)

    import asyncio

    assert asyncio.run(at(T0 + 0.7)) == OrderBook(TICKER, rest.yes_bids, rest.no_bids, T0 + 0.5)
    assert asyncio.run(at(T0 + 2.5)).yes_bids[-1].price == D("0.41")  # the whole websocket book
    assert asyncio.run(at(T0 + 3.5)).yes_bids == rest.yes_bids  # not whole: the REST book, as LiveMarketData
    assert asyncio.run(at(T0 + 7.5)).yes_bids[-1].price == D("0.45")
    assert asyncio.run(at(T0 + 9)).yes_bids == rest.yes_bids  # every book ended with the connection


def test_a_paper_run_on_the_websocket_records_it_and_replays_to_the_same_decisions_and_fill(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secrets: object, daemon_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The real daemon in --paper with the Kalshi websocket on (the default) against the local fakes: books
    move by deltas, a seq gap forces a new snapshot, BRTI prints anchor the fair value, prints and a
    lifecycle event arrive. Its recording, replayed at latency 0, gives every decision and the same fill."""
    from tests.fakes.fault_daemon import DaemonRun, add_test_market, run_main, send_flat, send_ramp

    # A websocket book counts as current for 5 s here (500 ms by default): on a loaded test machine a late
    # pong would make a live decision "book_stale", which a recording cannot show (see RecordedBooks).
    root = make_project(tmp_path, config={"kalshi": {"poll_interval_s": 0.2, "ws": {"max_book_age_ms": 5000}},
                                          "execution": {"status_interval_s": 0.5},
                                          "recording": {"flush_interval_s": 0.2}},
                        env_text=secrets.env_text())  # type: ignore[attr-defined]
    seen: dict[str, object] = {}

    async def scenario(run: DaemonRun) -> None:
        engine = await run.wait_engine()
        ticker = add_test_market(run)
        ws = run.kalshi_ws
        assert ws is not None
        await run.until(lambda: run.binance.open_count > 0, 10, "the feed to connect")
        await run.until(lambda: engine.books.book(ticker) is not None, 10, "the websocket book")
        for i in range(5):
            await ws.send_index(f"{65004 + i}.50")
            await send_flat(run.binance, 65000.0, 0.1)
        # The book moves by deltas (the REST fake's book, published by the websocket fake) ...
        run.kalshi.fake.set_book(ticker, yes=[("0.24", "40"), ("0.25", "100")], no=[("0.70", "100")])
        await ws.send_trade(ticker, "0.30", "3.00", "no")
        await ws.send_lifecycle(ticker, "activated")
        await send_flat(run.binance, 65000.0, 0.2)
        # ... and a lost message breaks it until the snapshot get_snapshot asks for.
        snapshots = engine.books.books.snapshots
        ws.gap_next()
        run.kalshi.fake.set_book(ticker, yes=[("0.25", "100")], no=[("0.70", "100"), ("0.69", "20")])
        await run.until(lambda: engine.books.books.snapshots > snapshots, 10, "the snapshot after the gap")
        seen["gaps"] = engine.books.books.gaps
        await send_flat(run.binance, 65000.0, 0.2)
        await ws.send_index("65010.00")
        await send_ramp(run.binance, 65000.0, 65700.0, span_s=9.5)
        deadline = time.monotonic() + 15
        while engine.orders_sent < 1:
            if time.monotonic() > deadline:
                raise AssertionError(f"no order; engine says {engine.why_not_trading!r}")
            await ws.send_index("65710.00")  # BRTI keeps printing, as it does once a second
            await send_flat(run.binance, 65700.0, 0.2)
        seen["anchored"] = engine.feed.snapshot().anchored
        await send_flat(run.binance, 65700.0, 0.5)  # a few decisions after the trade (position_open)

    code, run = run_main(monkeypatch, ["--paper"], root, scenario,
                         key=secrets.private_key, key_id=secrets.key_id)  # type: ignore[attr-defined]
    assert code == 0 and run is not None
    assert seen["gaps"] == 1 and seen["anchored"] is True
    db = Database(db_path_for(root, Mode.PAPER))
    try:
        ran = [(t.ticker, t.side.value, t.count, t.avg_price, t.fees) for t in db.all_trades()]
    finally:
        db.close()
    assert len(ran) == 1
    rec = load_recording(root / "data" / "recordings")
    kinds = list(zip(rec.column(BOOK, "origin"), rec.column(BOOK, "kind"), strict=True))
    assert kinds.count(("ws", "snapshot")) >= 2 and kinds.count(("ws", "delta")) >= 3 and ("ws", INVALID) in kinds
    ws_sids = [s for s, o in zip(rec.column(BOOK, "venue_sid"), rec.column(BOOK, "origin"), strict=True) if o == "ws"]
    assert any(s is not None for s in ws_sids)
    assert rec.rows(BRTI) >= 6 and rec.column(BRTI, "value")[5] == "65010.00"
    assert rec.column(KALSHI_TRADE, "taker_side") == ["no"] and rec.column(KALSHI_TRADE, "count_e2") == [300]
    assert rec.column(LIFECYCLE, "event_type") == ["activated"]
    settings = load_settings(root=root)
    prep = prepare(rec, settings.app.feed.source)
    assert prep.has_ws
    zero = run_sweep(settings, prep, (0,), keep_decisions=True)[0]
    codes = rec.column(DECISION, "code")
    assert "trading" in codes and "position_open" in codes
    assert zero.matched_decisions == zero.recorded_decisions == len(codes)
    recorded = list(zip(rec.column(DECISION, "recv_ts"), rec.column(DECISION, "ticker"), codes, strict=True))
    assert list(zero.decision_codes) == recorded
    assert [(t.ticker, t.side, t.count, t.avg_price, t.fees) for t in zero.trades] == ran
    # The model priced BRTI (the recorded prints anchor the feed) exactly as the run did.
    rows = zip(rec.column(DECISION, "recv_ts"), codes, rec.column(DECISION, "fair_prob"), rec.column(DECISION, "edge"),
               strict=True)
    approved = [(ts, p, e) for ts, c, p, e in rows if c == "trading"]
    assert list(zero.approved) == approved and len(approved) == 1
    # The commands a user types, on this websocket recording.
    import main

    assert main.main(["--backtest", str(root / "data" / "recordings"), "--latency-ms", "0,100"], root=root) == 0
    assert main.main(["--edge-report", str(root / "data" / "recordings"), "--latency-ms", "0"], root=root) == 0
    out = capsys.readouterr().out
    assert "REAL RECORDED BOOKS" in out and "Tape statistics (Kalshi public trades" in out
    assert "0 without a single trade" in out  # the one market has not settled: no window to count yet


async def test_recorded_websocket_rebuilds_the_clients_book_through_gaps_errors_and_reconnects(
        tmp_path: Path, rsa_private_key: object) -> None:
    """The real client against the fake websocket, recording: at each checkpoint the replay's book (from the
    recorded rows alone) is exactly the client's live book, through a delta, a seq gap, error 25 and a drop."""
    import asyncio

    from src.auth.kalshi_auth import KalshiAuth
    from src.data.kalshi_ws import PROD_WS_URL, KalshiWs, KalshiWsTiming
    from tests.fakes.kalshi_ws_server import FakeKalshiWs

    key = rsa_private_key
    fake = FakeKalshiWs({"rec-key": key.public_key()})  # type: ignore[attr-defined]
    fake.set_book(TICKER, yes={"0.4000": "10"}, no={"0.5500": "7"})
    rec = Recorder(tmp_path)
    timing = KalshiWsTiming(silence_timeout_s=1.0, liveness_ping_s=0.05, snapshot_timeout_s=0.3, max_backoff_s=0.05,
                            base_backoff_s=0.01, open_timeout_s=2.0)
    checkpoints: list[tuple[float, OrderBook | None]] = []
    async with fake:
        client = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth("rec-key", key), clock=time.time,  # type: ignore[arg-type]
                          connect=fake.connect, rng=lambda: 0.5, timing=timing)
        client.record_events(*rec.ws_channel())
        client.watch([TICKER])
        task = asyncio.ensure_future(client.run())

        async def settle(predicate: object, whole: bool = True) -> None:
            await fake.wait_for(lambda: predicate() and (client.book(TICKER) is not None) == whole,  # type: ignore[operator]
                                5)
            await asyncio.sleep(0.05)
            checkpoints.append((time.time(), client.book(TICKER)))

        try:
            await settle(lambda: True)  # the first snapshot
            await fake.set_level(TICKER, "yes", "0.4100", "5")
            await settle(lambda: len(client.book(TICKER).yes_bids) == 2)  # type: ignore[union-attr]  # a delta
            fake.ignore_get_snapshot = True
            fake.gap_next()
            await fake.set_level(TICKER, "no", "0.5600", "3")
            await settle(lambda: client.books.gaps == 1, whole=False)  # broken: waiting for a snapshot
            await fake.set_level(TICKER, "yes", "0.4200", "1")  # a delta while broken is not applied
            await settle(lambda: True, whole=False)
            fake.ignore_get_snapshot = False
            await settle(lambda: client.resubscribes >= 1)  # get_snapshot unanswered: subscribed again
            await fake.terminal_error(TICKER, 25)
            await settle(lambda: client.resubscribes >= 2)
            await fake.drop()
            await settle(lambda: client.reconnects >= 1)
        finally:
            client.stop()
            await asyncio.wait_for(task, 5)
    rec.flush()
    loaded = load_recording(tmp_path)
    kinds = list(zip(loaded.column(BOOK, "kind"), loaded.column(BOOK, "ticker"), strict=True))
    assert (INVALID, TICKER) in kinds and (INVALID, "") in kinds  # error 25 ended it; the drop ended all
    events = [ev for ev in book_events(loaded) if ev is not None]
    assert [live is None for _, live in checkpoints] == [False, False, True, True, False, False, False]
    for at, live in checkpoints:
        state = None
        for ev in events:
            if ev.recv_ts > at:
                break
            if ev.ticker in (TICKER, ""):
                state = ev.book
        assert state == live
    assert events[-1].ticker == "" and events[-1].book is None  # stopped: no book is whole any more
