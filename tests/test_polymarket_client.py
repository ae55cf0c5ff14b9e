"""PolymarketClient against a local fake CLOB V2 (TLS, real host name): data, keys, orders, faults, allowlist."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from eth_account import Account

from src.auth.poly_auth import ApiCreds
from src.auth.poly_order_signing import OrderSide, OrderValueError, SignatureType
from src.auth.poly_wallet import PolyAuthError, PolyWallet
from src.model.models import Side
from src.net.allowlist import HostNotAllowedError
from src.net.backoff import RetryPolicy
from src.net.poly_http import PolyHttpError, PolyMalformedResponse
from src.net.rate_limit import TokenBucket
from src.platforms.polymarket import PolymarketClient, PolymarketOrderRejected
from tests.fakes.polymarket_server import CLOB_HOST, FakeClob, Fault, connector_factory

TOKEN = str(7 * 10**76 + 1_321_045)  # outcome token ids are ~77-digit uint256 decimals
NEG_TOKEN = str(5 * 10**76 + 2_114_319)
CONDITION = "0x" + "dd" * 32


@pytest.fixture
def creds() -> ApiCreds:
    return ApiCreds(
        "key-" + os.urandom(6).hex(), base64.urlsafe_b64encode(os.urandom(32)).decode(), "pass-" + os.urandom(6).hex()
    )


@pytest.fixture
def wallet() -> PolyWallet:
    return PolyWallet(Account.create())  # throwaway key, made at test time


@pytest.fixture
async def clob(tls, creds, wallet) -> AsyncIterator[FakeClob]:
    server = FakeClob(tls)
    server.creds = {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}
    server.address = wallet.address
    server.books[TOKEN] = {
        "market": CONDITION,
        "asset_id": TOKEN,
        "timestamp": "1780000000000",
        "hash": "abc",
        "bids": [{"price": "0.38", "size": "50"}, {"price": "0.40", "size": "120.5"}],
        "asks": [{"price": "0.45", "size": "300"}, {"price": "0.42", "size": "75"}],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "0.41",
    }
    server.tick_sizes[NEG_TOKEN] = 0.001
    server.neg_risk[NEG_TOKEN] = True
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(tls, clob, creds, wallet, clock, sleeps) -> AsyncIterator[PolymarketClient]:
    c = make_client(tls, clob, clock, sleeps, wallet=wallet, creds=creds)
    yield c
    await c.close()


def make_client(tls, clob, clock, sleeps, **kw) -> PolymarketClient:
    kw.setdefault("timeout_s", 2.0)
    return PolymarketClient(
        clock=clock,
        connector_factory=connector_factory(tls, {CLOB_HOST: clob.port}),
        read_bucket=TokenBucket(1000, 1.0),
        write_bucket=TokenBucket(1000, 1.0),
        retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0, budget_s=30),
        sleep=sleeps,
        **kw,
    )


# ------------------------------------------------------------------ market data


async def test_orderbook_maps_onto_the_shared_shape(client):
    book = await client.get_orderbook(TOKEN)
    assert book.ticker == TOKEN
    assert book.best_bid(Side.YES) == Decimal("0.40")
    assert book.best_ask(Side.YES) == Decimal("0.42")
    assert [(lv.price, lv.count) for lv in book.asks(Side.YES)] == [
        (Decimal("0.42"), Decimal("75")),
        (Decimal("0.45"), Decimal("300")),
    ]
    assert book.yes_bids[-1].count == Decimal("120.5")


async def test_prices_ticks_fees(client, clob):
    assert await client.get_price(TOKEN, OrderSide.BUY) == Decimal("0.40")
    assert await client.get_price(TOKEN, OrderSide.SELL) == Decimal("0.42")
    assert await client.get_midpoint(TOKEN) == Decimal("0.4100")
    assert await client.get_tick_size(NEG_TOKEN) == Decimal("0.001")  # a JSON number, read as Decimal
    assert await client.get_tick_size(TOKEN) == Decimal("0.01")
    assert await client.get_fee_rate_bps(TOKEN) == 30
    assert await client.get_neg_risk(NEG_TOKEN) is True
    assert await client.get_neg_risk(NEG_TOKEN) is True
    assert len(clob.hits("/neg-risk")) == 1  # cached
    assert clob.hits("/price")[0].query == {"token_id": TOKEN, "side": "BUY"}
    # Public market data carries no auth headers at all.
    assert all("POLY_SIGNATURE" not in r.headers for r in clob.hits("/book") + clob.hits("/price"))


async def test_market_mapping(client, clob):
    clob.markets[CONDITION] = {
        "condition_id": CONDITION,
        "question": "Will it?",
        "tokens": [
            {"token_id": TOKEN, "outcome": "Yes", "price": 0.41, "winner": False},
            {"token_id": "1", "outcome": "No", "price": 0.59, "winner": False},
        ],
        "active": True,
        "closed": False,
        "accepting_orders": True,
        "end_date_iso": "2026-12-31T00:00:00Z",
    }
    market = await client.get_market(CONDITION, TOKEN)
    assert market.status == "open" and market.ticker == TOKEN and market.event_ticker == CONDITION
    assert market.last_price == Decimal("0.41") and market.close_time.year == 2026
    clob.markets[CONDITION].update(closed=True)
    clob.markets[CONDITION]["tokens"][1]["winner"] = True
    market = await client.get_market(CONDITION, TOKEN)
    assert market.status == "closed" and market.result == "no"
    with pytest.raises(PolyMalformedResponse):
        await client.get_market(CONDITION, "999")


# ------------------------------------------------------------------ API keys


async def test_create_then_derive_api_key_with_l1(tls, clob, clock, sleeps, wallet, creds):
    clob.address = None
    c = make_client(tls, clob, clock, sleeps, wallet=wallet)
    try:
        got = await c.ensure_api_creds()  # derive fails (no key yet) -> create
        assert got == creds and c.has_creds
        assert [r.path for r in clob.requests] == ["/auth/derive-api-key", "/auth/api-key"]
        again = await c.derive_api_key()
        assert again == creds
        assert clob.requests[-1].headers["POLY_ADDRESS"] == wallet.address
        assert clob.requests[-1].headers["POLY_TIMESTAMP"] == str(int(clock()))
    finally:
        await c.close()


async def test_l1_with_wrong_key_is_an_auth_failure(tls, clob, clock, sleeps):
    clob.address = None
    c = make_client(tls, clob, clock, sleeps, wallet=PolyWallet(Account.create()))
    clob.creds = None  # the fake refuses any L1 now
    try:
        with pytest.raises(PolyHttpError) as info:
            await c.ensure_api_creds()
    finally:
        await c.close()
    assert info.value.is_auth_failure
    assert len(clob.requests) == 1  # 401 is final: not retried, no create attempted


# ------------------------------------------------------------------ orders


async def test_post_gtc_buy_signed_v2_order(client, clob, clock, creds, wallet):
    placed = await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"), "GTC")
    (payload,) = clob.posted  # the fake accepted the HMAC and recovered the EIP-712 signer
    order = payload["order"]
    assert payload["owner"] == creds.api_key and payload["orderType"] == "GTC"
    assert payload["postOnly"] is False and payload["deferExec"] is False
    assert order["makerAmount"] == "4200000" and order["takerAmount"] == "10000000"
    assert order["side"] == "BUY" and order["signatureType"] == 0
    assert order["maker"] == order["signer"] == wallet.address
    assert order["timestamp"] == str(int(clock() * 1000))
    assert placed.order_id == "0x" + f"{1:064x}" and placed.status == "live"
    assert placed.signed.order.token_id == int(TOKEN)
    assert {"/tick-size", "/neg-risk"} <= {r.path for r in clob.requests}


async def test_fok_buy_on_neg_risk_market(client, clob):
    clob.order_answer = {"status": "matched", "makingAmount": "3.33", "takingAmount": "10.09",
                         "transactionsHashes": ["0xfeed"], "tradeIDs": ["t1"]}  # fmt: skip
    placed = await client.post_order(NEG_TOKEN, OrderSide.BUY, Decimal("0.33"), Decimal("10.1"), "FOK")
    order = clob.posted[0]["order"]
    # Marketable buy: $3.33 (10.1 x 0.33 cut to the cent) for the most shares at 0.33, cut to the
    # 5 decimals a 0.001 tick allows: 10.09090.
    assert order["makerAmount"] == "3330000" and order["takerAmount"] == "10090900"
    assert placed.status == "matched" and placed.making_amount == Decimal("3.33")
    assert placed.transaction_hashes == ("0xfeed",) and placed.trade_ids == ("t1",)


async def test_explicit_tick_and_neg_risk_skip_the_lookups(client, clob):
    await client.post_order(TOKEN, OrderSide.SELL, Decimal("0.55"), Decimal("5"), tick_size=Decimal("0.01"),
                            neg_risk=False)  # fmt: skip
    assert [r.path for r in clob.requests] == ["/order"]
    order = clob.posted[0]["order"]
    assert (order["side"], order["makerAmount"], order["takerAmount"]) == ("SELL", "5000000", "2750000")


async def test_rejected_order_raises_with_the_reason(client, clob):
    clob.order_answer = {"success": False, "errorMsg": "not enough balance / allowance", "orderID": ""}
    with pytest.raises(PolymarketOrderRejected, match="not enough balance"):
        await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"), tick_size=Decimal("0.01"),
                                neg_risk=False)  # fmt: skip


async def test_bad_order_arguments_fail_before_any_request(client, clob):
    with pytest.raises(OrderValueError):
        await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.425"), Decimal("10"), tick_size=Decimal("0.01"),
                                neg_risk=False)  # fmt: skip
    with pytest.raises(ValueError):
        await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"), "IOC")
    with pytest.raises(ValueError):
        await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"), "FOK", post_only=True)
    with pytest.raises(ValueError):
        await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"), "GTD")
    assert clob.requests == []


async def test_post_retry_resends_the_identical_signed_order(client, clob, clock, sleeps):
    clob.fail("/order", Fault(status=503))
    await client.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"), tick_size=Decimal("0.01"),
                            neg_risk=False)  # fmt: skip
    first, second = clob.hits("/order", "POST")
    assert first.body == second.body
    assert len(clob.posted) == 1 and len(sleeps.waits) == 1


async def test_cancel_and_cancel_all(client, clob):
    clob.open_orders = [{"id": f"0x{i}", "status": "LIVE", "market": CONDITION, "asset_id": TOKEN, "side": "BUY",
                         "original_size": "10", "size_matched": "0", "price": "0.4", "outcome": "Yes",
                         "order_type": "GTC", "created_at": 1780000000} for i in range(3)]  # fmt: skip
    result = await client.cancel_order("0x1")
    assert result.canceled == ("0x1",) and result.not_canceled == ()
    assert json.loads(clob.hits("/order", "DELETE")[0].body) == {"orderID": "0x1"}
    missing = await client.cancel_order("0x1")
    assert missing.canceled == () and missing.not_canceled[0][0] == "0x1"
    everything = await client.cancel_all()
    assert everything.canceled == ("0x0", "0x2")


async def test_a_dropped_cancel_is_sent_again_only_by_the_retry_policy(client, clob, sleeps):
    # Left alone, aiohttp re-sends a DELETE once, silently, when its connection drops: a copy that
    # skips the token bucket and the log. Every copy the venue sees must be one the policy chose.
    clob.open_orders = [{"id": "0x1", "status": "LIVE", "market": CONDITION, "asset_id": TOKEN, "side": "BUY",
                         "original_size": "10", "size_matched": "0", "price": "0.4", "outcome": "Yes",
                         "order_type": "GTC", "created_at": 1780000000}]  # fmt: skip
    clob.fail("/order", Fault(drop=True))
    result = await client.cancel_order("0x1")
    assert result.canceled == ("0x1",)
    assert len(clob.hits("/order", "DELETE")) == 2 and len(sleeps.waits) == 1


async def test_open_orders_and_trades_follow_the_cursor(client, clob):
    clob.open_orders = [{"id": f"o{i}", "status": "LIVE", "market": CONDITION, "asset_id": TOKEN, "side": "buy",
                         "original_size": "10", "size_matched": "2.5", "price": "0.41", "outcome": "Yes",
                         "order_type": "GTC", "created_at": 1780000000 + i} for i in range(5)]  # fmt: skip
    clob.trades = [{"id": f"t{i}", "taker_order_id": "0xabc", "market": CONDITION, "asset_id": TOKEN, "side": "BUY",
                    "size": "5", "fee_rate_bps": "0", "price": "0.41", "status": "CONFIRMED",
                    "match_time": "1780000000", "outcome": "Yes", "transaction_hash": "0x1",
                    "trader_side": "TAKER"} for i in range(3)]  # fmt: skip
    orders = await client.get_open_orders(asset_id=TOKEN)
    assert [o.order_id for o in orders] == [f"o{i}" for i in range(5)]
    assert orders[0].side == "BUY" and orders[0].size_matched == Decimal("2.5")
    cursors = [r.query["next_cursor"] for r in clob.hits("/data/orders")]
    assert cursors == ["MA==", "2", "4"]
    assert clob.hits("/data/orders")[0].query["asset_id"] == TOKEN
    trades = await client.get_trades()
    assert [t.trade_id for t in trades] == ["t0", "t1", "t2"] and trades[0].price == Decimal("0.41")
    assert trades[0].match_time == 1780000000


# ------------------------------------------------------------------ faults


async def test_429_then_500_are_retried(client, clob, sleeps):
    clob.fail("/book", Fault(status=429, headers={"Retry-After": "1.5"}), Fault(status=500))
    book = await client.get_orderbook(TOKEN)
    assert book.best_ask(Side.YES) == Decimal("0.42")
    assert len(clob.hits("/book")) == 3
    assert sleeps.waits[0] == 1.5 and len(sleeps.waits) == 2


async def test_persistent_500_gives_up(client, clob):
    clob.fail("/midpoint", *[Fault(status=500)] * 3)
    with pytest.raises(PolyHttpError) as info:
        await client.get_midpoint(TOKEN)
    assert info.value.status == 500 and "polymarket-clob" in str(info.value)
    assert len(clob.hits("/midpoint")) == 3


async def test_timeout_is_retried(tls, clob, clock, sleeps):
    clob.fail("/book", Fault(delay_s=0.4))
    c = make_client(tls, clob, clock, sleeps, timeout_s=0.1)
    try:
        book = await c.get_orderbook(TOKEN)
    finally:
        await c.close()
    assert book.best_bid(Side.YES) == Decimal("0.40")
    assert len(sleeps.waits) == 1


async def test_timeout_every_time_gives_a_transport_error(tls, clob, clock, sleeps):
    clob.fail("/book", *[Fault(delay_s=0.3)] * 3)
    c = make_client(tls, clob, clock, sleeps, timeout_s=0.1)
    try:
        with pytest.raises(PolyHttpError, match="timed out") as info:
            await c.get_orderbook(TOKEN)
    finally:
        await c.close()
    assert info.value.status == 0


async def test_malformed_json_is_final(client, clob):
    clob.fail("/book", Fault(body="<html>oops</html>"))
    with pytest.raises(PolyMalformedResponse):
        await client.get_orderbook(TOKEN)
    assert len(clob.hits("/book")) == 1
    clob.fail("/book", Fault(body='{"bids": [{"price": "abc", "size": "1"}], "asks": []}'))
    with pytest.raises(PolyMalformedResponse):
        await client.get_orderbook(TOKEN)
    clob.fail("/tick-size", Fault(body='{"minimum_tick_size": NaN}'))
    with pytest.raises(PolyMalformedResponse):
        await client.get_tick_size(TOKEN)


async def test_repeating_cursor_is_refused(client, clob):
    clob.fail("/data/orders", Fault(body='{"data": [], "next_cursor": "MA=="}'))
    with pytest.raises(PolyMalformedResponse, match="repeats"):
        await client.get_open_orders()


async def test_auth_failure_is_final_and_secrets_are_redacted(client, clob, creds):
    echo = json.dumps({"error": f"Unauthorized/Invalid api key {creds.api_key} passphrase {creds.passphrase}"})
    clob.fail("/data/orders", Fault(status=401, body=echo))
    with pytest.raises(PolyHttpError) as info:
        await client.get_open_orders()
    assert info.value.is_auth_failure and len(clob.hits("/data/orders")) == 1
    text = str(info.value)
    assert creds.api_key not in text and creds.passphrase not in text and "[REDACTED]" in text


async def test_wrong_api_secret_is_rejected_by_the_server(tls, clob, clock, sleeps, wallet, creds):
    wrong = ApiCreds(creds.api_key, base64.urlsafe_b64encode(os.urandom(32)).decode(), creds.passphrase)
    c = make_client(tls, clob, clock, sleeps, wallet=wallet, creds=wrong)
    try:
        with pytest.raises(PolyHttpError) as info:
            await c.cancel_all()
    finally:
        await c.close()
    assert info.value.status == 401


# ------------------------------------------------------------------ gates


async def test_missing_credentials_fail_before_any_request(tls, clob, clock, sleeps, wallet):
    no_creds = make_client(tls, clob, clock, sleeps, wallet=wallet)
    no_wallet = make_client(tls, clob, clock, sleeps)
    try:
        with pytest.raises(PolyAuthError, match="API credentials"):
            await no_creds.post_order(TOKEN, OrderSide.BUY, Decimal("0.42"), Decimal("10"))
        with pytest.raises(PolyAuthError, match="API credentials"):
            await no_creds.get_open_orders()
        with pytest.raises(PolyAuthError, match="POLY_PRIVATE_KEY"):
            await no_wallet.create_api_key()
    finally:
        await no_creds.close()
        await no_wallet.close()
    assert clob.requests == []


def test_proxy_signature_type_needs_a_funder():
    with pytest.raises(PolyAuthError, match="FUNDER"):
        PolymarketClient(PolyWallet(Account.create()), signature_type=SignatureType.POLY_PROXY)


def test_allowlist_refuses_other_hosts():
    for url in (
        "https://clob.polymarket.com.evil.example",
        "http://clob.polymarket.com",
        "https://data-api.polymarket.com",
    ):
        with pytest.raises(HostNotAllowedError):
            PolymarketClient(base_url=url)


async def test_only_the_clob_host_is_resolved(tls, clob, clock, sleeps):
    lookups: list[str] = []
    c = PolymarketClient(
        clock=clock,
        connector_factory=connector_factory(tls, {CLOB_HOST: clob.port}, lookups),
        read_bucket=TokenBucket(1000, 1.0),
        sleep=sleeps,
    )
    try:
        await c.get_orderbook(TOKEN)
    finally:
        await c.close()
    assert lookups == [CLOB_HOST]


def test_client_repr_shows_no_secrets(creds, wallet):
    c = PolymarketClient(wallet, creds=creds)
    text = repr(c)
    assert creds.api_key not in text and creds.secret not in text and creds.passphrase not in text
    assert wallet.address in text
