"""Local Kalshi order books kept from websocket snapshots and deltas, whole only while `seq` is unbroken."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from src.data.kalshi_ws_messages import BookDelta, BookSnapshot
from src.model.models import BookLevel, OrderBook, Side

ZERO = Decimal(0)


class DeltaOutcome(StrEnum):
    """What one delta did to the books."""

    APPLIED = "applied"
    # The sequence broke (a message was lost) or the delta contradicts the book: every book of that
    # subscription is no longer whole until a snapshot arrives.
    GAP = "gap"
    # The book is already waiting for a snapshot (or unknown): the delta cannot be applied.
    IGNORED = "ignored"


@dataclass(slots=True)
class _Book:
    ticker: str
    sid: int
    yes: dict[Decimal, Decimal] = field(default_factory=dict)
    no: dict[Decimal, Decimal] = field(default_factory=dict)
    whole: bool = False
    changed_at: float = 0.0
    version: int = 0
    cached: OrderBook | None = None


@dataclass(frozen=True, slots=True)
class BookCounters:
    snapshots: int
    deltas: int
    gaps: int
    ignored: int


class BookKeeper:
    """Books by market ticker. A book is whole from a snapshot until a gap; only whole books are served.

    `seq` is per subscription (sid): each message on a sid carries the previous seq + 1. A jump, a
    repeat, or a delta that would leave a level negative means the local copy may differ from the
    exchange's, so the books of that sid stop being whole; the client then asks for get_snapshot.
    Levels are Decimal; a level that reaches zero is removed.
    """

    def __init__(self) -> None:
        self._books: dict[str, _Book] = {}
        self._next_seq: dict[int, int] = {}
        self.snapshots = 0
        self.deltas = 0
        self.gaps = 0
        self.ignored = 0

    # -- updates -----------------------------------------------------------------------------------

    def on_snapshot(self, snap: BookSnapshot, now: float) -> None:
        """Replace the market's book with the snapshot; it is whole from here."""
        expected = self._next_seq.get(snap.sid)
        if expected is not None and snap.seq != expected:
            # Messages for the sid's other markets may have been lost in between.
            self._break_sid(snap.sid, except_ticker=snap.ticker)
        self._next_seq[snap.sid] = snap.seq + 1
        book = self._books.get(snap.ticker)
        if book is None:
            book = self._books[snap.ticker] = _Book(snap.ticker, snap.sid)
        book.sid = snap.sid
        book.yes = _levels(snap.yes)
        book.no = _levels(snap.no)
        book.whole = True
        self._touch(book, now)
        self.snapshots += 1

    def on_delta(self, delta: BookDelta, now: float) -> DeltaOutcome:
        expected = self._next_seq.get(delta.sid)
        if expected is None:
            self.ignored += 1
            return DeltaOutcome.IGNORED  # no snapshot yet on this subscription
        self._next_seq[delta.sid] = delta.seq + 1
        if delta.seq != expected:
            self._break_sid(delta.sid)
            self.gaps += 1
            return DeltaOutcome.GAP
        book = self._books.get(delta.ticker)
        if book is None or not book.whole or book.sid != delta.sid:
            self.ignored += 1
            return DeltaOutcome.IGNORED
        levels = book.yes if delta.side is Side.YES else book.no
        count = levels.get(delta.price, ZERO) + delta.delta
        if count < ZERO:
            # The exchange never shows negative depth: our copy is wrong somewhere.
            self._break_sid(delta.sid)
            self.gaps += 1
            return DeltaOutcome.GAP
        if count == ZERO:
            levels.pop(delta.price, None)
        else:
            levels[delta.price] = count
        self._touch(book, now)
        self.deltas += 1
        return DeltaOutcome.APPLIED

    def invalidate_all(self) -> None:
        """The connection is gone: nothing is known to be current until new snapshots arrive."""
        for book in self._books.values():
            book.whole = False
            book.cached = None
        self._next_seq.clear()

    def invalidate(self, ticker: str) -> None:
        book = self._books.get(ticker)
        if book is not None:
            book.whole = False
            book.cached = None

    def forget(self, ticker: str) -> None:
        """Stop keeping a market's book (its window is over)."""
        self._books.pop(ticker, None)

    # -- reads -------------------------------------------------------------------------------------

    def is_whole(self, ticker: str) -> bool:
        book = self._books.get(ticker)
        return book is not None and book.whole

    def book(self, ticker: str) -> OrderBook | None:
        """The market's book as an OrderBook (bids ascending, best last), or None unless whole."""
        book = self._books.get(ticker)
        if book is None or not book.whole:
            return None
        if book.cached is None:
            book.cached = OrderBook(ticker, _sorted(book.yes), _sorted(book.no), book.changed_at)
        return book.cached

    def version(self, ticker: str) -> int:
        """Bumped on every change of the market's book (the engine coalesces on it)."""
        book = self._books.get(ticker)
        return -1 if book is None else book.version

    def changed_at(self, ticker: str) -> float | None:
        book = self._books.get(ticker)
        return None if book is None else book.changed_at

    def tickers(self) -> list[str]:
        return list(self._books)

    def sid_of(self, ticker: str) -> int | None:
        book = self._books.get(ticker)
        return None if book is None else book.sid

    def tickers_of_sid(self, sid: int) -> list[str]:
        return [b.ticker for b in self._books.values() if b.sid == sid]

    def counters(self) -> BookCounters:
        return BookCounters(self.snapshots, self.deltas, self.gaps, self.ignored)

    # -- internals ---------------------------------------------------------------------------------

    def _break_sid(self, sid: int, except_ticker: str = "") -> None:
        for book in self._books.values():
            if book.sid == sid and book.ticker != except_ticker:
                book.whole = False
                book.cached = None

    @staticmethod
    def _touch(book: _Book, now: float) -> None:
        book.changed_at = now
        book.version += 1
        book.cached = None


def _levels(pairs: tuple[tuple[Decimal, Decimal], ...]) -> dict[Decimal, Decimal]:
    return {price: count for price, count in pairs if count > ZERO}


def _sorted(levels: dict[Decimal, Decimal]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(price, levels[price]) for price in sorted(levels))
