"""Kalshi's taker fee formula, kept in this one place."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from src.model.models import CENT

TAKER_FEE_MULTIPLIER = Decimal("0.07")


def taker_fee(count: Decimal, price: Decimal, multiplier: Decimal = TAKER_FEE_MULTIPLIER) -> Decimal:
    """Fee for one order of `count` contracts at `price`: ceil_to_cent(m * C * P * (1 - P))."""
    if count < 0 or price < 0 or price > 1:
        raise ValueError(f"fee needs count >= 0 and 0 <= price <= 1, got count={count} price={price}")
    raw = multiplier * count * price * (Decimal(1) - price)
    return raw.quantize(CENT, rounding=ROUND_CEILING)


def fee_per_contract(
    price: Decimal, count: Decimal = Decimal(1), multiplier: Decimal = TAKER_FEE_MULTIPLIER
) -> Decimal:
    """Average fee per contract of a `count`-contract order; count=1 is the worst case (rounding)."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    return taker_fee(count, price, multiplier) / count
