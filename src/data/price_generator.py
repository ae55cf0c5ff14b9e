"""Seeded synthetic BTC trades for the offline simulator: geometric Brownian motion with rare jumps.

Model, per tick of `tick_interval_s` seconds (dt):
    log P(t + dt) = log P(t) + sigma * sqrt(dt) * Z + J
    sigma = annual_volatility / sqrt(seconds per year)   (BTC trades 24/7: 365.25 days)
    Z ~ Normal(0, 1)
    J = 0, except with probability `jump_probability` per tick, when
        J = log(1 +/- jump_size_pct / 100) with a fair coin for the sign.
No drift: over minutes it is negligible next to the noise, and the strategy does not forecast it.
Prices are rounded to the cent (BTC's tick size) when emitted; the path itself is not rounded,
so rounding never accumulates. The jumps are what makes the simulated BTC move more than
`strategy.btc_lag.min_move_pct` within a minute now and then, which is the situation the lag
strategy waits for; pure diffusion at 55 % a year almost never does.

Everything comes from one random.Random(seed): the same seed and start give the same ticks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from src.config import SimConfig
from src.data.price_files import Tick

SECONDS_PER_YEAR = 365.25 * 24 * 3600
DEFAULT_START_PRICE = 95_000.0


def sigma_per_sqrt_second(annual_volatility: float) -> float:
    """Volatility of log price per sqrt(second) from an annualised figure (24/7 trading)."""
    if not annual_volatility >= 0:
        raise ValueError(f"annual_volatility must be >= 0, got {annual_volatility}")
    return annual_volatility / math.sqrt(SECONDS_PER_YEAR)


class PriceGenerator:
    """A reproducible BTC-like tick stream; see the module docstring for the model."""

    def __init__(self, config: SimConfig, *, seed: int | None = None, start_price: float = DEFAULT_START_PRICE) -> None:
        if not 0.0 < start_price < math.inf:
            raise ValueError(f"start_price must be a positive number, got {start_price}")
        self.config = config
        self.seed = config.seed if seed is None else seed
        self.start_price = float(start_price)
        self.dt = float(config.tick_interval_s)
        self.step_sigma = sigma_per_sqrt_second(config.annual_volatility) * math.sqrt(self.dt)
        self.jump_probability = float(config.jump_probability)
        jump = config.jump_size_pct / 100.0
        if jump >= 1.0:
            raise ValueError(f"jump_size_pct must be below 100, got {config.jump_size_pct}")
        self.jump_up = math.log1p(jump)
        self.jump_down = math.log1p(-jump)

    def ticks(self, start_ts: float, count: int | None = None, end_ts: float | None = None) -> Iterator[Tick]:
        """Ticks from `start_ts` every dt seconds: `count` of them, or while ts < end_ts, or forever.

        Trade ids run 1, 2, 3, ...; the first tick is at start_ts at the start price.
        """
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        rng = random.Random(self.seed)
        gauss = rng.gauss
        uniform = rng.random
        step_sigma = self.step_sigma
        jump_p = self.jump_probability
        up, down = self.jump_up, self.jump_down
        dt = self.dt
        limit = math.inf if end_ts is None else float(end_ts)
        log_price = math.log(self.start_price)
        exp = math.exp
        n = 0
        while count is None or n < count:
            ts = start_ts + n * dt  # multiply, not accumulate: no float drift over millions of ticks
            if ts >= limit:
                return
            n += 1
            yield (ts, round(exp(log_price), 2), n)
            log_price += step_sigma * gauss(0.0, 1.0)
            if jump_p > 0.0 and uniform() < jump_p:
                log_price += up if uniform() < 0.5 else down
