"""Turns the Kalshi websocket's queued events into the recording's rows (run in the writer thread).

The websocket client appends (seq, receive time, item) per event (Recorder.ws_channel); `item` is the
parsed message as the client handled it, or a market ticker whose book stopped being whole without a
seq gap ("" for every book: the connection ended). Converting here, not in the trading loop, keeps
the per-event cost of recording to one tuple and one append.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from src.data.kalshi_ws_messages import BookDelta, BookSnapshot, IndexValue, LifecycleEvent, PublicTrade
from src.recording.schema import (
    BOOK,
    BRTI,
    DELTA,
    INVALID,
    KALSHI_TRADE,
    LIFECYCLE,
    ORIGIN_WS,
    SNAPSHOT,
    EncodingError,
    dec_text,
    to_e2,
    to_e4,
)

WsItem = tuple[int, float, Any]
Row = tuple[Any, ...]


def _pairs(levels: tuple[tuple[Decimal, Decimal], ...]) -> tuple[list[int], list[int]]:
    return [to_e4(p) for p, _ in levels], [to_e2(c) for _, c in levels]


def _ms(value: int | None) -> float | None:
    return None if value is None else value / 1000.0


def _sec(value: int | None) -> float | None:
    return None if value is None else float(value)


def ws_row(seq: int, recv: float, item: Any) -> tuple[str, Row] | None:
    """(stream, row) of one websocket event; None for a message the recording does not keep."""
    if isinstance(item, BookDelta):
        return BOOK, (seq, recv, _ms(item.ts_ms), item.ticker, DELTA, ORIGIN_WS, item.seq, None, None, None, None,
                      item.side.value, to_e4(item.price), to_e2(item.delta), item.sid)
    if isinstance(item, BookSnapshot):
        yes_px, yes_qty = _pairs(item.yes)
        no_px, no_qty = _pairs(item.no)
        return BOOK, (seq, recv, None, item.ticker, SNAPSHOT, ORIGIN_WS, item.seq, yes_px, yes_qty, no_px, no_qty,
                      None, None, None, item.sid)
    if isinstance(item, str):
        return BOOK, (seq, recv, None, item, INVALID, ORIGIN_WS, None, None, None, None, None, None, None, None, None)
    if isinstance(item, PublicTrade):
        return KALSHI_TRADE, (seq, recv, _ms(item.ts_ms), item.ticker, item.trade_id, item.taker_side.value,
                              to_e4(item.yes_price), to_e2(item.count))
    if isinstance(item, IndexValue):
        settle = item.settle_avg
        settle_value, settle_start = (None, None) if settle is None else (str(settle.value), settle.start_ms / 1000.0)
        return BRTI, (seq, recv, _ms(item.source_ts_ms), str(item.value), str(item.avg_60s.value), settle_value,
                      settle_start, item.index_id)
    if isinstance(item, LifecycleEvent):
        return LIFECYCLE, (seq, recv, item.ticker, item.event_type, _sec(item.open_ts), _sec(item.close_ts),
                           _sec(item.determination_ts), _sec(item.settled_ts), item.result or None,
                           dec_text(item.settlement_value), dec_text(item.floor_strike), item.strike_type or None)
    return None


def ws_rows(items: list[WsItem]) -> tuple[dict[str, list[Row]], list[tuple[str, EncodingError]]]:
    """Rows per stream, in seq order, and the events that cannot be stored exactly (stream, why)."""
    out: dict[str, list[Row]] = {}
    bad: list[tuple[str, EncodingError]] = []
    for seq, recv, item in items:
        try:
            converted = ws_row(seq, recv, item)
        except EncodingError as exc:
            bad.append((BOOK if isinstance(item, BookDelta | BookSnapshot) else KALSHI_TRADE, exc))
            continue
        if converted is not None:
            out.setdefault(converted[0], []).append(converted[1])
    return out, bad
