"""--record-only against the local fake Kalshi and Binance: books, trades and each window's result, no trading."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest

from src.app.record_daemon import record
from src.config import load_settings
from src.model.kxbtc15m import WINDOW_S, market_ticker
from src.recording.reader import load_recording
from src.recording.schema import BOOK, BRTI, BTC, DECISION, KALSHI_TRADE, MARKET
from tests.fakes.binance_server import FakeBinanceServer
from tests.fakes.fault_daemon import restored_logging
from tests.fakes.fault_project import make_project
from tests.fakes.kalshi_server import start_fake_kalshi

TICKER = "KXBTC15M-RECORDTEST-00"


def test_record_only_records_books_trades_and_the_result(tmp_path: Path, daemon_env: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path, config={
        "kalshi": {"poll_interval_s": 0.2}, "execution": {"status_interval_s": 0.5},
        "recording": {"flush_interval_s": 0.2, "result_poll_s": 1},
    })
    settings = load_settings(root=root)

    async def scenario() -> int:
        async with start_fake_kalshi() as kalshi, FakeBinanceServer() as binance:
            now = time.time()
            kalshi.fake.add_market(TICKER, open_ts=now - 60, close_ts=now + 1.5, floor_strike=Decimal("65000"),
                                   event=TICKER.rsplit("-", 1)[0])
            kalshi.fake.set_book(TICKER, yes=[("0.40", "10")], no=[("0.55", "12")])
            stop = asyncio.Event()

            async def drive() -> None:
                deadline = time.monotonic() + 20
                while binance.open_count == 0 and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                for i in range(15):
                    await binance.send_trade(65000.0 + i)
                    await asyncio.sleep(0.1)
                await asyncio.sleep(max(0.0, now + 1.6 - time.time()))
                kalshi.fake.settle(TICKER, "yes", "65010")
                await asyncio.sleep(2.5)  # the result watcher asks once a second after the close
                stop.set()

            driver = asyncio.create_task(drive())
            code = await record(settings, root, kalshi_connector_factory=kalshi.connector, feed_connect=binance.connect,
                                stop=stop)
            await driver
            return code

    with restored_logging():
        assert asyncio.run(scenario()) == 0
    out = capsys.readouterr().out
    assert "RECORD ONLY" in out and "REST polls only (the websocket needs Kalshi keys in .env)" in out
    rec = load_recording(root / "data" / "recordings")
    assert rec.modes == {"record-only"}
    assert rec.rows(BTC) == 15 and rec.rows(DECISION) == 0
    assert rec.rows(BOOK) >= 3 and set(rec.column(BOOK, "origin")) == {"poll"}
    assert rec.column(BOOK, "no_px_e4")[0] == [5500]
    results = {(t, r) for t, r in zip(rec.column(MARKET, "ticker"), rec.column(MARKET, "result"), strict=True) if r}
    assert results == {(TICKER, "yes")}


def test_record_only_records_the_kalshi_websocket_when_keys_are_set(tmp_path: Path, daemon_env: None, secrets: object,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """With kalshi.ws on and keys in .env: websocket snapshots and deltas (with sid and seq), BRTI and
    public prints are recorded beside the REST polls, and the next window is watched too."""
    from tests.fakes.kalshi_ws_server import FakeKalshiWs

    root = make_project(tmp_path, config={
        "kalshi": {"poll_interval_s": 0.2}, "execution": {"status_interval_s": 0.5},
        "recording": {"flush_interval_s": 0.2, "result_poll_s": 1},
    }, env_text=secrets.env_text())  # type: ignore[attr-defined]
    settings = load_settings(root=root)

    async def scenario() -> int:
        async with start_fake_kalshi() as kalshi, FakeBinanceServer() as binance, \
                FakeKalshiWs({secrets.key_id: secrets.private_key.public_key()},  # type: ignore[attr-defined]
                             books=kalshi.fake.books) as ws:
            ws.auto_sync()
            now = time.time()
            kalshi.fake.add_market(TICKER, open_ts=now - 60, close_ts=now + 30, floor_strike=Decimal("65000"),
                                   event=TICKER.rsplit("-", 1)[0])
            kalshi.fake.set_book(TICKER, yes=[("0.40", "10")], no=[("0.55", "12")])
            stop = asyncio.Event()

            async def drive() -> None:
                await ws.wait_for(lambda: ws.subscriptions("orderbook_delta", TICKER) > 0, 20)
                following = market_ticker(now + 30 + WINDOW_S)  # the next window's book is watched before it opens
                await ws.wait_for(lambda: ws.subscriptions("orderbook_delta", following) > 0, 5)
                await asyncio.sleep(0.3)  # the snapshot
                kalshi.fake.set_book(TICKER, yes=[("0.40", "10"), ("0.41", "5")], no=[("0.55", "12")])
                await ws.send_index("65001.25")
                await ws.send_trade(TICKER, "0.42", "1.00")
                await binance.send_trade(65000.0)
                await asyncio.sleep(0.6)
                stop.set()

            driver = asyncio.create_task(drive())
            code = await record(settings, root, kalshi_connector_factory=kalshi.connector, feed_connect=binance.connect,
                                stop=stop, kalshi_ws_connect=ws.connect)
            await driver
            return code

    with restored_logging():
        assert asyncio.run(scenario()) == 0
    assert "websocket books, prints, BRTI and lifecycle" in capsys.readouterr().out
    rec = load_recording(root / "data" / "recordings")
    ws_rows = [(k, sid, seq) for o, k, sid, seq in zip(rec.column(BOOK, "origin"), rec.column(BOOK, "kind"),
                                                       rec.column(BOOK, "venue_sid"), rec.column(BOOK, "venue_seq"),
                                                       strict=True) if o == "ws"]
    snapshot = next(r for r in ws_rows if r[0] == "snapshot")
    delta = next(r for r in ws_rows if r[0] == "delta")
    assert snapshot[1] == delta[1] and delta[2] == snapshot[2] + 1  # same subscription, the next seq
    assert "poll" in rec.column(BOOK, "origin")
    assert rec.column(BRTI, "value") == ["65001.25"] and rec.column(KALSHI_TRADE, "yes_price_e4") == [4200]
