"""All Polymarket US REST calls, to api.polymarket.us (signed) and gateway.polymarket.us (public) only.

Facts (docs.polymarket.us; endpoints, shapes and signing checked against the official SDK
`polymarket-us` 2.4, a test-only oracle):
- Public market data on the gateway: `GET /v1/market/slug/{slug}`, `/v1/events/slug/{slug}`,
  `/v1/markets/{slug}/book` -> {"marketData": {"bids": [{"px": {"value", "currency"}, "qty"}],
  "offers": [...], "state"}}, `/v1/markets/{slug}/settlement` -> {"slug", "settlement"}.
- Signed calls on the API host (src/auth/poly_us_auth.py): `POST /v1/orders`, `GET /v1/order/{id}`,
  `GET /v1/orders/open`, `POST /v1/order/{id}/cancel`, `POST /v1/orders/open/cancel`,
  `GET /v1/portfolio/positions`, `GET /v1/portfolio/activities`, `GET /v1/account/balances`.
- One instrument per market: its YES ("long") side. Bids and offers are YES prices, and an
  order's price is ALWAYS the YES price (docs "Orders": buying NO at $0.40 is selling YES at
  $0.60). ORDER_INTENT_BUY_LONG buys YES, ORDER_INTENT_BUY_SHORT buys NO.
- Money arrives as {"value": "0.55", "currency": "USD"} (sometimes a JSON number; parsed
  straight to Decimal, never through float); quantities are strings.
- Rate limits: 20 requests/s per key (signed) and per IP (public); a 429 has no Retry-After.

The book maps onto the shared OrderBook with the market slug as ticker: YES bids are `yes_bids`,
each YES offer at p is a `no_bids` level at 1 - p, so `book.asks(Side.YES)` is what YES costs and
`book.asks(Side.NO)` what NO costs, cheapest first, exactly as on Kalshi.

Retries: reads retry on 429, 5xx and transport failures. An order is NEVER re-sent after a
failure that may have reached the exchange (the API has no idempotency key, so a second POST
would be a second order): `create_order` retries only a 429, which the venue refused without
acting. Anything else is the caller's to resolve from the venue's own word.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from src.auth.poly_us_auth import PolyUsKey
from src.model.models import ONE, BookLevel, Clock, Market, OrderBook, Side, utc_from_ts
from src.net.backoff import RetryAdvice, RetryPolicy, Sleep
from src.net.http_session import ConnectorFactory
from src.net.poly_http import PolyHttp, PolyHttpError, PolyMalformedResponse
from src.net.rate_limit import TokenBucket

API_URL = "https://api.polymarket.us"
GATEWAY_URL = "https://gateway.polymarket.us"
US_HOSTS = frozenset({"api.polymarket.us", "gateway.polymarket.us"})
SERVICE = "polymarket-us"

BUY_LONG = "ORDER_INTENT_BUY_LONG"
BUY_SHORT = "ORDER_INTENT_BUY_SHORT"
LIMIT = "ORDER_TYPE_LIMIT"
TIF = {"fill_or_kill": "TIME_IN_FORCE_FILL_OR_KILL", "immediate_or_cancel": "TIME_IN_FORCE_IMMEDIATE_OR_CANCEL"}
TERMINAL_STATES = frozenset({"ORDER_STATE_FILLED", "ORDER_STATE_CANCELED", "ORDER_STATE_REJECTED",
                             "ORDER_STATE_EXPIRED", "ORDER_STATE_REPLACED"})  # fmt: skip
TRADE_ACTIVITY = "ACTIVITY_TYPE_TRADE"
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def intent_for(side: Side) -> str:
    """Buying YES is BUY_LONG, buying NO is BUY_SHORT."""
    return BUY_LONG if side is Side.YES else BUY_SHORT


def wire_price(side: Side, price: Decimal) -> Decimal:
    """The price an order carries: always the YES price, so a NO buy at q is sent as 1 - q."""
    return price if side is Side.YES else ONE - price


def side_price(side: Side, yes_price: Decimal) -> Decimal:
    """What one contract of `side` cost, from the venue's YES price."""
    return yes_price if side is Side.YES else ONE - yes_price


# ------------------------------------------------------------------ parsing


def _bad(what: str) -> PolyMalformedResponse:
    return PolyMalformedResponse(SERVICE, 200, what)


def _obj(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _bad(f"{what}: expected a JSON object")
    return payload


def _dec(value: Any, name: str) -> Decimal:
    if isinstance(value, dict):  # an Amount: {"value": ..., "currency": "USD"}
        currency = value.get("currency", "USD")
        if currency not in ("USD", "", None):
            raise _bad(f"{name} is in {currency!r}, not USD")
        value = value.get("value")
    if isinstance(value, bool) or value is None or value == "":
        raise _bad(f"{name} missing")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"{name} is not a number") from None
    if not result.is_finite():
        raise _bad(f"{name} is not finite")
    return result


def _opt_dec(value: Any, name: str) -> Decimal | None:
    if value is None or value == "" or (isinstance(value, dict) and value.get("value") in (None, "")):
        return None
    return _dec(value, name)


def iso_ts(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 time ("2026-02-16T12:00:00.123456789Z"); None if absent or garbled."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds: cut nanoseconds
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class UsMarketSide:
    """One side of a US market: `long` is the YES side; `description` names what it backs ("Chargers")."""

    long: bool
    description: str
    team_name: str = ""
    team_abbreviation: str = ""


@dataclass(frozen=True, slots=True)
class UsMarket:
    """`GET /v1/market/slug/{slug}` as the bot needs it."""

    slug: str
    question: str
    active: bool
    closed: bool
    sides: tuple[UsMarketSide, ...]
    market_type: str = ""
    game_start_ts: float | None = None
    end_ts: float | None = None

    @property
    def tradable(self) -> bool:
        return self.active and not self.closed


def market_from_payload(payload: Any) -> UsMarket:
    body = _obj(payload, "market")
    m = _obj(body.get("market", body), "market")
    slug = m.get("slug")
    if not isinstance(slug, str) or not slug:
        raise _bad("market has no slug")
    sides = []
    for raw in m.get("marketSides") or []:
        side = _obj(raw, "market side")
        team = side.get("team") if isinstance(side.get("team"), dict) else {}
        sides.append(UsMarketSide(
            long=side.get("long") is True,
            description=str(side.get("description") or ""),
            team_name=str(team.get("name") or ""),
            team_abbreviation=str(team.get("abbreviation") or ""),
        ))  # fmt: skip
    return UsMarket(
        slug=slug,
        question=str(m.get("question") or m.get("title") or ""),
        active=m.get("active") is True,
        closed=m.get("closed") is True,
        sides=tuple(sides),
        market_type=str(m.get("sportsMarketType") or m.get("marketType") or ""),
        game_start_ts=iso_ts(m.get("gameStartTime")),
        end_ts=iso_ts(m.get("endDate")),
    )


def book_from_payload(slug: str, payload: Any, fetched_at: float) -> tuple[OrderBook, str]:
    """`GET /v1/markets/{slug}/book` -> (OrderBook with YES bids and offers as NO bids, market state)."""
    data = _obj(_obj(payload, "book").get("marketData"), "book marketData")
    if str(data.get("marketSlug", slug)) != slug:
        raise _bad("book is for another market")

    def levels(key: str) -> list[BookLevel]:
        rows = data.get(key) or []
        if not isinstance(rows, list):
            raise _bad(f"book {key} is not a list")
        out = []
        for row in rows:
            r = _obj(row, f"book {key} level")
            price, count = _dec(r.get("px"), "px"), _dec(r.get("qty"), "qty")
            if not 0 < price < 1 or count <= 0:
                raise _bad(f"book {key} level {price} x {count} is out of range")
            out.append(BookLevel(price, count))
        return out

    bids = sorted(levels("bids"), key=lambda lv: lv.price)
    offers_as_no_bids = sorted((BookLevel(ONE - lv.price, lv.count) for lv in levels("offers")),
                               key=lambda lv: lv.price)  # fmt: skip
    return OrderBook(slug, tuple(bids), tuple(offers_as_no_bids), fetched_at), str(data.get("state") or "")


def settlement_result(payload: Any) -> str:
    """"yes" (long side paid $1), "no" (short side did), or "" (no settlement, or a split)."""
    body = _obj(payload, "settlement")
    value = body.get("settlement")
    if value is None or value == "":
        return ""
    price = _dec(value, "settlement")
    return "yes" if price == ONE else "no" if price == 0 else ""


@dataclass(frozen=True, slots=True)
class UsExecution:
    """One execution report of an order (`executions[]` of a create answer)."""

    exec_type: str
    last_shares: Decimal
    last_px: Decimal | None  # YES price
    order_state: str
    trade_id: str
    commission: Decimal


@dataclass(frozen=True, slots=True)
class UsOrder:
    """An order as the venue reports it (prices are YES prices)."""

    order_id: str
    slug: str
    intent: str
    state: str
    price: Decimal | None
    quantity: Decimal
    cum_quantity: Decimal
    avg_px: Decimal | None
    commission: Decimal
    create_ts: float | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class UsOrderAck:
    """The answer to `POST /v1/orders`: the exchange's order id and any executions so far."""

    order_id: str
    executions: tuple[UsExecution, ...]


@dataclass(frozen=True, slots=True)
class UsTrade:
    """One of the account's trades (`ACTIVITY_TYPE_TRADE`); price is the YES price."""

    trade_id: str
    slug: str
    price: Decimal
    qty: Decimal
    create_ts: float | None
    is_aggressor: bool


@dataclass(frozen=True, slots=True)
class UsPosition:
    """Net YES contracts held in one market (negative: NO contracts)."""

    slug: str
    net: Decimal
    expired: bool


@dataclass(frozen=True, slots=True)
class UsBalance:
    current_balance: Decimal
    buying_power: Decimal
    currency: str


def order_from_payload(payload: Any) -> UsOrder:
    o = _obj(payload, "order")
    order_id = o.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise _bad("order has no id")
    return UsOrder(
        order_id=order_id,
        slug=str(o.get("marketSlug") or ""),
        intent=str(o.get("intent") or ""),
        state=str(o.get("state") or ""),
        price=_opt_dec(o.get("price"), "price"),
        quantity=_dec(o.get("quantity", 0), "quantity"),
        cum_quantity=_dec(o.get("cumQuantity", 0), "cumQuantity"),
        avg_px=_opt_dec(o.get("avgPx"), "avgPx"),
        commission=_opt_dec(o.get("commissionNotionalTotalCollected"), "commission") or Decimal(0),
        create_ts=iso_ts(o.get("createTime") or o.get("insertTime")),
    )


def _execution(payload: Any) -> UsExecution:
    e = _obj(payload, "execution")
    order = e.get("order") if isinstance(e.get("order"), dict) else {}
    return UsExecution(
        exec_type=str(e.get("type") or ""),
        last_shares=_opt_dec(e.get("lastShares"), "lastShares") or Decimal(0),
        last_px=_opt_dec(e.get("lastPx"), "lastPx"),
        order_state=str(order.get("state") or ""),
        trade_id=str(e.get("tradeId") or ""),
        commission=_opt_dec(e.get("commissionNotionalCollected"), "commission") or Decimal(0),
    )


def ack_from_payload(payload: Any) -> UsOrderAck:
    body = _obj(payload, "create order")
    order_id = body.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise _bad("create order answer has no id")
    rows = body.get("executions") or []
    if not isinstance(rows, list):
        raise _bad("executions is not a list")
    return UsOrderAck(order_id, tuple(_execution(r) for r in rows))


def trades_from_activities(payload: Any) -> tuple[list[UsTrade], str | None]:
    body = _obj(payload, "activities")
    rows = body.get("activities") or []
    if not isinstance(rows, list):
        raise _bad("activities is not a list")
    trades = []
    for row in rows:
        a = _obj(row, "activity")
        if a.get("type") != TRADE_ACTIVITY or not isinstance(a.get("trade"), dict):
            continue
        t = a["trade"]
        trades.append(UsTrade(
            trade_id=str(t.get("id") or ""),
            slug=str(t.get("marketSlug") or ""),
            price=_dec(t.get("price"), "trade price"),
            qty=abs(_dec(t.get("qtyDecimal") or t.get("qty"), "trade qty")),
            create_ts=iso_ts(t.get("createTime")),
            is_aggressor=t.get("isAggressor") is True,
        ))  # fmt: skip
    cursor = body.get("nextCursor")
    more = isinstance(cursor, str) and cursor and body.get("eof") is not True
    return trades, (cursor if more else None)


def positions_from_payload(payload: Any) -> tuple[dict[str, UsPosition], str | None]:
    body = _obj(payload, "positions")
    raw = body.get("positions") or {}
    if not isinstance(raw, dict):
        raise _bad("positions is not an object keyed by market")
    out = {}
    for slug, row in raw.items():
        p = _obj(row, "position")
        net = p.get("netPositionDecimal") if p.get("netPositionDecimal") not in (None, "") else p.get("netPosition")
        out[str(slug)] = UsPosition(str(slug), _dec(net if net is not None else 0, "netPosition"),
                                    p.get("expired") is True)  # fmt: skip
    cursor = body.get("nextCursor")
    more = isinstance(cursor, str) and cursor and body.get("eof") is not True
    return out, (cursor if more else None)


def balance_from_payload(payload: Any) -> UsBalance:
    rows = _obj(payload, "balances").get("balances")
    if not isinstance(rows, list) or not rows:
        raise _bad("balances is empty")
    b = _obj(rows[0], "balance")
    return UsBalance(_dec(b.get("currentBalance"), "currentBalance"),
                     _dec(b.get("buyingPower", b.get("currentBalance")), "buyingPower"),
                     str(b.get("currency") or "USD"))  # fmt: skip


def only_refusals(exc: BaseException) -> RetryAdvice | None:
    """Order creation's retry rule: a 429 was refused before anything happened; nothing else is retried."""
    if isinstance(exc, PolyHttpError) and exc.status == 429:
        return RetryAdvice(exc.retry_after_s)
    return None


_MAX_PAGES = 200


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

    async def _public(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._http.request("GET", path, params=params, bucket=self._reads, base_url=GATEWAY_URL)

    def _sign(self, method: str, path: str, _body: str | None) -> dict[str, str]:
        if self._key is None:
            raise PolyHttpError(SERVICE, 0, "this call needs POLYMARKET_KEY_ID and POLYMARKET_SECRET_KEY")
        return self._key.headers(int(self._clock() * 1000), method, path)

    async def _private(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
                       order: bool = False) -> Any:  # fmt: skip
        if self._key is None:
            raise PolyHttpError(SERVICE, 0, "this call needs POLYMARKET_KEY_ID and POLYMARKET_SECRET_KEY")
        # Serialized exactly as the official SDK's httpx does, so the bytes match it.
        text = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        bucket = self._reads if method == "GET" else self._writes
        try:
            result = await self._http.request(method, path, params=params, body=text, sign=self._sign,
                                              bucket=bucket, retry_classify=only_refusals if order else None)
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
        payload = _obj(await self._public("/v1/markets", {"limit": str(limit), "active": "true", "closed": "false"}),
                       "markets")  # fmt: skip
        rows = payload.get("markets") or []
        if not isinstance(rows, list):
            raise _bad("markets is not a list")
        return [str(r["slug"]) for r in rows if isinstance(r, dict) and isinstance(r.get("slug"), str) and r["slug"]]

    async def get_us_market(self, slug: str) -> UsMarket:
        return market_from_payload(await self._public(f"/v1/market/slug/{slug}"))

    async def get_book(self, slug: str) -> tuple[OrderBook, str]:
        return book_from_payload(slug, await self._public(f"/v1/markets/{slug}/book"), self._clock())

    async def get_orderbook(self, ticker: str) -> OrderBook:
        """MarketData: the book of market `ticker` (a slug)."""
        return (await self.get_book(ticker))[0]

    async def get_settlement(self, slug: str) -> str:
        return settlement_result(await self._public(f"/v1/markets/{slug}/settlement"))

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
        return Market(
            ticker=us.slug, event_ticker=us.slug, status="open" if us.tradable else "closed",
            open_time=utc_from_ts(us.game_start_ts or 0), close_time=utc_from_ts(us.end_ts) if us.end_ts
            else _FAR_FUTURE, floor_strike=None, result=result,
        )  # fmt: skip

    # ------------------------------------------------------------------ signed

    async def get_balance(self) -> UsBalance:
        return balance_from_payload(await self._private("GET", "/v1/account/balances"))

    async def create_order(self, slug: str, side: Side, price: Decimal, quantity: Decimal,
                           time_in_force: str = "fill_or_kill") -> UsOrderAck:  # fmt: skip
        """One limit BUY of `quantity` contracts of `side` at most `price` (the side's own price)."""
        if time_in_force not in TIF:
            raise ValueError(f"time_in_force must be one of {sorted(TIF)}, got {time_in_force!r}")
        if quantity <= 0 or quantity != quantity.to_integral_value():
            raise ValueError(f"quantity must be a positive whole number, got {quantity}")
        if not 0 < price < 1:
            raise ValueError(f"price must be between 0 and 1 exclusive, got {price}")
        body = {  # key order of the SDK README's example: the same bytes as the SDK sends
            "marketSlug": slug,
            "intent": intent_for(side),
            "type": LIMIT,
            "price": {"value": str(wire_price(side, price)), "currency": "USD"},
            "quantity": int(quantity),
            "tif": TIF[time_in_force],
        }
        return ack_from_payload(await self._private("POST", "/v1/orders", body=body, order=True))

    async def get_order(self, order_id: str) -> UsOrder:
        return order_from_payload(_obj(await self._private("GET", f"/v1/order/{order_id}"), "order").get("order"))

    async def get_open_orders(self, slug: str | None = None) -> list[UsOrder]:
        payload = _obj(await self._private("GET", "/v1/orders/open", params={"slugs": slug} if slug else None),
                       "open orders")  # fmt: skip
        rows = payload.get("orders") or []
        if not isinstance(rows, list):
            raise _bad("orders is not a list")
        return [order_from_payload(r) for r in rows]

    async def cancel_order(self, order_id: str, slug: str) -> None:
        await self._private("POST", f"/v1/order/{order_id}/cancel", body={"marketSlug": slug})

    async def cancel_all_orders(self) -> int:
        payload = _obj(await self._private("POST", "/v1/orders/open/cancel", body={}), "cancel all")
        ids = payload.get("canceledOrderIds") or []
        return len(ids) if isinstance(ids, list) else 0

    async def get_positions(self, slug: str | None = None) -> dict[str, UsPosition]:
        out: dict[str, UsPosition] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = {k: v for k, v in (("market", slug), ("cursor", cursor)) if v}
            page, cursor = positions_from_payload(await self._private("GET", "/v1/portfolio/positions",
                                                                      params=params or None))  # fmt: skip
            out.update(page)
            if cursor is None:
                return out
        raise _bad("positions: too many pages")

    async def get_trades(self, slug: str, since_ts: float | None = None) -> list[UsTrade]:
        """The account's trades in market `slug`, newest first, back to `since_ts` (inclusive)."""
        out: list[UsTrade] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"marketSlug": slug, "types": TRADE_ACTIVITY, "sortOrder": "SORT_ORDER_DESCENDING"}
            if cursor:
                params["cursor"] = cursor
            page, cursor = trades_from_activities(await self._private("GET", "/v1/portfolio/activities",
                                                                      params=params))  # fmt: skip
            for trade in page:
                if since_ts is not None and trade.create_ts is not None and trade.create_ts < since_ts:
                    return out
                if trade.slug in ("", slug):
                    out.append(trade)
            if cursor is None:
                return out
        raise _bad("activities: too many pages")


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
    "side_price",
    "wire_price",
]
