"""Small explicit hooks that copy what reaches the bot (markets, books, decisions) into a Recorder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from src.model.models import Clock, Market, OrderBook, OrderIntent
from src.recording.writer import Recorder


def decision_tap(recorder: Recorder, clock: Clock) -> Callable[[str | None, str, OrderIntent | None], None]:
    """An Engine on_decision hook: each decision's time, market, reason code and approved order."""
    record = recorder.decision

    def tap(ticker: str | None, code: str, intent: OrderIntent | None) -> None:
        record(clock(), ticker, code, intent)

    return tap


class RecordingMarketData:
    """interfaces.MarketData that records every market and book it returns, tagged with who asked.

    One wrapper per consumer (the engine's poll, the paper executor, the settler), so a replay knows
    which books the engine decided on and which the executor filled against.
    """

    def __init__(self, inner: Any, recorder: Recorder, clock: Clock, origin: str) -> None:
        self._inner = inner
        self._recorder = recorder
        self._clock = clock
        self.origin = origin

    async def get_market(self, ticker: str) -> Market:
        market: Market = await self._inner.get_market(ticker)
        self._recorder.market(self._clock(), market, self.origin)
        return market

    async def get_current_market(self, now: float) -> Market | None:
        market: Market | None = await self._inner.get_current_market(now)
        if market is not None:
            self._recorder.market(self._clock(), market, self.origin)
        return market

    async def get_orderbook(self, ticker: str) -> OrderBook:
        book: OrderBook = await self._inner.get_orderbook(ticker)
        self._recorder.book_snapshot(self._clock(), book, self.origin)
        return book

    def __getattr__(self, name: str) -> Any:
        # Anything else (e.g. the simulated exchange's helpers) is the wrapped object's own.
        return getattr(self._inner, name)
