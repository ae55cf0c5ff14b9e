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


# Kalshi states a series' fee terms as fee_type and fee_multiplier. The quadratic taker rate is
# 0.07 x fee_multiplier; "quadratic_with_maker_fees" adds a fee for makers only (this bot only
# takes). The formula above holds exactly when these terms give TAKER_FEE_MULTIPLIER.
QUADRATIC_TAKER_RATE = Decimal("0.07")
MODELLED_FEE_TYPES = frozenset({"quadratic", "quadratic_with_maker_fees"})


def fee_terms_mismatch(fee_type: str, fee_multiplier: Decimal) -> str | None:
    """Why a series' fee terms are not what taker_fee() computes, or None when they are."""
    if fee_type not in MODELLED_FEE_TYPES:
        return f"fee_type {fee_type!r} is not modelled (fees.py knows {', '.join(sorted(MODELLED_FEE_TYPES))})"
    rate = QUADRATIC_TAKER_RATE * fee_multiplier
    if rate != TAKER_FEE_MULTIPLIER:
        return f"fee_multiplier {fee_multiplier} means a taker rate of {rate}, fees.py assumes {TAKER_FEE_MULTIPLIER}"
    return None
