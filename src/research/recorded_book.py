"""A recording's markets and order books as MarketData, with the latency model the replay fills by.

Every recorded book (whoever fetched it: the engine's poll, the paper executor, the settler, a
websocket snapshot or delta) becomes one state of its market's book at its receive time.

Websocket books are rebuilt exactly as the client built them: the recorded snapshots and deltas, with
their subscription id and seq, go through the client's own BookKeeper (src/data/kalshi_book.py), so a
seq gap, a delta that would leave a level negative, a dropped connection or an ended subscription
(recorded as `invalid` rows) leaves the book not whole until the next snapshot, as it was live. The
client subscribes each market on its own sid, so a row changes only its own market's book.

Latency model: an order decided at replay time t fills against the book in effect at t + latency,
walking its real depth at the real fee (the paper executor does the walking). Where the recording
has a whole websocket book at t + latency, that is the book (as the daemon's LiveMarketData serves
it); otherwise the latest REST book recorded at or before t + latency. With REST polls once a second,
the book between two polls is unknown: latencies shorter than the gap to the next poll see the same
book. Latency 0 is the book the decision itself read (or a newer one recorded at the same instant).

A recording of the daemon also holds, for every order it sent, the book its paper executor fetched
(origin `order`), at the moment it fetched it. The executor's view (`OrderBookView`) counts the
latency from that moment: the run's own decision-to-book delay is part of what happened, so latency
0 is exactly the book the run filled against, and latency L is L later. Without such a fetch (a
`--record-only` recording, or an order only the replay sent) it counts from the decision.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal

from src.data.kalshi_book import BookKeeper
from src.data.kalshi_ws_messages import BookDelta, BookSnapshot
from src.model.models import ZERO, BookLevel, Clock, Market, OrderBook, Side, utc_from_ts
from src.recording.reader import Recording
from src.recording.schema import (
    BOOK,
    DELTA,
    INVALID,
    MARKET,
    ORIGIN_ORDER,
    ORIGIN_WS,
    SNAPSHOT,
    from_e2,
    from_e4,
    text_dec,
)


class NoRecordedBook(LookupError):
    """The recording holds no book of this market at the asked time."""


@dataclass(frozen=True, slots=True)
class BookEvent:
    """One recorded book state: who fetched it, and the book after it."""

    ticker: str  # "" for a websocket row that ended every book (the connection dropped)
    recv_ts: float
    origin: str
    book: OrderBook | None  # None: a websocket book that is not whole after this row


class _Decimals:
    """Memoised fixed-point -> Decimal conversions (a day repeats the same few hundred prices)."""

    def __init__(self) -> None:
        self._px: dict[int, Decimal] = {}
        self._qty: dict[int, Decimal] = {}

    def px(self, v: int) -> Decimal:
        d = self._px.get(v)
        if d is None:
            d = self._px[v] = from_e4(v)
        return d

    def qty(self, v: int) -> Decimal:
        d = self._qty.get(v)
        if d is None:
            d = self._qty[v] = from_e2(v)
        return d


def _levels(conv: _Decimals, prices: list[int] | None, counts: list[int] | None) -> tuple[BookLevel, ...]:
    if not prices or counts is None:
        return ()
    return tuple(BookLevel(conv.px(p), conv.qty(c)) for p, c in zip(prices, counts, strict=True))


def _apply_delta(levels: tuple[BookLevel, ...], price: Decimal, delta: Decimal) -> tuple[BookLevel, ...]:
    sizes = {lvl.price: lvl.count for lvl in levels}
    size = sizes.get(price, ZERO) + delta
    if size > 0:
        sizes[price] = size
    else:
        sizes.pop(price, None)
    return tuple(BookLevel(p, sizes[p]) for p in sorted(sizes))  # ascending, best bid last, as Kalshi sends


def _pairs(conv: _Decimals, prices: list[int] | None, counts: list[int] | None
           ) -> tuple[tuple[Decimal, Decimal], ...]:
    if not prices or counts is None:
        return ()
    return tuple((conv.px(p), conv.qty(c)) for p, c in zip(prices, counts, strict=True))


def book_events(rec: Recording) -> list[BookEvent | None]:
    """The book after each row of the book stream (None for a row that yields no book: a delta with no
    snapshot before it in a recording without seq numbers)."""
    col = rec.column
    tickers, recvs, kinds, origins = col(BOOK, "ticker"), col(BOOK, "recv_ts"), col(BOOK, "kind"), col(BOOK, "origin")
    yes_px, yes_qty, no_px, no_qty = (col(BOOK, n) for n in ("yes_px_e4", "yes_qty_e2", "no_px_e4", "no_qty_e2"))
    sides, prices, deltas = col(BOOK, "side"), col(BOOK, "price_e4"), col(BOOK, "delta_e2")
    sids, seqs = col(BOOK, "venue_sid"), col(BOOK, "venue_seq")
    conv = _Decimals()
    keeper = BookKeeper()  # websocket rows with their sid: rebuilt by the client's own rules
    last: dict[str, OrderBook] = {}
    out: list[BookEvent | None] = []
    for i, ticker in enumerate(tickers):
        recv = recvs[i]
        kind = kinds[i]
        if origins[i] == ORIGIN_WS and (sids[i] is not None or kind == INVALID):
            if kind == SNAPSHOT:
                keeper.on_snapshot(BookSnapshot(sids[i], seqs[i], ticker, _pairs(conv, yes_px[i], yes_qty[i]),
                                                _pairs(conv, no_px[i], no_qty[i])), recv)
            elif kind == DELTA:
                keeper.on_delta(BookDelta(sids[i], seqs[i], ticker, Side(sides[i]), conv.px(prices[i]),
                                          conv.qty(deltas[i]), None), recv)
            elif ticker:
                keeper.invalidate(ticker)
            else:
                keeper.invalidate_all()
            out.append(BookEvent(ticker, recv, ORIGIN_WS, keeper.book(ticker) if ticker else None))
            continue
        if kind == DELTA:
            prev = last.get(ticker)
            if prev is None:
                out.append(None)
                continue
            price, delta = conv.px(prices[i]), from_e2(deltas[i])
            if sides[i] == "yes":
                book = OrderBook(ticker, _apply_delta(prev.yes_bids, price, delta), prev.no_bids, recv)
            else:
                book = OrderBook(ticker, prev.yes_bids, _apply_delta(prev.no_bids, price, delta), recv)
        else:
            book = OrderBook(ticker, _levels(conv, yes_px[i], yes_qty[i]), _levels(conv, no_px[i], no_qty[i]), recv)
        last[ticker] = book
        out.append(BookEvent(ticker, recv, origins[i], book))
    return out


def market_events(rec: Recording) -> list[Market]:
    """The Market of each row of the market stream."""
    col = rec.column
    names = ("ticker", "event_ticker", "status", "open_ts", "close_ts", "floor_strike", "strike_type", "result",
             "expiration_value")
    cols = [col(MARKET, n) for n in names]
    return [
        Market(ticker=t, event_ticker=e, status=s, open_time=utc_from_ts(o), close_time=utc_from_ts(c),
               floor_strike=text_dec(k), result=r or "", expiration_value=text_dec(x), strike_type=st or "")
        for t, e, s, o, c, k, st, r, x in zip(*cols, strict=True)
    ]


class _History:
    """Time-ordered states of one market's book or metadata."""

    __slots__ = ("times", "states")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.states: list[object] = []

    def add(self, ts: float, state: object) -> None:
        if self.times and ts < self.times[-1]:
            ts = self.times[-1]  # a clock step back: keep the order in which they were seen
        self.times.append(ts)
        self.states.append(state)

    def at(self, ts: float) -> object | None:
        i = bisect.bisect_right(self.times, ts)
        return self.states[i - 1] if i else None


class RecordedBooks:
    """interfaces.LiveBooks over a replay: the websocket books as the replay has reached them.

    The replay applies each recorded websocket row as it passes it (`apply`), so the engine reads the
    book it read live. A whole recorded book counts as current (age 0): silence on the connection is
    not recorded until the client gives up on it (an `invalid` row), so a live `book_stale` from a
    silent connection shows as a decision that differs (the replay counts matched decisions).
    """

    def __init__(self) -> None:
        self._books: dict[str, OrderBook | None] = {}
        self.watched: list[str] = []

    def apply(self, ev: BookEvent) -> None:
        if ev.ticker:
            self._books[ev.ticker] = ev.book
        else:
            self._books = dict.fromkeys(self._books)

    async def run(self) -> None:
        return None  # the replay loop feeds it; there is no connection to run

    def stop(self) -> None:
        return None

    def watch(self, tickers: list[str]) -> None:
        self.watched = list(tickers)

    def book(self, ticker: str) -> OrderBook | None:
        return self._books.get(ticker)

    def book_age(self, ticker: str, now: float) -> float | None:
        return None if self._books.get(ticker) is None else 0.0


class RecordedMarketData:
    """interfaces.MarketData over a recording, answering as of the replay clock (+ latency for books)."""

    def __init__(self, books: list[BookEvent | None], rec: Recording, markets: list[Market], clock: Clock,
                 latency_s: float = 0.0) -> None:
        self._clock = clock
        self.latency_s = float(latency_s)
        self._books: dict[str, _History] = {}  # REST books (poll, order, settle) and hand-made ones
        self._ws: dict[str, _History] = {}  # websocket states (None while not whole)
        for ev in books:
            if ev is None:
                continue
            if ev.origin != ORIGIN_WS:
                self._books.setdefault(ev.ticker, _History()).add(ev.recv_ts, ev.book)
            elif ev.ticker:
                self._ws.setdefault(ev.ticker, _History()).add(ev.recv_ts, ev.book)
            else:
                for hist in self._ws.values():
                    hist.add(ev.recv_ts, None)
        self._order_fetches: dict[str, list[float]] = {}  # when the run's executor fetched each order's book
        for ev in books:
            if ev is not None and ev.origin == ORIGIN_ORDER:
                self._order_fetches.setdefault(ev.ticker, []).append(ev.recv_ts)
        for times in self._order_fetches.values():
            times.sort()
        self._markets: dict[str, _History] = {}
        for recv, market in zip(rec.column(MARKET, "recv_ts"), markets, strict=True):
            self._markets.setdefault(market.ticker, _History()).add(recv, market)

    async def get_market(self, ticker: str) -> Market:
        hist = self._markets.get(ticker)
        market = hist.at(self._clock()) if hist else None
        if not isinstance(market, Market):
            raise NoRecordedBook(f"no recorded market {ticker} at {self._clock():.3f}")
        return market

    async def get_current_market(self, now: float) -> Market | None:
        best: Market | None = None
        for hist in self._markets.values():
            m = hist.at(now)
            if isinstance(m, Market) and m.open_time.timestamp() <= now < m.close_time.timestamp():
                best = m
        return best

    async def get_orderbook(self, ticker: str) -> OrderBook:
        return self.book_at(ticker, self._clock() + self.latency_s)

    def order_fetch_after(self, ticker: str, start: float, before: float) -> float | None:
        """When the run's executor fetched `ticker`'s book in [start, before), if it did."""
        times = self._order_fetches.get(ticker)
        if not times:
            return None
        i = bisect.bisect_left(times, start)
        return times[i] if i < len(times) and times[i] < before else None

    def book_at(self, ticker: str, at: float) -> OrderBook:
        """The book in effect at `at`: the websocket's while whole, else the latest REST book."""
        ws = self._ws.get(ticker)
        book = ws.at(at) if ws else None
        if isinstance(book, OrderBook):
            return book
        hist = self._books.get(ticker)
        book = hist.at(at) if hist else None
        if not isinstance(book, OrderBook):
            raise NoRecordedBook(f"no recorded book of {ticker} at {at:.3f}")
        return book


class OrderBookView:
    """What the replay's paper executor walks: latency counted from the run's own book fetch (see above).

    An order decided at t belongs to the run's fetch of its market's book at or after t and before the
    next recorded decision (the daemon awaits each order before it decides again).
    """

    def __init__(self, data: RecordedMarketData, decision_times: list[float], clock: Clock) -> None:
        self._data = data
        self._decisions = sorted(decision_times)
        self._clock = clock

    async def get_orderbook(self, ticker: str) -> OrderBook:
        now = self._clock()
        if not self._decisions:  # not replaying the run's own decisions: no fetch belongs to an order
            return self._data.book_at(ticker, now + self._data.latency_s)
        i = bisect.bisect_right(self._decisions, now)
        before = self._decisions[i] if i < len(self._decisions) else float("inf")
        fetched = self._data.order_fetch_after(ticker, now, before)
        return self._data.book_at(ticker, (now if fetched is None else fetched) + self._data.latency_s)
