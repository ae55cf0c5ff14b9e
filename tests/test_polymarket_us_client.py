"""Polymarket US: the Ed25519 signer and the REST client, against the official SDK (oracle) and a strict fake."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from polymarket_us import PolymarketUS  # test-only oracle (requirements-dev.txt)
from polymarket_us import auth as sdk_auth

from src.auth.poly_us_auth import PolyUsAuthError, PolyUsKey, signing_message
from src.model.models import Side
from src.net.allowlist import HostNotAllowedError
from src.net.backoff import RetryPolicy
from src.net.poly_http import PolyHttpError, PolyTransportError
from src.platforms.polymarket_us import US_HOSTS, PolymarketUSClient
from tests.fakes.polymarket_server import Fault, connector_factory
from tests.fakes.polymarket_us_server import (
    API_HOST,
    GATEWAY_HOST,
    LAC_TEN,
    FakePolymarketUS,
    UsBook,
    new_us_key,
)

SLUG = LAC_TEN
NOW = 1_780_000_000.0


@pytest.fixture
def us_clock() -> Callable[[], float]:
    return lambda: NOW  # signatures are compared with the SDK's at one fixed instant


@pytest.fixture
def fake(us_fake: FakePolymarketUS) -> FakePolymarketUS:
    us_fake.books[SLUG] = UsBook(bids=[(Decimal("0.40"), Decimal("100")), (Decimal("0.38"), Decimal("50"))],
                                 offers=[(Decimal("0.43"), Decimal("30")), (Decimal("0.45"), Decimal("200"))])
    return us_fake


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(us_tls, fake, us_key, *, clock=lambda: NOW, timeout_s: float = 2.0, **kw) -> PolymarketUSClient:
    return PolymarketUSClient(
        PolyUsKey.load(*us_key) if us_key else None,
        clock=clock,
        connector_factory=connector_factory(us_tls, {API_HOST: fake.port, GATEWAY_HOST: fake.port}),
        reads_per_s=Decimal("100"), writes_per_s=Decimal("100"),
        retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02, budget_s=30),
        timeout_s=timeout_s, sleep=Sleeps(), **kw,
    )  # fmt: skip


@pytest.fixture
async def client(us_tls, fake, us_key) -> AsyncIterator[PolymarketUSClient]:
    c = make_client(us_tls, fake, us_key)
    yield c
    await c.close()


# ------------------------------------------------------------------ the signer against the SDK


def test_signatures_match_the_official_sdk_byte_for_byte(monkeypatch, us_key) -> None:
    key_id, secret = us_key
    key = PolyUsKey.load(key_id, secret)
    for ts_ms, method, path in [(1_705_420_800_000, "GET", "/v1/portfolio/positions"),
                                (1_780_000_000_123, "POST", "/v1/orders"),
                                (1_780_000_000_999, "POST", "/v1/order/ord-1/cancel"),
                                (1_780_000_001_000, "GET", "/v1/ws/private")]:  # fmt: skip
        monkeypatch.setattr(sdk_auth.time, "time", lambda t=ts_ms: t / 1000)
        assert key.headers(ts_ms, method, path) == sdk_auth.create_auth_headers(key_id, secret, method, path)


def test_a_32_byte_seed_works_like_the_sdk_and_bad_secrets_fail_in_one_line(monkeypatch, us_key) -> None:
    key_id, secret = us_key
    seed_only = base64.b64encode(base64.b64decode(secret)[:32]).decode()
    monkeypatch.setattr(sdk_auth.time, "time", lambda: 1_780_000_000.0)
    assert PolyUsKey.load(key_id, seed_only).headers(1_780_000_000_000, "GET", "/v1/account/balances") == \
        sdk_auth.create_auth_headers(key_id, secret, "GET", "/v1/account/balances")
    raw = bytearray(base64.b64decode(secret))
    raw[40] ^= 1
    for bad, words in [("", "empty"), ("not base64!", "not base64"), (base64.b64encode(b"x" * 20).decode(), "20 bytes"),
                       (base64.b64encode(bytes(raw)).decode(), "damaged")]:  # fmt: skip
        with pytest.raises(PolyUsAuthError, match=words) as info:
            PolyUsKey.load(key_id, bad)
        assert secret not in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(PolyUsAuthError, match="POLYMARKET_KEY_ID"):
        PolyUsKey.load("", secret)
    key = PolyUsKey.load(key_id, secret)
    assert key_id not in repr(key) and secret not in repr(key) and secret not in str(key)


def test_the_signed_message_is_timestamp_method_path_without_query() -> None:
    assert signing_message(1705420800000, "get", "/v1/portfolio/positions?market=x") == \
        b"1705420800000GET/v1/portfolio/positions"
    with pytest.raises(PolyUsAuthError):
        signing_message(0, "GET", "/v1/x")
    with pytest.raises(PolyUsAuthError):
        signing_message(1, "GET", "/trade-api/v2/x")


# ------------------------------------------------------------------ request shapes against the SDK


def sdk_requests(us_key, ts: float, call) -> list[httpx.Request]:
    """What the official SDK sends for `call(sdk)`, captured at the transport (nothing leaves the process)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "ord-1", "executions": [], "orders": [], "positions": {},
                                          "activities": [], "balances": [{"currentBalance": 1}]})  # fmt: skip

    sdk = PolymarketUS(key_id=us_key[0], secret_key=us_key[1])
    sdk._http = httpx.Client(transport=httpx.MockTransport(handler))
    original = sdk_auth.time.time
    sdk_auth.time.time = lambda: ts  # type: ignore[assignment]
    try:
        call(sdk)
    finally:
        sdk_auth.time.time = original  # type: ignore[assignment]
        sdk.close()
    return seen


AUTH = ("X-PM-Access-Key", "X-PM-Timestamp", "X-PM-Signature")


async def test_order_and_reads_are_the_sdks_requests_byte_for_byte(client, fake, us_key) -> None:
    await client.create_order(SLUG, Side.YES, Decimal("0.45"), Decimal("7"), "immediate_or_cancel")
    await client.create_order(SLUG, Side.NO, Decimal("0.55"), Decimal("3"), "fill_or_kill")
    await client.cancel_order("ord-000001", SLUG)
    await client.get_positions(SLUG)
    await client.get_balance()
    ours = [r for r in fake.requests if r.path.startswith("/v1/") and r.headers.get("X-PM-Signature")]

    def calls(sdk: PolymarketUS) -> None:
        sdk.orders.create({"marketSlug": SLUG, "intent": "ORDER_INTENT_BUY_LONG", "type": "ORDER_TYPE_LIMIT",
                           "price": {"value": "0.45", "currency": "USD"}, "quantity": 7,
                           "tif": "TIME_IN_FORCE_IMMEDIATE_OR_CANCEL"})
        # Buying NO at 0.55 is selling YES at 0.45: the price on the wire is the YES price.
        sdk.orders.create({"marketSlug": SLUG, "intent": "ORDER_INTENT_BUY_SHORT", "type": "ORDER_TYPE_LIMIT",
                           "price": {"value": "0.45", "currency": "USD"}, "quantity": 3,
                           "tif": "TIME_IN_FORCE_FILL_OR_KILL"})
        sdk.orders.cancel("ord-000001", {"marketSlug": SLUG})
        sdk.portfolio.positions({"market": SLUG})
        sdk.account.balances()  # fmt: skip

    theirs = sdk_requests(us_key, NOW, calls)
    assert len(ours) == len(theirs) == 5
    for mine, sdk in zip(ours, theirs, strict=True):
        assert (mine.method, mine.path) == (sdk.method, sdk.url.path)
        assert dict(mine.query) == dict(sdk.url.params)
        assert mine.body.encode() == sdk.content  # the exact bytes
        assert sdk.url.host == API_HOST
        assert {h: mine.headers[h] for h in AUTH} == {h: sdk.headers[h] for h in AUTH}


def test_the_other_signed_requests_are_the_sdks_too(us_key) -> None:
    """Order lookup, open orders, cancel-all and a trades page, built without a network, as the SDK sends them."""
    from src.platforms import polymarket_us_requests as req

    ours = [req.get_order("ord-000001"), req.open_orders(SLUG), req.open_orders(None), req.cancel_all(),
            req.trade_activities(SLUG, "c-2")]  # fmt: skip

    def calls(sdk: PolymarketUS) -> None:
        sdk.orders.retrieve("ord-000001")
        sdk.orders.list({"slugs": [SLUG]})
        sdk.orders.list()
        sdk.orders.cancel_all()
        sdk.portfolio.activities({"marketSlug": SLUG, "types": ["ACTIVITY_TYPE_TRADE"],
                                  "sortOrder": "SORT_ORDER_DESCENDING", "cursor": "c-2"})  # fmt: skip

    theirs = sdk_requests(us_key, NOW, calls)
    assert len(theirs) == len(ours)
    for mine, sdk in zip(ours, theirs, strict=True):
        assert (mine.method, mine.path, mine.signed) == (sdk.method, sdk.url.path, True)
        assert dict(mine.params or {}) == dict(sdk.url.params)
        assert (mine.body_text() or "").encode() == sdk.content
    assert [r.order for r in ours] == [False] * len(ours) and req.create_order(
        SLUG, Side.YES, Decimal("0.5"), Decimal("1"), "fill_or_kill").order  # only order creation is never re-sent


async def test_public_reads_go_unsigned_to_the_gateway_like_the_sdk(client, fake, us_key) -> None:
    book = await client.get_orderbook(SLUG)
    market = await client.get_us_market(SLUG)
    theirs = sdk_requests(us_key, NOW, lambda sdk: (sdk.markets.book(SLUG), sdk.markets.retrieve_by_slug(SLUG)))
    ours = fake.hits(f"/v1/markets/{SLUG}/book") + fake.hits(f"/v1/market/slug/{SLUG}")
    assert [r.path for r in ours] == [r.url.path for r in theirs]
    assert all(r.url.host == GATEWAY_HOST for r in theirs)
    assert all("X-PM-Signature" not in r.headers for r in ours)
    assert book.ticker == SLUG
    assert book.best_ask(Side.YES) == Decimal("0.43") and book.best_ask(Side.NO) == Decimal("0.60")
    assert [(lv.price, lv.count) for lv in book.asks(Side.NO)] == [(Decimal("0.60"), Decimal("100")),
                                                                   (Decimal("0.62"), Decimal("50"))]
    assert [s.description for s in market.sides if s.long] == ["Chargers"]


# ------------------------------------------------------------------ the fake's rules and the faults


async def test_orders_fill_and_report_in_decimal(client, fake) -> None:
    ack = await client.create_order(SLUG, Side.NO, Decimal("0.61"), Decimal("120"), "immediate_or_cancel")
    assert [(e.last_px, e.last_shares) for e in ack.executions] == [(Decimal("0.40"), Decimal("100"))]
    order = await client.get_order(ack.order_id)
    assert order.cum_quantity == Decimal("100") and order.terminal
    assert (await client.get_positions())[SLUG].net == Decimal("-100")
    trades = await client.get_trades(SLUG)
    assert [(t.price, t.qty) for t in trades] == [(Decimal("0.40"), Decimal("100"))]
    balance = await client.get_balance()
    assert balance.current_balance == Decimal("440.0")  # 500 - 100 x (1 - 0.40)
    assert isinstance(balance.current_balance, Decimal)


async def test_a_wrong_key_or_a_skewed_clock_is_a_401_reported_to_the_kill_switch(us_tls, fake, us_key) -> None:
    failures: list[str] = []
    other = new_us_key()
    c = make_client(us_tls, fake, (us_key[0], other[1]), on_auth_failure=failures.append)
    skewed = make_client(us_tls, fake, us_key, clock=lambda: NOW + 31, on_auth_failure=failures.append)
    try:
        with pytest.raises(PolyHttpError) as info:
            await c.get_balance()
        assert info.value.status == 401 and info.value.is_auth_failure
        with pytest.raises(PolyHttpError):
            await skewed.get_balance()
    finally:
        await c.close()
        await skewed.close()
    assert failures == ["http_401", "http_401"]
    assert fake.auth_failures == ["invalid signature", "timestamp outside the 30 second window"]
    assert other[1] not in str(info.value) and us_key[1] not in str(info.value)


async def test_reads_retry_429_and_5xx_but_an_order_is_resent_only_after_a_429(client, fake) -> None:
    fake.fail("/v1/account/balances", Fault(status=429), Fault(status=503))
    assert (await client.get_balance()).current_balance == Decimal("500.0")
    assert len(fake.hits("/v1/account/balances")) == 3
    fake.fail("/v1/orders", Fault(status=429))
    await client.create_order(SLUG, Side.YES, Decimal("0.43"), Decimal("1"))
    assert len(fake.hits("/v1/orders")) == 2 and len(fake.created) == 1
    fake.fail("/v1/orders", Fault(status=500))
    with pytest.raises(PolyHttpError) as info:
        await client.create_order(SLUG, Side.YES, Decimal("0.43"), Decimal("1"))
    assert info.value.status == 500 and len(fake.hits("/v1/orders")) == 3  # never a second POST


async def test_an_order_applied_then_timed_out_or_dropped_is_never_sent_again(us_tls, fake, us_key) -> None:
    c = make_client(us_tls, fake, us_key, timeout_s=0.5)
    fake.timeout_s = 2.0
    try:
        fake.order_faults = ["timeout", "drop"]
        for _ in range(2):
            with pytest.raises(PolyTransportError):
                await c.create_order(SLUG, Side.YES, Decimal("0.45"), Decimal("10"))
    finally:
        await c.close()
    assert len(fake.hits("/v1/orders")) == 2 and len(fake.created) == 2  # applied, once each
    assert fake.positions[SLUG] == Decimal("20")


async def test_only_the_two_us_hosts_are_reachable(us_tls, fake, us_key) -> None:
    assert frozenset({"api.polymarket.us", "gateway.polymarket.us"}) == US_HOSTS
    c = make_client(us_tls, fake, us_key)
    try:
        with pytest.raises(HostNotAllowedError):
            await c._http.request("GET", "/v1/x", bucket=c._reads, base_url="https://clob.polymarket.com")
        with pytest.raises(HostNotAllowedError):
            await c._http.request("GET", "/v1/x", bucket=c._reads, base_url="http://api.polymarket.us")
    finally:
        await c.close()
    # public paths on the api host are refused by the fake, like the real split
    fake_paths = {r.path for r in fake.requests}
    assert "/v1/x" not in fake_paths


async def test_no_key_means_no_signed_call(us_tls, fake) -> None:
    c = make_client(us_tls, fake, None)
    try:
        assert (await c.get_orderbook(SLUG)).ticker == SLUG
        with pytest.raises(PolyHttpError, match="POLYMARKET_KEY_ID"):
            await c.get_balance()
    finally:
        await c.close()
    assert not fake.hits("/v1/account/balances")


def test_malformed_shapes_are_errors_not_guesses() -> None:
    from src.net.poly_http import PolyMalformedResponse
    from src.platforms.polymarket_us import book_from_payload, settlement_result

    with pytest.raises(PolyMalformedResponse):
        book_from_payload(SLUG, {"marketData": {"bids": [{"px": {"value": "1.5"}, "qty": "1"}]}}, 0)
    with pytest.raises(PolyMalformedResponse):
        book_from_payload(SLUG, {"marketData": {"bids": [{"px": {"value": "0.5", "currency": "EUR"}, "qty": "1"}]}},
                          0)  # fmt: skip
    assert settlement_result({"slug": SLUG, "settlement": 1}) == "yes"
    assert settlement_result({"slug": SLUG, "settlement": Decimal("0")}) == "no"
    assert settlement_result({"slug": SLUG, "settlement": Decimal("0.5")}) == ""
    from src.platforms.polymarket_us_wire import canceled_count, open_slugs_from_payload, orders_from_payload

    with pytest.raises(PolyMalformedResponse):
        orders_from_payload({"orders": {"id": "ord-1"}})
    with pytest.raises(PolyMalformedResponse):
        open_slugs_from_payload([SLUG])
    assert open_slugs_from_payload({"markets": [{"slug": SLUG}, {"slug": ""}, {"id": 7}, "x"]}) == [SLUG]
    assert canceled_count({"canceledOrderIds": ["a", "b"]}) == 2 and canceled_count({"canceledOrderIds": "a"}) == 0


def test_us_key_material_is_redacted_from_any_log_line(us_key) -> None:
    from src.journal.log_setup import redact, register_secret

    key_id, secret = us_key
    key = PolyUsKey.load(key_id, secret)
    signature = key.sign(1_780_000_000_000, "GET", "/v1/account/balances")
    register_secret(key_id)  # done by load_us_key at start-up
    for line in (f"POLYMARKET_SECRET_KEY={secret}", f"headers {{'X-PM-Signature': '{signature}'}}",
                 f"X-PM-Access-Key: {key_id}", f"POLYMARKET_KEY_ID={key_id}", f"oops {secret}"):  # fmt: skip
        cleaned = redact(line, uuids=False)
        assert secret not in cleaned and signature not in cleaned and key_id not in cleaned, cleaned
    client = PolymarketUSClient(key)
    assert key_id not in repr(client) and secret not in repr(client)


async def test_a_redirect_is_an_error_never_followed(client, fake) -> None:
    fake.fail(f"/v1/markets/{SLUG}/book", Fault(status=302, headers={"Location": "https://evil.example/v1/x"}))
    with pytest.raises(PolyHttpError) as info:
        await client.get_orderbook(SLUG)
    assert info.value.status == 302
    assert len(fake.hits(f"/v1/markets/{SLUG}/book")) == 1


def test_a_slug_or_order_id_can_never_reach_another_endpoint() -> None:
    """Slugs come from another venue's data (whale trades): a "/" or "?" in one stays inside its segment."""
    from src.platforms import polymarket_us_requests as req

    assert req.book("aec-nba-lal-bos-2026-12-07").path == "/v1/markets/aec-nba-lal-bos-2026-12-07/book"
    assert req.book("x/../../v1/orders?y").path == "/v1/markets/x%2F..%2F..%2Fv1%2Forders%3Fy/book"
    assert req.get_order("a/b").path == "/v1/order/a%2Fb"
    assert req.cancel_order("id?x", "s").path == "/v1/order/id%3Fx/cancel"
