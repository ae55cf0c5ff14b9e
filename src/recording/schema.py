"""The recording's streams and their Parquet columns, plus the exact fixed-point encodings of money.

Why Parquet (through pyarrow): the recording is append-only, read back by column (replay wants
every row in order; the edge report wants a few columns of millions of rows), and must stay in
the tens of MB per day. Parquet is columnar, compresses repeated values (tickers, reason codes,
slowly moving prices) to almost nothing with dictionary + zstd encoding, is readable by every
analysis tool (pandas, DuckDB, polars, Spark), and a file is either complete (its footer written)
or unreadable, which, with one file per flush written under a temporary name and renamed, makes
the store crash-safe. SQLite was the alternative: row-oriented, ~5x larger for this data, and a
write-ahead log to keep healthy on the trading machine. CSV/JSON lines: larger still, and
Decimal-unsafe unless every value is quoted.

Layout: ROOT/YYYY-MM-DD/<stream>/part-<session>-<first seq>.parquet (UTC day of the receive time).
Every row carries `session` (the recorder's start, ns) and `seq` (one counter across all streams of
a session): (session, seq) is the exact order in which the bot saw things, across streams.
Every row carries `recv_ts` (our clock when it arrived) and, where the venue sends one, `venue_ts`.

Money stays exact: Kalshi prices are stored as integers of 1/10,000 dollar (`*_e4`, Kalshi quotes
at most 4 decimals) and counts as integers of 1/100 contract (`*_e2`, Kalshi's `_fp` strings have 2
decimals); strikes, BRTI values and edges, whose precision varies, as decimal strings. BTC trade
prices are floats: the feed and the probability model use floats (DECISIONS.md §4).
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

BTC = "btc"  # one BTC trade from a price feed (per source)
BOOK = "book"  # a Kalshi order-book snapshot (REST poll, websocket snapshot) or one websocket delta
MARKET = "market"  # Kalshi market metadata: strike, open/close, status, result, expiration_value
KALSHI_TRADE = "kalshi_trade"  # one Kalshi public trade
BRTI = "brti"  # one CF Benchmarks BRTI value (the settlement index)
DECISION = "decision"  # one decision of the bot: its reason code, and the order it approved if any
LIFECYCLE = "lifecycle"  # one Kalshi market_lifecycle_v2 event (created, closed, determined, settled...)
# One Kalshi 1-minute candlestick (a downloaded day's only quotes: Kalshi publishes no past books). Last, so
# the indices of the older streams never move; a recording made before it simply has none.
CANDLE = "candle"
STREAMS = (BTC, BOOK, MARKET, KALSHI_TRADE, BRTI, DECISION, LIFECYCLE, CANDLE)

# Book event kinds and where a book came from (the engine's poll, the paper executor's fetch for an
# order, the settler, the recorder's own result watcher, a websocket).
SNAPSHOT = "snapshot"
DELTA = "delta"
# A websocket book stopped being whole without a seq gap in the data: the connection dropped, the
# subscription ended (error 10/25, an unanswered get_snapshot) or the market was unwatched. Gaps
# themselves need no row: the replay finds them in venue_sid/venue_seq exactly as the client did.
INVALID = "invalid"
ORIGIN_POLL = "poll"
ORIGIN_ORDER = "order"
ORIGIN_SETTLE = "settle"
ORIGIN_WATCH = "watch"
ORIGIN_WS = "ws"

_STR = pa.string()
_DICT = pa.dictionary(pa.int32(), pa.string())  # repeated text (tickers, codes): stored once per file
_F64 = pa.float64()
_I64 = pa.int64()
_I32 = pa.int32()

_HEAD = [("session", _I64), ("seq", _I64), ("recv_ts", _F64)]

SCHEMAS: dict[str, pa.Schema] = {
    BTC: pa.schema([*_HEAD, ("venue_ts", _F64), ("source", _DICT), ("trade_id", _I64), ("price", _F64)]),
    BOOK: pa.schema([
        *_HEAD, ("venue_ts", _F64), ("ticker", _DICT), ("kind", _DICT), ("origin", _DICT), ("venue_seq", _I64),
        ("yes_px_e4", pa.list_(_I32)), ("yes_qty_e2", pa.list_(_I64)),
        ("no_px_e4", pa.list_(_I32)), ("no_qty_e2", pa.list_(_I64)),
        # A delta: the side ("yes"/"no"), the price level and the change of its size.
        ("side", _DICT), ("price_e4", _I32), ("delta_e2", _I64),
        # The websocket subscription (sid) whose seq venue_seq counts; None for REST books.
        ("venue_sid", _I64),
    ]),
    MARKET: pa.schema([
        *_HEAD, ("ticker", _DICT), ("event_ticker", _DICT), ("status", _DICT), ("open_ts", _F64), ("close_ts", _F64),
        ("floor_strike", _STR), ("strike_type", _DICT), ("result", _DICT), ("expiration_value", _STR),
        ("origin", _DICT),
    ]),
    KALSHI_TRADE: pa.schema([
        *_HEAD, ("venue_ts", _F64), ("ticker", _DICT), ("trade_id", _STR), ("taker_side", _DICT),
        ("yes_price_e4", _I32), ("count_e2", _I64),
    ]),
    # venue_ts: CF Benchmarks' publication time; settle_avg: in the last minute before a quarter hour, the
    # running settlement average of the window starting at settle_start_ts (None otherwise).
    BRTI: pa.schema([*_HEAD, ("venue_ts", _F64), ("value", _STR), ("avg60", _STR), ("settle_avg", _STR),
                     ("settle_start_ts", _F64), ("index_id", _DICT)]),
    DECISION: pa.schema([
        *_HEAD, ("ticker", _DICT), ("code", _DICT), ("side", _DICT), ("count_e2", _I64), ("limit_e4", _I32),
        ("fair_prob", _F64), ("edge", _STR),
    ]),
    LIFECYCLE: pa.schema([
        *_HEAD, ("ticker", _DICT), ("event_type", _DICT), ("open_ts", _F64), ("close_ts", _F64),
        ("determination_ts", _F64), ("settled_ts", _F64), ("result", _DICT), ("settlement_value", _STR),
        ("floor_strike", _STR), ("strike_type", _DICT),
    ]),
    # recv_ts = venue_ts = the period's end (when the candle became known); YES-quoted closes, None where the
    # period had none.
    CANDLE: pa.schema([
        *_HEAD, ("venue_ts", _F64), ("ticker", _DICT), ("period_s", _I32), ("yes_bid_close_e4", _I32),
        ("yes_ask_close_e4", _I32), ("price_close_e4", _I32), ("volume_e2", _I64),
    ]),
}

def _encodings(schema: pa.Schema) -> tuple[dict[str, str], list[str]]:
    """Parquet encodings per column: floats split by byte (timestamps and prices compress ~5x better),
    integers delta-packed (seq, ids, times), repeated text as a dictionary; the rest plain."""
    encodings: dict[str, str] = {}
    dictionary: list[str] = []
    for f in schema:
        if pa.types.is_dictionary(f.type):
            dictionary.append(f.name)
        elif pa.types.is_floating(f.type):
            encodings[f.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_integer(f.type):
            encodings[f.name] = "DELTA_BINARY_PACKED"
    return encodings, dictionary


ENCODINGS: dict[str, tuple[dict[str, str], list[str]]] = {name: _encodings(s) for name, s in SCHEMAS.items()}

E4 = Decimal("10000")
E2 = Decimal("100")
_Q4 = Decimal("0.0001")
_Q2 = Decimal("0.01")


class EncodingError(ValueError):
    """A value that cannot be stored exactly in the recording's fixed-point columns."""


def to_e4(price: Decimal) -> int:
    """Dollars -> integer 1/10,000 dollars, refusing anything finer than Kalshi's 4 decimals."""
    scaled = price * E4
    if scaled != scaled.to_integral_value():
        raise EncodingError(f"price {price} has more than 4 decimals")
    return int(scaled)


def to_e2(count: Decimal) -> int:
    """Contracts -> integer 1/100 contracts, refusing anything finer than Kalshi's 2 decimals."""
    scaled = count * E2
    if scaled != scaled.to_integral_value():
        raise EncodingError(f"count {count} has more than 2 decimals")
    return int(scaled)


def from_e4(value: int) -> Decimal:
    return (Decimal(value) / E4).quantize(_Q4)


def opt_to_e4(price: Decimal | None) -> int | None:
    return None if price is None else to_e4(price)


def opt_from_e4(value: int | None) -> Decimal | None:
    return None if value is None else from_e4(value)


def from_e2(value: int) -> Decimal:
    return (Decimal(value) / E2).quantize(_Q2)


def dec_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def text_dec(value: str | None) -> Decimal | None:
    return None if value is None or value == "" else Decimal(value)
