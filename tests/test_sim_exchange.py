"""The simulated KXBTC15M exchange: strike and settlement averages, tie rule, lagged book, fees, settlement."""

from __future__ import annotations

import bisect
import random
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import SimConfig
from src.data.window import RollingWindow
from src.db import Database
from src.execution.paper import PaperExecutor
from src.execution.settlement import Settler
from src.journal.trade_log import TradeLog
from src.model.kxbtc15m import market_ticker
from src.model.models import OrderIntent, Side, TradeResult, Verdict
from src.sim.averages import BoundaryAverages
from src.sim.clock import SimClock
from src.sim.exchange import SimExchange, SimMarketNotFound, quote_cents, unit_noise
from src.sim.maker_view import MakerView
from src.strategies.fair_value import prob_settle_at_or_above

OPEN = 1_767_226_500.0  # a window boundary (multiple of 900 s)
CLOSE = OPEN + 900
TICKER = market_ticker(CLOSE)
QUIET = SimConfig(lag_s=20, noise=Decimal("0"), spread=Decimal("0.02"), depth=Decimal("40"), maker_volatility="fixed")


def drive(ex: SimExchange, clock: SimClock, ticks: list[tuple[float, float]]) -> None:
    for ts, price in ticks:
        clock.advance_to(ts)
        ex.on_price(ts, price)


def flat(start: float, end: float, price: float, step: float = 1.0) -> list[tuple[float, float]]:
    n = int((end - start) / step)
    return [(start + i * step, price) for i in range(n)]


# -- the 60-second averages ------------------------------------------------------------------------


def test_average_is_the_mean_of_the_60_one_second_values() -> None:
    avg = BoundaryAverages()
    avg.on_price(OPEN - 100, 100.0)
    avg.on_price(OPEN - 30, 130.0)  # takes effect AT OPEN-30: 30 seconds at 100, 30 at 130
    assert avg.average(OPEN) is None  # seconds up to OPEN-1 are not all known yet
    avg.on_price(OPEN - 0.5, 140.0)  # OPEN-1 is now known (130): the average is complete
    assert avg.samples(OPEN) == 60
    assert avg.average(OPEN) == 115.0


def test_a_tick_inside_a_second_counts_from_the_next_whole_second() -> None:
    avg = BoundaryAverages()
    avg.on_price(OPEN - 61, 100.0)
    avg.on_price(OPEN - 30.5, 160.0)  # seconds OPEN-60..OPEN-31 at 100 (30), OPEN-30..OPEN-1 at 160
    avg.on_price(OPEN + 5, 1.0)
    assert avg.average(OPEN) == 130.0


def test_average_needs_a_price_at_the_span_start() -> None:
    avg = BoundaryAverages()
    avg.on_price(OPEN - 59.5, 100.0)  # first sample is OPEN-59: OPEN-60 has no price
    avg.on_price(OPEN + 1, 100.0)
    assert avg.average(OPEN) is None and avg.samples(OPEN) == 59


def test_sparse_ticks_fill_every_second_and_several_boundaries() -> None:
    avg = BoundaryAverages()
    avg.on_price(OPEN - 1000, 50.0)
    avg.on_price(CLOSE + 10, 70.0)  # one silence across two boundaries: both spans sampled at 50
    assert avg.average(OPEN) == 50.0 and avg.average(CLOSE) == 50.0


def naive_average(ticks: list[tuple[float, float]], boundary: int) -> float | None:
    """The definition, spelled out: the last price at or before each of the 60 seconds before
    the boundary, known once a tick after boundary - 1 has arrived."""
    times = [t for t, _ in ticks]
    if not ticks or times[-1] <= boundary - 1:
        return None
    values = []
    for second in range(boundary - 60, boundary):
        i = bisect.bisect_right(times, second) - 1
        if i < 0:
            return None
        values.append(ticks[i][1])
    return sum(values) / 60


def test_incremental_averages_match_the_definition_on_random_streams() -> None:
    rng = random.Random(1)
    for _ in range(200):
        t = OPEN - rng.uniform(0, 2000)
        ticks: list[tuple[float, float]] = []
        for _ in range(rng.randint(5, 300)):
            t += rng.choice([rng.uniform(0, 3), rng.uniform(0, 0.2), float(rng.randint(0, 40)), 0.0])
            ticks.append((t, round(rng.uniform(90, 110), 2)))
        avg = BoundaryAverages()
        for ts, price in ticks:
            avg.on_price(ts, price)
        for boundary in range(int(OPEN) - 1800, int(OPEN) + 3600, 900):
            expected = naive_average(ticks, boundary)
            got = avg.average(boundary)
            assert (got is None) == (expected is None)
            if expected is not None:
                assert got == pytest.approx(expected, rel=1e-12)


def test_ticks_going_back_are_refused() -> None:
    avg = BoundaryAverages()
    avg.on_price(OPEN, 1.0)
    with pytest.raises(ValueError, match="back in time"):
        avg.on_price(OPEN - 1, 1.0)


# -- markets: strike, status, settlement and the tie rule --------------------------------------------


def make(config: SimConfig = QUIET, start: float = OPEN - 120) -> tuple[SimExchange, SimClock]:
    clock = SimClock(start)
    return SimExchange(config, clock), clock


async def test_market_lifecycle_and_strike() -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN - 30, 100.0) + flat(OPEN - 30, OPEN + 1, 130.0))
    market = await ex.get_market(TICKER)
    assert market.status == "active" and market.floor_strike == Decimal("115.00")
    assert market.strike_type == "greater_or_equal"
    assert market.open_time.timestamp() == OPEN and market.close_time.timestamp() == CLOSE
    assert market.event_ticker == TICKER.rsplit("-", 1)[0]
    assert (await ex.get_current_market(clock())) == market
    assert ex.market_at(market_ticker(CLOSE + 900), clock()).status == "initialized"


async def settle_with(final_prices: list[tuple[float, float]]) -> tuple[SimExchange, SimClock]:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN + 1, 100.0))
    drive(ex, clock, flat(OPEN + 1, CLOSE - 60, 105.0))
    drive(ex, clock, final_prices)
    return ex, clock


async def test_settles_yes_on_a_tie_greater_or_equal() -> None:
    ex, clock = await settle_with(flat(CLOSE - 60, CLOSE, 100.0))
    clock.advance_to(CLOSE)
    assert (await ex.get_market(TICKER)).status == "closed"  # the last second is not known yet
    drive(ex, clock, [(CLOSE + 0.2, 90.0)])
    market = await ex.get_market(TICKER)
    assert market.status == "settled"
    assert market.floor_strike == market.expiration_value == Decimal("100.00")
    assert market.result == "yes"


async def test_settles_no_one_cent_below() -> None:
    ex, clock = await settle_with(flat(CLOSE - 60, CLOSE, 99.99) + [(CLOSE + 1, 100.0)])
    market = await ex.get_market(TICKER)
    assert market.expiration_value == Decimal("99.99") and market.result == "no"


async def test_averages_are_compared_to_the_cent() -> None:
    # 59 seconds at 100.00 and one at 99.99: the mean is 99.99983..., 100.00 to the cent: a tie, YES.
    ex, clock = await settle_with(flat(CLOSE - 60, CLOSE - 1, 100.0) + [(CLOSE - 1, 99.99), (CLOSE + 1, 1.0)])
    market = await ex.get_market(TICKER)
    assert market.expiration_value == Decimal("100.00") and market.result == "yes"


async def test_no_strike_without_a_full_minute_before_the_open() -> None:
    ex, clock = make(start=OPEN - 30)
    drive(ex, clock, flat(OPEN - 30, OPEN + 10, 100.0))
    market = await ex.get_market(TICKER)
    assert market.status == "active" and market.floor_strike is None
    book = await ex.get_orderbook(TICKER)
    assert book.yes_bids == () and book.no_bids == ()
    drive(ex, clock, flat(OPEN + 10, CLOSE + 5, 100.0))
    assert (await ex.get_market(TICKER)).status == "closed"  # never settles: no strike


async def test_unknown_tickers() -> None:
    ex, _ = make()
    for bad in ("KXBTCD-26JAN0100-T1", "KXBTC15M-XX", market_ticker(CLOSE)[:-2] + "99"):
        with pytest.raises(SimMarketNotFound):
            await ex.get_market(bad)


# -- the book -----------------------------------------------------------------------------------------


def test_quote_cents() -> None:
    assert quote_cents(0.503, 2) == (49, 51)
    assert quote_cents(0.5, 3) == (49, 52)
    assert quote_cents(0.0, 2) == (1, 3)
    assert quote_cents(1.0, 2) == (97, 99)
    with pytest.raises(ValueError):
        quote_cents(0.5, 0)


def test_book_shape_at_fair_one_half() -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN + 5, 100.0))  # price == strike: fair YES is exactly 0.5
    book = ex.orderbook_at(TICKER, clock())
    assert [(lvl.price, lvl.count) for lvl in book.yes_bids] == [
        (Decimal("0.47"), Decimal("40")), (Decimal("0.48"), Decimal("40")), (Decimal("0.49"), Decimal("40"))
    ]
    assert [lvl.price for lvl in book.no_bids] == [Decimal("0.47"), Decimal("0.48"), Decimal("0.49")]
    assert book.best_ask(Side.YES) == Decimal("0.51") and book.best_ask(Side.NO) == Decimal("0.51")
    market = ex.market_at(TICKER, clock())
    assert (market.yes_bid, market.yes_ask, market.no_bid, market.no_ask) == (
        Decimal("0.49"), Decimal("0.51"), Decimal("0.49"), Decimal("0.51")
    )


def expected_quote(ex: SimExchange, btc: float, strike: float, second: float) -> tuple[Decimal, Decimal]:
    fair = prob_settle_at_or_above(btc, strike, ex.sigma, CLOSE - second)
    bid, ask = quote_cents(fair, 2)
    return Decimal(bid) / 100, Decimal(ask) / 100


def test_the_book_prices_the_btc_price_of_lag_s_ago() -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN + 100, 100.0))
    drive(ex, clock, flat(OPEN + 100, OPEN + 111, 100.4))  # BTC jumps 0.4 % at OPEN+100
    stale = ex.orderbook_at(TICKER, OPEN + 110.5)  # the maker still sees 100 (lag 20 s)
    assert (stale.yes_bids[-1].price, stale.best_ask(Side.YES)) == expected_quote(ex, 100.0, 100.0, OPEN + 110)
    drive(ex, clock, flat(OPEN + 111, OPEN + 126, 100.4))
    fresh = ex.orderbook_at(TICKER, OPEN + 125.5)  # at OPEN+125 the maker sees OPEN+105: 100.4
    assert (fresh.yes_bids[-1].price, fresh.best_ask(Side.YES)) == expected_quote(ex, 100.4, 100.0, OPEN + 125)
    assert fresh.best_ask(Side.YES) > stale.best_ask(Side.YES)


def test_no_lag_prices_the_latest_tick() -> None:
    ex, clock = make(SimConfig(lag_s=0, noise=Decimal("0"), spread=Decimal("0.02"), maker_volatility="fixed"))
    drive(ex, clock, flat(OPEN - 120, OPEN + 100, 100.0) + [(OPEN + 100, 100.3)])
    book = ex.orderbook_at(TICKER, OPEN + 100)
    assert (book.yes_bids[-1].price, book.best_ask(Side.YES)) == expected_quote(ex, 100.3, 100.0, OPEN + 100)


def noisy_quotes(config: SimConfig) -> list[Decimal]:
    """YES bids for the seconds OPEN+200 .. OPEN+259, asked twice inside each second."""
    ex, clock = make(config)
    drive(ex, clock, flat(OPEN - 120, OPEN + 200, 100.0))
    bids = []
    for second in range(int(OPEN + 200), int(OPEN + 260)):
        drive(ex, clock, [(float(second), 100.0)])
        a = ex.orderbook_at(TICKER, second + 0.1)
        b = ex.orderbook_at(TICKER, second + 0.9)
        assert a.yes_bids == b.yes_bids and a.no_bids == b.no_bids
        bid, ask = a.yes_bids[-1].price, a.best_ask(Side.YES)
        assert ask - bid == Decimal("0.02")
        assert abs((bid + ask) / 2 - Decimal("0.5")) <= Decimal("0.055")  # noise 0.05 + rounding
        bids.append(bid)
    return bids


def test_noise_depends_on_the_seed_and_the_second_only() -> None:
    noisy = SimConfig(lag_s=0, noise=Decimal("0.05"), seed=4, maker_volatility="fixed")
    quotes = noisy_quotes(noisy)
    assert len(set(quotes)) > 3  # it does move
    assert noisy_quotes(noisy) == quotes  # the same seed in a fresh exchange: the same quotes
    assert noisy_quotes(SimConfig(lag_s=0, noise=Decimal("0.05"), seed=5, maker_volatility="fixed")) != quotes


def test_unit_noise() -> None:
    draws = [unit_noise(7, n) for n in range(10_000)]
    assert all(-1.0 <= d < 1.0 for d in draws)
    assert abs(sum(draws) / len(draws)) < 0.03
    assert draws == [unit_noise(7, n) for n in range(10_000)]


def test_book_is_empty_outside_the_window() -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, CLOSE + 2, 100.0))
    assert ex.orderbook_at(TICKER, CLOSE + 1).yes_bids == ()


# -- fees (charged by the paper executor) and settlement against the simulated exchange ---------------


async def test_paper_fill_and_settlement_against_the_simulator(tmp_path: Path) -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN + 5, 100.0))
    db = Database(tmp_path / "sim.db")
    log = TradeLog(tmp_path / "logs", clock)
    executor = PaperExecutor(ex, db, log, clock, lambda intent: Verdict(True))
    intent = OrderIntent(ticker=TICKER, side=Side.YES, count=Decimal("50"), limit_price=Decimal("0.52"),
                         client_order_id="t-1")
    order = await executor.execute(intent)
    # 40 at 0.51, then 10 at 0.52; each fill pays ceil_to_cent(0.07 * C * P * (1 - P)):
    # 0.07 * 40 * 0.51 * 0.49 = 0.69972 -> 0.70 ; 0.07 * 10 * 0.52 * 0.48 = 0.17472 -> 0.18
    assert order.status == "executed" and order.filled_count == Decimal("50")
    assert [(f.count, f.price, f.fee) for f in order.fills] == [
        (Decimal("40"), Decimal("0.51"), Decimal("0.70")), (Decimal("10"), Decimal("0.52"), Decimal("0.18"))
    ]
    results: list[TradeResult] = []
    settler = Settler(ex, db, log, clock, Decimal("100"), results.append)
    drive(ex, clock, flat(OPEN + 5, CLOSE + 2, 100.0))  # ends exactly at the strike: YES (tie)
    report = await settler.settle_due()
    assert [s.outcome for s in report.settled] == ["yes"]
    # payout 50 - cost (40 * 0.51 + 10 * 0.52 = 25.60) - fees 0.88 = 23.52
    # Settled at the close (the result is fixed then), not when the pass booked it (issue 18, defect 7).
    assert results == [TradeResult(ticker=TICKER, pnl=Decimal("23.52"), settled_ts=CLOSE)]
    db.close()


def test_quotes_for_the_past_are_refused_once_their_ticks_are_gone() -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN + 130, 100.0))
    ex.orderbook_at(TICKER, OPEN + 129.5)  # quoting drops the ticks older quotes would need
    with pytest.raises(ValueError, match="before the exchange's time"):
        ex.orderbook_at(TICKER, OPEN + 50.5)


def test_lagged_prices_stay_bounded_without_quotes() -> None:
    ex, clock = make()
    drive(ex, clock, flat(OPEN - 120, OPEN + 6000, 100.0, step=0.5))
    assert len(ex.view) <= 3 * 4096
    assert ex.lagged_price(OPEN + 5999) == 100.0


# -- the maker sees BTC exactly lag_s late, and (by default) the strategy's own volatility -----------


def test_zero_lag_quotes_from_the_latest_tick_even_between_whole_seconds() -> None:
    # The old bar layout put ticks at :00, :19.9997, :39.9993 and :59.999; the maker used to quote
    # whole seconds from ticks at or before floor(t) - lag, so lag 0 still hid up to a second (and,
    # with those ticks, ~20 s). Now it prices the last tick at or before t itself.
    ex, clock = make(SimConfig(lag_s=0, noise=Decimal("0"), spread=Decimal("0.02"), maker_volatility="fixed"))
    drive(ex, clock, flat(OPEN - 120, OPEN + 100, 100.0))
    for ts, price in ((OPEN + 119.9997, 100.3), (OPEN + 139.9993, 99.8), (OPEN + 159.999, 100.5)):
        drive(ex, clock, [(ts, price)])
        assert ex.lagged_price(ts) == price
        book = ex.orderbook_at(TICKER, ts)  # same second as the tick before it: no stale cache either
        assert (book.yes_bids[-1].price, book.best_ask(Side.YES)) == expected_quote(ex, price, 100.0, ts // 1)


def test_a_lag_is_exact_to_the_tick_not_rounded_to_the_second() -> None:
    ex, clock = make(SimConfig(lag_s=5, noise=Decimal("0"), maker_volatility="fixed"))
    drive(ex, clock, flat(OPEN - 120, OPEN + 100, 100.0) + [(OPEN + 100.3, 100.4), (OPEN + 106, 100.4)])
    assert ex.lagged_price(OPEN + 105.29) == 100.0
    assert ex.lagged_price(OPEN + 105.3) == 100.4


def test_measured_maker_volatility_is_the_strategys_own_figure_at_zero_lag() -> None:
    floor = 5e-5
    config = SimConfig(lag_s=0, noise=Decimal("0"), maker_volatility="measured")
    clock = SimClock(OPEN - 120)
    ex = SimExchange(config, clock, volatility_window_s=60.0, min_volatility_per_s=floor)
    strategy_window = RollingWindow("feed", 60.0, 10.0)
    rng = random.Random(3)
    price = 100_000.0
    checked = 0
    for k in range(1200):
        ts = OPEN - 120 + k * 0.7
        price *= 1.0 + rng.gauss(0.0, 4e-4 if k > 600 else 2e-5)  # quiet (floored), then lively
        clock.advance_to(ts)
        ex.on_price(ts, price)
        strategy_window.push(k + 1, ts, price, ts)
        if k % 37 == 0 and ts >= OPEN:
            ex.orderbook_at(TICKER, ts)
            measured = strategy_window.snapshot(ts).volatility
            assert ex.maker_sigma(ts) == max(measured, floor)
            checked += 1
    assert checked > 10 and ex.maker_sigma(clock()) > floor  # both regimes were seen
    fixed = SimExchange(SimConfig(maker_volatility="fixed"), clock)
    assert fixed.maker_sigma(clock()) == fixed.sigma


def test_a_lagged_makers_volatility_is_that_of_the_ticks_it_can_see() -> None:
    rng = random.Random(11)
    ticks: list[tuple[float, float]] = []
    ts, price = OPEN, 100_000.0
    for _ in range(20_000):  # enough to make the view delete old ticks on the way
        ts += rng.choice((0.05, 0.3, 1.0, 2.5))
        price *= 1.0 + rng.gauss(0.0, 2e-4)
        ticks.append((ts, price))
    view = MakerView(lag_s=7.0, window_s=60.0)
    checked = 0
    for k, (t, p) in enumerate(ticks):
        view.on_price(t, p)
        if k % 997 == 0 and k > 0:
            now = t + 0.4
            visible = [(a, b) for a, b in ticks[: k + 1] if a <= now - 7.0]
            expected = RollingWindow("x", 60.0, 10.0)
            for i, (a, b) in enumerate(visible):
                expected.push(i + 1, a, b, a)
            assert view.price(now) == visible[-1][1]
            assert view.volatility(now) == pytest.approx(expected.snapshot(now).volatility, rel=1e-9)
            checked += 1
    assert checked >= 19 and len(view) < 3 * 4096
    with pytest.raises(ValueError, match="before the exchange's time"):
        view.price(ticks[-1][0] - 100.0)
