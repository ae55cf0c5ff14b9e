"""The recorder: the trading loop appends events to memory; a background thread writes Parquet parts.

Hot path: each `btc_trade`/`book`/... call builds one tuple and appends it to a deque (thread-safe,
no lock, no I/O). The two feed-rate sources append their own tuples through a channel: the BTC feed
(`btc_channel`) and the Kalshi websocket (`ws_channel`: the parsed message itself, converted to
columns in the writer thread by src/recording/ws_rows.py). A daemon thread wakes every
`flush_interval_s`, takes what is queued and writes one Parquet file per stream per UTC day:
written under a temporary name, fsynced, then renamed.
So a kill -9 loses at most the rows queued since the last flush, and never damages an earlier
part (a half-written temporary file is never read, and is removed at the next start).

Disk budget: when the recordings exceed `max_disk_bytes`, whole days are deleted oldest first
(never the day being written); if the current day alone is over the budget, new rows are
dropped and counted (`dropped`), with one error in the log: the bot keeps trading either way.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from src.journal.fsync import fsync_dir
from src.model.models import Market, OrderBook, OrderIntent
from src.model.tape import Candle
from src.recording.schema import (
    BOOK,
    BRTI,
    BTC,
    CANDLE,
    DECISION,
    DELTA,
    ENCODINGS,
    KALSHI_TRADE,
    MARKET,
    SCHEMAS,
    SNAPSHOT,
    STREAMS,
    EncodingError,
    dec_text,
    opt_to_e4,
    to_e2,
    to_e4,
)
from src.recording.ws_rows import WsItem, ws_rows

log = logging.getLogger("polybot.recording")

TMP_SUFFIX = ".tmp"
PART_SUFFIX = ".parquet"
DAY_FORMAT = "%Y-%m-%d"
SESSIONS_DIR = "sessions"


def day_name(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime(DAY_FORMAT)


def _levels(levels: Sequence[Any]) -> tuple[list[int], list[int]]:
    return [to_e4(lvl.price) for lvl in levels], [to_e2(lvl.count) for lvl in levels]


class Recorder:
    """Append-only recorder of one session; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        flush_interval_s: float = 5.0,
        max_disk_bytes: int = 2_000_000_000,
        session: int | None = None,
        wall_clock: Callable[[], float] = time.time,
        meta: dict[str, str] | None = None,
    ) -> None:
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be positive, got {flush_interval_s}")
        if not max_disk_bytes > 0:
            raise ValueError(f"max_disk_bytes must be positive, got {max_disk_bytes}")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.flush_interval_s = float(flush_interval_s)
        self.max_disk_bytes = int(max_disk_bytes)
        self.session = time.time_ns() if session is None else int(session)
        self._wall = wall_clock
        # Who recorded (mode, feed, Kalshi environment): kept beside the data, one small JSON per session
        # and day, so a replay can say whether its books were real (--paper/--live) or simulated (--sim).
        self.meta = {"session": str(self.session), "started": repr(wall_clock()), **(meta or {})}
        self._meta_days: set[str] = set()
        self._seq = itertools.count(1)
        self._queues: dict[str, deque[tuple[Any, ...]]] = {s: deque() for s in STREAMS if s != BTC}
        # BTC trades, the one stream at feed rate: a queue per source of (seq, trade id, trade time, price,
        # receive time) tuples that the feed appends itself (see btc_channel).
        self._btc_queues: dict[str, deque[tuple[int, int, float, float, float]]] = {}
        # The Kalshi websocket's events: (seq, receive time, parsed message or the ticker of a book that
        # stopped being whole), appended by the client itself (see ws_channel).
        self._ws_queue: deque[WsItem] = deque()
        self._write_lock = threading.Lock()  # one flush at a time (the thread, or close())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written_rows = 0
        self.written_bytes = 0
        self.parts = 0
        self.dropped = 0
        self.write_errors = 0
        self._budget_warned = False
        self._encoding_warned = False
        self._remove_stale_temporaries()
        self._disk_bytes = _tree_bytes(self.root)

    # -- appends (the trading loop's thread only) --------------------------------------------------

    def btc_channel(self, source: str) -> tuple[Callable[[tuple[int, int, float, float, float]], None],
                                                Iterator[int]]:
        """(append, seq) for a feed of `source`: per accepted trade the feed appends
        (next(seq), trade id, trade time, price, receive time). Two C calls and a tuple, no Python frame:
        this runs for every BTC trade, inside the trading loop."""
        queue = self._btc_queues.get(source)
        if queue is None:
            queue = self._btc_queues[source] = deque()
        return queue.append, self._seq

    def ws_channel(self) -> tuple[Callable[[WsItem], None], Iterator[int]]:
        """(append, seq) for the Kalshi websocket: per event it appends (next(seq), receive time, message).
        No conversion on the hot path: Decimal -> fixed point happens in the writer thread."""
        return self._ws_queue.append, self._seq

    def btc_trade(self, recv_ts: float, venue_ts: float, source: str, trade_id: int, price: float) -> None:
        append, seq = self.btc_channel(source)
        append((next(seq), trade_id, venue_ts, price, recv_ts))

    def _unencodable(self, stream: str, exc: EncodingError) -> None:
        # A value finer than the fixed-point columns hold (Kalshi changing its precision): the event is
        # dropped and counted, never raised into the trading loop.
        self.dropped += 1
        if not self._encoding_warned:
            self._encoding_warned = True
            log.error("recording: a %s event cannot be stored exactly (%s); such events are dropped", stream, exc)

    def book_snapshot(self, recv_ts: float, book: OrderBook, origin: str, *, venue_ts: float | None = None,
                      venue_seq: int | None = None) -> None:
        try:
            yes_px, yes_qty = _levels(book.yes_bids)
            no_px, no_qty = _levels(book.no_bids)
        except EncodingError as exc:
            self._unencodable(BOOK, exc)
            return
        self._queues[BOOK].append((next(self._seq), recv_ts, venue_ts, book.ticker, SNAPSHOT, origin, venue_seq,
                                   yes_px, yes_qty, no_px, no_qty, None, None, None, None))

    def book_delta(self, recv_ts: float, ticker: str, side: str, price: Decimal, delta: Decimal, *,
                   venue_ts: float | None = None, venue_seq: int | None = None, origin: str = "ws") -> None:
        try:
            px, dq = to_e4(price), to_e2(delta)
        except EncodingError as exc:
            self._unencodable(BOOK, exc)
            return
        self._queues[BOOK].append((next(self._seq), recv_ts, venue_ts, ticker, DELTA, origin, venue_seq,
                                   None, None, None, None, side, px, dq, None))

    def market(self, recv_ts: float, market: Market, origin: str) -> None:
        self._queues[MARKET].append((
            next(self._seq), recv_ts, market.ticker, market.event_ticker, market.status,
            market.open_time.timestamp(), market.close_time.timestamp(), dec_text(market.floor_strike),
            market.strike_type, market.result, dec_text(market.expiration_value), origin,
        ))

    def kalshi_trade(self, recv_ts: float, venue_ts: float | None, ticker: str, trade_id: str, taker_side: str,
                     yes_price: Decimal, count: Decimal) -> None:
        try:
            px, n = to_e4(yes_price), to_e2(count)
        except EncodingError as exc:
            self._unencodable(KALSHI_TRADE, exc)
            return
        self._queues[KALSHI_TRADE].append((next(self._seq), recv_ts, venue_ts, ticker, trade_id, taker_side, px, n))

    def candle(self, recv_ts: float, candle: Candle) -> None:
        try:
            row = (candle.period_s, opt_to_e4(candle.yes_bid_close), opt_to_e4(candle.yes_ask_close),
                   opt_to_e4(candle.price_close), to_e2(candle.volume))
        except EncodingError as exc:
            self._unencodable(CANDLE, exc)
            return
        self._queues[CANDLE].append((next(self._seq), recv_ts, candle.end_ts, candle.ticker, *row))

    def brti(self, recv_ts: float, venue_ts: float | None, value: Decimal, avg60: Decimal | None = None,
             settle_avg: Decimal | None = None, settle_start_ts: float | None = None, index_id: str = "BRTI") -> None:
        self._queues[BRTI].append((next(self._seq), recv_ts, venue_ts, str(value), dec_text(avg60),
                                   dec_text(settle_avg), settle_start_ts, index_id))

    def decision(self, ts: float, ticker: str | None, code: str, intent: OrderIntent | None) -> None:
        if intent is None:
            self._queues[DECISION].append((next(self._seq), ts, ticker, code, None, None, None, None, None))
            return
        try:
            count, limit = to_e2(intent.count), to_e4(intent.limit_price)
        except EncodingError as exc:
            self._unencodable(DECISION, exc)
            return
        self._queues[DECISION].append((
            next(self._seq), ts, ticker, code, intent.side.value, count, limit, intent.fair_prob, str(intent.edge),
        ))

    @property
    def queued(self) -> int:
        return (sum(len(q) for q in self._queues.values()) + sum(len(q) for q in self._btc_queues.values())
                + len(self._ws_queue))

    # -- the writer --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background flush thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="recorder-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the recorder must never take the bot down
                log.exception("recording flush failed")

    def close(self) -> None:
        """Stop the thread and write everything still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        self.flush()

    def flush(self) -> int:
        """Write what is queued now; returns the rows written."""
        with self._write_lock:
            written = 0
            for source, btc_queue in list(self._btc_queues.items()):
                n = len(btc_queue)
                if n:
                    take = btc_queue.popleft
                    # Later appends stay queued for the next flush. Reordered into the schema's columns here,
                    # in the writer thread, not in the feed.
                    raw = [take() for _ in range(n)]
                    written += self._write_rows(BTC, [(s, r, t, source, i, p) for s, i, t, p, r in raw])
            from_ws: dict[str, list[tuple[Any, ...]]] = {}
            n = len(self._ws_queue)
            if n:
                take_ws = self._ws_queue.popleft
                from_ws, unencodable = ws_rows([take_ws() for _ in range(n)])
                for stream, exc in unencodable:
                    self._unencodable(stream, exc)
            for stream, queue in self._queues.items():
                n = len(queue)
                pop = queue.popleft
                rows = [pop() for _ in range(n)]  # later appends stay queued for the next flush
                extra = from_ws.get(stream)
                if extra:
                    rows = sorted(rows + extra, key=_seq_of) if rows else extra
                if rows:
                    written += self._write_rows(stream, rows)
            return written

    def _write_rows(self, stream: str, rows: list[tuple[Any, ...]]) -> int:
        # Rows are in seq order; a batch crossing UTC midnight is split into the two days.
        by_day: dict[str, list[tuple[Any, ...]]] = {}
        first_day, last_day = day_name(rows[0][1]), day_name(rows[-1][1])
        if first_day == last_day:
            by_day[first_day] = rows
        else:
            for row in rows:
                by_day.setdefault(day_name(row[1]), []).append(row)
        written = 0
        for day, day_rows in by_day.items():
            if not self._make_room(day):
                self.dropped += len(day_rows)
                continue
            try:
                if day not in self._meta_days:
                    self._write_meta(day)
                size = self._write_part(stream, day, day_rows)
            except OSError as exc:
                self.write_errors += 1
                self.dropped += len(day_rows)
                log.error("recording: could not write %d %s rows: %s", len(day_rows), stream, exc)
                continue
            self._disk_bytes += size
            self.written_bytes += size
            self.written_rows += len(day_rows)
            self.parts += 1
            written += len(day_rows)
        return written

    def _write_part(self, stream: str, day: str, rows: list[tuple[Any, ...]]) -> int:
        schema = SCHEMAS[stream]
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array([self.session] * len(rows), pa.int64())]
        for field, values in zip(list(schema)[1:], columns, strict=True):  # the rows carry no session
            arrays.append(pa.array(values, field.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        folder = self.root / day / stream
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"part-{self.session}-{rows[0][0]:012d}{PART_SUFFIX}"
        tmp = final.with_name(final.name + TMP_SUFFIX)
        encodings, dictionary = ENCODINGS[stream]
        pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary, column_encoding=encodings)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        fsync_dir(folder)
        return final.stat().st_size

    def _write_meta(self, day: str) -> None:
        folder = self.root / day / SESSIONS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{self.session}.json"
        tmp = final.with_name(final.name + TMP_SUFFIX)
        tmp.write_text(json.dumps(self.meta, sort_keys=True), encoding="utf-8")
        os.replace(tmp, final)
        self._meta_days.add(day)

    def _make_room(self, day: str) -> bool:
        """Delete whole days, oldest first, until under budget; False when only `day` is left and over."""
        if self._disk_bytes < self.max_disk_bytes:
            return True
        days = sorted(p for p in self.root.iterdir() if p.is_dir() and p.name != day)
        for old in days:
            freed = _tree_bytes(old)
            shutil.rmtree(old, ignore_errors=True)
            self._disk_bytes -= freed
            log.warning("recording: disk budget %d MB reached, deleted %s", self.max_disk_bytes // 1_000_000, old.name)
            if self._disk_bytes < self.max_disk_bytes:
                return True
        if not self._budget_warned:
            self._budget_warned = True
            log.error("recording: today's recording alone exceeds the disk budget (%d MB): new events are dropped",
                      self.max_disk_bytes // 1_000_000)
        return False

    def _remove_stale_temporaries(self) -> None:
        for tmp in self.root.glob(f"*/*/*{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)


def _seq_of(row: tuple[Any, ...]) -> int:
    return int(row[0])


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
