"""RollingWindow: the math against a brute-force reference, duplicates, gaps and staleness."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.data.window import RollingWindow
from src.model.models import FeedSnapshot
from tests.fakes.binance_server import load_closes


@dataclass
class Ref:
    """The obvious O(n) implementation the window must agree with."""

    window_s: float
    gap_after_s: float = math.inf

    def __post_init__(self) -> None:
        self.trades: list[tuple[int, float, float, float]] = []  # (id, ts, price, recv)
        self.gaps: list[float] = []

    def push(self, trade_id: int, ts: float, price: float, recv: float) -> bool:
        if self.trades:
            last_id, last_ts = self.trades[-1][0], self.trades[-1][1]
            if trade_id <= last_id or ts < last_ts:
                return False
        if not (math.isfinite(price) and price > 0 and math.isfinite(ts)):
            return False
        if self.trades and ts - self.trades[-1][1] > self.gap_after_s:
            self.gaps.append(self.trades[-1][1])
        self.trades.append((trade_id, ts, price, recv))
        return True

    def mark_gap(self) -> None:
        if self.trades:
            self.gaps.append(self.trades[-1][1])

    def stats(self) -> dict[str, float | int | bool]:
        last_ts = self.trades[-1][1]
        inside = [t for t in self.trades if t[1] >= last_ts - self.window_s]
        first_ts = inside[0][1]
        sq = sum((math.log(b[2]) - math.log(a[2])) ** 2 for a, b in zip(inside, inside[1:], strict=False))
        span = last_ts - first_ts
        return {
            "price": inside[-1][2],
            "start": inside[0][2],
            "move_pct": (inside[-1][2] / inside[0][2] - 1) * 100,
            "vol": math.sqrt(sq / span) if span > 0 and sq > 0 else 0.0,
            "n": len(inside),
            "gap": any(first_ts <= g < last_ts for g in self.gaps),
            "recv": self.trades[-1][3],
        }


def assert_matches(win: RollingWindow, ref: Ref, now: float) -> None:
    snap = win.snapshot(now)
    want = ref.stats()
    assert snap.price == want["price"]
    assert snap.window_start_price == want["start"]
    assert snap.move_pct == pytest.approx(want["move_pct"], rel=1e-9, abs=1e-12)
    assert snap.volatility == pytest.approx(want["vol"], rel=1e-6, abs=1e-12)
    assert snap.ticks_in_window == want["n"]
    assert snap.gap_in_window == want["gap"]
    assert snap.age_s == pytest.approx(max(0.0, now - want["recv"]))


def random_stream(seed: int, n: int) -> list[tuple[int, float, float]]:
    rng = random.Random(seed)
    out = []
    trade_id, ts, price = 100, 1_700_000_000.0, 65_000.0
    for _ in range(n):
        r = rng.random()
        if r < 0.05 and out:
            out.append(rng.choice(out[-20:]))  # replayed (duplicate / older) trade
            continue
        trade_id += rng.choice((1, 1, 1, 2, 7))
        ts += rng.choice((0.0, 0.001, 0.05, 0.4, 1.5, 4.0, 12.0))
        price *= math.exp(rng.gauss(0, 3e-4))
        out.append((trade_id, ts, price))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_streams(seed: int) -> None:
    win = RollingWindow("t", window_s=60.0, stale_after_s=10.0, gap_after_s=10.0)
    ref = Ref(60.0, gap_after_s=10.0)
    rng = random.Random(seed + 1000)
    for k, (tid, ts, px) in enumerate(random_stream(seed, 1500)):
        recv = ts + 0.05
        assert win.push(tid, ts, px, recv) == ref.push(tid, ts, px, recv)
        if rng.random() < 0.01:
            win.mark_gap()
            ref.mark_gap()
        if k % 7 == 0:
            assert_matches(win, ref, now=ts + rng.random() * 20)
    assert_matches(win, ref, now=ref.trades[-1][1] + 1)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=-2, max_value=3),  # id delta (<= 0: duplicate / out of order)
            st.floats(min_value=-1.0, max_value=30.0, allow_nan=False),  # time delta
            st.floats(min_value=-0.02, max_value=0.02, allow_nan=False),  # log price step
            st.booleans(),  # mark a gap after this trade
        ),
        min_size=1,
        max_size=120,
    ),
    window_s=st.sampled_from([5.0, 60.0, 120.0]),
)
def test_property_agrees_with_reference(steps: list[tuple[int, float, float, bool]], window_s: float) -> None:
    win = RollingWindow("p", window_s=window_s, stale_after_s=10.0, gap_after_s=15.0)
    ref = Ref(window_s, gap_after_s=15.0)
    tid, ts, logp = 0, 1_000.0, math.log(30_000.0)
    for d_id, d_ts, d_logp, gap in steps:
        tid, ts, logp = tid + d_id, ts + d_ts, logp + d_logp
        px = math.exp(logp)
        assert win.push(tid, ts, px, ts) == ref.push(tid, ts, px, ts)
        if gap:
            win.mark_gap()
            ref.mark_gap()
        if ref.trades:
            assert_matches(win, ref, now=ref.trades[-1][1] + 3.0)


def test_duplicates_and_out_of_order_are_ignored() -> None:
    win = RollingWindow("t", window_s=60.0)
    assert win.push(10, 100.0, 50_000.0, 100.0)
    assert win.push(11, 101.0, 50_100.0, 101.0)
    assert not win.push(11, 101.0, 99_999.0, 101.0)  # duplicate id
    assert not win.push(9, 102.0, 99_999.0, 102.0)  # older id
    assert not win.push(12, 100.5, 99_999.0, 102.0)  # newer id but time went backwards
    assert win.rejected == 3
    snap = win.snapshot(101.0)
    assert snap.price == 50_100.0
    assert snap.ticks_in_window == 2
    assert win.last_trade_id == 11


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_invalid_prices_are_refused_and_do_not_poison_the_stats(bad: float) -> None:
    win = RollingWindow("t")
    assert win.push(1, 10.0, 100.0, 10.0)
    assert not win.push(2, 11.0, bad, 11.0)
    assert win.push(3, 12.0, 101.0, 12.0)
    snap = win.snapshot(12.0)
    assert math.isfinite(snap.volatility) and snap.volatility > 0
    assert snap.move_pct == pytest.approx(1.0)


def test_nan_time_is_refused() -> None:
    win = RollingWindow("t")
    assert win.push(1, 10.0, 100.0, 10.0)
    assert not win.push(2, math.nan, 100.0, 11.0)
    assert not win.push(3, math.inf, 100.0, 11.0)
    assert win.push(4, 11.0, 100.0, 11.0)


def test_window_edge_is_inclusive_and_old_trades_leave() -> None:
    win = RollingWindow("t", window_s=60.0)
    win.push(1, 0.0, 100.0, 0.0)
    win.push(2, 30.0, 101.0, 30.0)
    win.push(3, 60.0, 102.0, 60.0)  # the trade at t=0 is exactly 60 s old: still inside
    assert win.snapshot(60.0).window_start_price == 100.0
    win.push(4, 60.5, 103.0, 60.5)
    snap = win.snapshot(60.5)
    assert snap.window_start_price == 101.0
    assert snap.ticks_in_window == 3
    assert snap.move_pct == pytest.approx((103 / 101 - 1) * 100)


def test_memory_is_bounded_by_the_window() -> None:
    win = RollingWindow("t", window_s=1.0)
    for i in range(50_000):
        win.push(i, i * 0.001, 100.0 + (i % 7), i * 0.001)
    assert len(win) == 1001  # 1 s of trades at 1 ms spacing, both edges included


def test_volatility_of_a_known_path() -> None:
    # Alternating +-1% log steps once a second: sigma^2 per second = 0.01^2 / 1 s.
    win = RollingWindow("t", window_s=60.0)
    logp = math.log(50_000.0)
    for i in range(61):
        win.push(i, float(i), math.exp(logp + (0.01 if i % 2 else 0.0)), float(i))
    assert win.snapshot(60.0).volatility == pytest.approx(0.01, rel=1e-9)


def test_single_trade_and_same_time_trades_have_zero_volatility() -> None:
    win = RollingWindow("t")
    win.push(1, 5.0, 100.0, 5.0)
    assert win.snapshot(5.0).volatility == 0.0
    win.push(2, 5.0, 101.0, 5.0)  # zero time span: no rate can be estimated
    assert win.snapshot(5.0).volatility == 0.0


def test_gap_marks_a_move_across_a_reconnect_until_it_leaves_the_window() -> None:
    win = RollingWindow("t", window_s=60.0)
    win.push(1, 0.0, 100.0, 0.0)
    win.push(2, 10.0, 100.0, 10.0)
    win.mark_gap()  # connection dropped after the trade at t=10
    assert not win.snapshot(10.0).gap_in_window  # nothing after the gap yet
    win.push(3, 40.0, 101.0, 40.0)
    assert win.snapshot(40.0).gap_in_window
    win.push(4, 70.0, 101.0, 70.0)  # window starts at t=10: the pre-gap trade is still the start
    assert win.snapshot(70.0).gap_in_window
    win.push(5, 70.5, 101.0, 70.5)  # window now starts at t=40, after the gap
    snap = win.snapshot(70.5)
    assert not snap.gap_in_window
    assert snap.window_start_price == 101.0


def test_mark_gap_on_an_empty_window_or_twice_is_harmless() -> None:
    win = RollingWindow("t")
    win.mark_gap()
    win.push(1, 0.0, 100.0, 0.0)
    assert not win.snapshot(0.0).gap_in_window
    win.mark_gap()
    win.mark_gap()
    win.push(2, 1.0, 100.0, 1.0)
    assert win.snapshot(1.0).gap_in_window


def test_silence_longer_than_gap_after_is_a_gap() -> None:
    win = RollingWindow("t", window_s=60.0, gap_after_s=10.0)
    win.push(1, 0.0, 100.0, 0.0)
    win.push(2, 10.0, 100.0, 10.0)  # exactly 10 s: not a gap
    assert not win.snapshot(10.0).gap_in_window
    win.push(3, 20.5, 100.6, 20.5)  # 10.5 s of silence: the move across it was not observed
    assert win.snapshot(20.5).gap_in_window


def test_staleness_follows_the_injected_clock(clock) -> None:
    win = RollingWindow("t", stale_after_s=10.0)
    empty = win.snapshot(clock())
    assert empty.stale and empty.age_s == math.inf and empty.ticks_in_window == 0
    win.push(1, clock() - 0.3, 65_000.0, clock())  # trade time 0.3 s before it arrived
    assert not win.snapshot(clock()).stale
    clock.advance(10.0)
    snap = win.snapshot(clock())
    assert snap.age_s == pytest.approx(10.0) and not snap.stale
    clock.advance(0.001)
    assert win.snapshot(clock()).stale
    win.push(2, clock(), 65_010.0, clock())  # a fresh tick makes it fresh again
    assert not win.snapshot(clock()).stale


def test_clock_behind_the_receive_stamp_gives_zero_age() -> None:
    win = RollingWindow("t")
    win.push(1, 100.0, 1.0, 100.0)
    assert win.snapshot(99.0).age_s == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [{"window_s": 0}, {"window_s": -5}, {"window_s": math.nan}, {"stale_after_s": 0}, {"gap_after_s": 0}],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RollingWindow("t", **kwargs)


def test_real_minute_closes_give_minute_moves() -> None:
    closes = load_closes()  # Binance.US BTCUSDT, 2023-03-01..03, one close per minute
    assert len(closes) == 4320
    win = RollingWindow("replay", window_s=60.0)
    ref = Ref(60.0)
    for i, px in enumerate(closes):
        ts = 1_677_628_800.0 + 60.0 * i
        win.push(i, ts, px, ts)
        ref.push(i, ts, px, ts)
        if i:
            snap = win.snapshot(ts)
            assert snap.ticks_in_window == 2
            assert snap.move_pct == pytest.approx((px / closes[i - 1] - 1) * 100)
            assert snap.volatility == pytest.approx(abs(math.log(px / closes[i - 1])) / math.sqrt(60.0))
    assert_matches(win, ref, now=ts)


@pytest.mark.parametrize("bad_ts", [math.nan, math.inf, -math.inf])
def test_first_trade_with_an_impossible_time_is_refused(bad_ts: float) -> None:
    win = RollingWindow("t")
    assert not win.push(1, bad_ts, 100.0, 0.0)
    assert len(win) == 0 and win.last_trade_id is None


# -- screen_values: the snapshot's raw values without the snapshot --------------------------------


def screen_of(snap: FeedSnapshot) -> tuple[bool, float, bool, float, float]:
    return (snap.stale, snap.price, snap.gap_in_window, snap.move_pct, snap.volatility)


def test_screen_values_of_an_empty_window_are_the_empty_snapshot_values() -> None:
    win = RollingWindow("t", window_s=60.0, stale_after_s=10.0)
    assert win.screen_values(123.0) == screen_of(win.snapshot(123.0)) == (True, 0.0, False, 0.0, 0.0)
    assert not win.push(1, 10.0, math.nan, 10.0)  # a refused trade leaves it empty
    assert win.screen_values(10.0) == screen_of(win.snapshot(10.0))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=-1, max_value=3),  # id delta (<= 0: refused)
            st.floats(min_value=-1.0, max_value=25.0, allow_nan=False),  # time delta
            st.floats(min_value=-0.02, max_value=0.02, allow_nan=False),  # log price step
            st.floats(min_value=-2.0, max_value=3.0, allow_nan=False),  # receive delay
            st.booleans(),  # mark a gap after this trade
        ),
        min_size=1,
        max_size=80,
    ),
    looks=st.lists(st.floats(min_value=-5.0, max_value=40.0, allow_nan=False), min_size=1, max_size=4),
    window_s=st.sampled_from([5.0, 60.0]),
    stale_after_s=st.sampled_from([0.5, 10.0]),
)
def test_screen_values_are_exactly_the_snapshot_values(
    steps: list[tuple[int, float, float, float, bool]], looks: list[float], window_s: float, stale_after_s: float
) -> None:
    # Exact equality, not approx: the strategy's pre-check must decide on the very same floats.
    win = RollingWindow("p", window_s=window_s, stale_after_s=stale_after_s, gap_after_s=8.0)
    tid, ts, logp = 0, 1_000.0, math.log(30_000.0)
    for d_id, d_ts, d_logp, delay, gap in steps:
        tid, ts, logp = tid + d_id, ts + d_ts, logp + d_logp
        win.push(tid, ts, math.exp(logp), ts + delay)
        if gap:
            win.mark_gap()
        for look in looks:
            now = ts + look
            assert win.screen_values(now) == screen_of(win.snapshot(now))


@pytest.mark.parametrize("seed", range(4))
def test_sparse_reads_see_exactly_what_eager_eviction_would_keep(seed: int) -> None:
    # Old trades leave in batches (a push evicts only at two windows; a read evicts to one), so a
    # read after many pushes must still see exactly the last window_s seconds, gaps included.
    win = RollingWindow("t", window_s=30.0, stale_after_s=10.0, gap_after_s=6.0)
    ref = Ref(30.0, gap_after_s=6.0)
    rng = random.Random(seed)
    for k, (tid, ts, px) in enumerate(random_stream(seed + 50, 3000)):
        assert win.push(tid, ts, px, ts) == ref.push(tid, ts, px, ts)
        if rng.random() < 0.02:
            win.mark_gap()
            ref.mark_gap()
        if k % 400 == 399:
            assert len(win) == ref.stats()["n"]
            assert_matches(win, ref, now=ts + 1.0)
            assert win.screen_values(ts + 1.0) == screen_of(win.snapshot(ts + 1.0))
    # Without any read, what is kept stays within two windows of trades.
    win = RollingWindow("t", window_s=1.0)
    for i in range(50_000):
        win.push(i, i * 0.001, 100.0, i * 0.001)
    assert len(win._ts) <= 2001  # noqa: SLF001 - the memory bound is the point of this check
    assert len(win) == 1001
