"""Tests for the settlement-average fair-value model: hand-computed values and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.strategies.fair_value import (
    SETTLEMENT_WINDOW_S,
    normal_cdf,
    prob_settle_at_or_above,
    settlement_log_mean,
    settlement_log_variance,
)

W = SETTLEMENT_WINDOW_S


def test_normal_cdf_reference_points() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1.0) == pytest.approx(0.15865525393145707, abs=1e-12)
    # erfc keeps the far lower tail non-zero, where 0.5 * (1 + erf) would round to 0.
    assert 0.0 < normal_cdf(-30.0) < 1e-190


@pytest.mark.parametrize(
    ("sigma", "seconds_left", "expected"),
    [
        # T >= w: sigma^2 (T - w) + sigma^2 w / 3 = 1e-8 * (420 + 20) = 4.4e-6
        (1e-4, 480.0, 4.4e-6),
        # T = w: only the averaging window is left: 1e-8 * 60 / 3 = 2e-7
        (1e-4, 60.0, 2e-7),
        # T < w: sigma^2 T^3 / (3 w^2) = 1e-8 * 27000 / 10800 = 2.5e-8
        (1e-4, 30.0, 2.5e-8),
        # 15 minutes, sigma 2e-4: 4e-8 * (840 + 20) = 3.44e-5
        (2e-4, 900.0, 3.44e-5),
        (1e-4, 0.0, 0.0),
        (1e-4, -5.0, 0.0),
        (0.0, 480.0, 0.0),
    ],
)
def test_settlement_variance_hand_values(sigma: float, seconds_left: float, expected: float) -> None:
    assert settlement_log_variance(sigma, seconds_left) == pytest.approx(expected, rel=1e-12, abs=1e-30)


def test_variance_is_continuous_at_window_start() -> None:
    just_above = settlement_log_variance(1e-4, W + 1e-9)
    just_below = settlement_log_variance(1e-4, W - 1e-9)
    assert just_above == pytest.approx(just_below, rel=1e-9)


def _discrete_avg_variance(times: list[float], weight: float) -> float:
    """Var(weight * sum W(t_i)) for a standard Brownian motion: weight^2 * sum_ij min(t_i, t_j)."""
    # sum_ij min(t_i, t_j) for sorted t: sum_k t_k * (2 (n - k) - 1), k from 0.
    ordered = sorted(times)
    n = len(ordered)
    total = sum(t * (2 * (n - k) - 1) for k, t in enumerate(ordered))
    return weight * weight * total


@pytest.mark.parametrize("seconds_left", [60.0, 300.0, 480.0, 900.0])
def test_variance_formula_matches_a_fine_discrete_average(seconds_left: float) -> None:
    # Independent check of sigma^2 (T - w + w/3): average W over n midpoints of [T - w, T].
    n = 2000
    times = [seconds_left - W + (k + 0.5) * W / n for k in range(n)]
    discrete = _discrete_avg_variance(times, 1.0 / n)
    assert settlement_log_variance(1.0, seconds_left) == pytest.approx(discrete, rel=1e-4)


@pytest.mark.parametrize("seconds_left", [1.0, 10.0, 30.0, 59.0])
def test_variance_inside_window_matches_a_fine_discrete_average(seconds_left: float) -> None:
    # Only the T future seconds are random; each of m points there weighs T / (w m) of the average.
    m = 2000
    times = [(k + 0.5) * seconds_left / m for k in range(m)]
    discrete = _discrete_avg_variance(times, seconds_left / (W * m))
    assert settlement_log_variance(1.0, seconds_left) == pytest.approx(discrete, rel=1e-4)


def test_mean_is_log_price_outside_the_window_and_blended_inside() -> None:
    assert settlement_log_mean(100_000.0, 480.0) == math.log(100_000.0)
    # Inside the window with the observed mean unknown: treated as the current price.
    assert settlement_log_mean(100_000.0, 30.0) == math.log(100_000.0)
    # 30 s left of 60: half observed (avg 99,900), half still to come (at 100,050 now).
    blended = settlement_log_mean(100_050.0, 30.0, observed_avg=99_900.0)
    assert blended == pytest.approx(0.5 * math.log(99_900.0) + 0.5 * math.log(100_050.0), rel=1e-15)
    # Closed: the average is what was observed.
    assert settlement_log_mean(100_050.0, 0.0, observed_avg=99_900.0) == pytest.approx(math.log(99_900.0))


@pytest.mark.parametrize(
    ("price", "strike", "sigma", "seconds_left", "observed_avg", "expected"),
    [
        # Hand: var = 4.4e-6, sd = 0.0020976; ln(100400/100000) = 0.0039920; z = 1.9031;
        # Phi(1.9031) = 0.97149 (normal table: Phi(1.90) = 0.97128, Phi(1.91) = 0.97193).
        (100_400.0, 100_000.0, 1e-4, 480.0, None, 0.97149),
        # Mirror image: price as far below the strike gives 1 - 0.97149 = 0.02851.
        (100_000.0 * 100_000.0 / 100_400.0, 100_000.0, 1e-4, 480.0, None, 0.02851),
        # Inside the window: var = 2.5e-8, sd = 1.5811e-4; ln(1.0005) = 4.9988e-4; z = 3.1615;
        # Phi(3.16) = 0.99921.
        (100_050.0, 100_000.0, 1e-4, 30.0, None, 0.99922),
        # Same, knowing the first half averaged 99,900: mean - ln K = 0.5 (ln 0.999 + ln 1.0005)
        # = 0.5 (-0.0010005 + 0.0004999) = -2.5031e-4; z = -1.5831; Phi = 0.05670.
        (100_050.0, 100_000.0, 1e-4, 30.0, 99_900.0, 0.05670),
    ],
)
def test_probability_hand_values(
    price: float, strike: float, sigma: float, seconds_left: float, observed_avg: float | None, expected: float
) -> None:
    p = prob_settle_at_or_above(price, strike, sigma, seconds_left, observed_avg=observed_avg)
    assert p == pytest.approx(expected, abs=5e-5)


def test_probability_is_exactly_half_at_the_strike_with_time_left() -> None:
    assert prob_settle_at_or_above(97_123.45, 97_123.45, 8e-5, 500.0) == 0.5


@pytest.mark.parametrize(
    ("price", "expected"),
    [(100_000.0, 1.0), (100_000.01, 1.0), (99_999.99, 0.0)],
)
def test_probability_at_close_is_the_indicator(price: float, expected: float) -> None:
    # Nothing random is left: at the strike counts as YES (greater_or_equal).
    assert prob_settle_at_or_above(price, 100_000.0, 1e-4, 0.0) == expected
    assert prob_settle_at_or_above(price, 100_000.0, 0.0, 480.0) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price": 0.0}, "price must be positive"),
        ({"price": -1.0}, "price must be positive"),
        ({"strike": 0.0}, "strike must be positive"),
        ({"sigma": -1e-4}, "sigma >= 0"),
        ({"window_s": 0.0}, "window_s > 0"),
        ({"seconds_left": 10.0, "observed_avg": 0.0}, "observed_avg must be positive"),
    ],
)
def test_bad_inputs_raise_value_error(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"price": 100.0, "strike": 100.0, "sigma": 1e-4, "seconds_left": 100.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        prob_settle_at_or_above(**args)  # type: ignore[arg-type]


prices = st.floats(min_value=1_000.0, max_value=500_000.0, allow_nan=False)
sigmas = st.floats(min_value=1e-6, max_value=1e-3, allow_nan=False)
times = st.floats(min_value=0.0, max_value=900.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(strike=prices, sigma=sigmas, seconds_left=times, a=st.floats(0.9, 1.1), b=st.floats(0.9, 1.1))
def test_probability_is_monotone_in_price(strike: float, sigma: float, seconds_left: float, a: float, b: float) -> None:
    low, high = sorted((strike * a, strike * b))
    p_low = prob_settle_at_or_above(low, strike, sigma, seconds_left)
    p_high = prob_settle_at_or_above(high, strike, sigma, seconds_left)
    assert 0.0 <= p_low <= p_high <= 1.0


@settings(max_examples=200, deadline=None)
@given(strike=prices, sigma=sigmas, seconds_left=st.floats(min_value=1e-3, max_value=900.0))
def test_probability_is_half_at_strike_whenever_time_is_left(strike: float, sigma: float, seconds_left: float) -> None:
    assert prob_settle_at_or_above(strike, strike, sigma, seconds_left) == 0.5


@settings(max_examples=200, deadline=None)
@given(
    strike=prices,
    sigma=sigmas,
    distance=st.floats(min_value=0.001, max_value=0.05),
    above=st.booleans(),
    seconds_left=st.floats(min_value=0.0, max_value=1.0),
)
def test_probability_tends_to_zero_or_one_near_close_away_from_strike(
    strike: float, sigma: float, distance: float, above: bool, seconds_left: float
) -> None:
    # With <= 1 s left the sd is at most 1e-3 * sqrt(1 / 10800) ~ 1e-5, so a 0.1 % distance is
    # at least ~100 sd: the outcome is settled.
    price = strike * math.exp(distance if above else -distance)
    p = prob_settle_at_or_above(price, strike, sigma, seconds_left)
    assert p == pytest.approx(1.0 if above else 0.0, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(strike=prices, sigma=sigmas, ratio=st.floats(1.0001, 1.05), t1=times, t2=times)
def test_more_time_left_moves_probability_toward_half(
    strike: float, sigma: float, ratio: float, t1: float, t2: float
) -> None:
    short, long = sorted((t1, t2))
    above_short = prob_settle_at_or_above(strike * ratio, strike, sigma, short)
    above_long = prob_settle_at_or_above(strike * ratio, strike, sigma, long)
    assert 0.5 <= above_long <= above_short
    below_short = prob_settle_at_or_above(strike / ratio, strike, sigma, short)
    below_long = prob_settle_at_or_above(strike / ratio, strike, sigma, long)
    assert below_short <= below_long <= 0.5
