"""Each venue's batch cancel and resting-order read, in the shape CancelAllRunner needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from src.execution.cancel_all import VenueLabel
from src.model.interfaces import OrderVenue

POLYMARKET_US = VenueLabel("Polymarket US", "the Polymarket US app (Portfolio -> Open orders)")


class KalshiCancelAll:
    """Kalshi: `DELETE /portfolio/events/orders`, then `GET /portfolio/orders?status=resting`."""

    def __init__(self, client: OrderVenue) -> None:
        self._client = client

    async def cancel_all_orders(self) -> object:
        await self._client.cancel_all_orders()
        return None

    async def resting_order_ids(self) -> Sequence[str]:
        return [o.order_id for o in await self._client.get_orders(status="resting")]


class _UsOpenOrder(Protocol):
    @property
    def order_id(self) -> str: ...

    @property
    def terminal(self) -> bool: ...


class UsOrderVenue(Protocol):
    """What Polymarket US's client offers for this (src/platforms/polymarket_us.py)."""

    async def cancel_all_orders(self) -> int: ...

    async def get_open_orders(self, slug: str | None = None) -> Sequence[_UsOpenOrder]: ...


class PolymarketUsCancelAll:
    """Polymarket US: `POST /v1/orders/open/cancel`, then `GET /v1/orders/open` (a terminal one no longer rests)."""

    def __init__(self, client: UsOrderVenue) -> None:
        self._client = client

    async def cancel_all_orders(self) -> object:
        return await self._client.cancel_all_orders()

    async def resting_order_ids(self) -> Sequence[str]:
        return [o.order_id for o in await self._client.get_open_orders() if not o.terminal]
