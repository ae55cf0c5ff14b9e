"""WhaleTracker against a local fake Data API: qualification, new-trade detection, faults, allowlist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from src.config import WhaleConfig
from src.data.whale_tracker import (
    INACTIVE,
    PNL_BELOW_MIN,
    QUALIFIED,
    TOO_FEW_TRADES,
    WhaleTracker,
    parse_leaderboard,
    parse_trades,
    qualify,
)
from src.net.allowlist import HostNotAllowedError
from src.net.backoff import RetryPolicy
from src.net.poly_http import PolyHttpError, PolyMalformedResponse
from src.net.rate_limit import TokenBucket
from tests.fakes.polymarket_data_server import FakeDataApi, leaderboard_row, trade_row
from tests.fakes.polymarket_server import DATA_HOST, Fault, LoopbackTLS, connector_factory

DAY = 86_400
A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
D = "0x" + "d4" * 20
CFG = WhaleConfig(min_pnl_usd=Decimal("10000"), min_trades=5, max_inactive_days=7)


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
async def api(tls: LoopbackTLS) -> AsyncIterator[FakeDataApi]:
    server = FakeDataApi(tls)
    await server.start()
    yield server
    await server.stop()


def make_tracker(tls, api, clock, sleeps, cfg=CFG, **kw) -> WhaleTracker:
    return WhaleTracker(
        cfg,
        clock,
        connector_factory=connector_factory(tls, {DATA_HOST: api.port}),
        bucket=TokenBucket(1000, 1.0),
        retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0, budget_s=30),
        sleep=sleeps,
        **kw,
    )


def seed_whales(api: FakeDataApi, now: float) -> None:
    api.leaderboard = [
        leaderboard_row(A, 250000.5, 1),
        leaderboard_row(B, 9999.99, 2),
        leaderboard_row(C, 50000, 3),
        leaderboard_row(D, 40000, 4),
    ]
    for i in range(6):
        api.add_trade(trade_row(A, tx(100 + i), int(now) - 3600 * (i + 1)))
    for i in range(3):
        api.add_trade(trade_row(C, tx(200 + i), int(now) - 60 * (i + 1)))
    for i in range(6):
        api.add_trade(trade_row(D, tx(300 + i), int(now) - 30 * DAY - i))


# ------------------------------------------------------------------ pure rules


def test_qualify_rules_in_order():
    now = 1_000_000.0
    assert qualify(Decimal("10000"), 5, now - 10, now, CFG) == QUALIFIED
    assert qualify(Decimal("9999.99"), 500, now, now, CFG) == PNL_BELOW_MIN
    assert qualify(Decimal("20000"), 4, now, now, CFG) == TOO_FEW_TRADES
    assert qualify(Decimal("20000"), 5, now - 7 * DAY - 1, now, CFG) == INACTIVE
    assert qualify(Decimal("20000"), 5, now - 7 * DAY, now, CFG) == QUALIFIED
    assert qualify(Decimal("20000"), 0, None, now, WhaleConfig(min_trades=0)) == INACTIVE


def test_parsers_use_decimal_and_skip_bad_rows():
    from src.net.poly_http import parse_json

    payload = parse_json(
        '[{"rank":"1","proxyWallet":"0xAbC","userName":"x","vol":1.5,"pnl":0.1},'
        '{"rank":"2","userName":"no wallet","pnl":5}, {"rank":"3","proxyWallet":"0xdef","pnl":"NaN"}]'
    )
    (entry,) = parse_leaderboard(payload)
    assert entry.pnl_usd == Decimal("0.1") and isinstance(entry.pnl_usd, Decimal)
    assert entry.wallet == "0xabc"
    rows = parse_trades(
        parse_json(
            "["
            + ",".join(
                __import__("json").dumps(r)
                for r in (
                    trade_row(A, tx(1), 10, price=0.4, size=10),
                    trade_row(A, tx(1), 11, price=0.5, size=30),  # second fill of the same order
                    trade_row(A, tx(2), 12, side="HOLD"),
                    trade_row(A, "nohash", 12),
                    trade_row(A, tx(3), 12, price=1.5),
                )
            )
            + "]"
        )
    )
    assert len(rows) == 1
    assert rows[0].size == Decimal("40.0")
    assert rows[0].price == Decimal("0.475")  # size-weighted
    assert rows[0].timestamp == 11
    with pytest.raises(PolyMalformedResponse):
        parse_trades({"not": "a list"})


# ------------------------------------------------------------------ against the fake


async def test_refresh_qualifies_by_config(tls, api, clock, sleeps):
    seed_whales(api, clock())
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        evaluated = {w.wallet: w for w in await tracker.refresh_whales()}
    finally:
        await tracker.close()
    assert evaluated[A].reason == QUALIFIED and evaluated[A].pnl_usd == Decimal("250000.5")
    assert evaluated[B].reason == PNL_BELOW_MIN
    assert evaluated[C].reason == TOO_FEW_TRADES
    assert evaluated[D].reason == INACTIVE
    assert [w.wallet for w in tracker.whales] == [A]
    # B was never asked for its trades: its PnL already disqualified it.
    assert {r.query["user"] for r in api.hits("/trades")} == {A, C, D}
    lb = api.hits("/v1/leaderboard")[0].query
    assert lb["orderBy"] == "PNL" and lb["timePeriod"] == "ALL" and lb["limit"] == "50"


async def test_first_poll_marks_then_only_new_trades_once(tls, api, clock, sleeps):
    seed_whales(api, clock())
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        await tracker.refresh_whales()
        first = await tracker.poll()
        assert first.trades == () and first.failed_wallets == ()
        # Two new trades, one of them in two fills; plus a re-poll showing the same again.
        now = int(clock())
        api.add_trade(trade_row(A, tx(900), now + 5, price=0.30, size=10))
        api.add_trade(trade_row(A, tx(901), now + 9, price=0.60, size=5, side="SELL"))
        api.add_trade(trade_row(A, tx(901), now + 9, price=0.60, size=5, side="SELL"))
        second = await tracker.poll()
        third = await tracker.poll()
    finally:
        await tracker.close()
    assert [(t.trade.tx_hash, t.trade.side, t.trade.size) for t in second.trades] == [
        (tx(900), "BUY", Decimal("10.0")),
        (tx(901), "SELL", Decimal("10.0")),
    ]
    assert all(t.whale.wallet == A and t.whale.qualified for t in second.trades)
    assert second.trades[0].trade.price == Decimal("0.30")
    assert third.trades == ()
    assert api.hits("/trades")[-1].query["takerOnly"] == "false"


async def test_whale_that_drops_out_and_returns_gets_a_fresh_baseline(tls, api, clock, sleeps):
    seed_whales(api, clock())
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        await tracker.refresh_whales()
        await tracker.poll()
        api.leaderboard = [leaderboard_row(A, 10, 1)]  # PnL collapses: no longer a whale
        await tracker.refresh_whales()
        assert tracker.whales == ()
        api.add_trade(trade_row(A, tx(950), int(clock()) + 1))
        assert (await tracker.poll()).trades == ()
        api.leaderboard = [leaderboard_row(A, 250000, 1)]
        await tracker.refresh_whales()
        assert (await tracker.poll()).trades == ()  # baseline again: tx 950 is old news
        api.add_trade(trade_row(A, tx(951), int(clock()) + 2))
        assert [t.trade.tx_hash for t in (await tracker.poll()).trades] == [tx(951)]
    finally:
        await tracker.close()


async def test_429_and_500_are_retried_honouring_retry_after(tls, api, clock, sleeps):
    seed_whales(api, clock())
    api.fail("/v1/leaderboard", Fault(status=429, headers={"Retry-After": "2"}), Fault(status=500))
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        await tracker.refresh_whales()
    finally:
        await tracker.close()
    assert [w.wallet for w in tracker.whales] == [A]
    assert len(api.hits("/v1/leaderboard")) == 3
    assert sleeps.waits[0] == 2.0
    assert 0 <= sleeps.waits[1] <= 0.2


async def test_persistent_500_gives_up_with_a_clear_error(tls, api, clock, sleeps):
    api.fail("/v1/leaderboard", *[Fault(status=500)] * 5)
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        with pytest.raises(PolyHttpError) as info:
            await tracker.refresh_whales()
    finally:
        await tracker.close()
    assert info.value.status == 500
    assert "polymarket-data" in str(info.value) and "HTTP 500" in str(info.value)
    assert len(api.hits("/v1/leaderboard")) == 3  # max_attempts


async def test_400_is_not_retried(tls, api, clock, sleeps):
    api.fail("/v1/leaderboard", Fault(status=400, body='{"error": "bad limit"}'))
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        with pytest.raises(PolyHttpError, match="bad limit"):
            await tracker.refresh_whales()
    finally:
        await tracker.close()
    assert len(api.hits("/v1/leaderboard")) == 1


async def test_timeout_is_retried(tls, api, clock, sleeps):
    seed_whales(api, clock())
    api.fail("/v1/leaderboard", Fault(delay_s=0.4))
    tracker = make_tracker(tls, api, clock, sleeps, timeout_s=0.1)
    try:
        await tracker.refresh_whales()
    finally:
        await tracker.close()
    assert [w.wallet for w in tracker.whales] == [A]
    assert len(sleeps.waits) == 1


async def test_malformed_json_fails_one_wallet_not_the_poll(tls, api, clock, sleeps):
    seed_whales(api, clock())
    api.leaderboard.append(leaderboard_row(C, 60000, 5))
    for i in range(3, 8):
        api.add_trade(trade_row(C, tx(400 + i), int(clock()) - i))
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        await tracker.refresh_whales()
        assert {w.wallet for w in tracker.whales} == {A, C}
        await tracker.poll()
        api.add_trade(trade_row(A, tx(990), int(clock()) + 1))
        api.add_trade(trade_row(C, tx(991), int(clock()) + 1))
        api.fail("/trades", Fault(body="{not json"))  # A is polled first (rank 1)
        result = await tracker.poll()
        assert result.failed_wallets == (A,)
        assert [t.trade.tx_hash for t in result.trades] == [tx(991)]
        again = await tracker.poll()
        assert [t.trade.tx_hash for t in again.trades] == [tx(990)]
    finally:
        await tracker.close()


async def test_malformed_leaderboard_raises(tls, api, clock, sleeps):
    api.fail("/v1/leaderboard", Fault(body='{"oops": 1}'))
    tracker = make_tracker(tls, api, clock, sleeps)
    try:
        with pytest.raises(PolyMalformedResponse):
            await tracker.refresh_whales()
    finally:
        await tracker.close()


async def test_large_min_trades_pages_with_offset(tls, api, clock, sleeps):
    api.leaderboard = [leaderboard_row(A, 250000, 1)]
    for i in range(620):
        api.add_trade(trade_row(A, tx(10_000 + i), int(clock()) - i))
    tracker = make_tracker(tls, api, clock, sleeps, cfg=WhaleConfig(min_trades=600, min_pnl_usd=Decimal("1")))
    try:
        (whale,) = await tracker.refresh_whales()
    finally:
        await tracker.close()
    assert whale.qualified and whale.trade_count == 600
    pages = [(r.query["offset"], r.query["limit"]) for r in api.hits("/trades")]
    assert pages == [("0", "500"), ("500", "100")]


def test_allowlist_refuses_other_hosts(clock):
    for url in ("https://gamma-api.polymarket.com", "http://data-api.polymarket.com", "https://evil.example"):
        with pytest.raises(HostNotAllowedError):
            WhaleTracker(CFG, clock, base_url=url)


async def test_only_the_data_host_is_resolved(tls, api, clock, sleeps):
    seed_whales(api, clock())
    lookups: list[str] = []
    tracker = WhaleTracker(
        CFG,
        clock,
        connector_factory=connector_factory(tls, {DATA_HOST: api.port}, lookups),
        bucket=TokenBucket(1000, 1.0),
        sleep=sleeps,
    )
    try:
        await tracker.refresh_whales()
    finally:
        await tracker.close()
    assert lookups and set(lookups) == {DATA_HOST}


def test_construction_opens_nothing(clock):
    made: list[int] = []

    def factory():
        made.append(1)
        raise AssertionError("no connector may be made before the first request")

    WhaleTracker(CFG, clock, connector_factory=factory)
    assert made == []


def test_bad_tracker_arguments(clock):
    with pytest.raises(ValueError):
        WhaleTracker(CFG, clock, leaderboard_limit=51)
    with pytest.raises(ValueError):
        WhaleTracker(CFG, clock, trades_page=0)
    with pytest.raises(ValueError):
        WhaleTracker(CFG, clock, time_period="YEAR")
