"""The Kalshi websocket client against a local fake venue: handshake, every channel, gap recovery, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.auth.kalshi_auth import KalshiAuth
from src.data import kalshi_ws_messages as m
from src.data.kalshi_ws import DEMO_WS_URL, PROD_WS_URL, KalshiWs, KalshiWsTiming
from src.model.kxbtc15m import market_ticker, window_close
from src.model.models import BookLevel, Side
from src.net.allowlist import HostNotAllowedError
from tests.fakes.kalshi_ws_server import FakeKalshiWs

KEY_ID = "ws-test-key"
T = "KXBTC15M-26DEC071045-45"
FAST = KalshiWsTiming(silence_timeout_s=1.0, liveness_ping_s=0.05, snapshot_timeout_s=0.3, max_backoff_s=0.05,
                      base_backoff_s=0.01, open_timeout_s=2.0)


@pytest.fixture
def key(rsa_private_key: rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    return rsa_private_key


@asynccontextmanager
async def running(key: rsa.RSAPrivateKey, *, watch: tuple[str, ...] = (T,), signer_key: rsa.RSAPrivateKey | None = None,
                  fake: FakeKalshiWs | None = None, **kwargs: Any) -> AsyncIterator[tuple[FakeKalshiWs, KalshiWs]]:
    server = fake or FakeKalshiWs({KEY_ID: key.public_key()})
    async with server:
        kwargs.setdefault("timing", FAST)
        client = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth(KEY_ID, signer_key or key), clock=time.time,
                          connect=server.connect, rng=lambda: 0.5, **kwargs)
        client.watch(list(watch))
        task = asyncio.ensure_future(client.run())
        try:
            yield server, client
        finally:
            client.stop()
            await asyncio.wait_for(task, 5)


def levels(*pairs: tuple[str, str]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(p), Decimal(c)) for p, c in pairs)


def subscribes(server: FakeKalshiWs, channel: str, ticker: str = "") -> list[dict[str, Any]]:
    return [c for c in server.commands if c["cmd"] == "subscribe" and channel in c["params"]["channels"]
            and c["params"].get("market_ticker", "") == ticker]


async def test_signed_handshake_text_commands_and_every_subscription(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10", "0.4200": "5"}, no={"0.5500": "7"})
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        assert server.dialed == [PROD_WS_URL] and server.rejected == []
        assert server.binary_commands == 0  # JSON commands are text frames
        market = subscribes(server, m.CH_BOOK, T)
        assert market[0]["params"]["channels"] == ["orderbook_delta", "ticker", "trade"]
        assert market[0]["params"]["use_yes_price"] is False  # NO bids in NO-leg prices, like REST
        assert subscribes(server, m.CH_LIFECYCLE)
        assert subscribes(server, m.CH_INDEX)[0]["params"]["index_ids"] == ["BRTI"]
        assert not subscribes(server, m.CH_FILL)  # private channels are for live only
        book = client.book(T)
        assert book is not None
        assert book.yes_bids == levels(("0.4000", "10"), ("0.4200", "5"))
        assert book.no_bids == levels(("0.5500", "7"))
        assert book.best_ask(Side.YES) == Decimal("0.4500")
        age = client.book_age(T, time.time())
        assert age is not None and age < 1.0


async def test_deltas_keep_the_book_and_a_level_at_zero_is_dropped(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"}, no={"0.5500": "7"})
    changes: list[str] = []
    async with running(key, fake=fake, on_book=changes.append) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        await server.set_level(T, "yes", "0.4100", "3")
        await server.set_level(T, "no", "0.5500", "0")
        await server.set_level(T, "yes", "0.4000", "12.5")
        await server.wait_for(lambda: client.books.deltas == 3)
        book = client.book(T)
        assert book is not None
        assert book.yes_bids == levels(("0.4000", "12.5"), ("0.4100", "3"))
        assert book.no_bids == ()
        assert changes.count(T) >= 4  # the snapshot and each delta woke the consumer


async def test_a_seq_gap_makes_the_book_unusable_until_a_snapshot_restores_it(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"}, no={"0.5500": "7"})
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        server.gap_next()
        # The delta after the lost one: the client must not apply it to a book it cannot trust.
        server.ignore_get_snapshot = True
        await server.set_level(T, "yes", "0.4100", "3")
        await server.wait_for(lambda: client.books.gaps == 1)
        assert client.book(T) is None and client.book_age(T, time.time()) is None
        await server.wait_for(lambda: any(c["cmd"] == "update_subscription" for c in server.commands))
        ask = next(c for c in server.commands if c["cmd"] == "update_subscription")
        assert ask["params"]["action"] == "get_snapshot" and ask["params"]["market_tickers"] == [T]
        server.ignore_get_snapshot = False
        # Unanswered, the client escalates to a fresh subscription, which starts with a snapshot.
        await server.wait_for(lambda: client.book(T) is not None)
        book = client.book(T)
        assert book is not None and book.yes_bids == levels(("0.4000", "10"), ("0.4100", "3"))
        assert client.resubscribes >= 1


async def test_get_snapshot_answer_restores_the_book(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    async with running(key, fake=fake, timing=KalshiWsTiming(snapshot_timeout_s=30, liveness_ping_s=0.05)) as (
            server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        server.gap_next(3)
        await server.set_level(T, "no", "0.5000", "4")
        await server.wait_for(lambda: client.books.snapshots == 2)
        book = client.book(T)
        assert book is not None and book.no_bids == levels(("0.5000", "4"))
        assert client.resubscribes == 0  # get_snapshot was enough


@pytest.mark.parametrize("code", [10, 25])
async def test_terminal_errors_resubscribe(key, code) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        await server.terminal_error(T, code)
        await server.wait_for(lambda: client.resubscribes == 1 and server.subscriptions(m.CH_BOOK, T) == 1)
        await server.wait_for(lambda: client.book(T) is not None)
        assert len(subscribes(server, m.CH_BOOK, T)) == 2
        assert subscribes(server, m.CH_BOOK, T)[1]["params"]["channels"] == ["orderbook_delta"]


async def test_error_27_puts_the_command_back_after_a_backoff(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    fake.rate_limit_next(2)
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None and client.rate_limited == 2)
        # The two refused commands went out again and took effect.
        await server.wait_for(lambda: server.subscriptions(m.CH_LIFECYCLE) == server.subscriptions(m.CH_INDEX) == 1)
        assert len(subscribes(server, m.CH_LIFECYCLE)) == 2


async def test_a_dropped_connection_is_redialled_and_everything_subscribed_again(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        await server.drop()
        await server.wait_for(lambda: client.reconnects == 1)
        await server.wait_for(lambda: client.book(T) is not None and server.handshakes == 2)
        assert len(subscribes(server, m.CH_BOOK, T)) == 2 and len(subscribes(server, m.CH_INDEX)) == 2
        assert client.error_code in ("", "closed")


async def test_a_silent_connection_is_declared_dead_and_replaced(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        server.stall()  # no frames, no pongs
        await server.wait_for(lambda: client.reconnects == 1)
        assert client.last_disconnect.startswith("no data and no pong")
        await server.wait_for(lambda: client.book(T) is not None and server.handshakes == 2)


async def test_a_401_handshake_is_reported_and_retried_with_backoff(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.reject_status = 401
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: len(server.rejected) >= 2 and client.error_code == "auth")
        assert not client.connected and server.handshakes == 0
        assert "401" in client.last_error and "key" in client.last_error
        fake.reject_status = None
        await server.wait_for(lambda: client.connected and server.handshakes == 1)


async def test_a_refused_handshake_s_retry_after_is_honoured(key, sleeps) -> None:
    """A 429 on the handshake with Retry-After: the next dial waits at least that long (the jittered backoff
    alone would come back within 0.05 s, and coming back sooner only prolongs the refusal)."""
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.reject_status = 429
    fake.reject_retry_after = "7"
    async with running(key, fake=fake, sleep=sleeps) as (server, client):
        await server.wait_for(lambda: len(server.rejected) >= 3 and len(sleeps.waits) >= 2)
        assert client.error_code == "handshake" and "429" in client.last_error
        assert sleeps.waits[:2] == [7.0, 7.0]
        fake.reject_status = None
        fake.reject_retry_after = None
        await server.wait_for(lambda: client.connected and server.handshakes == 1)
        waits = len(sleeps.waits)
        await server.drop()  # a loss without Retry-After goes back to the short jittered backoff
        await server.wait_for(lambda: len(sleeps.waits) > waits and server.handshakes == 2)
        assert sleeps.waits[waits] <= FAST.max_backoff_s


async def test_a_wrong_key_fails_the_signature_check(key) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with running(key, signer_key=other) as (server, client):
        await server.wait_for(lambda: len(server.rejected) >= 1 and client.error_code == "auth")
        assert server.rejected[0] == "INCORRECT_API_KEY_SIGNATURE"
        assert client.error_code == "auth" and server.handshakes == 0


async def test_ticker_and_public_trades(key) -> None:
    trades: list[m.PublicTrade] = []
    async with running(key, on_trade=trades.append) as (server, client):
        await server.wait_for(lambda: server.subscriptions(m.CH_TRADE, T) == 1 and server.subscriptions(
            m.CH_TICKER, T) == 1)
        await server.send_trade(T, "0.6100", "12.00", taker="no")
        await server.send_ticker(T, "0.6100", "0.6000", "0.6200")
        await server.wait_for(lambda: T in client.tickers and trades)
        assert trades[0].yes_price == Decimal("0.6100") and trades[0].count == Decimal("12.00")
        assert trades[0].taker_side is Side.NO and client.trades[-1] == trades[0]
        tick = client.tickers[T]
        assert (tick.yes_bid, tick.yes_ask, tick.last_price) == tuple(map(Decimal, ("0.6000", "0.6200", "0.6100")))


async def test_lifecycle_subscribes_the_next_window_before_it_opens(key) -> None:
    events: list[m.LifecycleEvent] = []
    fees: list[m.FeeUpdate] = []
    now = time.time()
    nxt = market_ticker(window_close(now) + 900)
    async with running(key, on_lifecycle=events.append, on_fee_update=fees.append) as (server, client):
        await server.wait_for(lambda: server.subscriptions(m.CH_LIFECYCLE) == 1)
        await server.send_lifecycle("OTHER-26DEC07-T1", "created", open_ts=int(now))
        opens = int(window_close(now))
        await server.send_lifecycle(nxt, "created", open_ts=opens, close_ts=opens + 900,
                                    additional_metadata={"floor_strike": 91234.56, "strike_type": "greater_or_equal",
                                                         "event_ticker": nxt.rsplit("-", 1)[0]})
        await server.send_lifecycle(T, "determined", result="yes", settlement_value="1.0000", determination_ts=1)
        await server.send_fee_update(T.rsplit("-", 1)[0], "quadratic", 1)
        await server.wait_for(lambda: len(events) == 2 and fees)
        await server.wait_for(lambda: server.subscriptions(m.CH_BOOK, nxt) == 1)
        assert nxt in client.watched
        assert events[0].floor_strike == Decimal("91234.56") and events[0].strike_type == "greater_or_equal"
        assert events[1].result == "yes" and events[1].settlement_value == Decimal("1.0000")
        assert "OTHER-26DEC07-T1" not in client.lifecycle and fees[0].multiplier == Decimal("1")


async def test_brti_values_and_the_settlement_average(key) -> None:
    seen: list[m.IndexValue] = []
    async with running(key, on_index=seen.append) as (server, client):
        await server.wait_for(lambda: server.subscriptions(m.CH_INDEX) == 1)
        await server.send_index("91000.12", avg_60s="90990.50000000", settle_avg="90995.25000000", settle_count=42)
        await server.wait_for(lambda: seen)
        value = client.index_value()
        assert value is not None and value.value == Decimal("91000.12")
        assert value.avg_60s.value == Decimal("90990.50000000")
        assert value.settle_avg is not None and value.settle_avg.count == 42
        age = client.index_age(time.time())
        assert age is not None and age < 1.0


async def test_private_fills_and_orders_stream_typed_and_by_client_order_id(key) -> None:
    async with running(key, private=True) as (server, client):
        await server.wait_for(lambda: server.subscriptions(m.CH_FILL) == server.subscriptions(m.CH_USER_ORDERS) == 1)
        got: list[Any] = []

        async def consume() -> None:
            async for event in client.user_events():
                got.append(event)

        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        await server.send_user_order(order_id="o1", client_order_id="pbabc", ticker=T, side="no", status="executed",
                                     yes_price="0.3500", filled="4.00", remaining="0.00")
        await server.send_fill(order_id="o1", client_order_id="pbabc", ticker=T, side="no", yes_price="0.3500",
                               count="4.00", trade_id="tr1")
        await server.send_fill(order_id="o1", client_order_id="pbabc", ticker=T, side="no", yes_price="0.3500",
                               count="4.00", trade_id="tr1")  # a repeat is not a second fill
        await server.wait_for(lambda: len(got) == 3)
        consumer.cancel()
        order = client.order_update("pbabc")
        assert isinstance(got[0], m.UserOrderUpdate) and order is not None and order.status == "executed"
        assert order.filled == Decimal("4.00")
        fills = client.fills_for("pbabc")
        assert len(fills) == 1 and fills[0].price == Decimal("0.6500")  # NO paid 1 - yes price
        fill = fills[0].to_fill()
        assert fill.side is Side.NO and fill.count == Decimal("4.00") and fill.fee == Decimal("0.020000")


async def test_garbage_frames_are_counted_and_skipped(key) -> None:
    async with running(key) as (server, client):
        await server.wait_for(lambda: client.connected and server.subscriptions(m.CH_INDEX) == 1)
        for junk in ("{not json", "[1,2]", '{"type":"orderbook_delta","sid":1,"seq":"x","msg":{}}',
                     '{"type":"trade","sid":1,"msg":{"price":1.5}}', '{"type":"some_new_kind","msg":{}}'):
            await server.broadcast_raw(junk)
        await server.send_index("91000.00")
        await server.wait_for(lambda: client.index_value() is not None)
        assert client.malformed == 4 and client.connected


async def test_unwatching_a_market_unsubscribes_it_and_forgets_its_book(key) -> None:
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    async with running(key, fake=fake) as (server, client):
        await server.wait_for(lambda: client.book(T) is not None)
        client.watch([])
        await server.wait_for(lambda: server.subscriptions(m.CH_BOOK, T) == 0)
        assert client.book(T) is None and client.watched == []


def test_the_client_refuses_urls_off_its_allowlist(key) -> None:
    for url in ("wss://evil.example/trade-api/ws/v2", "ws://external-api-ws.kalshi.com/trade-api/ws/v2",
                "wss://external-api.kalshi.com/trade-api/ws/v2"):
        with pytest.raises(HostNotAllowedError):
            KalshiWs(url=url, signer=KalshiAuth(KEY_ID, key), clock=time.time)
    KalshiWs(url=DEMO_WS_URL, signer=KalshiAuth(KEY_ID, key), clock=time.time)


async def test_commands_are_rate_limited(key) -> None:
    markets = [f"KXBTC15M-26DEC07{1000 + i}-00" for i in range(12)]
    timing = KalshiWsTiming(commands_per_s=5, liveness_ping_s=0.05)
    async with running(key, watch=tuple(markets), timing=timing) as (server, client):
        await server.wait_for(lambda: len(server.commands) >= 2 + len(markets))  # lifecycle, BRTI, 12 markets
        times = server.command_times
        # 14 commands at 5 a second go out in three bursts a second apart (unlimited, they would take
        # milliseconds). Measured where the server gets to them, so allow for its own delays.
        assert times[-1] - times[0] >= 1.5
        assert client.rate_limited == 0


async def test_an_old_connection_is_replaced_on_our_terms_without_backoff(key) -> None:
    timing = KalshiWsTiming(max_connection_age_s=0.3, liveness_ping_s=0.05, base_backoff_s=5, max_backoff_s=10)
    fake = FakeKalshiWs({KEY_ID: key.public_key()})
    fake.set_book(T, yes={"0.4000": "10"})
    async with running(key, fake=fake, timing=timing) as (server, client):
        await server.wait_for(lambda: server.handshakes >= 3)  # no 5-10 s backoff between them
        assert client.last_disconnect == "planned" and client.error_code == ""
        await server.wait_for(lambda: client.book(T) is not None)


async def test_a_market_unwatched_before_its_subscription_is_confirmed_is_unsubscribed(key) -> None:
    async with running(key, watch=()) as (server, client):
        await server.wait_for(lambda: server.subscriptions(m.CH_INDEX) == 1)
        client.watch([T])
        client.watch([])  # before the server has answered
        await server.wait_for(lambda: any(c["cmd"] == "unsubscribe" for c in server.commands))
        await server.wait_for(lambda: server.subscriptions(m.CH_BOOK, T) == 0)
        assert client.book(T) is None and client.watched == []


levels_st = st.dictionaries(st.integers(1, 99), st.integers(1, 500), max_size=6)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(yes=levels_st, no=levels_st, ops=st.lists(st.tuples(st.sampled_from(["yes", "no"]), st.integers(1, 99),
                                                          st.integers(0, 500)), min_size=1, max_size=25))
def test_over_the_wire_snapshot_plus_deltas_equals_a_fresh_snapshot(key, yes, no, ops) -> None:
    """End to end through the fake venue: whatever the changes, the client's book equals a fresh snapshot."""

    def cents(levels: dict[int, int]) -> dict[str, str]:
        return {f"{p / 100:.4f}": f"{c}.00" for p, c in levels.items()}

    async def scenario() -> None:
        fake = FakeKalshiWs({KEY_ID: key.public_key()})
        fake.set_book(T, yes=cents(yes), no=cents(no))
        async with running(key, fake=fake) as (server, client):
            await server.wait_for(lambda: client.book(T) is not None)
            for side, price, count in ops:
                await server.set_level(T, side, f"{price / 100:.4f}", str(count))
            sent = len(server.delta_sent_ns)
            await server.wait_for(lambda: client.books.deltas == sent)
            ours = client.book(T)
            fresh = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth(KEY_ID, key), clock=time.time, connect=server.connect,
                             timing=FAST)
            fresh.watch([T])
            task = asyncio.ensure_future(fresh.run())
            try:
                await server.wait_for(lambda: fresh.book(T) is not None)
                theirs = fresh.book(T)
            finally:
                fresh.stop()
                await asyncio.wait_for(task, 5)
            assert ours is not None and theirs is not None
            assert (ours.yes_bids, ours.no_bids) == (theirs.yes_bids, theirs.no_bids)

    asyncio.run(scenario())
