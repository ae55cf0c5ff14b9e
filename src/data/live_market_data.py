"""MarketData that serves the websocket's book when it is whole and current, and the REST book otherwise."""

from __future__ import annotations

from src.model.interfaces import LiveBooks, MarketData
from src.model.models import Clock, Market, OrderBook


class LiveMarketData:
    """Markets from REST; books from the live stream while whole and no older than `max_book_age_s`.

    The paper executor reads its book here right at the decision, so a paper fill walks the book the
    decision saw (the websocket's), not a poll from up to a second before. When the stream cannot vouch
    for a book (a seq gap, a reconnect, silence), REST answers instead and `rest_fallbacks` counts it.
    """

    def __init__(self, rest: MarketData, books: LiveBooks, clock: Clock, max_book_age_s: float) -> None:
        if not max_book_age_s > 0:
            raise ValueError(f"max_book_age_s must be positive, got {max_book_age_s}")
        self.rest = rest
        self.books = books
        self._clock = clock
        self.max_book_age_s = max_book_age_s
        self.live_reads = 0
        self.rest_fallbacks = 0

    async def get_market(self, ticker: str) -> Market:
        return await self.rest.get_market(ticker)

    async def get_current_market(self, now: float) -> Market | None:
        return await self.rest.get_current_market(now)

    def live_book(self, ticker: str) -> OrderBook | None:
        """The stream's book if whole and current enough to trade on, else None."""
        book = self.books.book(ticker)
        age = self.books.book_age(ticker, self._clock())
        if book is None or age is None or age > self.max_book_age_s:
            return None
        return book

    async def get_orderbook(self, ticker: str) -> OrderBook:
        book = self.live_book(ticker)
        if book is not None:
            self.live_reads += 1
            return book
        self.rest_fallbacks += 1
        return await self.rest.get_orderbook(ticker)
