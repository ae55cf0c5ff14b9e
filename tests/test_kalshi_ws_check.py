"""`--verify`'s Kalshi websocket line against the local fake: a good connection, a refused key, disabled."""

from __future__ import annotations

import asyncio
import time

from src.auth.kalshi_auth import KalshiAuth
from src.config import KalshiConfig, KalshiWsConfig
from src.data.kalshi_ws_check import check_kalshi_ws
from src.model.kxbtc15m import market_ticker, window_close
from tests.fakes.kalshi_ws_server import FakeKalshiWs


async def test_a_working_websocket_reports_handshake_snapshot_delta_rate_and_brti_age(rsa_private_key) -> None:
    ticker = market_ticker(window_close(time.time()))
    async with FakeKalshiWs({"k": rsa_private_key.public_key()}) as server:
        server.set_book(ticker, yes={"0.4000": "10"}, no={"0.5500": "5"})

        async def venue() -> None:
            await server.wait_for(lambda: server.subscriptions("orderbook_delta", ticker) == 1)
            for i in range(1, 6):
                await server.set_level(ticker, "yes", "0.4100", str(i))
                await server.send_index("91000.50")
                await asyncio.sleep(0.05)

        driver = asyncio.ensure_future(venue())
        [result] = await check_kalshi_ws(KalshiConfig(), KalshiAuth("k", rsa_private_key), seconds=1.0,
                                         connect=server.connect)
        await driver
    assert result.ok, result
    assert result.detail.startswith("external-api-ws.kalshi.com: handshake ok")  # market data env: prod
    assert f"snapshot {ticker} received, 5 deltas" in result.detail and "BRTI 91000.50" in result.detail


async def test_a_refused_key_names_the_environment_it_needs(rsa_private_key) -> None:
    async with FakeKalshiWs({}) as server:
        [result] = await check_kalshi_ws(KalshiConfig(env="demo", market_data_env="prod"),
                                         KalshiAuth("k", rsa_private_key), seconds=0.5, connect=server.connect)
    assert not result.ok and "no handshake" in result.detail and "401" in result.detail
    assert "keys of the prod environment" in result.hint


async def test_no_brti_and_no_book_fail_with_hints(rsa_private_key) -> None:
    async with FakeKalshiWs({"k": rsa_private_key.public_key()}) as server:
        server.ignore_get_snapshot = True
        [result] = await check_kalshi_ws(KalshiConfig(), KalshiAuth("k", rsa_private_key), seconds=0.5,
                                         connect=server.connect)
    # The fake answers every subscribe with a snapshot (an empty book counts): BRTI is what is missing.
    assert not result.ok and "no BRTI print" in result.detail and "falls back" in result.hint


async def test_disabled_and_missing_credentials() -> None:
    [off] = await check_kalshi_ws(KalshiConfig(ws=KalshiWsConfig(enabled=False)), None)
    assert off.ok and "disabled" in off.detail
    [none] = await check_kalshi_ws(KalshiConfig(), None)
    assert not none.ok and "no credentials" in none.detail
