"""The websocket order look-up: what the private channels said about one of our client_order_ids.

It reads the latest `user_orders` state and the `fill` messages of the order. They arrive as the
venue acts, before its REST listing shows the order (that lags a write by about a second). Silence
proves nothing (the connection may have been down), so it never answers None: it raises NotHeardYet.
When the websocket's fill messages of the order add up to its filled count they travel with the
order (Order.fills), so the order is recorded without waiting for the REST fill list.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from src.model.models import ONE, ZERO, Fill, Order, Side

# user_orders states that are the venue's word on an order's outcome; anything else waits for REST.
STREAM_STATUSES = ("executed", "canceled", "resting")


class NotHeardYet(Exception):
    """The websocket has said nothing about this order (yet): not a sign that it does not exist."""


class StreamOrderState(Protocol):
    """The latest `user_orders` message of one order (kalshi_ws_messages.UserOrderUpdate)."""

    @property
    def order_id(self) -> str: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def ticker(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def yes_price(self) -> Decimal: ...
    @property
    def filled(self) -> Decimal: ...
    @property
    def remaining(self) -> Decimal: ...
    @property
    def initial(self) -> Decimal: ...
    @property
    def taker_fees(self) -> Decimal: ...
    @property
    def maker_fees(self) -> Decimal: ...


class StreamFill(Protocol):
    """One `fill` message of ours (kalshi_ws_messages.UserFill)."""

    @property
    def order_id(self) -> str: ...

    def to_fill(self) -> Fill: ...


class UserStream(Protocol):
    """What the websocket keeps of our orders, by client_order_id (src/data/kalshi_ws.KalshiWs)."""

    def order_update(self, client_order_id: str) -> StreamOrderState | None: ...

    def fills_for(self, client_order_id: str) -> Sequence[StreamFill]: ...


def order_from_stream(state: StreamOrderState, fills: Sequence[StreamFill]) -> Order:
    """The order as the websocket described it; its fills attached only when they add up to the filled count."""
    own = [f.to_fill() for f in fills if f.order_id == state.order_id]
    complete = sum((f.count for f in own), ZERO) == state.filled
    price = state.yes_price if state.side is Side.YES else ONE - state.yes_price
    return Order(
        order_id=state.order_id, client_order_id=state.client_order_id, ticker=state.ticker, side=state.side,
        count=state.initial, limit_price=price, status=state.status, filled_count=state.filled,
        remaining_count=state.remaining, fees=state.taker_fees + state.maker_fees,
        fills=tuple(own) if complete and state.filled > 0 else (),
    )


class StreamOrderLookup:
    """The websocket's word on our order; raises NotHeardYet rather than ever answering None."""

    def __init__(self, stream: UserStream) -> None:
        self._stream = stream

    def heard(self, client_order_id: str, ticker: str) -> Order | None:
        """The order if the websocket has told its outcome, else None (nothing heard: ask elsewhere)."""
        state = self._stream.order_update(client_order_id)
        if state is None or state.ticker != ticker or state.status not in STREAM_STATUSES:
            return None
        return order_from_stream(state, self._stream.fills_for(client_order_id))

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Order | None:
        order = self.heard(client_order_id, ticker)
        if order is None:
            raise NotHeardYet(f"no user_orders message for {client_order_id} yet")
        return order
