"""Kalshi Trade API v2 client: typed endpoints for market data and the portfolio, with at-most-once orders.

The work is split by job: kalshi_transport.py (session, allowlist, signing, rate limits, retries),
kalshi_requests.py (request building), kalshi_wire.py (parsing), kalshi_errors.py (errors) and
kalshi_credentials.py (loading the key). Callers import everything they need from here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from src.auth.kalshi_auth import KalshiAuth
from src.model.kxbtc15m import SERIES, market_ticker, window_close
from src.model.models import (
    Clock,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    OrderBook,
    Position,
    Settlement,
    Side,
    Sleep,
)
from src.model.rate_ceilings import HARD_READS_PER_S, HARD_WRITES_PER_S
from src.net.backoff import RetryPolicy, RetrySchedule
from src.net.http_session import ConnectorFactory
from src.platforms.kalshi_credentials import load_auth
from src.platforms.kalshi_errors import (
    KalshiAPIError,
    KalshiAuthFailure,
    KalshiError,
    KalshiNoCredentials,
    KalshiOrderUncertain,
    KalshiRequestError,
    KalshiTransportError,
    Retryable,
)
from src.platforms.kalshi_requests import SELF_TRADE_PREVENTION, TIME_IN_FORCE, check_ticker, order_body, path_id
from src.platforms.kalshi_transport import ALLOWED_HOSTS, API_PREFIX, ENV_HOSTS, Env, KalshiTransport, _Target
from src.platforms.kalshi_wire import (
    FeeChange,
    OrderGroup,
    SeriesFees,
    json_obj,
    parse_balance,
    parse_exchange_status,
    parse_fee_changes,
    parse_fill,
    parse_market,
    parse_order,
    parse_order_group,
    parse_order_group_id,
    parse_order_groups,
    parse_orderbook,
    parse_position,
    parse_series_fees,
    parse_settlement,
    placed_order,
)

if TYPE_CHECKING:
    from src.config import Settings

log = logging.getLogger(__name__)


class KalshiClient(KalshiTransport):
    """The Kalshi endpoints over one KalshiTransport; implements the MarketData and OrderVenue protocols.

    Every request passes the host allowlist, a token bucket (reads and writes separately, never above
    the code limits) and the retry policy (see KalshiTransport).
    """

    def __init__(
        self,
        *,
        env: Env = "demo",
        market_data_env: Env | None = None,
        auth: KalshiAuth | None = None,
        series_ticker: str = SERIES,
        reads_per_s: float | Decimal = HARD_READS_PER_S,
        writes_per_s: float | Decimal = HARD_WRITES_PER_S,
        request_timeout_s: float = 5.0,
        retry_policy: RetryPolicy | None = None,
        self_trade_prevention_type: str = "taker_at_cross",
        connector_factory: ConnectorFactory | None = None,
        clock: Clock = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        retry_sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        on_auth_failure: Callable[[str], None] | None = None,
        on_auth_success: Callable[[], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        if self_trade_prevention_type not in SELF_TRADE_PREVENTION:
            raise KalshiRequestError(f"self_trade_prevention_type must be one of {sorted(SELF_TRADE_PREVENTION)}")
        super().__init__(
            env=env, market_data_env=market_data_env, auth=auth, reads_per_s=reads_per_s,
            writes_per_s=writes_per_s, request_timeout_s=request_timeout_s, retry_policy=retry_policy,
            connector_factory=connector_factory, clock=clock, monotonic=monotonic, retry_sleep=retry_sleep,
            rng=rng, on_auth_failure=on_auth_failure, on_auth_success=on_auth_success,
            on_reconnect=on_reconnect,
        )
        self.series_ticker = check_ticker(series_ticker)
        self._stp = self_trade_prevention_type
        self._order_group_id: str | None = None

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        with_auth: bool = True,
        require_auth: bool = False,
        **overrides: Any,
    ) -> KalshiClient:
        """Build from validated settings; loads the key from .env when present (and when with_auth)."""
        cfg = settings.app.kalshi
        auth = load_auth(settings, require=require_auth) if with_auth else None
        kwargs: dict[str, Any] = {
            "env": cfg.env,
            "market_data_env": cfg.market_data_env,
            "auth": auth,
            "series_ticker": cfg.series_ticker,
            "reads_per_s": cfg.reads_per_s,
            "writes_per_s": cfg.writes_per_s,
            "request_timeout_s": cfg.request_timeout_s,
            "retry_policy": RetryPolicy(
                max_attempts=cfg.max_attempts,
                max_delay_s=min(4.0, cfg.retry_budget_s),
                base_delay_s=min(0.25, cfg.retry_budget_s),
                budget_s=cfg.retry_budget_s,
            ),
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    async def __aenter__(self) -> KalshiClient:
        await self._get_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"KalshiClient(env={self.env!r}, market_data_env={self.market_data_env!r}, "
            f"credentials={'yes' if self._auth else 'no'})"
        )

    # ------------------------------------------------------------------ market data (public)

    async def get_exchange_status(self) -> ExchangeStatus:
        return parse_exchange_status(await self._call("GET", self._market, "/exchange/status"))

    async def get_markets(
        self,
        *,
        series_ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        tickers: list[str] | None = None,
        min_close_ts: int | None = None,
        max_close_ts: int | None = None,
    ) -> list[Market]:
        """All markets matching the filters, following the cursor until it is empty."""
        query = {
            "series_ticker": series_ticker,
            "event_ticker": event_ticker,
            "status": status,
            "tickers": ",".join(check_ticker(t) for t in tickers) if tickers else None,
            "min_close_ts": min_close_ts,
            "max_close_ts": max_close_ts,
        }
        rows = await self._pages(self._market, "/markets", "markets", query)
        return [parse_market(row) for row in rows]

    async def get_market(self, ticker: str) -> Market:
        payload = await self._call("GET", self._market, f"/markets/{check_ticker(ticker)}")
        return parse_market(json_obj(payload, "market"))

    async def get_orderbook(self, ticker: str, depth: int | None = None) -> OrderBook:
        query = {"depth": depth} if depth else None
        payload = await self._call("GET", self._market, f"/markets/{check_ticker(ticker)}/orderbook", query)
        return parse_orderbook(ticker, payload, self._clock())

    async def get_current_market(self, now: float) -> Market | None:
        """The series market open at `now`: from the open-markets listing, else by the clock-derived ticker.

        The listing can lag a new window by minutes (DECISIONS §2), hence the direct fallback.
        """
        listing_error: KalshiAPIError | None = None
        try:
            markets = await self.get_markets(series_ticker=self.series_ticker, status="open")
        except KalshiAPIError as exc:
            if isinstance(exc, KalshiAuthFailure):
                raise
            listing_error = exc
            markets = []
        live = [m for m in markets if m.open_time.timestamp() <= now < m.close_time.timestamp()]
        if live:
            return min(live, key=lambda m: m.close_time)
        ticker = market_ticker(window_close(now), self.series_ticker)
        try:
            market = await self.get_market(ticker)
        except KalshiAPIError as exc:
            if exc.status == 404:
                if listing_error is not None:
                    raise listing_error from None
                return None
            raise
        if not market.open_time.timestamp() <= now < market.close_time.timestamp():
            return None
        return market

    # ------------------------------------------------------------------ portfolio (signed)

    async def get_balance(self) -> Decimal:
        return parse_balance(await self._call("GET", self._portfolio, "/portfolio/balance"))

    async def get_positions(self) -> list[Position]:
        rows = await self._pages(self._portfolio, "/portfolio/positions", "market_positions")
        return [p for p in (parse_position(row) for row in rows) if p is not None]

    async def get_fills(
        self, ticker: str | None = None, *, order_id: str | None = None, min_ts: int | None = None
    ) -> list[Fill]:
        """Our fills, bounded by market, order and/or time (REST fills carry no client_order_id since
        2026-03-30: match them to orders by order_id)."""
        query = {
            "ticker": check_ticker(ticker) if ticker else None,
            "order_id": path_id(order_id, "order id") if order_id else None,
            "min_ts": _whole_seconds(min_ts),
        }
        return [parse_fill(row) for row in await self._pages(self._portfolio, "/portfolio/fills", "fills", query)]

    async def get_orders(
        self, status: str | None = None, ticker: str | None = None, *, min_ts: int | None = None
    ) -> list[Order]:
        query = {"status": status, "ticker": check_ticker(ticker) if ticker else None, "min_ts": _whole_seconds(min_ts)}
        rows = await self._pages(self._portfolio, "/portfolio/orders", "orders", query)
        return [parse_order(row) for row in rows]

    async def get_settlements(self, *, ticker: str | None = None, min_ts: int | None = None) -> list[Settlement]:
        """Our settlements, bounded by market and/or time so the listing never grows with the account's age."""
        query = {"ticker": check_ticker(ticker) if ticker else None, "min_ts": _whole_seconds(min_ts)}
        rows = await self._pages(self._portfolio, "/portfolio/settlements", "settlements", query)
        return [parse_settlement(row) for row in rows]

    async def get_order_by_client_id(
        self, client_order_id: str, ticker: str | None = None, *, min_ts: int | None = None
    ) -> Order | None:
        """Find our order by the id we chose (Kalshi's listing has no such filter: we filter here).

        Pass the market and the time the order was written: the listing is then a handful of rows
        instead of every order the account ever placed.
        """
        for order in await self.get_orders(ticker=ticker, min_ts=min_ts):
            if order.client_order_id == client_order_id:
                return order
        return None

    def use_order_group(self, order_group_id: str | None) -> None:
        """Attach every order placed from now on to this exchange-side order group (None: none)."""
        self._order_group_id = None if order_group_id is None else path_id(order_group_id, "order group id")

    @property
    def order_group_id(self) -> str | None:
        return self._order_group_id

    async def place_order(
        self,
        ticker: str,
        side: Side,
        count: Decimal,
        price: Decimal,
        client_order_id: str,
        time_in_force: str = "fill_or_kill",
    ) -> Order:
        """Buy `count` contracts of `side` at most `price` each, at most once.

        Only a try the venue certainly did not act on is repeated (429, a connection that never
        opened), with the same client_order_id. After an ambiguous try (timeout, dropped connection,
        5xx, garbled answer) nothing is ever sent again and no look-up is made here: Kalshi's
        listing lags a write by about a second, and a reused client_order_id is not refused once
        the first order no longer rests, so a quick "not found" proves nothing. The caller gets
        KalshiOrderUncertain and resolves the order from the venue's own word later.
        """
        body = order_body(ticker, side, count, price, client_order_id, time_in_force, self._stp,
                          order_group_id=self._order_group_id)
        path = "/portfolio/events/orders"
        raw_body = json.dumps(body, separators=(",", ":")).encode()
        schedule = RetrySchedule(self._policy, clock=self._monotonic, rng=self._rng)
        started = self._clock()
        while True:
            attempt = schedule.start_attempt()
            try:
                payload = await self._attempt("POST", self._portfolio, path, None, raw_body)
                return placed_order(
                    payload,
                    ticker=ticker,
                    side=side,
                    count=count,
                    price=price,
                    client_order_id=client_order_id,
                    now=self._clock(),
                )
            except Retryable as failure:
                if failure.ambiguous:
                    raise KalshiOrderUncertain(client_order_id, failure.error) from None
                delay = schedule.next_delay(failure.retry_after_s)
                if delay is None:
                    raise failure.error from None
                log.warning(
                    "Kalshi order %s: %s %s (not acted on), retry %d in %.2fs",
                    client_order_id, failure.error.status, failure.error.code, attempt, delay,
                )
            except KalshiAPIError as exc:
                if exc.status == 409:
                    return await self._existing(client_order_id, ticker, side, started, exc)
                raise
            await self._retry_sleep(delay)

    async def _existing(
        self, client_order_id: str, ticker: str, side: Side, since: float, conflict: KalshiAPIError
    ) -> Order:
        """After a 409 (an order with this client_order_id rests): that order, when it is ours on the same side."""
        try:
            found = await self.get_order_by_client_id(client_order_id, ticker=ticker, min_ts=_since(since))
        except KalshiAPIError as exc:
            # Any failure of the look-up (a 401 included) leaves the order's fate unknown, never refused.
            raise KalshiOrderUncertain(client_order_id, exc) from None
        if found is None:
            raise KalshiOrderUncertain(client_order_id, conflict)
        if found.side is not side:
            raise conflict
        return found

    async def cancel_order(self, order_id: str) -> None:
        await self._call("DELETE", self._portfolio, f"/portfolio/events/orders/{path_id(order_id, 'order id')}")

    async def cancel_all_orders(self) -> None:
        """Kalshi's single cancel-all (DELETE /portfolio/events/orders, every resting order at once).

        The answer carries no count: callers verify with get_orders(status="resting").
        """
        await self._call("DELETE", self._portfolio, "/portfolio/events/orders")

    # ------------------------------------------------------------------ exchange-side backstops

    async def create_order_group(self, contracts_limit: int) -> str:
        """A new order group: the exchange cancels its orders and refuses new ones once `contracts_limit`
        contracts match within a rolling 15 seconds, until the group is reset."""
        if isinstance(contracts_limit, bool) or not isinstance(contracts_limit, int) or contracts_limit < 1:
            raise KalshiRequestError(f"contracts_limit must be a whole number >= 1, got {contracts_limit!r}")
        payload = await self._call("POST", self._portfolio, "/portfolio/order_groups/create",
                                   body={"contracts_limit": contracts_limit})
        return parse_order_group_id(payload)

    async def get_order_group(self, order_group_id: str) -> OrderGroup:
        payload = await self._call(
            "GET", self._portfolio, f"/portfolio/order_groups/{path_id(order_group_id, 'order group id')}"
        )
        return parse_order_group(order_group_id, payload)

    async def get_order_groups(self) -> list[OrderGroup]:
        return parse_order_groups(await self._call("GET", self._portfolio, "/portfolio/order_groups"))

    async def get_series_fees(self, series_ticker: str | None = None) -> SeriesFees:
        """The series' fee_type and fee_multiplier as the venue states them now (public)."""
        series = check_ticker(series_ticker or self.series_ticker)
        return parse_series_fees(await self._call("GET", self._market, f"/series/{series}"))

    async def get_fee_changes(self, series_ticker: str | None = None) -> list[FeeChange]:
        """Fee changes the venue has announced for the series (public; upcoming ones by default)."""
        series = check_ticker(series_ticker or self.series_ticker)
        payload = await self._call("GET", self._market, "/series/fee_changes", {"series_ticker": series})
        return parse_fee_changes(payload)


def _whole_seconds(ts: float | None) -> int | None:
    return None if ts is None else int(ts)


def _since(ts: float) -> int:
    # A minute of slack: our clock and the venue's created_time may disagree by a few seconds.
    return int(ts) - 60


__all__ = [
    "ALLOWED_HOSTS",
    "API_PREFIX",
    "ENV_HOSTS",
    "TIME_IN_FORCE",
    "KalshiAPIError",
    "KalshiAuthFailure",
    "KalshiClient",
    "KalshiError",
    "KalshiNoCredentials",
    "KalshiOrderUncertain",
    "KalshiRequestError",
    "KalshiTransportError",
    "_Target",
    "load_auth",
    "order_body",
    "parse_market",
    "parse_order",
    "parse_orderbook",
]
