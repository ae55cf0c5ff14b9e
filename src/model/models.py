"""Value types that cross module boundaries (frozen dataclasses, Decimal money)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

# A clock returns the current time as UNIX epoch seconds. Injected everywhere time matters
# so that tests (and the simulator) never sleep for real.
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]  # asyncio.sleep, or a fake in tests and the simulator

ONE = Decimal("1")
ZERO = Decimal("0")
CENT = Decimal("0.01")
SECONDS_PER_DAY = 86_400


class Side(StrEnum):
    """Which outcome a contract pays on."""

    YES = "yes"
    NO = "no"

    @property
    def other(self) -> Side:
        return Side.NO if self is Side.YES else Side.YES


class Mode(StrEnum):
    """How the daemon executes: each mode has its own database and bankroll."""

    PAPER = "paper"
    LIVE = "live"
    SIM = "sim"


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level: `count` contracts resting at `price` dollars."""

    price: Decimal
    count: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Kalshi order book: bids only, per side, ascending by price (best bid LAST), as Kalshi sends."""

    ticker: str
    yes_bids: tuple[BookLevel, ...]
    no_bids: tuple[BookLevel, ...]
    fetched_at: float = 0.0

    def best_bid(self, side: Side) -> Decimal | None:
        levels = self.yes_bids if side is Side.YES else self.no_bids
        return levels[-1].price if levels else None

    def best_ask(self, side: Side) -> Decimal | None:
        """Cheapest price at which `side` can be bought now: 1 - best bid of the other side."""
        other = self.best_bid(side.other)
        return None if other is None else ONE - other

    def asks(self, side: Side) -> tuple[BookLevel, ...]:
        """Levels at which `side` can be bought, cheapest first (a YES ask is a NO bid at 1 - p)."""
        levels = self.no_bids if side is Side.YES else self.yes_bids
        return tuple(BookLevel(ONE - lvl.price, lvl.count) for lvl in reversed(levels))


@dataclass(frozen=True, slots=True)
class Market:
    """One Kalshi market as the bot needs it; prices in dollars, counts in contracts."""

    ticker: str
    event_ticker: str
    status: str  # "initialized" | "active"/"open" | "closed" | "settled" | "determined" ...
    open_time: datetime
    close_time: datetime
    floor_strike: Decimal | None  # None until Kalshi publishes the opening average
    result: str = ""  # "yes" | "no" | "" while unsettled
    expiration_value: Decimal | None = None
    yes_bid: Decimal | None = None
    yes_ask: Decimal | None = None
    no_bid: Decimal | None = None
    no_ask: Decimal | None = None
    last_price: Decimal | None = None
    volume: Decimal = ZERO
    strike_type: str = "greater_or_equal"

    def seconds_to_close(self, now: float) -> float:
        return self.close_time.timestamp() - now


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """What the strategy may know about BTC at one instant (floats: it feeds the probability model)."""

    source: str
    price: float  # last trade price, USD
    last_trade_ts: float  # exchange trade time of the last tick, epoch seconds
    window_start_price: float  # first price inside the rolling window
    move_pct: float  # (price / window_start_price - 1) * 100
    volatility: float  # realised stdev of log price per sqrt(second)
    age_s: float  # seconds since the last tick, by the injected clock
    stale: bool  # True when age_s > stale_after_s, or nothing received yet
    gap_in_window: bool  # True if a reconnect gap lies inside the window
    ticks_in_window: int
    # Set when the price is on the BRTI level (src/data/brti.py): the feed price times exp(basis).
    anchored: bool = False
    basis_bps: float = 0.0  # measured ln(BRTI / feed) in basis points
    # The observed part of the settlement average of the market closing at settle_close_ts (BRTI's
    # running final-minute average); 0.0 when none is being observed.
    settle_avg: float = 0.0
    settle_close_ts: float = 0.0


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's recommendation to buy one side of one market at or below `limit_price`."""

    ticker: str
    side: Side
    fair_prob: float  # model probability that `side` wins
    limit_price: Decimal  # most the strategy would pay per contract, dollars
    edge: Decimal  # expected profit per dollar staked after fees
    confidence: float  # 0..1
    reason: str
    created_at: float  # epoch seconds
    strategy: str = "btc_lag"


@dataclass(frozen=True, slots=True)
class NoSignal:
    """Why a strategy produced no signal: a stable reason code plus a human detail."""

    code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A sized order about to be checked by the kill switch and handed to an executor."""

    ticker: str
    side: Side
    count: Decimal  # whole contracts
    limit_price: Decimal  # dollars per contract
    client_order_id: str
    strategy: str = "btc_lag"
    fair_prob: float = 0.0
    edge: Decimal = ZERO

    @property
    def max_cost(self) -> Decimal:
        """Most this order can spend on contracts (fees excluded)."""
        return self.count * self.limit_price


@dataclass(frozen=True, slots=True)
class Verdict:
    """The kill switch's answer for one order: allowed, or refused with a reason code."""

    allowed: bool
    reason: str = "ok"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """Contracts that changed hands for one order."""

    order_id: str
    ticker: str
    side: Side
    count: Decimal
    price: Decimal  # dollars per contract paid for `side`
    fee: Decimal
    ts: float
    fill_id: str = ""
    is_taker: bool = True


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the venue (or the paper executor) reports it."""

    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    count: Decimal
    limit_price: Decimal
    status: str  # "resting" | "executed" | "canceled" | "pending"
    filled_count: Decimal = ZERO
    remaining_count: Decimal = ZERO
    fees: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    created_ts: float = 0.0
    fills: tuple[Fill, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Position:
    """Contracts held in one market."""

    ticker: str
    side: Side
    count: Decimal
    cost: Decimal  # dollars paid for the contracts, fees excluded
    fees: Decimal


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a market paid out on the account's position."""

    ticker: str
    result: str  # "yes" | "no"
    revenue: Decimal  # dollars paid out
    settled_ts: float
    yes_count: Decimal = ZERO
    no_count: Decimal = ZERO
    cost: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class TradeResult:
    """A settled position as the kill switch sees it: P&L after fees."""

    ticker: str
    pnl: Decimal
    settled_ts: float


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of `--verify`: a named check, whether it passed, and a hint when it did not."""

    name: str
    ok: bool
    detail: str = ""
    hint: str = ""


@dataclass(frozen=True, slots=True)
class ExchangeStatus:
    """Whether the venue's exchange is up, and whether it accepts trading right now."""

    exchange_active: bool
    trading_active: bool
    estimated_resume_time: str = ""


def fill_totals(fills: Iterable[Fill]) -> tuple[Decimal, Decimal, Decimal]:
    """(contracts, cost before fees, fees) of an order's fills."""
    filled = cost = fees = ZERO
    for f in fills:
        filled += f.count
        cost += f.count * f.price
        fees += f.fee
    return filled, cost, fees


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One row of the trades table: db.py writes and returns it, the dashboard's queries read it."""

    id: int
    order_id: int
    ticker: str
    side: Side
    count: Decimal
    avg_price: Decimal
    cost: Decimal
    fees: Decimal
    strategy: str
    opened_ts: float
    status: str
    result: str | None
    payout: Decimal | None
    pnl: Decimal | None
    settled_ts: float | None


def bankroll_from(starting: Decimal, realised_pnl: Decimal) -> Decimal:
    """The bankroll (DECISIONS §5): the starting bankroll plus every settled trade's P&L after fees."""
    return starting + realised_pnl


def usd(value: Decimal, *, signed: bool = False) -> str:
    """Dollars to the cent for people: $1.23, -$1.23, and +$1.23 (+$0.00) when `signed`."""
    cents = value.quantize(CENT)
    if cents < 0:
        return f"-${-cents}"
    return f"{'+' if signed else ''}${cents}"


def qty(value: Decimal) -> str:
    """A count for people: 10 not 1E+1, 2.5 not 2.50."""
    return format(value.normalize(), "f")


def utc_from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def utc_day(ts: float) -> str:
    """The UTC calendar date of `ts` as daily_pnl names it: '2026-05-09'."""
    return utc_from_ts(ts).strftime("%Y-%m-%d")


def utc_day_number(ts: float) -> int:
    """The UTC calendar day as a number (POSIX days are exactly 86 400 s), for cheap day arithmetic."""
    return int(ts // SECONDS_PER_DAY)


def new_client_order_id() -> str:
    """A fresh client_order_id: "pb" + 32 hex digits. Deliberately not UUID-shaped (no dashes), so the
    log redactor, which removes UUID-shaped text, leaves it readable in every log."""
    return "pb" + uuid.uuid4().hex
