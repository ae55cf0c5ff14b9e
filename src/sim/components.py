"""Build the offline simulator's parts for main.py and the backtest: price source, feed, exchange, clock.

`--sim` (build_sim_components): the feed is paced, so simulated time runs at `speed` simulated
seconds per real second. The SimClock it returns is THE clock of the daemon in --sim (kill
switch, executor, settlement, engine), and `sleep` turns the engine's waits (poll, settle,
status intervals, given in simulated seconds) into real sleeps of seconds / speed, so its
timers keep the same simulated cadence at any speed.

Price sources: a price file (price_files.py layouts) or, without one, the seeded generator.
The generator starts two minutes before the open of the current window, and those warm-up
ticks are delivered at once, so the very first market already has its strike (the 60-second
average before its open) and the rolling window is full: a newcomer sees the bot trade in the
first simulated minutes instead of waiting for the next window.

A restarted --sim continues where the last run stopped: its simulated clock ran ahead of the wall
clock, so starting again at "now" would replay simulated hours already in data/sim.db, re-enter
markets it settled and show them open again. The clock starts at the later of now and the last
simulated time in data/sim.db (`resume_after`); with --replay, the file's prices up to that time
are skipped, and a file with nothing after it is refused.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from src.config import Settings
from src.data.price_files import PriceFileError, Tick, open_ticks
from src.data.price_generator import PriceGenerator
from src.data.replay import GENERATOR_SOURCE, REPLAY_SOURCE, Pacer, ReplayFeed
from src.model.kxbtc15m import window_open
from src.model.models import Sleep, utc_from_ts
from src.sim.clock import SimClock
from src.sim.exchange import SimExchange

WARMUP_S = 120.0


@dataclass(frozen=True, slots=True)
class PriceSource:
    """Where simulated prices come from, and how the rolling window should treat their spacing."""

    ticks: Iterator[Tick]
    source: str  # the FeedSnapshot source name: "replay" or "generator"
    description: str  # for people: the file name, or the generator and its seed
    gap_after_s: float  # a silence longer than this inside the window is a gap
    fraction_read: Callable[[], float | None] | None = None  # files: share read so far (progress)


def replay_source(
    path: Path, stale_after_s: float, start: float | None = None, end: float | None = None
) -> PriceSource:
    """Ticks of a price file. Every layout keeps the live rule (a silence longer than the staleness
    limit is a gap): bars become one tick a second (src/data/bar_path.py), so only a missing bar
    leaves a silence."""
    stream = open_ticks(path, start, end)
    return PriceSource(stream.ticks, REPLAY_SOURCE, path.name, stale_after_s, stream.fraction_read)


def generator_source(
    settings: Settings, start: float, end: float | None = None, *, seed: int | None = None
) -> PriceSource:
    """Generated ticks from `start` (until `end`, or forever)."""
    generator = PriceGenerator(settings.app.sim, seed=seed)
    return PriceSource(
        generator.ticks(start, end_ts=end),
        GENERATOR_SOURCE,
        f"generator(seed={generator.seed}, annual_volatility={settings.app.sim.annual_volatility}, "
        f"tick_interval_s={settings.app.sim.tick_interval_s})",
        float(settings.app.feed.stale_after_s),
    )


def scaled_sleep(speed: float, sleep: Sleep = asyncio.sleep) -> Callable[[float], Awaitable[None]]:
    """A sleep taking SIMULATED seconds: it waits seconds / speed for real."""
    if not 0.0 < speed < math.inf:
        raise ValueError(f"speed must be a positive number, got {speed}")

    async def sim_sleep(seconds: float) -> None:
        await sleep(max(0.0, seconds) / speed)

    return sim_sleep


@dataclass(frozen=True, slots=True)
class SimComponents:
    """Everything --sim needs besides the shared strategy, sizing, kill switch and executors."""

    clock: SimClock
    feed: ReplayFeed
    exchange: SimExchange
    sleep: Callable[[float], Awaitable[None]]  # give to Engine(sleep=...): waits in simulated seconds
    speed: float
    description: str


def build_sim_components(
    settings: Settings,
    replay: Path | None = None,
    *,
    speed: float | None = None,
    on_tick: Callable[[], None] | None = None,
    start_ts: float | None = None,
    resume_after: float | None = None,
    sleep: Sleep = asyncio.sleep,
) -> SimComponents:
    """The paced feed, simulated exchange and simulated clock for `python main.py --sim`.

    With `replay` the clock starts at the file's first tick after `resume_after`; otherwise at
    `start_ts` (default: now, so tickers and the dashboard show today's times), or at
    `resume_after` when that is later, after a two-minute warm-up. `resume_after` is the last
    simulated time the sim database holds (Database.latest_record_ts), None for a new one.
    """
    app = settings.app
    speed = app.sim.speed if speed is None else float(speed)
    stale = float(app.feed.stale_after_s)
    if replay is not None:
        # Strictly after: a tick at exactly the last simulated time was already seen.
        skip_to = None if resume_after is None else math.nextafter(resume_after, math.inf)
        source = replay_source(Path(replay), stale, start=skip_to)
        first = next(source.ticks, None)
        if first is None and resume_after is not None:
            raise PriceFileError(
                Path(replay),
                f"no prices after {utc_from_ts(resume_after).isoformat()}, the last simulated time in the sim "
                "database: this file was already replayed into it (move data/sim.db away to replay it again)",
            )
        if first is None:
            raise PriceFileError(Path(replay), "no price rows")
        ticks: Iterator[Tick] = itertools.chain([first], source.ticks)
        clock = SimClock(first[0])
    else:
        now = time.time() if start_ts is None else float(start_ts)
        if resume_after is not None:
            now = max(now, resume_after)
        source = generator_source(settings, window_open(now) - WARMUP_S)
        ticks = source.ticks
        clock = SimClock(now)
    exchange = SimExchange(
        app.sim, clock, series=app.kalshi.series_ticker,
        volatility_window_s=app.feed.window_s, min_volatility_per_s=app.strategy.btc_lag.min_volatility_per_s,
    )
    feed = ReplayFeed(
        ticks,
        clock,
        source=source.source,
        window_s=app.feed.window_s,
        stale_after_s=stale,
        gap_after_s=source.gap_after_s,
        listeners=(exchange.on_price,),
        pacer=Pacer(clock, speed, sleep),
        on_tick=on_tick,
    )
    return SimComponents(
        clock=clock, feed=feed, exchange=exchange, sleep=scaled_sleep(speed, sleep), speed=speed,
        description=source.description,
    )
