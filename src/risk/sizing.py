"""Position sizing: bankroll stage, fractional Kelly and every cap, in Decimal, for one signal.

Stake = min of, in this order (the first smallest one is reported as `binding_cap`):
    kelly        kelly_fraction x f* x bankroll       (0.25 x Kelly by default)
    stage_cap    the stage's dollar cap                ($5 / $10 / $15)
    stage_pct    the stage's share of bankroll          (5% / 5% / 4%)
    config_cap   risk.max_single_trade_usd
    config_pct   risk.max_trade_pct_bankroll x bankroll
    hard_cap     HARD_MAX_TRADE_USD (code)
    hard_pct     HARD_MAX_TRADE_PCT x bankroll (code)
rounded down to the cent, then spent on the most whole contracts whose cost at the limit price
PLUS the taker fee on the order fits in it. Fees count against every cap, exactly as the kill
switch counts them (its worst case is count x limit + taker_fee(count, limit)), so a sized
order is never refused for being a cent too large.

Stages by bankroll B: stage 1 when B < $100, stage 2 when $100 <= B < $250, stage 3 when
B >= $250 (a bankroll exactly on a boundary belongs to the higher stage). With the code's
$5.00 hard cap (DECISIONS.md §5) the $10 and $15 stage caps cannot bind until that constant
is raised in code; they are implemented all the same.

Kelly for a binary contract: paying c for a contract that returns $1 with probability p,
f* = (p - c) / (1 - c). We take c = limit price + the one-contract taker fee at that price:
the fee is part of what a contract costs, and the one-contract fee (rounded up to the cent)
is the largest per-contract fee any order size pays, so Kelly is never overstated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from src.config import RiskConfig, SizingConfig
from src.model.fees import fee_per_contract, taker_fee
from src.model.models import CENT, ONE, ZERO, OrderBook, OrderIntent, Signal, new_client_order_id
from src.model.stages import Stage, stage_of
from src.risk.limits import HARD_KELLY_FRACTION, HARD_MAX_TRADE_PCT, HARD_MAX_TRADE_USD

PROB_QUANTUM = Decimal("0.000001")
KELLY_QUANTUM = Decimal("0.000001")


class SizingError(ValueError):
    """Sizing was asked something impossible (negative bankroll, price outside 0..1, ...)."""


@dataclass(frozen=True, slots=True)
class SizingLimits:
    """Every number sizing needs besides the signal and bankroll; the hard_* fields default to code."""

    kelly_fraction: Decimal = HARD_KELLY_FRACTION
    max_single_trade_usd: Decimal = HARD_MAX_TRADE_USD
    max_trade_pct_bankroll: Decimal = HARD_MAX_TRADE_PCT
    hard_max_trade_usd: Decimal = HARD_MAX_TRADE_USD
    hard_max_trade_pct: Decimal = HARD_MAX_TRADE_PCT

    def __post_init__(self) -> None:
        if not ZERO < self.kelly_fraction <= ONE:
            raise SizingError(f"kelly_fraction must be in (0, 1], got {self.kelly_fraction}")
        for name in ("max_single_trade_usd", "hard_max_trade_usd"):
            if getattr(self, name) < 0:
                raise SizingError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_trade_pct_bankroll", "hard_max_trade_pct"):
            if not ZERO <= getattr(self, name) <= ONE:
                raise SizingError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @classmethod
    def from_config(cls, sizing: SizingConfig, risk: RiskConfig) -> SizingLimits:
        """The production limits: config values (already validated as no looser than code) + code caps."""
        return cls(
            kelly_fraction=sizing.kelly_fraction,
            max_single_trade_usd=risk.max_single_trade_usd,
            max_trade_pct_bankroll=risk.max_trade_pct_bankroll,
        )


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """How much to stake on one signal, and which cap decided it."""

    stage: int
    stake_usd: Decimal  # dollars the order may cost, fees included, rounded down to the cent
    contracts: Decimal  # most whole contracts whose cost plus taker fee fits in stake_usd
    binding_cap: str  # kelly | stage_cap | stage_pct | config_cap | config_pct | hard_cap | hard_pct
    kelly_fraction_of_bankroll: Decimal  # full Kelly f* (before the fractional multiplier), >= 0
    cost_per_contract: Decimal  # limit price + one-contract fee: the c in Kelly
    limit_price: Decimal

    @property
    def cost_usd(self) -> Decimal:
        """What the contracts cost at the limit price (fees excluded); with the fee, never above stake_usd."""
        return self.contracts * self.limit_price


def stage_for(bankroll: Decimal) -> Stage:
    """The stage a bankroll is in; boundaries belong to the higher stage."""
    if bankroll < 0:
        raise SizingError(f"bankroll must be >= 0, got {bankroll}")
    return stage_of(bankroll)


def to_probability(p: float | Decimal) -> Decimal:
    """The one float -> Decimal conversion of a model probability, rounded to 6 decimals."""
    prob = p if isinstance(p, Decimal) else Decimal(p)
    if not prob.is_finite() or prob < 0 or prob > 1:
        raise SizingError(f"probability must be in [0, 1], got {p}")
    return prob.quantize(PROB_QUANTUM, rounding=ROUND_HALF_EVEN)


def kelly_fraction(p: Decimal, cost: Decimal) -> Decimal:
    """Full Kelly f* = (p - c) / (1 - c) for a $1 binary contract costing c; 0 when not positive."""
    if cost >= ONE or p <= cost:
        return ZERO
    return ((p - cost) / (ONE - cost)).quantize(KELLY_QUANTUM, rounding=ROUND_DOWN)


def size_position(
    p_fair: float | Decimal,
    limit_price: Decimal,
    bankroll: Decimal,
    limits: SizingLimits = SizingLimits(),  # frozen: a shared default is safe
) -> SizeDecision:
    """Stake and whole contracts for buying at `limit_price` with win probability `p_fair`."""
    if not ZERO < limit_price < ONE:
        raise SizingError(f"limit_price must be strictly between 0 and 1, got {limit_price}")
    stage = stage_for(bankroll)
    prob = to_probability(p_fair)
    cost = limit_price + fee_per_contract(limit_price)
    kelly = kelly_fraction(prob, cost)
    caps = (
        ("kelly", limits.kelly_fraction * kelly * bankroll),
        ("stage_cap", stage.max_bet_usd),
        ("stage_pct", stage.max_pct * bankroll),
        ("config_cap", limits.max_single_trade_usd),
        ("config_pct", limits.max_trade_pct_bankroll * bankroll),
        ("hard_cap", limits.hard_max_trade_usd),
        ("hard_pct", limits.hard_max_trade_pct * bankroll),
    )
    binding, amount = caps[0]
    for name, value in caps[1:]:
        if value < amount:
            binding, amount = name, value
    stake = max(amount, ZERO).quantize(CENT, rounding=ROUND_DOWN)
    contracts = contracts_within(stake, limit_price)
    return SizeDecision(
        stage=stage.number,
        stake_usd=stake,
        contracts=contracts,
        binding_cap=binding,
        kelly_fraction_of_bankroll=kelly,
        cost_per_contract=cost,
        limit_price=limit_price,
    )


def contracts_within(budget: Decimal, limit_price: Decimal) -> Decimal:
    """Most whole contracts with count x price + taker_fee(count, price) <= budget."""
    if budget <= 0:
        return ZERO
    # The fee is at most 1.75c per contract plus a cent of rounding, so the answer is at most a
    # couple of contracts below the fee-free count: step down from there.
    count = (budget / limit_price).to_integral_value(rounding=ROUND_DOWN)
    while count > 0 and count * limit_price + taker_fee(count, limit_price) > budget:
        count -= 1
    return count


def fit_to_book(intent: OrderIntent, book: OrderBook) -> OrderIntent | None:
    """Cap an order at what the book offers at or under its limit (None when nothing is there).

    A fill-or-kill order larger than the offered depth can never fill; re-sending it would only
    burn the kill switch's hourly order budget. Fewer contracts only lowers cost and fee, so the
    capped order stays within every cap the full one met.
    """
    available = sum((lvl.count for lvl in book.asks(intent.side) if lvl.price <= intent.limit_price), ZERO)
    available = available.to_integral_value(rounding=ROUND_DOWN)
    if available <= 0:
        return None
    return intent if available >= intent.count else replace(intent, count=available)


def intent_from_signal(
    signal: Signal,
    bankroll: Decimal,
    limits: SizingLimits = SizingLimits(),  # frozen: a shared default is safe
    client_order_id: str | None = None,
) -> OrderIntent | None:
    """The sized order for a signal, or None when sizing gives zero contracts."""
    decision = size_position(signal.fair_prob, signal.limit_price, bankroll, limits)
    return intent_from_decision(signal, decision, client_order_id)


def intent_from_decision(
    signal: Signal, decision: SizeDecision, client_order_id: str | None = None
) -> OrderIntent | None:
    """Turn an already computed SizeDecision into an OrderIntent (None for zero contracts)."""
    if decision.limit_price != signal.limit_price:
        raise SizingError(f"decision priced at {decision.limit_price}, signal at {signal.limit_price}")
    if decision.contracts <= 0:
        return None
    return OrderIntent(
        ticker=signal.ticker,
        side=signal.side,
        count=decision.contracts,
        limit_price=signal.limit_price,
        client_order_id=client_order_id or new_client_order_id(),
        strategy=signal.strategy,
        fair_prob=signal.fair_prob,
        edge=signal.edge,
    )
