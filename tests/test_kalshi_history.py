"""Kalshi public history client and the BTC REST history client against the local fake endpoints."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from src.data.btc_history import SOURCES, BtcHistoryClient
from src.data.kalshi_history import (
    KALSHI_HISTORY_HOSTS,
    HistoryDataError,
    KalshiHistoryClient,
    parse_candle,
    parse_settled_market,
    parse_trade,
)
from src.data.price_files import load_ticks
from src.model.models import Side
from src.net.allowlist import HostNotAllowedError
from src.net.backoff import RetryPolicy
from src.net.public_http import PublicHttp, PublicHttpError
from tests.fakes.history_server import FakeHistory, FakeHistoryServer, start_fake_history

DAY = 1_780_012_800.0  # 2026-05-29 00:00 UTC


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def kalshi(server: FakeHistoryServer, sleeps: Sleeps | None = None, **kw: object) -> KalshiHistoryClient:
    http = PublicHttp(KALSHI_HISTORY_HOSTS, per_second=1000, connector_factory=server.connector,
                      sleep=sleeps or Sleeps(), **kw)  # type: ignore[arg-type]
    return KalshiHistoryClient(http)


async def test_settled_markets_trades_and_candles_across_the_cutoff() -> None:
    fake = FakeHistory(page_size=7)
    tickers = fake.add_day(DAY, windows=8, trades=20)
    fake.cutoff_ts = DAY + 4 * 900 + 450  # markets 0-3 closed before it; market 4 straddles it
    async with start_fake_history(fake) as server:
        client = kalshi(server)
        async with client.http:
            rows = await client.settled_markets(DAY, DAY + 86_400)
            assert [r["ticker"] for r in rows] == tickers
            m = parse_settled_market(rows[4])
            assert m.floor_strike is not None and isinstance(m.floor_strike, Decimal) and m.result in ("yes", "no")
            trades = await client.trades(m.ticker, m.open_time.timestamp(), m.close_time.timestamp())
            candles = await client.candles(m.ticker, m.open_time.timestamp(), m.close_time.timestamp())
            old_candles = await client.candles(tickers[0], DAY, DAY + 900)
    parsed = [parse_trade(r) for r in trades]
    assert [t.trade_id for t in parsed] == [r["trade_id"] for r in fake.trades[m.ticker]]  # all, once, oldest first
    assert [t.ts for t in parsed] == sorted(t.ts for t in parsed)
    paths = {p for _, p, _ in fake.requests}
    assert {"/historical/trades", "/markets/trades", "/historical/markets", "/markets"} <= paths
    assert any(p.startswith("/historical/markets/") and p.endswith("/candlesticks") for p in paths)
    assert len(candles) == 15 and len(old_candles) == 15
    c = parse_candle(candles[0], m.ticker)
    assert c.yes_bid_close == Decimal("0.4800") and c.yes_ask_close == Decimal("0.5200") and c.price_close is None
    old = parse_candle(old_candles[0], tickers[0])  # the historical shape: close, volume
    assert "close" in old_candles[0]["yes_bid"] and old.yes_ask_close == Decimal("0.5200") and old.volume == 0
    assert {h for h, _, _ in fake.requests} == {"external-api.kalshi.com"}


async def test_429s_back_off_with_the_servers_retry_after_and_empty_pages_are_walked() -> None:
    fake = FakeHistory(page_size=5, empty_pages=True)
    (ticker,) = fake.add_day(DAY, windows=1, trades=23)
    fake.fail_next(3, 429, path="/markets/trades")
    sleeps = Sleeps()
    async with start_fake_history(fake) as server:
        client = kalshi(server, sleeps)
        async with client.http:
            rows = await client.trades(ticker, DAY, DAY + 900)
            assert client.http.retries == 3
    assert len(rows) == 23 and len({r["trade_id"] for r in rows}) == 23
    assert sleeps.calls[:3] == [0.0, 0.0, 0.0]  # Retry-After: 0, honoured


async def test_a_repeated_cursor_is_a_one_line_error_not_an_endless_walk() -> None:
    fake = FakeHistory(page_size=5)
    (ticker,) = fake.add_day(DAY, windows=1, trades=12)
    fake.repeat_cursor.add(ticker)
    async with start_fake_history(fake) as server:
        client = kalshi(server)
        async with client.http:
            # The first page hands out a cursor; the second hands the same one back.
            fake.page_size = 5
            with pytest.raises(HistoryDataError, match="repeated cursor"):
                await client.trades(ticker, DAY, DAY + 900)
    assert len(fake.requests) <= 4


async def test_persistent_429_gives_up_within_the_policy() -> None:
    fake = FakeHistory()
    fake.fail_next(50, 429)
    async with start_fake_history(fake) as server:
        client = kalshi(server, retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, budget_s=5))
        async with client.http:
            with pytest.raises(PublicHttpError) as info:
                await client.cutoff()
    assert info.value.status == 429 and len(fake.requests) == 3


async def test_every_request_passes_the_allowlist_and_no_redirect_is_followed(monkeypatch) -> None:
    import src.net.public_http as public_http

    checked: list[str] = []
    real = public_http.check_url

    def spy(url: str, hosts: frozenset[str], schemes: frozenset[str]) -> str:
        checked.append(url)
        return real(url, hosts, schemes)

    monkeypatch.setattr(public_http, "check_url", spy)
    fake = FakeHistory(page_size=3)
    fake.add_day(DAY, windows=2, trades=7)
    fake.fail_next(1, 429)
    async with start_fake_history(fake) as server:
        client = kalshi(server)
        async with client.http:
            await client.settled_markets(DAY, DAY + 86_400)
            with pytest.raises(HostNotAllowedError):
                await client.http.get_json("https://api.binance.com", "/api/v3/klines")
    assert len(checked) == len(fake.requests) + 1  # every request, the retry included, and the refused one


def test_the_clients_refuse_a_transport_on_another_allowlist() -> None:
    with pytest.raises(ValueError):
        KalshiHistoryClient(PublicHttp(SOURCES["binance"].hosts))
    with pytest.raises(ValueError):
        BtcHistoryClient("binance", PublicHttp(KALSHI_HISTORY_HOSTS))
    with pytest.raises(ValueError):
        BtcHistoryClient("kraken", PublicHttp(KALSHI_HISTORY_HOSTS))


def test_trade_rows_parse_to_decimal_and_the_taker_side() -> None:
    row = {"trade_id": "x", "ticker": "KXBTC15M-26MAY290015-15", "count_fp": "3.00", "yes_price_dollars": "0.4200",
           "no_price_dollars": "0.5800", "taker_outcome_side": "no", "created_time": "2026-05-29T00:01:02.5Z"}
    t = parse_trade(row)
    assert t.yes_price == Decimal("0.4200") and t.count == Decimal("3.00") and t.taker_side is Side.NO
    assert t.price(Side.NO) == Decimal("0.5800") and t.ts == pytest.approx(1_780_012_862.5)
    legacy = dict(row, taker_outcome_side=None, taker_side="yes")
    assert parse_trade(legacy).taker_side is Side.YES
    for bad in ({"yes_price_dollars": "1.2"}, {"taker_outcome_side": "up", "taker_side": None}, {"created_time": "x"},
                {"count_fp": "abc"}):
        with pytest.raises(HistoryDataError):
            parse_trade(dict(row, **bad))


@pytest.mark.parametrize("source", ["binance", "binance_us", "coinbase"])
async def test_btc_history_each_source_walks_its_pages_once_and_saves_a_readable_price_file(source, tmp_path) -> None:
    start, end = DAY, DAY + 2 * 3600 + 17
    async with start_fake_history() as server:
        http = PublicHttp(SOURCES[source].hosts, per_second=1000, connector_factory=server.connector, sleep=Sleeps())
        async with http:
            rows = await BtcHistoryClient(source, http).rows(start, end)
        hosts = {h for h, _, _ in server.fake.requests}
    assert hosts == set(SOURCES[source].hosts)
    expected = {"binance": 2 * 3600 + 17, "binance_us": 2 * (2 * 3600 + 17), "coinbase": 121}[source]
    assert len(rows) == expected
    times = [int(r[0]) if source != "binance_us" else int(r[5]) for r in rows]
    assert times == sorted(times) and len(set(times)) == len(times)
    path = tmp_path / f"{source}.csv"
    header = SOURCES[source].header
    path.write_text(("" if header is None else header + "\n") + "".join(",".join(r) + "\n" for r in rows))
    ticks = load_ticks(path)
    assert ticks and start <= ticks[0][0] and ticks[-1][0] < end + 60


async def test_a_redirect_is_an_error_never_followed() -> None:
    fake = FakeHistory()
    fake.fail_next(1, 302)
    async with start_fake_history(fake) as server:
        client = kalshi(server)
        async with client.http:
            with pytest.raises(PublicHttpError) as info:
                await client.cutoff()
    assert info.value.status == 302 and "not followed" in str(info.value) and len(fake.requests) == 1


async def test_a_429_without_retry_after_backs_off_with_capped_full_jitter() -> None:
    fake = FakeHistory(retry_after=None)
    fake.fail_next(4, 429)
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.5, max_delay_s=2.0, budget_s=60)
    draws = iter([0.9, 0.5, 0.99, 0.1])
    async with start_fake_history(fake) as server:
        client = kalshi(server, sleeps, retry_policy=policy, rng=lambda: next(draws))
        async with client.http:
            await client.cutoff()
    # uniform(0, min(2.0, 0.5 * 2**(n-1))) for retries 1..4, with the injected draws
    assert sleeps.calls == pytest.approx([0.45, 0.5, 1.98, 0.2])


async def test_a_certificate_that_does_not_verify_is_final_not_retried() -> None:
    """The transport trusts another CA than the server's: one try, one line, no retries."""
    from tests.fakes.kalshi_server import HostMapResolver, local_tls

    other_ca = local_tls(("api.binance.com",))  # a different throwaway CA

    async with start_fake_history() as server:
        def wrong_ca():  # type: ignore[no-untyped-def]
            import aiohttp

            resolver = HostMapResolver({h: ("127.0.0.1", server.port) for h in KALSHI_HISTORY_HOSTS})
            return aiohttp.TCPConnector(resolver=resolver, ssl=other_ca.client_context(), use_dns_cache=False)

        http = PublicHttp(KALSHI_HISTORY_HOSTS, connector_factory=wrong_ca, sleep=Sleeps())
        async with http:
            with pytest.raises(PublicHttpError, match="TLS"):
                await KalshiHistoryClient(http).cutoff()
        assert http.retries == 0


async def test_an_old_market_with_no_historical_prints_is_looked_up_in_the_live_table_too() -> None:
    fake = FakeHistory()
    first, second = fake.add_day(DAY, windows=2, trades=5)
    fake.cutoff_ts = DAY + 86_400  # both markets are old
    moved = fake.trades[second]
    async with start_fake_history(fake) as server:
        client = kalshi(server)
        async with client.http:
            await client.trades(first, DAY, DAY + 900)
            asked = [p for _, p, q in fake.requests if q.get("ticker") == first]
            assert asked == ["/historical/trades"]  # found there: the live table is not asked
            fake.cutoff_ts = DAY  # the fake now serves `second`'s prints from the live table only
            rows = await client.trades(second, DAY + 900, DAY + 1800)
    assert [r["trade_id"] for r in rows] == [t["trade_id"] for t in moved]
    assert [p for _, p, q in fake.requests if q.get("ticker") == second] == ["/historical/trades", "/markets/trades"]
