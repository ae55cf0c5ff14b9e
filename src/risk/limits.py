"""The code's hard limits: configuration may tighten them, never loosen them (DECISIONS.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from src.model.rate_ceilings import HARD_READS_PER_S, HARD_WRITES_PER_S

# Raising any of these is a code change, reviewed like one; config.yaml cannot do it.
HARD_MAX_TRADE_USD = Decimal("5.00")
HARD_MAX_TRADE_PCT = Decimal("0.05")
HARD_DAILY_LOSS_PCT = Decimal("0.15")
HARD_MAX_CONSECUTIVE_LOSSES = 5
HARD_COOLING_HOURS = Decimal("2")
HARD_MAX_TRADES_PER_HOUR = 15
HARD_MAX_AUTH_FAILURES = 3
HARD_TOTAL_LOSS_PCT = Decimal("0.30")
HARD_MIN_BANKROLL_USD = Decimal("20.00")
HARD_KELLY_FRACTION = Decimal("0.25")
HARD_STALE_AFTER_S = Decimal("10")


@dataclass(frozen=True, slots=True)
class Limit:
    """One code-enforced limit: the config key it guards and which direction is 'tighter'."""

    key: str
    hard: Decimal | int
    lower_is_tighter: bool

    def allows(self, value: Decimal | int) -> bool:
        return value <= self.hard if self.lower_is_tighter else value >= self.hard


LIMITS: tuple[Limit, ...] = (
    Limit("risk.max_single_trade_usd", HARD_MAX_TRADE_USD, True),
    Limit("risk.max_trade_pct_bankroll", HARD_MAX_TRADE_PCT, True),
    Limit("risk.daily_loss_pct", HARD_DAILY_LOSS_PCT, True),
    Limit("risk.max_consecutive_losses", HARD_MAX_CONSECUTIVE_LOSSES, True),
    Limit("risk.cooling_hours", HARD_COOLING_HOURS, False),
    Limit("risk.max_trades_per_hour", HARD_MAX_TRADES_PER_HOUR, True),
    Limit("risk.max_auth_failures", HARD_MAX_AUTH_FAILURES, True),
    Limit("risk.total_loss_pct", HARD_TOTAL_LOSS_PCT, True),
    Limit("risk.min_bankroll_usd", HARD_MIN_BANKROLL_USD, False),
    Limit("sizing.kelly_fraction", HARD_KELLY_FRACTION, True),
    Limit("kalshi.reads_per_s", HARD_READS_PER_S, True),
    Limit("kalshi.writes_per_s", HARD_WRITES_PER_S, True),
    Limit("feed.stale_after_s", HARD_STALE_AFTER_S, True),
)
