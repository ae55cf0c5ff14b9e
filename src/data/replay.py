"""Replay price feed (interfaces.PriceFeed): recorded or generated ticks into the shared rolling window.

The strategy sees exactly what the live feeds give it: FeedSnapshots from src/data/window.py's
RollingWindow, keyed by trade time, with each tick's receive time set to its trade time (a
replay has no network delay). Every accepted tick is also handed to the listeners (the
simulated exchange's `on_price`), then `on_tick` is called (the engine's wake-up), the same
hook the websocket feeds have.

Two ways to consume the ticks:
- `push(ts, price, trade_id)`: deliver one tick now. The backtest drives the feed this way,
  synchronously, as fast as it can.
- `run()`: the PriceFeed loop. With a Pacer it follows simulated time: before each tick it
  sleeps (injected sleep) until the simulated clock, which it moves forward itself, reaches
  the tick's time, at `speed` simulated seconds per real second; ticks already in the past
  (a warm-up) are delivered at once. Without a Pacer it delivers as fast as possible,
  yielding to the event loop every few hundred ticks. `run()` returns when the ticks run out
  (`finished` is then True) or after `stop()`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

from src.data.price_files import Tick
from src.data.window import RollingWindow
from src.model.models import Clock, FeedSnapshot, Sleep
from src.sim.clock import SimClock

PriceListener = Callable[[float, float], None]

REPLAY_SOURCE = "replay"
GENERATOR_SOURCE = "generator"
# Longest real sleep in one step, so a paced clock moves smoothly even between sparse ticks
# (one-minute bars are 20 simulated seconds apart).
MAX_REAL_STEP_S = 0.05
_YIELD_EVERY = 500


class Pacer:
    """Moves a SimClock toward each tick's time at `speed` simulated seconds per real second."""

    def __init__(
        self, clock: SimClock, speed: float, sleep: Sleep = asyncio.sleep, max_real_step_s: float = MAX_REAL_STEP_S
    ) -> None:
        if not 0.0 < speed < math.inf:
            raise ValueError(f"speed must be a positive number of simulated seconds per second, got {speed}")
        if not max_real_step_s > 0:
            raise ValueError(f"max_real_step_s must be positive, got {max_real_step_s}")
        self.clock = clock
        self.speed = float(speed)
        self._sleep = sleep
        self._max_sim_step = max_real_step_s * self.speed

    async def wait_until(self, ts: float) -> None:
        """Sleep in small steps, advancing the clock by speed x each requested sleep, until it reaches ts."""
        clock = self.clock
        while clock.now < ts:
            step = min(ts - clock.now, self._max_sim_step)
            await self._sleep(step / self.speed)
            clock.advance_to(min(ts, clock.now + step))


class ReplayFeed:
    """interfaces.PriceFeed over a tick iterable (a price file or the generator)."""

    def __init__(
        self,
        ticks: Iterable[Tick],
        clock: Clock,
        *,
        source: str = REPLAY_SOURCE,
        window_s: float = 60.0,
        stale_after_s: float = 10.0,
        gap_after_s: float | None = None,
        listeners: Sequence[PriceListener] = (),
        pacer: Pacer | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        # As for the live feeds, a silence longer than the staleness limit is a gap, unless the
        # data's own spacing is coarser (bars): then only a missing bar is (see components).
        self.window = RollingWindow(
            source, window_s, stale_after_s, gap_after_s=stale_after_s if gap_after_s is None else gap_after_s
        )
        self._ticks: Iterator[Tick] = iter(ticks)
        self._clock = clock
        self._listeners = tuple(listeners)
        self._pacer = pacer
        self.on_tick = on_tick  # settable after construction: the engine is built after its feed
        # The recorder's channel, as on the live feeds (WsFeed.record_trades).
        self._record: Callable[[tuple[int, int, float, float, float]], None] | None = None
        self._record_seq: Iterator[int] = iter(())
        self._stopping = False
        self.finished = False
        self.ticks = 0  # ticks accepted into the window

    def push(self, ts: float, price: float, trade_id: int) -> bool:
        """Deliver one tick now: window, then listeners, then on_tick. False if the window refused it."""
        if not self.window.push(trade_id, ts, price, ts):
            return False
        self.ticks += 1
        if self._record is not None:
            self._record((next(self._record_seq), trade_id, ts, price, ts))
        for listener in self._listeners:
            listener(ts, price)
        if self.on_tick is not None:
            self.on_tick()
        return True

    async def run(self) -> None:
        pacer = self._pacer
        push = self.push
        n = 0
        for ts, price, trade_id in self._ticks:
            if self._stopping:
                return
            if pacer is not None:
                await pacer.wait_until(ts)
                if self._stopping:
                    return
            push(ts, price, trade_id)
            n += 1
            if pacer is None and n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        self.finished = True

    def record_trades(self, append: Callable[[tuple[int, int, float, float, float]], None],
                      seq: Iterator[int]) -> None:
        """Hand every accepted tick to a recorder's channel (Recorder.btc_channel)."""
        self._record, self._record_seq = append, seq

    def snapshot(self) -> FeedSnapshot:
        return self.window.snapshot(self._clock())

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        """(stale, price, gap_in_window, move_pct, volatility) of snapshot(), without building it."""
        return self.window.screen_values(self._clock())

    def stop(self) -> None:
        self._stopping = True
