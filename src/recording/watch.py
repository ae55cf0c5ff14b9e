"""Market polling for the recording: every window's result, and the whole --record-only loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from src.model.interfaces import LiveBooks, MarketData, PriceFeed
from src.model.kxbtc15m import WINDOW_S, market_ticker
from src.model.models import Clock, Sleep

log = logging.getLogger("polybot.recording")

GIVE_UP_S = 6 * 3600.0  # a market still without a result this long after its close is dropped


class ResultWatcher:
    """Learns each current market and, once it has closed, asks for it until its `result` is known.

    Its market data is a RecordingMarketData, so each answer is recorded: every recorded window then
    carries its strike, its close and its settlement, whether or not the bot traded it.
    """

    def __init__(self, market_data: MarketData, clock: Clock, sleep: Sleep = asyncio.sleep,
                 interval_s: float = 30.0) -> None:
        self._md = market_data
        self._clock = clock
        self._sleep = sleep
        self.interval_s = float(interval_s)
        self.pending: dict[str, float] = {}  # ticker -> close time, until its result is seen
        self.settled: set[str] = set()

    async def step(self) -> None:
        """One pass: note the current market, then ask once for each closed one still unsettled."""
        now = self._clock()
        current = await self._md.get_current_market(now)
        if current is not None and current.ticker not in self.settled:
            self.pending.setdefault(current.ticker, current.close_time.timestamp())
        for ticker, close_ts in list(self.pending.items()):
            if now < close_ts:
                continue
            if now - close_ts > GIVE_UP_S:
                log.warning("recording: no result for %s %.0f s after its close; not asking again", ticker,
                            now - close_ts)
                del self.pending[ticker]
                continue
            market = await self._md.get_market(ticker)
            if market.result:
                del self.pending[ticker]
                self.settled.add(ticker)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed pass is retried; recording goes on
                log.warning("recording: result poll failed: %s: %s", type(exc).__name__, exc)
            await self._sleep(self.interval_s)


async def _poll_books(md: MarketData, clock: Clock, sleep: Sleep, interval_s: float, stop: asyncio.Event,
                      books: LiveBooks | None = None) -> None:
    """What the engine's market loop does, without the engine: current market, then its book; with the
    websocket, it watches this window's book and the next one's (so the next is whole when it opens)."""
    market = None
    while not stop.is_set():
        try:
            now = clock()
            if market is None or market.close_time.timestamp() <= now or market.floor_strike is None:
                market = await md.get_current_market(now)
            if market is not None:
                if books is not None:
                    series = market.ticker.split("-", 1)[0]
                    books.watch([market.ticker, market_ticker(market.close_time.timestamp() + WINDOW_S, series)])
                await md.get_orderbook(market.ticker)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad poll must not stop the recording
            log.warning("recording: market poll failed: %s: %s", type(exc).__name__, exc)
        await sleep(interval_s)


async def run_record_only(
    feed: PriceFeed,
    poll_md: MarketData,
    watcher: ResultWatcher,
    clock: Clock,
    *,
    poll_interval_s: float,
    stop: asyncio.Event,
    sleep: Sleep = asyncio.sleep,
    status: Callable[[], Awaitable[Any]] | None = None,
    books: LiveBooks | None = None,
) -> None:
    """Run the feed, the market/book poll, the result watcher and the Kalshi websocket (when given, with
    its recorder channel already tapped) until `stop` (or the feed ends)."""
    tasks = [
        asyncio.create_task(feed.run(), name="feed"),
        asyncio.create_task(_poll_books(poll_md, clock, sleep, poll_interval_s, stop, books), name="poll"),
        asyncio.create_task(watcher.run(stop), name="results"),
    ]
    if books is not None:
        tasks.append(asyncio.create_task(books.run(), name="books"))
    if status is not None:
        tasks.append(asyncio.create_task(status(), name="status"))
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        feed.stop()
        if books is not None:
            books.stop()
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
