"""Kalshi public market history (no credentials): a series' settled markets, their trades and 1-minute candles.

Endpoints (Kalshi Trade API v2 OpenAPI spec):
  GET /historical/cutoff                        -> market_settled_ts, trades_created_ts (ISO date-times):
                                                   older markets/candles and trades live in the
                                                   historical tables, newer ones in the live tables
  GET /markets?series_ticker&min_close_ts&max_close_ts&limit&cursor           (live markets)
  GET /historical/markets?series_ticker&min_close_ts&max_close_ts&limit&cursor (older markets; some
                                                   filters may be ignored there, so rows are filtered here)
  GET /markets/trades?ticker&min_ts&max_ts&limit<=1000&cursor                  (live trades)
  GET /historical/trades?ticker&min_ts&max_ts&limit<=1000&cursor               (older trades)
  GET /series/{series}/markets/{ticker}/candlesticks?start_ts&end_ts&period_interval=1   (live)
  GET /historical/markets/{ticker}/candlesticks?start_ts&end_ts&period_interval=1         (older)
Trade: trade_id, ticker, count_fp, yes_price_dollars, no_price_dollars, taker_outcome_side (or the
deprecated taker_side), created_time. Candle: end_period_ts, yes_bid/yes_ask/price {close_dollars..},
volume_fp (live); {close..}, volume (historical table). Money and counts are fixed-point strings, parsed to Decimal.

Rows are returned as the API sent them (dicts), so a download stores exactly what Kalshi published
and the importer of saved API JSON reads the same shape; parse_trade/parse_candle turn rows into values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from src.model.kxbtc15m import SERIES
from src.model.models import Market, Side
from src.model.tape import Candle, TapeTrade
from src.net.public_http import PublicHttp, PublicHttpError
from src.platforms.kalshi import KalshiAPIError, parse_market

# The production Kalshi REST hosts that serve public market data (DECISIONS §1); nothing else.
KALSHI_HISTORY_HOSTS = frozenset({"external-api.kalshi.com", "api.elections.kalshi.com"})
KALSHI_HISTORY_BASE = "https://external-api.kalshi.com/trade-api/v2"
PAGE_LIMIT = 1000  # MarketLimitQuery: 1..1000
MAX_PAGES = 10_000  # a guard against a server that never ends a walk
CANDLE_MINUTES = 1
# Kalshi's public data limit is well above this; a history download has no reason to hurry.
DEFAULT_PER_SECOND = 5.0

Row = Mapping[str, Any]
PageHook = Callable[[int], Awaitable[None] | None]


class HistoryDataError(ValueError):
    """A row or an answer from the history endpoints is not what the spec says (one line, no traceback)."""


@dataclass(frozen=True, slots=True)
class HistoryCutoff:
    """Where Kalshi's live tables end: data older than these instants is under /historical/."""

    market_settled_ts: float
    trades_created_ts: float


# ---------------------------------------------------------------------------------------------- parsing


def _iso_ts(value: Any, field: str) -> float:
    if not isinstance(value, str) or not value:
        raise HistoryDataError(f"field {field!r} is missing or not a time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryDataError(f"field {field!r} is not an ISO time: {value[:32]!r}") from None
    if when.tzinfo is None:
        raise HistoryDataError(f"field {field!r} has no time zone")
    return when.timestamp()


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise HistoryDataError(f"field {field!r} is missing or not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise HistoryDataError(f"field {field!r} is not a number: {str(value)[:20]!r}") from None
    if not number.is_finite():
        raise HistoryDataError(f"field {field!r} is not finite")
    return number


def _opt_decimal(value: Any, field: str) -> Decimal | None:
    return None if value is None or value == "" else _decimal(value, field)


def parse_trade(row: Row) -> TapeTrade:
    """One /markets/trades (or /historical/trades) row as a TapeTrade."""
    if not isinstance(row, Mapping):
        raise HistoryDataError("a trade row is not a JSON object")
    side_text = row.get("taker_outcome_side") or row.get("taker_side")
    if side_text not in ("yes", "no"):
        raise HistoryDataError(f"trade {str(row.get('trade_id'))[:40]!r}: taker side is {str(side_text)[:10]!r}")
    trade_id, ticker = row.get("trade_id"), row.get("ticker")
    if not isinstance(trade_id, str) or not trade_id or not isinstance(ticker, str) or not ticker:
        raise HistoryDataError("a trade row has no trade_id or ticker")
    price = _decimal(row.get("yes_price_dollars"), "yes_price_dollars")
    count = _decimal(row.get("count_fp", row.get("count")), "count_fp")
    if not Decimal(0) < price < Decimal(1) or count <= 0:
        raise HistoryDataError(f"trade {trade_id[:40]!r}: price {price} or count {count} out of range")
    return TapeTrade(
        trade_id=trade_id, ticker=ticker, ts=_iso_ts(row.get("created_time"), "created_time"),
        yes_price=price, count=count, taker_side=Side(side_text),
    )


def _close(dist: Any) -> Decimal | None:
    """The close of one OHLC distribution; None if the period had none.

    Live candles name it close_dollars; the historical table's candles name it close (both are
    fixed-point dollar strings). An integer is refused: it would be cents from an older shape.
    """
    if not isinstance(dist, Mapping):
        return None
    value = dist.get("close_dollars", dist.get("close"))
    if isinstance(value, int) and not isinstance(value, bool):
        raise HistoryDataError("a candle close is an integer (cents?), expected a dollar string")
    return _opt_decimal(value, "close_dollars")


def parse_candle(row: Row, ticker: str, period_s: int = 60 * CANDLE_MINUTES) -> Candle:
    """One candlesticks row as a Candle."""
    if not isinstance(row, Mapping):
        raise HistoryDataError("a candle row is not a JSON object")
    end = row.get("end_period_ts")
    if isinstance(end, bool) or not isinstance(end, int):
        raise HistoryDataError("a candle row has no integer end_period_ts")
    volume = row.get("volume_fp", row.get("volume"))
    return Candle(
        ticker=ticker, end_ts=float(end), period_s=period_s,
        yes_bid_close=_close(row.get("yes_bid")), yes_ask_close=_close(row.get("yes_ask")),
        price_close=_close(row.get("price")),
        volume=Decimal(0) if volume is None else _decimal(volume, "volume_fp"),
    )


def parse_settled_market(row: Row) -> Market:
    """A market row as models.Market (the platform client's parser: one reading of Kalshi's market shape)."""
    try:
        return parse_market(row)
    except KalshiAPIError as exc:
        raise HistoryDataError(f"market {str(row.get('ticker'))[:40]!r}: {exc.message}") from None


def is_settled(market: Market) -> bool:
    return market.result in ("yes", "no")


def parse_cutoff(payload: Any) -> HistoryCutoff:
    if not isinstance(payload, Mapping):
        raise HistoryDataError("/historical/cutoff did not answer a JSON object")
    return HistoryCutoff(
        market_settled_ts=_iso_ts(payload.get("market_settled_ts"), "market_settled_ts"),
        trades_created_ts=_iso_ts(payload.get("trades_created_ts"), "trades_created_ts"),
    )


def _rows(payload: Any, field: str, path: str) -> list[Row]:
    if not isinstance(payload, Mapping):
        raise HistoryDataError(f"{path} did not answer a JSON object")
    rows = payload.get(field)
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise HistoryDataError(f"{path}: field {field!r} is not a list of objects")
    return rows


# ---------------------------------------------------------------------------------------------- client


class KalshiHistoryClient:
    """Reads Kalshi's public history through one PublicHttp that may reach only KALSHI_HISTORY_HOSTS."""

    def __init__(self, http: PublicHttp, *, base: str = KALSHI_HISTORY_BASE, series: str = SERIES) -> None:
        if http.allowed_hosts != KALSHI_HISTORY_HOSTS:
            raise ValueError("the Kalshi history client needs a PublicHttp on KALSHI_HISTORY_HOSTS")
        self.http = http
        self.base = base
        self.series = series
        self._cutoff: HistoryCutoff | None = None
        # /historical/markets has been seen to ignore its close-time filters and answer the whole
        # series: walked once for the planned range and kept, instead of once per day.
        self._planned: tuple[float, float] | None = None
        self._historical: tuple[tuple[float, float], list[Row]] | None = None

    def plan(self, start_ts: float, end_ts: float) -> None:
        """Tell the client the whole range a download will ask for, day by day (one historical walk)."""
        self._planned = (start_ts, end_ts)

    async def _historical_markets(self, start_ts: float, end_ts: float) -> list[Row]:
        planned = self._planned
        lo, hi = planned if planned and planned[0] <= start_ts and end_ts <= planned[1] else (start_ts, end_ts)
        cached = self._historical
        if cached is None or not (cached[0][0] <= start_ts and end_ts <= cached[0][1]):
            query = {"series_ticker": self.series, "min_close_ts": int(lo), "max_close_ts": int(hi)}
            cached = ((lo, hi), await self.pages("/historical/markets", "markets", query))
            self._historical = cached
        return cached[1]

    async def cutoff(self) -> HistoryCutoff:
        if self._cutoff is None:
            self._cutoff = parse_cutoff(await self.http.get_json(self.base, "/historical/cutoff"))
        return self._cutoff

    async def pages(
        self, path: str, field: str, query: Mapping[str, Any], on_page: PageHook | None = None
    ) -> list[Row]:
        """Every row of a cursor walk. An empty page with a cursor goes on; a repeated cursor is an error."""
        params = dict(query)
        params["limit"] = PAGE_LIMIT
        rows: list[Row] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            payload = await self.http.get_json(self.base, path, params)
            page = _rows(payload, field, path)
            rows.extend(page)
            if on_page is not None:
                result = on_page(len(page))
                if result is not None:
                    await result
            cursor = payload.get("cursor")
            if not cursor:
                return rows
            if not isinstance(cursor, str) or cursor in seen:
                raise HistoryDataError(f"{path}: the server repeated cursor {str(cursor)[:24]!r}; cannot advance")
            seen.add(cursor)
            params["cursor"] = cursor
        raise HistoryDataError(f"{path}: more than {MAX_PAGES} pages")

    async def settled_markets(self, start_ts: float, end_ts: float) -> list[Row]:
        """Market rows of the series that closed in [start_ts, end_ts) and settled yes/no, by close time."""
        cutoff = await self.cutoff()
        query = {"series_ticker": self.series, "min_close_ts": int(start_ts), "max_close_ts": int(end_ts)}
        found: dict[str, Row] = {}
        listings = []
        if start_ts < cutoff.market_settled_ts:
            listings.append(await self._historical_markets(start_ts, end_ts))
        listings.append(await self.pages("/markets", "markets", query))
        for listing in listings:
            for row in listing:
                # Only the day's rows are parsed in full: a malformed market of another day (the
                # historical listing may hold the whole series) does not stop this one.
                if not start_ts <= _iso_ts(row.get("close_time"), "close_time") < end_ts:
                    continue
                market = parse_settled_market(row)
                if is_settled(market) and market.ticker.startswith(self.series + "-"):
                    found[market.ticker] = row
        return sorted(found.values(), key=lambda r: (parse_settled_market(r).close_time, str(r.get("ticker"))))

    async def trades(self, ticker: str, open_ts: float, close_ts: float, on_page: PageHook | None = None) -> list[Row]:
        """Every public trade of one market (both tables where it straddles the cutoff), oldest first, once each."""
        cutoff = await self.cutoff()
        query = {"ticker": ticker, "min_ts": int(open_ts) - 1, "max_ts": int(close_ts) + 1}
        by_id: dict[str, tuple[TapeTrade, Row]] = {}

        async def collect(path: str) -> None:
            for row in await self.pages(path, "trades", query, on_page):
                trade = parse_trade(row)
                if trade.ticker == ticker:
                    by_id[trade.trade_id] = (trade, row)

        if open_ts < cutoff.trades_created_ts:
            await collect("/historical/trades")
        # The historical table has been seen to answer nothing for a market that traded: the live
        # table is asked then too (one more request, for a market without a single print).
        if close_ts >= cutoff.trades_created_ts or not by_id:
            await collect("/markets/trades")
        ordered = sorted(by_id.values(), key=lambda pair: (pair[0].ts, pair[0].trade_id))
        return [row for _, row in ordered]

    async def candles(self, ticker: str, open_ts: float, close_ts: float) -> list[Row]:
        """The market's 1-minute candlesticks; from the historical table when it settled before the cutoff."""
        cutoff = await self.cutoff()
        name = quote(ticker, safe="")
        live = f"/series/{quote(self.series, safe='')}/markets/{name}/candlesticks"
        old = f"/historical/markets/{name}/candlesticks"
        first, second = (old, live) if close_ts < cutoff.market_settled_ts else (live, old)
        query = {"start_ts": int(open_ts), "end_ts": int(close_ts), "period_interval": CANDLE_MINUTES}
        try:
            payload = await self.http.get_json(self.base, first, query)
        except PublicHttpError as exc:
            if exc.status != 404:
                raise
            # The cutoff moves while a download runs: a market can pass from one table to the other.
            payload = await self.http.get_json(self.base, second, query)
        rows = _rows(payload, "candlesticks", first)
        for row in rows:
            parse_candle(row, ticker)  # reject a malformed answer now, not when it is read back
        return rows


__all__ = [
    "KALSHI_HISTORY_BASE",
    "KALSHI_HISTORY_HOSTS",
    "HistoryCutoff",
    "HistoryDataError",
    "KalshiHistoryClient",
    "is_settled",
    "parse_candle",
    "parse_cutoff",
    "parse_settled_market",
    "parse_trade",
]
