"""Probability that a KXBTC15M settlement average ends at or above its strike (pure float math).

Model (the full reasoning is in btc_lag.py's docstring):
    log BTC price X follows a driftless Brownian motion, dX = sigma dW, sigma per sqrt(second).
    The market settles on the average A of the last w seconds (w = 60) before close; we treat
    log A as the average of log prices over that window (the arithmetic/geometric gap is of
    order sigma^2 w, about 1e-6 here, far below a cent of probability).
    With T seconds to close and X0 = log(price now):
      T >= w:  log A ~ Normal(X0, sigma^2 (T - w) + sigma^2 w / 3)
               (the path up to the window start, then the mean of a Brownian path over w,
               whose variance is w/3 of the endpoint's)
      0 < T < w:  e = w - T seconds of the window are already observed. With observed mean m,
               log A = (e/w) m + (T/w) * mean of the remaining path, so
               log A ~ Normal((e/w) m + (T/w) X0, sigma^2 T^3 / (3 w^2)).
               If the caller does not know m, m = X0 (an approximation: it ignores where the
               price was during the observed seconds).
      T <= 0:  nothing random is left: A is the observed mean (or the price, if unknown).
    P(YES) = P(log A >= log strike) = Phi((mean - log strike) / sd).
"""

from __future__ import annotations

import math

SETTLEMENT_WINDOW_S = 60.0
_SQRT2 = math.sqrt(2.0)


def normal_cdf(z: float) -> float:
    """Standard normal CDF; erfc keeps precision in the lower tail where erf would round to -1."""
    return 0.5 * math.erfc(-z / _SQRT2)


def settlement_log_variance(sigma: float, seconds_left: float, window_s: float = SETTLEMENT_WINDOW_S) -> float:
    """Variance of log(settlement average) seen from now, T = seconds_left before close."""
    if sigma < 0 or window_s <= 0:
        raise ValueError(f"need sigma >= 0 and window_s > 0, got sigma={sigma} window_s={window_s}")
    t = seconds_left
    if t <= 0:
        return 0.0
    s2 = sigma * sigma
    if t >= window_s:
        return s2 * (t - window_s + window_s / 3.0)
    return s2 * t * t * t / (3.0 * window_s * window_s)


def settlement_log_mean(
    price: float,
    seconds_left: float,
    window_s: float = SETTLEMENT_WINDOW_S,
    observed_avg: float | None = None,
) -> float:
    """Expected log(settlement average): log(price), blended with the observed part inside the window."""
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    log_price = math.log(price)
    if seconds_left >= window_s or observed_avg is None:
        return log_price
    if observed_avg <= 0:
        raise ValueError(f"observed_avg must be positive, got {observed_avg}")
    remaining = max(seconds_left, 0.0)
    observed_share = (window_s - remaining) / window_s
    return observed_share * math.log(observed_avg) + (remaining / window_s) * log_price


def prob_settle_at_or_above(
    price: float,
    strike: float,
    sigma: float,
    seconds_left: float,
    window_s: float = SETTLEMENT_WINDOW_S,
    observed_avg: float | None = None,
) -> float:
    """P(settlement average >= strike): the fair probability of YES on a greater_or_equal market."""
    if strike <= 0:
        raise ValueError(f"strike must be positive, got {strike}")
    mean = settlement_log_mean(price, seconds_left, window_s, observed_avg)
    variance = settlement_log_variance(sigma, seconds_left, window_s)
    distance = mean - math.log(strike)
    if variance <= 0.0:
        return 1.0 if distance >= 0.0 else 0.0
    return normal_cdf(distance / math.sqrt(variance))
