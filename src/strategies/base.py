"""The abstract Strategy: market snapshot in, Signal or a coded NoSignal out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from src.model.models import Market, NoSignal, OrderBook, Signal

# Reason codes shared by every strategy. Strategies may add their own, but every code a strategy
# can return must be listed in its REASON_CODES so the main loop and the dashboard can rely on a
# small, stable set ("why not trading").
DISABLED = "disabled"
FEED_STALE = "feed_stale"
FEED_GAP = "feed_gap"
MARKET_CLOSED = "market_closed"
BOOK_MISMATCH = "book_mismatch"
BOOK_EMPTY = "book_empty"
BOOK_ONE_SIDED = "book_one_sided"
TOO_LITTLE_TIME = "too_little_time"
PRICE_TOO_HIGH = "price_too_high"
PRICE_NOT_BELOW_FAIR = "price_not_below_fair"
EDGE_TOO_SMALL = "edge_too_small"

COMMON_REASON_CODES: frozenset[str] = frozenset(
    {
        DISABLED,
        FEED_STALE,
        FEED_GAP,
        MARKET_CLOSED,
        BOOK_MISMATCH,
        BOOK_EMPTY,
        BOOK_ONE_SIDED,
        TOO_LITTLE_TIME,
        PRICE_TOO_HIGH,
        PRICE_NOT_BELOW_FAIR,
        EDGE_TOO_SMALL,
    }
)

# Whatever the strategy watches besides the market: a BTC FeedSnapshot for btc_lag, a whale's
# trade for whale_copy. Each subclass fixes it.
FeedT = TypeVar("FeedT")


class UnknownReasonCode(ValueError):
    """A strategy tried to return a reason code it never declared: a programming error."""


class Strategy(ABC, Generic[FeedT]):
    """Pure decision logic: no I/O, no sizing, no risk; the same inputs always give the same answer.

    Subclasses implement `evaluate`, returning a Signal or a NoSignal carrying a code from
    REASON_CODES. Callers that only want the signal use `generate_signal`, which returns None
    for "no signal" and leaves the reason in `last_no_signal`.
    """

    name: ClassVar[str] = "strategy"
    REASON_CODES: ClassVar[frozenset[str]] = COMMON_REASON_CODES

    def __init__(self) -> None:
        self.last_no_signal: NoSignal | None = None

    @abstractmethod
    def evaluate(self, feed: FeedT, market: Market, book: OrderBook, now: float) -> Signal | NoSignal:
        """Decide on one snapshot: a Signal to buy, or a NoSignal saying why not."""

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
        """A cheap screen on a price feed's raw values (PriceFeed.screen_values): a reason code when the
        answer is surely no signal, None to run evaluate(). The default screens nothing."""
        return None

    def generate_signal(self, feed: FeedT, market: Market, book: OrderBook, now: float) -> Signal | None:
        """The signal for this snapshot, or None; after None, `last_no_signal` says why."""
        result = self.evaluate(feed, market, book, now)
        if isinstance(result, NoSignal):
            self.last_no_signal = result
            return None
        self.last_no_signal = None
        return result

    def no_signal(self, code: str, detail: str = "") -> NoSignal:
        """Build a NoSignal, refusing codes outside this strategy's declared set."""
        if code not in self.REASON_CODES:
            raise UnknownReasonCode(f"{type(self).__name__} has no reason code {code!r}")
        return NoSignal(code, detail)
