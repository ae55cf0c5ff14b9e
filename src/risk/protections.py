"""The kill switch's rules: one small class per hard stop, each refusing with a reason code or passing."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from src.config import RiskConfig
from src.model.fees import taker_fee
from src.model.models import CENT, ONE, ZERO, OrderIntent, Verdict, bankroll_from, usd, utc_day_number

RATE_WINDOW_S = 3_600.0

ALLOWED = Verdict(True, "ok", "")


class TradingState(StrEnum):
    """What the kill switch lets through, most permissive first (NautilusTrader-style trading states)."""

    ACTIVE = "active"  # orders allowed (each still checked for size)
    RATE_PAUSED = "rate_paused"  # too many orders in the last hour: wait for the oldest to leave the window
    COOLING = "cooling"  # after a losing streak: automatic resume when the cooling period ends
    DAILY_HALTED = "daily_halted"  # today's loss limit reached: resumes at 00:00 UTC
    HALTED = "halted"  # consecutive auth failures: resumes after an authentication succeeds
    HARD_STOPPED = "hard_stopped"  # manual reset required (python main.py --reset-killswitch)


class Reason(StrEnum):
    """Every refusal's reason code. Stable strings: they go to the database and the dashboard."""

    OK = "ok"
    LOCK_PRESENT = "lock_present"
    TOTAL_LOSS = "total_loss"
    BANKROLL_FLOOR = "bankroll_floor"
    AUTH_HALT = "auth_halt"
    DAILY_LOSS = "daily_loss"
    COOLING = "cooling"
    RATE_LIMIT = "rate_limit"
    INVALID_ORDER = "invalid_order"
    TRADE_TOO_LARGE = "trade_too_large"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The limits in the units the rules compare against, resolved once from RiskConfig."""

    max_trade_usd: Decimal
    max_trade_pct: Decimal
    daily_loss_usd: Decimal
    max_consecutive_losses: int
    cooling_s: float
    max_orders_per_hour: int
    max_auth_failures: int
    total_loss_usd: Decimal
    min_bankroll_usd: Decimal

    @classmethod
    def from_config(cls, risk: RiskConfig, starting_bankroll: Decimal) -> Thresholds:
        return cls(
            max_trade_usd=risk.max_single_trade_usd,
            max_trade_pct=risk.max_trade_pct_bankroll,
            daily_loss_usd=risk.daily_loss_pct * starting_bankroll,
            max_consecutive_losses=risk.max_consecutive_losses,
            cooling_s=float(risk.cooling_hours * 3600),
            max_orders_per_hour=risk.max_trades_per_hour,
            max_auth_failures=risk.max_auth_failures,
            total_loss_usd=risk.total_loss_pct * starting_bankroll,
            min_bankroll_usd=risk.min_bankroll_usd,
        )


@dataclass(slots=True)
class RiskState:
    """Everything the rules read, kept in memory so a check never touches the database."""

    starting_bankroll: Decimal
    realized_pnl: Decimal = ZERO  # all settled trades of this mode
    loss_since_reset: Decimal = ZERO  # minus the P&L settled since the last --reset-killswitch
    reset_ts: float | None = None
    daily_pnl: dict[int, Decimal] = field(default_factory=dict)  # UTC day number -> settled P&L
    loss_streak: int = 0
    cooling_until: float = 0.0
    orders: deque[tuple[float, str]] = field(default_factory=deque)  # (submitted ts, client id), oldest first
    order_ids: set[str] = field(default_factory=set)
    auth_failures: int = 0
    hard_stop: Reason | None = None
    hard_stop_detail: str = ""
    # Derived from the figures above by refresh_money(); cached because every check reads them.
    bankroll: Decimal = ZERO
    trade_cap: Decimal = ZERO

    def refresh_money(self, th: Thresholds) -> None:
        # DECISIONS §5: starting bankroll plus realised P&L of this mode's trades.
        self.bankroll = bankroll_from(self.starting_bankroll, self.realized_pnl)
        self.trade_cap = trade_cap(th, self.bankroll)

    def today_pnl(self, now: float) -> Decimal:
        return self.daily_pnl.get(utc_day_number(now), ZERO)

    def prune_orders(self, now: float) -> int:
        """Drop orders that have left the sliding hour; returns how many remain."""
        orders = self.orders
        while orders and now - orders[0][0] >= RATE_WINDOW_S:
            self.order_ids.discard(orders.popleft()[1])
        return len(orders)


def worst_case_cost(order: OrderIntent) -> Decimal:
    """Most the order can cost: every contract filled at the limit, plus the taker fee on that.

    Fees count, as a careful trader would count them. Contract cost plus fee rises with the
    fill price (d/dp [p + 0.07 p (1 - p)] > 0), so filling at the limit is the worst case.
    """
    return order.count * order.limit_price + taker_fee(order.count, order.limit_price)


def trade_cap(th: Thresholds, bankroll: Decimal) -> Decimal:
    """The lower of the fixed dollar cap and the percentage of the current bankroll."""
    pct_cap = th.max_trade_pct * bankroll
    return pct_cap if pct_cap < th.max_trade_usd else th.max_trade_usd


def _usd(value: Decimal) -> str:
    """Dollars to the cent, or exactly when the figure has more places (never round across a limit)."""
    return usd(value) if value.quantize(CENT) == value else f"${value:f}"


# -- rules on the state (no order needed) ----------------------------------------------------------


class StateRule(ABC):
    """A condition on the risk state that, while it holds, refuses every order."""

    reason: Reason
    state: TradingState
    hard: bool = False  # a hard stop is sticky and needs a manual reset
    start_kind: str = ""  # kill_switch_events kinds recorded when the condition starts / ends
    end_kind: str = ""

    @abstractmethod
    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        """None while the condition does not hold; otherwise the refusal."""

    def start_detail(self, s: RiskState) -> dict[str, object]:
        """Extra figures for the start event that a restart needs to rebuild this condition."""
        return {}


class HardStoppedRule(StateRule):
    """Once hard-stopped, nothing passes until a manual reset and a restart."""

    reason = Reason.LOCK_PRESENT  # overridden per refusal by the stored hard-stop reason
    state = TradingState.HARD_STOPPED
    hard = True

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        if s.hard_stop is None:
            return None
        return Verdict(False, s.hard_stop.value, s.hard_stop_detail)


class LockFileRule(StateRule):
    """kill_switch.lock on disk (from this or another process) refuses everything."""

    reason = Reason.LOCK_PRESENT
    state = TradingState.HARD_STOPPED
    hard = True

    def __init__(self, lock_file: Path) -> None:
        self._path = str(lock_file)

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        if not os.path.lexists(self._path):
            return None
        return Verdict(False, self.reason.value, f"{self._path} exists: run python main.py --reset-killswitch")


class TotalLossRule(StateRule):
    """Loss above total_loss_pct of the starting bankroll: HARD STOP."""

    reason = Reason.TOTAL_LOSS
    state = TradingState.HARD_STOPPED
    hard = True

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        if s.loss_since_reset <= th.total_loss_usd:
            return None
        return Verdict(
            False,
            self.reason.value,
            f"total loss {_usd(s.loss_since_reset)} exceeds {_usd(th.total_loss_usd)} "
            f"(the limit's share of the starting bankroll {_usd(s.starting_bankroll)})",
        )


class BankrollFloorRule(StateRule):
    """Bankroll below min_bankroll_usd: HARD STOP."""

    reason = Reason.BANKROLL_FLOOR
    state = TradingState.HARD_STOPPED
    hard = True

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        bankroll = s.bankroll
        if bankroll >= th.min_bankroll_usd:
            return None
        return Verdict(
            False, self.reason.value, f"bankroll {_usd(bankroll)} is below the floor {_usd(th.min_bankroll_usd)}"
        )


class AuthHaltRule(StateRule):
    """Consecutive authentication failures: halt until an authentication succeeds."""

    reason = Reason.AUTH_HALT
    state = TradingState.HALTED
    start_kind = "auth_halt"
    end_kind = "auth_resume"

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        if s.auth_failures < th.max_auth_failures:
            return None
        return Verdict(
            False, self.reason.value, f"{s.auth_failures} consecutive authentication failures: see BLOCKERS.md"
        )


class DailyLossRule(StateRule):
    """Today's (UTC) loss above daily_loss_pct of the starting bankroll: no more trades until 00:00 UTC."""

    reason = Reason.DAILY_LOSS
    state = TradingState.DAILY_HALTED
    start_kind = "daily_halt"
    end_kind = "daily_resume"

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        today = s.today_pnl(now)
        if -today <= th.daily_loss_usd:
            return None
        return Verdict(
            False,
            self.reason.value,
            f"today's loss {_usd(-today)} exceeds {_usd(th.daily_loss_usd)}: trading resumes at 00:00 UTC",
        )


class CoolingRule(StateRule):
    """A losing streak started a cooling period: automatic resume when it ends."""

    reason = Reason.COOLING
    state = TradingState.COOLING
    start_kind = "cooling_start"
    end_kind = "cooling_end"

    def start_detail(self, s: RiskState) -> dict[str, object]:
        return {"until": s.cooling_until}

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        if now >= s.cooling_until:
            return None
        return Verdict(
            False,
            self.reason.value,
            f"cooling after {s.loss_streak} consecutive losses; resumes in {s.cooling_until - now:.0f}s",
        )


class HourlyRateRule(StateRule):
    """The sliding last hour already holds max_trades_per_hour orders: wait for room."""

    reason = Reason.RATE_LIMIT
    state = TradingState.RATE_PAUSED
    start_kind = "rate_pause"
    end_kind = "rate_resume"

    def check(self, s: RiskState, th: Thresholds, now: float) -> Verdict | None:
        if s.prune_orders(now) < th.max_orders_per_hour:
            return None
        room_in = s.orders[0][0] + RATE_WINDOW_S - now
        return Verdict(
            False,
            self.reason.value,
            f"{len(s.orders)} orders in the last hour (limit {th.max_orders_per_hour}); room in {room_in:.0f}s",
        )


# -- rules on one order ------------------------------------------------------------------------------


class OrderRule(ABC):
    """A check of one order against the current state."""

    reason: Reason

    @abstractmethod
    def check(self, s: RiskState, th: Thresholds, order: OrderIntent) -> Verdict | None:
        """None if the order passes this rule; otherwise the refusal."""


class ValidOrderRule(OrderRule):
    """Only whole, positive Decimal counts at a Decimal price strictly between 0 and 1."""

    reason = Reason.INVALID_ORDER

    def check(self, s: RiskState, th: Thresholds, order: OrderIntent) -> Verdict | None:
        count, price = order.count, order.limit_price
        if not (isinstance(count, Decimal) and isinstance(price, Decimal)):
            return Verdict(False, self.reason.value, "count and limit_price must be Decimal")
        if not (count.is_finite() and price.is_finite()):
            return Verdict(False, self.reason.value, "count and limit_price must be finite")
        if count <= ZERO or count != count.to_integral_value():
            return Verdict(False, self.reason.value, f"count must be a whole number of contracts > 0, got {count}")
        if not ZERO < price < ONE:
            return Verdict(False, self.reason.value, f"limit_price must be between 0 and 1, got {price}")
        return None


class TradeSizeRule(OrderRule):
    """An order whose worst-case cost (fees included) exceeds the lower of the $ cap and % of bankroll."""

    reason = Reason.TRADE_TOO_LARGE

    def check(self, s: RiskState, th: Thresholds, order: OrderIntent) -> Verdict | None:
        cost = worst_case_cost(order)
        cap = s.trade_cap
        if cost <= cap:
            return None
        return Verdict(
            False,
            self.reason.value,
            f"worst-case cost {_usd(cost)} (fees included) exceeds the per-trade cap ${cap:f}",
        )


def default_state_rules(lock_file: Path) -> tuple[tuple[StateRule, ...], tuple[StateRule, ...]]:
    """(hard rules, soft rules), each in the order refusals are reported: most severe first."""
    hard: tuple[StateRule, ...] = (HardStoppedRule(), LockFileRule(lock_file), TotalLossRule(), BankrollFloorRule())
    soft: tuple[StateRule, ...] = (AuthHaltRule(), DailyLossRule(), CoolingRule(), HourlyRateRule())
    return hard, soft


def default_order_rules() -> tuple[OrderRule, ...]:
    return (ValidOrderRule(), TradeSizeRule())
