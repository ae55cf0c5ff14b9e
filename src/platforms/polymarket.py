"""All Polymarket CLOB V2 REST calls, to clob.polymarket.com only: market data, API keys, orders, fills.

Auth is delegated: L1/L2 headers to src/auth/poly_auth.py, order structs and signatures to
src/auth/poly_order_signing.py, the key to src/auth/poly_wallet.py. Transport (allowlist on every
try, token buckets, retries with backoff) is src/net/poly_http.py.

Prices and sizes are Decimal in and out; the CLOB sends them as strings (sometimes JSON numbers,
which are parsed straight to Decimal). A Polymarket book maps onto the shared OrderBook shape with
the token id as ticker: the token's bids are `yes_bids`, and each ask at p is a `no_bids` level at
1 - p, so `book.asks(Side.YES)` lists what the token can be bought at, cheapest first.

Retries: reads and writes retry on 429, 5xx gateways and transport failures. A retried POST /order
re-sends the identical signed order (same salt, so the same order hash): the exchange cannot fill
one order hash twice, so a retry can never double the exposure.
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

from src.auth.poly_auth import ApiCreds, l1_headers, l2_headers
from src.auth.poly_order_signing import (
    POLYGON_CHAIN_ID,
    OrderSide,
    SignatureType,
    SignedOrderV2,
    build_order,
    limit_order_amounts,
    market_order_amounts,
    sign_order,
)
from src.auth.poly_wallet import PolyAuthError, PolyWallet
from src.model.models import BookLevel, Clock, Market, OrderBook, utc_from_ts
from src.net.backoff import RetryPolicy, Sleep
from src.net.http_session import ConnectorFactory
from src.net.poly_http import PolyHttp, PolyHttpError, PolyMalformedResponse
from src.net.rate_limit import TokenBucket

CLOB_URL = "https://clob.polymarket.com"
CLOB_HOSTS = frozenset({"clob.polymarket.com"})
SERVICE = "polymarket-clob"
INITIAL_CURSOR = "MA=="
END_CURSOR = "LTE="
ORDER_TYPES = frozenset({"GTC", "GTD", "FOK", "FAK"})
_MAX_PAGES = 1_000
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


class PolymarketOrderRejected(Exception):
    """The CLOB answered an order post with success=false; the message is the exchange's reason."""


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """The CLOB's answer to a posted order."""

    order_id: str
    status: str  # "live" | "matched" | "delayed" | "unmatched"
    making_amount: Decimal | None
    taking_amount: Decimal | None
    transaction_hashes: tuple[str, ...]
    trade_ids: tuple[str, ...]
    signed: SignedOrderV2


@dataclass(frozen=True, slots=True)
class CancelResult:
    canceled: tuple[str, ...]
    not_canceled: tuple[tuple[str, str], ...]  # (order id, reason)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order resting on the book (`GET /data/orders`)."""

    order_id: str
    status: str
    market: str
    asset_id: str
    side: str  # "BUY" | "SELL"
    original_size: Decimal
    size_matched: Decimal
    price: Decimal
    outcome: str
    order_type: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ClobTrade:
    """One of the account's trades (`GET /data/trades`)."""

    trade_id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: str
    size: Decimal
    price: Decimal
    fee_rate_bps: Decimal
    status: str  # "MATCHED" | "MINED" | "CONFIRMED" | "RETRYING" | "FAILED"
    match_time: int
    outcome: str
    transaction_hash: str
    trader_side: str  # "TAKER" | "MAKER"


def _dec(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise PolyMalformedResponse(SERVICE, 200, f"{name} missing")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise PolyMalformedResponse(SERVICE, 200, f"{name} is not a number") from None
    if not result.is_finite():
        raise PolyMalformedResponse(SERVICE, 200, f"{name} is not finite")
    return result


def _opt_dec(value: Any) -> Decimal | None:
    try:
        return _dec(value, "amount")
    except PolyMalformedResponse:
        return None


def _obj(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise PolyMalformedResponse(SERVICE, 200, f"{what}: expected a JSON object")
    return payload


def _field(payload: dict[str, Any], key: str, what: str) -> Any:
    if key not in payload:
        raise PolyMalformedResponse(SERVICE, 200, f"{what}: no {key!r}")
    return payload[key]


def book_from_payload(token_id: str, payload: Any, fetched_at: float) -> OrderBook:
    """`GET /book` -> OrderBook (token bids as yes_bids; asks as no_bids at 1 - price), both ascending."""
    book = _obj(payload, "book")
    if str(book.get("asset_id", token_id)) != token_id:
        raise PolyMalformedResponse(SERVICE, 200, "book is for another token")

    def levels(key: str) -> list[BookLevel]:
        rows = book.get(key) or []
        if not isinstance(rows, list):
            raise PolyMalformedResponse(SERVICE, 200, f"book {key} is not a list")
        out = []
        for row in rows:
            row = _obj(row, f"book {key} level")
            out.append(BookLevel(_dec(row.get("price"), "price"), _dec(row.get("size"), "size")))
        return out

    bids = sorted(levels("bids"), key=lambda lv: lv.price)
    asks_as_no_bids = sorted((BookLevel(1 - lv.price, lv.count) for lv in levels("asks")), key=lambda lv: lv.price)
    return OrderBook(token_id, tuple(bids), tuple(asks_as_no_bids), fetched_at)


def _iso(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def market_from_payload(condition_id: str, token_id: str, payload: Any) -> Market:
    """`GET /markets/{condition_id}` -> the shared Market for one of its outcome tokens."""
    m = _obj(payload, "market")
    tokens = m.get("tokens") or []
    token = next((t for t in tokens if isinstance(t, dict) and str(t.get("token_id")) == token_id), None)
    if token is None:
        raise PolyMalformedResponse(SERVICE, 200, f"market {condition_id[:12]} has no token {token_id[:12]}")
    tradable = bool(m.get("active")) and not bool(m.get("closed")) and m.get("accepting_orders", True) is not False
    result = ""
    if bool(m.get("closed")) and any(isinstance(t, dict) and t.get("winner") for t in tokens):
        result = "yes" if token.get("winner") else "no"
    close = _iso(m.get("end_date_iso")) or _FAR_FUTURE
    return Market(
        ticker=token_id,
        event_ticker=condition_id,
        status="open" if tradable else "closed",
        open_time=_iso(m.get("game_start_time")) or utc_from_ts(0),
        close_time=close,
        floor_strike=None,
        result=result,
        last_price=_opt_dec(token.get("price")),
    )


def _open_order(row: Any) -> OpenOrder:
    r = _obj(row, "order")
    return OpenOrder(
        order_id=str(_field(r, "id", "order")),
        status=str(r.get("status", "")),
        market=str(r.get("market", "")),
        asset_id=str(r.get("asset_id", "")),
        side=str(r.get("side", "")).upper(),
        original_size=_dec(r.get("original_size"), "original_size"),
        size_matched=_dec(r.get("size_matched", "0"), "size_matched"),
        price=_dec(r.get("price"), "price"),
        outcome=str(r.get("outcome", "")),
        order_type=str(r.get("order_type", "")),
        created_at=int(_dec(r.get("created_at", 0), "created_at")),
    )


def _trade(row: Any) -> ClobTrade:
    r = _obj(row, "trade")
    return ClobTrade(
        trade_id=str(_field(r, "id", "trade")),
        taker_order_id=str(r.get("taker_order_id", "")),
        market=str(r.get("market", "")),
        asset_id=str(r.get("asset_id", "")),
        side=str(r.get("side", "")).upper(),
        size=_dec(r.get("size"), "size"),
        price=_dec(r.get("price"), "price"),
        fee_rate_bps=_dec(r.get("fee_rate_bps", "0"), "fee_rate_bps"),
        status=str(r.get("status", "")),
        match_time=int(_dec(r.get("match_time", 0), "match_time")),
        outcome=str(r.get("outcome", "")),
        transaction_hash=str(r.get("transaction_hash", "")),
        trader_side=str(r.get("trader_side", "")),
    )


def _cancel_result(payload: Any) -> CancelResult:
    p = _obj(payload, "cancel")
    canceled = p.get("canceled") or []
    not_canceled = p.get("not_canceled") or {}
    if not isinstance(canceled, list) or not isinstance(not_canceled, dict):
        raise PolyMalformedResponse(SERVICE, 200, "cancel: unexpected shape")
    return CancelResult(tuple(str(c) for c in canceled), tuple((str(k), str(v)) for k, v in not_canceled.items()))


class PolymarketClient:
    """The CLOB V2 REST client. Market data needs nothing; key calls need the wallet; orders need
    the wallet and API credentials (from .env, or `ensure_api_creds()`)."""

    def __init__(
        self,
        wallet: PolyWallet | None = None,
        *,
        creds: ApiCreds | None = None,
        chain_id: int = POLYGON_CHAIN_ID,
        signature_type: SignatureType = SignatureType.EOA,
        funder: str | None = None,
        clock: Clock = time.time,
        base_url: str = CLOB_URL,
        connector_factory: ConnectorFactory | None = None,
        reads_per_s: Decimal = Decimal("10"),
        writes_per_s: Decimal = Decimal("5"),
        read_bucket: TokenBucket | None = None,
        write_bucket: TokenBucket | None = None,
        retry_policy: RetryPolicy = RetryPolicy(),  # frozen: a shared default is safe
        timeout_s: float = 5.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wallet = wallet
        self._creds = creds
        self._chain_id = chain_id
        self._signature_type = SignatureType(signature_type)
        if self._signature_type is not SignatureType.EOA and not funder:
            raise PolyAuthError("signature_type 1/2 needs POLY_FUNDER_ADDRESS (the proxy or safe wallet)")
        self._funder = funder
        self._clock = clock
        self._http = PolyHttp(
            SERVICE,
            base_url,
            CLOB_HOSTS,
            timeout_s=timeout_s,
            retry_policy=retry_policy,
            connector_factory=connector_factory,
            sleep=sleep,
            monotonic=monotonic,
            redactions=self._secret_strings,
        )
        self._reads = read_bucket or TokenBucket.per_second(reads_per_s, sleep=sleep)
        self._writes = write_bucket or TokenBucket.per_second(writes_per_s, sleep=sleep)
        self._neg_risk: dict[str, bool] = {}

    def __repr__(self) -> str:
        address = self._wallet.address if self._wallet else None
        return f"PolymarketClient(address={address}, creds={'set' if self._creds else 'none'})"

    def _secret_strings(self) -> tuple[str, ...]:
        c = self._creds
        return (c.api_key, c.secret, c.passphrase) if c else ()

    @property
    def has_creds(self) -> bool:
        return self._creds is not None

    async def close(self) -> None:
        await self._http.close()

    # ------------------------------------------------------------------ plumbing

    async def _read(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._http.request("GET", path, params=params, bucket=self._reads)

    def _need_wallet(self) -> PolyWallet:
        if self._wallet is None:
            raise PolyAuthError("this call needs POLY_PRIVATE_KEY (no wallet configured)")
        return self._wallet

    def _l2_ready(self) -> tuple[PolyWallet, ApiCreds]:
        """Fail before any network I/O when the wallet or API credentials are missing."""
        wallet = self._need_wallet()
        if self._creds is None:
            raise PolyAuthError("this call needs Polymarket API credentials: set POLY_API_KEY, "
                                "POLY_API_SECRET, POLY_API_PASSPHRASE or call ensure_api_creds()")  # fmt: skip
        return wallet, self._creds

    def _l2(self, method: str, path: str, body: str | None) -> dict[str, str]:
        wallet, creds = self._l2_ready()
        return l2_headers(wallet.address, creds, int(self._clock()), method, path, body)

    def _l1(self, nonce: int) -> Callable[[str, str, str | None], dict[str, str]]:
        wallet = self._need_wallet()
        return lambda _m, _p, _b: l1_headers(wallet, self._chain_id, int(self._clock()), nonce)

    async def _private(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None) -> Any:
        self._l2_ready()
        text = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        bucket = self._reads if method == "GET" else self._writes
        return await self._http.request(method, path, params=params, body=text, sign=self._l2, bucket=bucket)

    async def _paged(self, path: str, params: dict[str, str]) -> list[Any]:
        rows: list[Any] = []
        cursor = INITIAL_CURSOR
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = _obj(await self._private("GET", path, params={**params, "next_cursor": cursor}), path)
            data = _field(page, "data", path)
            if not isinstance(data, list):
                raise PolyMalformedResponse(SERVICE, 200, f"{path}: data is not a list")
            rows.extend(data)
            seen.add(cursor)
            cursor = str(page.get("next_cursor") or END_CURSOR)
            if cursor == END_CURSOR:
                return rows
            if cursor in seen:
                raise PolyMalformedResponse(SERVICE, 200, f"{path}: pagination cursor repeats")
        raise PolyMalformedResponse(SERVICE, 200, f"{path}: more than {_MAX_PAGES} pages")

    # ------------------------------------------------------------------ market data (public)

    async def get_orderbook(self, token_id: str) -> OrderBook:
        payload = await self._read("/book", {"token_id": token_id})
        return book_from_payload(token_id, payload, self._clock())

    async def get_price(self, token_id: str, side: OrderSide) -> Decimal:
        """The CLOB's price for `side` of the token (`GET /price`)."""
        payload = _obj(await self._read("/price", {"token_id": token_id, "side": OrderSide(side).name}), "price")
        return _dec(_field(payload, "price", "price"), "price")

    async def get_midpoint(self, token_id: str) -> Decimal:
        payload = _obj(await self._read("/midpoint", {"token_id": token_id}), "midpoint")
        return _dec(_field(payload, "mid", "midpoint"), "mid")

    async def get_tick_size(self, token_id: str) -> Decimal:
        """Not cached: the CLOB narrows the tick when a price nears 0 or 1."""
        payload = _obj(await self._read("/tick-size", {"token_id": token_id}), "tick-size")
        return _dec(_field(payload, "minimum_tick_size", "tick-size"), "minimum_tick_size")

    async def get_fee_rate_bps(self, token_id: str) -> int:
        payload = _obj(await self._read("/fee-rate", {"token_id": token_id}), "fee-rate")
        return int(_dec(payload.get("base_fee") or 0, "base_fee"))

    async def get_neg_risk(self, token_id: str) -> bool:
        """Whether the token settles on the neg-risk exchange (cached: it never changes)."""
        if token_id not in self._neg_risk:
            payload = _obj(await self._read("/neg-risk", {"token_id": token_id}), "neg-risk")
            value = _field(payload, "neg_risk", "neg-risk")
            if not isinstance(value, bool):
                raise PolyMalformedResponse(SERVICE, 200, "neg-risk: neg_risk is not a boolean")
            self._neg_risk[token_id] = value
        return self._neg_risk[token_id]

    async def get_market(self, condition_id: str, token_id: str) -> Market:
        payload = await self._read(f"/markets/{condition_id}")
        return market_from_payload(condition_id, token_id, payload)

    # ------------------------------------------------------------------ API keys (L1)

    async def create_api_key(self, nonce: int = 0) -> ApiCreds:
        payload = await self._http.request("POST", "/auth/api-key", sign=self._l1(nonce), bucket=self._writes)
        return ApiCreds.from_response(payload)

    async def derive_api_key(self, nonce: int = 0) -> ApiCreds:
        payload = await self._http.request("GET", "/auth/derive-api-key", sign=self._l1(nonce), bucket=self._reads)
        return ApiCreds.from_response(payload)

    async def ensure_api_creds(self, nonce: int = 0) -> ApiCreds:
        """Use the credentials already set, else derive the existing ones, else create new ones."""
        if self._creds is None:
            try:
                self._creds = await self.derive_api_key(nonce)
            except PolyHttpError as exc:
                if exc.is_auth_failure or exc.retryable or exc.status == 0:
                    raise
                self._creds = await self.create_api_key(nonce)
        return self._creds

    # ------------------------------------------------------------------ orders (L2)

    async def post_order(
        self,
        token_id: str,
        side: OrderSide,
        price: Decimal,
        size: Decimal,
        order_type: str = "GTC",
        *,
        tick_size: Decimal | None = None,
        neg_risk: bool | None = None,
        post_only: bool = False,
        expiration: int = 0,
    ) -> PlacedOrder:
        """Sign and post a V2 order for `size` shares at `price` (worst price for FOK/FAK).

        FOK/FAK buys are sent the way the exchange wants marketable buys: dollars to spend
        (size x price, cut to the cent) for the most shares that buys at `price`.
        """
        if order_type not in ORDER_TYPES:
            raise ValueError(f"order_type must be one of {sorted(ORDER_TYPES)}, got {order_type!r}")
        if post_only and order_type in ("FOK", "FAK"):
            raise ValueError("post_only cannot be combined with FOK/FAK")
        if (order_type == "GTD") != (expiration > 0):
            raise ValueError("expiration is required for GTD orders and only for them")
        wallet, creds = self._l2_ready()
        side = OrderSide(side)
        tick = tick_size if tick_size is not None else await self.get_tick_size(token_id)
        risky = neg_risk if neg_risk is not None else await self.get_neg_risk(token_id)
        if order_type in ("FOK", "FAK") and side is OrderSide.BUY:
            amounts = market_order_amounts(side, size * price, price, tick)
        else:
            amounts = limit_order_amounts(side, price, size, tick)
        order = build_order(
            wallet,
            token_id,
            amounts,
            int(self._clock() * 1000),
            self._signature_type,
            funder=self._funder,
            expiration=expiration,
        )
        signed = sign_order(wallet, order, self._chain_id, risky)
        answer = await self._private("POST", "/order", body=signed.to_payload(creds.api_key, order_type, post_only))
        payload = _obj(answer, "order")
        if payload.get("success") is False or (payload.get("errorMsg") and not payload.get("orderID")):
            reason = str(payload.get("errorMsg") or "no reason")[:200]
            raise PolymarketOrderRejected(f"{SERVICE}: order rejected: {reason}")
        return PlacedOrder(
            order_id=str(_field(payload, "orderID", "order")),
            status=str(payload.get("status", "")),
            making_amount=_opt_dec(payload.get("makingAmount")),
            taking_amount=_opt_dec(payload.get("takingAmount")),
            transaction_hashes=tuple(str(h) for h in payload.get("transactionsHashes") or ()),
            trade_ids=tuple(str(t) for t in payload.get("tradeIDs") or ()),
            signed=signed,
        )

    async def cancel_order(self, order_id: str) -> CancelResult:
        return _cancel_result(await self._private("DELETE", "/order", body={"orderID": order_id}))

    async def cancel_all(self) -> CancelResult:
        return _cancel_result(await self._private("DELETE", "/cancel-all"))

    async def get_open_orders(self, market: str | None = None, asset_id: str | None = None) -> list[OpenOrder]:
        params = {k: v for k, v in (("market", market), ("asset_id", asset_id)) if v}
        return [_open_order(row) for row in await self._paged("/data/orders", params)]

    async def get_trades(self, market: str | None = None, asset_id: str | None = None) -> list[ClobTrade]:
        params = {k: v for k, v in (("market", market), ("asset_id", asset_id)) if v}
        return [_trade(row) for row in await self._paged("/data/trades", params)]


__all__ = [
    "CLOB_HOSTS",
    "CLOB_URL",
    "CancelResult",
    "ClobTrade",
    "OpenOrder",
    "PlacedOrder",
    "PolymarketClient",
    "PolymarketOrderRejected",
    "book_from_payload",
    "market_from_payload",
]
