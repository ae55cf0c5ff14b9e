"""Writes a downloaded history day as a recording day (src/recording's Parquet format), so recording readers read it.

Needs the recorder of issue 20 (src/recording). What a day becomes, in one time-ordered sequence:
  market        two rows per settled market: at its open (status active, no result yet: what the
                recorder would have seen while it traded) and at its close (status, result,
                expiration_value as Kalshi published them); origin "history"
  kalshi_trade  every public print, recv_ts = venue_ts = its created_time
  candle        every 1-minute candlestick of a settled market, recv_ts = venue_ts = the end of its
                minute (when it became known): the TAPE fill's quote when no recent print is at hand
  btc           every tick of the day's BTC file (for klines: the four ticks price_files makes of each
                bar), recv_ts = venue_ts = its time, source = the BTC history source
The session id is the day's start in nanoseconds and the session note says origin=download, so a
re-export replaces its own parts (removed first) and never adds a second copy; real recordings of
the same day (other sessions) are left alone. There is no book stream: Kalshi publishes no past books.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

from src.data.history_store import HistoryStore, day_start, read_jsonl, write_atomic
from src.data.kalshi_history import parse_candle, parse_settled_market, parse_trade
from src.data.price_files import open_ticks
from src.model.models import Market
from src.model.tape import Candle, TapeTrade
from src.recording.schema import STREAMS
from src.recording.writer import PART_SUFFIX, SESSIONS_DIR, Recorder

ORIGIN_HISTORY = "history"
# Tie order at one instant: market state, then prints, then candles, then BTC.
_MARKET, _TRADE, _CANDLE, _BTC = 0, 1, 2, 3
Event = tuple[float, int, int, Market | TapeTrade | Candle | tuple[float, float, int]]


def session_for(day: date) -> int:
    return int(day_start(day)) * 1_000_000_000


def _clear_session(recording_root: Path, day: date, session: int) -> None:
    folder = recording_root / day.isoformat()
    for stream in STREAMS:
        for part in (folder / stream).glob(f"part-{session}-*{PART_SUFFIX}"):
            part.unlink()
    (folder / SESSIONS_DIR / f"{session}.json").unlink(missing_ok=True)


def export_day(store: HistoryStore, day: date, recording_root: Path, btc_source: str | None) -> int:
    """Write `day` of `store` into `recording_root`; returns the rows written."""
    store.exported_path(day).unlink(missing_ok=True)
    session = session_for(day)
    _clear_session(recording_root, day, session)
    meta = {"origin": "download", "btc_source": btc_source or "none"}
    recorder = Recorder(recording_root, session=session, wall_clock=lambda: day_start(day), meta=meta)
    markets = [parse_settled_market(r) for r in read_jsonl(store.markets_path(day))] \
        if store.markets_path(day).is_file() else []

    def market_events() -> Iterator[Event]:
        rows = []
        for m in markets:
            rows.append((m.open_time.timestamp(), _MARKET, len(rows),
                         replace(m, status="active", result="", expiration_value=None)))
            rows.append((m.close_time.timestamp(), _MARKET, len(rows), m))
        rows.sort(key=lambda r: (r[0], r[2]))
        yield from rows

    def trade_events() -> Iterator[Event]:
        trades = []
        for m in markets:
            path = store.trades_path(day, m.ticker)
            if path.is_file():
                trades.extend(parse_trade(r) for r in read_jsonl(path))
        trades.sort(key=lambda t: (t.ts, t.trade_id))
        for i, t in enumerate(trades):
            yield (t.ts, _TRADE, i, t)

    def candle_events() -> Iterator[Event]:
        candles = []
        for m in markets:
            path = store.candles_path(day, m.ticker)
            if path.is_file():  # imported days may have prints without candles
                candles.extend(parse_candle(r, m.ticker) for r in read_jsonl(path))
        candles.sort(key=lambda c: (c.end_ts, c.ticker))
        for i, c in enumerate(candles):
            yield (c.end_ts, _CANDLE, i, c)

    def btc_events() -> Iterator[Event]:
        if btc_source is None or not store.btc_path(btc_source, day).is_file():
            return
        for i, tick in enumerate(open_ticks(store.btc_path(btc_source, day)).ticks):
            yield (tick[0], _BTC, i, tick)

    rows = 0
    events = heapq.merge(market_events(), trade_events(), candle_events(), btc_events(), key=lambda e: e[:3])
    for ts, _, _, item in events:
        if isinstance(item, Market):
            recorder.market(ts, item, ORIGIN_HISTORY)
        elif isinstance(item, TapeTrade):
            recorder.kalshi_trade(ts, ts, item.ticker, item.trade_id, item.taker_side.value, item.yes_price,
                                  item.count)
        elif isinstance(item, Candle):
            recorder.candle(ts, item)
        else:
            recorder.btc_trade(ts, ts, btc_source or "", int(item[2]), float(item[1]))
        rows += 1
    recorder.flush()
    # Written last: its presence means the recording day is whole (an interrupted export is redone).
    write_atomic(store.exported_path(day), f"{rows}\n")
    return rows


__all__ = ["ORIGIN_HISTORY", "export_day", "session_for"]
