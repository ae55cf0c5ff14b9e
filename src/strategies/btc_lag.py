"""The btc_lag strategy: buy the KXBTC15M side that a fast BTC move has made cheap on Kalshi.

Thesis (ARCHITECTURE.md): Kalshi's 15-minute BTC book reprices more slowly than BTC itself.
When BTC has just moved sharply, the side the move favours can still be offered below its fair
probability for a while. We buy it then, only when all four conditions hold:
  1. BTC moved MORE than `min_move_pct` % over the feed's rolling window (60 s);
  2. the Kalshi ask of the side we buy lags its fair probability by MORE than `min_gap` dollars;
  3. MORE than `min_seconds_left` seconds remain before the window closes;
  4. the edge after the taker fee is MORE than `min_edge`.
Every threshold is strict ("more than"); equality means no signal.

Fair value model (math in fair_value.py):
  * Log BTC price is a driftless Brownian motion with volatility sigma per sqrt(second).
    sigma = the feed's realised volatility over its window, floored at `min_volatility_per_s`
    (a quiet minute must not make the model overconfident). The drift over <= 15 minutes is
    negligible next to the noise, and we do not try to forecast it.
  * KXBTC15M settles YES when the average of the last 60 s of the BRTI index before close is
    >= `floor_strike`. BRTI is an index of several exchanges; we price it with our feed's BTC
    price, accepting the small basis between them.
  * The 60-second average is less volatile than the price at close: with T seconds left and
    w = 60, Var(log average) = sigma^2 (T - w) + sigma^2 w / 3 when T >= w. The strategy never
    runs with T < w (it needs more than 300 s), but fair_value handles it: the observed part of
    the window is treated as if it averaged the current price (documented approximation).
  * P(YES) = Phi((log(price) - log(strike)) / sqrt(Var)); P(NO) = 1 - P(YES).
  The model probability is rounded to 6 decimals (a Decimal) before any money comparison.

Side choice: the side must agree with the move, because the thesis is that Kalshi LAGS the
move: BTC up -> consider YES only; BTC down -> consider NO only. An apparently cheap side
against the move is not this strategy's trade (it would be a mean-reversion bet): the price
checks are made on the move's side only, so such a snapshot ends in `price_not_below_fair` or
`no_lag`, whose detail names the side the move pointed to.

Edge (DECISIONS.md §2): expected profit per dollar staked after the taker fee,
    edge = (p_fair - ask - fee_per_contract(ask)) / ask,
with the fee of a one-contract order: Kalshi rounds each order's fee up to the cent, so one
contract is the worst case and the edge is never overstated.

Limit price: the current best ask of the side bought. The executor walks the book up to it.

Confidence (0..1, informational; sizing uses the probability, not this):
    confidence = edge / (edge + min_edge) * min(1, 300 / seconds_left)
The first factor is 0.5 at the edge threshold and tends to 1 as the edge grows (1 when
min_edge is 0). The second discounts long horizons: sigma is measured over the last minute and
extrapolated to the close, and the further the close, the more room for the volatility regime
to change under the model.

Speed: the screening conditions use floats and precomputed float thresholds; Decimal work
starts only once the float screen says a signal is close (within 1e-6 of the gap threshold),
and the final gap/edge decisions are exact Decimal comparisons.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import ClassVar

from src.config import BtcLagConfig
from src.fees import fee_per_contract
from src.models import FeedSnapshot, Market, NoSignal, OrderBook, Side, Signal
from src.strategies.base import (
    BOOK_EMPTY,
    BOOK_MISMATCH,
    BOOK_ONE_SIDED,
    COMMON_REASON_CODES,
    DISABLED,
    EDGE_TOO_SMALL,
    FEED_GAP,
    FEED_STALE,
    MARKET_CLOSED,
    PRICE_NOT_BELOW_FAIR,
    PRICE_TOO_HIGH,
    TOO_LITTLE_TIME,
    Strategy,
)
from src.strategies.fair_value import SETTLEMENT_WINDOW_S, prob_settle_at_or_above

NO_STRIKE = "no_strike"
MOVE_TOO_SMALL = "move_too_small"
NO_LAG = "no_lag"

OPEN_STATUSES = frozenset({"open", "active"})
SUPPORTED_STRIKE_TYPE = "greater_or_equal"
EDGE_QUANTUM = Decimal("0.000001")
CONFIDENT_HORIZON_S = 300.0
# Float screens only reject when clearly past a threshold; closer calls go to the exact Decimal
# checks. Must exceed the probability rounding (5e-7) plus float noise.
_SCREEN_SLACK = 1e-6


def confidence_score(edge: float, min_edge: float, seconds_left: float) -> float:
    """Documented 0..1 confidence: edge / (edge + min_edge) * min(1, 300 / seconds_left)."""
    if edge <= 0.0:
        return 0.0
    edge_term = edge / (edge + min_edge) if min_edge > 0.0 else 1.0
    horizon_term = 1.0 if seconds_left <= CONFIDENT_HORIZON_S else CONFIDENT_HORIZON_S / seconds_left
    # Both terms lie in (0, 1], so their product does too: no clamping needed.
    return edge_term * horizon_term


class BtcLagStrategy(Strategy[FeedSnapshot]):
    """KXBTC15M lag strategy; see the module docstring for the model and the four conditions."""

    name: ClassVar[str] = "btc_lag"
    REASON_CODES: ClassVar[frozenset[str]] = COMMON_REASON_CODES | {NO_STRIKE, MOVE_TOO_SMALL, NO_LAG}

    def __init__(self, config: BtcLagConfig, window_s: float = SETTLEMENT_WINDOW_S) -> None:
        super().__init__()
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.config = config
        self._enabled = config.enabled
        self._window_s = float(window_s)
        self._min_move_pct = float(config.min_move_pct)
        self._min_seconds_left = float(config.min_seconds_left)
        self._min_volatility = float(config.min_volatility_per_s)
        self._min_gap = config.min_gap
        self._min_gap_f = float(config.min_gap)
        self._min_edge = config.min_edge
        self._min_edge_f = float(config.min_edge)
        self._max_price = config.max_price
        self._max_price_f = float(config.max_price)
        # Market.close_time is an immutable datetime; converting it costs more than the rest of
        # the screen, so remember the last conversion (keyed by identity: same object, same value).
        self._close_dt: datetime | None = None
        self._close_ts = 0.0
        self._strike: Decimal | None = None
        self._strike_f = 0.0
        # Per best-bid price: (ask = 1 - bid, float(ask), one-contract fee at ask). All pure, and
        # Kalshi prices have at most 4 decimals, so this holds at most 10^4 entries.
        self._asks: dict[Decimal, tuple[Decimal, float, Decimal]] = {}

    def _seconds_left(self, market: Market, now: float) -> float:
        close_time = market.close_time
        if close_time is not self._close_dt:
            self._close_ts = close_time.timestamp()
            self._close_dt = close_time
        return self._close_ts - now

    def _strike_float(self, strike: Decimal) -> float:
        if strike is not self._strike:
            self._strike_f = float(strike)
            self._strike = strike
        return self._strike_f

    def _ask_from_bid(self, other_bid: Decimal) -> tuple[Decimal, float, Decimal]:
        cached = self._asks.get(other_bid)
        if cached is None:
            ask = 1 - other_bid
            fee = fee_per_contract(ask) if 0 <= ask <= 1 else Decimal(0)
            cached = self._asks[other_bid] = (ask, float(ask), fee)
        return cached

    def evaluate(self, feed: FeedSnapshot, market: Market, book: OrderBook, now: float) -> Signal | NoSignal:
        if not self._enabled:
            return self.no_signal(DISABLED, "strategy.btc_lag.enabled is false")
        if feed.stale:
            return self.no_signal(FEED_STALE, f"{feed.source}: last tick {feed.age_s:.1f}s ago")
        if not feed.price > 0.0:
            return self.no_signal(FEED_STALE, f"{feed.source}: no usable price")
        if feed.gap_in_window:
            return self.no_signal(FEED_GAP, f"{feed.source}: reconnect gap inside the window")
        if market.status not in OPEN_STATUSES:
            return self.no_signal(MARKET_CLOSED, f"{market.ticker} is {market.status}")
        if book.ticker != market.ticker:
            return self.no_signal(BOOK_MISMATCH, f"book {book.ticker} is not market {market.ticker}")
        seconds_left = self._seconds_left(market, now)
        if seconds_left <= 0.0:
            return self.no_signal(MARKET_CLOSED, f"{market.ticker} closed {-seconds_left:.0f}s ago")
        strike = market.floor_strike
        if strike is None or not self._strike_float(strike) > 0.0:
            return self.no_signal(NO_STRIKE, f"{market.ticker} has no floor_strike yet")
        if market.strike_type != SUPPORTED_STRIKE_TYPE:
            return self.no_signal(NO_STRIKE, f"{market.ticker} strike_type {market.strike_type} unsupported")
        if seconds_left <= self._min_seconds_left:
            return self.no_signal(
                TOO_LITTLE_TIME, f"{seconds_left:.0f}s left, need more than {self._min_seconds_left:.0f}s"
            )
        move = feed.move_pct
        # `not >` rather than `<=` so a NaN move is refused too.
        if not abs(move) > self._min_move_pct:
            return self.no_signal(MOVE_TOO_SMALL, f"BTC {move:+.3f}% in window, need more than {self._min_move_pct}%")
        if not book.yes_bids or not book.no_bids:
            if not book.yes_bids and not book.no_bids:
                return self.no_signal(BOOK_EMPTY, f"{book.ticker} has no bids on either side")
            empty = "yes" if not book.yes_bids else "no"
            return self.no_signal(BOOK_ONE_SIDED, f"{book.ticker} has no {empty} bids")

        side = Side.YES if move > 0.0 else Side.NO
        # YES ask = 1 - best NO bid; NO ask = 1 - best YES bid (bids ascending, best last).
        ask, ask_f, fee = self._ask_from_bid(book.no_bids[-1].price if side is Side.YES else book.yes_bids[-1].price)
        if ask_f <= 0.0:
            return self.no_signal(BOOK_EMPTY, f"no positive {side.value} ask")
        # Rounding to float is monotone, so ask > max_price implies ask_f >= max_price_f: the float
        # test only skips the Decimal comparison when it cannot be true.
        if ask_f >= self._max_price_f and ask > self._max_price:
            return self.no_signal(PRICE_TOO_HIGH, f"{side.value} ask {ask} above max_price {self._max_price}")

        volatility = feed.volatility
        sigma = volatility if volatility > self._min_volatility else self._min_volatility
        p_yes = prob_settle_at_or_above(feed.price, self._strike_f, sigma, seconds_left, self._window_s)
        p_side = p_yes if side is Side.YES else 1.0 - p_yes
        if ask_f >= p_side + _SCREEN_SLACK:
            return self._not_below_fair(side, ask, p_side)
        if p_side - ask_f <= self._min_gap_f - _SCREEN_SLACK:
            return self._no_lag(side, ask, p_side)

        # Exact decisions from here on: Decimal probability, Decimal money.
        # Float formatting rounds the exact binary value half-even to 6 places: the one
        # float -> Decimal conversion, and cheaper than Decimal(p).quantize(...).
        fair = Decimal(f"{p_side:.6f}")
        if ask >= fair:
            return self._not_below_fair(side, ask, p_side)
        gap = fair - ask
        if gap <= self._min_gap:
            return self._no_lag(side, ask, p_side)
        edge = (gap - fee) / ask
        if edge <= self._min_edge:
            return self.no_signal(
                EDGE_TOO_SMALL,
                f"{side.value} edge {edge.quantize(EDGE_QUANTUM, ROUND_DOWN)!s} after fee {fee!s}, "
                f"need more than {self._min_edge!s}",
            )
        edge_q = edge.quantize(EDGE_QUANTUM, rounding=ROUND_DOWN)
        # Positional: measurably cheaper than keywords for a frozen slots dataclass.
        return Signal(
            market.ticker,  # ticker
            side,
            float(fair),  # fair_prob
            ask,  # limit_price
            edge_q,  # edge
            confidence_score(float(edge_q), self._min_edge_f, seconds_left),
            f"btc {move:+.2f}% {seconds_left:.0f}s left: fair {fair!s} ask {ask!s} fee {fee!s}",
            now,  # created_at
            self.name,  # strategy
        )

    def _not_below_fair(self, side: Side, ask: Decimal, p_side: float) -> NoSignal:
        return self.no_signal(PRICE_NOT_BELOW_FAIR, f"{side.value} ask {ask} >= fair {p_side:.4f}")

    def _no_lag(self, side: Side, ask: Decimal, p_side: float) -> NoSignal:
        return self.no_signal(
            NO_LAG,
            f"move favours {side.value}: fair {p_side:.4f} - ask {ask} not more than gap {self._min_gap}",
        )
