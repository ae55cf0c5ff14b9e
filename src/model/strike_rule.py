"""Which side a Kalshi market pays, from its settlement value and its strike (a pure rule)."""

from __future__ import annotations

from decimal import Decimal

from src.model.models import Side


def derive_result(
    strike_type: str,
    expiration_value: Decimal,
    floor_strike: Decimal | None,
    cap_strike: Decimal | None = None,
) -> Side:
    """Which side a market pays, from its settlement value and strike (pure; ties follow strike_type)."""
    if strike_type == "greater_or_equal":
        _need(floor_strike, "floor_strike", strike_type)
        return Side.YES if expiration_value >= floor_strike else Side.NO  # type: ignore[operator]
    if strike_type == "greater":
        _need(floor_strike, "floor_strike", strike_type)
        return Side.YES if expiration_value > floor_strike else Side.NO  # type: ignore[operator]
    if strike_type == "less_or_equal":
        _need(cap_strike, "cap_strike", strike_type)
        return Side.YES if expiration_value <= cap_strike else Side.NO  # type: ignore[operator]
    if strike_type == "less":
        _need(cap_strike, "cap_strike", strike_type)
        return Side.YES if expiration_value < cap_strike else Side.NO  # type: ignore[operator]
    if strike_type == "between":
        _need(floor_strike, "floor_strike", strike_type)
        _need(cap_strike, "cap_strike", strike_type)
        return Side.YES if floor_strike <= expiration_value <= cap_strike else Side.NO  # type: ignore[operator]
    raise ValueError(f"unknown strike_type {strike_type!r}")


def _need(value: Decimal | None, name: str, strike_type: str) -> None:
    if value is None:
        raise ValueError(f"strike_type {strike_type} needs {name}, which the market does not have")
