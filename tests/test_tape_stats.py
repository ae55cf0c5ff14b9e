"""Tape statistics on hand-made tapes whose answers are known."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from src.model.models import Side
from src.model.tape import TapeTrade
from src.research.tape_stats import (
    grid_prices,
    lag1_autocorrelation,
    render_tape_stats,
    spreads_from_pairs,
    tape_statistics,
)


def tr(i: int, ts: float, price: str, side: Side, count: str = "1", ticker: str = "M1") -> TapeTrade:
    return TapeTrade(f"{ticker}-{i}", ticker, ts, Decimal(price), Decimal(count), side)


def test_spread_comes_from_adjacent_opposite_side_prints_close_in_time() -> None:
    trades = [tr(0, 0, "0.52", Side.YES), tr(1, 1, "0.49", Side.NO), tr(2, 2, "0.49", Side.NO),
              tr(3, 20, "0.55", Side.YES), tr(4, 21, "0.53", Side.NO)]
    assert spreads_from_pairs(trades) == pytest.approx([3.0, 2.0])  # the 2 -> 20 s pair is too far apart


def test_grid_holds_the_last_price_each_second() -> None:
    trades = [tr(0, 100.0, "0.50", Side.YES), tr(1, 102.5, "0.53", Side.YES), tr(2, 102.7, "0.54", Side.NO)]
    assert grid_prices(trades, 105.0) == pytest.approx([50, 50, 50, 54, 54, 54])


def test_autocorrelation_of_a_bounce_is_minus_one_and_of_a_trend_undefined() -> None:
    assert lag1_autocorrelation([1, -1, 1, -1, 1, -1]) == pytest.approx(-1.0)
    assert math.isnan(lag1_autocorrelation([1, 1, 1, 1]))
    assert math.isnan(lag1_autocorrelation([1, 2]))


def test_statistics_over_windows_count_empty_windows_and_render() -> None:
    a = [tr(i, 1000 + i * 3, "0.50" if i % 2 else "0.52", Side.NO if i % 2 else Side.YES, "2") for i in range(10)]
    stats = tape_statistics({"M1": a}, {"M1": 1100.0, "M2": 2000.0})
    assert stats.windows == 2 and stats.windows_without_trades == 1
    assert stats.trades_per_window.mean == 5.0 and stats.contracts_per_window.median == 10.0
    assert stats.spread_cents.median == pytest.approx(2.0) and stats.spread_cents.n == 9
    assert stats.autocorr_trade == pytest.approx(-1.0)
    assert 0 < stats.moving_share_1s < 1
    text = render_tape_stats(stats)
    assert "1 without a single trade" in text and "spread" in text and "-1.000 (prints bounce" in text
