"""A simulated KXBTC15M exchange (interfaces.MarketData) whose book prices a LAGGED BTC price.

What it simulates, driven by the same BTC ticks as the feed (`on_price`) and an injected clock:
- Markets: one per 15-minute window (src/model/kxbtc15m.py), tickers exactly as Kalshi names them.
  Status: "initialized" before the window opens, "active" while open, "closed" after the close
  until the settlement average is known, then "settled" with `result` and `expiration_value`.
- Strike: `floor_strike` = the 60-second BTC average before the open (src/sim/averages.py),
  to the cent. Until that average is known the market has no strike (like Kalshi before it
  publishes one) and its book is empty.
- Settlement: the 60-second average before the close, to the cent, is `expiration_value`;
  `result` follows model/strike_rule.derive_result (greater_or_equal: YES when value >= strike).
- The book: the market maker sees BTC exactly `lag_s` seconds late: asked at time t, it prices
  the last tick at or before t - lag_s (so lag_s = 0 is the latest tick, whatever the spacing
  of the ticks). Its fair YES probability is the strategy's own model
  (strategies/fair_value.prob_settle_at_or_above) applied to that price, with the time to close
  counted from the whole second S = floor(t) and a volatility that is either fixed
  (sim.maker_volatility = "fixed": sim.annual_volatility is the maker's implied volatility) or
  what the strategy measures (= "measured": the realised volatility of the ticks the maker can
  see over the feed's window, floored at the strategy's min_volatility_per_s; with lag_s = 0
  that is the strategy's own figure). A uniform noise in [-noise, +noise], drawn from (seed, S)
  alone, is added to that mid, so a quote depends on the time and the ticks only, not on who
  asks or how often. The quote is
  YES bid = round(mid - spread/2) to the cent, YES ask = bid + spread (at least one cent),
  kept inside [0.01, 0.99]; `levels` price levels of `depth` contracts rest on each side one
  cent apart: YES bids at and below the bid, NO bids at and below 1 - ask. So the only edge the
  lag strategy can find here is the lag (plus the noise, and with a fixed volatility the gap
  between it and the measured one): that is the thesis under test, and why every synthetic
  backtest result is labelled with the lag it assumed. With lag_s = 0, noise = 0 and the
  measured volatility the book is the strategy's own price, and taking it pays the spread and
  the fee (tests/test_backtest.py runs that control).
- Fees are not the exchange's business here: the paper executor charges Kalshi's taker fee
  (src/model/fees.py) on every fill, as with the real venue.
Deterministic: the same ticks, clock readings and seed give the same markets and books.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from src.config import SimConfig
from src.data.price_generator import sigma_per_sqrt_second
from src.model.kxbtc15m import SERIES, WINDOW_S, close_from_event_ticker, event_ticker, market_ticker, window_open
from src.model.models import BookLevel, Clock, Market, OrderBook, utc_from_ts
from src.model.strike_rule import derive_result
from src.sim.averages import BoundaryAverages
from src.sim.maker_view import MakerView
from src.strategies.fair_value import prob_settle_at_or_above

GREATER_OR_EQUAL = "greater_or_equal"
DEFAULT_LEVELS = 3
_CENTS: tuple[Decimal, ...] = tuple(Decimal(i).scaleb(-2) for i in range(101))  # 0.00 .. 1.00
_MASK64 = (1 << 64) - 1


class SimMarketNotFound(LookupError):
    """The simulated exchange lists no market under this ticker."""


@dataclass(frozen=True, slots=True)
class _Window:
    """A window's fixed facts, computed once (ticker formatting is the slow part)."""

    open_ts: float
    close_ts: float
    ticker: str
    event_ticker: str
    open_time: datetime
    close_time: datetime


def unit_noise(seed: int, n: int) -> float:
    """A deterministic uniform draw in [-1, 1) for (seed, n): SplitMix64, no shared RNG state."""
    z = (seed * 0x9E3779B97F4A7C15 + (n + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return (z / 18446744073709551616.0) * 2.0 - 1.0


def quote_cents(mid: float, spread_cents: int) -> tuple[int, int]:
    """YES (bid, ask) in cents around a mid probability: bid = round(mid - spread/2), ask = bid + spread."""
    if spread_cents < 1 or spread_cents > 98:
        raise ValueError(f"spread must be 1..98 cents, got {spread_cents}")
    bid = math.floor(mid * 100.0 - spread_cents / 2.0 + 0.5)
    bid = min(max(bid, 1), 99 - spread_cents)
    return bid, bid + spread_cents


def cents_to_price(cents: float) -> Decimal:
    """A Decimal dollar amount from a float in dollars, to the cent (half-even on its decimal repr)."""
    return Decimal(f"{cents:.2f}")


class SimExchange:
    """interfaces.MarketData over simulated KXBTC15M markets; see the module docstring."""

    def __init__(
        self,
        sim: SimConfig,
        clock: Clock,
        *,
        series: str = SERIES,
        seed: int | None = None,
        levels: int = DEFAULT_LEVELS,
        implied_volatility: float | None = None,
        volatility_window_s: float = 60.0,
        min_volatility_per_s: float = 0.0,
    ) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.config = sim
        self.series = series
        self._clock = clock
        self.seed = sim.seed if seed is None else seed
        self.lag_s = float(sim.lag_s)
        self.levels = levels
        self.depth = sim.depth
        self.noise = float(sim.noise)
        self.spread_cents = max(1, int((sim.spread * 100).to_integral_value()))
        annual = sim.annual_volatility if implied_volatility is None else implied_volatility
        self.sigma = sigma_per_sqrt_second(annual)
        # "measured": the maker's realised volatility over the ticks it can see, computed as the
        # strategy computes the feed's (src/sim/maker_view.py).
        self.measured = sim.maker_volatility == "measured" and implied_volatility is None
        self._min_volatility = float(min_volatility_per_s)
        self.averages = BoundaryAverages()
        self.view = MakerView(self.lag_s, volatility_window_s, with_volatility=self.measured)
        self._windows: dict[float, _Window] = {}
        self._by_ticker: dict[str, _Window] = {}
        self._strikes: dict[float, Decimal] = {}
        # One-entry caches: time only moves forward, so the last answer is the only reusable one.
        self._quote_open = math.nan  # the window and second of the cached quote
        self._quote_second = -1
        self._quote_tick: int | None = None  # the maker view's position the cached quote priced
        self._quote_cache: tuple[int, int] = (0, 0)
        self._market_key: tuple[object, ...] | None = None
        self._market_cache: Market | None = None
        self._yes_levels: dict[int, tuple[BookLevel, ...]] = {}
        self._no_levels: dict[int, tuple[BookLevel, ...]] = {}
        self._strike_d: Decimal | None = None  # the last strike converted to float, and its value
        self._strike_f = 0.0

    # -- prices in ---------------------------------------------------------------------------------

    def on_price(self, ts: float, price: float) -> None:
        """One BTC tick, in time order (the same ticks the feed gets)."""
        self.averages.on_price(ts, price)
        self.view.on_price(ts, price)

    def lagged_price(self, now: float) -> float | None:
        """The BTC price the market maker sees at `now`: the last tick at or before now - lag_s.

        Before any tick that old exists, the oldest known price (the maker knows nothing earlier).
        """
        return self.view.price(now)

    def maker_sigma(self, now: float) -> float:
        """The volatility per sqrt(second) the maker prices with at `now`: fixed, or measured and floored."""
        if not self.measured:
            return self.sigma
        measured = self.view.volatility(now)
        return measured if measured > self._min_volatility else self._min_volatility

    # -- windows and markets -----------------------------------------------------------------------

    def _window(self, open_ts: float) -> _Window:
        window = self._windows.get(open_ts)
        if window is None:
            close_ts = open_ts + WINDOW_S
            window = _Window(
                open_ts=open_ts,
                close_ts=close_ts,
                ticker=market_ticker(close_ts, self.series),
                event_ticker=event_ticker(close_ts, self.series),
                open_time=utc_from_ts(open_ts),
                close_time=utc_from_ts(close_ts),
            )
            self._windows[open_ts] = window
            self._by_ticker[window.ticker] = window
        return window

    def _window_of(self, ticker: str) -> _Window:
        window = self._by_ticker.get(ticker)
        if window is not None:
            return window
        if not ticker.startswith(self.series + "-"):
            raise SimMarketNotFound(f"no simulated market {ticker!r} (series {self.series})")
        try:
            close_ts = close_from_event_ticker(ticker)
        except ValueError:
            raise SimMarketNotFound(f"no simulated market {ticker!r}") from None
        window = self._window(close_ts - WINDOW_S)
        if window.ticker != ticker:
            raise SimMarketNotFound(f"no simulated market {ticker!r}")
        return window

    def boundary_value(self, boundary: float) -> Decimal | None:
        """The 60-second average before a window boundary, to the cent, once known (then cached)."""
        value = self._strikes.get(boundary)
        if value is None:
            avg = self.averages.average(boundary)
            if avg is None:
                return None
            value = self._strikes[boundary] = cents_to_price(avg)
        return value

    def strike(self, open_ts: float) -> Decimal | None:
        """floor_strike of the window opening at `open_ts`, once the average before it is known."""
        return self.boundary_value(open_ts)

    def settlement_value(self, close_ts: float) -> Decimal | None:
        """expiration_value of the window closing at `close_ts`, once known."""
        return self.boundary_value(close_ts)

    def market_at(self, ticker: str, now: float) -> Market:
        """Synchronous get_market at time `now` (the backtest calls this directly)."""
        return self._market(self._window_of(ticker), now)

    def current_market_at(self, now: float) -> Market:
        """Synchronous get_current_market: the market of the window containing `now`."""
        return self._market(self._window(window_open(now)), now)

    def _market(self, w: _Window, now: float) -> Market:
        strike = self.strike(w.open_ts)
        if now < w.open_ts:
            status, quote = "initialized", None
        elif now < w.close_ts:
            status, quote = "active", None if strike is None else self._quote(w, strike, now)
        elif strike is None or self.settlement_value(w.close_ts) is None:
            status, quote = "closed", None
        else:
            status, quote = "settled", None
        key = (w.open_ts, status, strike, quote)
        if key == self._market_key and self._market_cache is not None:
            return self._market_cache
        if quote is not None:
            bid, ask = quote
            market = self._build(
                w, status, strike,
                yes_bid=_CENTS[bid], yes_ask=_CENTS[ask], no_bid=_CENTS[100 - ask], no_ask=_CENTS[100 - bid],
            )
        elif status == "settled":
            value = self.settlement_value(w.close_ts)
            result = derive_result(GREATER_OR_EQUAL, value, strike).value  # type: ignore[arg-type]
            market = self._build(w, status, strike, result=result, expiration_value=value)
        else:
            market = self._build(w, status, strike)
        self._market_key = key
        self._market_cache = market
        return market

    def _build(self, w: _Window, status: str, strike: Decimal | None, **extra: object) -> Market:
        return Market(
            ticker=w.ticker,
            event_ticker=w.event_ticker,
            status=status,
            open_time=w.open_time,
            close_time=w.close_time,
            floor_strike=strike,
            strike_type=GREATER_OR_EQUAL,
            **extra,  # type: ignore[arg-type]
        )

    # -- the book ----------------------------------------------------------------------------------

    def fair_yes(self, w_open_ts: float, strike: Decimal, now: float) -> float | None:
        """The maker's fair YES probability at `now`: the price it sees (lag_s late), the time left
        from the whole second, its volatility (fixed or measured)."""
        price = self.lagged_price(now)
        if price is None:
            return None
        if strike is not self._strike_d:  # one Decimal -> float conversion per strike, not per second
            self._strike_f = float(strike)
            self._strike_d = strike
        second = math.floor(now)
        return prob_settle_at_or_above(price, self._strike_f, self.maker_sigma(now), w_open_ts + WINDOW_S - second)

    def _quote(self, w: _Window, strike: Decimal, now: float) -> tuple[int, int]:
        """YES (bid, ask) cents. A quote is a function of the second and of the tick the maker sees,
        however often and whenever it is asked for: the cache holds while both are unchanged."""
        second = math.floor(now)
        seen = self.view.position(now)
        if second == self._quote_second and w.open_ts == self._quote_open and seen == self._quote_tick:
            return self._quote_cache
        fair = self.fair_yes(w.open_ts, strike, now)
        if fair is None:
            fair = 0.5
        mid = fair + self.noise * unit_noise(self.seed, second) if self.noise else fair
        quote = quote_cents(mid, self.spread_cents)
        self._quote_open = w.open_ts
        self._quote_second = second
        self._quote_tick = seen
        self._quote_cache = quote
        return quote

    def orderbook_at(self, ticker: str, now: float) -> OrderBook:
        """Synchronous get_orderbook at `now`: empty unless the market is open and has a strike."""
        # The backtest asks once per poll: the cached parts (window, strike, levels) are read
        # straight from their dictionaries, and the methods computing them run only on a miss.
        w = self._by_ticker.get(ticker) or self._window_of(ticker)
        open_ts = w.open_ts
        if open_ts <= now < w.close_ts:
            strike = self._strikes.get(open_ts) or self.strike(open_ts)
        else:
            strike = None
        if strike is None:
            return OrderBook(ticker, (), (), now)
        bid, ask = self._quote(w, strike, now)
        yes = self._yes_levels.get(bid) or self._levels(self._yes_levels, bid)
        no_best = 100 - ask
        no = self._no_levels.get(no_best) or self._levels(self._no_levels, no_best)
        return OrderBook(ticker, yes, no, now)

    def _levels(self, cache: dict[int, tuple[BookLevel, ...]], best: int) -> tuple[BookLevel, ...]:
        """`levels` bids one cent apart, best (highest) LAST as Kalshi sends them; cached per best."""
        levels = cache.get(best)
        if levels is None:
            lowest = max(1, best - self.levels + 1)
            levels = tuple(BookLevel(_CENTS[c], self.depth) for c in range(lowest, best + 1))
            cache[best] = levels
        return levels

    # -- interfaces.MarketData -----------------------------------------------------------------------

    async def get_market(self, ticker: str) -> Market:
        return self.market_at(ticker, self._clock())

    async def get_current_market(self, now: float) -> Market | None:
        return self.current_market_at(now)

    async def get_orderbook(self, ticker: str) -> OrderBook:
        return self.orderbook_at(ticker, self._clock())
