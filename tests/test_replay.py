"""The replay feed (PriceFeed over ticks), its pacer, the simulated clock and the --sim components."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import Settings, load_settings
from src.data.replay import Pacer, ReplayFeed
from src.model.interfaces import PriceFeed
from src.model.kxbtc15m import window_open
from src.sim.clock import SimClock
from src.sim.components import WARMUP_S, build_sim_components, replay_source, scaled_sleep

START = 1_767_225_600.0


class FakeSleep:
    """Records requested sleeps without waiting (tests never sleep for real)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def test_sim_clock_only_moves_forward() -> None:
    clock = SimClock(100.0)
    clock.advance_to(150.0)
    clock.advance_to(120.0)
    assert clock() == 150.0
    clock.advance(5)
    assert clock() == 155.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_push_feeds_window_listeners_and_on_tick() -> None:
    clock = SimClock(START)
    seen: list[tuple[float, float]] = []
    woken: list[int] = []
    feed = ReplayFeed([], clock, listeners=(lambda ts, p: seen.append((ts, p)),), on_tick=lambda: woken.append(1))
    as_feed: PriceFeed = feed  # the protocol, checked by type checkers
    assert all(callable(getattr(as_feed, name)) for name in ("run", "snapshot", "stop"))
    assert feed.snapshot().stale
    for i in range(61):
        clock.advance_to(START + i)
        assert feed.push(START + i, 100.0 + i * 0.01, i + 1)
    assert not feed.push(START + 60, 1.0, 61)  # a repeated trade id is refused, listeners not told
    snap = feed.snapshot()
    assert snap.price == pytest.approx(100.6) and snap.source == "replay"
    assert snap.move_pct == pytest.approx((100.6 / 100.0 - 1) * 100)
    assert snap.age_s == 0.0 and not snap.stale
    assert len(seen) == 61 and len(woken) == 61 and feed.ticks == 61
    clock.advance_to(START + 75)
    assert feed.snapshot().stale  # staleness by the injected clock


def test_screen_values_are_the_snapshot_values_by_the_feed_clock() -> None:
    clock = SimClock(START)
    feed = ReplayFeed([], clock, stale_after_s=10.0)

    def screen_of_snapshot() -> tuple[bool, float, bool, float, float]:
        snap = feed.snapshot()
        return (snap.stale, snap.price, snap.gap_in_window, snap.move_pct, snap.volatility)

    assert feed.screen_values() == screen_of_snapshot() == (True, 0.0, False, 0.0, 0.0)
    for i in range(90):
        clock.advance_to(START + i)
        feed.push(START + i, 100.0 * (1.0 + 0.001 * (i % 5)), i + 1)
        assert feed.screen_values() == screen_of_snapshot()
    clock.advance_to(START + 200)  # no tick for a while: stale by the injected clock, in both
    assert feed.screen_values() == screen_of_snapshot() and feed.screen_values()[0]


async def test_run_fast_delivers_everything_and_finishes() -> None:
    clock = SimClock(START)
    got: list[float] = []
    ticks = [(START + i * 0.5, 100.0, i + 1) for i in range(2000)]
    feed = ReplayFeed(ticks, clock, listeners=(lambda ts, p: got.append(ts),))
    await feed.run()
    assert feed.finished and len(got) == 2000


async def test_paced_run_follows_simulated_time() -> None:
    clock = SimClock(START)
    sleep = FakeSleep()
    ticks = [(START - 5, 99.0, 1), (START, 100.0, 2), (START + 30, 101.0, 3), (START + 31, 102.0, 4)]
    clock_at_tick: list[float] = []
    feed = ReplayFeed(ticks, clock, pacer=Pacer(clock, speed=10.0, sleep=sleep, max_real_step_s=0.5),
                      listeners=(lambda ts, p: clock_at_tick.append(clock()),))
    await feed.run()
    # Past ticks arrive at once; each later one when the clock reaches its time, never before.
    assert clock_at_tick == [START, START, START + 30, START + 31]
    assert sum(sleep.calls) == pytest.approx(31 / 10.0)
    assert max(sleep.calls) <= 0.5  # small steps: the clock moves smoothly through sparse data
    assert feed.finished


async def test_stop_ends_a_paced_run() -> None:
    clock = SimClock(START)

    def ticks():  # endless
        i = 0
        while True:
            i += 1
            yield (START + i, 100.0, i)

    feed = ReplayFeed(ticks(), clock, pacer=Pacer(clock, speed=1000.0, sleep=FakeSleep()))
    feed.on_tick = lambda: feed.stop() if feed.ticks >= 5 else None
    await asyncio.wait_for(feed.run(), timeout=5)
    assert feed.ticks == 5 and not feed.finished


def test_pacer_refuses_a_bad_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(SimClock(0), speed=0)


async def test_scaled_sleep_waits_simulated_seconds() -> None:
    sleep = FakeSleep()
    sim_sleep = scaled_sleep(60.0, sleep)
    await sim_sleep(30.0)
    await sim_sleep(-1.0)
    assert sleep.calls == [0.5, 0.0]


# -- the --sim components ---------------------------------------------------------------------------


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    return load_settings(root=project_dir)


async def test_generator_sim_has_a_strike_from_the_first_minute(settings: Settings) -> None:
    now = START + 7 * 60 + 13.4  # seven minutes into a window
    sleep = FakeSleep()
    sim = build_sim_components(settings, start_ts=now, sleep=sleep, speed=600.0)
    assert sim.clock() == now and sim.speed == 600.0 and sim.feed.source == "generator"
    # Run the paced feed until a couple of simulated minutes have passed.
    sim.feed.on_tick = lambda: sim.feed.stop() if sim.clock() >= now + 120 else None
    await asyncio.wait_for(sim.feed.run(), timeout=10)
    market = await sim.exchange.get_current_market(sim.clock())
    assert market is not None and market.status == "active" and market.floor_strike is not None
    assert market.open_time.timestamp() == window_open(now)
    assert sim.feed.ticks > WARMUP_S  # the warm-up arrived at once, then paced ticks
    book = await sim.exchange.get_orderbook(market.ticker)
    assert book.yes_bids and book.no_bids
    assert not sim.feed.snapshot().stale
    # Only simulated time after the start was slept for, at 600x.
    assert sum(sleep.calls) == pytest.approx((sim.clock() - now) / 600.0, rel=0.05)
    await sim.sleep(60.0)
    assert sleep.calls[-1] == pytest.approx(0.1)


async def test_replay_sim_starts_at_the_first_tick(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("timestamp,price\n" + "".join(f"{START + i},{100 + i % 7}\n" for i in range(300)))
    sim = build_sim_components(settings, replay=path, sleep=FakeSleep(), speed=1000.0)
    assert sim.clock() == START and sim.feed.source == "replay" and sim.description == "p.csv"
    await asyncio.wait_for(sim.feed.run(), timeout=10)
    assert sim.feed.finished and sim.feed.ticks == 300 and sim.clock() == START + 299


def test_bar_files_are_never_stale_and_only_a_missing_bar_is_a_gap(tmp_path: Path) -> None:
    # One-minute bars become a tick a second, so the live staleness rule holds for them too: no
    # decision between two bars sees a stale feed; inside the missing 00:02 bar the feed is stale.
    bars = tmp_path / "bars.csv"
    bars.write_text("open_time,open,high,low,close\n" + "".join(
        f"{int(START) + 60 * i},1,2,0.5,1.5\n" for i in (0, 1, 3)))
    source = replay_source(bars, 10.0)
    assert source.gap_after_s == 10.0
    clock = SimClock(START)
    feed = ReplayFeed(source.ticks, clock, stale_after_s=10.0, gap_after_s=source.gap_after_s)
    seen: list[tuple[float, bool, bool]] = []
    stale_in_silence = None
    for ts, price, trade_id in source.ticks:
        if ts >= START + 180 and stale_in_silence is None:
            clock.advance_to(START + 150)
            stale_in_silence = feed.screen_values()[0]
        clock.advance_to(ts)
        feed.push(ts, price, trade_id)
        stale, _, gap, _, _ = feed.screen_values()
        seen.append((ts, stale, gap))
    assert len(seen) == 3 * 61
    assert not any(stale or gap for _, stale, gap in seen)  # bar to bar: neither stale nor a gap
    assert stale_in_silence is True


def test_empty_replay_file_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("timestamp,price\n")
    with pytest.raises(ValueError, match="empty.csv: no price rows"):
        build_sim_components(settings, replay=path)


def test_starting_bankroll_is_untouched_by_the_sim(settings: Settings) -> None:
    # The components hold no money: bankrolls stay with the database of the mode (data/sim.db).
    assert settings.user.starting_bankroll_usd == Decimal("100.00")


async def test_a_resumed_replay_skips_what_the_sim_database_already_holds(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("timestamp,price\n" + "".join(f"{START + i},{100 + i % 7}\n" for i in range(300)))
    sim = build_sim_components(settings, replay=path, sleep=FakeSleep(), speed=1000.0, resume_after=START + 199)
    assert sim.clock() == START + 200  # the first tick after the last simulated time
    await asyncio.wait_for(sim.feed.run(), timeout=10)
    assert sim.feed.ticks == 100
    with pytest.raises(ValueError, match="p.csv: no prices after .* already replayed"):
        build_sim_components(settings, replay=path, resume_after=START + 299)


def test_a_resumed_generator_starts_at_the_later_of_now_and_the_last_simulated_time(settings: Settings) -> None:
    assert build_sim_components(settings, start_ts=START, resume_after=START + 7200).clock() == START + 7200
    assert build_sim_components(settings, start_ts=START, resume_after=START - 7200).clock() == START
