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
    >= `floor_strike` (itself the BRTI average of the 60 s before open). With the Kalshi websocket
    on, the price is BRTI's level: the trade feed (fast, leading between BRTI's one-a-second prints)
    times exp(measured median basis ln(BRTI/feed)), see src/data/brti.py; without it, the feed
    price, accepting the basis.
  * The 60-second average is less volatile than the price at close: with T seconds left and
    w = 60, Var(log average) = sigma^2 (T - w) + sigma^2 w / 3 when T >= w. The strategy never
    runs with T < w by default (it needs more than 300 s), but fair_value handles it: in the last
    minute BRTI's running settlement average (the snapshot's settle_avg, for this market's close)
    is the observed part, known, not modelled; only the remaining T seconds are. Without it, the
    observed part is treated as if it averaged the current price (documented approximation).
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
and the final gap/edge decisions are exact Decimal comparisons. The screening needs only five
raw feed values (stale, price, gap_in_window, move_pct, volatility), the market and the book,
so it is also offered on its own as `precheck()`: the engine asks it first with the rolling
window's raw values and builds a FeedSnapshot only for what passes. evaluate() and precheck()
run the one screening helper, so they cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import ClassVar

from src.config import BtcLagConfig
from src.model.fees import fee_per_contract
from src.model.models import FeedSnapshot, Market, NoSignal, OrderBook, Side, Signal
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

# evaluate()'s screening rules, in its order: (reason code, rule). Several rules share a code
# and differ only in their detail text.
(
    _DISABLED, _STALE, _NO_PRICE, _GAP, _STATUS, _BOOK, _CLOSED, _STRIKE, _STRIKE_TYPE, _TIME, _MOVE,
    _EMPTY, _ONE_SIDED, _NO_ASK, _TOO_HIGH, _ABOVE_FAIR, _LAG,
) = range(17)
_R_DISABLED = (DISABLED, _DISABLED)
_R_STALE = (FEED_STALE, _STALE)
_R_NO_PRICE = (FEED_STALE, _NO_PRICE)
_R_GAP = (FEED_GAP, _GAP)
_R_STATUS = (MARKET_CLOSED, _STATUS)
_R_BOOK_MISMATCH = (BOOK_MISMATCH, _BOOK)
_R_CLOSED = (MARKET_CLOSED, _CLOSED)
_R_NO_STRIKE = (NO_STRIKE, _STRIKE)
_R_STRIKE_TYPE = (NO_STRIKE, _STRIKE_TYPE)
_R_TOO_LITTLE_TIME = (TOO_LITTLE_TIME, _TIME)
_R_MOVE = (MOVE_TOO_SMALL, _MOVE)
_R_BOOK_EMPTY = (BOOK_EMPTY, _EMPTY)
_R_ONE_SIDED = (BOOK_ONE_SIDED, _ONE_SIDED)
_R_NO_ASK = (BOOK_EMPTY, _NO_ASK)
_R_PRICE_TOO_HIGH = (PRICE_TOO_HIGH, _TOO_HIGH)
_R_NOT_BELOW_FAIR = (PRICE_NOT_BELOW_FAIR, _ABOVE_FAIR)
_R_NO_LAG = (NO_LAG, _LAG)


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
        # Left by _screen for evaluate() and the details (see _screen).
        self._side = Side.YES
        self._ask = Decimal(0)
        self._ask_f = 0.0
        self._fee = Decimal(0)
        self._p_side = 0.0

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

    def precheck(
        self,
        stale: bool,
        price: float,
        gap_in_window: bool,
        move_pct: float,
        volatility: float,
        market: Market,
        book: OrderBook,
        now: float,
    ) -> str | None:
        """The reason code evaluate() returns when its screening refuses, else None.

        The screening is everything evaluate() decides before its exact Decimal stage, in its
        order: enabled, feed stale or without a price, gap in the window, market open, book of
        this market, time left, strike, the move (condition 1), the book (both sides, a positive
        ask, max_price), and the float screens of the price against fair value (clearly not below
        fair, or clearly no lag). It needs five raw feed values (as FeedSnapshot names them), so
        a caller that reads those cheaply (RollingWindow.screen_values) skips building a snapshot
        when the answer is already known. It is the same rule as evaluate(): both call _screen().
        None means "run evaluate()" (whose exact stage may still refuse), not "there is a
        signal". The detail text and `last_no_signal` are evaluate()'s business.
        """
        rule = self._screen(stale, price, gap_in_window, move_pct, volatility, market, book, now)
        return None if rule is None else rule[0]

    def _screen(
        self,
        stale: bool,
        price: float,
        gap_in_window: bool,
        move_pct: float,
        volatility: float,
        market: Market,
        book: OrderBook,
        now: float,
        observed_avg: float | None = None,
        exact: bool = False,
    ) -> tuple[str, int] | None:
        """The first screening rule that refuses, as (reason code, rule), or None if all pass.

        Past the move check it leaves the side, its ask (Decimal, float, one-contract fee) and,
        past the book checks, the side's model probability in self._side, self._ask, self._ask_f,
        self._fee and self._p_side: evaluate() continues from them, and details quote them.
        """
        if not self._enabled:
            return _R_DISABLED
        if stale:
            return _R_STALE
        if not price > 0.0:
            return _R_NO_PRICE
        if gap_in_window:
            return _R_GAP
        if market.status not in OPEN_STATUSES:
            return _R_STATUS
        if book.ticker != market.ticker:
            return _R_BOOK_MISMATCH
        close_time = market.close_time
        if close_time is not self._close_dt:
            self._close_ts = close_time.timestamp()
            self._close_dt = close_time
        seconds_left = self._close_ts - now
        if seconds_left <= 0.0:
            return _R_CLOSED
        strike = market.floor_strike
        if strike is None or not self._strike_float(strike) > 0.0:
            return _R_NO_STRIKE
        if market.strike_type != SUPPORTED_STRIKE_TYPE:
            return _R_STRIKE_TYPE
        if seconds_left <= self._min_seconds_left:
            return _R_TOO_LITTLE_TIME
        # `not >` rather than `<=` so a NaN move is refused too.
        if not abs(move_pct) > self._min_move_pct:
            return _R_MOVE
        yes_bids = book.yes_bids
        no_bids = book.no_bids
        if not yes_bids or not no_bids:
            return _R_BOOK_EMPTY if not yes_bids and not no_bids else _R_ONE_SIDED

        side = Side.YES if move_pct > 0.0 else Side.NO
        # YES ask = 1 - best NO bid; NO ask = 1 - best YES bid (bids ascending, best last).
        ask, ask_f, fee = self._ask_from_bid(no_bids[-1].price if side is Side.YES else yes_bids[-1].price)
        self._side, self._ask, self._ask_f, self._fee = side, ask, ask_f, fee
        if ask_f <= 0.0:
            return _R_NO_ASK
        # Rounding to float is monotone, so ask > max_price implies ask_f >= max_price_f: the float
        # test only skips the Decimal comparison when it cannot be true.
        if ask_f >= self._max_price_f and ask > self._max_price:
            return _R_PRICE_TOO_HIGH

        sigma = volatility if volatility > self._min_volatility else self._min_volatility
        if seconds_left < self._window_s:
            if not exact:
                # The settlement average is partly observed: only evaluate(), which is given it, prices it.
                return None
            p_yes = prob_settle_at_or_above(price, self._strike_f, sigma, seconds_left, self._window_s, observed_avg)
        else:
            p_yes = prob_settle_at_or_above(price, self._strike_f, sigma, seconds_left, self._window_s)
        p_side = p_yes if side is Side.YES else 1.0 - p_yes
        self._p_side = p_side
        if ask_f >= p_side + _SCREEN_SLACK:
            return _R_NOT_BELOW_FAIR
        if p_side - ask_f <= self._min_gap_f - _SCREEN_SLACK:
            return _R_NO_LAG
        return None

    def _screen_no_signal(
        self, rule: tuple[str, int], feed: FeedSnapshot, market: Market, book: OrderBook, now: float
    ) -> NoSignal:
        """evaluate()'s NoSignal for a screening rule: the code with its human detail."""
        code, which = rule
        if which == _DISABLED:
            return self.no_signal(code, "strategy.btc_lag.enabled is false")
        if which == _STALE:
            return self.no_signal(code, f"{feed.source}: last tick {feed.age_s:.1f}s ago")
        if which == _NO_PRICE:
            return self.no_signal(code, f"{feed.source}: no usable price")
        if which == _GAP:
            return self.no_signal(code, f"{feed.source}: reconnect gap inside the window")
        if which == _STATUS:
            return self.no_signal(code, f"{market.ticker} is {market.status}")
        if which == _BOOK:
            return self.no_signal(code, f"book {book.ticker} is not market {market.ticker}")
        if which == _CLOSED:
            return self.no_signal(code, f"{market.ticker} closed {-(self._close_ts - now):.0f}s ago")
        if which == _STRIKE:
            return self.no_signal(code, f"{market.ticker} has no floor_strike yet")
        if which == _STRIKE_TYPE:
            return self.no_signal(code, f"{market.ticker} strike_type {market.strike_type} unsupported")
        if which == _TIME:
            seconds_left = self._close_ts - now
            return self.no_signal(code, f"{seconds_left:.0f}s left, need more than {self._min_seconds_left:.0f}s")
        if which == _MOVE:
            move = feed.move_pct
            return self.no_signal(code, f"BTC {move:+.3f}% in window, need more than {self._min_move_pct}%")
        if which == _EMPTY:
            return self.no_signal(code, f"{book.ticker} has no bids on either side")
        if which == _ONE_SIDED:
            empty = "yes" if not book.yes_bids else "no"
            return self.no_signal(code, f"{book.ticker} has no {empty} bids")
        side, ask = self._side, self._ask
        if which == _NO_ASK:
            return self.no_signal(code, f"no positive {side.value} ask")
        if which == _TOO_HIGH:
            return self.no_signal(code, f"{side.value} ask {ask} above max_price {self._max_price}")
        if which == _ABOVE_FAIR:
            return self._not_below_fair(side, ask, self._p_side)
        return self._no_lag(side, ask, self._p_side)

    def evaluate(self, feed: FeedSnapshot, market: Market, book: OrderBook, now: float) -> Signal | NoSignal:
        # The observed part of this market's settlement average, when BRTI is reporting it.
        close = market.close_time.timestamp()
        observed = feed.settle_avg if feed.settle_avg > 0.0 and abs(feed.settle_close_ts - close) < 1.0 else None
        rule = self._screen(
            feed.stale, feed.price, feed.gap_in_window, feed.move_pct, feed.volatility, market, book, now,
            observed, True,
        )
        if rule is not None:
            return self._screen_no_signal(rule, feed, market, book, now)
        # _screen passed: it has converted this market's close time and left the side and its ask.
        seconds_left = self._close_ts - now
        move = feed.move_pct
        side, ask, fee, p_side = self._side, self._ask, self._fee, self._p_side

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
