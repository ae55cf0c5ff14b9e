"""Tests for the Kalshi client against the local TLS fake: parsing, routing, limits, retries, idempotent orders."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import src.platforms.kalshi_requests as requests_mod
import src.platforms.kalshi_transport as transport_mod
import src.platforms.kalshi_wire as wire_mod
from src.auth.kalshi_auth import KalshiAuth, KalshiAuthError
from src.config import load_settings
from src.model.interfaces import MarketData, OrderVenue
from src.model.kxbtc15m import WINDOW_S, market_ticker, window_close
from src.model.models import ExchangeStatus, Market, Order, OrderBook, Side
from src.net.allowlist import HostNotAllowedError
from src.net.backoff import RetryPolicy
from src.net.rate_limit import TokenBucket
from src.platforms.kalshi import (
    KalshiAPIError,
    KalshiAuthFailure,
    KalshiClient,
    KalshiNoCredentials,
    KalshiOrderUncertain,
    KalshiRequestError,
    KalshiTransportError,
    _Target,
    order_body,
    parse_order,
)
from src.platforms.kalshi_verify import verify_kalshi
from tests.fakes.kalshi_server import FakeKalshiServer

ORDERS = "/portfolio/events/orders"
LISTED_ORDERS = "/portfolio/orders"


@pytest.fixture
def market(server: FakeKalshiServer) -> str:
    m = server.fake.add_kxbtc15m_market(time.time(), floor_strike="95000.12")
    server.fake.set_book(m.ticker, yes=[("0.40", "10"), ("0.42", "5")], no=[("0.50", "20"), ("0.55", "5")])
    return m.ticker


def fast_policy(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.05, budget_s=30)


# ---------------------------------------------------------------- protocols, routing, signing


@pytest.mark.parametrize("protocol", [MarketData, OrderVenue])
def test_client_implements_the_protocols(protocol: type) -> None:
    names = [n for n, v in vars(protocol).items() if inspect.iscoroutinefunction(v)]
    assert names
    for name in names:
        ours = getattr(KalshiClient, name)
        assert inspect.iscoroutinefunction(ours), name
        wanted = inspect.signature(getattr(protocol, name)).parameters
        have = inspect.signature(ours).parameters
        for param in wanted:
            assert param in have, f"{name} lacks {param}"
            assert (wanted[param].default is inspect.Parameter.empty) or (
                have[param].default == wanted[param].default
            ), f"{name}.{param} default differs"


async def test_market_data_unsigned_on_market_env_portfolio_signed_on_env(
    server: FakeKalshiServer, market: str
) -> None:
    async with server.client(env="demo", market_data_env="prod") as client:
        await client.get_orderbook(market)
        await client.get_market(market)
        await client.get_exchange_status()
        await client.get_markets(series_ticker="KXBTC15M")
        await client.get_balance()
    reqs = server.fake.requests
    public = [r for r in reqs if not r.path.startswith("/portfolio")]
    private = [r for r in reqs if r.path.startswith("/portfolio")]
    assert len(public) == 4 and len(private) == 1
    assert all(not r.signed and r.host == "external-api.kalshi.com" for r in public)
    assert all(r.signed and r.host == "demo-api.kalshi.co" for r in private)


async def test_market_data_works_without_credentials_and_portfolio_refuses(
    server: FakeKalshiServer, market: str
) -> None:
    async with server.client(with_auth=False) as client:
        assert not client.has_credentials
        book = await client.get_orderbook(market)
        assert book.best_bid(Side.YES) == Decimal("0.42")
        before = len(server.fake.requests)
        with pytest.raises(KalshiNoCredentials, match="KALSHI_API_KEY_ID"):
            await client.get_balance()
        with pytest.raises(KalshiNoCredentials):
            await client.place_order(market, Side.YES, Decimal("1"), Decimal("0.5"), "c-1")
        assert len(server.fake.requests) == before  # nothing was sent


async def test_every_signed_request_passes_the_fake_verifier(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        await client.get_balance()
        await client.get_positions()
        await client.get_fills()
        await client.get_orders()
        await client.get_settlements()
        await client.place_order(market, Side.YES, Decimal("1"), Decimal("0.50"), "sig-1")
    signed = [r for r in server.fake.requests if r.signed]
    assert len(signed) == 6  # all answered 2xx: a bad signature would have been a 401


async def test_check_url_runs_on_every_request(
    server: FakeKalshiServer, market: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = transport_mod.check_url

    def counting(url: str, hosts: frozenset[str], schemes: frozenset[str]) -> str:
        seen.append(url)
        return real(url, hosts, schemes)

    monkeypatch.setattr(transport_mod, "check_url", counting)
    async with server.client() as client:
        await client.get_orderbook(market)
        await client.get_balance()
        # A target outside the allowlist is refused before anything is sent.
        client._market = _Target("https://evil.example/trade-api/v2", signed=False)
        before = len(server.fake.requests)
        with pytest.raises(HostNotAllowedError):
            await client.get_exchange_status()
        assert len(server.fake.requests) == before
    assert any("/orderbook" in u for u in seen) and any("/portfolio/balance" in u for u in seen)
    assert seen[-1].startswith("https://evil.example")


async def test_redirects_are_not_followed(server: FakeKalshiServer, market: str) -> None:
    server.fake.redirect_next("https://evil.example/steal", path="/markets")
    async with server.client() as client:
        with pytest.raises(KalshiAPIError) as info:
            await client.get_market(market)
    assert info.value.status == 302 and info.value.code == "redirect_refused"
    assert len(server.fake.requests) == 1


def test_constructor_refuses_rates_above_the_code_limits() -> None:
    with pytest.raises(KalshiRequestError, match="reads_per_s"):
        KalshiClient(reads_per_s=11)
    with pytest.raises(KalshiRequestError, match="writes_per_s"):
        KalshiClient(writes_per_s=Decimal("5.5"))
    with pytest.raises(KalshiRequestError):
        KalshiClient(reads_per_s=0)
    with pytest.raises(KalshiRequestError, match="env"):
        KalshiClient(env="staging")  # type: ignore[arg-type]
    slow = KalshiClient(reads_per_s=Decimal("2.5"), writes_per_s=1)
    assert slow.read_limiter.rate_per_s == 2 and slow.write_limiter.rate_per_s == 1


# ---------------------------------------------------------------- parsing of every endpoint


async def test_exchange_status(server: FakeKalshiServer) -> None:
    server.fake.set_exchange_status(exchange_active=True, trading_active=False)
    async with server.client() as client:
        assert await client.get_exchange_status() == ExchangeStatus(True, False, "")


async def test_market_is_typed_with_decimals(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        m = await client.get_market(market)
    assert isinstance(m, Market)
    assert m.floor_strike == Decimal("95000.12") and isinstance(m.floor_strike, Decimal)
    assert (m.yes_bid, m.yes_ask, m.no_bid, m.no_ask) == (
        Decimal("0.42"), Decimal("0.45"), Decimal("0.55"), Decimal("0.58"),
    )
    assert m.close_time.timestamp() - m.open_time.timestamp() == WINDOW_S
    assert m.status == "active" and m.result == "" and m.expiration_value is None


async def test_market_without_strike_yet(server: FakeKalshiServer) -> None:
    now = time.time()
    m = server.fake.add_kxbtc15m_market(now, floor_strike=None)
    async with server.client() as client:
        current = await client.get_current_market(now)
    assert current is not None and current.ticker == m.ticker and current.floor_strike is None


async def test_orderbook_parsing(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        book = await client.get_orderbook(market)
        server.fake.set_book(market)
        empty = await client.get_orderbook(market)
    assert isinstance(book, OrderBook)
    assert [lvl.price for lvl in book.yes_bids] == [Decimal("0.40"), Decimal("0.42")]
    assert [lvl.count for lvl in book.no_bids] == [Decimal("20"), Decimal("5")]
    assert book.best_ask(Side.YES) == Decimal("0.45")
    assert book.best_ask(Side.NO) == Decimal("0.58")
    assert empty.yes_bids == () and empty.no_bids == ()


async def test_markets_pagination_and_filters(server: FakeKalshiServer) -> None:
    now = time.time()
    for i in range(5):
        server.fake.add_kxbtc15m_market(now, offset_windows=i)
    server.fake.add_market("OTHER-1", open_ts=now - 10, close_ts=now + 100)
    server.fake.page_size = 2
    async with server.client() as client:
        markets = await client.get_markets(series_ticker="KXBTC15M", status="open")
    assert len(markets) == 5
    assert len({m.ticker for m in markets}) == 5
    listing = server.fake.requests_to("/markets")
    assert len(listing) == 3
    assert "cursor" not in listing[0].query and "cursor=2" in listing[1].query and "cursor=4" in listing[2].query
    assert all("series_ticker=KXBTC15M" in r.query and "status=open" in r.query for r in listing)


async def test_pagination_loop_is_detected(server: FakeKalshiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def same_cursor(*args: object, **kwargs: object) -> dict[str, object]:
        return {"markets": [], "cursor": "again"}

    async with server.client() as client:
        monkeypatch.setattr(client, "_call", same_cursor)
        with pytest.raises(KalshiAPIError, match="pagination_loop"):
            await client.get_markets()


async def test_balance_is_exact_decimal(server: FakeKalshiServer) -> None:
    server.fake.set_balance("123.4567")
    async with server.client() as client:
        assert await client.get_balance() == Decimal("123.4567")


async def test_orders_fills_positions_settlements(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        yes = await client.place_order(market, Side.YES, Decimal("3"), Decimal("0.46"), "buy-yes")
        no = await client.place_order(market, Side.NO, Decimal("5"), Decimal("0.60"), "buy-no")
        orders = {o.client_order_id: o for o in await client.get_orders()}
        fills = await client.get_fills(market)
        positions = await client.get_positions()
        server.fake.settle(market, "no", expiration_value="94000.5")
        settlements = await client.get_settlements()
        settled_market = await client.get_market(market)
    # YES bought by lifting the 0.55 NO bid (YES ask 0.45); NO bought by hitting YES bids 0.42 then 0.40.
    assert yes.status == "executed" and yes.filled_count == 3 and yes.avg_fill_price == Decimal("0.45")
    assert yes.fees == Decimal("0.06")  # ceil(0.07 * 3 * 0.45 * 0.55 = 0.051975) = 0.06
    assert no.side is Side.NO and no.filled_count == 5
    assert no.avg_fill_price == Decimal("0.58")  # 5 against the 0.42 YES bid: 1 - 0.42
    assert orders["buy-yes"].side is Side.YES and orders["buy-yes"].limit_price == Decimal("0.46")
    assert orders["buy-no"].side is Side.NO and orders["buy-no"].limit_price == Decimal("0.60")
    assert all(isinstance(o.filled_count, Decimal) for o in orders.values())
    assert {(f.side, f.price, f.count) for f in fills} == {
        (Side.YES, Decimal("0.45"), Decimal("3")),
        (Side.NO, Decimal("0.58"), Decimal("5")),
    }
    assert all(f.fee > 0 for f in fills)
    # 3 YES + 5 NO net to 2 NO.
    assert len(positions) == 1
    assert positions[0].side is Side.NO and positions[0].count == 2
    assert settlements[0].result == "no" and settlements[0].revenue == Decimal("2")
    assert settlements[0].no_count == 2
    assert settled_market.result == "no" and settled_market.expiration_value == Decimal("94000.5")


def test_listed_order_side_conventions() -> None:
    base = {
        "order_id": "o", "client_order_id": "c", "ticker": "T", "status": "resting",
        "yes_price_dollars": "0.3000", "no_price_dollars": "0.7000",
        "fill_count_fp": "0.00", "remaining_count_fp": "4.00", "initial_count_fp": "4.00",
    }
    cases = {
        ("yes", "buy"): (Side.YES, Decimal("0.30")),
        ("yes", "sell"): (Side.NO, Decimal("0.70")),
        ("no", "buy"): (Side.NO, Decimal("0.70")),
        ("no", "sell"): (Side.YES, Decimal("0.30")),
        ("bid", ""): (Side.YES, Decimal("0.30")),
        ("ask", ""): (Side.NO, Decimal("0.70")),
    }
    for (side, action), expected in cases.items():
        order = parse_order({**base, "side": side, "action": action})
        assert (order.side, order.limit_price) == expected, (side, action)
        assert order.count == 4 and order.remaining_count == 4


def test_parsing_rejects_floats_bad_numbers_and_missing_fields() -> None:
    good = {"order_id": "o", "ticker": "T", "side": "yes", "action": "buy", "yes_price_dollars": "0.3000"}
    with pytest.raises(KalshiAPIError, match="malformed_response"):
        parse_order({**good, "yes_price_dollars": "abc"})
    with pytest.raises(KalshiAPIError, match="malformed_response"):
        parse_order({**good, "yes_price_dollars": 0.3})  # a float would lose exactness
    with pytest.raises(KalshiAPIError, match="order_id"):
        parse_order({k: v for k, v in good.items() if k != "order_id"})
    with pytest.raises(KalshiAPIError):
        parse_order({**good, "fill_count_fp": "NaN"})


# ---------------------------------------------------------------- orders


async def test_order_request_is_v2_shape(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        await client.place_order(market, Side.NO, Decimal("2"), Decimal("0.59"), "no-at-59", "immediate_or_cancel")
    posts = server.fake.requests_to(ORDERS, "POST")
    assert len(posts) == 1
    assert json.loads(posts[0].body) == {
        "ticker": market,
        "client_order_id": "no-at-59",
        "side": "ask",  # buying NO at 0.59 = asking YES at 0.41
        "count": "2.00",
        "price": "0.4100",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
    }
    assert not server.fake.requests_to(LISTED_ORDERS, "POST")  # V1 never used


@pytest.mark.parametrize(
    ("count", "price", "coid", "tif", "match"),
    [
        (Decimal("1"), Decimal("1"), "c", "fill_or_kill", "price"),
        (Decimal("1"), Decimal("0"), "c", "fill_or_kill", "price"),
        (Decimal("1"), Decimal("0.12345"), "c", "fill_or_kill", "decimal places"),
        (Decimal("0"), Decimal("0.5"), "c", "fill_or_kill", "count"),
        (Decimal("1.5"), Decimal("0.5"), "c", "fill_or_kill", "whole"),
        (Decimal("1"), Decimal("0.5"), "", "fill_or_kill", "client_order_id"),
        (Decimal("1"), Decimal("0.5"), "x" * 65, "fill_or_kill", "client_order_id"),
        (Decimal("1"), Decimal("0.5"), "has space", "fill_or_kill", "client_order_id"),
        (Decimal("1"), Decimal("0.5"), "c", "gtt", "time_in_force"),
        (1, Decimal("0.5"), "c", "fill_or_kill", "count"),
    ],
)
async def test_bad_order_input_is_refused_before_sending(
    server: FakeKalshiServer, market: str, count: Decimal, price: Decimal, coid: str, tif: str, match: str
) -> None:
    async with server.client() as client:
        with pytest.raises(KalshiRequestError, match=match):
            await client.place_order(market, Side.YES, count, price, coid, tif)
    assert server.fake.requests == []


def test_order_body_yes_side() -> None:
    body = order_body("KXBTC15M-26APR271445-45", Side.YES, Decimal("10"), Decimal("0.56"), "abc")
    assert (body["side"], body["price"], body["count"]) == ("bid", "0.5600", "10.00")


async def test_get_order_by_client_id_and_cancel(server: FakeKalshiServer, market: str) -> None:
    resting = server.fake.add_resting_order(market, buy="yes", price="0.30", count="4", client_order_id="rest-1")
    async with server.client() as client:
        found = await client.get_order_by_client_id("rest-1")
        missing = await client.get_order_by_client_id("nope")
        assert found is not None and found.order_id == resting.order_id and found.status == "resting"
        assert missing is None
        await client.cancel_order(resting.order_id)
        with pytest.raises(KalshiAPIError) as info:
            await client.cancel_order("00000000-0000-0000-0000-000000000000")
    assert info.value.status == 404
    assert resting.status == "canceled"
    assert server.fake.requests_to(f"{ORDERS}/{resting.order_id}", "DELETE")


async def test_gtc_order_rests(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        order = await client.place_order(market, Side.YES, Decimal("4"), Decimal("0.30"), "gtc-1", "good_till_canceled")
    assert order.status == "resting" and order.remaining_count == 4 and order.filled_count == 0


async def test_cancel_all_is_one_batch_request(server: FakeKalshiServer, market: str) -> None:
    for i in range(25):
        server.fake.add_resting_order(market, buy="yes" if i % 2 else "no", price="0.10", count="1")
    async with server.client() as client:
        await client.cancel_all_orders()
        assert await client.get_orders(status="resting") == []
    assert len(server.fake.requests_to(ORDERS, "DELETE")) == 1  # Kalshi's single cancel-all
    assert not server.fake.requests_to(f"{ORDERS}/batched", "DELETE")
    assert all(o.status == "canceled" for o in server.fake.orders.values())


async def test_v1_order_endpoint_answers_410(server: FakeKalshiServer) -> None:
    auth = server.auth()
    headers = auth.headers("POST", "/trade-api/v2/portfolio/orders")
    async with aiohttp.ClientSession(connector=server.connector()) as session:
        async with session.post(
            "https://demo-api.kalshi.co/trade-api/v2/portfolio/orders", json={}, headers=headers
        ) as resp:
            body = await resp.json()
    assert resp.status == 410 and body["error"]["code"] == "deprecated_v1_order_endpoint"


# ---------------------------------------------------------------- idempotency under faults


async def test_accept_then_drop_is_uncertain_and_never_resent(server: FakeKalshiServer, market: str) -> None:
    server.fake.drop_next(after_processing=True, method="POST", path=ORDERS)
    async with server.client(retry_policy=fast_policy()) as client:
        with pytest.raises(KalshiOrderUncertain) as info:
            await client.place_order(market, Side.YES, Decimal("2"), Decimal("0.50"), "once-1")
    assert info.value.client_order_id == "once-1"
    assert len(server.fake.orders_with_client_id("once-1")) == 1
    assert len(server.fake.requests_to(ORDERS, "POST")) == 1
    assert not server.fake.requests_to(LISTED_ORDERS, "GET")  # no quick look-up: the listing lags


@pytest.mark.parametrize("fault", ["500_after", "malformed_after", "timeout_after"])
async def test_ambiguous_answers_after_acceptance_are_uncertain_with_one_order(
    server: FakeKalshiServer, market: str, fault: str
) -> None:
    fake = server.fake
    if fault == "500_after":
        fake.fail_next(500, method="POST", path=ORDERS, after_processing=True)
    elif fault == "malformed_after":
        fake.malformed_next(method="POST", path=ORDERS, after_processing=True)
    else:
        fake.delay_next(1.0, method="POST", path=ORDERS, after_processing=True)
    async with server.client(retry_policy=fast_policy(), request_timeout_s=0.3) as client:
        with pytest.raises(KalshiOrderUncertain):
            await client.place_order(market, Side.NO, Decimal("1"), Decimal("0.60"), f"amb-{fault}")
    assert len(fake.orders_with_client_id(f"amb-{fault}")) == 1
    assert len(fake.requests_to(ORDERS, "POST")) == 1


async def test_a_dropped_connection_is_never_resent_even_when_the_venue_never_saw_it(
    server: FakeKalshiServer, market: str
) -> None:
    """From the client's side a drop before and after processing look the same: both are uncertain."""
    server.fake.drop_next(method="POST", path=ORDERS)
    async with server.client(retry_policy=fast_policy()) as client:
        with pytest.raises(KalshiOrderUncertain):
            await client.place_order(market, Side.YES, Decimal("1"), Decimal("0.50"), "resend-1")
    assert len(server.fake.requests_to(ORDERS, "POST")) == 1
    assert server.fake.orders_with_client_id("resend-1") == []


async def test_listing_lag_after_a_drop_never_makes_a_second_fill_or_kill_order(
    server: FakeKalshiServer, market: str
) -> None:
    """Defect 2: the order executed, the answer was lost, and the listing lags the write by a second.

    Before the fix the client looked the order up within a moment, did not find it yet and sent the
    same client_order_id again; a fill-or-kill order no longer rests, so the venue accepted it: two
    executions, twice the size the kill switch approved."""
    server.fake.listing_lag_s = 1.0
    server.fake.drop_next(after_processing=True, method="POST", path=ORDERS)
    async with server.client(retry_policy=fast_policy()) as client:
        with pytest.raises(KalshiOrderUncertain):
            await client.place_order(market, Side.YES, Decimal("2"), Decimal("0.50"), "lag-1")
    assert len(server.fake.orders_with_client_id("lag-1")) == 1
    assert len(server.fake.requests_to(ORDERS, "POST")) == 1


async def test_429_on_order_is_resent_without_lookup(server: FakeKalshiServer, market: str) -> None:
    server.fake.fail_next(429, times=2, method="POST", path=ORDERS)
    async with server.client(retry_policy=fast_policy()) as client:
        await client.place_order(market, Side.YES, Decimal("1"), Decimal("0.50"), "rl-1")
    assert len(server.fake.requests_to(ORDERS, "POST")) == 3
    assert not server.fake.requests_to(LISTED_ORDERS, "GET")
    assert len(server.fake.orders_with_client_id("rl-1")) == 1


async def test_duplicate_client_order_id_returns_the_existing_order(server: FakeKalshiServer, market: str) -> None:
    existing = server.fake.add_resting_order(market, buy="yes", price="0.30", count="2", client_order_id="dup-1")
    async with server.client(retry_policy=fast_policy()) as client:
        order = await client.place_order(market, Side.YES, Decimal("2"), Decimal("0.30"), "dup-1", "good_till_canceled")
        with pytest.raises(KalshiAPIError) as info:
            await client.place_order(market, Side.NO, Decimal("2"), Decimal("0.70"), "dup-1", "good_till_canceled")
    assert order.order_id == existing.order_id
    assert info.value.status == 409
    assert len(server.fake.orders_with_client_id("dup-1")) == 1


async def test_order_4xx_is_final(server: FakeKalshiServer, market: str) -> None:
    server.fake.set_market_status(market, "closed")
    async with server.client(retry_policy=fast_policy()) as client:
        with pytest.raises(KalshiAPIError) as info:
            await client.place_order(market, Side.YES, Decimal("1"), Decimal("0.50"), "closed-1")
    assert (info.value.status, info.value.code) == (400, "market_closed")
    assert len(server.fake.requests) == 1


# ---------------------------------------------------------------- retries on reads


async def test_429_burst_then_success_with_backoff(server: FakeKalshiServer, market: str) -> None:
    server.fake.fail_next(429, times=3, path="/markets")
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.25, max_delay_s=4.0, budget_s=30)
    async with server.client(retry_policy=policy, rng=lambda: 1.0) as client:
        book = await client.get_orderbook(market)
    assert book.yes_bids
    assert server.sleeps.delays == [0.25, 0.5, 1.0]  # exponential, capped, jitter at its top


async def test_retry_after_is_honoured(server: FakeKalshiServer, market: str) -> None:
    server.fake.fail_next(429, retry_after="2", path="/markets")
    async with server.client(retry_policy=fast_policy()) as client:
        await client.get_market(market)
    assert server.sleeps.delays == [2.0]


async def test_5xx_exhausts_bounded_attempts(server: FakeKalshiServer, market: str) -> None:
    server.fake.fail_next(503, times=10, path="/markets")
    async with server.client(retry_policy=fast_policy(3)) as client:
        with pytest.raises(KalshiAPIError) as info:
            await client.get_market(market)
    assert (info.value.status, info.value.code) == (503, "service_unavailable")
    assert len(server.fake.requests) == 3


async def test_time_budget_bounds_retries(server: FakeKalshiServer, market: str) -> None:
    server.fake.fail_next(429, times=10, retry_after="20", path="/markets")
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.1, max_delay_s=1, budget_s=10)
    async with server.client(retry_policy=policy) as client:
        with pytest.raises(KalshiAPIError) as info:
            await client.get_market(market)
    assert info.value.status == 429
    assert len(server.fake.requests) == 1 and server.sleeps.delays == []


@pytest.mark.parametrize("status", [400, 404, 409, 410])
async def test_other_4xx_not_retried(server: FakeKalshiServer, market: str, status: int) -> None:
    server.fake.fail_next(status, code=f"code_{status}", path="/markets")
    async with server.client(retry_policy=fast_policy()) as client:
        with pytest.raises(KalshiAPIError) as info:
            await client.get_market(market)
    assert (info.value.status, info.value.code) == (status, f"code_{status}")
    assert len(server.fake.requests) == 1


async def test_timeout_dropped_connection_and_malformed_json_are_retried(
    server: FakeKalshiServer, market: str
) -> None:
    fake = server.fake
    fake.delay_next(1.0, path="/markets", after_processing=False)
    fake.drop_next(path="/markets")
    fake.malformed_next(path="/markets")
    async with server.client(retry_policy=fast_policy(4), request_timeout_s=0.3) as client:
        m = await client.get_market(market)
    assert m.ticker == market
    assert len(fake.requests) == 4
    assert len(server.sleeps.delays) == 3


async def test_persistent_malformed_json_gives_a_clean_error(server: FakeKalshiServer, market: str) -> None:
    server.fake.malformed_next(times=5, path="/markets")
    async with server.client(retry_policy=fast_policy(2)) as client:
        with pytest.raises(KalshiAPIError, match="malformed_response"):
            await client.get_market(market)


async def test_persistent_timeout_is_a_transport_error(server: FakeKalshiServer, market: str) -> None:
    server.fake.delay_next(1.0, times=3, path="/markets", after_processing=False)
    async with server.client(retry_policy=fast_policy(2), request_timeout_s=0.2) as client:
        with pytest.raises(KalshiTransportError) as info:
            await client.get_market(market)
    assert info.value.status == 0 and info.value.code == "timeout"


# ---------------------------------------------------------------- auth failures


async def test_injected_401_is_an_auth_failure_and_hooks_fire(server: FakeKalshiServer) -> None:
    failures: list[str] = []
    successes: list[int] = []
    server.fake.reject_auth_next("INCORRECT_API_KEY_SIGNATURE", path="/portfolio/balance")
    async with server.client(
        retry_policy=fast_policy(),
        on_auth_failure=failures.append,
        on_auth_success=lambda: successes.append(1),
    ) as client:
        with pytest.raises(KalshiAuthFailure) as info:
            await client.get_balance()
        assert info.value.code == "INCORRECT_API_KEY_SIGNATURE"
        assert failures == ["INCORRECT_API_KEY_SIGNATURE"] and successes == []
        await client.get_balance()
        await client.get_exchange_status()  # public: not an auth signal
    assert successes == [1]
    assert len(server.fake.requests_to("/portfolio/balance")) == 2  # the 401 was not retried


async def test_stale_timestamp_is_rejected_by_the_fake(server: FakeKalshiServer) -> None:
    failures: list[str] = []
    skewed = server.auth(clock=lambda: time.time() - 60)
    async with server.client(auth=skewed, on_auth_failure=failures.append) as client:
        with pytest.raises(KalshiAuthFailure) as info:
            await client.get_balance()
    assert info.value.code == "header_timestamp_expired" and info.value.status == 401
    assert failures == ["header_timestamp_expired"]


async def test_wrong_key_is_rejected_by_the_fake(server: FakeKalshiServer) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with server.client(auth=KalshiAuth(server.key_id, other)) as client:
        with pytest.raises(KalshiAuthFailure) as info:
            await client.get_positions()
    assert info.value.code == "INCORRECT_API_KEY_SIGNATURE"


# ---------------------------------------------------------------- no secrets in errors


async def test_error_messages_never_carry_headers_or_signatures(server: FakeKalshiServer) -> None:
    server.fake.fail_next(400, code="bad_request", echo_auth_headers=True, path="/portfolio/balance")
    async with server.client() as client:
        with pytest.raises(KalshiAPIError) as info:
            await client.get_balance()
    text = str(info.value) + repr(info.value) + info.value.message
    assert "<redacted>" in text
    assert server.key_id not in text
    echoed = info.value.message
    # The only long base64 run a signature could leave behind is gone.
    assert not any(len(tok) > 100 for tok in echoed.replace("=", " ").split())
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is None


def test_client_repr_shows_no_secrets(rsa_private_key: rsa.RSAPrivateKey) -> None:
    client = KalshiClient(auth=KalshiAuth("very-secret-id", rsa_private_key))
    assert "very-secret-id" not in repr(client) and "credentials=yes" in repr(client)


# ---------------------------------------------------------------- current market discovery


async def test_current_market_from_listing(server: FakeKalshiServer) -> None:
    now = time.time()
    m = server.fake.add_kxbtc15m_market(now, floor_strike="95000")
    server.fake.add_kxbtc15m_market(now, offset_windows=1)
    async with server.client() as client:
        current = await client.get_current_market(now)
    assert current is not None and current.ticker == m.ticker
    assert 0 < current.seconds_to_close(now) <= WINDOW_S
    assert not server.fake.requests_to(f"/markets/{m.ticker}")  # listing was enough


async def test_current_market_falls_back_to_clock_derived_ticker(server: FakeKalshiServer) -> None:
    now = time.time()
    m = server.fake.add_kxbtc15m_market(now, floor_strike=None, listed=False)  # listing lags
    assert m.ticker == market_ticker(window_close(now))
    async with server.client() as client:
        current = await client.get_current_market(now)
    assert current is not None and current.ticker == m.ticker and current.floor_strike is None
    assert server.fake.requests_to(f"/markets/{m.ticker}")


async def test_current_market_fallback_survives_a_failing_listing(server: FakeKalshiServer) -> None:
    now = time.time()
    m = server.fake.add_kxbtc15m_market(now)
    server.fake.fail_next(500, times=2, path="/markets", method="GET")  # both listing tries fail
    async with server.client(retry_policy=fast_policy(2)) as client:
        current = await client.get_current_market(now)
    assert current is not None and current.ticker == m.ticker


async def test_no_current_market(server: FakeKalshiServer) -> None:
    now = time.time()
    server.fake.add_kxbtc15m_market(now, offset_windows=-1, status="closed")  # last window, closed
    async with server.client() as client:
        assert await client.get_current_market(now) is None


# ---------------------------------------------------------------- rate limits at the server


async def test_reads_never_exceed_10_per_second_with_many_callers(server: FakeKalshiServer, market: str) -> None:
    async with server.client() as client:
        await asyncio.gather(*(client.get_orderbook(market) for _ in range(25)))
    fake = server.fake
    assert len(fake.requests) == 25
    assert max(fake.counts_per_second("read").values()) <= 10
    assert fake.max_in_any_window("read", 1.0) <= 10


async def test_writes_never_exceed_5_per_second_with_many_callers(server: FakeKalshiServer, market: str) -> None:
    server.fake.set_book(market, no=[("0.50", "1000")])
    async with server.client() as client:
        orders = await asyncio.gather(
            *(client.place_order(market, Side.YES, Decimal("1"), Decimal("0.55"), f"w-{i}") for i in range(8))
        )
    assert all(isinstance(o, Order) and o.status == "executed" for o in orders)
    assert max(server.fake.counts_per_second("write").values()) <= 5
    assert server.fake.max_in_any_window("write", 1.0) <= 5


async def test_configured_lower_read_rate_is_respected(server: FakeKalshiServer, market: str) -> None:
    async with server.client(reads_per_s=3) as client:
        await asyncio.gather(*(client.get_orderbook(market) for _ in range(5)))
    assert server.fake.max_in_any_window("read", 1.0) <= 3


# ---------------------------------------------------------------- settings and --verify


def _settings(project_dir: Path, monkeypatch: pytest.MonkeyPatch, env_lines: list[str]):  # type: ignore[no-untyped-def]
    for var in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(var, raising=False)
    (project_dir / ".env").write_text("\n".join(env_lines) + "\n")
    return load_settings(root=project_dir)


def test_from_settings(project_dir: Path, rsa_key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(
        project_dir, monkeypatch, ["KALSHI_API_KEY_ID=kid", f"KALSHI_PRIVATE_KEY_PATH={rsa_key_file}"]
    )
    client = KalshiClient.from_settings(settings)
    assert client.has_credentials
    assert (client.env, client.market_data_env) == (
        settings.app.kalshi.env, settings.app.kalshi.market_data_env,
    )
    bare = _settings(project_dir, monkeypatch, [])
    assert not KalshiClient.from_settings(bare).has_credentials
    with pytest.raises(KalshiAuthError, match="missing"):
        KalshiClient.from_settings(bare, require_auth=True)
    half = _settings(project_dir, monkeypatch, ["KALSHI_API_KEY_ID=kid"])
    with pytest.raises(KalshiAuthError, match="KALSHI_PRIVATE_KEY_PATH"):
        KalshiClient.from_settings(half)


async def test_verify_all_green(
    server: FakeKalshiServer, project_dir: Path, rsa_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    m = server.fake.add_kxbtc15m_market(now, floor_strike="95000.5")
    server.fake.set_book(m.ticker, yes=[("0.40", "3")], no=[("0.55", "2")])
    settings = _settings(
        project_dir, monkeypatch, [f"KALSHI_API_KEY_ID={server.key_id}", f"KALSHI_PRIVATE_KEY_PATH={rsa_key_file}"]
    )
    results = await verify_kalshi(
        settings,
        client_factory=lambda s, auth: KalshiClient.from_settings(
            s, with_auth=False, auth=auth, connector_factory=server.connector
        ),
        now=lambda: now,
    )
    assert [r.ok for r in results] == [True] * 7, results
    assert m.ticker in results[3].detail and "95000.5" in results[3].detail
    assert "YES ask 0.4500" in results[4].detail
    assert results[5].name == "Kalshi fee terms" and "quadratic x1" in results[5].detail
    assert results[6].name == "Kalshi order group" and "limit 501 contracts per 15 s" in results[6].detail


async def test_verify_flags_fee_terms_fees_py_does_not_model(
    server: FakeKalshiServer, project_dir: Path, rsa_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    server.fake.add_kxbtc15m_market(now, floor_strike="95000.5")
    settings = _settings(
        project_dir, monkeypatch, [f"KALSHI_API_KEY_ID={server.key_id}", f"KALSHI_PRIVATE_KEY_PATH={rsa_key_file}"]
    )

    def factory(s: object, auth: KalshiAuth | None) -> KalshiClient:
        return KalshiClient.from_settings(s, with_auth=False, auth=auth, connector_factory=server.connector)

    server.fake.announce_fee_change("KXBTC15M", "quadratic", "2", now + 86400)
    (announced,) = [r for r in await verify_kalshi(settings, client_factory=factory, now=lambda: now)
                    if r.name == "Kalshi fee terms"]
    assert not announced.ok and "announced" in announced.detail and "fees.py" in announced.hint
    server.fake.set_series_fees("KXBTC15M", "flat", "1")
    (flat,) = [r for r in await verify_kalshi(settings, client_factory=factory, now=lambda: now)
               if r.name == "Kalshi fee terms"]
    assert not flat.ok and "'flat' is not modelled" in flat.detail


async def test_verify_hints(
    server: FakeKalshiServer, project_dir: Path, rsa_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(
        project_dir, monkeypatch, [f"KALSHI_API_KEY_ID={server.key_id}", f"KALSHI_PRIVATE_KEY_PATH={rsa_key_file}"]
    )

    def factory(skew: float):  # type: ignore[no-untyped-def]
        def make(s, auth):  # type: ignore[no-untyped-def]
            skewed = server.auth(clock=lambda: time.time() + skew)
            return KalshiClient.from_settings(s, with_auth=False, auth=skewed, connector_factory=server.connector)

        return make

    results = await verify_kalshi(settings, client_factory=factory(120.0))
    balance = results[2]
    assert not balance.ok and "clock" in balance.hint
    market = results[3]
    assert not market.ok and "retry in a minute" in market.hint
    assert not results[4].ok

    # A demo key used against prod: the fake only knows the key on the demo hosts.
    server.fake.register_key(server.key_id, server.private_key.public_key(), hosts={"demo-api.kalshi.co"})
    prod = settings.app.kalshi.model_copy(update={"env": "prod"})
    prod_settings = type(settings)(
        app=settings.app.model_copy(update={"kalshi": prod}),
        user=settings.user,
        secrets=settings.secrets,
        root=settings.root,
    )
    results = await verify_kalshi(prod_settings, client_factory=factory(0.0))
    assert not results[2].ok and "demo keys do not work here" in results[2].hint


async def test_verify_without_credentials_still_checks_market_data(
    server: FakeKalshiServer, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    server.fake.add_kxbtc15m_market(now)
    settings = _settings(project_dir, monkeypatch, [])
    results = await verify_kalshi(
        settings,
        client_factory=lambda s, auth: KalshiClient.from_settings(
            s, with_auth=False, auth=auth, connector_factory=server.connector
        ),
        now=lambda: now,
    )
    assert [r.ok for r in results] == [False, True, False, True, True, True, False]
    assert "--paper" in results[0].hint and ".env.example" in results[0].hint  # main.py --paper needs the keys
    assert not any(r.signed for r in server.fake.requests)


# ---------------------------------------------------------------- fast paths keep the behaviour


def _reference_dec(value: str) -> Decimal | str:
    """What _dec did for a string before its fast path: strip, Decimal, finite check."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return "is not a number"
    return number if number.is_finite() else "is not finite"


def test_string_numbers_parse_exactly_as_strip_then_decimal() -> None:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert len(spaces) > 20  # every Unicode whitespace character, not just ASCII
    bodies = ["0.1500", "1", "-0", "1E-2", "1_000", "NaN", "sNaN", "-Infinity", "abc", "1 2", ".5", "١٢"]
    cases = [b for b in bodies] + [s + b + s for s in spaces for b in ("0.1500", "abc")] + ["   ", "\u3000"]
    for text in cases:
        expected = _reference_dec(text)
        if isinstance(expected, Decimal):
            got = wire_mod._dec(text, "f")
            assert got is not None and got.as_tuple() == expected.as_tuple(), repr(text)
        else:
            with pytest.raises(KalshiAPIError, match=expected):
                wire_mod._dec(text, "f")
    exact = Decimal("95000.120")
    assert wire_mod._dec(exact, "f") == exact and str(wire_mod._dec(exact, "f")) == "95000.120"
    for bad in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")):
        with pytest.raises(KalshiAPIError, match="not finite"):
            wire_mod._dec(bad, "f")


def test_order_book_levels_come_out_the_same_from_the_level_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire_mod, "_LEVELS", {})
    payload = {"orderbook_fp": {
        "yes_dollars": [["0.4200", "5.00"], ["0.4000", "10.00"], ["0.4100", "0.00"]],
        "no_dollars": [["0.5000", "20.00"]],
    }}
    first = wire_mod.parse_orderbook("T", payload, 1.0)
    second = wire_mod.parse_orderbook("T", payload, 2.0)
    assert [(lvl.price, lvl.count) for lvl in first.yes_bids] == [
        (Decimal("0.4000"), Decimal("10.00")), (Decimal("0.4200"), Decimal("5.00"))
    ]
    assert second.yes_bids == first.yes_bids and second.no_bids == first.no_bids
    assert second.fetched_at == 2.0
    # A rejected level is never remembered: it raises on every read, even next to cached values.
    for bad in (["0.4200", "-1"], ["0.4200", "abc"], ["1.0000", "5.00"], ["0.4200", 5.5]):
        broken = {"orderbook_fp": {"yes_dollars": [["0.4000", "10.00"], bad]}}
        for _ in range(2):
            with pytest.raises(KalshiAPIError, match="malformed_response"):
                wire_mod.parse_orderbook("T", broken, 1.0)


def test_level_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire_mod, "_LEVELS", {})
    monkeypatch.setattr(wire_mod, "_LEVELS_MAX", 4)
    levels = [[f"0.{10 + i}00", f"{i + 1}.00"] for i in range(10)]
    book = wire_mod.parse_orderbook("T", {"orderbook_fp": {"yes_dollars": levels}}, 0.0)
    assert len(book.yes_bids) == 10 and book.best_bid(Side.YES) == Decimal("0.19")
    assert len(wire_mod._LEVELS) <= 4


def test_iso_times_are_remembered_only_when_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire_mod, "_TIMES", {})
    monkeypatch.setattr(wire_mod, "_TIMES_MAX", 2)
    row = {"t": "2026-11-24T00:15:00Z"}
    assert wire_mod._time(row, "t") == wire_mod._time(row, "t")
    assert wire_mod._time(row, "t").timestamp() == 1795479300.0
    for bad, message in (("2026-11-24T00:15:00", "no time zone"), ("soon", "not an ISO time"), (5, "not a string")):
        for _ in range(2):
            with pytest.raises(KalshiAPIError, match=message):
                wire_mod._time({"t": bad}, "t")
    for minute in range(10, 15):
        wire_mod._time({"t": f"2026-11-24T00:{minute}:00Z"}, "t")
    assert len(wire_mod._TIMES) <= 2


def test_query_strings_match_urlencode() -> None:
    cases = [
        {"series_ticker": "KXBTC15M", "status": "open", "limit": 200},
        {"limit": 1}, {"limit": True}, {"limit": "1"},  # 1, True and "1" must not share an entry
        {"ticker": "a b&c=é"}, {"tickers": ["A", "B"]}, {"x": 1.5}, {"cursor": "abc", "limit": 200},
    ]
    for params in cases * 2:
        assert requests_mod.query_string(params) == urlencode(params, doseq=True), params


def test_loads_matches_json_loads_with_decimal_floats() -> None:
    raws = [
        b'{"floor_strike": 95000.120, "n": [1, 2e3, -0.0], "s": "0.5"}',
        '{"a": 1.25}'.encode("utf-16"),
        b'{"a": NaN}',
        b"\xef\xbb\xbf{}",
        b'{"truncated": [1, 2',
        b"\x80",
        b"",
    ]
    for raw in raws:
        try:
            expected: object = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            with pytest.raises(type(exc)):
                wire_mod.loads(raw)
            continue
        assert repr(wire_mod.loads(raw)) == repr(expected), raw


def test_repeated_date_header_still_tracks_our_clock() -> None:
    now = [1000.0]
    client = KalshiClient(env="demo", clock=lambda: now[0])
    header = "Tue, 24 Nov 2026 00:16:30 GMT"
    server_ts = 1795479390.0
    client._observe_date(header)
    assert client.server_clock_skew_s == server_ts - 1000.0
    now[0] = 1000.5
    client._observe_date(header)  # same header: the parsed time is reused, our clock is read again
    assert client.server_clock_skew_s == server_ts - 1000.5
    client._observe_date("not a date")
    assert client.server_clock_skew_s == server_ts - 1000.5


async def test_rate_limiter_fast_path_does_not_jump_the_queue() -> None:
    class Time:
        """Time moves only when the test lets the sleeper wake."""

        def __init__(self) -> None:
            self.now = 0.0
            self.wake = asyncio.Event()

        def __call__(self) -> float:
            return self.now

        async def sleep(self, seconds: float) -> None:
            await self.wake.wait()
            self.now += seconds

    t = Time()
    bucket = TokenBucket(1, 1.0, clock=t, sleep=t.sleep)
    order: list[str] = []

    async def take(name: str) -> None:
        await bucket.acquire()
        order.append(f"{name}@{t.now:g}")

    await take("a")
    queued = asyncio.create_task(take("b"))  # waits for the one token, asleep inside the bucket
    for _ in range(3):
        await asyncio.sleep(0)
    t.now = 5.0  # the token is free again while b still sleeps
    late = asyncio.create_task(take("c"))
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["a@0"]  # c must not take the token ahead of b
    t.wake.set()
    await asyncio.gather(queued, late)
    assert [entry[0] for entry in order] == ["a", "b", "c"]
