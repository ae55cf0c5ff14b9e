"""The TAPE fill model and the TAPE backtest: hand-made tapes with known answers, then a download end to end."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import Settings, load_settings
from src.data.price_files import write_price_csv
from src.model.kxbtc15m import market_ticker
from src.model.models import Market, Side, utc_from_ts
from src.model.tape import Candle, TapeTrade
from src.research.tape_backtest import run_tape_backtest
from src.research.tape_data import TapeData, load_tape
from src.research.tape_fill import ABOVE_LIMIT, FILLED, NO_PRINT, TapeBook
from src.research.tape_report import render_json, render_text

T0 = 1_780_013_700.0  # a window open (2026-05-29 00:15 UTC)
D = Decimal


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    return load_settings(root=project_dir)


def pr(i: int, ts: float, yes: str, side: Side, count: str = "5", ticker: str = "M") -> TapeTrade:
    return TapeTrade(f"p{i:05d}", ticker, ts, D(yes), D(count), side)


# -------------------------------------------------------------------------------------------- fill model


def test_a_buy_fills_at_the_first_same_side_print_after_the_latency_for_at_most_its_size() -> None:
    book = TapeBook([pr(0, 10, "0.40", Side.YES, "3"), pr(1, 11, "0.38", Side.NO), pr(2, 12.5, "0.45", Side.YES, "2"),
                     pr(3, 30, "0.41", Side.YES, "9")])
    f = book.fill(Side.YES, D(5), D("0.42"), decided_ts=9.0, latency_s=0.5)
    assert (f.reason, f.filled, f.price, f.fill_ts) == (FILLED, D(3), D("0.40"), 10)
    # after the latency the next YES print is 0.45: above the limit, nothing fills (no walking on to later prints)
    assert book.fill(Side.YES, D(5), D("0.42"), 9.0, 2.0).reason == ABOVE_LIMIT
    # nothing within max_wait
    assert book.fill(Side.YES, D(5), D("0.50"), 13.0, 0.5, max_wait_s=5).reason == NO_PRINT
    # a NO buy is filled by a NO-taker print, at the NO price (1 - yes)
    f = book.fill(Side.NO, D(10), D("0.70"), 10.5, 0.0)
    assert (f.reason, f.filled, f.price) == (FILLED, D(5), D("0.62"))


def test_the_quote_is_the_last_same_side_print_then_the_last_candle() -> None:
    candles = [Candle("M", 60.0, 60, D("0.30"), D("0.34"), None, D(0))]
    book = TapeBook([pr(0, 10, "0.40", Side.YES, "3"), pr(1, 20, "0.37", Side.NO, "4")], candles)
    assert book.quote(Side.YES, 15) == (D("0.40"), D(3))
    assert book.quote(Side.YES, 10) is None  # a print AT now is not yet known
    assert book.quote(Side.YES, 100, max_age_s=30) == (D("0.34"), D(1))  # stale print: the candle's ask
    assert book.quote(Side.NO, 100, max_age_s=30) == (D("0.70"), D(1))
    ob = book.book("M", 25)
    assert ob.best_ask(Side.YES) == D("0.40") and ob.best_ask(Side.NO) == D("0.63")


# -------------------------------------------------------------------------------------------- backtest


def lagging_market(tmp_path: Path, jump_at: float = T0 + 200) -> TapeData:
    """BTC jumps 0.6% at jump_at; Kalshi's YES stays at 0.50 for 6 s after the jump ends, then reprices."""
    close = T0 + 900
    ticker = market_ticker(close)
    market = Market(ticker, ticker.rsplit("-", 1)[0], "finalized", utc_from_ts(T0), utc_from_ts(close),
                    D("65000"), result="yes", expiration_value=D("65390"))
    ticks = []
    for i, ts in enumerate(range(int(T0) - 120, int(close) + 5)):
        if ts < jump_at:
            price = 65000.0
        elif ts < jump_at + 30:
            price = 65000.0 + 400.0 * (ts - jump_at) / 30
        else:
            price = 65400.0
        ticks.append((float(ts), price, i + 1))
    path = tmp_path / "btc.csv"
    write_price_csv(path, ticks)
    prints = []
    for i, ts in enumerate(range(int(T0), int(close) - 10, 2)):
        repriced = ts >= jump_at + 36
        yes = "0.80" if repriced else "0.50"
        side = Side.YES if i % 2 == 0 else Side.NO
        prints.append(pr(i, float(ts), yes if side is Side.YES else ("0.78" if repriced else "0.48"), side, "5",
                         ticker))
    return TapeData(markets=[market], trades={ticker: prints}, candles={ticker: []}, btc_files=[path],
                    btc_source="test")


def test_the_strategy_trades_the_lag_at_low_latency_and_misses_it_at_high_latency(settings, tmp_path) -> None:
    data = lagging_market(tmp_path)
    report = run_tape_backtest(settings, data, latencies=(0.0, 20.0))
    fast, slow = report.runs
    assert fast.signals >= 1 and fast.filled == 1
    (trade,) = fast.trades
    assert trade.side is Side.YES and trade.price == D("0.50") and trade.count <= D(5) and trade.won
    assert trade.pnl == trade.count * (1 - D("0.50")) - trade.fee and fast.pnl == trade.pnl
    assert fast.end_bankroll == report.starting_bankroll + fast.pnl
    # 20 s late the ask has moved to 0.80: the first print after the latency is above the limit
    assert slow.filled == 0 or slow.trades[0].decided_ts > trade.decided_ts
    assert slow.above_limit >= 1 and slow.pnl < fast.pnl
    text = render_text(report)
    assert text.startswith("=== TAPE BACKTEST") and "ASSUMPTION" in text and "first print at or after" in text
    assert "Tape statistics" in text and '"label": "TAPE"' in render_json(report)
    assert f"buy {trade.count} YES @ 0.50" in text and "won" in text


def test_the_strategy_never_sees_the_result(settings, tmp_path) -> None:
    data = lagging_market(tmp_path)
    loser = replace(data, markets=[replace(data.markets[0], result="no")])
    a = run_tape_backtest(settings, data, latencies=(0.0,)).runs[0]
    b = run_tape_backtest(settings, loser, latencies=(0.0,)).runs[0]
    assert [t.decided_ts for t in a.trades] == [t.decided_ts for t in b.trades]  # same decisions either way
    assert a.pnl > 0 > b.pnl


async def test_download_then_tape_backtest_end_to_end(settings, tmp_path) -> None:
    from src.data.history_store import HistoryStore
    from src.research.history_download import download_history
    from tests.fakes.history_server import FakeHistory, start_fake_history
    from tests.test_history_download import LATER, clients

    day1, day2 = 1_780_012_800.0, 1_780_099_200.0
    fake = FakeHistory(page_size=20, btc_spans=[(day1, day1 + 7200), (day2, day2 + 7200)])  # BTC for the windows
    tickers = fake.add_day(1_780_012_800.0, windows=4, trades=30)
    tickers += fake.add_day(1_780_099_200.0, windows=4, trades=30)  # two days: ticks carry on across files
    store = HistoryStore(tmp_path / "h")
    async with start_fake_history(fake) as server:
        kalshi, btc = clients(server)
        async with kalshi.http, btc.http:
            await download_history(store, date(2026, 5, 29), date(2026, 5, 30), kalshi, btc, progress=io.StringIO(),
                                   now=lambda: LATER)
    data = load_tape(store.root)
    assert [m.ticker for m in data.markets] == tickers and data.btc_source == "binance"
    assert sum(len(v) for v in data.trades.values()) == 8 * 30
    report = await asyncio.to_thread(run_tape_backtest, settings, data, (0.0, 1.0))
    assert report.markets == 8 and report.btc_ticks == 2 * 4 * 7200 and len(report.runs) == 2
    assert report.runs[0].ticks_rejected == 0
    assert report.stats.windows == 8 and report.stats.trades_per_window.mean == 30
    assert sum(report.runs[0].reasons.values()) > 0  # the strategy was asked, every second of each window


@pytest.mark.usefixtures("daemon_env")
def test_main_backtest_on_a_history_directory_prints_the_tape_report(capfd, project_dir, tmp_path) -> None:
    import main
    from src.data.history_store import HistoryStore, write_jsonl

    data = lagging_market(tmp_path)
    store = HistoryStore(tmp_path / "h")
    m = data.markets[0]
    day = m.close_time.date()
    write_jsonl(store.markets_path(day), [{
        "ticker": m.ticker, "event_ticker": m.event_ticker, "status": "finalized",
        "open_time": m.open_time.isoformat(), "close_time": m.close_time.isoformat(), "floor_strike": "65000",
        "result": "yes", "expiration_value": "65390", "strike_type": "greater_or_equal",
    }])
    write_jsonl(store.trades_path(day, m.ticker), [{
        "trade_id": t.trade_id, "ticker": t.ticker, "count_fp": f"{t.count:.2f}", "yes_price_dollars": f"{t.yes_price}",
        "no_price_dollars": f"{1 - t.yes_price}", "taker_outcome_side": t.taker_side.value,
        "created_time": utc_from_ts(t.ts).isoformat(),
    } for t in data.trades[m.ticker]])
    price_dir = store.btc_path("binance", day).parent
    price_dir.mkdir(parents=True)
    data.btc_files[0].rename(store.btc_path("binance", day))
    assert main.main(["--backtest", str(store.root)], root=project_dir) == 0
    out = capfd.readouterr().out
    assert out.startswith("=== TAPE BACKTEST") and "ASSUMPTION" in out and "Tape statistics" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("0.00s"))
    assert row.split()[3] == "1"  # one order filled at latency 0
    assert main.main(["--backtest", str(store.root), "--json"], root=project_dir) == 0
    assert '"label": "TAPE"' in capfd.readouterr().out
    assert main.main(["--backtest", str(store.root), "--from", "2030-01-01"], root=project_dir) == 2
    assert "no downloaded settled markets" in capfd.readouterr().err


async def test_a_downloaded_lagging_market_is_traded_end_to_end(settings, tmp_path) -> None:
    """BTC jumps 0.6% mid-window; the fake's Kalshi prints follow 30 s late: the TAPE run buys the lag."""
    from src.data.history_store import HistoryStore
    from src.research.history_download import download_history
    from tests.fakes.history_server import FakeHistory, start_fake_history
    from tests.test_history_download import LATER, clients

    t1 = 1_780_012_800.0
    fake = FakeHistory(page_size=500, btc_until=t1 + 2 * 3600, trade_lag_s=30, jumps=[(t1 + 2 * 900 + 300, 400.0)])
    tickers = fake.add_day(t1, windows=6, trades=200)
    store = HistoryStore(tmp_path / "h")
    async with start_fake_history(fake) as server:
        kalshi, btc = clients(server)
        async with kalshi.http, btc.http:
            await download_history(store, date(2026, 5, 29), date(2026, 5, 29), kalshi, btc, progress=None,
                                   now=lambda: LATER)
    report = await asyncio.to_thread(run_tape_backtest, settings, load_tape(store.root), (0.0, 1.0))
    fast = report.runs[0]
    assert fast.filled >= 1 and fast.pnl > 0
    assert {t.ticker for t in fast.trades} == {tickers[2]} and all(t.won and t.side is Side.YES for t in fast.trades)


def test_the_one_pass_sweep_equals_one_run_per_latency(settings, tmp_path) -> None:
    data = lagging_market(tmp_path)
    sweep = run_tape_backtest(settings, data, latencies=(0.0, 3.0, 20.0)).runs
    alone = [run_tape_backtest(settings, data, latencies=(x,)).runs[0] for x in (0.0, 3.0, 20.0)]
    assert sweep == tuple(alone)
    assert len({(r.filled, r.pnl) for r in sweep}) > 1  # the latencies do differ here
