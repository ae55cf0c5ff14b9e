"""A local fake of the public history endpoints (Kalshi markets/trades/candles, Binance, Binance.US, Coinbase).

Served over local TLS on 127.0.0.1 with a certificate for the real host names; the clients keep their
production URLs and allowlists, and reach it only through an injected connector (HostMapResolver),
exactly as tests/fakes/kalshi_server.py does for the trading API.

Hard cases on demand:
  page_size            small pages so every walk needs cursors
  fail_next(n, 429)    the next n requests (optionally only those whose path starts with a prefix)
                       answer 429 with Retry-After: 0 (or any status)
  empty_pages          a trades walk answers an empty page (with a cursor) before each real page
  repeat_cursor        tickers whose trades walk hands back the same cursor forever
  fail_after(n)        every request after the n-th answers 503 (a download dies half way)
Observation: `requests` (host, path, query), `served_rows`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from src.data.btc_history import BINANCE_REST_HOSTS, BINANCE_US_REST_HOSTS, COINBASE_REST_HOSTS
from src.data.kalshi_history import KALSHI_HISTORY_HOSTS
from src.model.kxbtc15m import WINDOW_S, event_ticker, market_ticker
from tests.fakes.kalshi_server import HostMapResolver, LocalTLS, local_tls

HISTORY_HOSTS = tuple(sorted(KALSHI_HISTORY_HOSTS | BINANCE_REST_HOSTS | BINANCE_US_REST_HOSTS | COINBASE_REST_HOSTS))
API = "/trade-api/v2"


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def btc_price(ts: float) -> Decimal:
    """A deterministic BTC path: a slow wave plus a faster one (cents), so windows settle both ways."""
    value = 65_000 + 400 * math.sin(ts / 1500.0) + 35 * math.sin(ts / 37.0)
    return Decimal(f"{value:.2f}")


@dataclass
class FakeHistory:
    """The fake's state: markets, trades and candles by ticker, the cutoff, and the fault switches."""

    cutoff_ts: float = 0.0  # everything newer than this is in the live tables
    page_size: int = 100
    markets: list[dict[str, Any]] = field(default_factory=list)
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    candles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    empty_pages: bool = False
    btc_until: float | None = None  # no BTC price after this instant (keeps a test's day of klines short)
    btc_spans: list[tuple[float, float]] | None = None  # BTC traded only inside these [lo, hi) spans
    jumps: list[tuple[float, float]] = field(default_factory=list)  # (from ts, dollars added to BTC from then on)
    trade_lag_s: float = 0.0  # Kalshi prints follow BTC this many seconds late (a lag the strategy can trade)
    repeat_cursor: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    served_rows: int = 0
    retry_after: str | None = "0"  # the Retry-After a 429 carries (None: no header, the client backs off itself)
    _faults: list[tuple[int, str, int]] = field(default_factory=list)  # (times, path prefix, status)
    _fail_after: int | None = None

    # -- state -----------------------------------------------------------------------------------

    def price(self, ts: float) -> Decimal:
        """BTC at ts: the deterministic path plus every jump that has happened by then."""
        return btc_price(ts) + sum((Decimal(f"{size:.2f}") for t0, size in self.jumps if ts >= t0), Decimal(0))

    def add_window(self, close_ts: float, *, trades: int = 12, seed: int = 0) -> str:
        """One settled KXBTC15M market closing at close_ts with `trades` prints and 15 one-minute candles."""
        open_ts = close_ts - WINDOW_S
        strike = self.price(open_ts)
        final = self.price(close_ts)
        ticker = market_ticker(close_ts)
        result = "yes" if final >= strike else "no"
        self.markets.append({
            "ticker": ticker, "event_ticker": event_ticker(close_ts), "status": "finalized",
            "open_time": iso(open_ts), "close_time": iso(close_ts), "floor_strike": float(strike),
            "result": result, "expiration_value": f"{final:.2f}", "strike_type": "greater_or_equal",
            "volume_fp": f"{trades * 3:.2f}", "yes_bid_dollars": "0.0000", "yes_ask_dollars": "0.0000",
        })
        rows = []
        for i in range(trades):
            ts = open_ts + (i + 1) * (WINDOW_S - 30) / (trades + 1)
            drift = Decimal(int((self.price(ts - self.trade_lag_s) - strike) * 2)) / 10000  # YES follows BTC vs strike
            yes = min(Decimal("0.97"), max(Decimal("0.03"), Decimal("0.50") + drift))
            taker = "yes" if (i + seed) % 3 else "no"
            # A NO taker hits the YES bid, one cent under a YES taker's ask.
            price = yes if taker == "yes" else yes - Decimal("0.01")
            rows.append({
                "trade_id": f"t-{ticker}-{i:04d}", "ticker": ticker, "count_fp": f"{1 + (i * 7 + seed) % 9}.00",
                "yes_price_dollars": f"{price:.4f}", "no_price_dollars": f"{1 - price:.4f}",
                "taker_outcome_side": taker, "taker_book_side": "bid" if taker == "yes" else "ask",
                "taker_side": taker, "created_time": iso(ts), "is_block_trade": False,
            })
        self.trades[ticker] = rows
        self.candles[ticker] = [
            {"end_period_ts": int(open_ts + 60 * (m + 1)),
             "yes_bid": {"close_dollars": "0.4800"}, "yes_ask": {"close_dollars": "0.5200"},
             "price": {"close_dollars": None}, "volume_fp": "0.00", "open_interest_fp": "0.00"}
            for m in range(15)
        ]
        return ticker

    def add_day(self, day_start: float, *, windows: int = 96, trades: int = 12) -> list[str]:
        return [self.add_window(day_start + (i + 1) * WINDOW_S, trades=trades, seed=i) for i in range(windows)]

    # -- faults ----------------------------------------------------------------------------------

    def fail_next(self, times: int, status: int = 429, path: str = "") -> None:
        self._faults.append((times, path, status))

    def fail_after(self, n: int | None) -> None:
        """Every request after the n-th answers 503 (None heals the server)."""
        self._fail_after = None if n is None else len(self.requests) + n

    def _fault_for(self, rel: str) -> int | None:
        if self._fail_after is not None and len(self.requests) > self._fail_after:
            return 503
        for i, (times, prefix, status) in enumerate(self._faults):
            if rel.startswith(prefix):
                if times <= 1:
                    self._faults.pop(i)
                else:
                    self._faults[i] = (times - 1, prefix, status)
                return status
        return None

    # -- the app ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get(API + "/historical/cutoff", self._cutoff)
        r.add_get(API + "/markets", self._markets_live)
        r.add_get(API + "/historical/markets", self._markets_old)
        r.add_get(API + "/markets/trades", self._trades_live)
        r.add_get(API + "/historical/trades", self._trades_old)
        r.add_get(API + "/series/{series}/markets/{ticker}/candlesticks", self._candles_live)
        r.add_get(API + "/historical/markets/{ticker}/candlesticks", self._candles_old)
        r.add_get("/api/v3/klines", self._klines)
        r.add_get("/api/v3/aggTrades", self._agg_trades)
        r.add_get("/products/BTC-USD/candles", self._coinbase)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        rel = request.path[len(API):] if request.path.startswith(API) else request.path
        self.requests.append((request.host.split(":")[0], rel, dict(request.query)))
        status = self._fault_for(rel)
        if status is not None:
            return web.json_response({"error": {"code": "fault", "message": "injected"}}, status=status,
                                     headers={"Retry-After": self.retry_after}
                                     if status == 429 and self.retry_after is not None else None)
        return await handler(request)

    async def _cutoff(self, request: web.Request) -> web.Response:
        when = iso(self.cutoff_ts)
        return web.json_response({"market_settled_ts": when, "trades_created_ts": when, "orders_updated_ts": when})

    def _page(self, request: web.Request, rows: list[dict[str, Any]], name: str) -> web.Response:
        offset = int(request.query.get("cursor", "c0")[1:] or 0)
        limit = min(int(request.query.get("limit", "100")), self.page_size)
        chunk = rows[offset:offset + limit]
        nxt = offset + limit
        self.served_rows += len(chunk)
        return web.json_response({name: chunk, "cursor": f"c{nxt}" if nxt < len(rows) else ""})

    def _market_rows(self, request: web.Request, old: bool) -> list[dict[str, Any]]:
        lo = int(request.query.get("min_close_ts", "0"))
        hi = int(request.query.get("max_close_ts", str(2**62)))
        out = []
        for m in self.markets:
            close = dt.datetime.fromisoformat(m["close_time"].replace("Z", "+00:00")).timestamp()
            if (close < self.cutoff_ts) == old and (old or lo <= close <= hi):
                out.append(m)  # the historical table ignores the close filters, as Kalshi's has been seen to
        return out

    async def _markets_live(self, request: web.Request) -> web.Response:
        return self._page(request, self._market_rows(request, False), "markets")

    async def _markets_old(self, request: web.Request) -> web.Response:
        return self._page(request, self._market_rows(request, True), "markets")

    def _trade_rows(self, request: web.Request, old: bool) -> list[dict[str, Any]]:
        rows = self.trades.get(request.query.get("ticker", ""), [])
        lo = int(request.query.get("min_ts", "0"))
        hi = int(request.query.get("max_ts", str(2**62)))
        out = []
        for t in rows:
            ts = dt.datetime.fromisoformat(t["created_time"].replace("Z", "+00:00")).timestamp()
            if (ts < self.cutoff_ts) == old and lo <= ts <= hi:
                out.append(t)
        return list(reversed(out))  # Kalshi walks trades newest first

    async def _trades(self, request: web.Request, old: bool) -> web.Response:
        ticker = request.query.get("ticker", "")
        cursor = request.query.get("cursor", "")
        if ticker in self.repeat_cursor and cursor:
            return web.json_response({"trades": [], "cursor": cursor})
        if self.empty_pages and not cursor.startswith("e"):
            # An empty page whose cursor leads to the real page at the same offset.
            return web.json_response({"trades": [], "cursor": "e" + (cursor or "c0")})
        if cursor.startswith("e"):
            request = request.clone(rel_url=request.rel_url.update_query({"cursor": cursor[1:]}))
        rows = self._trade_rows(request, old)
        response = self._page(request, rows, "trades")
        return response

    async def _trades_live(self, request: web.Request) -> web.Response:
        return await self._trades(request, False)

    async def _trades_old(self, request: web.Request) -> web.Response:
        return await self._trades(request, True)

    def _candle_rows(self, request: web.Request, ticker: str, old: bool) -> web.Response:
        market = next((m for m in self.markets if m["ticker"] == ticker), None)
        if market is None:
            return web.json_response({"error": {"code": "not_found", "message": "no such market"}}, status=404)
        close = dt.datetime.fromisoformat(market["close_time"].replace("Z", "+00:00")).timestamp()
        if (close < self.cutoff_ts) != old:
            return web.json_response({"error": {"code": "not_found", "message": "other table"}}, status=404)
        lo, hi = int(request.query["start_ts"]), int(request.query["end_ts"])
        rows = [c for c in self.candles.get(ticker, []) if lo <= c["end_period_ts"] <= hi]
        if old:  # the historical table's shape: open/low/high/close and volume, without _dollars/_fp
            rows = [{
                "end_period_ts": c["end_period_ts"],
                **{k: {f: c[k]["close_dollars"] for f in ("open", "low", "high", "close")}
                   for k in ("yes_bid", "yes_ask", "price")},
                "volume": c["volume_fp"], "open_interest": c["open_interest_fp"],
            } for c in rows]
        self.served_rows += len(rows)
        return web.json_response({"ticker": ticker, "candlesticks": rows})

    async def _candles_live(self, request: web.Request) -> web.Response:
        return self._candle_rows(request, request.match_info["ticker"], False)

    async def _candles_old(self, request: web.Request) -> web.Response:
        return self._candle_rows(request, request.match_info["ticker"], True)

    async def _klines(self, request: web.Request) -> web.Response:
        start = int(request.query["startTime"]) // 1000 * 1000
        end = int(request.query["endTime"])
        limit = min(int(request.query.get("limit", "500")), 1000)
        rows = []
        t = start if start == int(request.query["startTime"]) else start + 1000
        if self.btc_until is not None:
            end = min(end, int(self.btc_until * 1000) - 1)
        spans = self.btc_spans
        while t <= end and len(rows) < limit:
            if spans is None or any(lo <= t / 1000 < hi for lo, hi in spans):
                o, c = self.price(t / 1000), self.price(t / 1000 + 1)
                rows.append([t, f"{o:.2f}", f"{max(o, c):.2f}", f"{min(o, c):.2f}", f"{c:.2f}", "1.5", t + 999,
                             "97500.0", 12, "0.7", "45500.0", "0"])
            elif spans and t / 1000 >= max(hi for _, hi in spans):
                break  # nothing traded after the last span
            else:
                t = int(min((lo for lo, _ in spans if lo * 1000 > t), default=end / 1000 + 1) * 1000) - 1000
            t += 1000
        self.served_rows += len(rows)
        return web.json_response(rows)

    async def _agg_trades(self, request: web.Request) -> web.Response:
        # Two trades a second, ids = 2 * second + k: deterministic and gap-free.
        limit = min(int(request.query.get("limit", "500")), 1000)
        if "fromId" in request.query:
            first = int(request.query["fromId"])
            end = 2**62
        else:
            start, end = int(request.query["startTime"]), int(request.query["endTime"])
            first = -(-start // 500)
        rows = []
        i = first
        while len(rows) < limit and i * 500 <= end:
            ms = i * 500
            rows.append({"a": i, "p": f"{self.price(ms / 1000):.2f}", "q": "0.01", "f": i, "l": i, "T": ms,
                         "m": bool(i % 2), "M": True})
            i += 1
        self.served_rows += len(rows)
        return web.json_response(rows)

    async def _coinbase(self, request: web.Request) -> web.Response:
        def parse(text: str) -> int:
            return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())

        start, end = parse(request.query["start"]), parse(request.query["end"])
        first = (start + 59) // 60 * 60
        rows = []
        for t in range(first, end + 1, 60):
            o, c = self.price(t), self.price(t + 60)
            rows.append([t, float(min(o, c)), float(max(o, c)), float(o), float(c), 3.25])
        self.served_rows += len(rows)
        return web.json_response(list(reversed(rows[:300])))


@dataclass
class FakeHistoryServer:
    fake: FakeHistory
    port: int
    tls: LocalTLS

    def connector(self) -> aiohttp.TCPConnector:
        resolver = HostMapResolver({h: ("127.0.0.1", self.port) for h in HISTORY_HOSTS})
        return aiohttp.TCPConnector(resolver=resolver, ssl=self.tls.client_context(), use_dns_cache=False)


@asynccontextmanager
async def start_fake_history(fake: FakeHistory | None = None) -> AsyncIterator[FakeHistoryServer]:
    tls = local_tls(HISTORY_HOSTS)
    state = fake or FakeHistory()
    runner = web.AppRunner(state.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context())
    await site.start()
    try:
        yield FakeHistoryServer(fake=state, port=runner.addresses[0][1], tls=tls)
    finally:
        await runner.cleanup()
