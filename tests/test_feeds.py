"""make_feed picks the source from config; check_feed (--verify) reports rate, freshness and hints."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from src.config import FeedConfig
from src.data.binance import BINANCE_URL, BINANCE_US_URL, BinanceFeed
from src.data.coinbase import COINBASE_URL, CoinbaseFeed
from src.data.feed_check import check_feed
from src.data.feeds import make_feed
from src.model.interfaces import PriceFeed
from tests.fakes.binance_server import FakeBinanceServer
from tests.fakes.coinbase_server import FakeCoinbaseServer


@pytest.mark.parametrize(
    ("source", "cls", "url", "hosts"),
    [
        ("binance", BinanceFeed, BINANCE_URL, {"stream.binance.com"}),
        ("binance_us", BinanceFeed, BINANCE_US_URL, {"stream.binance.us"}),
        ("coinbase", CoinbaseFeed, COINBASE_URL, {"ws-feed.exchange.coinbase.com"}),
    ],
)
def test_source_selection(clock, source: str, cls: type, url: str, hosts: set[str]) -> None:
    cfg = FeedConfig(source=source, window_s=45, stale_after_s="7.5", max_backoff_s=12)
    feed = make_feed(cfg, clock)
    assert type(feed) is cls
    assert feed.source == source and feed.url == url and feed.allowed_hosts == hosts
    assert feed.window.window_s == 45.0 and feed.window.stale_after_s == 7.5
    assert feed._redial.policy.max_delay_s == 12.0
    assert feed.snapshot().source == source
    feed_as_protocol: PriceFeed = feed  # the main loop programs against the protocol
    assert callable(feed_as_protocol.stop)


def test_default_config_is_binance(clock) -> None:
    feed = make_feed(FeedConfig(), clock)
    assert feed.source == "binance" and feed.url == BINANCE_URL
    assert feed.window.stale_after_s == 10.0 and feed.window.window_s == 60.0


def test_connect_and_callbacks_are_passed_through(clock) -> None:
    calls: list[int] = []
    cfg = FeedConfig(source="coinbase")
    feed = make_feed(cfg, clock, connect=lambda *a, **k: None, on_tick=lambda: calls.append(1))
    feed.handle_frame(
        b'{"type":"match","trade_id":1,"time":"2024-01-01T00:00:00.000001Z","product_id":"BTC-USD","price":"42000"}',
        clock(),
    )
    assert calls == [1]


def test_unvalidated_unknown_source_is_refused(clock) -> None:
    cfg = FeedConfig.model_construct(source="kraken", window_s=60.0, stale_after_s=10, max_backoff_s=30.0)
    with pytest.raises(ValueError, match="unknown feed.source 'kraken'"):
        make_feed(cfg, clock)


# -- check_feed -------------------------------------------------------------------------------------


async def test_check_passes_with_a_live_stream(clock) -> None:
    async with FakeBinanceServer() as server:
        server.start_stream(0.01)
        results = await check_feed(FeedConfig(), clock=clock, seconds=0.4, connect=server.connect)
    assert [r.ok for r in results] == [True, True], results
    assert "trades in" in results[1].detail and "/s" in results[1].detail and "last 0.0 s ago" in results[1].detail


async def test_check_passes_on_coinbase(clock) -> None:
    async with FakeCoinbaseServer() as server:
        server.start_stream(0.02)
        results = await check_feed(FeedConfig(source="coinbase"), clock=clock, seconds=0.3, connect=server.connect)
    assert [r.ok for r in results] == [True, True], results
    assert results[0].name == "BTC price feed (coinbase): connection"


async def test_check_fails_with_the_451_fix(clock) -> None:
    async with FakeBinanceServer() as server:
        server.reject_status = 451
        results = await check_feed(FeedConfig(), clock=clock, seconds=2.0, connect=server.connect)
    assert len(results) == 1 and not results[0].ok
    assert results[0].hint == "Binance refuses US addresses; set feed.source: coinbase or binance_us"


async def test_check_reports_dns_failure(clock) -> None:
    def no_dns(uri: str, **kwargs: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    results = await check_feed(FeedConfig(source="coinbase"), clock=clock, seconds=0.2, connect=no_dns)
    assert len(results) == 1 and not results[0].ok
    assert "DNS" in results[0].detail
    assert "resolve" in results[0].hint and "binance_us or binance" in results[0].hint


async def test_check_reports_a_timeout(clock) -> None:
    class Slow:
        async def __aenter__(self) -> None:
            raise TimeoutError

        async def __aexit__(self, *exc: object) -> None:
            return None

    results = await check_feed(FeedConfig(), clock=clock, seconds=0.2, connect=lambda uri, **kw: Slow())
    assert not results[0].ok and "no answer in time" in results[0].hint


async def test_check_fails_when_connected_but_silent(clock) -> None:
    async with FakeBinanceServer() as server:  # accepts the connection, never sends a trade
        results = await check_feed(FeedConfig(), clock=clock, seconds=0.3, connect=server.connect)
    assert [r.ok for r in results] == [True, False]
    assert "no trades" in results[1].detail and "try feed.source: binance_us or coinbase" in results[1].hint


async def test_check_flags_a_stale_feed(clock) -> None:
    async with FakeBinanceServer() as server:
        server.script = [server.make_trade(65000.0)]  # one trade per connection, then nothing
        check = asyncio.ensure_future(check_feed(FeedConfig(), clock=clock, seconds=0.5, connect=server.connect))
        await server.wait_for_clients()
        await asyncio.sleep(0.1)
        clock.advance(20.0)  # 20 s without a trade by the injected clock (stale, not yet "silent")
        results = await check
    assert [r.ok for r in results] == [True, False]
    assert "1 trades" in results[1].detail and "last 20.0 s ago" in results[1].detail
    assert "feed.stale_after_s" in results[1].hint
