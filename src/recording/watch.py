"""The recording's result watcher: asks for every closed window until Kalshi publishes its result."""

from __future__ import annotations

import asyncio
import logging

from src.model.interfaces import MarketData
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
