"""CoinbaseFeed: match/last_match payloads, subscribe on every connect, faults, 451 hint, allowlist."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from src.data.coinbase import COINBASE_URL, SUBSCRIBE_MESSAGE, CoinbaseFeed, parse_time
from src.data.ws_feed import PROACTIVE_RECONNECT_S, FeedBlockedError
from src.net.allowlist import HostNotAllowedError
from tests.fakes.coinbase_server import FakeCoinbaseServer, error_payload, match_payload
from tests.fakes.fake_ws import wait_until

# The match example from Coinbase Exchange's websocket channel documentation.
DOC_MATCH = (
    b'{"type":"match","trade_id":10,"sequence":50,'
    b'"maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8",'
    b'"taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1",'
    b'"time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.23512","price":"400.23",'
    b'"side":"sell"}'
)


@pytest.fixture
async def server() -> AsyncIterator[FakeCoinbaseServer]:
    async with FakeCoinbaseServer() as srv:
        yield srv


def make(clock: Any, server: FakeCoinbaseServer | None = None, **kwargs: Any) -> CoinbaseFeed:
    options: dict[str, Any] = {"watch_interval_s": 0.005, "base_backoff_s": 0.01, "max_backoff_s": 0.05}
    options.update(kwargs)
    return CoinbaseFeed(clock, connect=server.connect if server else None, **options)


async def finish(feed: CoinbaseFeed, task: asyncio.Task[None]) -> None:
    feed.stop()
    await asyncio.wait_for(task, 5.0)


# -- parsing ----------------------------------------------------------------------------------------


def test_documented_match_is_a_tick(clock) -> None:
    feed = CoinbaseFeed(clock)
    assert feed.handle_frame(DOC_MATCH, clock()) is False
    snap = feed.snapshot()
    assert feed.ticks == 1 and snap.price == 400.23
    assert snap.last_trade_ts == pytest.approx(1415348367.028459, abs=1e-6)
    assert snap.source == "coinbase"


def test_last_match_counts_and_extra_fields_are_tolerated(clock) -> None:
    feed = CoinbaseFeed(clock)
    feed.handle_frame(match_payload(65000.0, 1, 1_700_000_000.0, 1, kind="last_match"), clock())
    extra = {"taker_user_id": "u", "taker_fee_rate": "0.006", "new_field": {"x": 1}}
    feed.handle_frame(match_payload(65001.0, 2, 1_700_000_000.5, 2, extra=extra), clock())
    minimal = match_payload(65002.0, 3, 1_700_000_001.0, 3, omit=("sequence", "maker_order_id", "size", "side"))
    feed.handle_frame(minimal, clock())
    assert feed.ticks == 3 and feed.malformed == 0
    assert feed.snapshot().price == 65002.0


def test_subscriptions_and_heartbeats_are_quiet(clock) -> None:
    feed = CoinbaseFeed(clock)
    feed.handle_frame(b'{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]}]}', 0)
    feed.handle_frame(b'{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD"}', 0)
    assert feed.ticks == 0 and feed.malformed == 0


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"[]",
        b'{"no_type":1}',
        b'{"type":"match","trade_id":1,"time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD"}',
        b'{"type":"match","trade_id":1,"time":"yesterday","product_id":"BTC-USD","price":"1"}',
        b'{"type":"match","trade_id":1,"time":"2014-11-07T08:19:27.028459","product_id":"BTC-USD","price":"1"}',
        b'{"type":"match","trade_id":1,"time":12,"product_id":"BTC-USD","price":"1"}',
        b'{"type":"match","trade_id":"x","time":"2014-11-07T08:19:27Z","product_id":"BTC-USD","price":"1"}',
        b'{"type":"match","trade_id":1,"time":"2014-11-07T08:19:27Z","product_id":"ETH-USD","price":"1"}',
        b'{"type":"ticker","price":"1"}',
    ],
)
def test_malformed_frames_are_counted_and_skipped(clock, frame: bytes) -> None:
    feed = CoinbaseFeed(clock)
    assert feed.handle_frame(frame, clock()) is False
    assert feed.malformed == 1 and feed.ticks == 0
    feed.handle_frame(DOC_MATCH, clock())
    assert feed.ticks == 1


def test_error_message_asks_for_a_reconnect_and_is_recorded(clock) -> None:
    feed = CoinbaseFeed(clock)
    assert feed.handle_frame(error_payload("Failed to subscribe", "BTC-USDX is not a valid product"), 0) is True
    assert feed.error_code == "venue_error"
    assert feed.last_error == "coinbase error: Failed to subscribe BTC-USDX is not a valid product"


def test_time_parsing() -> None:
    assert parse_time("2014-11-07T08:19:27.028459Z") == pytest.approx(1415348367.028459, abs=1e-6)
    assert parse_time("2014-11-07T08:19:27Z") == 1415348367.0
    assert parse_time("2014-11-07T09:19:27.5+01:00") == 1415348367.5
    with pytest.raises(ValueError):
        parse_time("2014-11-07T08:19:27")


# -- against the fake server ------------------------------------------------------------------------


async def test_subscribes_and_streams(clock, server: FakeCoinbaseServer) -> None:
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    assert [orjson.loads(s) for s in server.subscribes] == [SUBSCRIBE_MESSAGE]
    assert all(isinstance(s, str) for s in server.subscribes)  # text frames: a binary one is refused
    await wait_until(lambda: feed.ticks == 1)  # the last_match sent after subscribing
    for _ in range(20):
        await server.send_match()
    await wait_until(lambda: feed.ticks == 21)
    assert server.dialed == [COINBASE_URL]
    assert not feed.snapshot().stale
    await finish(feed, task)


async def test_resubscribes_after_a_drop_and_ignores_the_repeated_last_match(clock, server: FakeCoinbaseServer) -> None:
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    for _ in range(5):
        await server.send_match()
    await wait_until(lambda: feed.ticks == 6)
    await server.drop()
    await server.wait_for_clients(2)
    assert len(server.subscribes) == 2  # subscribed again on the new connection
    await wait_until(lambda: feed.frames >= 9)  # subscriptions + last_match arrived again
    assert feed.ticks == 6 and feed.stats().ignored == 1  # last_match was the trade it already had
    await server.send_match()
    await wait_until(lambda: feed.ticks == 7)
    snap = feed.snapshot()
    assert snap.ticks_in_window == 7 and snap.gap_in_window
    await finish(feed, task)


async def test_venue_error_reconnects_with_backoff(clock, server: FakeCoinbaseServer) -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    feed = make(clock, server, sleep=record)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    await server.send_error("Failed to subscribe", "temporarily unavailable")
    await server.wait_for_clients(2)
    assert len(delays) == 1 and feed.error_code == "venue_error"
    await finish(feed, task)


async def test_stall_is_stale_on_the_injected_clock(clock, server: FakeCoinbaseServer) -> None:
    feed = make(clock, server, silence_timeout_s=30.0)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    await wait_until(lambda: feed.ticks == 1)
    server.stall()
    clock.advance(11.0)
    assert feed.snapshot().stale
    clock.advance(20.0)
    await server.wait_for_clients(2)
    assert feed.error_code == "silent"
    await finish(feed, task)


async def test_proactive_reconnect_applies_to_coinbase_too(clock, server: FakeCoinbaseServer) -> None:
    feed = make(clock, server, silence_timeout_s=10 * PROACTIVE_RECONNECT_S)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    clock.advance(PROACTIVE_RECONNECT_S)
    await server.wait_for_clients(2)
    assert len(server.subscribes) == 2
    await finish(feed, task)


async def test_http_451_hint(clock, server: FakeCoinbaseServer) -> None:
    server.reject_status = 451
    feed = make(clock, server)
    with pytest.raises(FeedBlockedError, match="set feed.source: binance_us or binance"):
        await asyncio.wait_for(feed.run(), 5.0)


@pytest.mark.parametrize(
    "url",
    [
        "wss://ws-feed.exchange.coinbase.com.evil.example",
        "wss://ws-feed-public.sandbox.exchange.coinbase.com",
        "wss://advanced-trade-ws.coinbase.com",
        "ws://ws-feed.exchange.coinbase.com",
    ],
)
async def test_allowlist_refuses_other_hosts(clock, server: FakeCoinbaseServer, url: str) -> None:
    feed = make(clock, server, url=url)
    with pytest.raises(HostNotAllowedError):
        await asyncio.wait_for(feed.run(), 5.0)
    assert server.dialed == [] and server.accepted == 0


async def test_a_venue_that_errors_right_after_subscribing_is_not_hammered(clock) -> None:
    async with FakeCoinbaseServer(script=[error_payload("Failed to subscribe", "try later")]) as server:
        delays: list[float] = []

        async def record(delay: float) -> None:
            delays.append(delay)
            if len(delays) >= 4:
                feed.stop()

        feed = make(clock, server, base_backoff_s=1.0, max_backoff_s=8.0, rng=lambda: 1.0, sleep=record)
        await asyncio.wait_for(feed.run(), 5.0)
    # The first connection brought a new trade (last_match), the later ones only the same one again.
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert feed.ticks == 1 and feed.error_code == "venue_error"
