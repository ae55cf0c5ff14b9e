"""Polymarket US REST client: the venue's calls, to api.polymarket.us (signed) and gateway.polymarket.us (public) only.

The work is split by job: polymarket_us_requests.py (each call's method, path, query and body),
polymarket_us_wire.py (parsing answers into typed Decimal values), src/net/poly_http.py (session,
allowlist, retries) and src/auth/poly_us_auth.py (signing). Callers import everything from here.

Rate limits: 20 requests/s per key (signed) and per IP (public); a 429 has no Retry-After.
Retries: reads retry on 429, 5xx and transport failures. An order is NEVER re-sent after a
failure that may have reached the exchange (the API has no idempotency key, so a second POST
would be a second order): `create_order` retries only a 429, which the venue refused without
acting. Anything else is the caller's to resolve from the venue's own word.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from src.auth.poly_us_auth import PolyUsKey
from src.model.models import Clock, Market, OrderBook, Side
from src.net.backoff import RetryAdvice, RetryPolicy, Sleep
from src.net.http_session import ConnectorFactory
from src.net.poly_http import PolyHttp, PolyHttpError, PolyMalformedResponse
from src.net.rate_limit import TokenBucket
from src.platforms import polymarket_us_requests as req
from src.platforms.polymarket_us_requests import BUY_LONG, BUY_SHORT, UsRequest, intent_for, wire_price
from src.platforms.polymarket_us_wire import (
    SERVICE,
    UsBalance,
    UsExecution,
    UsMarket,
    UsMarketSide,
    UsOrder,
    UsOrderAck,
    UsPosition,
    UsTrade,
    ack_from_payload,
    balance_from_payload,
    book_from_payload,
    canceled_count,
    market_from_payload,
    open_slugs_from_payload,
    order_from_answer,
    orders_from_payload,
    positions_from_payload,
    settlement_result,
    shared_market,
    side_price,
    trades_from_activities,
)

API_URL = "https://api.polymarket.us"
GATEWAY_URL = "https://gateway.polymarket.us"
US_HOSTS = frozenset({"api.polymarket.us", "gateway.polymarket.us"})
_MAX_PAGES = 200


def only_refusals(exc: BaseException) -> RetryAdvice | None:
    """Order creation's retry rule: a 429 was refused before anything happened; nothing else is retried."""
    if isinstance(exc, PolyHttpError) and exc.status == 429:
        return RetryAdvice(exc.retry_after_s)
    return None


def _too_many_pages(what: str) -> PolyMalformedResponse:
    return PolyMalformedResponse(SERVICE, 200, f"{what}: too many pages")


class PolymarketUSClient:
    """The Polymarket US REST client: one keep-alive session for both hosts, two token buckets."""

    def __init__(
        self,
        key: PolyUsKey | None = None,
        *,
        clock: Clock = time.time,
        connector_factory: ConnectorFactory | None = None,
        reads_per_s: Decimal = Decimal("10"),
        writes_per_s: Decimal = Decimal("5"),
        retry_policy: RetryPolicy = RetryPolicy(),  # frozen: a shared default is safe
        timeout_s: float = 5.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_auth_failure: Callable[[str], None] | None = None,
        on_auth_success: Callable[[], None] | None = None,
    ) -> None:
        self._key = key
        self._clock = clock
        self._http = PolyHttp(
            SERVICE, API_URL, US_HOSTS, timeout_s=timeout_s, retry_policy=retry_policy,
            connector_factory=connector_factory, sleep=sleep, monotonic=monotonic,
            redactions=lambda: (key.key_id,) if key else (), wall_clock=clock,
        )  # fmt: skip
        self._reads = TokenBucket.per_second(reads_per_s, sleep=sleep)
        self._writes = TokenBucket.per_second(writes_per_s, sleep=sleep)
        self._on_auth_failure = on_auth_failure
        self._on_auth_success = on_auth_success

    def __repr__(self) -> str:
        return f"PolymarketUSClient(key={'set' if self._key else 'none'})"

    @property
    def has_key(self) -> bool:
        return self._key is not None

    @property
    def last_server_date(self) -> tuple[float, float] | None:
        """(server time, our time) from the last answer's Date header: the clock-skew hint."""
        return self._http.last_server_date

    async def close(self) -> None:
        await self._http.close()

    # ------------------------------------------------------------------ plumbing

    async def _public(self, request: UsRequest) -> Any:
        return await self._http.request(request.method, request.path, params=request.params, bucket=self._reads,
                                        base_url=GATEWAY_URL)  # fmt: skip

    def _sign(self, method: str, path: str, _body: str | None) -> dict[str, str]:
        if self._key is None:
            raise PolyHttpError(SERVICE, 0, "this call needs POLYMARKET_KEY_ID and POLYMARKET_SECRET_KEY")
        return self._key.headers(int(self._clock() * 1000), method, path)

    async def _private(self, request: UsRequest) -> Any:
        if self._key is None:
            raise PolyHttpError(SERVICE, 0, "this call needs POLYMARKET_KEY_ID and POLYMARKET_SECRET_KEY")
        bucket = self._reads if request.method == "GET" else self._writes
        try:
            result = await self._http.request(
                request.method, request.path, params=request.params, body=request.body_text(), sign=self._sign,
                bucket=bucket, retry_classify=only_refusals if request.order else None,
            )  # fmt: skip
        except PolyHttpError as exc:
            if exc.is_auth_failure and self._on_auth_failure is not None:
                self._on_auth_failure(f"http_{exc.status}")
            raise
        if self._on_auth_success is not None:
            self._on_auth_success()
        return result

    # ------------------------------------------------------------------ public market data

    async def open_market_slugs(self, limit: int = 5) -> list[str]:
        """Slugs of some open markets (`GET /v1/markets?active=true&closed=false`): --verify's book probe."""
        return open_slugs_from_payload(await self._public(req.open_markets(limit)))

    async def get_us_market(self, slug: str) -> UsMarket:
        return market_from_payload(await self._public(req.market(slug)))

    async def get_book(self, slug: str) -> tuple[OrderBook, str]:
        return book_from_payload(slug, await self._public(req.book(slug)), self._clock())

    async def get_orderbook(self, ticker: str) -> OrderBook:
        """MarketData: the book of market `ticker` (a slug)."""
        return (await self.get_book(ticker))[0]

    async def get_settlement(self, slug: str) -> str:
        return settlement_result(await self._public(req.settlement(slug)))

    async def get_market(self, condition_id: str, token_id: str = "") -> Market:
        """The shared Market for a slug (the whale loop and settlement pass the slug as both ids).

        Closed markets carry their result ("yes": the long side won) once the venue settled them.
        """
        us = await self.get_us_market(condition_id)
        result = ""
        if us.closed:
            try:
                result = await self.get_settlement(us.slug)
            except PolyHttpError as exc:
                if exc.status != 404:  # 404: not settled yet
                    raise
        return shared_market(us, result)

    # ------------------------------------------------------------------ signed

    async def get_balance(self) -> UsBalance:
        return balance_from_payload(await self._private(req.balances()))

    async def create_order(self, slug: str, side: Side, price: Decimal, quantity: Decimal,
                           time_in_force: str = "fill_or_kill") -> UsOrderAck:  # fmt: skip
        """One limit BUY of `quantity` contracts of `side` at most `price` (the side's own price)."""
        return ack_from_payload(await self._private(req.create_order(slug, side, price, quantity, time_in_force)))

    async def get_order(self, order_id: str) -> UsOrder:
        return order_from_answer(await self._private(req.get_order(order_id)))

    async def get_open_orders(self, slug: str | None = None) -> list[UsOrder]:
        return orders_from_payload(await self._private(req.open_orders(slug)))

    async def cancel_order(self, order_id: str, slug: str) -> None:
        await self._private(req.cancel_order(order_id, slug))

    async def cancel_all_orders(self) -> int:
        return canceled_count(await self._private(req.cancel_all()))

    async def get_positions(self, slug: str | None = None) -> dict[str, UsPosition]:
        out: dict[str, UsPosition] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page, cursor = positions_from_payload(await self._private(req.positions(slug, cursor)))
            out.update(page)
            if cursor is None:
                return out
        raise _too_many_pages("positions")

    async def get_trades(self, slug: str, since_ts: float | None = None) -> list[UsTrade]:
        """The account's trades in market `slug`, newest first, back to `since_ts` (inclusive)."""
        out: list[UsTrade] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page, cursor = trades_from_activities(await self._private(req.trade_activities(slug, cursor)))
            for trade in page:
                if since_ts is not None and trade.create_ts is not None and trade.create_ts < since_ts:
                    return out
                if trade.slug in ("", slug):
                    out.append(trade)
            if cursor is None:
                return out
        raise _too_many_pages("activities")


__all__ = [
    "API_URL",
    "BUY_LONG",
    "BUY_SHORT",
    "GATEWAY_URL",
    "US_HOSTS",
    "PolymarketUSClient",
    "UsBalance",
    "UsExecution",
    "UsMarket",
    "UsMarketSide",
    "UsOrder",
    "UsOrderAck",
    "UsPosition",
    "UsTrade",
    "book_from_payload",
    "intent_for",
    "market_from_payload",
    "only_refusals",
    "settlement_result",
    "side_price",
    "wire_price",
]
