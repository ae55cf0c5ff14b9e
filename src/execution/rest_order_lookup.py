"""The REST order look-up: the venue's order listing, asked only for the order's market and recent orders.

It asks only for the order's market and for orders created since shortly before it was written, so
the listing stays a handful of rows however old the account is. It may answer None: the listing is
the venue's word that no such order exists (yet).
"""

from __future__ import annotations

from src.model.interfaces import OrderVenue
from src.model.models import Order

# Our clock and the venue's created_time may disagree by a few seconds: look a minute further back.
LOOKBACK_SLACK_S = 60


class RestOrderLookup:
    """The venue's order listing, bounded by ticker and min_ts."""

    def __init__(self, venue: OrderVenue) -> None:
        self._venue = venue

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Order | None:
        since = int(written_ts) - LOOKBACK_SLACK_S
        return await self._venue.get_order_by_client_id(client_order_id, ticker, min_ts=since)
