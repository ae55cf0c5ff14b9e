"""`--verify` for Polymarket US against the fakes: public book, key, signed balance, clock skew, whale source."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import AppConfig, Secrets, Settings, UserConfig
from src.platforms.polymarket_us_verify import verify_polymarket
from tests.fakes.polymarket_data_server import FakeDataApi, leaderboard_row
from tests.fakes.polymarket_server import DATA_HOST, connector_factory
from tests.fakes.polymarket_us_server import (
    API_HOST,
    GATEWAY_HOST,
    LAC_TEN,
    FakePolymarketUS,
    UsBook,
    new_us_key,
)

SLUG = LAC_TEN


@pytest.fixture
def us_clock() -> Callable[[], float]:
    return time.time  # --verify compares the venue's clock with the real one


@pytest.fixture
def us(us_fake: FakePolymarketUS) -> FakePolymarketUS:
    us_fake.books[SLUG] = UsBook(bids=[(Decimal("0.40"), Decimal("10"))], offers=[(Decimal("0.42"), Decimal("5"))])
    return us_fake


@pytest.fixture
async def data_api(us_tls) -> AsyncIterator[FakeDataApi]:
    server = FakeDataApi(us_tls)
    server.leaderboard = [leaderboard_row("0x" + "a1" * 20, 50_000, 1)]
    await server.start()
    yield server
    await server.stop()


def settings(root: Path, key: tuple[str, str] | None, *, enabled: bool = True, venue: str = "us") -> Settings:
    app = AppConfig.model_validate({"platforms": {"polymarket": {"enabled": enabled, "venue": venue,
                                                                 "request_timeout_s": 3}}})  # fmt: skip
    secrets = {"POLYMARKET_KEY_ID": key[0], "POLYMARKET_SECRET_KEY": key[1]} if key else {}
    return Settings(app, UserConfig(starting_bankroll_usd=Decimal("100")), Secrets(secrets), root)


async def check(cfg, us_tls, us, data_api, clock=time.time) -> dict[str, tuple[bool, str, str]]:
    results = await verify_polymarket(
        cfg, clock=clock,
        us_connector_factory=connector_factory(us_tls, {API_HOST: us.port, GATEWAY_HOST: us.port}),
        data_connector_factory=connector_factory(us_tls, {DATA_HOST: data_api.port}),
    )  # fmt: skip
    return {r.name: (r.ok, r.detail, r.hint) for r in results}


async def test_all_green_with_a_good_key(tmp_path, us_tls, us, data_api, us_key) -> None:
    lines = await check(settings(tmp_path, us_key), us_tls, us, data_api)
    assert all(ok for ok, _, _ in lines.values()), lines
    assert "YES ask 0.42" in lines["Polymarket US book"][1] and "NO ask 0.60" in lines["Polymarket US book"][1]
    assert "$500" in lines["Polymarket US balance"][1]
    assert us.hits("/v1/account/balances")[0].headers["X-PM-Access-Key"] == us_key[0]
    assert us_key[1] not in repr(lines)


async def test_a_skewed_clock_is_named_as_the_cause_of_the_401(tmp_path, us_tls, us, data_api, us_key) -> None:
    lines = await check(settings(tmp_path, us_key), us_tls, us, data_api, clock=lambda: time.time() + 45)
    assert lines["Polymarket US book"][0]  # public reads need no signature
    ok, detail, hint = lines["Polymarket US balance"]
    skew = re.search(r"clock is ([+-]\d+)s off", hint)
    assert not ok and "401" in detail and skew is not None
    assert -47 <= int(skew.group(1)) <= -44  # the Date header has whole seconds
    assert not lines["Polymarket US clock"][0] and "NTP" in lines["Polymarket US clock"][2]


async def test_a_wrong_key_and_no_key_get_their_own_hints(tmp_path, us_tls, us, data_api, us_key) -> None:
    wrong = await check(settings(tmp_path, (us_key[0], new_us_key()[1])), us_tls, us, data_api)
    assert not wrong["Polymarket US balance"][0] and "polymarket.us/developer" in wrong["Polymarket US balance"][2]
    assert wrong["Polymarket US clock"][0]
    none = await check(settings(tmp_path, None), us_tls, us, data_api)
    assert not none["Polymarket US key"][0] and "--paper needs none" in none["Polymarket US key"][2]
    assert none["Polymarket US book"][0] and "skipped" in none["Polymarket US balance"][1]


async def test_disabled_and_international_check_little(tmp_path, us_tls, us, data_api) -> None:
    assert list(await check(settings(tmp_path, None, enabled=False), us_tls, us, data_api)) == ["Polymarket"]
    assert us.requests == [] and data_api.requests == []
    intl = await check(settings(tmp_path, None, venue="international"), us_tls, us, data_api)
    assert list(intl) == ["Polymarket", "Polymarket whale source"] and "paper only" in intl["Polymarket"][1]
    assert us.requests == []
