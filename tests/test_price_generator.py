"""The seeded BTC price generator: reproducible, volatility as configured, jumps as configured."""

from __future__ import annotations

import math
import statistics

import pytest

from src.config import SimConfig
from src.data.price_generator import SECONDS_PER_YEAR, PriceGenerator, sigma_per_sqrt_second

START = 1_767_225_600.0


def log_returns(prices: list[float]) -> list[float]:
    return [math.log(b / a) for a, b in zip(prices, prices[1:], strict=False)]


def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    cfg = SimConfig(seed=11)
    a = list(PriceGenerator(cfg).ticks(START, count=2000))
    b = list(PriceGenerator(cfg).ticks(START, count=2000))
    c = list(PriceGenerator(cfg, seed=12).ticks(START, count=2000))
    assert a == b
    assert a != c
    # Iterating twice over one generator replays the same path (the RNG is per iteration).
    gen = PriceGenerator(cfg)
    assert list(gen.ticks(START, count=50)) == list(gen.ticks(START, count=50))


def test_times_ids_and_cents() -> None:
    ticks = list(PriceGenerator(SimConfig(tick_interval_s=0.5), start_price=50_000.0).ticks(START, count=5))
    assert [t for t, _, _ in ticks] == [START, START + 0.5, START + 1.0, START + 1.5, START + 2.0]
    assert [i for _, _, i in ticks] == [1, 2, 3, 4, 5]
    assert ticks[0][1] == 50_000.0
    assert all(round(p, 2) == p for _, p, _ in ticks)


def test_end_ts_and_count_bound_the_stream() -> None:
    gen = PriceGenerator(SimConfig())
    assert len(list(gen.ticks(START, end_ts=START + 10))) == 10
    assert len(list(gen.ticks(START, count=0))) == 0
    with pytest.raises(ValueError):
        list(gen.ticks(START, count=-1))


def test_sigma_per_second_scales_back_to_the_annual_volatility() -> None:
    # Volatility grows with the square root of time: one year of per-second sigma is the annual figure.
    for annual in (0.2, 0.55, 1.3):
        assert sigma_per_sqrt_second(annual) * math.sqrt(SECONDS_PER_YEAR) == pytest.approx(annual)
    assert sigma_per_sqrt_second(0.55) < sigma_per_sqrt_second(0.8)


def test_volatility_is_roughly_as_configured() -> None:
    # No jumps; a high price keeps cent rounding negligible. 100k returns: the sample stdev is
    # within about 0.3 % of the truth, so 3 % is a loose but meaningful bound.
    cfg = SimConfig(annual_volatility=0.8, jump_probability=0.0, tick_interval_s=2.0, seed=3)
    prices = [p for _, p, _ in PriceGenerator(cfg, start_price=1_000_000.0).ticks(START, count=100_001)]
    measured = statistics.pstdev(log_returns(prices))
    expected = sigma_per_sqrt_second(0.8) * math.sqrt(2.0)
    assert measured == pytest.approx(expected, rel=0.03)
    annualised = measured / math.sqrt(2.0) * math.sqrt(SECONDS_PER_YEAR)
    assert annualised == pytest.approx(0.8, rel=0.03)


def test_jumps_have_the_configured_size_and_both_signs() -> None:
    cfg = SimConfig(annual_volatility=1e-6, jump_probability=1.0, jump_size_pct=1.0, seed=5)
    prices = [p for _, p, _ in PriceGenerator(cfg, start_price=1_000_000.0).ticks(START, count=2001)]
    rets = log_returns(prices)
    ups = [r for r in rets if r > 0]
    downs = [r for r in rets if r < 0]
    assert all(r == pytest.approx(math.log1p(0.01), abs=2e-6) for r in ups)
    assert all(r == pytest.approx(math.log1p(-0.01), abs=2e-6) for r in downs)
    assert 800 < len(ups) < 1200 and len(ups) + len(downs) == 2000


def test_jump_frequency_follows_the_probability() -> None:
    cfg = SimConfig(annual_volatility=1e-6, jump_probability=0.01, jump_size_pct=2.0, seed=9)
    prices = [p for _, p, _ in PriceGenerator(cfg, start_price=1_000_000.0).ticks(START, count=50_001)]
    jumps = sum(1 for r in log_returns(prices) if abs(r) > 0.01)
    assert 400 < jumps < 600  # expected 500, stdev about 22


def test_bad_start_price() -> None:
    with pytest.raises(ValueError, match="start_price"):
        PriceGenerator(SimConfig(), start_price=0.0)
