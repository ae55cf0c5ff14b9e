"""The exchange-side order group's contracts limit: the largest burst the kill switch allows, plus one."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

CHEAPEST_CONTRACT = Decimal("0.01")  # the lowest price a Kalshi contract can trade at


def order_group_contracts_limit(max_trade_usd: Decimal) -> int:
    """Contracts per rolling 15 s for the live order group.

    The engine enters a market once per 15-minute window, so within 15 s it can match at most one
    maximum-size order; a maximum-size order at the cheapest price is max_trade_usd / $0.01
    contracts. One more, so a legitimate order never meets the limit whether Kalshi triggers at
    the limit or above it. `max_trade_usd` is the configured cap (config can only lower the code's).
    """
    if not max_trade_usd > 0:
        raise ValueError(f"max_trade_usd must be positive, got {max_trade_usd}")
    return int((max_trade_usd / CHEAPEST_CONTRACT).to_integral_value(rounding=ROUND_DOWN)) + 1
