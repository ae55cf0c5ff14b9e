"""An in-memory MarketData for executor, engine and settlement tests: markets and books by ticker, calls recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from src.model.models import Market, OrderBook


class FakeMarketData:
    """Answers from `markets` and `books` (a ticker it does not hold raises KeyError).

    - `current`: the ticker get_current_market answers with (None: no market open);
    - `clock`: when given, every book is stamped as fetched now (a polled book is always fresh);
    - `fail`: raised by get_market and get_orderbook (the venue unreachable);
    - `calls`: the methods called, in order; `market_requests`: the tickers get_market was asked for.
    The order methods a real client has exist too and raise: a component that must never place an
    order (paper, settlement) is caught reaching for them.
    """

    def __init__(
        self,
        books: dict[str, OrderBook] | None = None,
        *,
        markets: dict[str, Market] | None = None,
        current: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.books: dict[str, OrderBook] = books if books is not None else {}
        self.markets: dict[str, Market] = markets if markets is not None else {}
        self.current = current
        self.clock = clock
        self.fail: Exception | None = None
        self.calls: list[str] = []
        self.market_requests: list[str] = []

    def settle(self, ticker: str, result: str) -> None:
        """The market's result is in (status settled)."""
        self.markets[ticker] = replace(self.markets[ticker], status="settled", result=result)

    async def get_market(self, ticker: str) -> Market:
        self.calls.append("get_market")
        self.market_requests.append(ticker)
        if self.fail is not None:
            raise self.fail
        return self.markets[ticker]

    async def get_current_market(self, now: float) -> Market | None:
        self.calls.append("get_current_market")
        return None if self.current is None else self.markets[self.current]

    async def get_orderbook(self, ticker: str) -> OrderBook:
        self.calls.append("get_orderbook")
        if self.fail is not None:
            raise self.fail
        book = self.books[ticker]
        return book if self.clock is None else replace(book, fetched_at=self.clock())

    async def place_order(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("place_order")
        raise AssertionError("an order endpoint was called")

    async def cancel_order(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("cancel_order")
        raise AssertionError("an order endpoint was called")

    async def cancel_all_orders(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("cancel_all_orders")
        raise AssertionError("an order endpoint was called")
