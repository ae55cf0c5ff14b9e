"""Reads a recording (src/recording) as TAPE data: its settled markets, Kalshi prints, candles and BTC trades."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from src.model.models import Market, Side
from src.model.tape import Candle, TapeTrade
from src.recording.reader import Recording, load_recording
from src.recording.schema import (
    BOOK,
    BTC,
    CANDLE,
    KALSHI_TRADE,
    MARKET,
    from_e2,
    from_e4,
    opt_from_e4,
    text_dec,
)
from src.research.tape_data import TapeData


def recording_has_books(path: Path) -> bool:
    """Whether a recording holds any order-book part (a downloaded day has none: only TAPE applies)."""
    return any(Path(path).glob(f"**/{BOOK}/*.parquet"))


def load_tape_from_recording(path: Path, start: float | None = None, end: float | None = None) -> TapeData:
    """The markets that settled yes/no in the recording (their last state), with prints, candles and BTC ticks."""
    return tape_from_recording(load_recording(path, start, end))


def tape_from_recording(rec: Recording) -> TapeData:
    """The same, from a recording already loaded (the edge report has one: no second read).

    For the edge report's tape section: t = tape_from_recording(rec);
    render_tape_stats(tape_statistics(t.trades, t.close_ts)).
    """
    col = rec.column
    last: dict[str, int] = {}
    for row, ticker in enumerate(col(MARKET, "ticker")):
        last[ticker] = row  # rows are in the order seen: the last one is the latest state
    markets = []
    for ticker, row in last.items():
        result = col(MARKET, "result")[row]
        if result not in ("yes", "no"):
            continue
        markets.append(Market(
            ticker=ticker, event_ticker=col(MARKET, "event_ticker")[row] or "",
            status=col(MARKET, "status")[row] or "", result=result,
            open_time=datetime.fromtimestamp(col(MARKET, "open_ts")[row], tz=UTC),
            close_time=datetime.fromtimestamp(col(MARKET, "close_ts")[row], tz=UTC),
            floor_strike=text_dec(col(MARKET, "floor_strike")[row]),
            expiration_value=text_dec(col(MARKET, "expiration_value")[row]),
            strike_type=col(MARKET, "strike_type")[row] or "greater_or_equal",
        ))
    markets.sort(key=lambda m: (m.close_time, m.ticker))
    trades: dict[str, dict[str, TapeTrade]] = {m.ticker: {} for m in markets}
    venue, recv = col(KALSHI_TRADE, "venue_ts"), col(KALSHI_TRADE, "recv_ts")
    for i, ticker in enumerate(col(KALSHI_TRADE, "ticker")):
        if ticker not in trades:
            continue
        trade_id = col(KALSHI_TRADE, "trade_id")[i]
        trades[ticker][trade_id] = TapeTrade(
            trade_id=trade_id, ticker=ticker, ts=venue[i] if venue[i] is not None else recv[i],
            yes_price=from_e4(col(KALSHI_TRADE, "yes_price_e4")[i]), count=from_e2(col(KALSHI_TRADE, "count_e2")[i]),
            taker_side=Side(col(KALSHI_TRADE, "taker_side")[i]),
        )
    candles: dict[str, dict[float, Candle]] = {m.ticker: {} for m in markets}
    # A recording without the candle stream (made before it existed, or by the daemon) reads as no candles.
    cvenue, cperiod = col(CANDLE, "venue_ts"), col(CANDLE, "period_s")
    bid, ask, last, volume = (col(CANDLE, "yes_bid_close_e4"), col(CANDLE, "yes_ask_close_e4"),
                              col(CANDLE, "price_close_e4"), col(CANDLE, "volume_e2"))
    for i, ticker in enumerate(col(CANDLE, "ticker")):
        if ticker in candles:  # one candle per (ticker, minute): a second recorder's copy replaces it
            candles[ticker][cvenue[i]] = Candle(
                ticker=ticker, end_ts=cvenue[i], period_s=cperiod[i], yes_bid_close=opt_from_e4(bid[i]),
                yes_ask_close=opt_from_e4(ask[i]), price_close=opt_from_e4(last[i]), volume=from_e2(volume[i]),
            )
    sources = col(BTC, "source")
    bvenue, brecv, ids, prices = col(BTC, "venue_ts"), col(BTC, "recv_ts"), col(BTC, "trade_id"), col(BTC, "price")
    ticks = [(bvenue[i] if bvenue[i] is not None else brecv[i], prices[i], ids[i]) for i in range(len(prices))]
    return TapeData(
        markets=markets,
        trades={t: sorted(rows.values(), key=lambda x: (x.ts, x.trade_id)) for t, rows in trades.items()},
        candles={t: sorted(rows.values(), key=lambda c: c.end_ts) for t, rows in candles.items()},
        btc_source=sources[0] if sources else "",
        btc_ticks=ticks,
    )


__all__ = ["load_tape_from_recording", "recording_has_books", "tape_from_recording"]
