"""The whole --record-only loop: the feed, the market and book poll, the result watcher and the websocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from src.model.interfaces import LiveBooks, MarketData, PriceFeed
from src.model.kxbtc15m import WINDOW_S, market_ticker
from src.model.models import Clock, Sleep
from src.recording.watch import ResultWatcher

log = logging.getLogger("polybot.recording")


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
