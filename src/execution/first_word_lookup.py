"""The first-word order look-up: the venue's own push (the websocket) first, the REST listing as fallback."""

from __future__ import annotations

from src.execution.order_lookup import OrderLookup
from src.execution.stream_order_lookup import StreamOrderLookup
from src.model.models import Order


class FirstWordLookup:
    """The websocket first; the bounded REST listing when the websocket has not heard of the order."""

    def __init__(self, stream: StreamOrderLookup, rest: OrderLookup) -> None:
        self._stream = stream
        self._rest = rest
        self.answered_by_stream = 0  # how many look-ups the websocket answered (tests, --verify)

    async def find(self, client_order_id: str, ticker: str, written_ts: float) -> Order | None:
        order = self._stream.heard(client_order_id, ticker)
        if order is not None:
            self.answered_by_stream += 1
            return order
        return await self._rest.find(client_order_id, ticker, written_ts)
