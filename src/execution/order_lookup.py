"""Where the venue's word on one of our orders comes from: the interface every source answers through.

A source answers "which order did the venue create for this client_order_id?" with the order, or
None when the venue does not list it (yet). Only a source that can say "definitely not there" may
answer None; one that merely has not heard raises. The sources, one file each:
- src/execution/rest_order_lookup.py: the venue's REST order listing, bounded by market and time.
- src/execution/stream_order_lookup.py: what the private websocket channels said about the order.
- src/execution/first_word_lookup.py: the websocket first, REST when the websocket has not heard.
"""

from __future__ import annotations

from typing import Protocol

from src.model.models import Order


class OrderLookup(Protocol):
    """Finds the venue's order for one of our client_order_ids; raises when the source cannot answer."""

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Order | None: ...
