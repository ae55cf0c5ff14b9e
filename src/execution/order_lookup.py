"""Where the venue's word on one of our orders comes from: a small interface, and its bounded REST source.

A source answers "which order did the venue create for this client_order_id?" with the order, or
None when the venue does not list it (yet). The REST source asks only for the order's market and
for orders created since shortly before it was written, so the listing stays a handful of rows
however old the account is. A websocket source (user_orders / fill messages) can implement the
same interface; only a source that can say "definitely not there" may answer None.
"""

from __future__ import annotations

from typing import Protocol

from src.model.interfaces import OrderVenue
from src.model.models import Order

# Our clock and the venue's created_time may disagree by a few seconds: look a minute further back.
LOOKBACK_SLACK_S = 60


class OrderLookup(Protocol):
    """Finds the venue's order for one of our client_order_ids; raises when the source cannot answer."""

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Order | None: ...


class RestOrderLookup:
    """The venue's order listing, bounded by ticker and min_ts."""

    def __init__(self, venue: OrderVenue) -> None:
        self._venue = venue

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Order | None:
        since = int(written_ts) - LOOKBACK_SLACK_S
        return await self._venue.get_order_by_client_id(client_order_id, ticker, min_ts=since)

