"""--record-only against the local fake Kalshi and Binance: books, trades and each window's result, no trading."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

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


class HandMovedTime:
    """The clock the recording reads and the sleep its loops take: the test moves time, so a market closes
    and a result poll comes due without waiting for them; a sleep returns once time has moved past its end."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._moved = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = self.now + seconds
        await asyncio.sleep(0)
        while self.now < wake:
            await self._moved.wait()

    async def advance(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()
        await asyncio.sleep(0.01)  # let the loops that woke run (and their requests travel)


async def until(condition: Callable[[], bool], *, timeout_s: float = 10.0,
                step: Callable[[], Awaitable[None]] | None = None) -> None:
    """Poll `condition` (taking `step` between looks, else a short real pause) until it holds; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {condition.__name__}")
        if step is not None:
            await step()
        else:
            await asyncio.sleep(0.01)


def snapshot_sent(ws: Any, ticker: str) -> bool:
    """The fake Kalshi websocket has sent a book snapshot (seq 1 on) for `ticker`'s orderbook subscription."""
    return any(conn.seq.get(sid, 0) >= 1 for conn in ws.conns for sid, (channel, t) in conn.subs.items()
               if channel == "orderbook_delta" and t == ticker)


def recorded(root: Path, holds: Callable[[Any], bool]) -> bool:
    """Whether the recording flushed so far (parts are renamed into place whole) satisfies `holds`."""
    try:
        return holds(load_recording(root / "data" / "recordings"))
    except (FileNotFoundError, ValueError, KeyError):
        return False  # nothing flushed yet, or not that stream yet


def test_record_only_records_books_trades_and_the_result(tmp_path: Path, daemon_env: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path, config={
        "kalshi": {"poll_interval_s": 0.2}, "execution": {"status_interval_s": 0.5},
        "recording": {"flush_interval_s": 0.2, "result_poll_s": 1},
    })
    settings = load_settings(root=root)

    async def scenario() -> int:
        time_ = HandMovedTime(time.time())
        async with start_fake_kalshi(clock=time_.clock) as kalshi, FakeBinanceServer() as binance:
            now = time_.clock()
            kalshi.fake.add_market(TICKER, open_ts=now - 60, close_ts=now + 1.5, floor_strike=Decimal("65000"),
                                   event=TICKER.rsplit("-", 1)[0])
            kalshi.fake.set_book(TICKER, yes=[("0.40", "10")], no=[("0.55", "12")])
            stop = asyncio.Event()

            def result_asked() -> bool:
                return any(r.path == f"/markets/{TICKER}" and r.ts > settled_at for r in kalshi.fake.requests)

            async def drive() -> None:
                nonlocal settled_at
                await until(lambda: binance.open_count > 0)
                for i in range(15):
                    await binance.send_trade(65000.0 + i)
                    await time_.advance(0.05)
                await time_.advance(now + 1.6 - time_.clock())  # past the close
                kalshi.fake.settle(TICKER, "yes", "65010")
                settled_at = time_.clock()
                # The result watcher asks once a (virtual) second after the close: move time until it has.
                await until(result_asked, step=lambda: time_.advance(0.25))
                await time_.advance(0.5)  # a flush interval for the recorder
                stop.set()

            settled_at = float("inf")
            driver = asyncio.create_task(drive())
            code = await record(settings, root, kalshi_connector_factory=kalshi.connector, feed_connect=binance.connect,
                                stop=stop, clock=time_.clock, sleep=time_.sleep)
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
                # The change below must come after the snapshot, or the snapshot carries it and no delta does.
                await until(lambda: snapshot_sent(ws, TICKER))
                kalshi.fake.set_book(TICKER, yes=[("0.40", "10"), ("0.41", "5")], no=[("0.55", "12")])
                await ws.send_index("65001.25")
                await ws.send_trade(TICKER, "0.42", "1.00")
                await binance.send_trade(65000.0)
                await until(lambda: recorded(root, lambda rec: rec.rows(BTC) >= 1 and rec.rows(BRTI) >= 1
                                             and rec.rows(KALSHI_TRADE) >= 1 and "delta" in rec.column(BOOK, "kind")))
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


def test_record_only_with_half_the_kalshi_keys_is_a_usage_error(tmp_path: Path, daemon_env: None,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Only the key id in .env: one line and exit 2, as the README's exit-code table says for a bad key."""
    import uuid

    import main
    from tests.fakes.fault_project import make_project

    key_id = str(uuid.uuid4())  # made at test time: no key-shaped text lives in the repository
    root = make_project(tmp_path, env_text=f"KALSHI_API_KEY_ID={key_id}\n")
    assert main.main(["--record-only"], root=root) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: Kalshi websocket: missing in .env: KALSHI_PRIVATE_KEY_PATH")
