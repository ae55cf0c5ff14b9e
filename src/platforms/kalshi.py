"""Kalshi Trade API v2 REST client: typed, allowlisted, rate-limited, retrying and idempotent for orders."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from yarl import URL

from src.auth.kalshi_auth import HEADER_KEY, HEADER_SIGNATURE, KEY_ID_ENV, KEY_PATH_ENV, KalshiAuth, KalshiAuthError
from src.model.kxbtc15m import SERIES, market_ticker, window_close
from src.model.models import (
    ONE,
    ZERO,
    BookLevel,
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
from src.net.allowlist import check_url
from src.net.backoff import RetryPolicy, RetrySchedule, parse_retry_after
from src.net.http_session import ConnectorFactory, new_session
from src.net.rate_limit import TokenBucket

if TYPE_CHECKING:
    from src.config import Settings

log = logging.getLogger(__name__)

Env = Literal["demo", "prod"]

API_PREFIX = "/trade-api/v2"
ENV_HOSTS: Mapping[str, str] = {"demo": "demo-api.kalshi.co", "prod": "external-api.kalshi.com"}
# DECISIONS §1: exactly these Kalshi REST hosts (the WS hosts are not used by this client).
ALLOWED_HOSTS = frozenset(
    {"demo-api.kalshi.co", "external-api.demo.kalshi.co", "external-api.kalshi.com", "api.elections.kalshi.com"}
)
_SCHEMES = frozenset({"https"})
TIME_IN_FORCE = frozenset({"fill_or_kill", "good_till_canceled", "immediate_or_cancel"})
SELF_TRADE_PREVENTION = frozenset({"taker_at_cross", "maker"})
_CLIENT_ORDER_ID = re.compile(r"^[\w\-:+=/]{1,64}$")
_PAGE_LIMIT = 200
_MAX_PAGES = 100
_BATCH_CANCEL = 20
_COUNT_Q = Decimal("0.01")
_PRICE_Q = Decimal("0.0001")
_CENT = Decimal("0.01")
_MESSAGE_MAX = 200


# ---------------------------------------------------------------------------------------------- errors


class KalshiError(Exception):
    """Base of everything this client raises about Kalshi (never carries headers or key material)."""


class KalshiAPIError(KalshiError):
    """Kalshi answered with an error (or could not be reached): HTTP status, Kalshi code, message."""

    def __init__(self, status: int, code: str, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"Kalshi API error {status} {code}: {message}{where}")


class KalshiAuthFailure(KalshiAPIError):
    """Kalshi refused our credentials (401): bad signature, wrong key, or clock skew. The kill switch counts these."""


class KalshiTransportError(KalshiAPIError):
    """No usable HTTP answer: timeout, dropped or refused connection (status 0)."""


class KalshiOrderUncertain(KalshiAPIError):
    """An order may or may not exist: every try was ambiguous and the lookup could not settle it.

    The caller must reconcile with get_order_by_client_id(client_order_id) before trading again.
    """

    def __init__(self, client_order_id: str, last_error: KalshiAPIError) -> None:
        self.client_order_id = client_order_id
        self.last_error = last_error
        super().__init__(
            last_error.status,
            "order_state_unknown",
            f"order {client_order_id} may or may not have been placed (last error: {last_error.code})",
            method=last_error.method,
            path=last_error.path,
        )


class KalshiNoCredentials(KalshiError):
    """A portfolio call was made on a client built for market data only."""


class KalshiRequestError(KalshiError, ValueError):
    """The caller asked for something that cannot be sent (bad ticker, price, count...)."""


class _Retryable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, error: KalshiAPIError, *, ambiguous: bool, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous  # the server may have acted on the request
        self.retry_after_s = retry_after_s


# ---------------------------------------------------------------------------------------------- parsing


# Floats (e.g. floor_strike) become Decimal so no money or strike ever passes through float.
# (Hence not orjson: it has no such hook, and Kalshi sends floor_strike as a JSON number.)
# One decoder for all responses: json.loads(raw, parse_float=...) would build a new one per call.
_JSON = json.JSONDecoder(parse_float=Decimal)


def _loads(raw: bytes) -> Any:
    """json.loads(raw, parse_float=Decimal), step for step, with the shared decoder."""
    return _JSON.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def _malformed(what: str) -> KalshiAPIError:
    return KalshiAPIError(200, "malformed_response", what)


def _number(text: str, field: str) -> Decimal:
    """A non-empty str as a finite Decimal: the common case, as Kalshi sends numbers as strings.

    Same result and errors as _dec's general path: Decimal() strips exactly the whitespace that
    str.strip() does (tests/test_kalshi_client.py checks this), so the strip copy is skipped.
    """
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _malformed(f"field {field!r} is not a number: {text[:20]!r}") from None
    if not number.is_finite():
        raise _malformed(f"field {field!r} is not finite")
    return number


def _dec(value: Any, field: str, *, optional: bool = False) -> Decimal | None:
    if type(value) is str and value:
        return _number(value, field)
    if type(value) is Decimal and value.is_finite():
        # A JSON number (parse_float=Decimal). Decimal(str(d)) is d again, exponent included.
        return value
    if value is None or value == "":
        if optional:
            return None
        raise _malformed(f"field {field!r} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _malformed(f"field {field!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _malformed(f"field {field!r} is not a number: {str(value)[:20]!r}") from None
    if not number.is_finite():
        raise _malformed(f"field {field!r} is not finite")
    return number


def _req_dec(d: Mapping[str, Any], field: str) -> Decimal:
    value = _dec(d.get(field), field)
    if value is None:  # pragma: no cover - _dec raises for missing required fields
        raise _malformed(f"field {field!r} is missing")
    return value


def _opt_dec(d: Mapping[str, Any], field: str) -> Decimal | None:
    value = d.get(field)
    if type(value) is str and value:
        return _number(value, field)
    return _dec(value, field, optional=True)


def _dec_or_zero(d: Mapping[str, Any], field: str) -> Decimal:
    value = _opt_dec(d, field)
    return ZERO if value is None else value


def _str(d: Mapping[str, Any], field: str, *, optional: bool = False) -> str:
    value = d.get(field)
    if type(value) is str and value:
        return value
    if value is None or value == "":
        if optional:
            return ""
        raise _malformed(f"field {field!r} is missing")
    if not isinstance(value, str):
        raise _malformed(f"field {field!r} is not a string")
    return value


# Parsed ISO times by their text. The same open/close times come back on every listing and poll;
# only times that parsed cleanly are kept, so a bad one still raises every time. Bounded: cleared when full.
_TIMES: dict[str, datetime] = {}
_TIMES_MAX = 4096


def _time(d: Mapping[str, Any], field: str) -> datetime:
    text = d.get(field)
    if type(text) is str:
        when = _TIMES.get(text)
        if when is not None:
            return when
    text = _str(d, field)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _malformed(f"field {field!r} is not an ISO time: {text[:32]!r}") from None
    if when.tzinfo is None:
        raise _malformed(f"field {field!r} has no time zone")
    if len(_TIMES) >= _TIMES_MAX:
        _TIMES.clear()
    _TIMES[text] = when
    return when


def _ts(d: Mapping[str, Any], field: str) -> float:
    return _time(d, field).timestamp() if d.get(field) else 0.0


def _is_mapping(value: Any) -> bool:
    # JSON objects are dicts: the exact-type test spares the slower ABC isinstance in the usual case.
    return type(value) is dict or isinstance(value, Mapping)


def _obj(payload: Any, field: str) -> Mapping[str, Any]:
    value = payload.get(field) if _is_mapping(payload) else None
    if not _is_mapping(value):
        raise _malformed(f"object {field!r} is missing")
    return value


def _list(payload: Any, field: str) -> list[Mapping[str, Any]]:
    if not _is_mapping(payload):
        raise _malformed("response is not a JSON object")
    value = payload.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(_is_mapping(item) for item in value):
        raise _malformed(f"field {field!r} is not a list of objects")
    return value


def parse_market(d: Mapping[str, Any]) -> Market:
    """A Kalshi market object (2026 fixed-point shape) as models.Market."""
    return Market(
        ticker=_str(d, "ticker"),
        event_ticker=_str(d, "event_ticker", optional=True),
        status=_str(d, "status", optional=True),
        open_time=_time(d, "open_time"),
        close_time=_time(d, "close_time"),
        floor_strike=_opt_dec(d, "floor_strike"),
        result=_str(d, "result", optional=True),
        expiration_value=_opt_dec(d, "expiration_value"),
        yes_bid=_opt_dec(d, "yes_bid_dollars"),
        yes_ask=_opt_dec(d, "yes_ask_dollars"),
        no_bid=_opt_dec(d, "no_bid_dollars"),
        no_ask=_opt_dec(d, "no_ask_dollars"),
        last_price=_opt_dec(d, "last_price_dollars"),
        volume=_dec_or_zero(d, "volume_fp"),
        strike_type=_str(d, "strike_type", optional=True) or "greater_or_equal",
    )


# Parsed order-book levels by their [price, count] text. Between two polls most levels of a book are
# unchanged, and a BookLevel is immutable, so an unchanged level is looked up instead of parsed and
# built again. Only levels that passed the checks are kept (None = a valid level with count 0, which
# is dropped); anything else takes the full path and raises as before. Bounded: cleared when full.
_LEVELS: dict[tuple[str, str], BookLevel | None] = {}
_LEVELS_MAX = 8192
_MISS = BookLevel(ZERO, ZERO)  # "not cached" marker: never stored, as a 0-count level is kept as None


def _level(level: Any, field: str, price_field: str, count_field: str) -> BookLevel | None:
    """One [price, count] pair checked and parsed; None for an empty (count 0) level."""
    if not isinstance(level, list | tuple) or len(level) != 2:
        raise _malformed(f"order book side {field!r} has a level that is not [price, count]")
    raw_price, raw_count = level
    price = _number(raw_price, price_field) if type(raw_price) is str and raw_price else _dec(raw_price, price_field)
    count = _number(raw_count, count_field) if type(raw_count) is str and raw_count else _dec(raw_count, count_field)
    if price is None or count is None or not ZERO < price < ONE or count < 0:
        raise _malformed(f"order book side {field!r} has an impossible level")
    return BookLevel(price, count) if count > 0 else None


def _level_key(level: BookLevel) -> tuple[Decimal, Decimal]:
    return level.price, level.count


def _levels(raw: Any, field: str) -> tuple[BookLevel, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _malformed(f"order book side {field!r} is not a list")
    known = _LEVELS
    price_field, count_field = f"{field}.price", f"{field}.count"
    levels: list[BookLevel] = []
    for level in raw:
        key = None
        if type(level) is list and len(level) == 2:
            price, count = level
            if type(price) is str and type(count) is str:
                key = (price, count)
                parsed = known.get(key, _MISS)
                if parsed is not _MISS:
                    if parsed is not None:
                        levels.append(parsed)
                    continue
        parsed = _level(level, field, price_field, count_field)
        if key is not None:
            if len(known) >= _LEVELS_MAX:
                known.clear()
            known[key] = parsed
        if parsed is not None:
            levels.append(parsed)
    # Kalshi sends ascending (best bid last); sort anyway so best_bid() can rely on it.
    levels.sort(key=_level_key)
    return tuple(levels)


def parse_orderbook(ticker: str, payload: Any, fetched_at: float) -> OrderBook:
    book = _obj(payload, "orderbook_fp")
    return OrderBook(
        ticker=ticker,
        yes_bids=_levels(book.get("yes_dollars"), "yes_dollars"),
        no_bids=_levels(book.get("no_dollars"), "no_dollars"),
        fetched_at=fetched_at,
    )


def _bought(d: Mapping[str, Any]) -> tuple[Side, Decimal]:
    """Which outcome an order/fill buys and the price paid for it, from any of Kalshi's side conventions.

    V2 quotes on the YES book (bid = buy YES at p; ask = sell YES at p = buy NO at 1 - p); listings
    may use side yes|no with action buy|sell. Selling one side is buying the other at 1 - price.
    """
    side = _str(d, "side").lower()
    action = _str(d, "action", optional=True).lower() or "buy"
    yes_price = _opt_dec(d, "yes_price_dollars")
    no_price = _opt_dec(d, "no_price_dollars")
    if side in ("bid", "ask"):
        price = _opt_dec(d, "price_dollars") or _opt_dec(d, "price") or yes_price
        if price is None:
            raise _malformed("order has no price")
        return (Side.YES, price) if side == "bid" else (Side.NO, ONE - price)
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise _malformed(f"unknown side/action {side!r}/{action!r}")
    outcome = Side(side)
    if action == "sell":
        outcome = outcome.other
    if outcome is Side.YES:
        price = yes_price if yes_price is not None else (None if no_price is None else ONE - no_price)
    else:
        price = no_price if no_price is not None else (None if yes_price is None else ONE - yes_price)
    if price is None:
        raise _malformed("order has no price")
    return outcome, price


def parse_order(d: Mapping[str, Any]) -> Order:
    """An order from GET /portfolio/orders (fixed-point shape) as models.Order."""
    side, price = _bought(d)
    filled = _dec_or_zero(d, "fill_count_fp")
    remaining = _dec_or_zero(d, "remaining_count_fp")
    initial = _opt_dec(d, "initial_count_fp")
    if initial is None:
        initial = filled + remaining
    fees = _dec_or_zero(d, "taker_fees_dollars") + _dec_or_zero(d, "maker_fees_dollars")
    cost = _dec_or_zero(d, "taker_fill_cost_dollars") + _dec_or_zero(d, "maker_fill_cost_dollars")
    return Order(
        order_id=_str(d, "order_id"),
        client_order_id=_str(d, "client_order_id", optional=True),
        ticker=_str(d, "ticker"),
        side=side,
        count=initial,
        limit_price=price,
        status=_str(d, "status", optional=True) or "pending",
        filled_count=filled,
        remaining_count=remaining,
        fees=fees,
        avg_fill_price=(cost / filled) if filled > 0 and cost > 0 else None,
        created_ts=_ts(d, "created_time"),
    )


def parse_fill(d: Mapping[str, Any]) -> Fill:
    side, price = _bought(d)
    return Fill(
        order_id=_str(d, "order_id"),
        ticker=_str(d, "ticker", optional=True) or _str(d, "market_ticker"),
        side=side,
        count=_req_dec(d, "count_fp"),
        price=price,
        fee=_dec_or_zero(d, "fee_cost"),
        ts=_ts(d, "created_time"),
        fill_id=_str(d, "fill_id", optional=True) or _str(d, "trade_id", optional=True),
        is_taker=bool(d.get("is_taker", True)),
    )


def parse_position(d: Mapping[str, Any]) -> Position | None:
    """A market position; None when flat. Kalshi signs the count: positive YES, negative NO."""
    signed = _req_dec(d, "position_fp")
    if signed == 0:
        return None
    return Position(
        ticker=_str(d, "ticker"),
        side=Side.YES if signed > 0 else Side.NO,
        count=abs(signed),
        cost=_dec_or_zero(d, "market_exposure_dollars"),
        fees=_dec_or_zero(d, "fees_paid_dollars"),
    )


def parse_settlement(d: Mapping[str, Any]) -> Settlement:
    revenue = _opt_dec(d, "revenue_dollars")
    if revenue is None:
        # Older shape: integer cents.
        revenue = _req_dec(d, "revenue") / 100
    return Settlement(
        ticker=_str(d, "ticker"),
        result=_str(d, "market_result", optional=True),
        revenue=revenue,
        settled_ts=_ts(d, "settled_time"),
        yes_count=_dec_or_zero(d, "yes_count_fp"),
        no_count=_dec_or_zero(d, "no_count_fp"),
        cost=_dec_or_zero(d, "yes_total_cost_dollars") + _dec_or_zero(d, "no_total_cost_dollars"),
        fees=_dec_or_zero(d, "fee_cost"),
    )


def parse_balance(payload: Any) -> Decimal:
    if not isinstance(payload, Mapping):
        raise _malformed("response is not a JSON object")
    dollars = _opt_dec(payload, "balance_dollars")
    if dollars is not None:
        return dollars
    return _req_dec(payload, "balance") / 100


def parse_exchange_status(payload: Any) -> ExchangeStatus:
    if not isinstance(payload, Mapping):
        raise _malformed("response is not a JSON object")
    for field in ("exchange_active", "trading_active"):
        if not isinstance(payload.get(field), bool):
            raise _malformed(f"field {field!r} is not a boolean")
    resume = payload.get("exchange_estimated_resume_time")
    return ExchangeStatus(
        exchange_active=payload["exchange_active"],
        trading_active=payload["trading_active"],
        estimated_resume_time=resume if isinstance(resume, str) else "",
    )


def _placed_order(
    payload: Any, *, ticker: str, side: Side, count: Decimal, price: Decimal, client_order_id: str, now: float
) -> Order:
    """The V2 create-order answer (fill/remaining counts, YES-quoted average price) as models.Order."""
    if not isinstance(payload, Mapping):
        raise _malformed("response is not a JSON object")
    body = payload.get("order") if isinstance(payload.get("order"), Mapping) else payload
    filled = _dec_or_zero(body, "fill_count")
    remaining = _dec_or_zero(body, "remaining_count")
    avg_yes = _opt_dec(body, "average_fill_price")
    avg_fee = _opt_dec(body, "average_fee_paid")
    avg_price = None if avg_yes is None else (avg_yes if side is Side.YES else ONE - avg_yes)
    fees = ZERO if avg_fee is None else (avg_fee * filled).quantize(_CENT, rounding=ROUND_HALF_UP)
    if remaining > 0:
        status = "resting"
    elif filled > 0:
        status = "executed"
    else:
        status = "canceled"
    return Order(
        order_id=_str(body, "order_id"),
        client_order_id=_str(body, "client_order_id", optional=True) or client_order_id,
        ticker=ticker,
        side=side,
        count=count,
        limit_price=price,
        status=status,
        filled_count=filled,
        remaining_count=remaining,
        fees=fees,
        avg_fill_price=avg_price,
        created_ts=now,
    )


# ---------------------------------------------------------------------------------------------- inputs


def _fixed(value: Decimal, quantum: Decimal, what: str) -> str:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise KalshiRequestError(f"{what} must be a finite Decimal, got {value!r}")
    fixed = value.quantize(quantum)
    if fixed != value:
        raise KalshiRequestError(f"{what} {value} has more than {-quantum.as_tuple().exponent} decimal places")
    return f"{fixed:f}"


def _ticker(ticker: str) -> str:
    if not isinstance(ticker, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", ticker):
        raise KalshiRequestError(f"not a Kalshi ticker: {str(ticker)[:40]!r}")
    return ticker


def _path_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_:-]{1,100}", value):
        raise KalshiRequestError(f"not a Kalshi {what}: {str(value)[:40]!r}")
    return quote(value, safe="")


def order_body(
    ticker: str,
    side: Side,
    count: Decimal,
    price: Decimal,
    client_order_id: str,
    time_in_force: str = "fill_or_kill",
    self_trade_prevention_type: str = "taker_at_cross",
) -> dict[str, str]:
    """The V2 order request for BUYING `count` contracts of `side` at `price` (quoted on YES: NO at p = ask at 1-p)."""
    _ticker(ticker)
    if not isinstance(side, Side):
        raise KalshiRequestError(f"side must be Side.YES or Side.NO, got {side!r}")
    if not isinstance(client_order_id, str) or not _CLIENT_ORDER_ID.fullmatch(client_order_id):
        raise KalshiRequestError("client_order_id must be 1-64 characters of letters, digits, - _ : + = /")
    if time_in_force not in TIME_IN_FORCE:
        raise KalshiRequestError(f"time_in_force must be one of {sorted(TIME_IN_FORCE)}, got {time_in_force!r}")
    if self_trade_prevention_type not in SELF_TRADE_PREVENTION:
        raise KalshiRequestError(f"self_trade_prevention_type must be one of {sorted(SELF_TRADE_PREVENTION)}")
    count_text = _fixed(count, _COUNT_Q, "count")
    if count <= 0 or count != count.to_integral_value():
        raise KalshiRequestError(f"count must be a positive whole number of contracts, got {count}")
    _fixed(price, _PRICE_Q, "price")
    if not ZERO < price < ONE:
        raise KalshiRequestError(f"price must be strictly between 0 and 1 dollars, got {price}")
    yes_price = price if side is Side.YES else ONE - price
    return {
        "ticker": ticker,
        "client_order_id": client_order_id,
        "side": "bid" if side is Side.YES else "ask",
        "count": count_text,
        "price": _fixed(yes_price.quantize(_PRICE_Q), _PRICE_Q, "price"),
        "time_in_force": time_in_force,
        "self_trade_prevention_type": self_trade_prevention_type,
    }


# Encoded query strings by their parameters: polling sends the same few queries over and over, and
# urlencode costs several µs. Only str keys with plain str/int values are remembered (the value's
# type is part of the key, so 1 and True never share an entry). Bounded: cleared when full.
_QUERIES: dict[tuple[tuple[str, type, Any], ...], str] = {}
_QUERIES_MAX = 256


def _query_string(params: Mapping[str, Any]) -> str:
    """urlencode(params, doseq=True)."""
    if not all(type(k) is str and (type(v) is str or type(v) is int) for k, v in params.items()):
        return urlencode(params, doseq=True)
    key = tuple((k, type(v), v) for k, v in params.items())
    text = _QUERIES.get(key)
    if text is None:
        text = urlencode(params, doseq=True)
        if len(_QUERIES) >= _QUERIES_MAX:
            _QUERIES.clear()
        _QUERIES[key] = text
    return text


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = " ".join(text.split())
    return text[:_MESSAGE_MAX]


def _error_from(status: int, raw: bytes, secrets: tuple[str, ...], method: str, path: str) -> KalshiAPIError:
    code, message = f"http_{status}", ""
    try:
        payload = _loads(raw)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, Mapping):
        err = payload.get("error")
        if isinstance(err, Mapping):
            code = str(err.get("code") or code)
            message = str(err.get("message") or "")
            details = err.get("details")
            if details and isinstance(details, str | int | float):
                message = f"{message} ({details})" if message else str(details)
        elif isinstance(payload.get("code"), str):
            code = payload["code"]
            message = str(payload.get("message") or "")
    cls = KalshiAuthFailure if status == 401 else KalshiAPIError
    return cls(status, _scrub(code, secrets)[:64], _scrub(message, secrets) or "no message", method=method, path=path)


# ---------------------------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class _Target:
    base: str  # https://host/trade-api/v2
    signed: bool


class KalshiClient:
    """One keep-alive aiohttp session to Kalshi; implements the MarketData and OrderVenue protocols.

    Market data (markets, one market, order book, exchange status) is public: unsigned, and read from
    `market_data_env`. Portfolio calls are signed with `auth` and go to `env`; without auth they
    raise KalshiNoCredentials. Every request passes the host allowlist, a token bucket (reads and
    writes separately, never above the code limits) and the retry policy.

    Tests inject the transport through `connector_factory` (e.g. a resolver that maps the real
    Kalshi hostnames to a local TLS server); URLs, allowlist and TLS verification stay as in production.
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
    ) -> None:
        for name, value in (("env", env), ("market_data_env", market_data_env or env)):
            if value not in ENV_HOSTS:
                raise KalshiRequestError(f"{name} must be 'demo' or 'prod', got {value!r}")
        for name, rate, hard in (
            ("reads_per_s", reads_per_s, HARD_READS_PER_S),
            ("writes_per_s", writes_per_s, HARD_WRITES_PER_S),
        ):
            if not Decimal(str(rate)) > 0 or Decimal(str(rate)) > hard:
                raise KalshiRequestError(f"{name} must be above 0 and at most {hard} (code limit), got {rate}")
        if not request_timeout_s > 0:
            raise KalshiRequestError(f"request_timeout_s must be positive, got {request_timeout_s}")
        if self_trade_prevention_type not in SELF_TRADE_PREVENTION:
            raise KalshiRequestError(f"self_trade_prevention_type must be one of {sorted(SELF_TRADE_PREVENTION)}")
        if auth is not None and not isinstance(auth, KalshiAuth):
            raise KalshiRequestError("auth must be a KalshiAuth")
        self.env: Env = env
        self.market_data_env: Env = market_data_env or env
        self.series_ticker = _ticker(series_ticker)
        self._auth = auth
        self._portfolio = _Target(f"https://{ENV_HOSTS[self.env]}{API_PREFIX}", signed=True)
        self._market = _Target(f"https://{ENV_HOSTS[self.market_data_env]}{API_PREFIX}", signed=False)
        for target in (self._portfolio, self._market):
            check_url(target.base, ALLOWED_HOSTS, _SCHEMES)
        self._reads = TokenBucket.per_second(reads_per_s)
        self._writes = TokenBucket.per_second(writes_per_s)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._policy = retry_policy or RetryPolicy()
        self._stp = self_trade_prevention_type
        self._connector_factory = connector_factory
        self._clock = clock
        self._monotonic = monotonic
        self._retry_sleep = retry_sleep
        self._rng = rng
        self._on_auth_failure = on_auth_failure
        self._on_auth_success = on_auth_success
        self._session: aiohttp.ClientSession | None = None
        self._session_lock = asyncio.Lock()
        self.server_clock_skew_s: float | None = None  # server Date minus our clock, last response
        self._last_date_header = ""
        self._last_date_ts = 0.0

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

    @property
    def has_credentials(self) -> bool:
        return self._auth is not None

    @property
    def read_limiter(self) -> TokenBucket:
        return self._reads

    @property
    def write_limiter(self) -> TokenBucket:
        return self._writes

    async def __aenter__(self) -> KalshiClient:
        await self._get_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and not session.closed:
            return session  # the usual case: no lock round trip per request
        async with self._session_lock:
            if self._session is None or self._session.closed:
                self._session = new_session(
                    self._connector_factory,
                    headers={"Accept": "application/json", "User-Agent": "polymarket-bot/0.1"},
                )
            return self._session

    def __repr__(self) -> str:
        return (
            f"KalshiClient(env={self.env!r}, market_data_env={self.market_data_env!r}, "
            f"credentials={'yes' if self._auth else 'no'})"
        )

    # ------------------------------------------------------------------ one HTTP attempt

    def _observe_date(self, header: str | None) -> None:
        if not header:
            return
        # Date has one-second resolution: every response within a second repeats the last header.
        if header == self._last_date_header:
            server = self._last_date_ts
        else:
            try:
                server = parsedate_to_datetime(header).timestamp()
            except (TypeError, ValueError, IndexError):
                return
            self._last_date_header, self._last_date_ts = header, server
        self.server_clock_skew_s = server - self._clock()

    async def _attempt(
        self, method: str, target: _Target, path: str, query: Mapping[str, Any] | None, body: bytes | None
    ) -> Any:
        url = target.base + path
        if query:
            params = {k: v for k, v in query.items() if v is not None}
            if params:
                url += "?" + _query_string(params)
        check_url(url, ALLOWED_HOSTS, _SCHEMES)  # every request, whatever built the URL
        auth = self._auth if target.signed else None
        if target.signed and auth is None:
            raise KalshiNoCredentials(
                f"{method} {path} needs Kalshi credentials: set {KEY_ID_ENV} and {KEY_PATH_ENV} in .env"
            )
        signed_path = urlsplit(url).path if auth is not None else ""
        session = await self._get_session()
        bucket = self._reads if method == "GET" else self._writes
        secrets: tuple[str, ...] = ()
        async with bucket.hold():
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if auth is not None:
                auth_headers = auth.headers(method, signed_path)
                secrets = (auth_headers[HEADER_SIGNATURE], auth_headers[HEADER_KEY])
                headers.update(auth_headers)
            try:
                async with session.request(
                    method,
                    URL(url, encoded=True),
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
                    retry_header = resp_headers.get("Retry-After")
                    retry_after = None if retry_header is None else parse_retry_after(retry_header, self._clock())
                    self._observe_date(resp_headers.get("Date"))
            except TimeoutError:
                err = KalshiTransportError(0, "timeout", "no answer in time", method=method, path=path)
                raise _Retryable(err, ambiguous=True) from None
            except aiohttp.ClientConnectorError as exc:
                # Never connected, so nothing was sent: safe to resend even an order.
                reason = type(exc.os_error).__name__ if exc.os_error else "connect failed"
                err = KalshiTransportError(0, "connection_refused", reason, method=method, path=path)
                raise _Retryable(err, ambiguous=False) from None
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                err = KalshiTransportError(0, "connection_error", type(exc).__name__, method=method, path=path)
                raise _Retryable(err, ambiguous=True) from None
            except aiohttp.ClientError as exc:
                err = KalshiTransportError(0, "client_error", type(exc).__name__, method=method, path=path)
                raise err from None
        return self._outcome(method, path, target, status, raw, retry_after, secrets)

    def _outcome(
        self,
        method: str,
        path: str,
        target: _Target,
        status: int,
        raw: bytes,
        retry_after: float | None,
        secrets: tuple[str, ...],
    ) -> Any:
        if 200 <= status < 300:
            self._auth_ok(target)
            if not raw.strip():
                return {}
            try:
                return _loads(raw)
            except (ValueError, UnicodeDecodeError):
                err = KalshiAPIError(status, "malformed_response", "body is not JSON", method=method, path=path)
                raise _Retryable(err, ambiguous=True) from None
        if 300 <= status < 400:
            raise KalshiAPIError(status, "redirect_refused", "redirects are not followed", method=method, path=path)
        error = _error_from(status, raw, secrets, method, path)
        if status == 401:
            if self._on_auth_failure is not None:
                self._on_auth_failure(error.code)
            raise error
        if status == 429 or status >= 500:
            raise _Retryable(error, ambiguous=status >= 500, retry_after_s=retry_after)
        self._auth_ok(target)
        raise error

    def _auth_ok(self, target: _Target) -> None:
        if target.signed and self._on_auth_success is not None:
            self._on_auth_success()

    # ------------------------------------------------------------------ retry loop

    async def _call(
        self,
        method: str,
        target: _Target,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        raw_body = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        schedule = RetrySchedule(self._policy, clock=self._monotonic, rng=self._rng)
        while True:
            attempt = schedule.start_attempt()
            try:
                return await self._attempt(method, target, path, query, raw_body)
            except _Retryable as failure:
                delay = schedule.next_delay(failure.retry_after_s)
                if delay is None:
                    raise failure.error from None
                log.warning(
                    "Kalshi %s %s failed (%s %s), retry %d in %.2fs",
                    method, path, failure.error.status, failure.error.code, attempt, delay,
                )
            await self._retry_sleep(delay)

    async def _pages(
        self, target: _Target, path: str, field: str, query: Mapping[str, Any] | None = None
    ) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        params = dict(query or {})
        params.setdefault("limit", _PAGE_LIMIT)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            payload = await self._call("GET", target, path, params)
            items.extend(_list(payload, field))
            cursor = payload.get("cursor") if isinstance(payload, Mapping) else None
            if not cursor:
                return items
            if not isinstance(cursor, str) or cursor in seen:
                raise KalshiAPIError(200, "pagination_loop", f"cursor repeated for {path}", method="GET", path=path)
            seen.add(cursor)
            params["cursor"] = cursor
        raise KalshiAPIError(200, "too_many_pages", f"more than {_MAX_PAGES} pages for {path}", method="GET", path=path)

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
            "tickers": ",".join(_ticker(t) for t in tickers) if tickers else None,
            "min_close_ts": min_close_ts,
            "max_close_ts": max_close_ts,
        }
        rows = await self._pages(self._market, "/markets", "markets", query)
        return [parse_market(row) for row in rows]

    async def get_market(self, ticker: str) -> Market:
        payload = await self._call("GET", self._market, f"/markets/{_ticker(ticker)}")
        return parse_market(_obj(payload, "market"))

    async def get_orderbook(self, ticker: str, depth: int | None = None) -> OrderBook:
        query = {"depth": depth} if depth else None
        payload = await self._call("GET", self._market, f"/markets/{_ticker(ticker)}/orderbook", query)
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

    async def get_fills(self, ticker: str | None = None) -> list[Fill]:
        query = {"ticker": _ticker(ticker) if ticker else None}
        return [parse_fill(row) for row in await self._pages(self._portfolio, "/portfolio/fills", "fills", query)]

    async def get_orders(self, status: str | None = None, ticker: str | None = None) -> list[Order]:
        query = {"status": status, "ticker": _ticker(ticker) if ticker else None}
        rows = await self._pages(self._portfolio, "/portfolio/orders", "orders", query)
        return [parse_order(row) for row in rows]

    async def get_settlements(self) -> list[Settlement]:
        rows = await self._pages(self._portfolio, "/portfolio/settlements", "settlements")
        return [parse_settlement(row) for row in rows]

    async def get_order_by_client_id(self, client_order_id: str, ticker: str | None = None) -> Order | None:
        """Find our order by the id we chose (Kalshi's listing has no such filter: we filter here)."""
        for order in await self.get_orders(ticker=ticker):
            if order.client_order_id == client_order_id:
                return order
        return None

    async def place_order(
        self,
        ticker: str,
        side: Side,
        count: Decimal,
        price: Decimal,
        client_order_id: str,
        time_in_force: str = "fill_or_kill",
    ) -> Order:
        """Buy `count` contracts of `side` at most `price` each, exactly once.

        The same client_order_id goes out on every try. After an ambiguous failure (timeout,
        dropped connection, 5xx, garbled answer) the order is looked up by that id before anything
        is re-sent; if every try stays ambiguous and no lookup finds it, KalshiOrderUncertain.
        """
        body = order_body(ticker, side, count, price, client_order_id, time_in_force, self._stp)
        path = "/portfolio/events/orders"
        raw_body = json.dumps(body, separators=(",", ":")).encode()
        schedule = RetrySchedule(self._policy, clock=self._monotonic, rng=self._rng)
        ambiguous = False
        while True:
            if ambiguous:
                # Re-send only once a lookup has shown the order is NOT there.
                found = await self._lookup(client_order_id, ticker)
                if found is not None:
                    return found
            attempt = schedule.start_attempt()
            try:
                payload = await self._attempt("POST", self._portfolio, path, None, raw_body)
                return _placed_order(
                    payload,
                    ticker=ticker,
                    side=side,
                    count=count,
                    price=price,
                    client_order_id=client_order_id,
                    now=self._clock(),
                )
            except _Retryable as failure:
                ambiguous = ambiguous or failure.ambiguous
                delay = schedule.next_delay(failure.retry_after_s)
                if delay is None:
                    if not ambiguous:
                        raise failure.error from None
                    found = await self._lookup(client_order_id, ticker)
                    if found is not None:
                        return found
                    raise KalshiOrderUncertain(client_order_id, failure.error) from None
                log.warning(
                    "Kalshi order %s: %s %s, retry %d in %.2fs",
                    client_order_id, failure.error.status, failure.error.code, attempt, delay,
                )
            except KalshiAPIError as exc:
                if exc.status == 409:
                    # Duplicate client_order_id: an earlier try may have got through after all.
                    found = await self._lookup(client_order_id, ticker)
                    if found is not None and found.side is side:
                        return found
                raise
            await self._retry_sleep(delay)

    async def _lookup(self, client_order_id: str, ticker: str) -> Order | None:
        """The order if Kalshi has it, None if Kalshi says it does not; uncertain if the lookup fails."""
        try:
            return await self.get_order_by_client_id(client_order_id, ticker=ticker)
        except KalshiAuthFailure:
            raise
        except KalshiAPIError as exc:
            # Without a definite "not there" a re-send could double the order: stop here.
            raise KalshiOrderUncertain(client_order_id, exc) from None

    async def cancel_order(self, order_id: str) -> None:
        await self._call("DELETE", self._portfolio, f"/portfolio/events/orders/{_path_id(order_id, 'order id')}")

    async def cancel_all_orders(self) -> int:
        """Cancel every resting order, 20 per batch request; returns how many were cancelled."""
        resting = [o.order_id for o in await self.get_orders(status="resting")]
        cancelled = 0
        for start in range(0, len(resting), _BATCH_CANCEL):
            batch = resting[start : start + _BATCH_CANCEL]
            payload = await self._call(
                "DELETE",
                self._portfolio,
                "/portfolio/events/orders/batched",
                body={"orders": [{"order_id": _path_id(oid, "order id")} for oid in batch]},
            )
            for row in _list(payload, "orders"):
                if row.get("error"):
                    err = row["error"]
                    code = err.get("code") if isinstance(err, Mapping) else err
                    log.warning("Kalshi could not cancel order %s: %s", row.get("order_id"), code)
                else:
                    cancelled += 1
        return cancelled


def load_auth(settings: Settings, *, require: bool = False) -> KalshiAuth | None:
    """The KalshiAuth named by .env, or None when no credentials are configured (market data only).

    Raises KalshiAuthError when only one of the two variables is set, when `require` is set and
    they are missing, or when the key file cannot be used.
    """
    key_id = settings.secrets.get(KEY_ID_ENV)
    key_path = settings.secrets.get(KEY_PATH_ENV)
    if not key_id and not key_path:
        if require:
            raise KalshiAuthError(f"missing in .env: {KEY_ID_ENV}, {KEY_PATH_ENV}")
        return None
    if not key_id or not key_path:
        missing = KEY_ID_ENV if not key_id else KEY_PATH_ENV
        raise KalshiAuthError(f"missing in .env: {missing} (both Kalshi variables are needed)")
    path = Path(key_path).expanduser()
    if not path.is_absolute():
        path = settings.root / path
    return KalshiAuth.from_pem_file(key_id, path)


__all__ = [
    "ALLOWED_HOSTS",
    "ENV_HOSTS",
    "KalshiAPIError",
    "KalshiAuthFailure",
    "KalshiClient",
    "KalshiError",
    "KalshiNoCredentials",
    "KalshiOrderUncertain",
    "KalshiRequestError",
    "KalshiTransportError",
    "load_auth",
    "order_body",
    "parse_market",
    "parse_order",
    "parse_orderbook",
]
