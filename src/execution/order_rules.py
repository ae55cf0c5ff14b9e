"""What makes an order intent sendable: the one check both executors run before any order action."""

from __future__ import annotations

from decimal import Decimal

from src.model.models import ZERO, OrderIntent

FILL_OR_KILL = "fill_or_kill"
IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
TIME_IN_FORCE = (FILL_OR_KILL, IMMEDIATE_OR_CANCEL)


class InvalidOrderError(ValueError):
    """An order intent no venue would accept (count, price or time in force out of range)."""


def check_time_in_force(time_in_force: str) -> None:
    if time_in_force not in TIME_IN_FORCE:
        raise InvalidOrderError(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {time_in_force!r}")


def validate_intent(intent: OrderIntent, time_in_force: str) -> None:
    """Refuse an intent that cannot be a real Kalshi buy, with a one-line reason."""
    check_time_in_force(time_in_force)
    if intent.count <= 0 or intent.count != intent.count.to_integral_value():
        raise InvalidOrderError(f"order count must be a positive whole number of contracts, got {intent.count}")
    if not ZERO < intent.limit_price < Decimal(1):
        raise InvalidOrderError(f"limit price must be between 0 and 1 dollar exclusive, got {intent.limit_price}")
    if not intent.client_order_id:
        raise InvalidOrderError("order has no client_order_id")
