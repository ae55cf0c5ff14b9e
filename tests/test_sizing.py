"""Tests for position sizing: stages, fractional Kelly, every cap, and the OrderIntent it produces."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.config import AppConfig, RiskConfig, SizingConfig
from src.model.fees import fee_per_contract, taker_fee
from src.model.models import BookLevel, OrderBook, OrderIntent, Side, Signal
from src.model.stages import STAGES
from src.risk.limits import HARD_MAX_TRADE_USD
from src.risk.sizing import (
    SizeDecision,
    SizingError,
    SizingLimits,
    fit_to_book,
    intent_from_decision,
    intent_from_signal,
    kelly_fraction,
    size_position,
    stage_for,
    to_probability,
)

D = Decimal
# Limits with the code's $5 cap lifted, so the $10 / $15 stage caps can be seen binding
# (DECISIONS.md §5: in production they are inert until HARD_MAX_TRADE_USD is raised in code).
LIFTED = SizingLimits(max_single_trade_usd=D("100"), hard_max_trade_usd=D("100"))


@pytest.mark.parametrize(
    ("bankroll", "stage"),
    [
        (D("0"), 1),
        (D("20"), 1),
        (D("99.99"), 1),
        (D("100"), 2),  # a boundary belongs to the higher stage
        (D("100.01"), 2),
        (D("249.99"), 2),
        (D("250"), 3),
        (D("250.01"), 3),
        (D("100000"), 3),
    ],
)
def test_stage_boundaries(bankroll: Decimal, stage: int) -> None:
    assert stage_for(bankroll).number == stage


def test_a_larger_bankroll_never_gets_a_smaller_stake() -> None:
    """Crossing into a higher stage must never shrink the bet (with the code's $5 cap lifted, so the stages bind)."""
    stakes = [size_position(0.99, D("0.50"), D(cents) / 100, LIFTED).stake_usd for cents in range(0, 60_001, 50)]
    assert all(a <= b for a, b in zip(stakes, stakes[1:], strict=False))
    edges = [s.min_bankroll for s in STAGES[1:]]
    for edge in edges:  # both sides of each boundary are sized, and the boundary belongs to the higher stage
        assert stage_for(edge - D("0.01")).number + 1 == stage_for(edge).number


def test_negative_bankroll_is_refused() -> None:
    with pytest.raises(SizingError, match="bankroll must be >= 0"):
        stage_for(D("-0.01"))


@pytest.mark.parametrize(
    ("p", "cost", "expected"),
    [
        (D("0.8"), D("0.62"), D("0.473684")),  # 0.18 / 0.38 = 0.4736842...
        (D("0.6"), D("0.52"), D("0.166666")),  # 0.08 / 0.48 = 0.1666...
        (D("0.9"), D("0.5"), D("0.8")),  # 0.4 / 0.5
        (D("0.52"), D("0.52"), D("0")),  # no edge: no bet
        (D("0.4"), D("0.52"), D("0")),  # negative Kelly: no bet
        (D("1"), D("1"), D("0")),  # cost of a whole dollar: nothing to win
    ],
)
def test_kelly_fraction_hand_values(p: Decimal, cost: Decimal, expected: Decimal) -> None:
    assert kelly_fraction(p, cost) == expected


def test_probability_conversion_is_quantized_once() -> None:
    assert to_probability(0.1234564) == D("0.123456")
    assert to_probability(0.1234566) == D("0.123457")
    assert to_probability(0.9) == D("0.900000")
    assert to_probability(D("0.5")) == D("0.500000")
    for bad in (-0.01, 1.01, float("nan"), float("inf")):
        with pytest.raises(SizingError, match="probability must be in"):
            to_probability(bad)


@pytest.mark.parametrize(
    ("p", "price", "bankroll", "limits", "stage", "stake", "contracts", "binding"),
    [
        # c = 0.60 + fee 0.02 = 0.62; f* = 0.473684; Kelly stake 0.25 * 0.473684 * 60 = 7.11;
        # stage 1 pct 5% of 60 = 3.00 binds; 5 contracts would cost 3.00 + fee 0.09: 4 contracts
        # (2.40 + fee ceil(0.0672) = 0.07 = 2.47).
        (0.8, D("0.60"), D("60"), SizingLimits(), 1, D("3.00"), D("4"), "stage_pct"),
        # c = 0.52, f* = 0.166666; Kelly 0.25 * 0.166666 * 50 = 2.0833 -> 2.08 < 5% (2.50);
        # 4 contracts cost 2.00 + fee ceil(0.07) = 2.07 <= 2.08.
        (0.6, D("0.50"), D("50"), SizingLimits(), 1, D("2.08"), D("4"), "kelly"),
        # Stage 2 at $200: stage cap 10, 5% = 10, but config and code cap at 5.00. The first
        # smallest cap in the documented order (config_cap before hard_cap) is reported.
        # 10 contracts: 5.00 + 0.18 fee > 5.00; 9: 4.50 + 0.16 = 4.66.
        (0.9, D("0.50"), D("200"), SizingLimits(), 2, D("5.00"), D("9"), "config_cap"),
        # $99: stage 1, 5% = 4.95 below the $5 caps; 11 x 0.45 = 4.95 leaves no room for the
        # fee; 10 contracts: 4.50 + ceil(0.17325) = 0.18 -> 4.68.
        (0.9, D("0.45"), D("99"), SizingLimits(), 1, D("4.95"), D("10"), "stage_pct"),
        # With the $5 cap lifted: stage 2 at $200 -> $10.00 stage cap (ties with 5% = 10);
        # 19 contracts: 9.50 + ceil(0.3325) = 0.34 -> 9.84.
        (0.9, D("0.50"), D("200"), LIFTED, 2, D("10.00"), D("19"), "stage_cap"),
        # Stage 3 at $1000: 4% = 40, config/hard pct 5% = 50, Kelly 0.25 * 0.8 * 1000 = 200
        # (c = 0.52, f* = 0.38 / 0.48 = 0.791666 -> 197.91); $15 stage cap binds; 29 contracts
        # cost 14.50 + 0.51 = 15.01 > 15; 28: 14.00 + 0.49 = 14.49.
        (0.9, D("0.50"), D("1000"), LIFTED, 3, D("15.00"), D("28"), "stage_cap"),
        # Stage 3 at $300: 4% = 12.00 < $15 stage cap; 17 x 0.70 = 11.90 + fee > 12;
        # 16: 11.20 + ceil(0.2352) = 0.24 -> 11.44.
        (0.99, D("0.70"), D("300"), LIFTED, 3, D("12.00"), D("16"), "stage_pct"),
        # Zero Kelly: p 0.5 against c = 0.52 -> nothing.
        (0.5, D("0.50"), D("60"), SizingLimits(), 1, D("0.00"), D("0"), "kelly"),
        # Config tighter than code: max_single_trade_usd 2.00 binds; 4 contracts: 1.60 + 0.07.
        (0.9, D("0.40"), D("90"), SizingLimits(max_single_trade_usd=D("2.00")), 1, D("2.00"), D("4"), "config_cap"),
        # Config pct 1% of 90 = 0.90 -> 2 contracts at 0.40 (0.80 spent).
        (0.9, D("0.40"), D("90"), SizingLimits(max_trade_pct_bankroll=D("0.01")), 1, D("0.90"), D("2"), "config_pct"),
        # Kelly fraction 0.1: c = 0.42, f* = 0.48 / 0.58 = 0.827586, 0.1 * f* * 30 = 2.48; the
        # stage's 5% of 30 = 1.50 is lower and binds; 1.50 / 0.40 = 3.75 -> 3 contracts.
        (0.9, D("0.40"), D("30"), SizingLimits(kelly_fraction=D("0.1")), 1, D("1.50"), D("3"), "stage_pct"),
    ],
)
def test_size_position_hand_values(
    p: float,
    price: Decimal,
    bankroll: Decimal,
    limits: SizingLimits,
    stage: int,
    stake: Decimal,
    contracts: Decimal,
    binding: str,
) -> None:
    decision = size_position(p, price, bankroll, limits)
    assert (decision.stage, decision.stake_usd, decision.contracts, decision.binding_cap) == (
        stage,
        stake,
        contracts,
        binding,
    )
    assert decision.cost_usd == contracts * price
    assert decision.cost_usd <= decision.stake_usd


def test_kelly_cost_includes_the_one_contract_fee() -> None:
    decision = size_position(0.8, D("0.60"), D("60"))
    assert decision.cost_per_contract == D("0.62")
    assert decision.kelly_fraction_of_bankroll == D("0.473684")


def test_production_hard_cap_makes_stage_caps_inert() -> None:
    # Even a huge edge on a big bankroll stops at the code's $5.00 (DECISIONS.md §5).
    decision = size_position(0.99, D("0.10"), D("10000"))
    assert decision.stage == 3
    assert decision.stake_usd == HARD_MAX_TRADE_USD
    # 50 x 0.10 = 5.00 leaves no room for the fee; 47: 4.70 + ceil(0.2961) = 0.30 -> exactly 5.00.
    assert decision.contracts == D("47")


def test_hard_cap_binds_when_config_is_looser_than_code() -> None:
    limits = SizingLimits(max_single_trade_usd=D("50"), hard_max_trade_usd=D("5.00"))
    assert size_position(0.95, D("0.50"), D("10000"), limits).binding_cap == "hard_cap"
    pct = SizingLimits(max_trade_pct_bankroll=D("0.05"), hard_max_trade_pct=D("0.02"))
    decision = size_position(0.95, D("0.50"), D("100"), pct)
    assert (decision.binding_cap, decision.stake_usd) == ("hard_pct", D("2.00"))


@pytest.mark.parametrize("price", [D("0"), D("1"), D("-0.1"), D("1.5")])
def test_limit_price_outside_zero_one_is_refused(price: Decimal) -> None:
    with pytest.raises(SizingError, match="limit_price must be strictly between 0 and 1"):
        size_position(0.9, price, D("100"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kelly_fraction": D("0")}, "kelly_fraction"),
        ({"kelly_fraction": D("1.5")}, "kelly_fraction"),
        ({"max_single_trade_usd": D("-1")}, "max_single_trade_usd"),
        ({"hard_max_trade_usd": D("-1")}, "hard_max_trade_usd"),
        ({"max_trade_pct_bankroll": D("1.2")}, "max_trade_pct_bankroll"),
        ({"hard_max_trade_pct": D("-0.1")}, "hard_max_trade_pct"),
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, Decimal], message: str) -> None:
    with pytest.raises(SizingError, match=message):
        SizingLimits(**kwargs)


def test_limits_from_config() -> None:
    app = AppConfig(
        sizing=SizingConfig(kelly_fraction=D("0.2")),
        risk=RiskConfig(max_single_trade_usd=D("3.00"), max_trade_pct_bankroll=D("0.04")),
    )
    limits = SizingLimits.from_config(app.sizing, app.risk)
    assert limits == SizingLimits(
        kelly_fraction=D("0.2"),
        max_single_trade_usd=D("3.00"),
        max_trade_pct_bankroll=D("0.04"),
        hard_max_trade_usd=D("5.00"),
        hard_max_trade_pct=D("0.05"),
    )


# --- OrderIntent ---------------------------------------------------------------------------------


def make_signal(fair_prob: float = 0.8, price: Decimal = D("0.60")) -> Signal:
    return Signal(
        ticker="KXBTC15M-26MAY281500-00",
        side=Side.NO,
        fair_prob=fair_prob,
        limit_price=price,
        edge=D("0.29"),
        confidence=0.4,
        reason="test",
        created_at=1_780_000_000.0,
    )


def test_intent_from_signal_copies_the_signal_and_sizes_it() -> None:
    intent = intent_from_signal(make_signal(), D("60"), client_order_id="cid-1")
    assert intent is not None
    assert (intent.ticker, intent.side, intent.count, intent.limit_price) == (
        "KXBTC15M-26MAY281500-00",
        Side.NO,
        D("4"),
        D("0.60"),
    )
    assert intent.client_order_id == "cid-1"
    assert (intent.strategy, intent.fair_prob, intent.edge) == ("btc_lag", 0.8, D("0.29"))
    assert intent.max_cost == D("2.40")  # + fee 0.07 = 2.47 within the 3.00 stake


def test_intent_gets_a_fresh_client_order_id_when_none_is_given() -> None:
    first = intent_from_signal(make_signal(), D("60"))
    second = intent_from_signal(make_signal(), D("60"))
    assert first is not None and second is not None
    # models.new_client_order_id: "pb" + 32 hex digits (random uuid4 bits, not UUID-shaped).
    assert re.fullmatch(r"pb[0-9a-f]{32}", first.client_order_id)
    assert first.client_order_id != second.client_order_id


@pytest.mark.parametrize(
    ("fair_prob", "bankroll"),
    [(0.5, D("60")), (0.8, D("5")), (0.8, D("0"))],  # no Kelly edge; stake 0.25 < one contract; broke
)
def test_no_intent_when_zero_contracts(fair_prob: float, bankroll: Decimal) -> None:
    assert intent_from_signal(make_signal(fair_prob), bankroll) is None


def test_intent_from_decision_refuses_a_decision_for_another_price() -> None:
    decision = size_position(0.8, D("0.55"), D("60"))
    with pytest.raises(SizingError, match="decision priced at 0.55"):
        intent_from_decision(make_signal(), decision)


# --- properties ----------------------------------------------------------------------------------

probabilities = st.integers(min_value=0, max_value=1_000_000).map(lambda n: n / 1_000_000)
prices = st.integers(min_value=1, max_value=99).map(lambda c: D(c) / 100)
bankrolls = st.integers(min_value=0, max_value=5_000_00).map(lambda c: D(c) / 100)
money = st.integers(min_value=0, max_value=50_00).map(lambda c: D(c) / 100)
pcts = st.integers(min_value=0, max_value=100).map(lambda n: D(n) / 1000)
limit_sets = st.builds(
    SizingLimits,
    kelly_fraction=st.sampled_from([D("0.05"), D("0.1"), D("0.25"), D("0.5"), D("1")]),
    max_single_trade_usd=money,
    max_trade_pct_bankroll=pcts,
    hard_max_trade_usd=money,
    hard_max_trade_pct=pcts,
)


def _caps(decision: SizeDecision, bankroll: Decimal, limits: SizingLimits) -> list[Decimal]:
    stage = stage_for(bankroll)
    return [
        stage.max_bet_usd,
        stage.max_pct * bankroll,
        limits.max_single_trade_usd,
        limits.max_trade_pct_bankroll * bankroll,
        limits.hard_max_trade_usd,
        limits.hard_max_trade_pct * bankroll,
        limits.kelly_fraction * decision.kelly_fraction_of_bankroll * bankroll,
    ]


@settings(max_examples=500, deadline=None)
@given(p=probabilities, price=prices, bankroll=bankrolls, limits=limit_sets)
def test_stake_never_exceeds_any_cap_and_is_never_negative(
    p: float, price: Decimal, bankroll: Decimal, limits: SizingLimits
) -> None:
    decision = size_position(p, price, bankroll, limits)
    assert decision.stake_usd >= 0
    assert decision.contracts >= 0
    assert decision.contracts == decision.contracts.to_integral_value()
    for cap in _caps(decision, bankroll, limits):
        assert decision.stake_usd <= cap
    # The order, fee included, fits the stake (as the kill switch counts it), and one more
    # contract would not: rounded down by exactly what the fee forces, no more.
    n = decision.contracts
    assert decision.cost_usd + taker_fee(n, price) <= decision.stake_usd
    assert (n + 1) * price + taker_fee(n + 1, price) > decision.stake_usd
    # Kelly as documented: c includes the one-contract fee; no bet without a positive Kelly.
    cost = price + fee_per_contract(price)
    assert decision.cost_per_contract == cost
    if to_probability(p) <= cost:
        assert decision.contracts == 0 and decision.stake_usd == 0


@settings(max_examples=500, deadline=None)
@given(p1=probabilities, p2=probabilities, price=prices, bankroll=bankrolls, limits=limit_sets)
def test_stake_never_decreases_as_edge_grows(
    p1: float, p2: float, price: Decimal, bankroll: Decimal, limits: SizingLimits
) -> None:
    low, high = sorted((p1, p2))
    small = size_position(low, price, bankroll, limits)
    large = size_position(high, price, bankroll, limits)
    assert small.stake_usd <= large.stake_usd
    assert small.contracts <= large.contracts
    assert small.kelly_fraction_of_bankroll <= large.kelly_fraction_of_bankroll


def _book(no_bids: list[tuple[str, str]]) -> OrderBook:
    levels = tuple(BookLevel(D(p), D(c)) for p, c in no_bids)
    return OrderBook("T", (BookLevel(D("0.30"), D("100")),), levels)


def _intent(count: str, limit: str) -> OrderIntent:
    return OrderIntent("T", Side.YES, D(count), D(limit), "pb1")


def test_fit_to_book_caps_at_depth_within_the_limit() -> None:
    # YES asks are 1 - NO bids: 0.45 x 5 (best) and 0.47 x 8 behind it.
    book = _book([("0.53", "8"), ("0.55", "5")])
    assert fit_to_book(_intent("3", "0.45"), book) == _intent("3", "0.45")  # fits: unchanged
    assert fit_to_book(_intent("12", "0.45"), book).count == D("5")  # only 5 at or under 0.45
    assert fit_to_book(_intent("12", "0.47"), book).count == D("12")  # 5 + 8 = 13 >= 12
    assert fit_to_book(_intent("20", "0.47"), book).count == D("13")
    assert fit_to_book(_intent("5", "0.44"), book) is None  # nothing offered that cheap
    assert fit_to_book(_intent("5", "0.50"), _book([])) is None
