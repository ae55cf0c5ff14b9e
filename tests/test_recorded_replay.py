"""--backtest RECORDING: the daemon's own code over recorded books, reproduction of a run, latency model, CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import load_settings
from src.db import Database, db_path_for
from src.model.models import BookLevel, Market, Mode, OrderBook
from src.recording.reader import load_recording
from src.recording.schema import DECISION
from src.recording.writer import Recorder
from src.research.recorded_book import book_events
from src.research.recorded_replay import prepare, run_sweep
from tests.fakes.fault_daemon import restored_logging
from tests.fakes.fault_project import make_project

REPO = Path(__file__).resolve().parents[1]
OPEN = datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()
TICKER = "KXBTC15M-26DEC070515-15"


def _sim_recording(tmp_path: Path, hours: float = 2.0) -> Path:
    """A --sim run of the real daemon with the recorder on (SYNTHETIC books: the simulator's maker)."""
    import main
    from src.data.price_files import write_price_csv
    from src.data.price_generator import PriceGenerator

    root = make_project(tmp_path, config={"recording": {"sim": True, "flush_interval_s": 0.2}})
    settings = load_settings(root=root)
    start = 1_772_409_600.0
    ticks = PriceGenerator(settings.app.sim, seed=11).ticks(start, end_ts=start + hours * 3600)
    write_price_csv(tmp_path / "p.csv", ticks)
    with restored_logging():
        assert main.main(["--sim", "--speed", "100000", "--replay", str(tmp_path / "p.csv")], root=root) == 0
    return root


def test_replaying_a_recorded_run_at_zero_latency_reproduces_its_decisions_and_fills(tmp_path: Path) -> None:
    root = _sim_recording(tmp_path)
    settings = load_settings(root=root)
    rec = load_recording(root / "data" / "sim" / "recordings")
    assert rec.synthetic and rec.rows(DECISION) > 1000
    db = Database(db_path_for(root, Mode.SIM))
    try:
        ran = [(t.ticker, t.side.value, t.count, t.avg_price, t.fees, t.pnl) for t in db.all_trades()]
    finally:
        db.close()
    assert len(ran) >= 2  # the run traded, so the comparison means something
    replay = run_sweep(settings, prepare(rec, settings.app.feed.source), (0, 1000), keep_decisions=True)
    zero = replay[0]
    assert zero.decided_on == "recorded decisions"
    assert zero.matched_decisions == zero.recorded_decisions == rec.rows(DECISION)  # every reason code agrees
    recorded = list(zip(rec.column(DECISION, "recv_ts"), rec.column(DECISION, "ticker"), rec.column(DECISION, "code"),
                        strict=True))
    assert list(zero.decision_codes) == recorded
    assert [(t.ticker, t.side, t.count, t.avg_price, t.fees, t.pnl) for t in zero.trades] == ran
    assert replay[1].latency_ms == 1000 and replay[1].decisions == zero.decisions


def _lagging_book_recording(folder: Path, reprice_at: float = 200.5) -> Path:
    """A SYNTHETIC hand-made recording: BTC jumps +0.62% at +200 s; Kalshi's YES ask stays 0.50 until the
    book at `reprice_at` shows it at 0.95; the market settles YES. No decisions recorded (like --record-only)."""
    rec = Recorder(folder, meta={"mode": "test-synthetic"})
    market = Market(ticker=TICKER, event_ticker="KXBTC15M-26DEC070515", status="active",
                    open_time=datetime.fromtimestamp(OPEN, tz=UTC),
                    close_time=datetime.fromtimestamp(OPEN + 900, tz=UTC),
                    floor_strike=Decimal("97000"))
    rec.market(OPEN + 0.2, market, "poll")
    for s in range(0, 320):
        price = 97000.0 if s < 200 else 97600.0
        rec.btc_trade(OPEN + s + 0.01, OPEN + s, "binance", s + 1, price)
        no_bid = Decimal("0.50") if s + 0.5 < reprice_at else Decimal("0.05")
        book = OrderBook(TICKER, (BookLevel(Decimal("0.04"), Decimal("500")),),
                         (BookLevel(no_bid, Decimal("100")),))
        rec.book_snapshot(OPEN + s + 0.5, book, "poll")
    from dataclasses import replace

    rec.market(OPEN + 905, replace(market, status="settled", result="yes", expiration_value=Decimal("97550")), "watch")
    rec.flush()
    return folder


def test_latency_model_fills_against_the_book_recorded_at_decision_plus_latency(tmp_path: Path) -> None:
    settings = load_settings(root=REPO)
    rec = load_recording(_lagging_book_recording(tmp_path / "rec"))
    results = run_sweep(settings, prepare(rec, "binance"), (0, 250, 1000))
    zero, quarter, second = results
    assert zero.decided_on == "every event"
    assert len(zero.settled) == 1 and zero.settled[0].avg_price == Decimal("0.5000")
    assert zero.settled[0].side == "yes" and zero.pnl > 0  # settled from the recorded result
    assert [(t.ticker, t.count, t.pnl) for t in quarter.trades] == [(t.ticker, t.count, t.pnl) for t in zero.trades]
    # One second later the recorded book had repriced: the fill-or-kill order finds nothing at its limit.
    assert second.orders >= 1 and second.trades == ()
    assert zero.cents_per_contract is not None and zero.cents_per_contract > 0


def test_a_held_market_settles_where_the_bots_settler_did_not_at_the_watchers_earlier_result(
        tmp_path: Path) -> None:
    """Live, the recorder's result watcher and the settle loop both ask for a closed market and either may
    answer first: a decision between the watcher's answer and the settler's still saw the position open."""
    from dataclasses import replace

    rec = Recorder(tmp_path, meta={"mode": "test-synthetic"})
    market = Market(ticker=TICKER, event_ticker="KXBTC15M-26DEC070515", status="active",
                    open_time=datetime.fromtimestamp(OPEN, tz=UTC),
                    close_time=datetime.fromtimestamp(OPEN + 900, tz=UTC), floor_strike=Decimal("97000"))
    rec.market(OPEN + 0.2, market, "poll")
    book = OrderBook(TICKER, (BookLevel(Decimal("0.04"), Decimal("500")),),
                     (BookLevel(Decimal("0.50"), Decimal("100")),))
    for s in range(0, 240):  # BTC jumps at +200 s with the YES ask still 0.50: the bot buys YES
        rec.btc_trade(OPEN + s + 0.01, OPEN + s, "binance", s + 1, 97000.0 if s < 200 else 97600.0)
        rec.book_snapshot(OPEN + s + 0.5, book, "poll")
        rec.decision(OPEN + s + 0.6, TICKER, "move_too_small" if s < 200 else "trading" if s == 200 else
                     "position_open", None)
    close, result = OPEN + 900, replace(market, status="settled", result="yes", expiration_value=Decimal("97550"))
    rec.market(close, result, "watch")  # the watcher won the race at the close...
    rec.decision(close, TICKER, "position_open", None)  # ...so the engine still held the market here
    rec.market(close, result, "settle")  # the settle loop's pass: settled, entered set refreshed
    rec.decision(close, TICKER, "book_stale", None)
    rec.flush()
    zero = run_sweep(load_settings(root=REPO), prepare(load_recording(tmp_path), "binance"), (0,),
                     keep_decisions=True)[0]
    assert [code for _ts, _ticker, code in zero.decision_codes[-3:]] == ["position_open", "position_open", "book_stale"]
    assert zero.matched_decisions == zero.recorded_decisions == 242
    assert len(zero.settled) == 1 and zero.settled[0].side == "yes" and zero.pnl > 0


def test_deltas_apply_to_the_last_snapshot(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.book_snapshot(OPEN, OrderBook(TICKER, (BookLevel(Decimal("0.40"), Decimal("10")),), ()), "ws")
    rec.book_delta(OPEN + 1, TICKER, "yes", Decimal("0.40"), Decimal("-10"))
    rec.book_delta(OPEN + 2, TICKER, "no", Decimal("0.55"), Decimal("3"))
    rec.book_delta(OPEN + 3, "OTHER", "no", Decimal("0.55"), Decimal("3"))  # no snapshot yet: skipped
    rec.flush()
    events = book_events(load_recording(tmp_path))
    assert events[1] is not None and events[1].book.yes_bids == ()
    assert events[2] is not None and events[2].book.no_bids == (BookLevel(Decimal("0.5500"), Decimal("3.00")),)
    assert events[3] is None


def test_cli_dispatches_a_recording_folder_and_prints_the_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                daemon_env: None) -> None:
    import main

    root = make_project(tmp_path)
    rec = _lagging_book_recording(tmp_path / "rec")
    assert main.main(["--backtest", str(rec), "--latency-ms", "0,1000"], root=root) == 0
    out = capsys.readouterr().out
    assert "REAL RECORDED BOOKS" in out and "1000ms" in out and "per contract" in out and "trades at 0 ms" in out
    assert main.main(["--backtest", str(rec), "--latency-ms", "0,fast"], root=root) == 2
    assert "'fast' is not a number" in capsys.readouterr().err
    assert main.main(["--backtest", str(tmp_path / "nope")], root=root) == 2
    # A range of the recordings folder: only what was received in [--from, --to) is replayed.
    early = datetime.fromtimestamp(OPEN + 100, tz=UTC).isoformat()
    assert main.main(["--backtest", str(tmp_path / "rec"), "--to", early, "--latency-ms", "0"], root=root) == 0
    out = capsys.readouterr().out
    assert "to 2026-12-07 10:01:39 UTC" in out and "trades at" not in out  # the move at +200 s is outside
    assert main.main(["--backtest", str(tmp_path / "rec"), "--from", "2030-01-01"], root=root) == 2
    assert "no recorded days in the requested range" in capsys.readouterr().err


def test_a_paper_run_against_the_fakes_records_and_replays_to_the_same_decisions_and_fill(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secrets: object, daemon_env: None) -> None:
    """The real daemon in --paper against the local fake Kalshi and Binance (tests/fakes), recording on as
    by default; replaying its recording at latency 0 gives every decision's reason code and the same fill."""
    import time

    from tests.fakes.fault_daemon import DaemonRun, add_test_market, run_main, send_flat, send_ramp

    # A websocket book counts as current for 5 s here (500 ms by default): on a loaded test machine a late
    # pong would make a live decision "book_stale", which a recording cannot show (see RecordedBooks).
    root = make_project(tmp_path, config={"kalshi": {"poll_interval_s": 0.2, "ws": {"max_book_age_ms": 5000}},
                                          "execution": {"status_interval_s": 0.5},
                                          "recording": {"flush_interval_s": 0.2}},
                        env_text=secrets.env_text())  # type: ignore[attr-defined]

    async def scenario(run: DaemonRun) -> None:
        engine = await run.wait_engine()
        add_test_market(run)
        await run.until(lambda: run.binance.open_count > 0, 10, "the feed to connect")
        await send_flat(run.binance, 65000.0, 0.3)
        await send_ramp(run.binance, 65000.0, 65700.0, span_s=9.5)
        deadline = time.monotonic() + 15
        while engine.orders_sent < 1:
            if time.monotonic() > deadline:
                raise AssertionError(f"no order; engine says {engine.why_not_trading!r}")
            await send_flat(run.binance, 65700.0, 0.2)
        await send_flat(run.binance, 65700.0, 0.5)  # a few decisions after the trade (position_open)

    code, run = run_main(monkeypatch, ["--paper"], root, scenario,
                         key=secrets.private_key, key_id=secrets.key_id)  # type: ignore[attr-defined]
    assert code == 0 and run is not None
    db = Database(db_path_for(root, Mode.PAPER))
    try:
        ran = [(t.ticker, t.side.value, t.count, t.avg_price, t.fees) for t in db.all_trades()]
    finally:
        db.close()
    assert len(ran) == 1
    settings = load_settings(root=root)
    rec = load_recording(root / "data" / "recordings")
    assert rec.modes == {"paper"} and not rec.synthetic
    zero = run_sweep(settings, prepare(rec, settings.app.feed.source), (0,), keep_decisions=True)[0]
    codes = rec.column(DECISION, "code")
    assert "trading" in codes and "position_open" in codes
    assert zero.matched_decisions == zero.recorded_decisions == len(codes)
    assert [(t.ticker, t.side, t.count, t.avg_price, t.fees) for t in zero.trades] == ran
    # The edge report's "your measured latency": decision to the paper executor's own book fetch.
    from src.research.edge_report import measured_latency_ms

    latency = measured_latency_ms(rec)
    assert latency is not None and 0 <= latency < 5_000


def test_latency_counts_from_the_runs_own_book_fetch_for_the_order(tmp_path: Path) -> None:
    """Live, the executor fetches its book a moment after the decision (under load, in --sim, many simulated
    seconds later). The run filled against that book, so the replay does too: here the book the executor
    fetched had repriced, the run filled nothing, and neither may the replay at latency 0."""
    rec = Recorder(tmp_path, meta={"mode": "test-synthetic"})
    market = Market(ticker=TICKER, event_ticker="KXBTC15M-26DEC070515", status="active",
                    open_time=datetime.fromtimestamp(OPEN, tz=UTC),
                    close_time=datetime.fromtimestamp(OPEN + 900, tz=UTC), floor_strike=Decimal("97000"))
    rec.market(OPEN + 0.2, market, "poll")
    cheap = OrderBook(TICKER, (BookLevel(Decimal("0.04"), Decimal("500")),),
                      (BookLevel(Decimal("0.50"), Decimal("100")),))
    for s in range(0, 201):  # BTC jumps at +200 s with the YES ask still 0.50: the bot decides to buy YES
        rec.btc_trade(OPEN + s + 0.01, OPEN + s, "binance", s + 1, 97000.0 if s < 200 else 97600.0)
        rec.book_snapshot(OPEN + s + 0.5, cheap, "poll")
        rec.decision(OPEN + s + 0.6, TICKER, "move_too_small" if s < 200 else "trading", None)
    repriced = OrderBook(TICKER, (BookLevel(Decimal("0.04"), Decimal("500")),),
                         (BookLevel(Decimal("0.05"), Decimal("100")),))
    rec.book_snapshot(OPEN + 205.0, repriced, "order")  # what the run's executor walked: nothing at the limit
    rec.flush()
    zero = run_sweep(load_settings(root=REPO), prepare(load_recording(tmp_path), "binance"), (0,))[0]
    assert zero.orders == 1 and zero.trades == ()
