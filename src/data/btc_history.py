"""BTC price history from the configured feed source's public REST API, as rows of Binance-style price files.

Finest real resolution each source offers without credentials (documented in the README):
  binance     GET api.binance.com/api/v3/klines?symbol=BTCUSDT&interval=1s  -> 1-second klines (1000 per
              request: 87 requests a day). Real 1-s OHLC bars; the trades inside a second are not kept.
  binance_us  GET api.binance.us/api/v3/aggTrades?symbol=BTCUSDT            -> every aggregated trade, to
              the millisecond (Binance.US offers no 1-s klines; its trade count is small enough to walk).
  coinbase    GET api.exchange.coinbase.com/products/BTC-USD/candles?granularity=60 -> 1-MINUTE candles,
              Coinbase's finest candle (300 per request). Coarse for a strategy that reacts in seconds:
              a backtest on it says so in its source line.
Each source may reach exactly its own host. Rows are written in the layouts src/data/price_files.py
already reads (klines, agg_trades, ohlcv), so a downloaded day is an ordinary price file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from src.net.public_http import PublicHttp

BINANCE_REST_HOSTS = frozenset({"api.binance.com"})
BINANCE_US_REST_HOSTS = frozenset({"api.binance.us"})
COINBASE_REST_HOSTS = frozenset({"api.exchange.coinbase.com"})
_SYMBOL = "BTCUSDT"
_KLINES_LIMIT = 1000
_AGG_LIMIT = 1000
_AGG_WINDOW_MS = 3_600_000  # Binance: startTime..endTime of aggTrades spans at most one hour
_COINBASE_MAX = 300  # candles per request
_MAX_REQUESTS = 1_000_000


class BtcHistoryError(ValueError):
    """A BTC history answer is not the shape the source documents."""


@dataclass(frozen=True, slots=True)
class BtcSource:
    """One public BTC history source: its host, what it serves, and the price-file layout it is saved in."""

    name: str
    hosts: frozenset[str]
    base: str
    layout: str  # "klines" | "agg_trades" | "ohlcv" (src/data/price_files.py layouts)
    resolution: str
    header: str | None  # the CSV header row, for the layouts that carry one


SOURCES: Mapping[str, BtcSource] = {
    "binance": BtcSource("binance", BINANCE_REST_HOSTS, "https://api.binance.com", "klines", "1-second klines", None),
    "binance_us": BtcSource(
        "binance_us", BINANCE_US_REST_HOSTS, "https://api.binance.us", "agg_trades", "every aggregated trade (ms)", None
    ),
    "coinbase": BtcSource(
        "coinbase", COINBASE_REST_HOSTS, "https://api.exchange.coinbase.com", "ohlcv", "1-minute candles",
        "open_time,open,high,low,close,volume",
    ),
}


def _num(value: Any, what: str) -> str:
    """A price or quantity as its exact decimal text (never through float)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise BtcHistoryError(f"{what} is not a number")
    text = str(value).strip()
    try:
        number = Decimal(text)
    except ArithmeticError:
        raise BtcHistoryError(f"{what} is not a number: {text[:20]!r}") from None
    if not number.is_finite() or number < 0:
        raise BtcHistoryError(f"{what} is not a finite non-negative number")
    return text


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BtcHistoryError(f"{what} is not an integer")
    return value


def kline_row(item: Any) -> list[str]:
    """A Binance kline array as the 12-column klines CSV row."""
    if not isinstance(item, list) or len(item) < 7:
        raise BtcHistoryError("a kline is not an array of at least 7 fields")
    open_ms, close_ms = _int(item[0], "kline open time"), _int(item[6], "kline close time")
    prices = [_num(item[i], "kline price") for i in range(1, 6)]
    rest = [str(x) for x in item[7:12]] + ["0"] * max(0, 12 - len(item))
    return [str(open_ms), *prices, str(close_ms), *rest][:12]


def agg_trade_row(item: Any) -> list[str]:
    """A Binance aggTrade object as the 8-column agg_trades CSV row."""
    if not isinstance(item, Mapping):
        raise BtcHistoryError("an aggTrade is not an object")
    return [
        str(_int(item.get("a"), "aggTrade id")),
        _num(item.get("p"), "aggTrade price"),
        _num(item.get("q"), "aggTrade qty"),
        str(_int(item.get("f", 0), "first id")), str(_int(item.get("l", 0), "last id")),
        str(_int(item.get("T"), "aggTrade time")),
        "true" if item.get("m") else "false", "true" if item.get("M", True) else "false",
    ]


def coinbase_row(item: Any) -> list[str]:
    """A Coinbase candle [time, low, high, open, close, volume] as an ohlcv row (open_time first)."""
    if not isinstance(item, list) or len(item) < 6:
        raise BtcHistoryError("a Coinbase candle is not an array of 6 fields")
    t = _int(item[0], "candle time")
    low, high, o, c, v = (_num(item[i], "candle value") for i in range(1, 6))
    return [str(t), o, high, low, c, v]


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BtcHistoryClient:
    """Walks one source's public history for [start, end) and returns rows in time order, each once."""

    def __init__(self, source: str, http: PublicHttp) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown BTC history source {source!r} (expected one of {', '.join(SOURCES)})")
        self.source = SOURCES[source]
        if http.allowed_hosts != self.source.hosts:
            raise ValueError(f"the {source} history client needs a PublicHttp on exactly {sorted(self.source.hosts)}")
        self.http = http

    async def rows(self, start_ts: float, end_ts: float) -> list[list[str]]:
        if end_ts <= start_ts:
            return []
        if self.source.layout == "klines":
            return await self._klines(int(start_ts * 1000), int(end_ts * 1000))
        if self.source.layout == "agg_trades":
            return await self._agg_trades(int(start_ts * 1000), int(end_ts * 1000))
        return await self._coinbase(int(start_ts), int(end_ts))

    async def _klines(self, start_ms: int, end_ms: int) -> list[list[str]]:
        rows: list[list[str]] = []
        cursor = start_ms
        for _ in range(_MAX_REQUESTS):
            query = {"symbol": _SYMBOL, "interval": "1s", "startTime": cursor, "endTime": end_ms - 1,
                     "limit": _KLINES_LIMIT}
            page = await self.http.get_json(self.source.base, "/api/v3/klines", query)
            if not isinstance(page, list):
                raise BtcHistoryError("/api/v3/klines did not answer an array")
            fresh = [kline_row(k) for k in page]
            fresh = [r for r in fresh if cursor <= int(r[0]) < end_ms]
            rows.extend(fresh)
            if not fresh or len(page) < _KLINES_LIMIT:
                return rows
            cursor = int(fresh[-1][0]) + 1  # the next kline opens after the last one
        raise BtcHistoryError("too many kline pages")

    async def _agg_trades(self, start_ms: int, end_ms: int) -> list[list[str]]:
        rows: list[list[str]] = []
        last_id = -1
        window = start_ms
        requests = 0
        while window < end_ms:
            window_end = min(window + _AGG_WINDOW_MS, end_ms) - 1
            query: dict[str, Any] = {"symbol": _SYMBOL, "startTime": window, "endTime": window_end, "limit": _AGG_LIMIT}
            while True:
                requests += 1
                if requests > _MAX_REQUESTS:
                    raise BtcHistoryError("too many aggTrades pages")
                page = await self.http.get_json(self.source.base, "/api/v3/aggTrades", query)
                if not isinstance(page, list):
                    raise BtcHistoryError("/api/v3/aggTrades did not answer an array")
                fresh = [agg_trade_row(t) for t in page]
                kept = [r for r in fresh if int(r[0]) > last_id and window <= int(r[5]) <= window_end]
                rows.extend(kept)
                if kept:
                    last_id = int(kept[-1][0])
                # A full page may hide more trades in the same hour: go on from the last id.
                if len(page) < _AGG_LIMIT or not kept or int(fresh[-1][5]) > window_end:
                    break
                query = {"symbol": _SYMBOL, "fromId": last_id + 1, "limit": _AGG_LIMIT}
            window = window_end + 1
        return rows

    async def _coinbase(self, start_s: int, end_s: int) -> list[list[str]]:
        by_time: dict[int, list[str]] = {}
        chunk = 60 * _COINBASE_MAX
        t = start_s
        while t < end_s:
            stop = min(t + chunk, end_s)
            query = {"granularity": 60, "start": _iso(t), "end": _iso(stop - 1)}
            page = await self.http.get_json(self.source.base, "/products/BTC-USD/candles", query)
            if not isinstance(page, list):
                raise BtcHistoryError("Coinbase candles did not answer an array")
            for item in page:
                row = coinbase_row(item)
                if start_s <= int(row[0]) < end_s:
                    by_time[int(row[0])] = row
            t = stop
        return [by_time[k] for k in sorted(by_time)]  # Coinbase sends newest first


__all__ = [
    "BINANCE_REST_HOSTS",
    "BINANCE_US_REST_HOSTS",
    "COINBASE_REST_HOSTS",
    "SOURCES",
    "BtcHistoryClient",
    "BtcHistoryError",
    "BtcSource",
    "agg_trade_row",
    "coinbase_row",
    "kline_row",
]
