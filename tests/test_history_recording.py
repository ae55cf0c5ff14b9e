"""A downloaded day written in the recorder's format (issue 20) reads back as the same tape (prints and candles),
and backtests the same as the downloaded directory and as a recorded day of the same market."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from src.config import Settings, load_settings
from src.data.history_store import HistoryStore
from src.data.price_files import load_ticks
from src.recording.reader import load_recording
from src.recording.schema import BTC, CANDLE, KALSHI_TRADE, MARKET
from src.recording.writer import Recorder
from src.research.history_download import download_history
from src.research.history_recording import export_day
from src.research.tape_backtest import run_tape_backtest
from src.research.tape_data import load_tape
from src.research.tape_recording import load_tape_from_recording
from tests.fakes.history_server import FakeHistory, start_fake_history
from tests.test_history_download import LATER, clients

DAY = date(2026, 5, 29)
T1 = 1_780_012_800.0


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    return load_settings(root=project_dir)


# Prints per window. SPARSE: a NO-taker print every ~36 s, more than the 30 s a print quotes for, so some
# signals are decided on the 1-minute candles' quotes (a recording without candles gives fewer), and
# YES prints close enough together that an order still fills. DENSE: every quote comes from a print.
SPARSE, DENSE = 72, 200


async def _download(tmp_path: Path, *, export: bool, trades: int = SPARSE) -> tuple[HistoryStore, Path, FakeHistory]:
    # BTC for the six windows only. It jumps 5 minutes into the third window and Kalshi's prints follow BTC
    # 30 s late: the strategy trades the lag.
    fake = FakeHistory(page_size=25, btc_until=T1 + 2 * 3600, trade_lag_s=30, jumps=[(T1 + 2 * 900 + 300, 400.0)])
    fake.add_day(T1, windows=6, trades=trades)
    store = HistoryStore(tmp_path / "h")
    recording = tmp_path / "h" / "recording"

    def exporter(day: date) -> int:
        return export_day(store, day, recording, "binance")

    async with start_fake_history(fake) as server:
        kalshi, btc = clients(server)
        async with kalshi.http, btc.http:
            stats = await download_history(store, DAY, DAY, kalshi, btc, progress=io.StringIO(), now=lambda: LATER,
                                           export=exporter if export else None)
    assert stats.days_exported == (1 if export else 0)
    return store, recording, fake


def _same_tape(a, b) -> None:  # type: ignore[no-untyped-def]
    key = [(m.ticker, m.floor_strike, m.result, m.open_time, m.close_time, m.expiration_value) for m in a.markets]
    assert key == [(m.ticker, m.floor_strike, m.result, m.open_time, m.close_time, m.expiration_value)
                   for m in b.markets]
    for ticker in a.trades:
        assert [(t.trade_id, t.ts, t.yes_price, t.count, t.taker_side) for t in a.trades[ticker]] == \
               [(t.trade_id, t.ts, t.yes_price, t.count, t.taker_side) for t in b.trades[ticker]]


def _same_candles(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.candles.keys() == b.candles.keys()
    for ticker in a.candles:
        assert a.candles[ticker] and a.candles[ticker] == b.candles[ticker]


async def test_a_downloaded_day_is_a_recording_day_and_reads_back_as_the_same_tape(tmp_path, settings) -> None:
    store, recording, fake = await _download(tmp_path, export=True)
    rec = load_recording(recording)
    assert rec.rows(MARKET) == 2 * 6 and rec.rows(KALSHI_TRADE) == 6 * SPARSE and rec.rows(BTC) == 4 * 2 * 3600
    assert rec.rows(CANDLE) == 6 * 15
    assert all(s.get("origin") == "download" for s in rec.sessions.values())
    # the market row at the open carries no result (what a recorder saw while it traded)
    first = rec.column(MARKET, "result")[0]
    assert first in ("", None)
    downloaded, recorded = load_tape(store.root), load_tape_from_recording(recording)
    _same_tape(downloaded, recorded)
    _same_candles(downloaded, recorded)
    a = await asyncio.to_thread(run_tape_backtest, settings, downloaded, (0.0, 1.0))
    b = await asyncio.to_thread(run_tape_backtest, settings, recorded, (0.0, 1.0))
    # The fixture trades: a comparison of two zero runs could not fail on fills or P&L.
    assert all(r.signals > 0 and r.orders > 0 and r.filled > 0 and r.pnl != 0 for r in a.runs)
    assert a.btc_ticks == b.btc_ticks and a.stats == b.stats
    assert [(r.latency_s, r.signals, r.orders, r.filled, r.pnl, r.reasons, r.trades) for r in a.runs] == \
           [(r.latency_s, r.signals, r.orders, r.filled, r.pnl, r.reasons, r.trades) for r in b.runs]
    # exporting again replaces its own parts: no second copy of any row
    export_day(store, DAY, recording, "binance")
    assert load_recording(recording).rows(KALSHI_TRADE) == 6 * SPARSE


async def test_a_recorded_day_and_a_downloaded_day_of_the_same_market_give_the_same_tape_backtest(
    tmp_path, settings
) -> None:
    # The daemon records no candles: on dense prints every quote is a print, so candles cannot matter.
    store, _, fake = await _download(tmp_path, export=False, trades=DENSE)
    downloaded = load_tape(store.root)
    # The daemon's recorder on the same day: the market seen open, then its result; the prints and
    # the BTC trades as they arrived (here: the same BTC ticks, so the two must agree exactly).
    live = tmp_path / "recordings"
    rec = Recorder(live, session=42)
    events = []
    for m in downloaded.markets:
        events.append((m.open_time.timestamp(), 0, replace(m, status="active", result="", expiration_value=None)))
        events.append((m.close_time.timestamp() + 3, 0, m))
        events += [(t.ts, 1, t) for t in downloaded.trades[m.ticker]]
    events += [(ts, 2, (ts, px, i)) for ts, px, i in load_ticks(downloaded.btc_files[0])]
    for ts, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            rec.market(ts, item, "watch")
        elif kind == 1:
            rec.kalshi_trade(ts + 0.05, item.ts, item.ticker, item.trade_id, item.taker_side.value, item.yes_price,
                             item.count)
        else:
            rec.btc_trade(ts, ts, "binance", item[2], item[1])
    rec.close()
    # A recording with no candle stream (the daemon's, or one made before the stream existed) still loads.
    assert not list(live.glob(f"*/{CANDLE}")) and load_recording(live).rows(CANDLE) == 0
    recorded = load_tape_from_recording(live)
    assert recorded.candles.keys() == downloaded.candles.keys() and not any(recorded.candles.values())
    _same_tape(downloaded, recorded)
    a = await asyncio.to_thread(run_tape_backtest, settings, downloaded, (0.0, 0.5))
    b = await asyncio.to_thread(run_tape_backtest, settings, recorded, (0.0, 0.5))
    assert all(r.signals > 0 and r.filled > 0 and r.pnl != 0 for r in a.runs)
    assert [(r.signals, r.filled, r.pnl, r.reasons, r.trades) for r in a.runs] == \
           [(r.signals, r.filled, r.pnl, r.reasons, r.trades) for r in b.runs]
    assert a.stats == b.stats


async def test_the_tape_command_runs_on_a_recording_folder(tmp_path, settings) -> None:
    from src.research.history_cli import run_tape

    _, recording, _ = await _download(tmp_path, export=True)
    out = io.StringIO()
    assert await asyncio.to_thread(run_tape, settings, recording, None, None, out=out, recording=True) == 0
    assert out.getvalue().startswith("=== TAPE BACKTEST") and "6 settled KXBTC15M windows" in out.getvalue()
    assert run_tape(settings, tmp_path / "nothing", None, None, recording=True) == 2
    from src.research.tape_recording import recording_has_books

    assert not recording_has_books(recording)  # a download has prints, never books
