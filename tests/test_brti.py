"""BRTI drives the fair value: the feed price moved onto BRTI's level by the measured basis, and in the last
minute the observed part of the settlement average is used, not modelled."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from src.config import BtcLagConfig
from src.data.brti import BrtiAnchor
from src.data.kalshi_ws_messages import Average, IndexValue
from src.model.models import BookLevel, FeedSnapshot, Market, OrderBook, Signal
from src.strategies.btc_lag import BtcLagStrategy
from src.strategies.fair_value import prob_settle_at_or_above

NOW = 1_780_000_000.0 - (1_780_000_000.0 % 900) + 870  # 30 s before a quarter hour
CLOSE = NOW + 30


class Feed:
    source = "fake"

    def __init__(self, price: float, move: float = 0.5) -> None:
        self.snap = FeedSnapshot("fake", price, NOW, price / (1 + move / 100), move, 9.8e-5, 0.1, False, False, 60)

    async def run(self) -> None:
        return None

    def stop(self) -> None:
        pass

    def snapshot(self) -> FeedSnapshot:
        return self.snap

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        s = self.snap
        return (s.stale, s.price, s.gap_in_window, s.move_pct, s.volatility)


class Index:
    def __init__(self) -> None:
        self.value: IndexValue | None = None
        self.received_at: float | None = None

    def index_value(self, index_id: str = "BRTI") -> IndexValue | None:
        return self.value

    def index_age(self, now: float, index_id: str = "BRTI") -> float | None:
        return None if self.received_at is None else now - self.received_at


def brti(value: str, settle: str | None = None, count: int = 30) -> IndexValue:
    ms = int(NOW * 1000)
    avg = Average(Decimal(value), 59, ms - 60_000, ms)
    settle_avg = None if settle is None else Average(Decimal(settle), count, int(CLOSE * 1000) - 60_000, ms)
    return IndexValue("BRTI", Decimal(value), ms, ms + 10, avg, settle_avg)


def test_without_brti_the_feed_price_is_used_as_is() -> None:
    feed = Feed(100_000.0)
    anchor = BrtiAnchor(feed, Index(), lambda: NOW)
    assert anchor.snapshot() == feed.snap and not anchor.snapshot().anchored
    assert anchor.screen_values() == feed.screen_values() and anchor.basis_bps is None


def test_the_price_moves_onto_brti_by_the_median_basis_and_moves_are_unchanged() -> None:
    feed, index = Feed(100_000.0), Index()
    anchor = BrtiAnchor(feed, index, lambda: NOW, samples=5)
    for value in ("99990", "99980", "99985", "100500"):  # one outlier: the median ignores it
        index.value, index.received_at = brti(value), NOW - 0.5
        anchor.on_index(index.value)
    assert anchor.basis_samples == 4
    expected = math.log(99_987.5 / 100_000.0)  # median of the four ln ratios (middle pair)
    assert anchor.basis == pytest.approx(expected, rel=1e-3)
    feed.snap = Feed(100_100.0).snap  # the feed moves on between BRTI prints: the model follows it
    snap = anchor.snapshot()
    assert snap.anchored and snap.price == pytest.approx(100_100.0 * math.exp(anchor.basis))
    assert snap.move_pct == feed.snap.move_pct and snap.volatility == feed.snap.volatility
    assert anchor.screen_values()[1] == pytest.approx(snap.price)
    assert snap.basis_bps == pytest.approx(anchor.basis * 1e4)


def test_an_old_brti_falls_back_to_the_feed() -> None:
    feed, index = Feed(100_000.0), Index()
    anchor = BrtiAnchor(feed, index, lambda: NOW, max_index_age_s=10)
    index.value, index.received_at = brti("99900"), NOW - 11
    anchor.on_index(index.value)
    assert not anchor.snapshot().anchored and anchor.screen_values()[1] == 100_000.0


def test_the_final_minute_average_is_passed_on_with_its_close() -> None:
    feed, index = Feed(100_000.0), Index()
    anchor = BrtiAnchor(feed, index, lambda: NOW)
    index.value, index.received_at = brti("100000", settle="100200"), NOW
    anchor.on_index(index.value)
    snap = anchor.snapshot()
    assert snap.settle_avg == 100_200.0 and snap.settle_close_ts == CLOSE


def market() -> Market:
    return Market("KXBTC15M-X-00", "E", "active", datetime.fromtimestamp(CLOSE - 900, tz=UTC),
                  datetime.fromtimestamp(CLOSE, tz=UTC), Decimal("100000"))


def test_in_the_last_minute_the_observed_settlement_average_is_known_not_modelled() -> None:
    """30 s left; BTC is just under the strike now, but the first 30 s of the settlement minute averaged
    well above it: YES is nearly certain, which only the observed average can tell."""
    strategy = BtcLagStrategy(BtcLagConfig(min_seconds_left=0, min_move_pct=0.1))
    book = OrderBook("KXBTC15M-X-00", (BookLevel(Decimal("0.30"), Decimal(10)),),
                     (BookLevel(Decimal("0.40"), Decimal(10)),))  # YES ask 0.60
    feed = Feed(99_990.0, move=0.5)
    blind = strategy.evaluate(feed.snap, market(), book, NOW)
    assert not isinstance(blind, Signal) and blind.code == "price_not_below_fair"
    # precheck cannot know the observed part: it defers to evaluate() instead of refusing
    assert strategy.precheck(*feed.screen_values(), market(), book, NOW) is None
    seen = replace(feed.snap, settle_avg=100_200.0, settle_close_ts=CLOSE)
    signal = strategy.evaluate(seen, market(), book, NOW)
    assert isinstance(signal, Signal) and signal.side.value == "yes" and signal.fair_prob > 0.99
    exact = prob_settle_at_or_above(99_990.0, 100_000.0, 1e-4, 30, observed_avg=100_200.0)
    assert exact > 0.99
    # an average from another quarter hour is not this market's
    other = replace(feed.snap, settle_avg=100_200.0, settle_close_ts=CLOSE - 900)
    assert not isinstance(strategy.evaluate(other, market(), book, NOW), Signal)
