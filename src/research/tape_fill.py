"""The TAPE fill model: what a buy would have got from Kalshi's public prints alone (no order book).

The public record has trades and 1-minute candles, never the book. What the bot is assumed to see,
and to get, is therefore stated here once (TAPE_ASSUMPTION is printed with every TAPE report):

Quote (what the strategy decides on at time t): the ask of SIDE is the price a SIDE buyer paid in the
last print before t whose taker bought SIDE, if it is at most `quote_max_age_s` old, for that print's
size; otherwise the candle of the last finished minute (its YES ask close for YES, 1 - its YES bid
close for NO) with no size limit known (shown as 1 contract); otherwise no quote.

Fill (what a buy of SIDE at limit L, decided at t, gets): the order reaches Kalshi at t + latency. It
fills at the price of the FIRST print at or after t + latency whose taker bought SIDE, if that print
comes within `max_wait_s` and its price is at most L, for at most that print's size (the rest is
cancelled, as an immediate-or-cancel). Otherwise nothing fills. We take the print's place: the
liquidity it shows was there, and we are assumed to have taken (part of) it instead of the trader
who did; our order is assumed not to move later prints.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from src.model.models import ONE, BookLevel, OrderBook, Side
from src.model.tape import Candle, TapeTrade

DEFAULT_QUOTE_MAX_AGE_S = 30.0
DEFAULT_MAX_WAIT_S = 5.0
FILLED = "filled"
NO_PRINT = "no_print_in_time"
ABOVE_LIMIT = "print_above_limit"

TAPE_ASSUMPTION = (
    "TAPE: no order book in the data. The strategy sees as SIDE's ask the price of the last print "
    "whose taker bought SIDE (at most {age:.0f}s old; else the last finished 1-minute candle's close). "
    "A buy of SIDE at limit L decided at t fills at the price of the first print at or after t + latency "
    "whose taker bought SIDE, if it comes within {wait:.0f}s and is <= L, for at most that print's size; "
    "otherwise nothing fills. Our order is assumed not to move later prints. No kill switch, one entry per market."
)


def assumption_text(quote_max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> str:
    return TAPE_ASSUMPTION.format(age=quote_max_age_s, wait=max_wait_s)


@dataclass(frozen=True, slots=True)
class TapeFill:
    """The outcome of one order on the tape: `filled` contracts at `price` (None when nothing filled)."""

    filled: Decimal
    price: Decimal | None
    fill_ts: float | None
    trade_id: str | None
    reason: str


class TapeBook:
    """One market's prints, split by the side the taker bought, searchable by time; plus its candles."""

    def __init__(self, trades: Sequence[TapeTrade], candles: Sequence[Candle] = ()) -> None:
        ordered = sorted(trades, key=lambda t: (t.ts, t.trade_id))
        self._by_side: dict[Side, list[TapeTrade]] = {Side.YES: [], Side.NO: []}
        for t in ordered:
            self._by_side[t.taker_side].append(t)
        self._times = {side: [t.ts for t in rows] for side, rows in self._by_side.items()}
        self._candles = sorted(candles, key=lambda c: c.end_ts)
        self._candle_ends = [c.end_ts for c in self._candles]

    def quote(
        self, side: Side, now: float, max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S
    ) -> tuple[Decimal, Decimal] | None:
        """(ask, size) of `side` as the strategy may know it at `now` (see the module docstring)."""
        rows, times = self._by_side[side], self._times[side]
        i = bisect.bisect_left(times, now) - 1  # the last print strictly before now
        if i >= 0 and now - times[i] <= max_age_s:
            last = rows[i]
            return last.price(side), last.count
        j = bisect.bisect_right(self._candle_ends, now) - 1
        while j >= 0:
            c = self._candles[j]
            bid = c.yes_bid_close
            price = c.yes_ask_close if side is Side.YES else (None if bid is None else ONE - bid)
            if price is not None and Decimal(0) < price < ONE:
                return price, Decimal(1)
            j -= 1
        return None

    def book(self, ticker: str, now: float, max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S) -> OrderBook:
        """The quotes as a Kalshi bids-only book: a YES ask a is a NO bid at 1 - a, and the other way round."""
        yes_q, no_q = self.quote(Side.YES, now, max_age_s), self.quote(Side.NO, now, max_age_s)
        no_bids = () if yes_q is None else (BookLevel(ONE - yes_q[0], yes_q[1]),)
        yes_bids = () if no_q is None else (BookLevel(ONE - no_q[0], no_q[1]),)
        return OrderBook(ticker, yes_bids, no_bids, now)

    def fill(
        self, side: Side, count: Decimal, limit: Decimal, decided_ts: float, latency_s: float,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> TapeFill:
        """What a buy of `count` `side` at most `limit`, decided at `decided_ts`, gets on the tape."""
        arrive = decided_ts + latency_s
        rows, times = self._by_side[side], self._times[side]
        i = bisect.bisect_left(times, arrive)
        if i >= len(rows) or times[i] - arrive > max_wait_s:
            return TapeFill(Decimal(0), None, None, None, NO_PRINT)
        hit = rows[i]
        price = hit.price(side)
        if price > limit:
            return TapeFill(Decimal(0), None, hit.ts, hit.trade_id, ABOVE_LIMIT)
        return TapeFill(min(count, hit.count), price, hit.ts, hit.trade_id, FILLED)


__all__ = [
    "ABOVE_LIMIT",
    "DEFAULT_MAX_WAIT_S",
    "DEFAULT_QUOTE_MAX_AGE_S",
    "FILLED",
    "NO_PRINT",
    "TAPE_ASSUMPTION",
    "TapeBook",
    "TapeFill",
    "assumption_text",
]
