"""Tests for the btc_lag strategy: every condition below, at and above its threshold, and every reason code."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.config import BtcLagConfig
from src.model.models import BookLevel, FeedSnapshot, Market, NoSignal, OrderBook, Side, Signal, utc_from_ts
from src.strategies import base
from src.strategies.base import Strategy, UnknownReasonCode
from src.strategies.btc_lag import (
    MOVE_TOO_SMALL,
    NO_LAG,
    NO_STRIKE,
    BtcLagStrategy,
    confidence_score,
)
from src.strategies.fair_value import prob_settle_at_or_above, settlement_log_variance

NOW = 1_780_000_000.0
STRIKE = Decimal("100000")
TICKER = "KXBTC15M-26MAY281500-00"
D = Decimal


def price_for_fair(p_yes: float, strike: float, sigma: float, seconds_left: float) -> float:
    """The BTC price at which the model gives exactly p_yes (inverts Phi(ln(S/K) / sd))."""
    sd = math.sqrt(settlement_log_variance(sigma, seconds_left))
    return strike * math.exp(NormalDist().inv_cdf(p_yes) * sd)


def make_market(seconds_left: float = 600.0, **changes: Any) -> Market:
    close = NOW + seconds_left
    market = Market(
        ticker=TICKER,
        event_ticker=TICKER.rsplit("-", 1)[0],
        status="active",
        open_time=utc_from_ts(close - 900),
        close_time=utc_from_ts(close),
        floor_strike=STRIKE,
    )
    return replace(market, **changes)


def make_book(yes_ask: Decimal | None, no_ask: Decimal | None, ticker: str = TICKER) -> OrderBook:
    """A book whose best YES ask / NO ask are as given (YES ask = 1 - best NO bid, and back)."""
    no_bids = () if yes_ask is None else (BookLevel(1 - yes_ask - D("0.03"), D("80")), BookLevel(1 - yes_ask, D("25")))
    yes_bids = () if no_ask is None else (BookLevel(1 - no_ask - D("0.02"), D("60")), BookLevel(1 - no_ask, D("30")))
    return OrderBook(ticker=ticker, yes_bids=yes_bids, no_bids=no_bids, fetched_at=NOW)


def make_feed(price: float, move_pct: float = 0.5, volatility: float = 1e-4) -> FeedSnapshot:
    return FeedSnapshot(
        source="binance",
        price=price,
        last_trade_ts=NOW - 0.3,
        window_start_price=price / (1 + move_pct / 100),
        move_pct=move_pct,
        volatility=volatility,
        age_s=0.3,
        stale=False,
        gap_in_window=False,
        ticks_in_window=400,
    )


def evaluate(
    config: BtcLagConfig | None = None,
    *,
    fair_yes: float = 0.70,
    move_pct: float = 0.5,
    seconds_left: float = 600.0,
    yes_ask: Decimal | None = D("0.50"),
    no_ask: Decimal | None = D("0.52"),
    volatility: float = 1e-4,
    market_changes: dict[str, Any] | None = None,
    feed_changes: dict[str, Any] | None = None,
) -> Signal | NoSignal:
    """One evaluation of a scenario where the model's fair P(YES) is exactly `fair_yes` (to 6 dp)."""
    config = config or BtcLagConfig()
    market = make_market(seconds_left, **(market_changes or {}))
    actual_left = market.close_time.timestamp() - NOW
    sigma = max(volatility, config.min_volatility_per_s) if volatility == volatility else config.min_volatility_per_s
    price = price_for_fair(fair_yes, float(STRIKE), sigma, actual_left) if actual_left > 0 else float(STRIKE)
    feed = replace(make_feed(price, move_pct, volatility), **(feed_changes or {}))
    return BtcLagStrategy(config).evaluate(feed, market, make_book(yes_ask, no_ask), NOW)


def code_of(result: Signal | NoSignal) -> str:
    return result.code if isinstance(result, NoSignal) else f"signal:{result.side.value}"


def test_scenario_helper_hits_the_requested_fair_probability() -> None:
    result = evaluate(fair_yes=0.70)
    assert isinstance(result, Signal)
    assert result.fair_prob == 0.7


# --- condition 1: BTC moved MORE than min_move_pct (0.4 %) -----------------------------------


@pytest.mark.parametrize(
    ("move_pct", "fair_yes", "expected"),
    [
        (0.39999, 0.70, MOVE_TOO_SMALL),
        (0.4, 0.70, MOVE_TOO_SMALL),  # equal is not "more than"
        (0.40001, 0.70, "signal:yes"),
        (-0.39999, 0.30, MOVE_TOO_SMALL),
        (-0.4, 0.30, MOVE_TOO_SMALL),
        (-0.40001, 0.30, "signal:no"),  # down move -> NO (fair NO 0.70 vs NO ask 0.52)
        (0.0, 0.70, MOVE_TOO_SMALL),
        (math.nan, 0.70, MOVE_TOO_SMALL),
    ],
)
def test_move_threshold(move_pct: float, fair_yes: float, expected: str) -> None:
    assert code_of(evaluate(move_pct=move_pct, fair_yes=fair_yes)) == expected


# --- condition 3: MORE than min_seconds_left (300 s) remain ----------------------------------


@pytest.mark.parametrize(
    ("seconds_left", "expected"),
    [(299.999, base.TOO_LITTLE_TIME), (300.0, base.TOO_LITTLE_TIME), (300.001, "signal:yes"), (899.0, "signal:yes")],
)
def test_time_left_threshold(seconds_left: float, expected: str) -> None:
    assert code_of(evaluate(seconds_left=seconds_left)) == expected


# --- condition 2: fair - ask MORE than min_gap ($0.05) for the side bought -------------------

NO_EDGE_FLOOR = BtcLagConfig(min_edge=D("0"))


@pytest.mark.parametrize(
    ("fair_yes", "expected"),
    [(0.549999, NO_LAG), (0.55, NO_LAG), (0.550001, "signal:yes"), (0.52, NO_LAG)],
)
def test_gap_threshold(fair_yes: float, expected: str) -> None:
    # YES ask 0.50: gap = fair - 0.50 against min_gap 0.05 (edge floor off to isolate the gap).
    assert code_of(evaluate(NO_EDGE_FLOOR, fair_yes=fair_yes, yes_ask=D("0.50"))) == expected


@pytest.mark.parametrize(
    ("fair_no", "expected"),
    [(0.569999, NO_LAG), (0.57, NO_LAG), (0.570001, "signal:no")],
)
def test_gap_threshold_on_the_no_side(fair_no: float, expected: str) -> None:
    # NO ask 0.52 (best YES bid 0.48): gap = fair NO - 0.52.
    result = evaluate(NO_EDGE_FLOOR, fair_yes=1 - fair_no, move_pct=-0.5, no_ask=D("0.52"))
    assert code_of(result) == expected


# --- condition 4: edge after fee MORE than min_edge (0.08) -----------------------------------


@pytest.mark.parametrize(
    ("fair_yes", "expected"),
    [
        # ask 0.50, fee ceil(0.07 * 0.5 * 0.5 = 0.0175) = 0.02: edge = (p - 0.52) / 0.50.
        (0.559999, base.EDGE_TOO_SMALL),  # 0.079998
        (0.56, base.EDGE_TOO_SMALL),  # (0.56 - 0.52) / 0.5 = 0.08 exactly: not more than
        (0.560001, "signal:yes"),  # 0.080002
    ],
)
def test_edge_threshold(fair_yes: float, expected: str) -> None:
    result = evaluate(fair_yes=fair_yes, yes_ask=D("0.50"))
    assert code_of(result) == expected
    if isinstance(result, Signal):
        assert result.edge == D("0.080002")


# --- max_price: never pay more than it --------------------------------------------------------


@pytest.mark.parametrize(
    ("yes_ask", "expected"),
    [(D("0.5999"), "signal:yes"), (D("0.60"), "signal:yes"), (D("0.6001"), base.PRICE_TOO_HIGH)],
)
def test_max_price_threshold(yes_ask: Decimal, expected: str) -> None:
    config = BtcLagConfig(max_price=D("0.60"))
    assert code_of(evaluate(config, fair_yes=0.90, yes_ask=yes_ask)) == expected


def test_default_max_price_refuses_an_ask_of_96_cents() -> None:
    assert code_of(evaluate(fair_yes=0.999, yes_ask=D("0.96"))) == base.PRICE_TOO_HIGH


# --- price to pay must be below fair ----------------------------------------------------------


@pytest.mark.parametrize(("fair_yes", "yes_ask"), [(0.50, D("0.50")), (0.40, D("0.50")), (0.05, D("0.90"))])
def test_price_not_below_fair(fair_yes: float, yes_ask: Decimal) -> None:
    config = BtcLagConfig(min_gap=D("0"), min_edge=D("0"))
    assert code_of(evaluate(config, fair_yes=fair_yes, yes_ask=yes_ask)) == base.PRICE_NOT_BELOW_FAIR


def test_side_must_agree_with_the_move() -> None:
    # BTC rose, but the price is below the strike: YES is dear (fair 0.20 vs ask 0.50) while NO
    # looks cheap (fair 0.80 vs ask 0.50). Buying NO would bet against the move: not this strategy.
    result = evaluate(fair_yes=0.20, move_pct=0.6, yes_ask=D("0.50"), no_ask=D("0.50"))
    assert isinstance(result, NoSignal)
    assert result.code == base.PRICE_NOT_BELOW_FAIR
    assert result.detail.startswith("yes ask")
    # The same prices after a fall give the NO trade.
    flipped = evaluate(fair_yes=0.20, move_pct=-0.6, yes_ask=D("0.50"), no_ask=D("0.50"))
    assert isinstance(flipped, Signal) and flipped.side is Side.NO


# --- the other "no signal" codes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"feed_changes": {"stale": True}}, base.FEED_STALE),
        ({"feed_changes": {"price": 0.0}}, base.FEED_STALE),
        ({"feed_changes": {"price": math.nan}}, base.FEED_STALE),
        ({"feed_changes": {"gap_in_window": True}}, base.FEED_GAP),
        ({"market_changes": {"status": "closed"}}, base.MARKET_CLOSED),
        ({"market_changes": {"status": "settled"}}, base.MARKET_CLOSED),
        ({"market_changes": {"status": "initialized"}}, base.MARKET_CLOSED),
        ({"market_changes": {"status": "open"}}, "signal:yes"),
        ({"seconds_left": 0.0}, base.MARKET_CLOSED),
        ({"seconds_left": -30.0}, base.MARKET_CLOSED),
        ({"market_changes": {"floor_strike": None}}, NO_STRIKE),
        ({"market_changes": {"floor_strike": D("0")}}, NO_STRIKE),
        ({"market_changes": {"strike_type": "less"}}, NO_STRIKE),
        ({"yes_ask": None, "no_ask": None}, base.BOOK_EMPTY),
        ({"yes_ask": None}, base.BOOK_ONE_SIDED),
        ({"no_ask": None}, base.BOOK_ONE_SIDED),
    ],
)
def test_no_signal_codes(kwargs: dict[str, Any], expected: str) -> None:
    assert code_of(evaluate(**kwargs)) == expected


def test_stale_feed_wins_over_everything_else() -> None:
    result = evaluate(feed_changes={"stale": True, "gap_in_window": True}, yes_ask=None, no_ask=None)
    assert code_of(result) == base.FEED_STALE


def test_disabled_strategy_never_signals() -> None:
    assert code_of(evaluate(BtcLagConfig(enabled=False))) == base.DISABLED


def test_book_for_another_market_is_refused() -> None:
    strategy = BtcLagStrategy(BtcLagConfig())
    feed = make_feed(price_for_fair(0.7, 100_000.0, 1e-4, 600.0))
    result = strategy.evaluate(feed, make_market(), make_book(D("0.5"), D("0.5"), ticker="OTHER-1"), NOW)
    assert code_of(result) == base.BOOK_MISMATCH


def test_a_one_dollar_bid_leaves_no_positive_ask() -> None:
    strategy = BtcLagStrategy(BtcLagConfig())
    feed = make_feed(price_for_fair(0.7, 100_000.0, 1e-4, 600.0))
    book = OrderBook(TICKER, yes_bids=(BookLevel(D("0.40"), D("1")),), no_bids=(BookLevel(D("1.00"), D("1")),))
    assert code_of(strategy.evaluate(feed, make_market(), book, NOW)) == base.BOOK_EMPTY


# --- volatility floor ---------------------------------------------------------------------------


@pytest.mark.parametrize("volatility", [0.0, 1e-6, math.nan])
def test_volatility_is_floored(volatility: float) -> None:
    # evaluate() builds the price with sigma = the floor (5e-5) when the feed's vol is below it;
    # hitting fair 0.70 exactly proves the strategy used the floor too.
    result = evaluate(volatility=volatility, fair_yes=0.70)
    assert isinstance(result, Signal) and result.fair_prob == 0.7


# --- the signal itself --------------------------------------------------------------------------


def test_no_signal_hand_checked() -> None:
    # Fall of 0.6 %, 600 s left, fair NO = 0.90, NO ask 0.60 (best YES bid 0.40).
    # fee(0.60) = ceil(0.07 * 0.60 * 0.40 = 0.0168) = 0.02; edge = (0.90 - 0.60 - 0.02) / 0.60
    # = 0.28 / 0.60 = 0.466666 (rounded down); confidence = 0.466666 / (0.466666 + 0.08)
    # * min(1, 300 / 600) = 0.853658 * 0.5 = 0.426829.
    result = evaluate(fair_yes=0.10, move_pct=-0.6, yes_ask=D("0.58"), no_ask=D("0.60"))
    assert isinstance(result, Signal)
    assert result.side is Side.NO
    assert result.ticker == TICKER
    assert result.fair_prob == 0.9
    assert result.limit_price == D("0.60")
    assert result.edge == D("0.466666")
    assert result.confidence == pytest.approx(0.426829, abs=1e-6)
    assert result.created_at == NOW
    assert result.strategy == "btc_lag"
    assert "fair 0.900000" in result.reason and "ask 0.60" in result.reason


def test_signal_from_realistic_numbers_hand_checked() -> None:
    # BTC 100,400 vs strike 100,000, 480 s left, sigma 1e-4 per sqrt(s): var = 1e-8 * (420 + 20)
    # = 4.4e-6, z = ln(1.004) / 0.0020976 = 1.9031, P(YES) = 0.971488 (6 dp).
    # YES ask 0.85 (best NO bid 0.15): fee ceil(0.07 * 0.85 * 0.15 = 0.008925) = 0.01;
    # edge = (0.971488 - 0.85 - 0.01) / 0.85 = 0.111488 / 0.85 = 0.131162.
    market = make_market(480.0)
    feed = make_feed(100_400.0, move_pct=0.45, volatility=1e-4)
    result = BtcLagStrategy(BtcLagConfig()).evaluate(feed, market, make_book(D("0.85"), D("0.17")), NOW)
    assert isinstance(result, Signal)
    assert result.side is Side.YES
    assert result.fair_prob == 0.971488
    assert result.limit_price == D("0.85")
    assert result.edge == D("0.131162")


def test_limit_price_is_the_best_ask_not_a_deeper_level() -> None:
    result = evaluate(yes_ask=D("0.47"))
    assert isinstance(result, Signal) and result.limit_price == D("0.47")


@pytest.mark.parametrize(
    ("edge", "min_edge", "seconds_left", "expected"),
    [
        (0.08, 0.08, 300.0, 0.5),  # at the threshold, short horizon
        (0.24, 0.08, 300.0, 0.75),  # 0.24 / 0.32
        (0.24, 0.08, 600.0, 0.375),  # halved by the 600 s horizon
        (0.24, 0.08, 900.0, 0.25),
        (0.10, 0.0, 450.0, 2 / 3),  # no edge floor: edge term 1, horizon 300 / 450
        (0.0, 0.08, 300.0, 0.0),
        (-0.1, 0.08, 300.0, 0.0),
    ],
)
def test_confidence_score_hand_values(edge: float, min_edge: float, seconds_left: float, expected: float) -> None:
    assert confidence_score(edge, min_edge, seconds_left) == pytest.approx(expected, abs=1e-12)


# --- API: generate_signal, last_no_signal, reason codes, determinism ---------------------------


def test_generate_signal_exposes_the_reason_for_none() -> None:
    strategy = BtcLagStrategy(BtcLagConfig())
    market = make_market()
    book = make_book(D("0.50"), D("0.52"))
    quiet = make_feed(100_000.0, move_pct=0.1)
    assert strategy.generate_signal(quiet, market, book, NOW) is None
    assert strategy.last_no_signal is not None
    assert strategy.last_no_signal.code == MOVE_TOO_SMALL
    assert "0.100%" in strategy.last_no_signal.detail
    moving = make_feed(price_for_fair(0.7, 100_000.0, 1e-4, 600.0), move_pct=0.5)
    signal = strategy.generate_signal(moving, market, book, NOW)
    assert isinstance(signal, Signal)
    assert strategy.last_no_signal is None


def test_reason_codes_are_a_small_stable_set() -> None:
    assert BtcLagStrategy.REASON_CODES == {
        "disabled",
        "feed_stale",
        "feed_gap",
        "market_closed",
        "book_mismatch",
        "no_strike",
        "too_little_time",
        "move_too_small",
        "book_empty",
        "book_one_sided",
        "price_too_high",
        "price_not_below_fair",
        "no_lag",
        "edge_too_small",
    }


def test_undeclared_reason_code_is_a_programming_error() -> None:
    with pytest.raises(UnknownReasonCode, match="no reason code 'bored'"):
        BtcLagStrategy(BtcLagConfig()).no_signal("bored")


def test_base_strategy_is_generic_over_its_feed() -> None:
    class AlwaysNo(Strategy[str]):
        name = "always_no"

        def evaluate(self, feed: str, market: Market, book: OrderBook, now: float) -> Signal | NoSignal:
            return self.no_signal(base.FEED_STALE, feed)

    strategy = AlwaysNo()
    assert strategy.generate_signal("quiet", make_market(), make_book(D("0.5"), D("0.5")), NOW) is None
    assert strategy.last_no_signal == NoSignal("feed_stale", "quiet")
    with pytest.raises(TypeError):
        Strategy()  # type: ignore[abstract]


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s must be positive"):
        BtcLagStrategy(BtcLagConfig(), window_s=0)


def test_results_do_not_depend_on_history() -> None:
    # The strategy remembers conversions (close time, strike, asks); results must not depend on it.
    cases = [
        (make_feed(price_for_fair(p, 100_000.0, 1e-4, t), move_pct=m), make_market(t), make_book(ya, na))
        for p, m, t, ya, na in [
            (0.70, 0.5, 600.0, D("0.50"), D("0.52")),
            (0.20, -0.7, 450.0, D("0.22"), D("0.60")),
            (0.90, 0.9, 800.0, D("0.80"), D("0.21")),
            (0.56, 0.5, 320.0, D("0.50"), D("0.52")),
        ]
    ]
    shared = BtcLagStrategy(BtcLagConfig())
    for _ in range(3):
        for feed, market, book in cases:
            assert shared.evaluate(feed, market, book, NOW) == BtcLagStrategy(BtcLagConfig()).evaluate(
                feed, market, book, NOW
            )


# --- properties over random snapshots ------------------------------------------------------------

cents = st.integers(min_value=1, max_value=99).map(lambda c: D(c) / 100)


@settings(max_examples=400, deadline=None)
@given(
    move=st.floats(min_value=-2.0, max_value=2.0),
    seconds_left=st.floats(min_value=-60.0, max_value=900.0),
    ratio=st.floats(min_value=0.98, max_value=1.02),
    volatility=st.floats(min_value=0.0, max_value=5e-4),
    yes_bid=cents,
    no_bid=cents,
)
def test_any_snapshot_gives_a_consistent_answer(
    move: float, seconds_left: float, ratio: float, volatility: float, yes_bid: Decimal, no_bid: Decimal
) -> None:
    config = BtcLagConfig()
    strategy = BtcLagStrategy(config)
    market = make_market(seconds_left)
    feed = make_feed(100_000.0 * ratio, move_pct=move, volatility=volatility)
    book = OrderBook(TICKER, yes_bids=(BookLevel(yes_bid, D("5")),), no_bids=(BookLevel(no_bid, D("5")),))
    result = strategy.evaluate(feed, market, book, NOW)
    if isinstance(result, NoSignal):
        assert result.code in BtcLagStrategy.REASON_CODES
        return
    # Every condition held, strictly.
    left = market.close_time.timestamp() - NOW
    assert abs(move) > config.min_move_pct and left > config.min_seconds_left
    assert result.side is (Side.YES if move > 0 else Side.NO)
    assert result.limit_price == book.best_ask(result.side)
    assert result.limit_price <= config.max_price
    fair = D(str(result.fair_prob))
    assert fair - result.limit_price > config.min_gap
    assert result.edge > config.min_edge
    assert 0.0 < result.confidence <= 1.0
    p_yes = prob_settle_at_or_above(feed.price, float(STRIKE), max(volatility, config.min_volatility_per_s), left)
    assert result.fair_prob == pytest.approx(p_yes if result.side is Side.YES else 1 - p_yes, abs=1e-6)


# --- precheck: the same screening rule as evaluate(), on the raw feed values -------------------

EXACT_STAGE_CODES = {base.PRICE_NOT_BELOW_FAIR, NO_LAG, base.EDGE_TOO_SMALL}
prices = st.one_of(
    st.floats(min_value=95_000.0, max_value=105_000.0), st.sampled_from([0.0, -1.0, math.nan, math.inf])
)
moves = st.one_of(st.floats(min_value=-1.5, max_value=1.5), st.sampled_from([0.4, -0.4, math.nan]))
bids = st.lists(st.integers(min_value=1, max_value=100), max_size=2).map(
    lambda cs: tuple(BookLevel(D(c) / 100, D("5")) for c in sorted(cs))
)
SHARED_STRATEGY = BtcLagStrategy(BtcLagConfig())  # caches and leftovers across many examples


@settings(max_examples=600, deadline=None)
@given(
    enabled=st.sampled_from([True, True, True, False]),
    stale=st.sampled_from([False, False, False, True]),
    price=prices,
    gap=st.sampled_from([False, False, False, True]),
    move=moves,
    volatility=st.one_of(st.floats(min_value=0.0, max_value=5e-4), st.just(math.nan)),
    status=st.sampled_from(["active", "active", "open", "closed", "initialized"]),
    strike=st.sampled_from([STRIKE, STRIKE, D("99500"), D("0"), None]),
    strike_type=st.sampled_from(["greater_or_equal", "greater_or_equal", "less"]),
    seconds_left=st.floats(min_value=-60.0, max_value=900.0),
    yes_bids=bids,
    no_bids=bids,
    other_book=st.sampled_from([False, False, False, True]),
)
def test_precheck_agrees_with_evaluate(
    enabled: bool, stale: bool, price: float, gap: bool, move: float, volatility: float, status: str,
    strike: Decimal | None, strike_type: str, seconds_left: float, yes_bids: tuple[BookLevel, ...],
    no_bids: tuple[BookLevel, ...], other_book: bool,
) -> None:
    config = BtcLagConfig(enabled=enabled)
    market = make_market(seconds_left, status=status, floor_strike=strike, strike_type=strike_type)
    book = OrderBook("OTHER-1" if other_book else TICKER, yes_bids=yes_bids, no_bids=no_bids, fetched_at=NOW)
    feed = replace(make_feed(price, move_pct=move, volatility=volatility), stale=stale, gap_in_window=gap)
    raw = (feed.stale, feed.price, feed.gap_in_window, feed.move_pct, feed.volatility)
    for strategy in (BtcLagStrategy(config), SHARED_STRATEGY if enabled else BtcLagStrategy(config)):
        code = strategy.precheck(*raw, market, book, NOW)
        result = strategy.evaluate(feed, market, book, NOW)
        if code is not None:
            # A refusal of the screening: evaluate() refuses with the same code.
            assert isinstance(result, NoSignal) and result.code == code
        else:
            # Screening passed: only evaluate()'s exact Decimal stage may still refuse.
            assert isinstance(result, Signal) or result.code in EXACT_STAGE_CODES
        # Asking the pre-check first never changes what evaluate() then says.
        assert strategy.evaluate(feed, market, book, NOW) == BtcLagStrategy(config).evaluate(feed, market, book, NOW)


def test_precheck_names_the_first_refusal_in_evaluates_order() -> None:
    strategy = BtcLagStrategy(BtcLagConfig())
    market, book = make_market(), make_book(D("0.50"), D("0.52"))
    price = price_for_fair(0.70, 100_000.0, 1e-4, 600.0)
    assert strategy.precheck(True, price, True, 0.1, 1e-4, market, book, NOW) == base.FEED_STALE
    assert strategy.precheck(False, price, True, 0.1, 1e-4, market, book, NOW) == base.FEED_GAP
    assert strategy.precheck(False, price, False, 0.1, 1e-4, make_market(200.0), book, NOW) == base.TOO_LITTLE_TIME
    assert strategy.precheck(False, price, False, 0.1, 1e-4, market, book, NOW) == MOVE_TOO_SMALL
    high = make_book(D("0.97"), D("0.04"))
    assert strategy.precheck(False, price, False, 0.5, 1e-4, market, high, NOW) == base.PRICE_TOO_HIGH
    assert strategy.precheck(False, price, False, 0.5, 1e-4, market, book, NOW) is None
    assert isinstance(strategy.evaluate(make_feed(price, 0.5), market, book, NOW), Signal)


def test_benchmark_runs_its_scenarios() -> None:
    # The benchmark checks that each scenario takes the path it claims; timings are not asserted
    # here (shared CI machines), only that they were measured.
    from bench.bench_signal import run

    report = run(quick=True)
    for name in ("signal", "no_signal_move", "no_signal_no_lag", "size_position", "intent_from_signal"):
        assert report[name]["calls"] == 3_000
        assert 0 < report[name]["median_ns"] <= report[name]["p99_ns"]
    assert report["target_median_ns"] == 10_000
